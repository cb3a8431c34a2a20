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
from collections.abc import Callable, Iterable
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
from rppg_lib.training.distributed import DistContext, init_distributed, shutdown_distributed
from rppg_lib.training.train_config import TrainConfig

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
        :class:`~rppg_lib.training.chunks.ChunkDataset`; batches are built with ``collate_fn``, by
        default the dataset's own ``collate_fn`` attribute, else stacking.
    validate: called on rank 0 after every epoch with the model in eval mode (inside
        ``torch.no_grad``); returns extra metrics such as ``{"val_hr_mae": 2.1}`` (bpm), which
        go into the history, the CSV log and the choice of the best checkpoint.
    on_epoch_end: called with each epoch's history row after its checkpoint is written.

    Run under ``torchrun`` (WORLD_SIZE > 1) it trains with DistributedDataParallel, each
    process on its share of the shuffled chunks (the sampler repeats a few chunks so that every
    process gets as many), and only rank 0 validates and writes files.
    """
    data = _Data(train_set, val_set, validate, collate_fn, on_epoch_end)
    ctx, device = init_distributed(config.device)
    # the thread setting of rppg_lib.threads; under torchrun every process keeps its own
    threads = network_threads() if not ctx.active else contextlib.nullcontext()
    try:
        with threads:
            result = _train(model, data, config, ctx, device)
    except BaseException:
        if ctx.owns_group and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        raise
    shutdown_distributed(ctx)
    return result


@dataclass(frozen=True)
class _Data:
    """The datasets and callbacks that :func:`train` was given."""

    train_set: Dataset
    val_set: Dataset | None
    validate: Validator | None
    collate_fn: Callable | None
    on_epoch_end: Callable[[dict[str, Any]], None] | None


@dataclass
class _Run:
    """What one process of a training run holds from set-up to the last epoch.

    model: the network itself (its weights are saved and validated); step_model: what the
    training steps call (``model`` wrapped in DistributedDataParallel and/or compiled).
    history and best grow epoch by epoch (best: monitor, epoch from 1, value).
    """

    config: TrainConfig
    ctx: DistContext
    device: torch.device
    use_amp: bool
    model: nn.Module
    step_model: nn.Module
    sampler: DistributedSampler
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler
    checkpoint_dir: Path | None
    history: list[dict[str, Any]]
    best: dict[str, Any]

    @property
    def show(self) -> bool:
        return self.config.progress and self.ctx.is_main

    def autocast(self) -> torch.autocast:
        enabled = self.use_amp or self.config.bf16
        return torch.autocast(
            self.device.type, dtype=_autocast_dtype(self.config.bf16), enabled=enabled
        )


def _train(
    model: nn.Module, data: _Data, config: TrainConfig, ctx: DistContext, device: torch.device
) -> TrainResult:
    run = _set_up(model, data.train_set, config, ctx, device)
    start_epoch = _resume_or_seed(run)
    # a resumed run that had already stopped early trains no further
    finished = stop_reason(run.best, start_epoch, config.patience)
    last_epoch = start_epoch if finished else config.epochs
    epochs = progress_bar(
        range(start_epoch, last_epoch), initial=start_epoch, total=config.epochs,
        desc="training", unit="epoch", disable=not run.show,
    )
    for epoch in epochs:
        started = time.perf_counter()
        row, lr = _train_one_epoch(run, data, epoch)
        row.update(_validation_metrics(run, data))
        row["lr"] = float(lr)
        row["seconds"] = time.perf_counter() - started
        run.history.append(row)
        improved = _update_best(run.best, row, config.monitor)
        _save_checkpoints(run, epoch, improved)
        epochs.set_postfix({k: f"{v:.4g}" for k, v in row.items() if k in PROGRESS_KEYS})
        if data.on_epoch_end is not None:
            data.on_epoch_end(dict(row))
        if stop_reason(run.best, epoch + 1, config.patience):
            break
    epochs.close()
    return _result(run)


def _set_up(
    model: nn.Module, train_set: Dataset, config: TrainConfig, ctx: DistContext,
    device: torch.device,
) -> _Run:
    """The model on ``device`` (wrapped for the steps), sampler, optimiser, scheduler, scaler."""
    if len(train_set) == 0:
        raise ValueError("train_set is empty: there is nothing to train on")
    use_amp = _use_amp(config, device)
    model, step_model = _place_model(model, config, ctx, device)
    sampler = DistributedSampler(
        train_set, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True, seed=config.seed
    )
    optimizer = make_optimizer(model.parameters(), config)
    scheduler = _make_scheduler(optimizer, config, math.ceil(len(sampler) / config.batch_size))
    # float16 needs its gradients scaled; bfloat16 has float32's exponent range and does not
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and not config.bf16)
    checkpoint_dir = Path(config.checkpoint_dir) if config.checkpoint_dir is not None else None
    best = {"monitor": None, "epoch": None, "value": None}
    return _Run(
        config, ctx, device, use_amp, model, step_model, sampler, optimizer, scheduler, scaler,
        checkpoint_dir, history=[], best=best,
    )


def _use_amp(config: TrainConfig, device: torch.device) -> bool:
    """Whether float16 autocast is on (CUDA only); also sets cuDNN's determinism."""
    use_amp = config.amp and device.type == "cuda"
    if config.amp and not use_amp:
        log.warning("amp=True ignored: mixed precision is used on CUDA only (device %s)", device)
    if device.type == "cuda" and config.deterministic:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    return use_amp


def _place_model(
    model: nn.Module, config: TrainConfig, ctx: DistContext, device: torch.device
) -> tuple[nn.Module, nn.Module]:
    """``model`` on ``device`` (channels-last if asked), and what the steps call: the model
    wrapped in DistributedDataParallel under torchrun, compiled with ``config.compile``."""
    model = model.to(device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    step_model = model
    if ctx.active:
        device_ids = [device.index] if device.type == "cuda" else None
        step_model = DistributedDataParallel(model, device_ids=device_ids)
    if config.compile:
        step_model = torch.compile(step_model)
    return model, step_model


def _make_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """OneCycle, stepped every batch; None for a constant learning rate."""
    if config.scheduler_name != "onecycle":
        return None
    return torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=config.learning_rate,
        epochs=config.epochs,
        steps_per_epoch=steps_per_epoch,
    )


def _resume_or_seed(run: _Run) -> int:
    """Epochs already trained: those of ``last.pt`` when resuming (its states loaded into
    ``run``), else 0 after seeding this process's dropout stream."""
    last_path = run.checkpoint_dir / "last.pt" if run.checkpoint_dir is not None else None
    if last_path is not None and run.config.resume and last_path.exists():
        return _resume(run, last_path)
    # the weights were initialised by the caller (see build_model)
    torch.manual_seed(run.config.seed + run.ctx.rank)
    return 0


def _train_one_epoch(run: _Run, data: _Data, epoch: int) -> tuple[dict[str, Any], float]:
    """One pass over this process's share of the chunks, shuffled by (seed, epoch) (from 0).
    Returns the history row so far (epoch from 1, train_loss averaged over every process's
    chunks) and the learning rate of the last step."""
    run.model.train()
    loss_sum = torch.zeros((), dtype=torch.float64, device=run.device)
    count = 0
    lr = run.optimizer.param_groups[0]["lr"]
    for inputs, targets in _epoch_batches(run, data, epoch):
        loss = _batch_loss(run, inputs, targets)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"training loss is {float(loss)} at epoch {epoch + 1}; lower the learning "
                f"rate (lr = {lr:g}) or set max_grad_norm"
            )
        lr = _optimiser_step(run, loss)
        loss_sum += loss.detach().double() * targets.shape[0]
        count += targets.shape[0]
    total, n = run.ctx.all_sum([float(loss_sum), float(count)])
    return {"epoch": epoch + 1, "train_loss": total / n}, lr


def _epoch_batches(run: _Run, data: _Data, epoch: int) -> Iterable:
    """The shuffled batches of epoch ``epoch`` (from 0), with a progress bar when shown."""
    run.sampler.set_epoch(epoch)
    loader = DataLoader(
        data.train_set,
        batch_size=run.config.batch_size,
        sampler=run.sampler,
        collate_fn=_collate(data, data.train_set),
        num_workers=run.config.num_workers,
        pin_memory=run.device.type == "cuda",
        # a generator of its own, so DataLoader never draws from the global (dropout) stream
        generator=torch.Generator().manual_seed(run.config.seed * 100_003 + epoch),
    )
    return progress_bar(
        loader, desc=f"epoch {epoch + 1}/{run.config.epochs}", unit="batch", leave=False,
        disable=not run.show,
    )


def _collate(data: _Data, dataset: Dataset | None) -> Callable:
    """The batch builder: the one passed to train, else ``dataset``'s own, else stacking."""
    return data.collate_fn or getattr(dataset, "collate_fn", None) or default_collate


def _batch_loss(run: _Run, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The mean-squared error of one training batch, its forward pass under autocast."""
    inputs = _as_format(inputs.to(run.device, non_blocking=True), run.config.channels_last)
    targets = targets.to(run.device, non_blocking=True)
    with run.autocast():
        output = run.step_model(inputs)
    return mse_loss(output, targets)


def _optimiser_step(run: _Run, loss: torch.Tensor) -> float:
    """Backward (scaled for float16), optional clipping, optimiser and scheduler step.
    Returns the learning rate the step used."""
    optimizer, scaler = run.optimizer, run.scaler
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if run.config.max_grad_norm is not None:
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(run.model.parameters(), run.config.max_grad_norm)
    lr = optimizer.param_groups[0]["lr"]
    scaler.step(optimizer)
    scaler.update()
    if run.scheduler is not None:
        run.scheduler.step()
    return lr


def _validation_metrics(run: _Run, data: _Data) -> dict[str, float]:
    """val_loss on ``val_set`` and the metrics of ``validate``, computed on rank 0 and sent to
    every process."""
    metrics: dict[str, float] = {}
    if run.ctx.is_main:
        model, config = run.model, run.config
        model.eval()
        if data.val_set is not None:
            metrics["val_loss"] = evaluate_loss(
                model, data.val_set, config.batch_size, run.device,
                collate_fn=_collate(data, data.val_set), amp=run.use_amp, bf16=config.bf16,
                channels_last=config.channels_last,
            )
        if data.validate is not None:
            with torch.no_grad():
                metrics.update({k: float(v) for k, v in data.validate(model).items()})
        model.train()
    return run.ctx.broadcast(metrics)


def _save_checkpoints(run: _Run, epoch: int, improved: bool) -> None:
    """After epoch ``epoch`` (from 0): ``best.pt`` when the monitored metric improved,
    ``log.csv`` and ``last.pt`` (rank 0, when there is a checkpoint_dir). Every process takes
    part: the checkpoint holds each one's random-number state."""
    rngs = run.ctx.gather(rng_state(run.device))
    if not run.ctx.is_main or run.checkpoint_dir is None:
        return
    checkpoint = {
        "format": CHECKPOINT_FORMAT,
        "model": run.model.state_dict(),
        "model_class": type(run.model).__name__,
        "optimizer": run.optimizer.state_dict(),
        "scheduler": run.scheduler.state_dict() if run.scheduler is not None else None,
        "scaler": run.scaler.state_dict(),
        "epoch": epoch + 1,
        "rng": rngs,
        "config": run.config.to_dict(),
        "history": run.history,
        "best": dict(run.best),
        "world_size": run.ctx.world_size,
    }
    if improved:
        save_checkpoint(run.checkpoint_dir / "best.pt", checkpoint)
    write_log_csv(run.checkpoint_dir / "log.csv", run.history)
    save_checkpoint(run.checkpoint_dir / "last.pt", checkpoint)


def _result(run: _Run) -> TrainResult:
    stopped = int(run.history[-1]["epoch"]) if run.history else 0
    reason = stop_reason(run.best, stopped, run.config.patience)
    return TrainResult(
        model=run.model,
        history=run.history,
        monitor=run.best["monitor"],
        best_epoch=run.best["epoch"],
        best_value=run.best["value"],
        checkpoint_dir=run.checkpoint_dir,
        stopped_epoch=stopped,
        stop_reason=reason or f"reached epochs = {stopped}",
    )


def _check_resumable(checkpoint: dict[str, Any], config: TrainConfig, path: Path) -> None:
    diffs = config.differences(checkpoint["config"])
    if diffs:
        listed = ", ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in sorted(diffs.items()))
        raise ValueError(
            f"cannot resume from {path}: the config differs from the checkpoint's ({listed}); "
            "use another checkpoint_dir or resume=False to start over"
        )


def _resume(run: _Run, path: Path) -> int:
    """Load every state of checkpoint ``path`` into ``run`` (weights, optimiser, scheduler,
    scaler, this process's random-number state, history, best); returns the finished epochs."""
    config, ctx = run.config, run.ctx
    checkpoint = load_checkpoint(path, require=RESUME_KEYS)
    _check_resumable(checkpoint, config, path)
    rngs = checkpoint["rng"]
    if len(rngs) != ctx.world_size:
        if run.scheduler is not None:
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
        set_rng_state(rngs[ctx.rank], run.device)
    load_state(run.model, checkpoint["model"], path, "model weights")
    load_state(run.optimizer, checkpoint["optimizer"], path, "optimiser state")
    if run.scheduler is not None:
        load_state(run.scheduler, checkpoint["scheduler"], path, "scheduler state")
    load_state(run.scaler, checkpoint["scaler"], path, "gradient-scaler state")
    if ctx.is_main:
        log.info("resumed from %s after epoch %d", path, checkpoint["epoch"])
    run.history, run.best = list(checkpoint["history"]), dict(checkpoint["best"])
    return int(checkpoint["epoch"])


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
