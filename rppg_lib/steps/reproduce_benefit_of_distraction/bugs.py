"""The release's bugs, each measured: the number the release's behaviour gives and the
number the fix gives, on the same input.

Every ``*_effect`` function changes one thing relative to the release and returns
:class:`BugEffect` rows; :func:`bug_table` stacks them. The inputs are arrays (or
:class:`.parity.ProtocolInputs`), so each also runs on synthetic data.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import scipy.signal
from torch import nn

from rppg_lib.constants import DETREND_LAMBDA, HR_BAND, HR_WINDOW_S, RELEASE_WINDOW_S
from rppg_lib.denoiser import denoise_windows
from rppg_lib.inverse_attention import CHANNELS, condition_signal
from rppg_lib.metrics import pearson
from rppg_lib.signals import butter_bandpass, peak_frequency
from rppg_lib.steps.reproduce_benefit_of_distraction.parity import (
    ProtocolInputs,
    protocol_table,
    protocol_windows,
    single_thread,
)
from rppg_lib.steps.reproduce_benefit_of_distraction.sample import RELEASE_FS, VIDEO_FPS
from rppg_lib.training import ChunkDataset, build_model, preset, train
from rppg_lib.validation import (
    as_array,
    as_signal,
    check_fs,
    check_positive,
    check_positive_int,
)
from rppg_lib.windows import stitch_windows

__all__ = [
    "BUG_CATALOGUE",
    "BugEffect",
    "bug_catalogue",
    "bug_table",
    "release_corrcoef",
    "effective_band",
    "snr_convention_effect",
    "correlation_effect",
    "stitching_effect",
    "sampling_rate_effect",
    "zero_padding_effect",
    "blue_channel_effect",
    "zero_target_effect",
    "zero_input_effect",
]

# bug id -> (release file, what it does, what this suite does)
BUG_CATALOGUE: dict[str, tuple[str, str, str]] = {
    "snr_20log10": (
        "print_result.m", "SNR with mag2db (20·log10) of a power ratio: every dB figure doubled",
        "10·log10 (snr_db='power'); snr_db='amplitude' reproduces the release",
    ),
    "corrcoef_1": (
        "print_result.m", "prints corrcoef(...)(1), the (1,1) element: always 1",
        "metrics.pearson: the (1,2) element; undefined (NaN) below 3 windows",
    ),
    "stitching": (
        "print_result.m", "each LSTM window overwrites the previous one's second half; the last "
        "window is dropped and the tail left at zero",
        "overlap-add averaging (stitch_windows mode='average')",
    ),
    "fs_30": (
        "get_noise_estimates.m", "fs = 30 Hz hard-coded for a 25 fps video: the filters' band "
        "moves by 25/30", "fs is a required argument (the clip's frame rate)",
    ),
    "zero_padding": (
        "get_noise_estimates.m", "pads the estimates with zeros when there are fewer frames "
        "than network outputs", "a frame-count mismatch is a ValueError",
    ),
    "blue_unassigned": (
        "get_noise_estimates.m", "the blue branch saves variables it never assigned",
        "R, G and B are computed together",
    ),
    "zero_targets": (
        "get_HR/Training/denoising_LSTM_train_model.py", "targets never filled: the LSTM is "
        "trained on zeros (and only the last file's windows are kept)",
        "train_denoiser uses every clip's windows with their ground-truth targets",
    ),
    "zero_inputs": (
        "get_HR/denoising_LSTM_load_model.py", "feeds zeros to the loaded model",
        "denoise() feeds the real [n_R, n_G, n_B, pulse] windows",
    ),
}


@dataclass(frozen=True)
class BugEffect:
    """One measured consequence of a bug: ``quantity`` (in ``unit``) with the release's
    behaviour (``release``) and with the fix (``fixed``); NaN where a side has no value (say why
    in ``note``)."""

    bug: str
    quantity: str
    release: float
    fixed: float
    unit: str
    note: str = ""


def bug_catalogue() -> pd.DataFrame:
    """:data:`BUG_CATALOGUE` as a table: bug, release_file, release_behaviour, fix."""
    rows = [(bug, *entry) for bug, entry in BUG_CATALOGUE.items()]
    return pd.DataFrame(rows, columns=["bug", "release_file", "release_behaviour", "fix"])


def bug_table(*effects: BugEffect | Iterable[BugEffect]) -> pd.DataFrame:
    """Stack BugEffects (single ones or lists) into a table with columns bug, quantity,
    release, fixed, unit, note."""
    rows: list[BugEffect] = []
    for item in effects:
        items = [item] if isinstance(item, BugEffect) else list(item)
        for effect in items:
            if not isinstance(effect, BugEffect):
                raise ValueError(f"effects must be BugEffects, got {type(effect).__name__}")
            rows.append(effect)
    if not rows:
        raise ValueError("no effects given: nothing to tabulate")
    return pd.DataFrame([asdict(e) for e in rows])


# --- print_result.m ------------------------------------------------------------------------


def release_corrcoef(estimate: np.ndarray, reference: np.ndarray) -> float:
    """What the release printed as the correlation: element (1, 1) of MATLAB's
    ``corrcoef(estimate, reference)``, the correlation of ``estimate`` with itself, which is
    1 for any non-constant input of n >= 2 values. (The Pearson r is element (1, 2):
    :func:`rppg_lib.metrics.pearson`.)"""
    est = as_signal(estimate, "estimate")
    ref = as_signal(reference, "reference")
    if est.size != ref.size:
        raise ValueError(f"estimate has {est.size} values, reference {ref.size}")
    if np.all(est == est[0]):
        raise ValueError("estimate is constant: even its correlation with itself is undefined")
    return float(np.corrcoef(est, ref)[0, 0])


def _pearson_or_nan(estimate: np.ndarray, reference: np.ndarray) -> float:
    try:
        return pearson(estimate, reference).value
    except ValueError:  # fewer than 3 values or a constant input: r undefined
        return math.nan


def snr_convention_effect(inputs: ProtocolInputs) -> list[BugEffect]:
    """SNR of each signal with the release's 20·log10 (release) and 10·log10 (fixed), everything
    else as released (release stitching): the fixed value is exactly half."""
    amplitude = protocol_table(inputs, stitching="release", snr_db="amplitude")
    power = protocol_table(inputs, stitching="release", snr_db="power").set_index("signal")
    return [
        BugEffect("snr_20log10", f"SNR, {row.signal}", float(row.snr_db),
                  float(power.loc[row.signal, "snr_db"]), "dB")
        for row in amplitude.itertuples()
    ]


def correlation_effect(inputs: ProtocolInputs, *, window_s: float = HR_WINDOW_S) -> list[BugEffect]:
    """The HR correlation over windows of ``window_s`` seconds (the 30 s protocol gives a single
    window on a short clip, where r is undefined either way): the release's (1,1) element
    against the real Pearson r (NaN if fewer than 3 windows or a constant HR series), per signal,
    everything else as released."""
    rows = protocol_windows(inputs, stitching="release", snr_db="amplitude", window_s=window_s)
    grid = 60.0 * inputs.fs / (4 * round(window_s * inputs.fs))  # bpm per periodogram bin
    effects = []
    for signal, group in rows.groupby("signal", sort=False):
        est, ref = group["hr_estimate"].to_numpy(), group["hr_reference"].to_numpy()
        try:
            released = release_corrcoef(est, ref) if est.size >= 2 else math.nan
        except ValueError:
            released = math.nan
        effects.append(BugEffect(
            "corrcoef_1", f"HR correlation over {est.size} windows of {window_s:g} s, {signal}",
            released, _pearson_or_nan(est, ref), "r",
            note=f"window HRs lie on a {grid:g} bpm grid (nfft = 4 × window)",
        ))
    return effects


def stitching_effect(inputs: ProtocolInputs, *, snr_db: str = "amplitude") -> list[BugEffect]:
    """Release stitching (overwrite, last window dropped, zero tail) against overlap-add, per
    signal: HR, SNR (in ``snr_db``, the release's 20·log10 by default so that only the stitching
    changes) and WMAE, plus how many samples of the ground truth hold LSTM output (all signals
    are windowed alike; the first one's shape is used)."""
    release = protocol_table(inputs, stitching="release", snr_db=snr_db)
    fixed = protocol_table(inputs, stitching="average", snr_db=snr_db).set_index("signal")
    unit_snr = "dB (20·log10)" if snr_db == "amplitude" else "dB (10·log10)"
    effects = []
    for row in release.itertuples():
        for column, label, unit in (("hr_estimate", "HR", "bpm"), ("snr_db", "SNR", unit_snr),
                                    ("wmae", "WMAE", "normalised")):
            effects.append(BugEffect("stitching", f"{label}, {row.signal}",
                                     float(getattr(row, column)),
                                     float(fixed.loc[row.signal, column]), unit))
    windows = next(iter(inputs.signals.values()))
    n, length = np.shape(windows)[:2]
    effects.append(BugEffect(
        "stitching", f"samples holding LSTM output (of {np.size(inputs.gt_waveform)})",
        float((n - 2) * inputs.hop + length), float((n - 1) * inputs.hop + length), "samples",
        note="the rest is zeros (release) or not evaluated (fixed)",
    ))
    return effects


# --- get_noise_estimates.m -----------------------------------------------------------------


def effective_band(
    band: tuple[float, float] = HR_BAND, *, assumed_fs: float = RELEASE_FS,
    true_fs: float = VIDEO_FPS,
) -> tuple[float, float]:
    """The pass band (Hz) a filter designed for ``band`` at ``assumed_fs`` has on data sampled
    at ``true_fs``: the edges scale by true_fs / assumed_fs ([0.7, 2.5] Hz designed at 30 Hz
    passes [0.583, 2.083] Hz of a 25 fps video)."""
    scale = check_fs(true_fs, "true_fs") / check_fs(assumed_fs, "assumed_fs")
    return band[0] * scale, band[1] * scale


def _zero_phase_gain(fs_design: float, band: tuple[float, float], f_hz: float,
                     true_fs: float) -> float:
    """|H|² of the order-1 Butterworth band-pass designed at ``fs_design``, at ``f_hz`` on data
    sampled at ``true_fs`` (squared: filtfilt applies the filter twice)."""
    b, a = butter_bandpass(fs_design, band[0], band[1], order=1)
    _, h = scipy.signal.freqz(b, a, worN=[f_hz], fs=true_fs)
    return float(np.abs(h[0]) ** 2)


def sampling_rate_effect(
    raw_means: np.ndarray,
    pulse: np.ndarray,
    *,
    true_fs: float = VIDEO_FPS,
    assumed_fs: float = RELEASE_FS,
    band: tuple[float, float] = HR_BAND,
    lam: float = DETREND_LAMBDA,
    hr_bpm: float | None = None,
    hr_window_s: float = RELEASE_WINDOW_S,
    saved_conditioned: np.ndarray | None = None,
    saved_pulse: np.ndarray | None = None,
) -> list[BugEffect]:
    """The release's conditioning at ``assumed_fs`` (release) against the clip's ``true_fs``
    (fixed), on raw_means (T, C) corruption estimates and the integrated pulse (T',).

    Rows: the pass band's edges on the real time axis (Hz); the zero-phase gain at ``hr_bpm``
    (when given); the correlation of the conditioned pulse with its correctly filtered version
    (the pulse carries no padding, so this isolates the rate); the HR (bpm) of the conditioned
    pulse's first ``hr_window_s`` seconds (spectral peak) read with each rate, i.e. as if the
    assumed rate were the time axis; and, when ``saved_conditioned`` (T, C) / ``saved_pulse``
    (T',) are given (the release's own saved outputs), the max |Δ| of each chain to them.
    """
    true_fs = check_fs(true_fs, "true_fs")
    assumed_fs = check_fs(assumed_fs, "assumed_fs")
    means = as_array(raw_means, "raw_means", ndim=2)
    p = as_signal(pulse, "pulse")
    chains = {}
    for key, fs in (("release", assumed_fs), ("fixed", true_fs)):
        chains[key] = (condition_signal(means, fs, lam=lam, band=band, name="raw_means"),
                       condition_signal(p, fs, lam=lam, band=band, name="pulse"))
    low, high = effective_band(band, assumed_fs=assumed_fs, true_fs=true_fs)
    effects = [
        BugEffect("fs_30", "pass band, low edge", low, band[0], "Hz"),
        BugEffect("fs_30", "pass band, high edge", high, band[1], "Hz"),
    ]
    if hr_bpm is not None:
        f0 = check_positive(hr_bpm, "hr_bpm") / 60.0
        effects.append(BugEffect(
            "fs_30", f"zero-phase gain at the true HR ({hr_bpm:.1f} bpm)",
            _zero_phase_gain(assumed_fs, band, f0, true_fs),
            _zero_phase_gain(true_fs, band, f0, true_fs), "|H|²"))
    fixed_p, rel_p = chains["fixed"][1], chains["release"][1]
    effects.append(BugEffect("fs_30", "r(conditioned pulse, correctly filtered pulse)",
                             float(np.corrcoef(rel_p, fixed_p)[0, 1]), 1.0, "r"))
    effects.append(_read_hr_effect(fixed_p, hr_window_s, true_fs, assumed_fs, band))
    saved = {"estimates": saved_conditioned, "pulse": saved_pulse}
    return effects + _saved_output_effects(chains, saved)


def _read_hr_effect(
    fixed_pulse: np.ndarray,
    hr_window_s: float,
    true_fs: float,
    assumed_fs: float,
    band: tuple[float, float],
) -> BugEffect:
    """The HR (bpm) of the correctly conditioned pulse's first ``hr_window_s`` seconds read at
    ``assumed_fs`` against ``true_fs``; ValueError when the pulse is shorter."""
    n = int(round(check_positive(hr_window_s, "hr_window_s") * true_fs))
    if n > fixed_pulse.size:
        raise ValueError(f"hr_window_s = {hr_window_s:g} s is longer than the pulse "
                         f"({fixed_pulse.size / true_fs:g} s at {true_fs:g} Hz)")
    seg = fixed_pulse[:n]
    return BugEffect(
        "fs_30", f"HR of the conditioned pulse, first {hr_window_s:g} s",
        60.0 * peak_frequency(seg, assumed_fs, band[0], band[1], nfft=4 * n),
        60.0 * peak_frequency(seg, true_fs, band[0], band[1], nfft=4 * n), "bpm",
        note="if the assumed rate were taken as the time axis",
    )


def _saved_output_effects(
    chains: dict[str, tuple[np.ndarray, np.ndarray]], saved: dict[str, np.ndarray | None]
) -> list[BugEffect]:
    """Per saved release output given ("estimates" (T, C), "pulse" (T',)): the max |Δ| of the
    release and the fixed chain's (estimates, pulse) to it."""
    effects = []
    for index, (name, output) in enumerate(saved.items()):
        if output is None:
            continue
        ref = as_array(output, f"saved_{name}", ndim=(1, 2))
        rel, fix = chains["release"][index], chains["fixed"][index]
        if ref.shape != rel.shape:
            raise ValueError(f"saved_{name} has shape {ref.shape}, expected {rel.shape}")
        effects.append(BugEffect(
            "fs_30", f"max |Δ| to the release's saved conditioned {name}",
            float(np.abs(rel - ref).max()), float(np.abs(fix - ref).max()), "z-score",
            note="the sample's own saved signals were made at the true rate",
        ))
    return effects


def zero_padding_effect(
    recorded_means: np.ndarray, n_padded: int, fs: float, *,
    lam: float = DETREND_LAMBDA, band: tuple[float, float] = HR_BAND,
) -> list[BugEffect]:
    """The release's zero padding of (T, C) estimates by ``n_padded`` frames (release) against
    the recorded frames alone (fixed), both conditioned at ``fs`` Hz.

    Rows: max |z| over everything (the spike at the join), the median |z| over the recorded
    frames (the spike takes the z-score's variance, shrinking the real signal), and the number
    of samples that carry no measurement.
    """
    means = as_array(recorded_means, "recorded_means", ndim=2)
    n_padded = check_positive_int(n_padded, "n_padded")
    padded = np.vstack([means, np.zeros((n_padded, means.shape[1]))])
    release = condition_signal(padded, fs, lam=lam, band=band, name="padded estimates")
    fixed = condition_signal(means, fs, lam=lam, band=band, name="recorded_means")
    recorded = slice(0, means.shape[0])
    peak = int(np.abs(release).max(axis=1).argmax())
    return [
        BugEffect("zero_padding", "max |z| of the conditioned estimates",
                  float(np.abs(release).max()), float(np.abs(fixed).max()), "z-score",
                  note=f"the release's peak is at sample {peak} of {padded.shape[0]}; the "
                  f"padding starts at {means.shape[0]}"),
        BugEffect("zero_padding", "median |z| over the recorded frames",
                  float(np.median(np.abs(release[recorded]))), float(np.median(np.abs(fixed))),
                  "z-score"),
        BugEffect("zero_padding", "samples without a measurement", float(n_padded), 0.0,
                  "samples"),
    ]


def blue_channel_effect(conditioned: np.ndarray) -> list[BugEffect]:
    """The release's blue branch produced nothing usable; here all three channels exist.

    conditioned: (T, 3) conditioned R, G, B estimates. Rows: channels available, and the
    correlation of blue with red and with green (how much the third channel adds)."""
    est = as_array(conditioned, "conditioned", ndim=2)
    if est.shape[1] != 3:
        raise ValueError(f"conditioned must be (T, 3) R, G, B, got shape {est.shape}")
    effects = [BugEffect("blue_unassigned", "colour channels with an estimate", 2.0, 3.0,
                         "channels")]
    for c in (0, 1):
        effects.append(BugEffect(
            "blue_unassigned", f"r(blue, {CHANNELS[c]})", math.nan,
            float(np.corrcoef(est[:, 2], est[:, c])[0, 1]), "r", note="no blue in the release"))
    return effects


# --- the LSTM scripts ----------------------------------------------------------------------


def _stitched_stats(windows: np.ndarray, gt: np.ndarray, hop: int) -> tuple[float, float, float]:
    stitched = stitch_windows(windows, hop, mode="average")
    r = math.nan
    if np.ptp(stitched) > 0:
        r = float(np.corrcoef(stitched, gt[: stitched.size])[0, 1])
    return float(np.std(stitched)), float(np.abs(windows).max()), r


def zero_target_effect(
    input_windows: np.ndarray,
    gt_waveform: np.ndarray,
    trained_windows: np.ndarray,
    *,
    hop: int = 30,
    hidden_size: int = 16,
    epochs: int = 100,
    lr: float = 1e-2,
    seed: int = 0,
) -> list[BugEffect]:
    """A small LSTM denoiser trained as the release's training script did, on zero targets
    (release), against a model trained on real targets (fixed: ``trained_windows``, its output
    for the same windows, e.g. the released weights').

    input_windows: (N, L, 4) windows; gt_waveform: the ground truth on their 30 Hz grid. The
    zero-target model (hidden_size units, Adam ``lr``, full-batch epochs, seeded, CPU) learns to
    output ~0 whatever the input. Rows: std of the stitched output, max |output|, r with the
    ground truth.
    """
    x = as_array(input_windows, "input_windows", ndim=3).astype(np.float32)
    gt = as_signal(gt_waveform, "gt_waveform")
    fixed = as_array(trained_windows, "trained_windows", ndim=2)
    if fixed.shape != x.shape[:2]:
        raise ValueError(f"trained_windows has shape {fixed.shape}, expected {x.shape[:2]}")
    n, length, channels = x.shape
    config = preset(
        "lstm", model_kwargs={"hidden_size": check_positive_int(hidden_size, "hidden_size"),
                              "input_size": channels, "window": length},
        chunk_length=length, chunk_hop=length, batch_size=n,
        epochs=check_positive_int(epochs, "epochs"), lr=check_positive(lr, "lr"), seed=seed,
        device="cpu", progress=False,
    )
    dataset = ChunkDataset([(w, np.zeros(length, np.float32)) for w in x], length,
                           collate="stack")
    with single_thread():
        model = train(build_model(config), dataset, config).model
        released = denoise_windows(model, x)
    rel_std, rel_max, rel_r = _stitched_stats(released, gt, hop)
    fix_std, fix_max, fix_r = _stitched_stats(fixed, gt, hop)
    note = f"{hidden_size}-unit LSTM, {epochs} full-batch epochs on zero targets"
    return [
        BugEffect("zero_targets", "std of the stitched output", rel_std, fix_std, "normalised",
                  note=note),
        BugEffect("zero_targets", "max |output|", rel_max, fix_max, "normalised"),
        BugEffect("zero_targets", "r(stitched output, ground truth)", rel_r, fix_r, "r"),
    ]


def zero_input_effect(
    model: nn.Module, input_windows: np.ndarray, gt_waveform: np.ndarray, *, hop: int = 30
) -> list[BugEffect]:
    """The release's loading script fed zeros to the model (release) instead of the input
    windows (N, L, C) (fixed). Rows: the largest spread of the output across windows (0: every
    window gets the same output) and the stitched output's r with the ground truth."""
    x = as_array(input_windows, "input_windows", ndim=3).astype(np.float32)
    gt = as_signal(gt_waveform, "gt_waveform")
    with single_thread():
        outputs = {"release": denoise_windows(model, np.zeros_like(x)),
                   "fixed": denoise_windows(model, x)}
    spread = {k: float(np.ptp(v, axis=0).max()) for k, v in outputs.items()}
    corr = {k: _stitched_stats(v, gt, hop)[2] for k, v in outputs.items()}
    return [
        BugEffect("zero_inputs", "largest spread of the output across windows",
                  spread["release"], spread["fixed"], "normalised",
                  note="~0 (float rounding): the same output for every window"),
        BugEffect("zero_inputs", "r(stitched output, ground truth)", corr["release"],
                  corr["fixed"], "r"),
    ]

