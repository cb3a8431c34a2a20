"""Shared corruption time series: illumination gain (T, 3) and head motion (T, 4).

The illumination gain multiplies the whole image, face and background alike, per RGB channel, so
the background carries it too (the premise of inverse attention). Head motion warps the person
layer only. Each component draws from its own random stream, so changing one knob (e.g. the step
rate) leaves the others (e.g. the flicker) unchanged.
"""

from __future__ import annotations

import numpy as np

from .physiology import smooth_noise
from .scenarios import HR_BAND_HZ

# Flicker and nodding drawn inside the HR band keep at least this distance from the mean HR (Hz),
# so that a spectrum shows the pulse and the corruption as two separate peaks.
MIN_SEPARATION_HZ = 0.15
MIN_GAIN = 0.2  # the light never goes (almost) out


def _colour(rng: np.random.Generator, jitter: float) -> np.ndarray:
    """Per-channel weights of one illumination component: white plus a random tint."""
    return 1.0 + jitter * rng.uniform(-1.0, 1.0, size=3)


def in_band_frequency(rng: np.random.Generator, hr_hz: float) -> float:
    """A frequency inside the HR band, at least MIN_SEPARATION_HZ away from ``hr_hz``."""
    lo, hi = HR_BAND_HZ
    excluded = max(0.0, min(hi, hr_hz + MIN_SEPARATION_HZ) - max(lo, hr_hz - MIN_SEPARATION_HZ))
    f = lo + rng.uniform() * (hi - lo - excluded)
    return float(f + excluded if f > hr_hz - MIN_SEPARATION_HZ else f)


def illumination_gain(
    seed_seq: np.random.SeedSequence, n: int, fs: float, knobs: dict, hr_hz: float
) -> tuple[np.ndarray, dict]:
    """Gain (n, 3) float64 = (1 + drift) (1 + flicker) (1 + steps), each with its own colour.

    Drift: smooth noise of std ``illum_drift`` and bandwidth ``illum_drift_hz``. Flicker:
    ``flicker_count`` sinusoids of amplitude ``flicker_amplitude``; the first inside the HR band
    (away from ``hr_hz``), the others in 0.1 Hz to min(5 Hz, 0.45 fs). Steps: round(rate x minutes)
    sudden changes of +-(0.5-1) ``step_amplitude`` at uniform times, their running level kept
    within 3 ``step_amplitude``. The gain is floored at MIN_GAIN.
    """
    drift_rng, flicker_rng, step_rng = (np.random.default_rng(s) for s in seed_seq.spawn(3))
    jitter = knobs["illum_colour_jitter"]
    t = np.arange(n) / fs

    drift = knobs["illum_drift"] * smooth_noise(drift_rng, n, fs, knobs["illum_drift_hz"])
    gain = 1.0 + drift[:, None] * _colour(drift_rng, jitter)

    freqs = knobs["flicker_freqs_hz"]
    if freqs is None:
        top = min(5.0, 0.45 * fs)
        freqs = [in_band_frequency(flicker_rng, hr_hz)]
        freqs += [float(flicker_rng.uniform(0.1, top)) for _ in range(knobs["flicker_count"] - 1)]
        freqs = freqs[: knobs["flicker_count"]]
    flicker = np.zeros((n, 3))
    if knobs["flicker_amplitude"] > 0:
        for f in freqs:
            phase = flicker_rng.uniform(0, 2 * np.pi)
            wave = knobs["flicker_amplitude"] * np.sin(2 * np.pi * f * t + phase)
            flicker += wave[:, None] * _colour(flicker_rng, jitter)
    gain *= 1.0 + flicker

    seconds = n / fs
    n_steps = round(knobs["steps_per_minute"] * seconds / 60.0)
    times = np.sort(step_rng.uniform(0.05 * seconds, 0.95 * seconds, size=n_steps))
    steps = np.zeros((n, 3))
    level, amplitudes = 0.0, []
    for when in times:
        a = knobs["step_amplitude"] * step_rng.uniform(0.5, 1.0) * step_rng.choice([-1.0, 1.0])
        if abs(level + a) > 3 * knobs["step_amplitude"]:
            a = -a
        level += a
        amplitudes.append(float(a))
        steps[t >= when] += a * _colour(step_rng, jitter)
    gain *= 1.0 + steps
    info = {
        "flicker_freqs_hz": [float(f) for f in freqs] if knobs["flicker_amplitude"] > 0 else [],
        "step_times_s": [float(x) for x in times],
        "step_amplitudes": amplitudes,
    }
    return np.maximum(gain, MIN_GAIN), info


def _raised_cosine(x: np.ndarray) -> np.ndarray:
    """0 for x <= 0, 1 for x >= 1, a smooth half cosine in between."""
    return 0.5 - 0.5 * np.cos(np.pi * np.clip(x, 0.0, 1.0))


def head_motion(
    seed_seq: np.random.SeedSequence,
    n: int,
    fs: float,
    knobs: dict,
    size: int,
    resp: np.ndarray,
    hr_hz: float,
    face_center: tuple[float, float],
    face_size: tuple[float, float],
) -> tuple[np.ndarray, dict]:
    """Head pose (n, 4) float64: dx, dy (pixels), rotation (degrees, counter-clockwise on screen),
    scale (1 = rest).

    Smooth band-limited motion (std ``motion_translation * size`` px, ``motion_rotation_deg``,
    ``motion_scale``), sudden moves (a 0.2 s turn to twice those stds, held 0.5-2 s, 0.4 s back),
    nodding (``nod_amplitude * size`` px at ``nod_hz``) and the breathing bob
    (``breathing_motion * size`` px times the unit-std respiration). The translation is clipped so
    that the face box stays inside the frame.
    """
    smooth_rng, jump_rng, nod_rng = (np.random.default_rng(s) for s in seed_seq.spawn(3))
    t = np.arange(n) / fs
    bw = knobs["motion_bandwidth_hz"]
    stds = np.array(
        [
            knobs["motion_translation"] * size,
            knobs["motion_translation"] * size,
            knobs["motion_rotation_deg"],
            knobs["motion_scale"],
        ]
    )
    pose = np.stack([smooth_noise(smooth_rng, n, fs, bw) for _ in range(4)], axis=1) * stds

    n_jumps = round(knobs["motion_jumps_per_minute"] * n / fs / 60.0)
    jump_times = np.sort(jump_rng.uniform(0.0, n / fs, size=n_jumps))
    for start in jump_times:
        target = 2.0 * stds * jump_rng.uniform(-1.0, 1.0, size=4)
        hold = jump_rng.uniform(0.5, 2.0)
        profile = _raised_cosine((t - start) / 0.2) - _raised_cosine((t - start - 0.2 - hold) / 0.4)
        pose += profile[:, None] * target

    nod_hz = knobs["nod_hz"] if knobs["nod_hz"] is not None else in_band_frequency(nod_rng, hr_hz)
    nod_phase = nod_rng.uniform(0, 2 * np.pi)
    pose[:, 1] += knobs["nod_amplitude"] * size * np.sin(2 * np.pi * nod_hz * t + nod_phase)
    pose[:, 1] -= knobs["breathing_motion"] * size * resp  # inhaling lifts the head

    pose[:, 2] = np.clip(pose[:, 2], -30.0, 30.0)
    pose[:, 3] = np.clip(1.0 + pose[:, 3], 0.8, 1.25)
    for axis in (0, 1):
        half = 0.5 * face_size[axis] * pose[:, 3]
        pose[:, axis] = np.clip(
            pose[:, axis], half - face_center[axis], size - half - face_center[axis] - 1
        )
    info = {
        "jump_times_s": [float(x) for x in jump_times],
        "nod_hz": float(nod_hz) if knobs["nod_amplitude"] > 0 else None,
    }
    return pose, info


def specular_gain(motion: np.ndarray, size: int, knobs: dict) -> np.ndarray:
    """Peak specular intensity per frame (n,) in DN before illumination.

    ``specular_strength * 255`` at rest, changing with head pose (the angle between light, skin and
    camera): 1 + coupling (rotation / 10 deg + (scale - 1) / 0.1 + (dx - dy) / (0.1 size)),
    floored at 0.
    """
    dx, dy, rot, scale = motion.T
    pose = rot / 10.0 + (scale - 1.0) / 0.1 + (dx - dy) / (0.1 * size)
    factor = np.maximum(0.0, 1.0 + knobs["specular_motion_coupling"] * pose)
    return knobs["specular_strength"] * 255.0 * factor
