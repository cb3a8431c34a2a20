"""Attention masks of the convolutional attention networks: storage and a skin metric.

The masks are the gate sigmoid outputs *before* normalisation (notebook 03_attention_masks):
``gate1`` (T, M1, M1) with M1 = S − 2 (34 at S = 36), one per frame, and ``gate2`` (T, M2, M2)
(15 at 36). They are
obtained with :func:`rppg_lib.network_inference.predict_clip` (``return_masks=True``).

Geometry: gate-1 cell (i, j) is computed from the 3x3 neighbourhood of input pixel (i + 1, j + 1)
(a "same" then a "valid" 3x3 convolution), so the gate-1 grid is the input crop without its
one-pixel border; gate 2 is the same construction one 2x2 average-pool further in.
:func:`skin_on_mask_grid` maps a skin mask of the crop onto exactly these grids.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from rppg_lib.atomic import atomic_write_with
from rppg_lib.models.tscan import spatial_sizes
from rppg_lib.validation import check_choice, check_positive, check_positive_int

__all__ = [
    "AttentionMasks",
    "save_masks",
    "load_masks",
    "crop_skin_masks",
    "skin_on_mask_grid",
    "SkinFraction",
    "skin_fraction",
]

GATES = ("gate1", "gate2")


@dataclass
class AttentionMasks:
    """Per-frame attention masks of one clip (sigmoid outputs in [0, 1], before normalisation).

    gate1: (T, M1, M1) float16; gate2: (T, M2, M2) float16; fps: frames per second (Hz);
    clip_id: the clip's name; img_size: the network's input size S.
    """

    gate1: np.ndarray
    gate2: np.ndarray
    fps: float
    clip_id: str = "clip"
    img_size: int = 36

    def __post_init__(self) -> None:
        self.fps = check_positive(self.fps, "fps")
        for name in GATES:
            arr = np.asarray(getattr(self, name))
            if arr.ndim != 3 or arr.shape[1] != arr.shape[2] or arr.shape[0] == 0:
                raise ValueError(f"{name} must have shape (T, M, M), got {arr.shape}")
            setattr(self, name, arr.astype(np.float16, copy=False))
        if self.gate1.shape[0] != self.gate2.shape[0]:
            raise ValueError(
                f"gate1 has {self.gate1.shape[0]} frames but gate2 has {self.gate2.shape[0]}"
            )

    @property
    def n_frames(self) -> int:
        return int(self.gate1.shape[0])

    def gate(self, name: str) -> np.ndarray:
        """``gate1`` or ``gate2`` by name."""
        return getattr(self, check_choice(name, "gate", GATES))


def save_masks(path: str | os.PathLike, masks: AttentionMasks) -> Path:
    """Write ``masks`` to a compressed ``.npz`` (float16 masks), atomically. 34x34 gate-1 masks
    of a 30 s clip at 30 fps take about 2 MB before compression."""
    arrays = {
        "gate1": masks.gate1.astype(np.float16),
        "gate2": masks.gate2.astype(np.float16),
        "fps": np.float64(masks.fps),
        "clip_id": np.str_(masks.clip_id),
        "img_size": np.int64(masks.img_size),
    }
    return atomic_write_with(path, lambda handle: np.savez_compressed(handle, **arrays))


def load_masks(path: str | os.PathLike) -> AttentionMasks:
    """Read masks written by :func:`save_masks`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"attention-mask file not found: {path}")
    with np.load(path, allow_pickle=False) as data:
        missing = {"gate1", "gate2", "fps", "clip_id", "img_size"} - set(data.files)
        if missing:
            raise ValueError(f"{path} is not an attention-mask file (missing {sorted(missing)})")
        return AttentionMasks(
            gate1=data["gate1"],
            gate2=data["gate2"],
            fps=float(data["fps"]),
            clip_id=str(data["clip_id"]),
            img_size=int(data["img_size"]),
        )


def crop_skin_masks(
    skin_masks: np.ndarray, boxes: np.ndarray, img_size: int
) -> np.ndarray:
    """Skin masks of whole frames (T, H, W) bool, cropped with the preprocessing's crop boxes
    (T, 4) (x, y, w, h) in pixels and area-resized to the network input: (T, S, S) float32, the
    skin fraction of each input pixel in [0, 1]."""
    skin = np.asarray(skin_masks)
    box_arr = np.asarray(boxes)
    if skin.ndim != 3:
        raise ValueError(f"skin_masks must have shape (T, H, W), got {skin.shape}")
    if box_arr.shape != (skin.shape[0], 4):
        raise ValueError(f"boxes must have shape ({skin.shape[0]}, 4), got {box_arr.shape}")
    size = check_positive_int(img_size, "img_size")
    out = np.empty((skin.shape[0], size, size), dtype=np.float32)
    for t, (x, y, w, h) in enumerate(box_arr.astype(int).tolist()):
        if w <= 0 or h <= 0 or x < 0 or y < 0 or y + h > skin.shape[1] or x + w > skin.shape[2]:
            frame = f"{skin.shape[2]}x{skin.shape[1]}"
            raise ValueError(f"boxes[{t}] = {(x, y, w, h)} is not inside the {frame} frame")
        crop = skin[t, y : y + h, x : x + w].astype(np.float32)
        out[t] = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    # area resampling of a 0/1 image can overshoot 1 (or undershoot 0) by float rounding
    return np.clip(out, 0.0, 1.0, out=out)


def skin_on_mask_grid(skin: np.ndarray, gate: str = "gate1") -> np.ndarray:
    """A skin map of the network input, (T, S, S) or (S, S) in [0, 1], on a gate's grid.

    gate1: the input without its one-pixel border (M1 = S − 2). gate2: that grid average-pooled
    by 2 (as the network pools) and again without its border (M2). Values stay fractions of skin.
    """
    check_choice(gate, "gate", GATES)
    arr = np.asarray(skin, dtype=np.float32)
    if arr.ndim not in (2, 3) or arr.shape[-1] != arr.shape[-2]:
        raise ValueError(f"skin must have shape (T, S, S) or (S, S), got {arr.shape}")
    m1, p1, m2, _ = spatial_sizes(arr.shape[-1])
    grid = arr[..., 1 : 1 + m1, 1 : 1 + m1]
    if gate == "gate1":
        return grid
    pooled = grid[..., : 2 * p1, : 2 * p1]
    pooled = pooled.reshape(*pooled.shape[:-2], p1, 2, p1, 2).mean(axis=(-3, -1))
    return pooled[..., 1 : 1 + m2, 1 : 1 + m2]


@dataclass(frozen=True)
class SkinFraction:
    """Share of attention on skin. per_frame (T,): Σ mask·skin / Σ mask; chance (T,): the skin
    share of the grid, what a uniform mask would score. fraction, chance_mean: their means;
    lift = fraction / chance_mean (> 1: the mask prefers skin)."""

    per_frame: np.ndarray
    chance: np.ndarray

    @property
    def fraction(self) -> float:
        return float(np.mean(self.per_frame))

    @property
    def chance_mean(self) -> float:
        return float(np.mean(self.chance))

    @property
    def lift(self) -> float:
        return self.fraction / self.chance_mean


def skin_fraction(masks: np.ndarray, skin: np.ndarray) -> SkinFraction:
    """Fraction of attention-mask mass on skin, per frame, against chance.

    masks: (T, M, M) non-negative (e.g. gate-1 sigmoid masks). skin: (T, M, M) or (M, M) skin
    fractions in [0, 1] on the same grid (see :func:`crop_skin_masks`, :func:`skin_on_mask_grid`).
    """
    g = np.asarray(masks, dtype=np.float64)
    s = np.asarray(skin, dtype=np.float64)
    if g.ndim != 3:
        raise ValueError(f"masks must have shape (T, M, M), got {g.shape}")
    if s.ndim == 2 and s.shape == g.shape[1:]:
        s = np.broadcast_to(s, g.shape)
    if s.shape != g.shape:
        raise ValueError(f"skin {s.shape} must match the masks {g.shape} (or one frame of them)")
    if np.any(g < 0) or not np.all(np.isfinite(g)):
        raise ValueError("masks must be finite and non-negative")
    if np.any(s < 0) or np.any(s > 1):
        raise ValueError("skin must hold fractions in [0, 1]")
    mass = g.sum(axis=(1, 2))
    if np.any(mass == 0):
        raise ValueError(f"mask of frame {int(np.argmax(mass == 0))} is all zero")
    return SkinFraction(
        per_frame=(g * s).sum(axis=(1, 2)) / mass, chance=s.mean(axis=(1, 2))
    )


# --- figures ---------------------------------------------------------------------------------


