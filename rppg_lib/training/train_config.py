"""The training configuration: one dataclass, every field with its unit and default.

Presets reproduce the published recipes (notebooks 02_train_tscan and 05_lstm_denoising):

* ``"toolbox"`` (rPPG-Toolbox TS-CAN): AdamW, lr 9e-3, OneCycle, 4 chunks x 180 frames, 30 epochs;
* ``"mttscan"`` (MTTS-CAN): Adadelta, lr 1.0, constant learning rate;
* ``"lstm"`` (Benefit-of-Distraction denoiser): Adam, lr 1e-3, 32 windows of 60, 11 epochs.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rppg_lib.validation import check_choice, check_positive

__all__ = ["TrainConfig", "MODELS", "OPTIMIZERS", "DEFAULT_LR", "PRESETS", "preset"]

MODELS = ("tscan", "can", "mttscan", "lstm", "custom")
OPTIMIZERS = ("adamw", "adadelta", "adam")
SCHEDULERS = ("auto", "onecycle", "none")
MONITORS = ("auto", "val_hr_mae", "val_br_mae", "val_snr_db", "val_loss", "train_loss")
# The published learning rate of each optimiser: rPPG-Toolbox (AdamW), MTTS-CAN (Adadelta),
# the Benefit-of-Distraction LSTM (Adam).
DEFAULT_LR = {"adamw": 9e-3, "adadelta": 1.0, "adam": 1e-3}

# Fields that may differ between an interrupted run and its resumption: they change where and
# how visibly the run happens, not the numbers it produces.
FLOAT_FIELDS = ("lr", "weight_decay", "max_grad_norm")
RUNTIME_FIELDS = frozenset({"device", "checkpoint_dir", "resume", "num_workers", "progress"})


@dataclass
class TrainConfig:
    """Everything that defines a training run. Stored in every checkpoint.

    Attributes:
        model: architecture that :func:`rppg_lib.training.build_model` builds and inference
            rebuilds from a checkpoint: "tscan", "can", "mttscan", "lstm", or "custom" (a module
            you pass yourself; its checkpoints hold weights that only you can rebuild).
        model_kwargs: constructor arguments of the model, e.g. ``{"img_size": 72}`` (default:
            the model's own defaults: 36x36 input, frame_depth 10).
        epochs: passes over the training set (rPPG-Toolbox: 30); with ``patience``, the most.
        patience: stop after this many epochs in a row without an improvement of the monitored
            metric (the best checkpoint stays the best epoch's); None or 0 = off, train every
            epoch.
        batch_size: items per optimisation step: chunks of ``chunk_length`` frames for the CNNs
            (concatenated along the batch axis, so a step sees batch_size x chunk_length frames;
            rPPG-Toolbox: 4), windows for the LSTM (32).
        chunk_length: frames per training chunk of a CNN (samples per window for the LSTM); for
            TS-CAN a multiple of frame_depth so that no temporal-shift segment crosses chunks
            (rPPG-Toolbox: 180 frames = 6 s at 30 fps).
        chunk_hop: frames between the starts of consecutive chunks; None = chunk_length
            (non-overlapping; the LSTM used 30 with windows of 60).
        optimizer: "adamw" (rPPG-Toolbox), "adadelta" (MTTS-CAN) or "adam" (LSTM).
        lr: learning rate (the peak of the OneCycle schedule); None = the published value of the
            optimiser: 9e-3 (adamw), 1.0 (adadelta), 1e-3 (adam).
        weight_decay: decoupled (AdamW) or L2 (Adam, Adadelta) weight decay; rPPG-Toolbox used 0.
        scheduler: "onecycle" (stepped every batch, as rPPG-Toolbox), "none" (constant), or
            "auto" = onecycle with adamw, none otherwise.
        max_grad_norm: clip the global gradient L2 norm to this value; None = no clipping.
        seed: seeds model initialisation (via build_model), dropout and the per-epoch shuffle.
        device: "auto" (CUDA, then Apple MPS, then CPU) or a torch device string ("cpu",
            "cuda", "cuda:1", "mps"). Under torchrun each process uses cuda:LOCAL_RANK.
        amp: mixed precision (float16 autocast + gradient scaling); CUDA only, ignored with a log
            message on other devices.
        checkpoint_dir: folder for ``last.pt``, ``best.pt`` and ``log.csv``; None = keep
            nothing on disk (no resume).
        resume: continue from ``checkpoint_dir/last.pt`` when it exists (a finished run returns
            at once); False starts over and overwrites.
        monitor: the metric that picks ``best.pt`` (and that ``patience`` watches):
            "val_hr_mae" (bpm), "val_br_mae" (breaths/min), "val_snr_db" (dB, higher is
            better), "val_loss", "train_loss", or "auto" = the first of the errors and losses
            that the run produces.
        num_workers: DataLoader worker processes (0 = load in the training process).
        progress: show progress bars (rank 0 only; :mod:`rppg_lib.progress`).
        deterministic: ask cuDNN for deterministic kernels (no autotuning). CPU training is
            deterministic regardless.
        channels_last: train in channels-last memory format (model and batches); faster
            convolutions on CPUs (oneDNN) and tensor-core GPUs. Same model, same data; the
            weights differ from the default's by float32 rounding (~1e-6 per step).
        bf16: bfloat16 autocast (CPUs with AVX-512-BF16 or AMX, and CUDA); the loss and the
            weights stay float32. Faster, and less exact: see ``benchmarks/bench_models.py``.
        compile: ``torch.compile`` the model for the training steps. It pays for its compile
            time (tens of seconds on a CPU) only on long runs.
    """

    model: str = "tscan"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    epochs: int = 30
    patience: int | None = None
    batch_size: int = 4
    chunk_length: int = 180
    chunk_hop: int | None = None
    optimizer: str = "adamw"
    lr: float | None = None
    weight_decay: float = 0.0
    scheduler: str = "auto"
    max_grad_norm: float | None = None
    seed: int = 0
    device: str = "auto"
    amp: bool = False
    checkpoint_dir: str | None = None
    resume: bool = True
    monitor: str = "auto"
    num_workers: int = 0
    progress: bool = True
    deterministic: bool = True
    channels_last: bool = False
    bf16: bool = False
    compile: bool = False

    def __post_init__(self) -> None:
        check_choice(self.model, "model", MODELS)
        if not isinstance(self.model_kwargs, dict):
            raise ValueError(f"model_kwargs must be a dict, got {self.model_kwargs!r}")
        for name in ("epochs", "batch_size", "chunk_length"):
            _check_int(getattr(self, name), name, minimum=1)
        if self.patience is not None:
            _check_int(self.patience, "patience", minimum=0)
        if self.chunk_hop is not None:
            _check_int(self.chunk_hop, "chunk_hop", minimum=1)
        check_choice(self.optimizer, "optimizer", OPTIMIZERS)
        check_choice(self.scheduler, "scheduler", SCHEDULERS)
        check_choice(self.monitor, "monitor", MONITORS)
        if self.lr is not None:
            check_positive(self.lr, "lr")
        if not _is_number(self.weight_decay) or not self.weight_decay >= 0:
            raise ValueError(f"weight_decay must be a number >= 0, got {self.weight_decay!r}")
        if self.max_grad_norm is not None:
            check_positive(self.max_grad_norm, "max_grad_norm")
        _check_int(self.seed, "seed", minimum=0)
        _check_int(self.num_workers, "num_workers", minimum=0)
        if not isinstance(self.device, str) or not self.device:
            raise ValueError(f"device must be 'auto' or a torch device string, got {self.device!r}")
        for name in (
            "amp", "resume", "progress", "deterministic", "channels_last", "bf16", "compile",
        ):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.checkpoint_dir is not None:
            self.checkpoint_dir = str(self.checkpoint_dir)

    @property
    def learning_rate(self) -> float:
        """``lr``, or the optimiser's published default when ``lr`` is None."""
        return float(self.lr) if self.lr is not None else DEFAULT_LR[self.optimizer]

    @property
    def scheduler_name(self) -> str:
        """The schedule actually used: "onecycle" or "none" ("auto" resolved)."""
        if self.scheduler == "auto":
            return "onecycle" if self.optimizer == "adamw" else "none"
        return self.scheduler

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python dict of every field (what checkpoints and YAML files hold)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build from a dict; an unknown key raises ValueError naming it."""
        if not isinstance(values, dict):
            raise ValueError(f"a training config must be a mapping, got {type(values).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown training config keys {unknown}; known: {sorted(known)}")
        values = dict(values)
        for name in FLOAT_FIELDS:  # PyYAML reads "9e-3" (no dot) as a string
            if isinstance(values.get(name), str):
                try:
                    values[name] = float(values[name])
                except ValueError:
                    raise ValueError(f"{name} must be a number, got {values[name]!r}") from None
        return cls(**values)

    @classmethod
    def from_yaml(cls, path: str | Path) -> TrainConfig:
        """Read the fields from a YAML mapping (its optional ``data`` section is ignored here)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"training config file not found: {path}")
        values = yaml.safe_load(path.read_text()) or {}
        if not isinstance(values, dict):
            raise ValueError(f"{path} must hold a YAML mapping, got {type(values).__name__}")
        values = {k: v for k, v in values.items() if k != "data"}
        return cls.from_dict(values)

    def differences(self, other: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
        """Fields (other than the runtime ones: device, checkpoint_dir, ...) whose value in the
        dict ``other`` (a checkpoint's config) differs from this config: name -> (other, self).
        A field missing from ``other`` (a checkpoint older than the field) counts as its
        default."""
        mine = self.to_dict()
        defaults = TrainConfig().to_dict()
        return {
            k: (other.get(k, defaults[k]), v)
            for k, v in mine.items()
            if k not in RUNTIME_FIELDS and other.get(k, defaults[k]) != v
        }


PRESETS: dict[str, dict[str, Any]] = {
    "toolbox": dict(
        model="tscan", optimizer="adamw", lr=9e-3, scheduler="onecycle", batch_size=4,
        chunk_length=180, epochs=30,
    ),
    "mttscan": dict(
        model="mttscan", optimizer="adadelta", lr=1.0, scheduler="none", batch_size=4,
        chunk_length=180, epochs=30,
    ),
    "lstm": dict(
        model="lstm", optimizer="adam", lr=1e-3, scheduler="none", batch_size=32,
        chunk_length=60, chunk_hop=30, epochs=11,
    ),
}


def preset(name: str, **overrides: Any) -> TrainConfig:
    """A :class:`TrainConfig` for a published recipe ("toolbox", "mttscan", "lstm"), with any
    field overridden by keyword."""
    check_choice(name, "preset", tuple(PRESETS))
    return TrainConfig.from_dict({**PRESETS[name], **overrides})


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_int(value: Any, name: str, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
