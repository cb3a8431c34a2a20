"""Down-scaling a crop to the network grid (S×S) and to the attention-mask grid (M×M).

Two interpolations:

- ``"area"``: OpenCV's ``INTER_AREA`` (pixel-area averaging), the TS-CAN / rPPG-Toolbox choice.
- ``"bicubic"``: MATLAB ``imresize`` with its default ``'bicubic'`` method and antialiasing, which
  the Benefit-of-Distraction noise script used to bring frames onto the 34×34 mask grid. OpenCV's
  ``INTER_CUBIC`` does not widen its kernel when shrinking (it aliases), so the MATLAB filter is
  built here as two small weight matrices: Keys' cubic (a = −0.5); when shrinking by a factor
  s < 1 the kernel is stretched to h(x) = s·cubic(s·x) (support 4/s input pixels); output pixel i
  (1-based) is centred on input coordinate u = i/s + (1 − 1/s)/2; each row of weights is
  normalised to sum 1; taps that fall outside the image are mirrored
  (…, 2, 1, 1, 2, …, N, N, N−1, …).

Both take float images (H, W, C) and return float32 (size, size, C); they are linear, so they
commute with the scaling to [0, 1].
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from rppg_lib.validation import check_choice, check_positive_int

__all__ = ["INTERPOLATIONS", "resize", "matlab_bicubic_weights"]

INTERPOLATIONS = ("area", "bicubic")


def _keys_cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = −0.5 (MATLAB's ``cubic``)."""
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    inner = 1.5 * ax3 - 2.5 * ax2 + 1.0
    outer = -0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0
    return np.where(ax <= 1.0, inner, np.where(ax <= 2.0, outer, 0.0))


@functools.lru_cache(maxsize=64)
def matlab_bicubic_weights(in_len: int, out_len: int) -> np.ndarray:
    """(out_len, in_len) float32 matrix W with ``out = W @ x`` equal to MATLAB
    ``imresize(x, [out_len, 1], 'bicubic')`` (antialiasing on) along one axis."""
    in_len = check_positive_int(in_len, "in_len")
    out_len = check_positive_int(out_len, "out_len")
    scale = out_len / in_len
    if scale < 1.0:
        width = 4.0 / scale

        def kernel(x: np.ndarray) -> np.ndarray:
            return scale * _keys_cubic(scale * x)
    else:
        width = 4.0
        kernel = _keys_cubic
    out_pos = np.arange(1, out_len + 1, dtype=np.float64)
    centre = out_pos / scale + 0.5 * (1.0 - 1.0 / scale)
    left = np.floor(centre - width / 2.0)
    taps = int(np.ceil(width)) + 2
    idx = left[:, None] + np.arange(taps)[None, :]  # 1-based input indices
    w = kernel(centre[:, None] - idx)
    w /= w.sum(axis=1, keepdims=True)
    # Mirror out-of-range taps: the sequence 1..N, N..1 repeated.
    mirror = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
    src = mirror[np.mod(idx.astype(np.int64) - 1, 2 * in_len)]
    mat = np.zeros((out_len, in_len), dtype=np.float64)
    np.add.at(mat, (np.repeat(np.arange(out_len), taps), src.ravel()), w.ravel())
    mat = mat.astype(np.float32)
    mat.setflags(write=False)
    return mat


def resize(image: np.ndarray, size: int, interpolation: str = "area") -> np.ndarray:
    """Resize a float image (H, W, C) to (size, size, C) float32 with ``"area"`` or ``"bicubic"``
    (MATLAB-style antialiased bicubic, see the module docstring)."""
    check_choice(interpolation, "interpolation", INTERPOLATIONS)
    size = check_positive_int(size, "size")
    if image.ndim != 3:
        raise ValueError(f"image must be (H, W, C), got shape {image.shape}")
    img = np.asarray(image, dtype=np.float32)
    if interpolation == "area":
        out = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
        return out.reshape(size, size, img.shape[2])
    rows = matlab_bicubic_weights(img.shape[0], size)
    cols = matlab_bicubic_weights(img.shape[1], size)
    tmp = np.tensordot(rows, img, axes=(1, 0))  # (size, W, C)
    return np.einsum("jw,iwc->ijc", cols, tmp, optimize=True).astype(np.float32, copy=False)
