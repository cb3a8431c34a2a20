"""Notebook ``00_synthetic_data``: the ground truth of a run's clips, and skin against background
in synthetic clips (the premise of inverse attention, measured).

The pulse lives only on perfused skin; the illumination corruption is shared by skin and
background. So the mean colour of the background follows the injected illumination and carries no
pulse, while the skin's green channel carries both. :func:`skin_background_rgb` returns the two
per-frame mean colours of a synthetic clip (exact skin masks from the generator);
:func:`premise_table` measures, per clip, how well the skin's green channel gives the heart rate
and how closely the background follows the illumination.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from rppg_lib.baselines import spatial_rgb_means
from rppg_lib.constants import HR_BAND
from rppg_lib.datasets import Clip, load_skin_masks
from rppg_lib.metrics import pearson
from rppg_lib.network_inference import process_waveform
from rppg_lib.preprocess import scale_box
from rppg_lib.progress import progress_bar
from rppg_lib.signals import heart_rate
from rppg_lib.steps.dataset_split import Study
from rppg_lib.validation import check_positive

__all__ = [
    "Snapshot",
    "snapshot",
    "flicker_bpm",
    "SkinBackground",
    "background_masks",
    "skin_background_rgb",
    "premise_table",
    "ground_truth_table",
    "ground_truth_signals",
]


class Snapshot(NamedTuple):
    """One frame of a clip: ``frame`` (H, W, 3) uint8 RGB, its ``time`` (s), the face ``box``
    (x, y, w, h) in pixels or None, the ``skin`` mask (H, W) bool (synthetic clips) or None."""

    frame: np.ndarray
    time: float
    box: tuple[int, int, int, int] | None
    skin: np.ndarray | None


def snapshot(clip: Clip, index: int | None = None) -> Snapshot:
    """Frame ``index`` (default the middle frame) of ``clip`` with its face box and skin mask
    where the dataset knows them."""
    index = clip.n_frames // 2 if index is None else int(index)
    if not 0 <= index < clip.n_frames:
        raise ValueError(f"index must be in [0, {clip.n_frames}) for clip {clip.clip_id}, "
                         f"got {index}")
    frame = next(iter(clip.iter_frames(index, index + 1)))
    box = None if clip.face_boxes is None else tuple(int(v) for v in clip.face_boxes[index])
    skin = load_skin_masks(clip)[index] if "skin_mask_file" in clip.extra else None
    return Snapshot(frame, float(clip.frame_times[index]), box, skin)


def flicker_bpm(clip: Clip) -> list[float]:
    """Frequencies of the illumination flicker injected into a synthetic clip, in cycles per
    minute (comparable with bpm); empty for a clip without flicker."""
    params = clip.extra.get("generator_params")
    if params is None:
        raise ValueError(f"clip {clip.clip_id} is not synthetic: no generator parameters")
    if not params.get("flicker_amplitude"):
        return []
    return [60.0 * f for f in params["drawn"]["illumination"]["flicker_freqs_hz"]]


class SkinBackground(NamedTuple):
    """Per-frame mean colour (T, 3) RGB in digital numbers (0-255) of the skin and of the
    background (non-skin pixels outside the enlarged face box)."""

    skin: np.ndarray
    background: np.ndarray


def background_masks(
    skin: np.ndarray, face_boxes: np.ndarray, box_scale: float = 1.2
) -> np.ndarray:
    """(T, H, W) bool: pixels that are not skin and lie outside each frame's face box (x, y, w, h)
    enlarged ``box_scale`` times about its centre, so that blurred skin edges stay out."""
    skin = np.asarray(skin, dtype=bool)
    boxes = np.asarray(face_boxes)
    if skin.ndim != 3:
        raise ValueError(f"skin must have shape (T, H, W), got {skin.shape}")
    if boxes.shape != (skin.shape[0], 4):
        raise ValueError(f"face_boxes must have shape ({skin.shape[0]}, 4), got {boxes.shape}")
    scale = check_positive(box_scale, "box_scale")
    out = ~skin
    for t, box in enumerate(boxes.tolist()):
        x, y, w, h = scale_box(tuple(box), scale)
        out[t, max(y, 0) : max(y + h, 0), max(x, 0) : max(x + w, 0)] = False
        if not out[t].any():
            raise ValueError(f"frame {t}: no background pixel outside the face box {box} x {scale}")
    return out


def skin_background_rgb(clip: Clip, *, box_scale: float = 1.2) -> SkinBackground:
    """Mean RGB of the skin and of the background of every frame of a synthetic ``clip``."""
    skin = load_skin_masks(clip)
    if clip.face_boxes is None:
        raise ValueError(f"clip {clip.clip_id} has no face boxes")
    background = background_masks(skin, clip.face_boxes, box_scale)
    frames = list(clip.iter_frames())
    return SkinBackground(
        skin=spatial_rgb_means(frames, masks=skin),
        background=spatial_rgb_means(frames, masks=background),
    )


def premise_table(
    clips: Iterable[Clip],
    *,
    band: tuple[float, float] = HR_BAND,
    box_scale: float = 1.2,
    progress: bool = True,
) -> pd.DataFrame:
    """One row per synthetic clip: the heart rate of the ground-truth BVP and of the skin's mean
    green channel (both detrended, band-passed to ``band`` Hz, spectral peak; bpm) and their
    absolute difference ``skin_hr_error``; Pearson r of the background's green channel with the
    injected green illumination gain, raw (``r_background_illumination``) and both band-passed
    to ``band`` (``r_background_illumination_band``), and the same for the skin."""
    rows: list[dict[str, Any]] = []
    bar = progress_bar(list(clips), desc="skin/background", unit="clip", disable=not progress)
    for clip in bar:
        fs = clip.fps
        means = skin_background_rgb(clip, box_scale=box_scale)
        gain = np.asarray(clip.extra["illumination"])[:, 1]

        def banded(x: np.ndarray, fs: float = fs) -> np.ndarray:
            return process_waveform(x, fs, band, integrate=False)

        hr_ref = heart_rate(banded(clip.bvp_at_frames()), fs, *band)
        hr_skin = heart_rate(banded(means.skin[:, 1]), fs, *band)
        row = {"clip_id": clip.clip_id, "subject": clip.subject, "scenario": clip.task,
               "hr_reference": hr_ref, "hr_skin_green": hr_skin,
               "skin_hr_error": abs(hr_skin - hr_ref)}
        for region in ("background", "skin"):
            green = getattr(means, region)[:, 1]
            row[f"r_{region}_illumination"] = _safe_r(green, gain)
            row[f"r_{region}_illumination_band"] = _safe_r(banded(green), banded(gain))
        rows.append(row)
    if not rows:
        raise ValueError("clips is empty")
    return pd.DataFrame(rows)


def _safe_r(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson r, NaN when one signal is constant (r undefined)."""
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(pearson(a, b).value)


def ground_truth_table(study: Study) -> pd.DataFrame:
    """One row per clip: clip_id, subject, scenario, split, seconds, and the ground-truth heart
    rate at the frames (hr_mean, hr_min, hr_max in bpm; NaN where the dataset has no HR)."""
    rows = []
    for clip in study.clips():
        hr = clip.hr_at_frames() if clip.hr is not None else np.full(1, np.nan)
        rows.append({"clip_id": clip.clip_id, "subject": clip.subject, "scenario": clip.task,
                     "split": study.split_of(clip.clip_id), "seconds": clip.duration,
                     "hr_mean": float(np.mean(hr)), "hr_min": float(np.min(hr)),
                     "hr_max": float(np.max(hr))})
    return pd.DataFrame(rows)


def ground_truth_signals(clip: Clip) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The ground truth a clip has, at its frame times: ({label: (T,) values}, {label: unit})
    for "BVP" (a.u.), "respiration" (a.u.) and "heart rate" (bpm), each only where known."""
    signals: dict[str, np.ndarray] = {}
    units: dict[str, str] = {}
    for label, name, unit in (("BVP", "bvp", "a.u."), ("respiration", "resp", "a.u."),
                              ("heart rate", "hr", "bpm")):
        if getattr(clip, name) is not None:
            signals[label] = clip.at_frames(getattr(clip, name))
            units[label] = unit
    if not signals:
        raise ValueError(f"clip {clip.clip_id} has no ground truth")
    return signals, units


