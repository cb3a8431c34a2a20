"""The released Benefit-of-Distraction sample (one MMSE-HR video), read from its folder.

Nothing here copies the data: the arrays are read from the read-only reference folder at run time
(``../shared/reference/benefit_of_distraction`` in this project) and only numbers derived from
them are reported.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rppg_lib.inverse_attention import CHANNELS
from rppg_lib.matfiles import load_mat

__all__ = [
    "VIDEO_FPS",
    "RELEASE_FS",
    "GT_HR_FS",
    "HOP",
    "REFERENCE_FILES",
    "ReferenceStatus",
    "reference_status",
    "BodSample",
    "load_sample",
    "trailing_empty_frames",
]

VIDEO_FPS = 25.0  # Hz, frame rate of the MMSE-HR video behind the sample
RELEASE_FS = 30.0  # Hz, the rate the release's noise script assumed (and the LSTM's rate)
GT_HR_FS = 1000.0  # Hz, sampling rate of the per-beat HR series GT_HR_bp
HOP = 30  # samples between the starts of consecutive LSTM windows (1 s at 30 Hz)

_NOISE_FILE = "RGB_noise_estimates_{}/sample_noise.mat"
HR_LSTM_FILE = "model_denoising_HR_LSTM.h5"
REFERENCE_FILES: tuple[str, ...] = (
    "sample_mask1.mat",
    "sample_yptest.mat",
    "sample_LSTM_input_data.mat",
    "sample_predicted_HR.mat",
    "bod_octave_reference.mat",
    HR_LSTM_FILE,
    *(_NOISE_FILE.format(c) for c in CHANNELS),
)


@dataclass(frozen=True)
class ReferenceStatus:
    """Whether the reference folder holds every file the reproduction reads.

    available: all of :data:`REFERENCE_FILES` are there. folder: the folder looked in (absolute).
    missing: the files not found (relative names). message: one line saying which, for people.
    """

    available: bool
    folder: Path
    missing: tuple[str, ...]
    message: str


def reference_status(reference_dir: str | os.PathLike) -> ReferenceStatus:
    """Check ``reference_dir`` for the released sample without reading it (never raises for a
    missing folder: that is the normal case on machines without the reference data)."""
    folder = Path(reference_dir).resolve()
    if not folder.is_dir():
        return ReferenceStatus(
            False, folder, REFERENCE_FILES, f"reference data unavailable: no folder {folder}"
        )
    missing = tuple(name for name in REFERENCE_FILES if not (folder / name).is_file())
    if missing:
        message = f"reference data unavailable: {folder} lacks {', '.join(missing)}"
        return ReferenceStatus(False, folder, missing, message)
    return ReferenceStatus(True, folder, (), f"reference data found in {folder}")


@dataclass(frozen=True)
class BodSample:
    """The released sample, in MATLAB's axis order, vectors flattened to (T,).

    T = 861 frames of a 25 fps video; masks on the 34×34 gate-1 grid.

    mask1: (T, 34, 34) float32 gate-1 sigmoid masks. yptest: (T,) float32 CAN output (pulse
    derivative). masked_frames: (T, 34, 34, 3) the release's masked frames ``mask_noise_<c>``
    (frame × its binary inverse mask, background pixels only; R, G, B). saved_conditioned:
    (T, 3) the release's own conditioned estimates ``mask_noise_<c>_mean2``; saved_pulse: (T,)
    its conditioned pulse ``yptest_sub2``. xtest: (N, 60, 4) float32 LSTM input windows
    [n_R, n_G, n_B, pulse] at 30 Hz, hop 30. predicted: (N, 60) float32, a held-out LSTM's output
    for them. gt_waveform: (T',) ground-truth blood-pressure waveform at 30 Hz (``bp_gt_resamp``).
    gt_hr_series: per-beat HR in bpm held at 1 kHz (``GT_HR_bp``). octave: the outputs of the
    release's arithmetic run in GNU Octave (``bod_octave_reference.mat``; (T, 1) columns
    flattened to (T,)). hr_lstm_path: the released HR LSTM weights.
    """

    folder: Path
    mask1: np.ndarray
    yptest: np.ndarray
    masked_frames: np.ndarray
    saved_conditioned: np.ndarray
    saved_pulse: np.ndarray
    xtest: np.ndarray
    predicted: np.ndarray
    gt_waveform: np.ndarray
    gt_hr_series: np.ndarray
    octave: dict[str, np.ndarray] = field(repr=False)
    hr_lstm_path: Path

    @property
    def n_frames(self) -> int:
        return int(self.mask1.shape[0])


def _flat(arr: np.ndarray, name: str) -> np.ndarray:
    """A MATLAB row or column vector as (n,)."""
    if arr.ndim != 2 or 1 not in arr.shape:
        raise ValueError(f"{name} must be a row or column vector, got shape {arr.shape}")
    return arr.ravel()


def load_sample(reference_dir: str | os.PathLike) -> BodSample:
    """Read the released sample from ``reference_dir`` (see :class:`BodSample`).

    FileNotFoundError lists the missing files (:func:`reference_status` checks first without
    raising); ValueError names the file whose arrays do not fit together.
    """
    status = reference_status(reference_dir)
    if not status.available:
        raise FileNotFoundError(status.message)
    folder = status.folder
    mask1 = load_mat(folder / "sample_mask1.mat", ["mask1"])["mask1"]
    if mask1.ndim == 4 and mask1.shape[3] == 1:
        mask1 = mask1[..., 0]
    yptest = _flat(load_mat(folder / "sample_yptest.mat", ["yptest"])["yptest"], "yptest")
    noise = [load_mat(folder / _NOISE_FILE.format(c)) for c in CHANNELS]
    red = noise[0]
    masked = np.stack([n[f"mask_noise_{c}"] for n, c in zip(noise, CHANNELS, strict=True)], -1)
    saved = np.stack(
        [_flat(n[f"mask_noise_{c}_mean2"], c) for n, c in zip(noise, CHANNELS, strict=True)], -1
    )
    xtest = load_mat(folder / "sample_LSTM_input_data.mat", ["Xtest"])["Xtest"]
    predicted = load_mat(folder / "sample_predicted_HR.mat", ["predicted"])["predicted"]
    octave = {
        k: (_flat(v, k) if v.ndim == 2 and v.shape[1] == 1 else v)
        for k, v in load_mat(folder / "bod_octave_reference.mat").items()
    }
    sample = BodSample(
        folder=folder,
        mask1=mask1,
        yptest=yptest,
        masked_frames=masked,
        saved_conditioned=saved,
        saved_pulse=_flat(red["yptest_sub2"], "yptest_sub2"),
        xtest=xtest,
        predicted=predicted,
        gt_waveform=_flat(red["bp_gt_resamp"], "bp_gt_resamp"),
        gt_hr_series=_flat(red["GT_HR_bp"], "GT_HR_bp"),
        octave=octave,
        hr_lstm_path=folder / HR_LSTM_FILE,
    )
    _check_shapes(sample)
    return sample


def _check_shapes(s: BodSample) -> None:
    t = s.n_frames
    checks = (
        ("sample_mask1.mat: mask1", s.mask1.ndim == 3, s.mask1.shape),
        ("sample_yptest.mat: yptest", s.yptest.shape == (t,), s.yptest.shape),
        ("sample_noise.mat: mask_noise_<c>", s.masked_frames.shape == (t, *s.mask1.shape[1:], 3),
         s.masked_frames.shape),
        ("bod_octave_reference.mat: inv_mask", s.octave["inv_mask"].shape == s.mask1.shape,
         s.octave["inv_mask"].shape),
        ("sample_LSTM_input_data.mat: Xtest", s.xtest.ndim == 3 and s.xtest.shape[2] == 4,
         s.xtest.shape),
        ("sample_predicted_HR.mat: predicted", s.predicted.shape == s.xtest.shape[:2],
         s.predicted.shape),
    )
    for what, ok, shape in checks:
        if not ok:
            raise ValueError(f"{what} has shape {shape}, which does not fit the other files")


def trailing_empty_frames(frames: np.ndarray) -> int:
    """How many frames at the end of ``frames`` (T, ...) are all zeros: the zero padding the
    release added when it had fewer frames than network outputs (2 in the shared sample)."""
    arr = np.asarray(frames)
    if arr.ndim < 2 or arr.shape[0] == 0:
        raise ValueError(f"frames must be (T, ...) with T >= 1, got shape {arr.shape}")
    nonzero = np.flatnonzero(arr.reshape(arr.shape[0], -1).any(axis=1))
    return int(arr.shape[0] if nonzero.size == 0 else arr.shape[0] - 1 - nonzero[-1])
