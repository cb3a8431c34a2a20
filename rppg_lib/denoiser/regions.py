"""Which region carries the corruption? Inverse-attention vs attention-region estimates against
the corruption actually injected (the synthetic check of the paper's premise)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from rppg_lib import metrics
from rppg_lib.constants import DETREND_LAMBDA, HR_BAND
from rppg_lib.inverse_attention import (
    CHANNELS,
    condition_signal,
    inverse_masks,
    masked_channel_means,
    normalize_masks,
)
from rppg_lib.validation import as_array, as_signal, check_same_length

__all__ = ["RegionMeans", "region_means", "corruption_correlation", "region_correlations"]


class RegionMeans(NamedTuple):
    """Per-frame RGB means (T, 3), intensity in [0, 1], of the region the network ignored
    (``inverse``: the corruption estimate) and of the region it attended to (``attention``:
    weighted by the normalised attention mask, mostly skin)."""

    inverse: np.ndarray
    attention: np.ndarray


def region_means(
    masks: np.ndarray,
    frames_on_mask_grid: np.ndarray,
    *,
    kind: str = "binary",
    threshold: float | None = None,
    mode: str = "all_pixels",
) -> RegionMeans:
    """Both region estimates of a clip from attention masks (T, H, W[, 1]) and frames on the
    mask grid (T, H, W, 3) in [0, 1]: ``inverse`` weighted by ``inverse_masks(masks, kind,
    threshold)``, ``attention`` by ``normalize_masks(masks)`` (A', the attention itself), both
    by ``masked_channel_means`` with ``mode``."""
    inverse = masked_channel_means(
        frames_on_mask_grid, inverse_masks(masks, kind=kind, threshold=threshold), mode=mode
    )
    attention = masked_channel_means(frames_on_mask_grid, normalize_masks(masks), mode=mode)
    return RegionMeans(inverse, attention)


def corruption_correlation(
    estimate: np.ndarray,
    injected: np.ndarray,
    fs: float,
    *,
    band: tuple[float, float] = HR_BAND,
    lam: float = DETREND_LAMBDA,
    order: int = 1,
) -> float:
    """|Pearson r| between a raw corruption estimate (T,) and the corruption actually injected
    (T,), e.g. a synthetic clip's illumination gain of the same channel, both sampled at ``fs``
    Hz and conditioned alike (``condition_signal``: detrend ``lam``, z-score, band-pass ``band``
    Hz of ``order``): how much of the corruption in the band the LSTM sees the estimate carries.
    In [0, 1]; the sign is dropped (a gain and a mean intensity may move either way)."""
    est = as_signal(estimate, "estimate", min_length=3)
    inj = as_signal(injected, "injected", min_length=3)
    check_same_length(est, inj, "estimate", "injected")
    a = condition_signal(est, fs, lam=lam, band=band, order=order, name="estimate")
    b = condition_signal(inj, fs, lam=lam, band=band, order=order, name="injected")
    return abs(metrics.pearson(a, b).value)


def region_correlations(
    masks: np.ndarray,
    frames_on_mask_grid: np.ndarray,
    injected: np.ndarray,
    fs: float,
    *,
    band: tuple[float, float] = HR_BAND,
    kind: str = "binary",
    threshold: float | None = None,
    mode: str = "all_pixels",
    lam: float = DETREND_LAMBDA,
    order: int = 1,
) -> pd.DataFrame:
    """Per colour channel, :func:`corruption_correlation` of the injected corruption ``injected``
    (T, 3) R, G, B (e.g. ``SyntheticClip.illumination``) with the inverse-attention estimate and
    with the attention-region estimate (:func:`region_means`). The inverse region should track
    the corruption more closely: the attended skin also carries the pulse. Returns a DataFrame
    with columns channel, r_inverse, r_attention."""
    inj = as_array(injected, "injected", ndim=2)
    if inj.shape[1] != 3:
        raise ValueError(f"injected must be (T, 3) R, G, B, got shape {inj.shape}")
    means = region_means(masks, frames_on_mask_grid, kind=kind, threshold=threshold, mode=mode)
    check_same_length(means.inverse, inj, "masks", "injected")
    rows = []
    for c, channel in enumerate(CHANNELS):
        r = {
            region: corruption_correlation(
                getattr(means, region)[:, c], inj[:, c], fs, band=band, lam=lam, order=order
            )
            for region in ("inverse", "attention")
        }
        rows.append({"channel": channel, "r_inverse": r["inverse"], "r_attention": r["attention"]})
    return pd.DataFrame(rows)
