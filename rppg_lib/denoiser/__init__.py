"""The LSTM denoiser stage (Benefit of Distraction, notebook 05_lstm_denoising): data, training,
inference.

An encoder-decoder LSTM (:class:`rppg_lib.models.LSTMDenoiser`) reads windows of
``[n_R, n_G, n_B, p]``: the conditioned corruption estimates of the inverse-attention region and
the conditioned pulse estimate of the network
(:class:`~rppg_lib.inverse_attention.CorruptionEstimates`),
and predicts the *clean* pulse waveform of each window (not the noise). The pulse-only variant
(``channels="pulse"``) is the ablation that isolates the paper's claim: whatever the rgb+pulse
model gains over it comes from the corruption estimates.

Modules: ``data`` (30 Hz inputs and targets, windows, training datasets), ``inference``
(:func:`denoise`: windows -> LSTM -> stitched pulse at the frame times), ``fit``
(:func:`train_denoiser` with the suite's training loop, :func:`evaluate_denoiser`,
:func:`run_ablation`), ``linear`` (the classic reference: :func:`linear_denoise`, least squares
per window of the pulse on the corruption estimates), ``regions`` (does the inverse-attention
region track the injected corruption better than the attended region? :func:`region_correlations`).

Conventions (all functions):

- **Rate.** The LSTM works at :data:`LSTM_FS` = 30 Hz, as released. A clip at another frame rate
  is resampled to 30 Hz on the way in and back to its frame times (k / fs s) on the way out, by
  cubic-spline interpolation (``scipy.interpolate.CubicSpline``). The release resampled with
  MATLAB ``resample``; linear interpolation (``signals.resample_rate``) loses up to 1.2 % of a
  1 Hz sinusoid going 25 -> 30 -> 25 Hz and clamps the last frame, the spline ~2e-4. The 30 Hz
  grid starts at t = 0 and ends at or before the clip's last frame; going back, the last frame
  (less than 1/30 s beyond the grid) is extrapolated by the spline's last piece.
- **Normalisation.** Each full-length input signal, after resampling, is divided by its maximum
  absolute value (every column spans [-1, 1] with max|.| = 1), as released.
- **Target.** The ground-truth waveform at frame times is cleaned at the clip's rate, resampled,
  then divided by its maximum absolute value (the decoder ends in tanh, so targets must lie in
  [-1, 1]). ``target_filter="detrend"`` (default): smoothness-priors detrend with the inputs'
  lambda, then mean removal; it keeps the waveform's shape and harmonics. The release's target
  (``bp_gt_resamp`` in the shared sample) is of this kind: zero mean, max|.| = 1, almost no power
  below 0.7 Hz, yet 47 % of its power above 2.5 Hz, so it was not band-passed to the HR band.
  ``"condition"``: the inputs' whole chain (detrend, z-score, band-pass), a target as smooth as
  the pulse input.
- **Windows.** 60 samples (2 s), hop 30. Training windows come from
  :class:`~rppg_lib.training.ChunkDataset`: windows never cross clips, and the last window of a
  clip is aligned with its end (every sample trained on, no padding). At inference the tail after
  the last whole window is covered by one more window zero-padded past the end; its predictions
  for the padding are cut off after stitching (nothing dropped). The padded window is less
  accurate than whole ones (released HR LSTM on its sample: r 0.58 with the ground truth over
  the samples it covers, 0.96 from whole windows), so prefer clips whose tail is short or
  evaluate whole windows only. Stitching is overlap-add
  averaging; ``stitch="release"`` reproduces the release: windows cut with the tail dropped,
  each window's first half overwritten by the next, the last window dropped, zeros after.

Deviations from the release (measured in notebook 07): its training script never filled the
targets (it trained on zeros) and kept only the last file's windows; here every clip's windows
are used with their targets. Its window stitching dropped the last window and the tail: here
overlap-add is the default and the release's behaviour the ``stitch="release"`` option.
"""

from rppg_lib.denoiser.apply import (
    STITCH_MODES,
    denoise,
    denoise_signals,
    denoise_windows,
)
from rppg_lib.denoiser.fit import (
    NETWORK_LABEL,
    TARGETS,
    AblationResult,
    DenoiserTraining,
    evaluate_denoiser,
    run_ablation,
    train_denoiser,
)
from rppg_lib.denoiser.linear import LINEAR_METHODS, linear_denoise
from rppg_lib.denoiser.prepare import (
    CHANNEL_SETS,
    HOP,
    LSTM_FS,
    TARGET_FILTERS,
    WINDOW,
    DenoiserClip,
    denoiser_dataset,
    denoiser_inputs,
    denoiser_target,
    denoiser_windows,
    prepare_clip,
    to_frame_rate,
    to_lstm_rate,
)
from rppg_lib.denoiser.regions import (
    RegionMeans,
    corruption_correlation,
    region_correlations,
    region_means,
)

__all__ = [
    "LSTM_FS",
    "WINDOW",
    "HOP",
    "CHANNEL_SETS",
    "TARGET_FILTERS",
    "STITCH_MODES",
    "NETWORK_LABEL",
    "TARGETS",
    "to_lstm_rate",
    "to_frame_rate",
    "denoiser_inputs",
    "denoiser_target",
    "denoiser_windows",
    "DenoiserClip",
    "prepare_clip",
    "denoiser_dataset",
    "denoise_windows",
    "denoise_signals",
    "denoise",
    "evaluate_denoiser",
    "DenoiserTraining",
    "train_denoiser",
    "AblationResult",
    "run_ablation",
    "RegionMeans",
    "region_means",
    "corruption_correlation",
    "region_correlations",
    "LINEAR_METHODS",
    "linear_denoise",
]
