"""Cutting signals into overlapping windows and joining windows back (the LSTM denoiser's I/O).

Indices and lengths are in samples. Signals are (T,) or (T, C); windows (N, L) or (N, L, C).
Nothing is dropped silently: what happens to a remainder tail is chosen by the caller.
"""

from __future__ import annotations

import numpy as np

from rppg_lib.validation import as_array, check_positive_int

__all__ = ["window_starts", "sliding_windows", "stitch_windows"]


def window_starts(
    n_samples: int, length: int, hop: int, *, tail: str = "pad", name: str = "length"
) -> np.ndarray:
    """Start indices of windows of ``length`` samples every ``hop`` samples over ``n_samples``.

    ``tail`` says what happens to samples after the last full window:
    "pad": one more window starting at the next hop (the caller pads it past the end);
    "shift": one more window ending exactly at the last sample (not on the hop grid);
    "drop": they are left out (the Benefit-of-Distraction release); "error": raise.
    """
    length = check_positive_int(length, name)
    hop = check_positive_int(hop, "hop")
    if length > n_samples:
        raise ValueError(f"{name} = {length} samples is longer than the signal ({n_samples})")
    starts = np.arange(0, n_samples - length + 1, hop)
    covered = int(starts[-1]) + length
    if covered < n_samples:
        if tail == "pad":
            starts = np.append(starts, starts[-1] + hop)
        elif tail == "shift":
            starts = np.append(starts, n_samples - length)
        elif tail == "error":
            raise ValueError(
                f"windows of {length} every {hop} samples leave the last {n_samples - covered} "
                f"of {n_samples} samples uncovered (choose tail='pad', 'shift' or 'drop')"
            )
        elif tail != "drop":
            raise ValueError(f"tail must be 'pad', 'shift', 'drop' or 'error', got {tail!r}")
    return starts


def sliding_windows(x: np.ndarray, length: int, hop: int, *, tail: str = "pad") -> np.ndarray:
    """Cut ``x`` (T,) or (T, C) into windows (N, length) or (N, length, C) every ``hop`` samples.

    Window k covers samples [k·hop, k·hop + length). When a remainder tail does not fill a
    window: ``tail="pad"`` (default) adds one last window zero-padded past the end, so every
    sample is in a window (``stitch_windows(..., length=T)`` cuts the padding off again);
    ``tail="drop"`` leaves those samples out (as the Benefit-of-Distraction release did:
    33 windows of 60 with hop 30 over 1031 samples cover 1020); ``tail="error"`` raises.
    The windows are a copy.
    """
    arr = as_array(x, "x", ndim=(1, 2), min_length=1)
    if tail not in ("pad", "drop", "error"):
        raise ValueError(f"tail must be 'pad', 'drop' or 'error', got {tail!r}")
    starts = window_starts(arr.shape[0], length, hop, tail=tail)
    need = int(starts[-1]) + length
    if need > arr.shape[0]:
        pad = np.zeros((need - arr.shape[0],) + arr.shape[1:])
        arr = np.concatenate([arr, pad], axis=0)
    # Views (T - length + 1, [C,] length) at every sample; keep the starts, as (N, length[, C]).
    views = np.lib.stride_tricks.sliding_window_view(arr, length, axis=0)[starts]
    return np.moveaxis(views, -1, 1).copy()


def stitch_windows(
    windows: np.ndarray, hop: int, length: int | None = None, mode: str = "average"
) -> np.ndarray:
    """Join windows (N, L) or (N, L, C) taken every ``hop`` samples back into one signal.

    mode "average": overlap-add, each sample the mean of the windows covering it. Output length
    (N−1)·hop + L, or ``length`` if given (shorter cuts the end, e.g. the padding added by
    ``sliding_windows``; longer is refused: those samples are in no window).
    mode "overwrite": windows written in order, each over the previous one where they overlap.
    mode "release": the Benefit-of-Distraction ``print_result.m``: into zeros of ``length``
    samples (required; the release used the ground truth's length), windows 0..N−2 written in
    order at k·hop, so each window's first ``L − hop`` samples are overwritten by the next one's
    and the last window is dropped; samples after (N−2)·hop + L stay zero.
    """
    w = as_array(windows, "windows", ndim=(2, 3), min_length=1)
    hop = check_positive_int(hop, "hop")
    if mode not in ("average", "overwrite", "release"):
        raise ValueError(f"mode must be 'average', 'overwrite' or 'release', got {mode!r}")
    n, win = w.shape[0], w.shape[1]
    if mode == "release":
        if length is None:
            raise ValueError("mode='release' needs length (the release used the reference's)")
        if n < 2:
            raise ValueError(f"mode='release' drops the last window, so it needs >= 2, got {n}")
        n -= 1
    natural = (n - 1) * hop + win
    out_len = natural if length is None else check_positive_int(length, "length")
    if mode != "release" and out_len > natural:
        raise ValueError(
            f"length = {out_len} is longer than the {natural} samples that {n} windows of {win} "
            f"with hop {hop} cover"
        )
    if mode == "release" and out_len < natural:
        raise ValueError(f"length = {out_len} is shorter than the {natural} samples written")
    out = np.zeros((max(out_len, natural),) + w.shape[2:])
    if mode == "average":
        counts = np.zeros(out.shape[0])
        for k in range(n):
            out[k * hop : k * hop + win] += w[k]
            counts[k * hop : k * hop + win] += 1
        out /= counts.reshape((-1,) + (1,) * (out.ndim - 1))
    else:
        for k in range(n):
            out[k * hop : k * hop + win] = w[k]
    return out[:out_len]
