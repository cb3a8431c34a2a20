"""Training checkpoints and the per-epoch CSV log, both written atomically.

A checkpoint is one ``torch.save`` dict (see :func:`make_checkpoint`): the model weights, the
optimiser, scheduler and gradient-scaler states, the number of finished epochs, the random
number generator states of every process, the configuration and the history of per-epoch
metrics. That is everything needed to continue a run so that it ends with exactly the weights
and log of a run that was never interrupted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from rppg_lib.atomic import atomic_write_text, atomic_write_with

__all__ = [
    "CHECKPOINT_FORMAT",
    "LOG_COLUMNS",
    "save_checkpoint",
    "load_checkpoint",
    "load_weights",
    "load_state",
    "MODEL_KEYS",
    "RESUME_KEYS",
    "rng_state",
    "set_rng_state",
    "write_log_csv",
]

CHECKPOINT_FORMAT = "rppg-suite/train-checkpoint/1"
LOG_COLUMNS = ("epoch", "train_loss", "val_loss", "val_hr_mae", "lr", "seconds")
# Keys every checkpoint of the training loop holds: the weights and the config that rebuilds the
# network; and what resuming also needs.
MODEL_KEYS = ("model", "config")
RESUME_KEYS = (*MODEL_KEYS, "optimizer", "scheduler", "scaler", "epoch", "rng", "history", "best")


def rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    """This process's torch random-number state (CPU, and the device's generator on CUDA)."""
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, torch.Tensor], device: torch.device) -> None:
    """Restore a state saved by :func:`rng_state` (dropout then draws the same masks)."""
    torch.set_rng_state(state["cpu"].cpu())
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)


def save_checkpoint(path: str | Path, checkpoint: dict[str, Any]) -> Path:
    """Write ``checkpoint`` to ``path`` atomically: a crash mid-write leaves the previous file."""
    if checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"checkpoint['format'] must be {CHECKPOINT_FORMAT!r}")
    return atomic_write_with(path, lambda handle: torch.save(checkpoint, handle))


def load_checkpoint(
    path: str | Path,
    map_location: str | torch.device = "cpu",
    *,
    require: tuple[str, ...] = MODEL_KEYS,
) -> dict[str, Any]:
    """Read a checkpoint written by the training loop (tensors only: ``weights_only`` loading,
    no code from the file is run). Raises FileNotFoundError, or ValueError naming the file when
    it is not a training checkpoint of this suite or lacks one of the keys ``require`` (e.g.
    :data:`RESUME_KEYS` to resume)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises several types for corrupt or foreign files
        raise ValueError(f"{path} is not a readable PyTorch checkpoint: {err}") from err
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"{path} is not an rppg-suite training checkpoint (no format {CHECKPOINT_FORMAT!r}); "
            "released weights are read with rppg_lib.weights"
        )
    missing = [key for key in require if key not in checkpoint]
    if missing:
        raise ValueError(
            f"checkpoint {path} lacks {missing} (it holds {sorted(checkpoint)}): it was not "
            "written whole by the training loop; use another checkpoint or start over"
        )
    return checkpoint


def load_state(module: Any, state: Any, path: str | Path, what: str = "weights") -> None:
    """``module.load_state_dict(state)`` (a network, optimiser, scheduler or scaler), with a
    ValueError naming checkpoint ``path`` and ``what`` when the state does not fit, e.g. weights
    of another architecture or size (torch raises a RuntimeError listing every key)."""
    try:
        module.load_state_dict(state)
    except (RuntimeError, KeyError, ValueError, TypeError, AttributeError) as err:
        detail = " ".join(str(err).split())
        if len(detail) > 300:
            detail = detail[:300] + " ..."
        raise ValueError(
            f"checkpoint {path}: the {what} do not fit {type(module).__name__} (another "
            f"architecture or size?): {detail}"
        ) from None


def load_weights(model: torch.nn.Module, path: str | Path) -> dict[str, Any]:
    """Load the weights of checkpoint ``path`` into ``model`` (strict); returns the checkpoint."""
    checkpoint = load_checkpoint(path)
    load_state(model, checkpoint["model"], path, "model weights")
    return checkpoint


def _cell(value: Any) -> Any:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else value


def write_log_csv(path: str | Path, history: Sequence[dict[str, Any]]) -> Path:
    """Write the per-epoch history as CSV, atomically: the columns of :data:`LOG_COLUMNS`
    (epoch from 1; losses; ``val_hr_mae`` in bpm; ``lr`` of the epoch's last step; ``seconds``
    of wall time) then any further metrics in alphabetical order; a missing value is empty."""
    extra = sorted({k for row in history for k in row} - set(LOG_COLUMNS))
    columns = list(LOG_COLUMNS) + extra
    frame = pd.DataFrame(
        [[_cell(row.get(c)) for c in columns] for row in history], columns=columns
    )
    return atomic_write_text(path, frame.to_csv(index=False, float_format="%.9g"))
