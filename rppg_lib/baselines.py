"""Classic unsupervised rPPG methods, for context beside the networks: GREEN, CHROM, POS, ICA.

Each method maps the per-frame spatial mean colour of the skin, ``rgb`` (T, 3) in any linear
intensity unit (RGB order), sampled at ``fs`` Hz, to a pulse signal (T,) in arbitrary units whose
polarity follows blood volume where the method fixes it. None needs training data. The pulse is
not band-passed beyond what the method itself prescribes: evaluation applies its own filter.

- GREEN (Verkruysse et al., 2008): the green channel, which carries the strongest pulse.
- CHROM (de Haan and Jeanne, 2013): two chrominance signals X = 3R − 2G, Y = 1.5R + G − 1.5B of
  the mean-normalised colours, band-passed, combined as X − (σX/σY)·Y in Hann-windowed overlap-add.
- POS (Wang et al., 2017): projection of the mean-normalised colours onto the plane orthogonal to
  the skin tone, S1 = G − B, S2 = G + B − 2R, combined as S1 + (σS1/σS2)·S2 per window of 1.6 s,
  overlap-added.
- ICA (Poh et al., 2010): FastICA on the z-scored traces; the component with the largest spectral
  peak inside the heart-rate band is the pulse.

:func:`pulse_colour_match` checks a rate found by any method against the colours: does the skin
change colour at that rate the way blood does (:data:`rppg_lib.constants.PULSE_RGB`), or the way
light does?
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from sklearn.decomposition import FastICA

from rppg_lib.constants import DETREND_LAMBDA_TOOLBOX, HR_BAND, PULSE_RGB
from rppg_lib.signals import bandpass, detrend, power_spectrum, zscore
from rppg_lib.validation import as_array, check_band, check_choice, check_fs, check_positive

__all__ = [
    "METHODS",
    "spatial_rgb_means",
    "green",
    "chrom",
    "pos",
    "ica",
    "unsupervised_pulse",
    "pulse_colour_match",
]

METHODS = ("GREEN", "CHROM", "POS", "ICA")
# A colour change whose chromatic part is below this fraction of it is a change of brightness.
_GREY_TOLERANCE = 1e-6


def spatial_rgb_means(
    frames: Iterable[np.ndarray],
    *,
    boxes: np.ndarray | None = None,
    masks: Iterable[np.ndarray] | None = None,
) -> np.ndarray:
    """Per-frame mean colour (T, 3) of a region of RGB frames, in the frames' intensity unit.

    frames: iterable of (H, W, 3) arrays. boxes: optional (T, 4) integer (x, y, w, h) regions;
    masks: optional iterable of (H, W) boolean masks (e.g. the synthetic skin mask). With neither,
    the whole frame is averaged. A region with no pixels raises ValueError naming the frame.
    """
    if boxes is not None and masks is not None:
        raise ValueError("give boxes or masks, not both")
    mask_iter = iter(masks) if masks is not None else None
    means = []
    for index, frame in enumerate(frames):
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"frame {index} has shape {frame.shape}; expected (H, W, 3)")
        if boxes is not None:
            if index >= len(boxes):
                raise ValueError(f"boxes has {len(boxes)} rows but frame {index} exists")
            x, y, w, h = (int(v) for v in boxes[index])
            region = frame[max(y, 0) : y + h, max(x, 0) : x + w].reshape(-1, 3)
        elif mask_iter is not None:
            mask = next(mask_iter, None)
            if mask is None:
                raise ValueError(f"masks ran out at frame {index}")
            region = frame[np.asarray(mask, dtype=bool)]
        else:
            region = frame.reshape(-1, 3)
        if region.shape[0] == 0:
            raise ValueError(f"the region of frame {index} contains no pixels")
        means.append(region.mean(axis=0, dtype=np.float64))
    if not means:
        raise ValueError("frames is empty")
    if boxes is not None and len(means) != len(boxes):
        raise ValueError(f"boxes has {len(boxes)} rows but there are {len(means)} frames")
    return np.stack(means)


def _check_rgb(rgb: np.ndarray, fs: float, min_seconds: float) -> tuple[np.ndarray, float]:
    arr = as_array(rgb, "rgb", ndim=(2,), min_length=2)
    if arr.shape[1] != 3:
        raise ValueError(f"rgb has shape {arr.shape}; expected (T, 3)")
    fs = check_fs(fs)
    needed = int(np.ceil(min_seconds * fs))
    if arr.shape[0] < needed:
        raise ValueError(
            f"rgb has {arr.shape[0]} samples ({arr.shape[0] / fs:.2f} s at {fs} Hz); "
            f"this method needs at least {min_seconds} s ({needed} samples)"
        )
    if np.any(arr.mean(axis=0) <= 0):
        raise ValueError("rgb has a channel whose mean is not positive; expected intensities")
    return arr, fs


def _window_length(window_s: float, fs: float) -> int:
    length = int(round(window_s * fs))
    if length < 2:
        raise ValueError(f"window_s={window_s} s is shorter than two samples at fs={fs} Hz")
    return length


def green(rgb: np.ndarray, fs: float) -> np.ndarray:
    """GREEN: the relative change of the green channel, sign-flipped so blood volume is positive.

    More blood absorbs more green light, so the pulse is ``1 − G / mean(G)``.
    """
    arr, _ = _check_rgb(rgb, fs, min_seconds=0.0)
    g = arr[:, 1]
    return 1.0 - g / g.mean()


def chrom(
    rgb: np.ndarray,
    fs: float,
    *,
    window_s: float = 1.6,
    band: tuple[float, float] = HR_BAND,
    order: int = 3,
) -> np.ndarray:
    """CHROM: chrominance pulse, Hann-windowed overlap-add of ``X − (σX/σY)·Y``.

    Windows of ``window_s`` seconds with half overlap; X and Y are band-passed over the whole
    signal first (Butterworth of ``order``, zero phase, ``band`` in Hz).
    """
    arr, fs = _check_rgb(rgb, fs, min_seconds=window_s)
    check_band(*band, fs)
    normalised = arr / arr.mean(axis=0)
    r, g, b = normalised.T
    x_filtered = bandpass(3.0 * r - 2.0 * g, fs, *band, order=order)
    y_filtered = bandpass(1.5 * r + g - 1.5 * b, fs, *band, order=order)
    length = _window_length(window_s, fs)
    length += length % 2  # even, so that half-overlapping Hann windows sum to a constant
    hop = length // 2
    hann = np.hanning(length)
    pulse = np.zeros(arr.shape[0])
    for start in range(0, arr.shape[0] - length + 1, hop):
        xs = x_filtered[start : start + length]
        ys = y_filtered[start : start + length]
        y_std = ys.std()
        alpha = xs.std() / y_std if y_std > 0 else 0.0
        segment = xs - alpha * ys
        pulse[start : start + length] += hann * (segment - segment.mean())
    return pulse


def pos(rgb: np.ndarray, fs: float, *, window_s: float = 1.6) -> np.ndarray:
    """POS: plane-orthogonal-to-skin pulse, overlap-added over sliding windows of ``window_s`` s.

    In each window the colours are divided by their window mean, projected with
    P = [[0, 1, −1], [−2, 1, 1]], combined as S1 + (σS1/σS2)·S2 and added, mean-free, to the
    output at a hop of one sample (as in the paper).
    """
    arr, fs = _check_rgb(rgb, fs, min_seconds=window_s)
    length = _window_length(window_s, fs)
    projection = np.array([[0.0, 1.0, -1.0], [-2.0, 1.0, 1.0]])
    pulse = np.zeros(arr.shape[0])
    for start in range(0, arr.shape[0] - length + 1):
        window = arr[start : start + length]
        projected = (window / window.mean(axis=0)) @ projection.T
        s1, s2 = projected[:, 0], projected[:, 1]
        s2_std = s2.std()
        h = s1 + (s1.std() / s2_std if s2_std > 0 else 0.0) * s2
        pulse[start : start + length] += h - h.mean()
    return pulse


def ica(
    rgb: np.ndarray,
    fs: float,
    *,
    band: tuple[float, float] = HR_BAND,
    detrend_lambda: float = DETREND_LAMBDA_TOOLBOX,
    seed: int = 0,
) -> np.ndarray:
    """ICA: the FastICA component of the detrended, z-scored traces with the strongest HR peak.

    The component is the one whose periodogram has the largest maximum inside ``band`` (Hz),
    relative to its total power. ICA leaves sign and scale undetermined: the returned component
    is z-scored and its sign chosen to correlate positively with GREEN.
    """
    arr, fs = _check_rgb(rgb, fs, min_seconds=0.0)
    low, high = check_band(*band, fs)
    traces = zscore(detrend(arr, detrend_lambda))
    sources = FastICA(
        n_components=3, whiten="unit-variance", random_state=seed, max_iter=1000, tol=1e-5
    ).fit_transform(traces)
    best, best_score = 0, -np.inf
    for index in range(sources.shape[1]):
        freqs, power = power_spectrum(sources[:, index], fs)
        in_band = (freqs >= low) & (freqs <= high)
        score = power[in_band].max() / power.sum()
        if score > best_score:
            best, best_score = index, score
    component = zscore(sources[:, best])
    if np.corrcoef(component, green(arr, fs))[0, 1] < 0:
        component = -component
    return component


def unsupervised_pulse(method: str, rgb: np.ndarray, fs: float, **kwargs) -> np.ndarray:
    """Run one of ``METHODS`` ('GREEN', 'CHROM', 'POS', 'ICA') on ``rgb`` (T, 3) at ``fs`` Hz."""
    method = check_choice(method.upper(), "method", METHODS)
    functions = {"GREEN": green, "CHROM": chrom, "POS": pos, "ICA": ica}
    return functions[method](rgb, fs, **kwargs)


def _chromatic(v: np.ndarray) -> np.ndarray:
    """``v`` (3,) without its grey part (the mean of its channels)."""
    return v - v.mean()


def pulse_colour_match(rgb: np.ndarray, fs: float, rate_bpm: float) -> float:
    """How much the colour change of ``rgb`` at ``rate_bpm`` looks like a blood-volume pulse.

    rgb: (T, 3) mean skin colour of one window (linear intensity), sampled at ``fs`` Hz. Each
    channel is divided by its mean, detrended and band-passed to :data:`HR_BAND`; the three
    channels' complex amplitude at ``rate_bpm`` (the rate a method found), turned to the phase of
    its projection on :data:`PULSE_RGB`, loses its grey part (a change of brightness). Returns the
    cosine (−1 to 1) between what is left and the grey-free :data:`PULSE_RGB`: near 1 when the
    skin changes colour at that rate the way blood makes it, near 0 or negative when the change is
    light's (flicker, tinted or not) or noise; NaN when the colour does not change at all.
    """
    arr, fs = _check_rgb(rgb, fs, min_seconds=0.0)
    rate_hz = check_positive(rate_bpm, "rate_bpm") / 60.0
    relative = arr / arr.mean(axis=0) - 1.0
    if not np.any(np.ptp(relative, axis=0) > 0):
        return float("nan")
    filtered = bandpass(detrend(relative), fs, *HR_BAND)
    t = np.arange(arr.shape[0]) / fs
    amplitude = (np.hanning(t.size) * np.exp(-2j * np.pi * rate_hz * t)) @ filtered  # (3,)
    pulse = np.asarray(PULSE_RGB)
    along = amplitude @ pulse
    if along == 0:
        return float("nan")
    colour = _chromatic(np.real(amplitude * np.exp(-1j * np.angle(along))))
    if np.linalg.norm(colour) <= _GREY_TOLERANCE * np.linalg.norm(amplitude):
        return 0.0  # a change of brightness alone: light, not blood
    reference = _chromatic(pulse)
    return float(colour @ reference / (np.linalg.norm(colour) * np.linalg.norm(reference)))
