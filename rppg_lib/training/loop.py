"""The training loop: one plain PyTorch loop for the CNNs (TS-CAN, CAN, MTTS-CAN) and the LSTM.

Per epoch: shuffle the chunks with a generator seeded from (seed, epoch); for each batch,
forward (under float16 autocast when ``amp`` on CUDA, bfloat16 autocast with ``bf16``; in
channels-last memory format with ``channels_last``; compiled with ``compile``), mean-squared
error against the targets, backward, optional gradient clipping, optimiser step, scheduler step.
Then validate on rank 0 (loss on ``val_set``, any metrics from ``validate(model)``), append a row
to the history, and write ``last.pt`` (and ``best.pt`` when the monitored metric improved) and
``log.csv``. With ``patience``, training stops early once the monitored metric has not improved
for that many epochs (:func:`stop_reason`).

Same config, seed and data give the same weights on the CPU, and a run resumed from ``last.pt``
ends exactly where the uninterrupted run does: the checkpoint carries the optimiser, scheduler
and scaler states and every process's random-number state (dropout), and the shuffle depends
only on (seed, epoch).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, default_collate

from rppg_lib.progress import progress_bar
from rppg_lib.threads import network_threads
from rppg_lib.training.checkpoint import (
    CHECKPOINT_FORMAT,
    RESUME_KEYS,
    load_checkpoint,
    load_state,
    rng_state,
    save_checkpoint,
    set_rng_state,
    write_log_csv,
)
from rppg_lib.training.config import TrainConfig
from rppg_lib.training.distributed import DistContext, init_distributed, shutdown_distributed

__all__ = ["TrainResult", "train", "mse_loss", "make_optimizer", "evaluate_loss", "stop_reason"]

log = logging.getLogger(__name__)

Validator = Callable[[nn.Module], dict[str, float]]
# metrics shown beside the epoch progress bar
PROGRESS_KEYS = ("train_loss", "val_loss", "val_hr_mae", "val_br_mae")


@dataclass
class TrainResult:
    """What :func:`train` returns.

    model: the trained network (weights after the last epoch, unwrapped from DDP, on the
        training device). history: one dict per epoch (the rows of ``log.csv``).
    monitor: the metric that chose the best epoch; best_epoch (from 1) and best_value.
    checkpoint_dir: where ``last.pt``, ``best.pt`` and ``log.csv`` are (None: nothing saved).
    stopped_epoch: the last epoch trained (from 1); stop_reason: why training ended there
    (``epochs`` reached, or no improvement for ``patience`` epochs).
    """

    model: nn.Module
    history: list[dict[str, Any]]
    monitor: str | None
    best_epoch: int | None
    best_value: float | None
    checkpoint_dir: Path | None
    stopped_epoch: int = 0
    stop_reason: str = ""

    def _path(self, name: str) -> Path | None:
        return None if self.checkpoint_dir is None else self.checkpoint_dir / name

    @property
    def last_path(self) -> Path | None:
        return self._path("last.pt")

    @property
    def best_path(self) -> Path | None:
        return self._path("best.pt")

    @property
    def log_path(self) -> Path | None:
        return self._path("log.csv")


def mse_loss(output: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean-squared error in float32. A CNN's (N, 1) output is compared with (N,) targets."""
    if output.shape != targets.shape:
        if output.numel() != targets.numel():
            raise ValueError(
                f"model output {tuple(output.shape)} does not match targets "
                f"{tuple(targets.shape)}"
            )
        output = output.reshape(targets.shape)
    return F.mse_loss(output.float(), targets.float())


def make_optimizer(params, config: TrainConfig) -> torch.optim.Optimizer:
    """The optimiser of ``config``. Adadelta uses Keras's rho = 0.95 and epsilon = 1e-7 (MTTS-CAN
    was trained with Keras's Adadelta; PyTorch's defaults are 0.9 and 1e-6)."""
    lr, wd = config.learning_rate, config.weight_decay
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    return torch.optim.Adadelta(params, lr=lr, rho=0.95, eps=1e-7, weight_decay=wd)


@torch.no_grad()
def evaluate_loss(
    model: nn.Module,
    dataset: Dataset,
    batch_size: int,
    device: torch.device,
    *,
    collate_fn: Callable | None = None,
    amp: bool = False,
    bf16: bool = False,
    channels_last: bool = False,
) -> float:
    """Mean-squared error of ``model`` (eval mode) over ``dataset``, in order, one pass.
    amp / bf16: float16 / bfloat16 autocast; channels_last: batches in that memory format."""
    was_training = model.training
    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate_fn)
    total, count = 0.0, 0
    for inputs, targets in loader:
        inputs, targets = _as_format(inputs.to(device), channels_last), targets.to(device)
        with torch.autocast(device.type, dtype=_autocast_dtype(bf16), enabled=amp or bf16):
            output = model(inputs)
        total += float(mse_loss(output, targets)) * targets.shape[0]
        count += targets.shape[0]
    model.train(was_training)
    return total / count


def train(
    model: nn.Module,
    train_set: Dataset,
    config: TrainConfig,
    *,
    val_set: Dataset | None = None,
    validate: Validator | None = None,
    collate_fn: Callable | None = None,
    on_epoch_end: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train ``model`` on ``train_set`` as ``config`` says; returns a :class:`TrainResult`.

    train_set / val_set: datasets of ``(inputs, targets)`` items, e.g.
        :class:`~rppg_lib.training.data.ChunkDataset`; batches are built with ``collate_fn``, by
        default the dataset's own ``collate_fn`` attribute, else stacking.
    validate: called on rank 0 after every epoch with the model in eval mode (inside
        ``torch.no_grad``); returns extra metrics such as ``{"val_hr_mae": 2.1}`` (bpm), which
        go into the history, the CSV log and the choice of the best checkpoint.
    on_epoch_end: called with each epoch's history row after its checkpoint is written.

    Run under ``torchrun`` (WORLD_SIZE > 1) it trains with DistributedDataParallel, each
    process on its share of the shuffled chunks (the sampler repeats a few chunks so that every
    process gets as many), and only rank 0 validates and writes files.
    """
    ctx, device = init_distributed(config.device)
    # the thread setting of rppg_lib.threads; under torchrun every process keeps its own
    threads = network_threads() if not ctx.active else contextlib.nullcontext()
    try:
        with threads:
            result = _train(
                model, train_set, config, ctx, device, val_set, validate, collate_fn, on_epoch_end
            )
    except BaseException:
        if ctx.owns_group and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        raise
    shutdown_distributed(ctx)
    return result


def _check_resumable(checkpoint: dict[str, Any], config: TrainConfig, path: Path) -> None:
    diffs = config.differences(checkpoint["config"])
    if diffs:
        listed = ", ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in sorted(diffs.items()))
        raise ValueError(
            f"cannot resume from {path}: the config differs from the checkpoint's ({listed}); "
            "use another checkpoint_dir or resume=False to start over"
        )


def _train(
    model: nn.Module,
    train_set: Dataset,
    config: TrainConfig,
    ctx: DistContext,
    device: torch.device,
    val_set: Dataset | None,
    validate: Validator | None,
    collate_fn: Callable | None,
    on_epoch_end: Callable[[dict[str, Any]], None] | None,
) -> TrainResult:
    if len(train_set) == 0:
        raise ValueError("train_set is empty: there is nothing to train on")
    use_amp = config.amp and device.type == "cuda"
    if config.amp and not use_amp:
        log.warning("amp=True ignored: mixed precision is used on CUDA only (device %s)", device)
    if device.type == "cuda" and config.deterministic:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    collate = collate_fn or getattr(train_set, "collate_fn", None) or default_collate
    val_collate = collate_fn or getattr(val_set, "collate_fn", None) or default_collate

    model = model.to(device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    ddp_model = (
        DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
        if ctx.active
        else model
    )
    if config.compile:
        ddp_model = torch.compile(ddp_model)
    autocast = dict(dtype=_autocast_dtype(config.bf16), enabled=use_amp or config.bf16)
    sampler = DistributedSampler(
        train_set, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True, seed=config.seed
    )
    steps_per_epoch = math.ceil(len(sampler) / config.batch_size)
    optimizer = make_optimizer(model.parameters(), config)
    scheduler = None
    if config.scheduler_name == "onecycle":
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=config.learning_rate,
            epochs=config.epochs,
            steps_per_epoch=steps_per_epoch,
        )
    # float16 needs its gradients scaled; bfloat16 has float32's exponent range and does not
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and not config.bf16)

    ckpt_dir = Path(config.checkpoint_dir) if config.checkpoint_dir is not None else None
    history: list[dict[str, Any]] = []
    start_epoch = 0
    best = {"monitor": None, "epoch": None, "value": None}
    last_path = ckpt_dir / "last.pt" if ckpt_dir is not None else None
    if last_path is not None and config.resume and last_path.exists():
        start_epoch, history, best = _resume(
            last_path, config, ctx, device, model, optimizer, scheduler, scaler
        )
    else:
        # the dropout stream; the weights were initialised by the caller (see build_model)
        torch.manual_seed(config.seed + ctx.rank)

    show = config.progress and ctx.is_main
    # a resumed run that had already stopped early trains no further
    last_epoch = start_epoch if stop_reason(best, start_epoch, config.patience) else config.epochs
    epochs = progress_bar(
        range(start_epoch, last_epoch),
        initial=start_epoch,
        total=config.epochs,
        desc="training",
        unit="epoch",
        disable=not show,
    )
    for epoch in epochs:
        started = time.perf_counter()
        sampler.set_epoch(epoch)
        loader = DataLoader(
            train_set,
            batch_size=config.batch_size,
            sampler=sampler,
            collate_fn=collate,
            num_workers=config.num_workers,
            pin_memory=device.type == "cuda",
            # a generator of its own, so DataLoader never draws from the global (dropout) stream
            generator=torch.Generator().manual_seed(config.seed * 100_003 + epoch),
        )
        model.train()
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        count = 0
        lr = optimizer.param_groups[0]["lr"]
        batches = progress_bar(
            loader, desc=f"epoch {epoch + 1}/{config.epochs}", unit="batch", leave=False,
            disable=not show,
        )
        for inputs, targets in batches:
            inputs = _as_format(inputs.to(device, non_blocking=True), config.channels_last)
            targets = targets.to(device, non_blocking=True)
            with torch.autocast(device.type, **autocast):
                output = ddp_model(inputs)
            loss = mse_loss(output, targets)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"training loss is {float(loss)} at epoch {epoch + 1}; lower the learning "
                    f"rate (lr = {lr:g}) or set max_grad_norm"
                )
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if config.max_grad_norm is not None:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            lr = optimizer.param_groups[0]["lr"]
            scaler.step(optimizer)
            scaler.update()
            if scheduler is not None:
                scheduler.step()
            loss_sum += loss.detach().double() * targets.shape[0]
            count += targets.shape[0]
        total, n = ctx.all_sum([float(loss_sum), float(count)])
        row: dict[str, Any] = {"epoch": epoch + 1, "train_loss": total / n}

        metrics: dict[str, float] = {}
        if ctx.is_main:
            model.eval()
            if val_set is not None:
                metrics["val_loss"] = evaluate_loss(
                    model, val_set, config.batch_size, device, collate_fn=val_collate, amp=use_amp,
                    bf16=config.bf16, channels_last=config.channels_last,
                )
            if validate is not None:
                with torch.no_grad():
                    metrics.update({k: float(v) for k, v in validate(model).items()})
            model.train()
        metrics = ctx.broadcast(metrics)
        row.update(metrics)
        row["lr"] = float(lr)
        row["seconds"] = time.perf_counter() - started
        history.append(row)

        improved = _update_best(best, row, config.monitor)
        rngs = ctx.gather(rng_state(device))
        if ctx.is_main and ckpt_dir is not None:
            checkpoint = {
                "format": CHECKPOINT_FORMAT,
                "model": model.state_dict(),
                "model_class": type(model).__name__,
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "scaler": scaler.state_dict(),
                "epoch": epoch + 1,
                "rng": rngs,
                "config": config.to_dict(),
                "history": history,
                "best": dict(best),
                "world_size": ctx.world_size,
            }
            if improved:
                save_checkpoint(ckpt_dir / "best.pt", checkpoint)
            write_log_csv(ckpt_dir / "log.csv", history)
            save_checkpoint(ckpt_dir / "last.pt", checkpoint)
        epochs.set_postfix(
            {k: f"{v:.4g}" for k, v in row.items() if k in PROGRESS_KEYS}
        )
        if on_epoch_end is not None:
            on_epoch_end(dict(row))
        if stop_reason(best, epoch + 1, config.patience):
            break
    epochs.close()
    stopped = int(history[-1]["epoch"]) if history else 0
    return TrainResult(
        model=model,
        history=history,
        monitor=best["monitor"],
        best_epoch=best["epoch"],
        best_value=best["value"],
        checkpoint_dir=ckpt_dir,
        stopped_epoch=stopped,
        stop_reason=stop_reason(best, stopped, config.patience) or f"reached epochs = {stopped}",
    )


def _resume(
    path: Path,
    config: TrainConfig,
    ctx: DistContext,
    device: torch.device,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    scaler: torch.amp.GradScaler,
) -> tuple[int, list[dict[str, Any]], dict[str, Any]]:
    """Load every state of checkpoint ``path``; returns (finished epochs, history, best)."""
    checkpoint = load_checkpoint(path, require=RESUME_KEYS)
    _check_resumable(checkpoint, config, path)
    rngs = checkpoint["rng"]
    if len(rngs) != ctx.world_size:
        if scheduler is not None:
            raise ValueError(
                f"cannot resume {path}: it was trained by {len(rngs)} process(es), this run has "
                f"{ctx.world_size}, and the OneCycle schedule depends on the steps per epoch"
            )
        log.warning(
            "resuming a %d-process run with %d processes: training continues, but will not "
            "reproduce the uninterrupted run exactly",
            len(rngs),
            ctx.world_size,
        )
        torch.manual_seed(config.seed + 1000 * int(checkpoint["epoch"]) + ctx.rank)
    else:
        set_rng_state(rngs[ctx.rank], device)
    load_state(model, checkpoint["model"], path, "model weights")
    load_state(optimizer, checkpoint["optimizer"], path, "optimiser state")
    if scheduler is not None:
        load_state(scheduler, checkpoint["scheduler"], path, "scheduler state")
    load_state(scaler, checkpoint["scaler"], path, "gradient-scaler state")
    if ctx.is_main:
        log.info("resumed from %s after epoch %d", path, checkpoint["epoch"])
    return int(checkpoint["epoch"]), list(checkpoint["history"]), dict(checkpoint["best"])


def stop_reason(best: dict[str, Any], epoch: int, patience: int | None) -> str | None:
    """Why training stops early after ``epoch`` (from 1), or None to go on: the monitored metric
    of ``best`` (monitor, epoch, value) has not improved for ``patience`` epochs (None or 0:
    never stops early)."""
    if not patience or epoch == 0:
        return None
    waited = epoch - (best["epoch"] or 0)
    if waited < patience:
        return None
    since = "" if best["epoch"] is None else (
        f" since epoch {best['epoch']} ({best['value']:.6g})"
    )
    return (
        f"early stop after epoch {epoch}: no improvement of {best['monitor']}{since} "
        f"for {waited} epochs (patience {patience})"
    )


# Monitored metrics where higher is better; every other one is an error or a loss.
HIGHER_IS_BETTER = frozenset({"val_snr_db"})


def _update_best(best: dict[str, Any], row: dict[str, Any], monitor: str) -> bool:
    """Record ``row`` in ``best`` if its monitored metric improved (lower is better, except
    for :data:`HIGHER_IS_BETTER`)."""
    if best["monitor"] is None:
        if monitor == "auto":
            candidates = ("val_hr_mae", "val_br_mae", "val_loss", "train_loss")
            monitor = next(k for k in candidates if _finite(row.get(k)) or k == "train_loss")
        elif monitor not in row:
            raise ValueError(
                f"monitor = {monitor!r} but the run produces no such metric "
                f"(it has {sorted(row)}); pass val_set or validate, or change monitor"
            )
        best["monitor"] = monitor
    value = row.get(best["monitor"])
    sign = -1.0 if best["monitor"] in HIGHER_IS_BETTER else 1.0
    if not _finite(value) or (best["value"] is not None and sign * value >= sign * best["value"]):
        return False
    best["epoch"], best["value"] = row["epoch"], float(value)
    return True


def _autocast_dtype(bf16: bool) -> torch.dtype:
    return torch.bfloat16 if bf16 else torch.float16


def _as_format(inputs: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """A 4-D batch (N, C, H, W) in channels-last memory format when asked; others unchanged."""
    if channels_last and inputs.ndim == 4:
        return inputs.contiguous(memory_format=torch.channels_last)
    return inputs


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
