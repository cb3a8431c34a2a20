"""Training the denoiser with the suite's loop, evaluating it, and the channel ablation."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from torch import nn

from rppg_lib.constants import BR_BAND, BR_SNR_BAND, BR_SNR_TOLERANCE_HZ, RELEASE_WINDOW_S
from rppg_lib.denoiser.apply import channels_of, denoise_clip
from rppg_lib.denoiser.prepare import (
    CHANNEL_SETS,
    HOP,
    TARGET_FILTERS,
    WINDOW,
    DenoiserClip,
    check_estimates,
    denoiser_dataset,
    prepare_clip,
)
from rppg_lib.evaluation_protocols import evaluate_windows, summarize
from rppg_lib.inverse_attention import CorruptionEstimates
from rppg_lib.training import TrainConfig, TrainResult, build_model, preset, train
from rppg_lib.validation import as_signal, check_choice, check_positive

__all__ = [
    "NETWORK_LABEL",
    "TARGETS",
    "evaluate_denoiser",
    "DenoiserTraining",
    "train_denoiser",
    "AblationResult",
    "run_ablation",
]

NETWORK_LABEL = "network (no LSTM)"

# What the LSTM learns: the pulse (HR, the paper) or the respiration (BR, the release's BR model),
# and how its output is evaluated per window (evaluation.evaluate_windows' band and SNR settings)
# and named in the validation metrics (val_hr_mae in bpm, val_br_mae in breaths/min).
TARGETS: dict[str, dict[str, Any]] = {
    "pulse": {"metric": "val_hr_mae"},  # evaluate_windows' defaults: the HR band and SNR
    "resp": {"metric": "val_br_mae", "band": BR_BAND, "snr_band": BR_SNR_BAND,
             "snr_tolerance_hz": BR_SNR_TOLERANCE_HZ},
}


def _window_settings(target: str) -> dict[str, Any]:
    """evaluate_windows' band, snr_band and snr_tolerance_hz for ``target``."""
    return {k: v for k, v in TARGETS[target].items() if k != "metric"}

# A (CorruptionEstimates, ground-truth waveform at frame times) pair.
Item = tuple[CorruptionEstimates, Any]


def _check_item(item: Any, name: str) -> tuple[CorruptionEstimates, np.ndarray]:
    if not isinstance(item, (tuple, list)) or len(item) != 2:
        raise ValueError(f"{name} must be a (CorruptionEstimates, waveform) pair, got {item!r:.80}")
    return check_estimates(item[0]), as_signal(item[1], f"{name} waveform")


@dataclass(frozen=True)
class _WindowProtocol:
    """How a denoised or network signal is scored: ``evaluate_windows`` in windows of
    ``window_s`` seconds, SNR by ``snr_db``, in the band of ``target`` ("pulse" or "resp")."""

    window_s: float
    snr_db: str
    target: str

    def evaluate(self, signal: np.ndarray, fs: float, reference: np.ndarray) -> pd.DataFrame:
        """The per-window rows of ``signal`` (T,) at ``fs`` Hz against ``reference`` (T,)."""
        return evaluate_windows(
            signal, fs, reference_waveform=reference, window_s=self.window_s,
            snr_db=self.snr_db, **_window_settings(self.target),
        )


def _evaluate_clips(
    model: nn.Module,
    clips: Sequence[DenoiserClip],
    references: Sequence[np.ndarray],
    label: str,
    *,
    hop: int,
    stitch: str,
    protocol: _WindowProtocol,
) -> pd.DataFrame:
    tables = []
    for clip, reference in zip(clips, references, strict=True):
        denoised = denoise_clip(model, clip, hop, stitch)
        table = protocol.evaluate(denoised, clip.source_fs, reference)
        tables.append(table.assign(method=label, clip=clip.name))
    return pd.concat(tables, ignore_index=True)


def evaluate_denoiser(
    model: nn.Module,
    items: Sequence[Item],
    *,
    channels: str | None = None,
    hop: int = HOP,
    stitch: str = "average",
    window_s: float = RELEASE_WINDOW_S,
    snr_db: str = "power",
    label: str | None = None,
    include_network: bool = True,
    names: Sequence[str] | None = None,
    target: str = "pulse",
) -> pd.DataFrame:
    """Per-window HR (BR with ``target="resp"``: breaths/min in the hr_* columns) evaluation
    (``evaluation.evaluate_windows``, the ``print_result.m`` protocol) of the denoised pulse of
    each (estimates, ground-truth waveform) item.

    Each item is denoised (:func:`denoise`) and compared at its frame rate with its waveform in
    windows of ``window_s`` seconds (HR in bpm, SNR in dB by ``snr_db``, WMAE). label: the
    ``method`` value of these rows (default ``"LSTM (<channels>)"``). include_network: also
    evaluate the network's pulse estimate itself (``estimates.pulse_conditioned``) as method
    ``"network (no LSTM)"``, the baseline the LSTM must beat. Returns the rows of all items with
    columns method and clip added; ``evaluation.summarize`` turns them into a table.
    """
    channels = channels_of(model, channels)
    check_choice(target, "target", tuple(TARGETS))
    items = list(items)
    if not items:
        raise ValueError("items is empty: nothing to evaluate")
    names = [f"clip {i}" for i in range(len(items))] if names is None else [str(n) for n in names]
    if len(names) != len(items):
        raise ValueError(f"names has {len(names)} entries for {len(items)} items")
    pairs = [_check_item(item, name) for item, name in zip(items, names, strict=True)]
    window = int(getattr(model, "window", WINDOW))
    clips = [
        prepare_clip(est, wave, channels=channels, window=window, name=name)
        for (est, wave), name in zip(pairs, names, strict=True)
    ]
    refs = [wave for _, wave in pairs]
    protocol = _WindowProtocol(window_s, snr_db, target)
    tables = [
        _evaluate_clips(
            model, clips, refs, label or f"LSTM ({channels})", hop=hop, stitch=stitch,
            protocol=protocol,
        )
    ]
    if include_network:
        for (est, wave), name in zip(pairs, names, strict=True):
            table = protocol.evaluate(est.pulse_conditioned, est.fs, wave)
            tables.append(table.assign(method=NETWORK_LABEL, clip=name))
    return pd.concat(tables, ignore_index=True)


@dataclass
class DenoiserTraining:
    """What :func:`train_denoiser` returns: the loop's :class:`~rppg_lib.training.TrainResult`
    (``result.model`` after the last epoch, ``result.history`` per epoch with train_loss,
    val_loss, val_hr_mae in bpm (val_br_mae in breaths/min for target "resp") and val_wmae), the
    ``channels``, ``target_filter`` and ``target`` used and the ``config`` actually run (its
    model_kwargs completed with input_size and window)."""

    result: TrainResult
    channels: str
    target_filter: str
    config: TrainConfig
    target: str = "pulse"

    @property
    def model(self) -> nn.Module:
        return self.result.model

    @property
    def history(self) -> pd.DataFrame:
        return pd.DataFrame(self.result.history)


def _lstm_config(config: TrainConfig | None, channels: str, target: str = "pulse") -> TrainConfig:
    config = preset("lstm") if config is None else config
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig, got {type(config).__name__}")
    if config.model != "lstm":
        raise ValueError(f"config.model must be 'lstm' for the denoiser, got {config.model!r}")
    kwargs = dict(config.model_kwargs)
    wanted = {"input_size": len(CHANNEL_SETS[channels]), "window": config.chunk_length}
    for key, value in wanted.items():
        if kwargs.get(key, value) != value:
            raise ValueError(
                f"config.model_kwargs[{key!r}] = {kwargs[key]!r} contradicts "
                f"{'channels = ' + repr(channels) if key == 'input_size' else 'chunk_length'} "
                f"(which needs {value})"
            )
        kwargs[key] = value
    if target == "resp":  # the release's BR model decodes in both directions (HR: forwards)
        kwargs.setdefault("bidirectional_decoder", True)
    # The pulse's best epoch by the mean validation SNR at the true HR: smooth in the weights. The
    # validation HR MAE of a few clips jumps by whole spectral bins from epoch to epoch, so a
    # last-bit difference between two CPUs picked another epoch; the validation loss stays flat
    # (a waveform MSE that ignores a phase lag). The breathing rate's few windows: the loss.
    if config.monitor != "auto":
        monitor = config.monitor
    else:
        monitor = "val_snr_db" if target == "pulse" else "val_loss"
    return dataclasses.replace(config, model_kwargs=kwargs, monitor=monitor)


def train_denoiser(
    train_items: Sequence[Item],
    val_items: Sequence[Item] | None = None,
    config: TrainConfig | None = None,
    *,
    channels: str = "rgb+pulse",
    target_filter: str = "detrend",
    hr_window_s: float = RELEASE_WINDOW_S,
    on_epoch_end: Callable[[dict[str, Any]], None] | None = None,
    target: str = "pulse",
) -> DenoiserTraining:
    """Train an LSTM denoiser on (CorruptionEstimates, ground-truth waveform at frame times)
    items with the suite's training loop (``rppg_lib.training.train``).

    config: a TrainConfig with model "lstm" (default ``preset("lstm")``: Adam 1e-3, batch 32,
    windows of ``chunk_length`` = 60 every ``chunk_hop`` = 30 samples, 11 epochs); its
    model_kwargs get input_size from ``channels`` and window = chunk_length (a contradicting
    value is an error). With ``val_items``, every epoch records val_loss (MSE on their windows),
    val_hr_mae (bpm; mean absolute HR error of the denoised clips over ``hr_window_s``-second
    windows, :func:`evaluate_denoiser`), val_snr_db (dB, mean over those windows) and val_wmae;
    the best checkpoint is chosen by val_snr_db (target "pulse") or val_loss (target "resp")
    unless config.monitor says otherwise.

    target: ``"pulse"`` (the items' waveforms are pulses; HR validation) or ``"resp"`` (they are
    respiration: give estimates conditioned in the BR band, e.g.
    ``inverse_attention.reconditioned``; validation by breathing rate, val_br_mae in
    breaths/min over ``hr_window_s`` windows; the decoder is bidirectional unless
    config.model_kwargs says otherwise).
    """
    check_choice(channels, "channels", tuple(CHANNEL_SETS))
    check_choice(target_filter, "target_filter", TARGET_FILTERS)
    check_choice(target, "target", tuple(TARGETS))
    hr_window_s = check_positive(hr_window_s, "hr_window_s")
    config = _lstm_config(config, channels, target)
    window, hop = config.chunk_length, config.chunk_hop or config.chunk_length
    train_clips, _ = _prepared_clips(train_items, "train", channels, target_filter, window)
    train_set = denoiser_dataset(train_clips, window=window, hop=hop)
    val_set = validate = None
    if val_items is not None:
        val_clips, val_refs = _prepared_clips(val_items, "val", channels, target_filter, window)
        _check_hr_window_fits(val_clips, hr_window_s)
        val_set = denoiser_dataset(val_clips, window=window, hop=hop)
        validate = _rate_validator(val_clips, val_refs, hop, hr_window_s, target)
    model = build_model(config)
    result = train(
        model, train_set, config, val_set=val_set, validate=validate, on_epoch_end=on_epoch_end
    )
    return DenoiserTraining(result, channels, target_filter, config, target)


def _prepared_clips(
    items: Sequence[Item], kind: str, channels: str, target_filter: str, window: int
) -> tuple[list[DenoiserClip], list[np.ndarray]]:
    """The items as network-ready clips (``prepare_clip``) and their ground-truth waveforms;
    ``kind`` ("train", "val") names them in messages."""
    items = list(items)
    if not items:
        raise ValueError(f"{kind}_items is empty")
    pairs = [_check_item(item, f"{kind} item {i}") for i, item in enumerate(items)]
    clips = [
        prepare_clip(est, wave, channels=channels, target_filter=target_filter,
                     window=window, name=f"{kind} item {i}")
        for i, (est, wave) in enumerate(pairs)
    ]
    return clips, [wave for _, wave in pairs]


def _check_hr_window_fits(clips: Sequence[DenoiserClip], hr_window_s: float) -> None:
    for clip in clips:
        if clip.n_frames / clip.source_fs < hr_window_s:
            raise ValueError(
                f"{clip.name} lasts {clip.n_frames / clip.source_fs:g} s, shorter than "
                f"hr_window_s = {hr_window_s:g} s: no HR window fits; lower hr_window_s"
            )


def _rate_validator(
    clips: list[DenoiserClip],
    references: list[np.ndarray],
    hop: int,
    hr_window_s: float,
    target: str,
) -> Callable[[nn.Module], dict[str, float]]:
    """The ``validate`` of :func:`train`: the model denoises the validation clips; returns the
    mean absolute rate error (val_hr_mae, bpm, or val_br_mae, breaths/min), val_snr_db and
    val_wmae over their ``hr_window_s``-second windows."""

    def validate(model: nn.Module) -> dict[str, float]:
        rows = _evaluate_clips(
            model, clips, references, "val", hop=hop, stitch="average",
            protocol=_WindowProtocol(hr_window_s, "power", target),
        )
        return {
            TARGETS[target]["metric"]: float(rows["abs_error"].mean()),
            "val_snr_db": float(rows["snr_db"].mean()),
            "val_wmae": float(rows["wmae"].mean()),
        }

    return validate


@dataclass
class AblationResult:
    """What :func:`run_ablation` returns: ``runs`` (channels -> :class:`DenoiserTraining`),
    ``windows`` (every per-window evaluation row on the test items, column ``method``) and
    ``summary`` (``evaluation.summarize`` of them: MAE, RMSE, MAPE, r, SNR, WMAE per method)."""

    runs: dict[str, DenoiserTraining]
    windows: pd.DataFrame
    summary: pd.DataFrame


def run_ablation(
    train_items: Sequence[Item],
    test_items: Sequence[Item],
    config: TrainConfig | None = None,
    *,
    val_items: Sequence[Item] | None = None,
    channel_sets: Sequence[str] = ("rgb+pulse", "pulse"),
    target_filter: str = "detrend",
    window_s: float = RELEASE_WINDOW_S,
    snr_db: str = "power",
) -> AblationResult:
    """The paper's claim in isolation: one LSTM per channel option, all trained with the same
    ``config`` (same seed, epochs, data), evaluated on ``test_items`` next to the network's own
    pulse estimate (``evaluate_denoiser``; HR windows of ``window_s`` s, also used for the
    validation HR). Each run is evaluated with its weights after the last epoch
    (``runs[c].model``); with ``config.checkpoint_dir`` each run writes into a subfolder named
    after its channels ("rgb_pulse", "pulse"), where ``best.pt`` holds the epoch with the lowest
    validation HR error.
    """
    sets = list(channel_sets)
    if not sets:
        raise ValueError("channel_sets is empty")
    for channels in sets:
        check_choice(channels, "channel_sets entry", tuple(CHANNEL_SETS))
    if len(set(sets)) != len(sets):
        raise ValueError(f"channel_sets has duplicates: {sets}")
    base = preset("lstm") if config is None else config
    runs, tables = {}, []
    for k, channels in enumerate(sets):
        run_config = base
        if base.checkpoint_dir is not None:
            folder = Path(base.checkpoint_dir) / re.sub(r"[^A-Za-z0-9]+", "_", channels)
            run_config = dataclasses.replace(base, checkpoint_dir=str(folder))
        runs[channels] = train_denoiser(
            train_items, val_items, run_config, channels=channels, target_filter=target_filter,
            hr_window_s=window_s,
        )
        tables.append(
            evaluate_denoiser(
                runs[channels].model, test_items, channels=channels, window_s=window_s,
                snr_db=snr_db, include_network=k == 0,
            )
        )
    windows = pd.concat(tables, ignore_index=True)
    return AblationResult(runs, windows, summarize(windows))
