"""Heart rate, breathing rate, pulse and respiration waveforms, sampled at the frame times.

All series have length ``n`` at sampling rate ``fs`` (Hz): sample ``k`` is time ``k / fs`` s.
Rates are instantaneous (bpm, breaths/min); waveforms are phases integrated from them, so the
ground truth is exact: the pulse has one beat per cycle of the integrated heart-rate phase.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from .scenarios import BR_LIMITS_BPM, HR_LIMITS_BPM


def smooth_noise(rng: np.random.Generator, n: int, fs: float, bandwidth_hz: float) -> np.ndarray:
    """Gaussian-smoothed white noise, (n,) float64, of unit std in expectation.

    The kernel's std is ``1 / (2 pi bandwidth_hz)`` s, so the spectrum falls to exp(-1/2) at
    ``bandwidth_hz``. The series is cut from the middle of a longer draw so it has no edge effects,
    and is scaled by the kernel's exact gain (not by its own sample std, which would inflate short
    clips of slow processes).
    """
    sigma = fs / (2.0 * np.pi * bandwidth_hz)
    pad = int(np.ceil(4.0 * sigma)) + 1
    white = rng.standard_normal(n + 2 * pad)
    smooth = gaussian_filter1d(white, sigma, mode="constant")[pad : pad + n]
    impulse = np.zeros(2 * pad + 1)
    impulse[pad] = 1.0
    gain = np.sqrt(np.sum(gaussian_filter1d(impulse, sigma, mode="constant") ** 2))
    return smooth / gain


def integrate_phase(rate_per_min: np.ndarray, fs: float, phase0: float = 0.0) -> np.ndarray:
    """Cycles elapsed at each sample for an instantaneous rate in cycles/min (trapezoid rule)."""
    steps = 0.5 * (rate_per_min[1:] + rate_per_min[:-1]) / 60.0 / fs
    return phase0 + np.concatenate([[0.0], np.cumsum(steps)])


@dataclass(frozen=True)
class PulseShape:
    """One beat as two Gaussians over the cardiac phase in [0, 1) (0 = foot of the upstroke).

    The systolic wave is skewed (fast rise ``rise``, slower fall ``fall``); the diastolic
    (reflected) wave of relative height ``diastolic_ratio`` at ``diastolic_phase`` leaves a
    dicrotic notch between them.
    """

    systolic_phase: float = 0.22
    rise: float = 0.06
    fall: float = 0.09
    diastolic_phase: float = 0.52
    diastolic_width: float = 0.09
    diastolic_ratio: float = 0.45

    def __call__(self, phase: np.ndarray) -> np.ndarray:
        phase = np.mod(phase, 1.0)
        out = np.zeros_like(phase)
        for shift in (-1.0, 0.0, 1.0):  # wrap so that the waveform is periodic
            d = phase - self.systolic_phase + shift
            width = np.where(d < 0.0, self.rise, self.fall)
            out += np.exp(-0.5 * (d / width) ** 2)
            d2 = phase - self.diastolic_phase + shift
            out += self.diastolic_ratio * np.exp(-0.5 * (d2 / self.diastolic_width) ** 2)
        return out


def random_pulse_shape(rng: np.random.Generator) -> PulseShape:
    """A per-subject beat morphology (always with a dicrotic notch)."""
    return PulseShape(
        systolic_phase=float(rng.uniform(0.18, 0.25)),
        rise=float(rng.uniform(0.05, 0.07)),
        fall=float(rng.uniform(0.08, 0.10)),
        diastolic_phase=float(rng.uniform(0.48, 0.56)),
        diastolic_width=float(rng.uniform(0.07, 0.10)),
        diastolic_ratio=float(rng.uniform(0.3, 0.6)),
    )


def zscore(x: np.ndarray) -> np.ndarray:
    """Zero mean, unit (population) std; a constant series becomes zeros."""
    x = x - x.mean()
    std = x.std()
    return x / std if std > 0 else x


@dataclass(frozen=True)
class Physiology:
    """Ground truth at the frame times: all (n,) float64."""

    bvp: np.ndarray  # blood volume, zero mean, unit std (up = more blood)
    resp: np.ndarray  # respiration, zero mean, unit std (up = inhaled)
    hr: np.ndarray  # bpm
    br: np.ndarray  # breaths/min
    info: dict  # the drawn subject values (JSON-serialisable)


def simulate_physiology(rng: np.random.Generator, n: int, fs: float, knobs: dict) -> Physiology:
    """Heart and breathing rates, pulse and respiration of one subject for ``n`` frames at ``fs``.

    HR = mean + slow drift + fast variability + respiratory sinus arrhythmia, clipped to
    45-150 bpm; BR = mean + slow drift, clipped to 8-30 /min. Every draw is made whether or not a
    knob overrides it, so that overriding one value leaves the others unchanged.
    """
    u_hr, u_br, phase_hr, phase_br = rng.uniform(size=4)
    shape = random_pulse_shape(rng)
    hr_drift = smooth_noise(rng, n, fs, 0.01)
    hrv = smooth_noise(rng, n, fs, 0.2)
    br_drift = smooth_noise(rng, n, fs, 0.01)

    lo, hi = knobs["hr_mean_range_bpm"]
    hr_mean = knobs["hr_mean_bpm"] if knobs["hr_mean_bpm"] is not None else lo + u_hr * (hi - lo)
    lo, hi = knobs["br_mean_range_bpm"]
    br_mean = knobs["br_mean_bpm"] if knobs["br_mean_bpm"] is not None else lo + u_br * (hi - lo)

    br = np.clip(br_mean + knobs["br_drift_bpm"] * br_drift, *BR_LIMITS_BPM)
    resp_phase = integrate_phase(br, fs, phase_br)
    # Inhalation is quicker than exhalation: a second harmonic skews each breath.
    breath = np.sin(2 * np.pi * resp_phase) + 0.25 * np.sin(4 * np.pi * resp_phase + 0.5 * np.pi)
    resp = zscore(breath)

    hr = hr_mean + knobs["hr_drift_bpm"] * hr_drift + knobs["hrv_bpm"] * hrv
    hr = np.clip(hr + knobs["rsa_bpm"] * np.sin(2 * np.pi * resp_phase), *HR_LIMITS_BPM)
    beats = shape(integrate_phase(hr, fs, phase_hr))
    # Breathing modulates the pulse amplitude and its baseline (respiratory-induced variations).
    c = knobs["resp_pulse_coupling"]
    bvp = zscore(zscore(beats) * (1.0 + c * resp) + c * resp)
    info = {
        "hr_mean_bpm": float(hr_mean),
        "br_mean_bpm": float(br_mean),
        "pulse_shape": {k: float(v) for k, v in vars(shape).items()},
    }
    return Physiology(bvp=bvp, resp=resp, hr=hr, br=br, info=info)
