"""Building networks by name, seeded, and rebuilding them from training checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from rppg_lib.models import CAN, MTTSCAN, TSCAN, LSTMDenoiser
from rppg_lib.training.checkpoint import load_checkpoint, load_state
from rppg_lib.training.train_config import TrainConfig

__all__ = ["MODEL_CLASSES", "build_model", "model_from_checkpoint"]

MODEL_CLASSES: dict[str, type[nn.Module]] = {
    "tscan": TSCAN,
    "can": CAN,
    "mttscan": MTTSCAN,
    "lstm": LSTMDenoiser,
}


def build_model(config: TrainConfig) -> nn.Module:
    """The network named by ``config.model`` with ``config.model_kwargs``, its weights
    initialised from ``config.seed`` (the same seed gives the same initial weights)."""
    if config.model not in MODEL_CLASSES:
        raise ValueError(
            f"model = {config.model!r} cannot be built by name; choose one of "
            f"{tuple(MODEL_CLASSES)} or pass your module to train() with model='custom'"
        )
    torch.manual_seed(config.seed)
    try:
        return MODEL_CLASSES[config.model](**config.model_kwargs)
    except TypeError as err:
        raise ValueError(
            f"model_kwargs {config.model_kwargs} do not fit {config.model}: {err}"
        ) from err


def model_from_checkpoint(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the network saved in training checkpoint ``path`` and load its weights.

    Returns ``(model, checkpoint)``, the model on the CPU in eval mode. ValueError when the run
    used a custom module (``model='custom'``), which cannot be rebuilt by name.
    """
    checkpoint = load_checkpoint(path)
    try:
        config = TrainConfig.from_dict(checkpoint["config"])
    except (ValueError, TypeError, AttributeError) as err:
        raise ValueError(f"checkpoint {path} holds an invalid config: {err}") from None
    if config.model not in MODEL_CLASSES:
        raise ValueError(
            f"{path} was trained with a custom module ({checkpoint.get('model_class')}); build "
            "that module yourself and load the weights with rppg_lib.training.load_weights"
        )
    model = MODEL_CLASSES[config.model](**config.model_kwargs)
    load_state(model, checkpoint["model"], path, "model weights")
    bad = [name for name, tensor in model.state_dict().items()
           if tensor.is_floating_point() and not torch.isfinite(tensor).all()]
    if bad:
        raise ValueError(f"checkpoint {path} holds NaN or infinite weights in {bad[:5]}")
    return model.eval(), checkpoint
