"""Notebook ``02_train_tscan``: the training sets of a run, whole-clip prediction of every clip,
and the windowed heart-rate evaluation of the predictions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from rppg_lib.evaluation import evaluate_windows
from rppg_lib.steps.study import Study

__all__ = [
    "training_sets",
    "predict_all",
    "hr_windows",
]


def training_sets(study: Study, preprocessed: Mapping[str, Any], config: Any) -> tuple:
    """``(train_set, val_set, validate)`` for :func:`rppg_lib.training.train`: chunks of
    ``config.chunk_length`` frames of the training clips and of the validation clips, and the
    validation HR MAE (bpm, :func:`rppg_lib.inference.hr_validator`). val_set and validate are
    None when the study has no validation clips."""
    from rppg_lib.inference import hr_validator
    from rppg_lib.training import chunks_from_clips

    depth = None if config.model == "can" else config.model_kwargs.get("frame_depth", 10)
    targets = "pulse+resp" if config.model == "mttscan" else "pulse"

    def clips_of(split: str) -> list:
        missing = [i for i in study.clip_ids(split) if i not in preprocessed]
        if missing:
            raise KeyError(f"{split} clips {missing} are not in preprocessed")
        return [preprocessed[i] for i in study.clip_ids(split)]

    def chunked(clips: list):
        return chunks_from_clips(clips, config.chunk_length, frame_depth=depth,
                                 hop=config.chunk_hop, targets=targets)

    train_clips, val_clips = clips_of("train"), clips_of("val")
    if not train_clips:
        raise ValueError("the study's train split is empty")
    if not val_clips:
        return chunked(train_clips), None, None
    return chunked(train_clips), chunked(val_clips), hr_validator(val_clips)


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
    from rppg_lib.inference import predict_clip

    if not preprocessed:
        raise ValueError("preprocessed is empty: nothing to predict")
    return {
        clip_id: predict_clip(model, clip, return_masks=return_masks, **kwargs)
        for clip_id, clip in tqdm(preprocessed.items(), desc="predict", unit="clip",
                                  disable=not progress)
    }


def hr_windows(
    estimates: Mapping[str, np.ndarray],
    study: Study,
    *,
    window_s: float = 10.0,
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


