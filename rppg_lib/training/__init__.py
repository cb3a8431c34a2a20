"""Training of every network in the suite: one seeded, resumable, DDP-ready loop.

Modules: ``train_config`` (:class:`TrainConfig`, presets), ``chunks`` (chunk datasets,
subject-wise splits), ``loop`` (:func:`train`), ``checkpoint`` (atomic checkpoints and CSV log),
``distributed`` (devices, torchrun), ``build`` (networks by name, from checkpoints),
``sources`` (a dataset on disk -> subject-wise split -> cached preprocessing -> chunks).
The command-line entry point is ``python -m rppg_lib.train`` (see :mod:`rppg_lib.train`).
"""

from rppg_lib.training.build import MODEL_CLASSES, build_model, model_from_checkpoint
from rppg_lib.training.checkpoint import (
    LOG_COLUMNS,
    load_checkpoint,
    load_weights,
    save_checkpoint,
    write_log_csv,
)
from rppg_lib.training.chunks import (
    ChunkDataset,
    chunks_from_clips,
    clip_sequence,
    concat_collate,
    split_by_subject,
    stack_collate,
)
from rppg_lib.training.distributed import DistContext, init_distributed, resolve_device
from rppg_lib.training.loop import (
    TrainResult,
    evaluate_loss,
    make_optimizer,
    mse_loss,
    stop_reason,
    train,
)
from rppg_lib.training.train_config import PRESETS, TrainConfig, preset

__all__ = [
    "TrainConfig",
    "PRESETS",
    "preset",
    "train",
    "TrainResult",
    "mse_loss",
    "make_optimizer",
    "evaluate_loss",
    "stop_reason",
    "ChunkDataset",
    "clip_sequence",
    "chunks_from_clips",
    "concat_collate",
    "stack_collate",
    "split_by_subject",
    "save_checkpoint",
    "load_checkpoint",
    "load_weights",
    "write_log_csv",
    "LOG_COLUMNS",
    "build_model",
    "model_from_checkpoint",
    "MODEL_CLASSES",
    "DistContext",
    "init_distributed",
    "resolve_device",
]
