"""Notebook ``02_train_tscan``: the training sets of a run, whole-clip prediction of every clip,
the windowed heart-rate evaluation of the predictions, and the optional breathing network
(``br_model``: an MTTS-CAN trained on pulse and respiration labels, :func:`train_br_model`)
whose respiration output per clip later notebooks read (:func:`load_br_resp`)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from rppg_lib.constants import HR_WINDOW_S
from rppg_lib.evaluation_protocols import evaluate_windows
from rppg_lib.network_inference import br_validator, predict_clip
from rppg_lib.progress import progress_bar
from rppg_lib.steps import artifacts
from rppg_lib.steps.artifacts import BR_MODEL_DIR, BR_MODEL_INFO, BR_RESP, NETWORK_STAGE
from rppg_lib.steps.dataset_split import Study
from rppg_lib.training import TrainConfig, TrainResult, build_model, train
from rppg_lib.training_sources import training_sets as clip_training_sets
from rppg_lib.validation import check_choice

__all__ = [
    "training_sets",
    "predict_all",
    "hr_windows",
    "BR_MODELS",
    "BR_LABELS",
    "br_config",
    "train_br_model",
    "training_summary",
    "predict_resp",
    "save_br_model",
    "load_br_model",
    "load_br_resp",
]

# The breathing networks notebook 02 can train besides the pulse network ("none": none), and
# the label of each one's respiration output in tables.
BR_MODELS = ("none", "mttscan")
BR_LABELS = {"mttscan": "MTTS-CAN (resp)"}


def training_sets(study: Study, preprocessed: Mapping[str, Any], config: Any) -> tuple:
    """``(train_set, val_set, validate)`` for :func:`rppg_lib.training.train` from the study's
    training and validation clips (:func:`rppg_lib.training_sources.training_sets`); val_set and
    validate are None when the study has no validation clips."""
    return clip_training_sets(
        _clips_of(study, preprocessed, "train"), _clips_of(study, preprocessed, "val"), config
    )


def _clips_of(study: Study, preprocessed: Mapping[str, Any], split: str) -> list:
    missing = [i for i in study.clip_ids(split) if i not in preprocessed]
    if missing:
        raise KeyError(f"{split} clips {missing} are not in preprocessed")
    return [preprocessed[i] for i in study.clip_ids(split)]


def predict_all(
    model: Any,
    preprocessed: Mapping[str, Any],
    *,
    return_masks: bool = False,
    progress: bool = True,
    **kwargs: Any,
) -> dict[str, Any]:
    """{clip_id: :class:`~rppg_lib.network_inference.ClipPrediction`} of ``model`` on every clip of
    ``preprocessed`` (whole clips, :func:`rppg_lib.network_inference.predict_clip` with
    ``kwargs``)."""
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
    each clip's ground-truth BVP (:func:`rppg_lib.evaluation_protocols.evaluate_windows`,
    ``window_s`` s,
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




# --- the optional breathing network ------------------------------------------------------------


def br_config(
    config: TrainConfig, run_dir: str | os.PathLike, *, epochs: int, patience: int | None
) -> TrainConfig:
    """The breathing network's training config: ``config`` (the pulse network's recipe:
    optimiser, lr, batch, chunks, seed, device) with model "mttscan", ``epochs`` (the most),
    ``patience`` (None or 0: off), the best epoch chosen by the validation loss (pulse and
    respiration together) and checkpoints in ``artifacts/02_train_tscan/br_model/``.

    Not by the validation BR MAE: a whole validation clip of 30 s resolves the breathing rate only
    to one periodogram bin (2 breaths/min), so that MAE is often 0 from the first epoch on and would
    keep the first epoch's weights and stop training after ``patience`` more."""
    folder = artifacts.stage_dir(run_dir, NETWORK_STAGE) / BR_MODEL_DIR
    return dataclasses.replace(
        config, model="mttscan", epochs=epochs, patience=patience, monitor="val_loss",
        checkpoint_dir=str(folder),
    )


def train_br_model(
    study: Study, preprocessed: Mapping[str, Any], config: TrainConfig
) -> TrainResult:
    """Train an MTTS-CAN (``config.model`` "mttscan", see :func:`br_config`) on the chunks of the
    training clips with their pulse and respiration labels. Every epoch records val_loss,
    val_hr_mae (bpm) and val_br_mae (breaths/min, whole validation clips,
    :func:`rppg_lib.network_inference.br_validator`). ValueError without validation clips."""
    check_choice(config.model, "config.model", tuple(m for m in BR_MODELS if m != "none"))
    train_set, val_set, validate_hr = training_sets(study, preprocessed, config)
    if validate_hr is None:
        raise ValueError("the study has no validation clips: the breathing network needs them")
    validate_br = br_validator(_clips_of(study, preprocessed, "val"))

    def validate(model: Any) -> dict[str, float]:
        return {**validate_hr(model), **validate_br(model)}

    return train(build_model(config), train_set, config, val_set=val_set, validate=validate)


def training_summary(result: TrainResult) -> dict[str, Any]:
    """The best epoch's validation numbers of a training run (every ``val_*`` column and
    val_loss), its monitor, the epoch it stopped at and why."""
    best = next(row for row in result.history if row["epoch"] == result.best_epoch)
    return {
        "monitor": result.monitor,
        "best_epoch": result.best_epoch,
        **{k: float(v) for k, v in best.items() if k.startswith("val_")},
        "stopped_epoch": result.stopped_epoch,
        "stop_reason": result.stop_reason,
    }


def predict_resp(
    model: Any, preprocessed: Mapping[str, Any], **kwargs: Any
) -> dict[str, np.ndarray]:
    """{clip_id: (T,) respiration output} (the per-frame respiration derivative) of an MTTS-CAN
    on every clip of ``preprocessed`` (:func:`predict_all` with ``kwargs``)."""
    predictions = predict_all(model, preprocessed, **kwargs)
    missing = [k for k, p in predictions.items() if p.resp_derivative is None]
    if missing:
        raise ValueError(f"the model has no respiration output (clips {missing[:3]})")
    return {k: p.resp_derivative for k, p in predictions.items()}


def save_br_model(
    run_dir: str | os.PathLike,
    br_model: str,
    resp: Mapping[str, np.ndarray] | None = None,
    summary: Mapping[str, Any] | None = None,
) -> None:
    """Record which breathing network notebook 02 trained (``br_model``, one of
    :data:`BR_MODELS`) with its ``summary`` (:func:`training_summary`), and its respiration
    output per clip ``resp`` (needed unless br_model is "none")."""
    check_choice(br_model, "br_model", BR_MODELS)
    if (br_model == "none") != (resp is None):
        raise ValueError(f"resp must be given exactly when br_model is not 'none' ({br_model!r})")
    if resp is not None:
        if not resp:
            raise ValueError("resp is empty: no clip's respiration to save")
        artifacts.save_arrays(run_dir, NETWORK_STAGE, BR_RESP, **resp)
    info = {"br_model": br_model, "label": BR_LABELS.get(br_model), "validation": summary}
    artifacts.save_json(run_dir, NETWORK_STAGE, BR_MODEL_INFO, info)


def load_br_model(run_dir: str | os.PathLike) -> dict[str, Any]:
    """What :func:`save_br_model` recorded; ``{"br_model": "none", ...}`` for a run that
    predates it."""
    path = artifacts.artifact_path(run_dir, NETWORK_STAGE, f"{BR_MODEL_INFO}.json",
                                   must_exist=False)
    if not path.exists():
        return {"br_model": "none", "label": None, "validation": None}
    return artifacts.load_json(run_dir, NETWORK_STAGE, BR_MODEL_INFO)


def load_br_resp(run_dir: str | os.PathLike) -> dict[str, np.ndarray] | None:
    """{clip_id: (T,) respiration output} of the breathing network of notebook 02, or None
    when it trained none (``br_model = "none"``)."""
    if load_br_model(run_dir)["br_model"] == "none":
        return None
    return artifacts.load_arrays(run_dir, NETWORK_STAGE, BR_RESP)
