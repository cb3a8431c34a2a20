"""Small constructed clips with known answers, shared by test_comparison and test_noise_study."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from rppg_lib.datasets import Clip, Signal
from rppg_lib.inverse_attention import CorruptionEstimates, corruption_estimates

FS = 30.0


def face_clip(n: int = 6) -> tuple[Clip, SimpleNamespace, np.ndarray]:
    """A 100 x 100 clip whose 50 x 50 face square (at 30, 40) has its own colour per frame;
    preprocessing cropped 90 x 90 around it (box_scale 1.8)."""
    frames = np.full((n, 100, 100, 3), 200, dtype=np.uint8)
    colours = np.stack([np.arange(n) + 100, np.arange(n) + 50, np.full(n, 20)], axis=1)
    for t in range(n):
        frames[t, 40:90, 30:80] = colours[t]
    clip = Clip.from_frames(frames, FS, clip_id="c1")
    pre = SimpleNamespace(boxes=np.tile([10, 20, 90, 90], (n, 1)),
                          config={"crop": "haar", "box_scale": 1.8})
    return clip, pre, colours.astype(float)


def two_region_clip(n: int = 300, seed: int = 0) -> tuple[np.ndarray, ...]:
    """(masks, frames, gain, derivative) at 30 Hz on an 8 x 8 mask grid: a 4 x 4 attended face
    (mask 0.9) on a background (0.1); the injected illumination gain multiplies both, the pulse
    only the face."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FS
    gain = 1.0 + 0.05 * np.stack(
        [np.sin(2 * np.pi * f * t + p) for f, p in ((0.9, 0.0), (1.6, 1.0), (2.2, 2.0))], axis=1
    )
    pulse = 0.05 * np.sin(2 * np.pi * 1.2 * t)
    masks = np.full((n, 8, 8), 0.1)
    masks[:, 2:6, 2:6] = 0.9
    masks += 0.001 * rng.random((n, 8, 8))  # not exactly constant: a real mask never is
    frames = np.empty((n, 8, 8, 3))
    frames[:] = 0.4 * gain[:, None, None, :]
    frames[:, 2:6, 2:6, :] = (0.6 * gain * (1.0 + pulse[:, None]))[:, None, None, :]
    derivative = np.gradient(np.sin(2 * np.pi * 1.2 * t + 0.3))
    return masks, frames, gain, derivative


def estimates_for(n: int) -> CorruptionEstimates:
    masks, frames, _, derivative = two_region_clip(n)
    return corruption_estimates(masks, frames, derivative, FS)


def gt_clip(n: int, clip_id: str = "c1") -> Clip:
    """The face clip of :func:`face_clip` with ground truth: BVP at 72 bpm, respiration and BR
    at 15 breaths/min, HR series 72 bpm; scenario "illumination"."""
    clip, _, _ = face_clip(n)
    t = np.arange(n) / FS
    return Clip(
        clip_id=clip_id, subject="s01", task="illumination", source=clip.source, fps=FS,
        n_frames=n, frame_times=t, frame_source=clip.frame_source,
        bvp=Signal(np.sin(2 * np.pi * 1.2 * t), t, "a.u."),
        resp=Signal(np.sin(2 * np.pi * 0.25 * t), t, "a.u."),
        hr=Signal(np.full(n, 72.0), t, "bpm"),
        extra={"br": Signal(np.full(n, 15.0), t, "breaths/min")},
    )
