"""Notebook ``02_train_tscan``: the training sets of a run, whole-clip prediction of every clip,
and the windowed heart-rate evaluation of the predictions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from rppg_lib.constants import HR_WINDOW_S
from rppg_lib.evaluation import evaluate_windows
from rppg_lib.inference import predict_clip
from rppg_lib.progress import progress_bar
from rppg_lib.steps.study import Study
from rppg_lib.training_sources import training_sets as clip_training_sets

__all__ = [
    "training_sets",
    "predict_all",
    "hr_windows",
]


def training_sets(study: Study, preprocessed: Mapping[str, Any], config: Any) -> tuple:
    """``(train_set, val_set, validate)`` for :func:`rppg_lib.training.train` from the study's
    training and validation clips (:func:`rppg_lib.training_sources.training_sets`); val_set and
    validate are None when the study has no validation clips."""

    def clips_of(split: str) -> list:
        missing = [i for i in study.clip_ids(split) if i not in preprocessed]
        if missing:
            raise KeyError(f"{split} clips {missing} are not in preprocessed")
        return [preprocessed[i] for i in study.clip_ids(split)]

    return clip_training_sets(clips_of("train"), clips_of("val"), config)


def predict_all(
    model: Any,
    preprocessed: Mapping[str, Any],
    *,
    return_masks: bool = False,
    progress: bool = True,
    **kwargs: Any,
) -> dict[str, Any]:
    """{clip_id: :class:`~rppg_lib.inference.ClipPrediction`} of ``model`` on every clip of
    ``preprocessed`` (whole clips, :func:`rppg_lib.inference.predict_clip` with ``kwargs``)."""
    if not preprocessed:
        raise ValueError("preprocessed is empty: nothing to predict")
    return {
        clip_id: predict_clip(model, clip, return_masks=return_masks, **kwargs)
        for clip_id, clip in progress_bar(preprocessed.items(), desc="predict", unit="clip",
                                  disable=not progress)
    }


def hr_windows(
    estimates: Mapping[str, np.ndarray],
    study: Study,
    *,
    window_s: float = HR_WINDOW_S,
    method: str = "TS-CAN",
    **kwargs: Any,
) -> pd.DataFrame:
    """Per-window heart rates of pulse ``estimates`` ({clip_id: (T,) at the clip's fps}) against
    each clip's ground-truth BVP (:func:`rppg_lib.evaluation.evaluate_windows`, ``window_s`` s,
    ``kwargs`` passed on). One row per window with clip_id, subject, scenario, split, method and
    the protocol's columns (hr_estimate, hr_reference, abs_error in bpm, snr_db, wmae)."""
    rows = []
    for clip_id, estimate in estimates.items():
        clip = study.dataset[clip_id]
        table = evaluate_windows(np.asarray(estimate, dtype=np.float64), clip.fps,
                                 reference_waveform=clip.bvp_at_frames(), window_s=window_s,
                                 **kwargs)
        table.insert(0, "method", method)
        table.insert(0, "split", study.split_of(clip_id))
        table.insert(0, "scenario", clip.task)
        table.insert(0, "subject", clip.subject)
        table.insert(0, "clip_id", clip_id)
        rows.append(table)
    if not rows:
        raise ValueError("estimates is empty: nothing to evaluate")
    return pd.concat(rows, ignore_index=True)


