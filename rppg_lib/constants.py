"""Constants shared by the pipeline's stages, defined once here and imported everywhere else.

Frequencies are in Hz, windows in seconds. A stage that uses another value (a published
protocol's) says so where it does.
"""

from __future__ import annotations

__all__ = [
    "HR_BAND",
    "BR_BAND",
    "SNR_BAND",
    "BR_SNR_BAND",
    "BR_SNR_TOLERANCE_HZ",
    "FRAME_DEPTH",
    "DETREND_LAMBDA",
    "DETREND_LAMBDA_TOOLBOX",
    "BR_DETREND_LAMBDA",
    "HR_WINDOW_S",
    "HR_STEP_S",
    "RELEASE_WINDOW_S",
    "PULSE_RGB",
]

# Plausible rates: heart 42-150 bpm, breathing 4.8-30 breaths/min. The pass bands of the
# filters and the search range of every rate estimate.
HR_BAND: tuple[float, float] = (0.7, 2.5)
BR_BAND: tuple[float, float] = (0.08, 0.5)
# The band over which a pulse's SNR counts signal and noise (up to the second harmonic of 2 Hz).
SNR_BAND: tuple[float, float] = (0.7, 4.0)
# SNR of a breathing signal: the harmonic intervals of the HR SNR (±0.1 Hz) would cover most of
# the BR band, so BR uses ±0.05 Hz around f and 2f, within 0.05-1.0 Hz (2f of 0.5 Hz included).
BR_SNR_BAND: tuple[float, float] = (0.05, 1.0)
BR_SNR_TOLERANCE_HZ = 0.05

# Frames per temporal-shift segment of TS-CAN and MTTS-CAN (the published 10).
FRAME_DEPTH = 10

# Smoothness prior of the detrending filter (Tarvainen et al. 2002): 50 in the
# Benefit-of-Distraction release's MATLAB code, 100 in rPPG-Toolbox's post-processing.
DETREND_LAMBDA = 50.0
DETREND_LAMBDA_TOOLBOX = 100.0
# The detrend is a high-pass at about fs / (2 pi sqrt(lambda)): 0.7 Hz at 30 fps with lambda = 50,
# which removes the whole BR band (a 0.25 Hz sinusoid keeps 2 % of its amplitude). Breathing
# signals are detrended with lambda = 20000 instead: at 30 fps a 0.08 Hz sinusoid keeps 98 %.
BR_DETREND_LAMBDA = 20000.0

# Heart rate over time: windows of HR_WINDOW_S every HR_STEP_S; the release's print_result.m
# evaluated non-overlapping windows of RELEASE_WINDOW_S.
HR_WINDOW_S = 10.0
HR_STEP_S = 1.0
RELEASE_WINDOW_S = 30.0

# Relative pulsatile strength of R, G, B on skin (de Haan and van Leest 2014, the blood-volume
# pulse signature P_bv): the colour direction of a pulse, which light that merely brightens or
# flickers does not share.
PULSE_RGB: tuple[float, float, float] = (0.33, 0.77, 0.53)
