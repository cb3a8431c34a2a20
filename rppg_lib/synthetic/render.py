"""``generate``: draw a subject, simulate physiology and corruption, render the frames."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import cv2
import numpy as np
from scipy.special import ndtri

from rppg_lib.constants import PULSE_RGB

from .corruption import head_motion, illumination_gain, specular_gain
from .physiology import Physiology, simulate_physiology
from .scenarios import scenario_params
from .scene import (
    PERFUSION_BASE,
    PersonLayers,
    Subject,
    draw_subject,
    make_background,
    render_person,
)

MIN_SIZE = 64  # below this the face box is under ~24 px, the Haar cascade's smallest window
MAX_SIZE = 1024
MIN_FPS = 6.0  # the pulse reaches 2.5 Hz (150 bpm): keep it below the Nyquist frequency
# Relative pulsatile strength of R, G, B (constants.PULSE_RGB), scaled so that green is 1:
# ``pulse_amplitude`` is then the relative green modulation.
PULSE_COLOUR = np.array(PULSE_RGB) / PULSE_RGB[1]
SKIN_THRESHOLD = 0.9 * PERFUSION_BASE  # warped perfusion weight above which a pixel is skin
# Independent random streams (SeedSequence spawn keys), one per component.
_SUBJECT, _BACKGROUND, _PHYSIOLOGY, _ILLUMINATION, _MOTION, _SENSOR = range(6)


@dataclass(frozen=True)
class SyntheticClip:
    """One generated clip and its exact ground truth (T frames at ``fps``; frame k at k / fps s).

    frames: (T, H, W, 3) uint8 RGB. bvp: (T,) blood volume, zero mean, unit std, up = more blood
    (the skin then reflects less light; in ``no_pulse`` the waveform is still the subject's, but
    its amplitude in the video is 0). resp: (T,) respiration, zero mean, unit std, up = inhaled.
    hr: (T,) instantaneous heart rate, bpm. br: (T,) breathing rate, breaths/min.
    face_box: (T, 4) int (x, y, w, h), the face as the Haar cascade frames it, following the head.
    skin_mask: (T, H, W) bool, perfused skin. illumination: (T, 3) the multiplicative gain per
    RGB channel applied to the whole image (1 = none). motion: (T, 4) head dx, dy (pixels),
    rotation (degrees, counter-clockwise on screen), scale (1 = rest). params: every knob used and
    every value drawn (JSON-serialisable).
    """

    frames: np.ndarray
    fps: float
    bvp: np.ndarray
    resp: np.ndarray
    hr: np.ndarray
    br: np.ndarray
    face_box: np.ndarray
    skin_mask: np.ndarray
    illumination: np.ndarray
    motion: np.ndarray
    scenario: str
    seed: int
    params: dict


@lru_cache(maxsize=1)
def _normal_quantiles() -> np.ndarray:
    """Standard-normal quantiles at 65,536 evenly spaced probabilities (tails at +-4.3 std).

    Gaussian noise is drawn by inverse-CDF lookup from 16-bit random integers: four times faster
    than ziggurat sampling of float arrays, which would otherwise dominate the frame time.
    """
    table = ndtri((np.arange(65536) + 0.5) / 65536).astype(np.float32)
    table.flags.writeable = False
    return table


def _planes(image: np.ndarray) -> np.ndarray:
    """(H, W, C) -> contiguous (C, H, W)."""
    return np.ascontiguousarray(np.moveaxis(image, -1, 0))


def _render_frames(
    person: PersonLayers,
    background: np.ndarray,
    gain: np.ndarray,
    pulse_rgb: np.ndarray,
    specular: np.ndarray,
    motion: np.ndarray,
    noise_std: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Composite every frame: image = gain * (background over person) + noise, in uint8.

    Per pixel and channel (premultiplied person layer warped by the head pose):
    scene = bg (1 - alpha) + diffuse (1 - perfusion pulse_rgb[t]) + specular_map specular[t];
    the image is rounded to the nearest integer (ties to even) and saturated to [0, 255].
    Returns frames (T, H, W, 3) uint8 and skin masks (T, H, W) bool.
    """
    n, size = len(gain), background.shape[0]
    frames = np.empty((n, size, size, 3), np.uint8)
    skin = np.empty((n, size, size), bool)
    noise_table = _normal_quantiles() * np.float32(noise_std)
    centre = (person.face_center[0] + person.pad, person.face_center[1] + person.pad)
    # Planar (channel-first) arithmetic: every operation runs over contiguous planes, which is
    # several times faster than broadcasting one-channel maps over interleaved RGB.
    bg = _planes(background.astype(np.float32))
    scene = np.empty((3, size, size), np.float32)
    covered_bg = np.empty((3, size, size), np.float32)
    noise = np.empty((3, size, size), np.float32)
    per_channel = np.empty((3, 1, 1), np.float32)
    warp = {"dsize": (size, size), "flags": cv2.INTER_LINEAR, "borderMode": cv2.BORDER_REPLICATE}
    for k in range(n):
        dx, dy, rotation, scale = motion[k]
        matrix = cv2.getRotationMatrix2D(centre, float(rotation), float(scale))
        matrix[0, 2] += dx - person.pad
        matrix[1, 2] += dy - person.pad
        # To planes (a numpy transpose copy is faster than cv2.split here).
        layer = _planes(cv2.warpAffine(person.diffuse, matrix, **warp))
        diffuse, alpha = layer[:3], layer[3]
        perfusion, highlight = _planes(cv2.warpAffine(person.maps, matrix, **warp))
        # The pulse darkens perfused skin: diffuse * (1 - pulse_c * perfusion).
        per_channel[:, 0, 0] = -pulse_rgb[k]
        np.multiply(perfusion, per_channel, out=scene)
        scene += 1.0
        scene *= diffuse
        scene += bg
        np.multiply(bg, alpha, out=covered_bg)
        scene -= covered_bg
        highlight *= np.float32(specular[k])
        scene += highlight
        per_channel[:, 0, 0] = gain[k]
        scene *= per_channel
        if noise_std > 0:
            index = rng.integers(0, 65536, size=noise.shape, dtype=np.uint16)
            scene += np.take(noise_table, index, out=noise)
        # Round to nearest and saturate at 255 (convertScaleAbs); the abs is a no-op after this.
        np.maximum(scene, 0.0, out=scene)
        cv2.convertScaleAbs(cv2.merge(list(scene)), dst=frames[k])
        skin[k] = perfusion > SKIN_THRESHOLD
    return frames, skin


def _check_inputs(seconds: float, fps: float, size: int, seed: int) -> int:
    """Validate the clip arguments; return the frame count round(seconds * fps)."""
    for name, value in (("seconds", seconds), ("fps", fps)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"{name} must be a number, got {value!r}")
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be positive and finite, got {value!r}")
    if fps < MIN_FPS:
        raise ValueError(
            f"fps must be >= {MIN_FPS} so that a 150 bpm pulse is not aliased, got {fps}"
        )
    if isinstance(size, bool) or not isinstance(size, numbers.Integral):
        raise ValueError(f"size must be an integer number of pixels, got {size!r}")
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(
            f"size must be in [{MIN_SIZE}, {MAX_SIZE}] (smaller frames have no detectable face), "
            f"got {size}"
        )
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    n = round(seconds * fps)
    if n < 2:
        raise ValueError(
            f"seconds * fps must give at least 2 frames, got seconds={seconds}, fps={fps}"
        )
    return n


def generate(
    scenario: str = "clean",
    seconds: float = 20.0,
    fps: float = 30.0,
    size: int = 128,
    seed: int = 0,
    **overrides,
) -> SyntheticClip:
    """Generate a seeded synthetic face video with exact ground truth.

    ``scenario`` picks the corruption defaults (see the package docstring's table); ``overrides``
    set any knob. The clip has round(seconds * fps) frames of size x size pixels. The subject
    (face, skin, background, heart and breathing rates) depends on ``seed`` only, so one seed gives
    the same person in every scenario; ``no_pulse`` is ``clean`` with the pulse removed from the
    video. Same arguments give byte-identical clips. Raises ``ValueError`` naming a bad argument.
    """
    knobs = scenario_params(scenario, **overrides)
    n = _check_inputs(seconds, fps, size, seed)
    seed, fps, size = int(seed), float(fps), int(size)
    _check_below_nyquist(knobs, fps)
    subject = draw_subject(_rng(seed, _SUBJECT), knobs)
    background, background_info = make_background(_rng(seed, _BACKGROUND), size)
    person = render_person(subject, size)
    physiology = simulate_physiology(_rng(seed, _PHYSIOLOGY), n, fps, knobs)
    hr_hz = float(np.mean(physiology.hr)) / 60.0
    gain, illumination_info = illumination_gain(_stream(seed, _ILLUMINATION), n, fps, knobs, hr_hz)
    motion, motion_info = head_motion(
        _stream(seed, _MOTION), n, fps, knobs, size, physiology.resp, hr_hz,
        person.face_center, person.face_size,
    )
    specular = specular_gain(motion, size, knobs)
    pulse_rgb = knobs["pulse_amplitude"] * physiology.bvp[:, None] * PULSE_COLOUR
    frames, skin = _render_frames(
        person, background, gain, pulse_rgb, specular, motion, knobs["noise_std"],
        _rng(seed, _SENSOR),
    )

    params = dict(knobs)
    params.update(
        scenario=scenario, seconds=float(seconds), fps=fps, size=size, seed=seed, n_frames=n
    )
    params["drawn"] = dict(
        subject=_drawn_subject(subject, physiology, person), background=background_info,
        illumination=illumination_info, motion=motion_info,
    )
    return SyntheticClip(
        frames=frames,
        fps=fps,
        bvp=physiology.bvp,
        resp=physiology.resp,
        hr=physiology.hr,
        br=physiology.br,
        face_box=_face_boxes(person, motion, size),
        skin_mask=skin,
        illumination=gain,
        motion=motion,
        scenario=scenario,
        seed=seed,
        params=params,
    )


def _check_below_nyquist(knobs: dict[str, Any], fps: float) -> None:
    """ValueError when a flicker or nodding frequency (Hz) reaches fps / 2."""
    for name in ("flicker_freqs_hz", "nod_hz"):
        freqs = knobs[name] if isinstance(knobs[name], list) else [knobs[name]]
        if any(f is not None and f >= fps / 2 for f in freqs):
            raise ValueError(
                f"{name} must stay below the Nyquist frequency {fps / 2} Hz, got {knobs[name]}"
            )


def _stream(seed: int, key: int) -> np.random.SeedSequence:
    """The random stream of one part of the clip (subject, motion, sensor ...): a part draws
    the same numbers whatever the other parts' knobs."""
    return np.random.SeedSequence(seed, spawn_key=(key,))


def _rng(seed: int, key: int) -> np.random.Generator:
    return np.random.default_rng(_stream(seed, key))


def _face_boxes(person: PersonLayers, motion: np.ndarray, size: int) -> np.ndarray:
    """(T, 4) int64 face boxes (x, y, w, h) in pixels, the face moved and scaled by ``motion``
    (T, >= 4: dx, dy px, ..., scale), rounded and kept inside the size x size frame."""
    widths = person.face_size[0] * motion[:, 3]
    heights = person.face_size[1] * motion[:, 3]
    x = np.rint(person.face_center[0] + motion[:, 0] - (widths - 1) / 2)
    y = np.rint(person.face_center[1] + motion[:, 1] - (heights - 1) / 2)
    w, h = np.rint(widths), np.rint(heights)
    return np.stack([np.clip(x, 0, size - w), np.clip(y, 0, size - h), w, h], axis=1).astype(
        np.int64
    )


def _drawn_subject(
    subject: Subject, physiology: Physiology, person: PersonLayers
) -> dict[str, Any]:
    """The subject as drawn from the seed, for the clip's params: its traits, its physiology's
    summary and the face's centre and size (px)."""
    return {
        **subject.to_dict(),
        **physiology.info,
        "face_center_px": [float(c) for c in person.face_center],
        "face_size_px": [float(c) for c in person.face_size],
    }
