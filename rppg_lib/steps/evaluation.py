"""Comparing pulse-estimation methods over clips: the glue of notebook 06.

``06_evaluation`` gathers every method's signal per test clip (:func:`clip_signals`,
:func:`collect_signals`), evaluates all of them window by window for HR and BR
(:func:`evaluate_methods`), summarises per scenario (:func:`summarize_by_scenario`,
:func:`bland_altman_table`). Every comparison has its 95 % interval from a bootstrap over test
subjects (:mod:`rppg_lib.stats`): :func:`method_table` per scenario and method,
:func:`compare_methods` and :func:`verdicts` for the paper's claims 1 and 2, each read as holds /
fails / undecided by the one rule of :mod:`rppg_lib.stats`. The per-clip glue
of notebooks 04 and 05 (corruption estimates, claim 3, the denoised clips) is in
:mod:`rppg_lib.steps.inverse_attention_noise`.

Methods of one clip (labels for a network called ``network``, e.g. "TS-CAN"):

- ``network``: the network's pulse as the LSTM receives it, ``estimates.pulse_conditioned``
  (cumsum of the derivative, detrend λ = 50, z-score, order-1 band-pass 0.7-2.5 Hz);
- ``network + LSTM (inverse attention)``: the LSTM with inputs [n_R, n_G, n_B, p];
- ``network + LSTM (pulse only)``: the ablation, the same LSTM with input p only;
- ``network + linear (inverse attention)`` and ``network + linear (injected light)``: the classic
  reference, least squares per window of p on the corruption estimates or on the injected light
  (:func:`~rppg_lib.steps.lstm_denoising.linear_denoised`); with no estimate the linear filter is
  the identity, so that row is ``network`` itself;
- GREEN, CHROM, POS, ICA (:mod:`rppg_lib.baselines`) on the mean colour of the face box in the
  original frames (:func:`face_rgb_means`).

Breathing rate (BR) is read from each method's signal band-passed to 0.08-0.5 Hz (the
evaluation's own order-3 zero-phase Butterworth; for the network its integrated output
``pulse_raw``, or the respiration output of an MTTS-CAN). The release's λ = 50 detrend is *not*
applied first: a smoothness-priors detrend high-passes at about 0.189·fs/√λ, 0.8 Hz at 30 Hz,
which would remove the whole BR band.

With a breathing network from notebook 02 (``br_model``), BR is also read from its respiration
output ("MTTS-CAN (resp)") and from the BR LSTM's denoised respiration of notebook 05
("MTTS-CAN (resp) + BR LSTM"): :func:`breathing_methods`, :func:`add_breathing`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from rppg_lib.baselines import METHODS, spatial_rgb_means, unsupervised_pulse
from rppg_lib.constants import BR_BAND, BR_SNR_BAND, BR_SNR_TOLERANCE_HZ, HR_WINDOW_S
from rppg_lib.evaluation_protocols import evaluate_windows
from rppg_lib.inverse_attention import CorruptionEstimates
from rppg_lib.metrics import bland_altman
from rppg_lib.progress import progress_bar
from rppg_lib.signals import integrate
from rppg_lib.stats import (
    N_RESAMPLES,
    cluster_bootstrap,
    paired_cluster_bootstrap,
    verdict_rows,
)
from rppg_lib.steps.lstm_denoising import (
    DENOISED_KEYS,
    LINEAR_KEYS,
    has_br_denoised,
    load_br_denoised,
)
from rppg_lib.steps.train_tscan import load_br_model, load_br_resp
from rppg_lib.validation import as_signal, check_choice, check_positive

__all__ = [
    "REFERENCES",
    "method_labels",
    "face_boxes",
    "face_rgb_means",
    "ClipSignals",
    "clip_signals",
    "collect_signals",
    "BR_LSTM_SUFFIX",
    "breathing_methods",
    "add_breathing",
    "MethodEvaluation",
    "evaluate_methods",
    "bland_altman_table",
    "METHOD_TABLE_COLUMNS",
    "method_table",
    "COMPARISON_METRICS",
    "compare_methods",
    "verdicts",
    "br_verdicts",
]

REFERENCES = ("series", "waveform")


def method_labels(network: str = "TS-CAN") -> dict[str, str]:
    """Method labels of the network, its LSTM, the ablation and the linear filter: keys
    "network", "rgb+pulse" (the LSTM with the corruption estimates), "pulse" (the pulse-only
    ablation) and the keys of :data:`~rppg_lib.steps.lstm_denoising.LINEAR_KEYS`
    ("linear_rgb_pulse", "linear_light_pulse")."""
    if not isinstance(network, str) or not network:
        raise ValueError(f"network must be a non-empty label, got {network!r}")
    return {
        "network": network,
        "rgb+pulse": f"{network} + LSTM (inverse attention)",
        "pulse": f"{network} + LSTM (pulse only)",
        **{key: f"{network} + linear ({source})" for key, source in LINEAR_KEYS.items()},
    }


# --- face region for the unsupervised baselines ------------------------------------------------


def face_boxes(crop_boxes: np.ndarray, box_scale: float, crop: str = "haar") -> np.ndarray:
    """The face boxes (T, 4) int (x, y, w, h) px behind preprocessing crop boxes (T, 4).

    The preprocessing enlarged each face box about its centre by ``box_scale`` (crop ``"haar"``
    or ``"box"``) so that background stays in view; this shrinks the crop boxes back: the same
    centre, sides round(w / box_scale), round(h / box_scale) (at least 1 px). Where the crop box
    was moved to fit inside the frame, its centre (and so the face box) is off by that shift.
    Other crop policies (``"center"``, ``"none"``) did not start from a face: their crop boxes
    are returned unchanged.
    """
    boxes = np.asarray(crop_boxes)
    if boxes.ndim != 2 or boxes.shape[1] != 4 or boxes.shape[0] == 0:
        raise ValueError(f"crop_boxes must have shape (T, 4), got {boxes.shape}")
    if not np.all(np.isfinite(boxes)):
        raise ValueError("crop_boxes holds non-finite values")
    if crop not in ("haar", "box"):
        return boxes.astype(np.int64)
    scale = check_positive(box_scale, "box_scale")
    x, y, w, h = (boxes[:, k].astype(np.float64) for k in range(4))
    new_w = np.maximum(1, np.round(w / scale))
    new_h = np.maximum(1, np.round(h / scale))
    x0 = np.floor(x + w / 2.0 - new_w / 2.0 + 0.5)
    y0 = np.floor(y + h / 2.0 - new_h / 2.0 + 0.5)
    return np.stack([x0, y0, new_w, new_h], axis=1).astype(np.int64)


def face_rgb_means(clip: Any, preprocessed: Any) -> np.ndarray:
    """Per-frame mean colour (T, 3), uint8 intensity units, of the face in the original frames.

    clip: a :class:`rppg_lib.datasets.Clip` (frames streamed with ``clip.iter_frames()``);
    preprocessed: its :class:`rppg_lib.preprocess.PreprocessedClip`, whose crop boxes are shrunk
    back to the face (:func:`face_boxes` with its config's ``box_scale`` and ``crop``). The input
    of GREEN, CHROM, POS and ICA (:func:`rppg_lib.baselines.spatial_rgb_means`).
    """
    config = dict(getattr(preprocessed, "config", {}) or {})
    boxes = face_boxes(
        preprocessed.boxes, config.get("box_scale", 1.0), config.get("crop", "none")
    )
    if boxes.shape[0] != clip.n_frames:
        raise ValueError(
            f"clip {clip.clip_id} has {clip.n_frames} frames but its preprocessing has "
            f"{boxes.shape[0]} crop boxes"
        )
    return spatial_rgb_means(clip.iter_frames(), boxes=boxes)


# --- 06: every method's signal of a clip, windowed evaluation, summary, claims -----------------


@dataclass
class ClipSignals:
    """Everything evaluated on one clip of T frames at ``fs`` Hz.

    pulse: {method: (T,) pulse signal} for HR; breathing: {method: (T,)} for BR (each method's
    signal before any band-pass). bvp: (T,) ground-truth pulse waveform; hr: (T,) ground-truth
    HR (bpm) per frame or None; resp: (T,) ground-truth respiration or None; br: (T,) ground-truth
    BR (breaths/min) per frame or None. Labels: clip_id, subject, scenario, split.
    """

    clip_id: str
    subject: str
    scenario: str
    split: str
    fs: float
    bvp: np.ndarray
    pulse: dict[str, np.ndarray]
    breathing: dict[str, np.ndarray] = field(default_factory=dict)
    hr: np.ndarray | None = None
    resp: np.ndarray | None = None
    br: np.ndarray | None = None


def clip_signals(
    clip: Any,
    preprocessed: Any,
    estimates: CorruptionEstimates,
    denoised: Mapping[str, np.ndarray] | None = None,
    *,
    split: str = "test",
    network: str = "TS-CAN",
    baselines: Sequence[str] = METHODS,
    resp_derivative: np.ndarray | None = None,
) -> ClipSignals:
    """Gather the signals of every method on one clip (see the module docstring for which).

    clip: the :class:`~rppg_lib.datasets.Clip` (ground truth; frames for the baselines);
    preprocessed: its PreprocessedClip (crop boxes); estimates: its CorruptionEstimates;
    denoised: {"rgb_pulse": (T,), "pulse": (T,)}
    (:func:`~rppg_lib.steps.lstm_denoising.load_denoised`; either may be absent) and the linear
    filter's {"linear_rgb_pulse": (T,), "linear_light_pulse": (T,)} (``linear_denoised``);
    baselines: any of GREEN, CHROM, POS, ICA (empty: no frames are read); resp_derivative: (T,)
    the respiration output of an MTTS-CAN, used for the network's BR instead of its pulse.
    """
    fs = float(estimates.fs)
    n = len(estimates.pulse_conditioned)
    if clip.n_frames != n:
        raise ValueError(f"clip {clip.clip_id} has {clip.n_frames} frames, its estimates {n}")
    labels = method_labels(network)
    pulse = {labels["network"]: np.asarray(estimates.pulse_conditioned, dtype=np.float64)}
    network_breathing = (
        integrate(as_signal(resp_derivative, "resp_derivative"))
        if resp_derivative is not None else np.asarray(estimates.pulse_raw, dtype=np.float64)
    )
    breathing = {labels["network"]: network_breathing}
    for key, signal in (denoised or {}).items():
        if key not in DENOISED_KEYS and key not in LINEAR_KEYS:
            raise ValueError(f"denoised key {key!r} is not one of "
                             f"{sorted(DENOISED_KEYS) + sorted(LINEAR_KEYS)}")
        label = labels[DENOISED_KEYS.get(key, key)]
        pulse[label] = breathing[label] = as_signal(signal, f"denoised[{key!r}]")
    methods = [check_choice(m.upper(), "baselines entry", METHODS) for m in baselines]
    if methods:
        rgb = face_rgb_means(clip, preprocessed)
        for method in methods:
            pulse[method] = breathing[method] = unsupervised_pulse(method, rgb, fs)
    for name, signal in {**pulse, **breathing}.items():
        if len(signal) != n:
            raise ValueError(f"clip {clip.clip_id}: the {name} signal has {len(signal)} "
                             f"samples for {n} frames")

    def at_frames(signal: Any) -> np.ndarray | None:
        return None if signal is None else clip.at_frames(signal)

    br_signal = clip.extra.get("br") if isinstance(clip.extra, dict) else None
    return ClipSignals(
        clip_id=clip.clip_id, subject=clip.subject, scenario=clip.task, split=split, fs=fs,
        bvp=clip.bvp_at_frames(), pulse=pulse, breathing=breathing, hr=at_frames(clip.hr),
        resp=at_frames(clip.resp), br=at_frames(br_signal),
    )


BR_LSTM_SUFFIX = " + BR LSTM"


def breathing_methods(
    run_dir: str | os.PathLike, clip_ids: Sequence[str]
) -> dict[str, dict[str, np.ndarray]]:
    """{clip_id: {label: (T,) breathing signal}} of the breathing network of notebook 02 (its
    integrated respiration output, e.g. "MTTS-CAN (resp)") and, where notebook 05 trained one,
    of its BR LSTM ("MTTS-CAN (resp) + BR LSTM"); {} when notebook 02 trained none."""
    resp = load_br_resp(run_dir)
    if resp is None:
        return {}
    label = load_br_model(run_dir)["label"]
    missing = [i for i in clip_ids if i not in resp]
    if missing:
        raise KeyError(f"clips {missing} have no respiration output of the breathing network")
    out = {}
    for clip_id in clip_ids:
        out[clip_id] = {label: integrate(resp[clip_id])}
        if has_br_denoised(run_dir, clip_id):
            out[clip_id][label + BR_LSTM_SUFFIX] = load_br_denoised(run_dir, clip_id)
    return out


def add_breathing(
    signals: Sequence[ClipSignals], extra: Mapping[str, Mapping[str, np.ndarray]]
) -> list[ClipSignals]:
    """``signals`` with the breathing signals of ``extra`` ({clip_id: {method: (T,)}}, e.g.
    :func:`breathing_methods`) added to each clip's ``breathing`` (BR only, no HR). A method
    that is already there or a signal of another length than the clip is a ValueError."""
    out = []
    for item in signals:
        added = dict(extra.get(item.clip_id, {}))
        clash = sorted(set(added) & set(item.breathing))
        if clash:
            raise ValueError(f"clip {item.clip_id} already has breathing methods {clash}")
        for name, signal in added.items():
            added[name] = as_signal(signal, f"extra[{item.clip_id!r}][{name!r}]")
            if len(added[name]) != len(item.bvp):
                raise ValueError(f"clip {item.clip_id}: the {name} signal has "
                                 f"{len(added[name])} samples for {len(item.bvp)} frames")
        out.append(dataclasses.replace(item, breathing={**item.breathing, **added}))
    return out


@dataclass
class MethodEvaluation:
    """Per-window rows of :func:`evaluate_methods`: ``hr`` (bpm) and ``br`` (breaths/min; the
    protocol's column names hr_estimate, hr_reference, abs_error are kept), each with columns
    clip_id, subject, scenario, split, method, then ``evaluation.evaluate_windows``'s."""

    hr: pd.DataFrame
    br: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)


def _labelled(table: pd.DataFrame, item: ClipSignals, method: str) -> pd.DataFrame:
    labels = {"clip_id": item.clip_id, "subject": item.subject, "scenario": item.scenario,
              "split": item.split, "method": method}
    for k, (name, value) in enumerate(labels.items()):
        table.insert(k, name, value)
    return table


def collect_signals(
    clips: Sequence[Any],
    preprocessed: Mapping[str, Any],
    estimates: Mapping[str, CorruptionEstimates],
    denoised: Mapping[str, Mapping[str, np.ndarray]] | None = None,
    *,
    split: str = "test",
    progress: bool = True,
    **kwargs: Any,
) -> list[ClipSignals]:
    """:func:`clip_signals` of every clip in ``clips`` (their order), from {clip_id: ...}
    mappings of preprocessed clips, estimates and denoised pulses (a clip missing from
    ``denoised`` has no LSTM methods); ``kwargs``: network, baselines."""
    out = []
    for clip in progress_bar(list(clips), desc="methods", unit="clip", disable=not progress):
        for name, mapping in (("preprocessed", preprocessed), ("estimates", estimates)):
            if clip.clip_id not in mapping:
                raise KeyError(f"clip {clip.clip_id} is not in {name}")
        out.append(clip_signals(
            clip, preprocessed[clip.clip_id], estimates[clip.clip_id],
            (denoised or {}).get(clip.clip_id), split=split, **kwargs,
        ))
    if not out:
        raise ValueError("clips is empty: no signals to collect")
    return out


def evaluate_methods(
    clips: Sequence[ClipSignals],
    *,
    window_s: float = HR_WINDOW_S,
    br_window_s: float = 30.0,
    snr_db: str = "power",
    reference: str = "series",
) -> MethodEvaluation:
    """Evaluate every method of every clip in non-overlapping windows (``print_result.m``
    protocol, :func:`rppg_lib.evaluation_protocols.evaluate_windows`).

    HR: windows of ``window_s`` s, pass band 0.7-2.5 Hz, SNR over 0.7-4 Hz (``snr_db``: "power"
    = 10·log10, "amplitude" = the release's 20·log10). BR: windows of ``br_window_s`` s, band
    0.08-0.5 Hz (:data:`rppg_lib.constants.BR_BAND`), SNR per its ``BR_SNR_BAND`` and
    ``BR_SNR_TOLERANCE_HZ``; skipped for clips without a respiration reference.
    reference: ``"series"`` = the window's median of the per-frame ground-truth rate (falls
    back to the waveform's spectral peak where a clip has no rate series) or
    ``"waveform"`` = always the spectral peak of the ground-truth waveform.
    """
    check_choice(reference, "reference", REFERENCES)
    window_s = check_positive(window_s, "window_s")
    br_window_s = check_positive(br_window_s, "br_window_s")
    clips = list(clips)
    if not clips:
        raise ValueError("clips is empty: nothing to evaluate")
    hr_rows, br_rows = [], []
    for item in clips:
        if not isinstance(item, ClipSignals):
            raise ValueError(f"clips must hold ClipSignals, got {type(item).__name__}")
        hr_series = item.hr if reference == "series" else None
        for method, signal in item.pulse.items():
            table = evaluate_windows(
                signal, item.fs, reference_waveform=item.bvp, window_s=window_s, snr_db=snr_db,
                reference_hr_series=hr_series,
                reference_hr_fs=item.fs if hr_series is not None else None,
            )
            hr_rows.append(_labelled(table, item, method))
        if item.resp is None:
            continue
        br_series = item.br if reference == "series" else None
        for method, signal in item.breathing.items():
            table = evaluate_windows(
                signal, item.fs, reference_waveform=item.resp, window_s=br_window_s,
                band=BR_BAND, snr_db=snr_db, snr_band=BR_SNR_BAND,
                snr_tolerance_hz=BR_SNR_TOLERANCE_HZ, reference_hr_series=br_series,
                reference_hr_fs=item.fs if br_series is not None else None,
            )
            br_rows.append(_labelled(table, item, method))
    columns = list(hr_rows[0].columns)
    hr = pd.concat(hr_rows, ignore_index=True)
    br = pd.concat(br_rows, ignore_index=True) if br_rows else pd.DataFrame(columns=columns)
    settings = {"window_s": window_s, "br_window_s": br_window_s, "reference": reference,
                "snr_convention": hr_rows[0].attrs.get("snr_convention")}
    hr.attrs.update(settings)
    br.attrs.update(settings)
    return MethodEvaluation(hr, br, settings)




def bland_altman_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Bland-Altman statistics of hr_estimate − hr_reference per method (bias, sd, 95 % limits
    of agreement lower/upper, n), in the rows' unit (bpm for HR rows)."""
    out = []
    for method, group in rows.groupby("method", sort=False):
        ok = group[np.isfinite(group["hr_estimate"]) & np.isfinite(group["hr_reference"])]
        if len(ok) < 2:
            continue
        ba = bland_altman(ok["hr_estimate"].to_numpy(float), ok["hr_reference"].to_numpy(float))
        out.append({"method": method, "bias": ba.bias, "sd": ba.sd, "lower": ba.lower,
                    "upper": ba.upper, "n": ba.n})
    if not out:
        raise ValueError("no method has two windows with an estimate and a reference")
    return pd.DataFrame(out)


# --- every comparison with its interval over subjects (rppg_lib.stats) -------------------------

METHOD_TABLE_COLUMNS = (
    "scenario", "method", "mae_bpm", "mae_ci_low", "mae_ci_high", "rmse_bpm", "rmse_ci_low",
    "rmse_ci_high", "r", "r_ci_low", "r_ci_high", "snr_db", "snr_ci_low", "snr_ci_high",
    "n_windows", "n_subjects",
)
# Metric label -> (per-window column, +1 where higher is better, -1 where lower is better).
COMPARISON_METRICS: dict[str, tuple[str, int]] = {
    "HR MAE reduction (bpm)": ("abs_error", -1),
    "SNR gain (dB)": ("snr_db", +1),
}
COMPARISON_METRICS_COLUMNS = tuple(column for column, _ in COMPARISON_METRICS.values())
_NEEDED = ("scenario", "method", "subject", "clip_id", "window", "hr_estimate", "hr_reference",
           "abs_error", "snr_db")


def _checked_rows(hr_rows: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(hr_rows, pd.DataFrame) or not set(_NEEDED) <= set(hr_rows.columns):
        raise ValueError(f"hr_rows must be evaluate_methods HR rows with columns {list(_NEEDED)}")
    if hr_rows.empty:
        raise ValueError("hr_rows is empty: nothing to compare")
    values = hr_rows[["hr_estimate", "hr_reference", "abs_error", "snr_db"]].to_numpy(float)
    return hr_rows[np.isfinite(values).all(axis=1)]


def method_table(
    hr_rows: pd.DataFrame, *, n_resamples: int = N_RESAMPLES, seed: int = 0
) -> pd.DataFrame:
    """Per scenario and method: HR MAE, RMSE (bpm), Pearson r and mean SNR (dB) of the windows
    with their 95 % intervals from a bootstrap over subjects (:mod:`rppg_lib.stats`; NaN with a
    single subject), n_windows and n_subjects. Columns :data:`METHOD_TABLE_COLUMNS`; windows
    without an estimate or a reference are left out."""
    rows = _checked_rows(hr_rows)
    out = []
    options = {"n_resamples": n_resamples, "seed": seed}
    for (scenario, method), g in rows.groupby(["scenario", "method"], sort=False):
        subjects = g["subject"].to_numpy()
        est, ref = g["hr_estimate"].to_numpy(float), g["hr_reference"].to_numpy(float)
        intervals = (
            cluster_bootstrap(g["abs_error"].to_numpy(float), subjects, "mean", **options),
            cluster_bootstrap(est - ref, subjects, "rmse", **options),
            cluster_bootstrap(np.c_[est, ref], subjects, "pearson", **options),
            cluster_bootstrap(g["snr_db"].to_numpy(float), subjects, "mean", **options),
        )
        numbers = [x for iv in intervals for x in (iv.estimate, iv.low, iv.high)]
        out.append(dict(zip(METHOD_TABLE_COLUMNS, (
            scenario, method, *numbers, len(g), int(g["subject"].nunique())), strict=True)))
    return pd.DataFrame(out, columns=list(METHOD_TABLE_COLUMNS))


def compare_methods(
    hr_rows: pd.DataFrame,
    method: str,
    versus: str,
    *,
    scenario: str,
    claim: str,
    statement: str,
    **options: Any,
) -> list[dict[str, Any]]:
    """Verdict rows (:func:`rppg_lib.stats.verdict_rows`) of "``method`` beats ``versus``" on
    the windows of ``scenario`` that both evaluated: per :data:`COMPARISON_METRICS` the paired
    improvement (MAE_versus − MAE_method, SNR_method − SNR_versus) with its 95 % interval over
    subjects, each row with the claim's verdict over both metrics. options: n_resamples, seed
    (of the bootstrap), min_subjects (of the verdict)."""
    rows = _checked_rows(hr_rows)
    rows = rows[rows["scenario"] == scenario]
    keys = ["clip_id", "window"]
    mine = rows[rows["method"] == method].set_index(keys)
    theirs = rows[rows["method"] == versus].set_index(keys)
    joined = mine.join(theirs[list(COMPARISON_METRICS_COLUMNS)].add_suffix("_versus"),
                       how="inner")
    if joined.empty:
        raise ValueError(f"no {scenario} windows shared by {method!r} and {versus!r} (have "
                         f"{sorted(set(rows['method']))})")
    min_subjects = options.pop("min_subjects", None)
    intervals = {}
    for label, (column, sign) in COMPARISON_METRICS.items():
        a, b = joined[column].to_numpy(float), joined[f"{column}_versus"].to_numpy(float)
        better, worse = (a, b) if sign > 0 else (b, a)
        intervals[label] = paired_cluster_bootstrap(better, worse, joined["subject"].to_numpy(),
                                                    "mean", **options)
    extra = {} if min_subjects is None else {"min_subjects": min_subjects}
    return verdict_rows(claim, statement, scenario, intervals, **extra)


def verdicts(
    hr_rows: pd.DataFrame,
    *,
    scenario: str = "illumination",
    network: str = "TS-CAN",
    **options: Any,
) -> pd.DataFrame:
    """The claims' verdict rows on the HR windows of ``scenario`` (one per claim and metric, each
    with the claim's verdict; keys :data:`rppg_lib.stats.VERDICT_COLUMNS`), for every comparison
    whose two methods are present:

    - "1": the LSTM with the inverse-attention estimates beats the network alone;
    - "2": it beats the pulse-only LSTM (the ablation);
    - "linear": the linear filter with the same estimates beats the network alone;
    - "lstm-vs-linear": the LSTM beats that linear filter (what it must beat);
    - "linear-oracle": the linear filter with the injected light beats the network alone.

    options: n_resamples, seed, min_subjects (:func:`compare_methods`).
    """
    labels = method_labels(network)
    lstm, linear = labels["rgb+pulse"], labels["linear_rgb_pulse"]
    comparisons = (
        ("1", lstm, labels["network"], f"{lstm} beats {network} alone"),
        ("2", lstm, labels["pulse"], f"{lstm} beats the pulse-only LSTM"),
        ("linear", linear, labels["network"], f"{linear} beats {network} alone"),
        ("lstm-vs-linear", lstm, linear, f"{lstm} beats {linear}"),
        ("linear-oracle", labels["linear_light_pulse"], labels["network"],
         f"{labels['linear_light_pulse']} beats {network} alone"),
    )
    return _compare_present(hr_rows, comparisons, scenario, options)


def _compare_present(
    rows: pd.DataFrame,
    comparisons: tuple[tuple[str, str, str, str], ...],
    scenario: str,
    options: dict[str, Any],
) -> pd.DataFrame:
    """:func:`compare_methods` for each (claim, method, versus, statement) whose two methods
    have windows of ``scenario``; ValueError when none has."""
    checked = _checked_rows(rows)
    present = set(checked.loc[checked["scenario"] == scenario, "method"])
    out = []
    for claim, method, versus, statement in comparisons:
        if method in present and versus in present:
            out += compare_methods(rows, method, versus, scenario=scenario, claim=claim,
                                   statement=statement, **dict(options))
    if not out:
        raise ValueError(f"no comparison has both methods among the {scenario} windows "
                         f"(have {sorted(present)})")
    return pd.DataFrame(out)


def br_verdicts(
    br_rows: pd.DataFrame,
    br_model: str,
    *,
    scenario: str = "illumination",
    network: str = "TS-CAN",
    **options: Any,
) -> pd.DataFrame:
    """Verdict rows of the breathing rate on the BR windows of ``scenario`` (the same paired
    bootstrap as :func:`verdicts`, metrics relabelled in breaths/min):

    - "br-network": ``br_model`` (the breathing network's respiration output, e.g.
      "MTTS-CAN (resp)") beats the BR read from ``network``'s pulse;
    - "br-lstm": the BR LSTM on its output beats it alone.

    Comparisons whose methods are missing are left out; ValueError when none is left.
    """
    lstm = br_model + BR_LSTM_SUFFIX
    comparisons = (
        ("br-network", br_model, network, f"{br_model} reads BR better than {network}'s pulse"),
        ("br-lstm", lstm, br_model, f"{lstm} beats {br_model} alone"),
    )
    table = _compare_present(br_rows, comparisons, scenario, options)
    table["metric"] = table["metric"].str.replace("HR MAE reduction (bpm)",
                                                  "BR MAE reduction (breaths/min)", regex=False)
    return table
