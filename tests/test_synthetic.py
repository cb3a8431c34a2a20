"""The synthetic generator: the contract, and the physics the notebooks rely on.

Clips are short (10-20 s, 96-128 px) and cached per module so the file runs in seconds.
"""

from __future__ import annotations

import json
from functools import cache

import cv2
import numpy as np
import pytest
from scipy.signal import find_peaks

import rppg_lib.synthetic as synthetic
from rppg_lib.metrics import snr
from rppg_lib.signals import breathing_rate, detrend, heart_rate
from rppg_lib.synthetic import SCENARIOS, SyntheticClip, generate, scenario_params
from rppg_lib.synthetic.scenarios import defaults_table

SEEDS = (0, 1, 2)


@cache
def clip(scenario: str, seed: int, seconds: float = 20.0, size: int = 96, **knobs) -> SyntheticClip:
    return generate(scenario, seconds=seconds, fps=30.0, size=size, seed=seed, **knobs)


def skin_green(c: SyntheticClip) -> np.ndarray:
    """Mean green of the perfused-skin pixels, per frame."""
    return np.array([f[..., 1][m].mean() for f, m in zip(c.frames, c.skin_mask, strict=True)])


def background_mask(c: SyntheticClip) -> np.ndarray:
    """Pixels that are background in every frame: left and right of the face boxes dilated to
    twice their width, above their bottom edge (below it is the body)."""
    size = c.frames.shape[1]
    x0 = (c.face_box[:, 0] - c.face_box[:, 2] // 2).min()
    x1 = (c.face_box[:, 0] + c.face_box[:, 2] * 3 // 2).max()
    bottom = (c.face_box[:, 1] + c.face_box[:, 3]).min()
    mask = np.zeros((size, size), bool)
    mask[:bottom, : max(x0, 0)] = True
    mask[:bottom, min(x1, size) :] = True
    assert mask.sum() > 300, "too few background pixels for the test"
    return mask


def background_mean(c: SyntheticClip, channel: int = 1) -> np.ndarray:
    return c.frames[:, background_mask(c), channel].astype(np.float64).mean(axis=1)


def pulse_snr(x: np.ndarray, c: SyntheticClip) -> float:
    """SNR (dB) at the clip's mean HR of a detrended trace."""
    return snr(detrend(x, lam=100.0), c.fps, float(c.hr.mean()))


def iou(a: np.ndarray, b: np.ndarray) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    inter = max(0, min(ax + aw, bx + bw) - max(ax, bx)) * max(
        0, min(ay + ah, by + bh) - max(ay, by)
    )
    return inter / (aw * ah + bw * bh - inter)


# ---------------------------------------------------------------- contract


def test_contract_shapes_types_and_ranges():
    c = clip("mixed", 3, seconds=4.0, size=64)
    n = 120
    assert c.frames.shape == (n, 64, 64, 3) and c.frames.dtype == np.uint8
    for name in ("bvp", "resp", "hr", "br"):
        assert getattr(c, name).shape == (n,), name
    assert c.face_box.shape == (n, 4) and np.issubdtype(c.face_box.dtype, np.integer)
    assert c.skin_mask.shape == (n, 64, 64) and c.skin_mask.dtype == bool
    assert c.illumination.shape == (n, 3) and c.motion.shape == (n, 4)
    assert (c.scenario, c.seed, c.fps) == ("mixed", 3, 30.0)
    assert abs(c.bvp.mean()) < 1e-9 and abs(c.bvp.std() - 1) < 1e-9
    assert abs(c.resp.mean()) < 1e-9 and abs(c.resp.std() - 1) < 1e-9
    # The face box stays inside the frame, and the skin lies inside the face box (+ neck below).
    x, y, w, h = c.face_box.T
    assert (x >= 0).all() and (y >= 0).all() and (x + w <= 64).all() and (y + h <= 64).all()
    rows = np.arange(64)[:, None]
    cols = np.arange(64)[None, :]
    for t in range(0, n, 10):
        box = (cols >= x[t] - 2) & (cols < x[t] + w[t] + 2) & (rows >= y[t] - 2)
        assert c.skin_mask[t].sum() > 0.05 * w[t] * h[t]
        assert c.skin_mask[t][~box].sum() == 0
    params = json.loads(json.dumps(c.params))  # JSON-serialisable
    assert params["scenario"] == "mixed" and params["n_frames"] == n
    assert set(scenario_params("mixed")) <= set(params)


def test_scenario_defaults_and_docstring_table():
    clean = scenario_params("clean")
    assert clean["flicker_amplitude"] == 0 and clean["motion_translation"] == 0
    assert scenario_params("no_pulse")["pulse_amplitude"] == 0
    assert {k: v for k, v in scenario_params("no_pulse").items() if k != "pulse_amplitude"} == {
        k: v for k, v in clean.items() if k != "pulse_amplitude"
    }
    for s in ("illumination", "mixed"):
        p = scenario_params(s)
        assert p["flicker_amplitude"] > 0 and p["steps_per_minute"] > 0 and p["illum_drift"] > 0.01
    for s in ("motion", "mixed"):
        p = scenario_params(s)
        assert p["motion_translation"] > 0 and p["motion_rotation_deg"] > 0
    assert scenario_params("clean", noise_std=0.0)["noise_std"] == 0.0
    # The package docstring documents exactly the defaults the code uses.
    assert defaults_table() in synthetic.__doc__


def test_deterministic_and_seed_dependent():
    a = generate("mixed", seconds=3.0, size=64, seed=5)
    b = generate("mixed", seconds=3.0, size=64, seed=5)
    for name in ("frames", "bvp", "resp", "hr", "br", "face_box", "skin_mask", "illumination",
                 "motion"):  # fmt: skip
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.frames.tobytes() == b.frames.tobytes()
    assert a.params == b.params
    other = generate("mixed", seconds=3.0, size=64, seed=6)
    assert not np.array_equal(a.frames, other.frames)
    assert not np.allclose(a.hr, other.hr)


def test_same_subject_across_scenarios_and_independent_streams():
    clean, mixed = clip("clean", 0, seconds=4.0, size=64), clip("mixed", 0, seconds=4.0, size=64)
    # One seed is one person: physiology and appearance do not depend on the scenario.
    assert np.array_equal(clean.bvp, mixed.bvp) and np.array_equal(clean.hr, mixed.hr)
    assert clean.params["drawn"]["subject"] == mixed.params["drawn"]["subject"]
    # Changing the step rate leaves the flicker draw unchanged (separate random streams).
    fewer = clip("mixed", 0, seconds=4.0, size=64, steps_per_minute=30.0)
    drawn, drawn_fewer = mixed.params["drawn"], fewer.params["drawn"]
    assert (
        drawn["illumination"]["flicker_freqs_hz"] == drawn_fewer["illumination"]["flicker_freqs_hz"]
    )
    assert len(drawn_fewer["illumination"]["step_times_s"]) == 2  # 30 /min x 4 s
    assert np.array_equal(mixed.motion, fewer.motion)


def test_subjects_differ_between_seeds():
    subjects = [clip("clean", s, seconds=1.0, size=64).params["drawn"]["subject"] for s in range(6)]
    for key in ("hr_mean_bpm", "br_mean_bpm", "melanin", "face_width_fraction", "exposure"):
        values = [s[key] for s in subjects]
        assert len(set(values)) == len(values), key
    backgrounds = [
        clip("clean", s, seconds=1.0, size=64).frames[0, :8, :8].mean() for s in range(6)
    ]
    assert np.ptp(backgrounds) > 20  # background colour changes with the seed


# ---------------------------------------------------------------- physiology


@pytest.mark.parametrize("seed", SEEDS)
def test_clean_skin_spectrum_peaks_at_the_true_heart_rate(seed):
    c = clip("clean", seed)
    green = skin_green(c)
    estimate = heart_rate(detrend(green, lam=100.0), c.fps)
    assert abs(estimate - c.hr.mean()) < 2.0, (estimate, c.hr.mean())
    assert pulse_snr(green, c) > 0.0


@pytest.mark.parametrize("seed", SEEDS)
def test_no_pulse_has_no_heart_rate_on_the_face(seed):
    assert pulse_snr(skin_green(clip("no_pulse", seed)), clip("no_pulse", seed)) < -3.0
    assert pulse_snr(skin_green(clip("clean", seed)), clip("clean", seed)) > 0.0


def test_no_pulse_differs_from_clean_only_on_skin():
    clean, flat = clip("clean", 1), clip("no_pulse", 1)
    assert np.array_equal(clean.bvp, flat.bvp)  # the true pulse is kept, only not shown
    diff = np.any(clean.frames != flat.frames, axis=-1)  # same noise: only the pulse differs
    assert not diff[:, background_mask(clean)].any()
    assert not diff[:, : clean.face_box[:, 1].min() - 2].any()  # hair and background above
    assert diff[clean.skin_mask].mean() > 0.2


def test_pulse_darkens_skin_along_the_pulsatile_colour_direction():
    # No noise, no illumination change, no head motion: skin colour = D (1 - A u w bvp).
    amplitude = 0.01
    c = clip("clean", 2, seconds=10.0, pulse_amplitude=amplitude, noise_std=0.0, illum_drift=0.0,
             breathing_motion=0.0, specular_strength=0.0)  # fmt: skip
    mask = c.skin_mask[0]
    assert all(np.array_equal(m, mask) for m in c.skin_mask)
    rgb = c.frames[:, mask].astype(np.float64).mean(axis=1)  # (T, 3)
    slopes = np.array([np.polyfit(c.bvp, rgb[:, k] / rgb[:, k].mean(), 1)[0] for k in range(3)])
    # More blood, less light: negative, at most A (perfusion weight <= 1), at least 0.27 A.
    assert (slopes < 0).all()
    assert -amplitude <= slopes[1] <= -0.27 * amplitude
    expected = np.array([0.33, 0.77, 0.53]) / 0.77
    np.testing.assert_allclose(slopes / slopes[1], expected, rtol=0.1)
    assert np.corrcoef(c.bvp, rgb[:, 1])[0, 1] < -0.99


def test_ground_truth_rates_match_the_waveforms():
    c = clip("clean", 4, seconds=60.0, size=64)
    # Breathing: the respiration waveform's spectral peak is the mean breathing rate.
    assert abs(breathing_rate(c.resp, c.fps) - c.br.mean()) < 1.0
    # Heart: one systolic peak per beat of the integrated HR phase.
    peaks, _ = find_peaks(c.bvp, distance=int(c.fps * 60 / 160), prominence=1.0)
    beats = np.sum(c.hr) / c.fps / 60.0
    assert abs(len(peaks) - beats) <= 1.5
    # HR and BR vary (drift, variability, RSA) within the physiological limits.
    assert 0.5 < c.hr.std() and 45 <= c.hr.min() and c.hr.max() <= 150
    assert 8 <= c.br.min() and c.br.max() <= 30


def test_rates_stay_within_physiological_limits():
    # Means at the limits with strong variability: half the samples would cross, and are clipped.
    wild = {"hr_drift_bpm": 10.0, "hrv_bpm": 10.0, "rsa_bpm": 10.0, "br_drift_bpm": 5.0}
    high = generate("clean", seconds=30.0, size=64, seed=1, hr_mean_bpm=150.0, br_mean_bpm=30.0,
                    **wild)  # fmt: skip
    low = generate("clean", seconds=30.0, size=64, seed=1, hr_mean_bpm=45.0, br_mean_bpm=8.0,
                   **wild)  # fmt: skip
    assert high.hr.max() == 150.0 and low.hr.min() == 45.0  # fast variability crosses both
    # BR varies slowly (a near-constant offset over 30 s): it crosses one limit or the other.
    assert (high.br == 30.0).any() or (low.br == 8.0).any()
    for c in (high, low):
        assert (
            45.0 <= c.hr.min() and c.hr.max() <= 150.0 and 8.0 <= c.br.min() <= c.br.max() <= 30.0
        )
    # The pulse still has one beat per cycle at the limits.
    peaks, _ = find_peaks(high.bvp, distance=int(high.fps * 60 / 160), prominence=1.0)
    assert abs(len(peaks) - np.sum(high.hr) / high.fps / 60.0) <= 1.5


# ---------------------------------------------------------------- shared corruption


@pytest.mark.parametrize("seed", SEEDS)
def test_background_has_no_pulse_in_clean(seed):
    c = clip("clean", seed)
    assert pulse_snr(background_mean(c), c) < -3.0
    assert pulse_snr(skin_green(c), c) - pulse_snr(background_mean(c), c) > 6.0


@pytest.mark.parametrize("seed", SEEDS)
def test_background_carries_the_illumination_flicker(seed):
    c = clip("illumination", seed)
    freqs_bpm = 60 * np.array(c.params["drawn"]["illumination"]["flicker_freqs_hz"])
    # The first flicker lies in the HR band, away from the pulse.
    assert 42 <= freqs_bpm[0] <= 150 and abs(freqs_bpm[0] - c.hr.mean()) >= 9.0
    # The background's strongest HR-band frequency is an injected flicker (the other one may be
    # in band too), and the face's is the same: the flicker beats the pulse, hence denoising.
    bg_peak = heart_rate(detrend(background_mean(c), lam=100.0), c.fps)
    assert np.abs(freqs_bpm - bg_peak).min() < 1.0, (bg_peak, freqs_bpm)
    face_peak = heart_rate(detrend(skin_green(c), lam=100.0), c.fps)
    assert abs(face_peak - bg_peak) < 1.0, (face_peak, bg_peak)
    # The background's mean follows the applied gain (it multiplies face and background alike).
    for channel in range(3):
        r = np.corrcoef(background_mean(c, channel), c.illumination[:, channel])[0, 1]
        assert r > 0.99, (channel, r)


def test_illumination_multiplies_every_pixel_per_channel():
    knobs = {"noise_std": 0.0, "seconds": 5.0}
    lit = clip("illumination", 1, **knobs)
    flat = clip("illumination", 1, illum_drift=0.0, flicker_amplitude=0.0, steps_per_minute=0.0,
                **knobs)  # fmt: skip
    assert np.array_equal(flat.illumination, np.ones_like(flat.illumination))
    ok = (flat.frames > 40) & (flat.frames < 200) & (lit.frames < 250)
    for t in range(0, len(lit.frames), 15):
        for k in range(3):
            ratio = lit.frames[t, ..., k][ok[t, ..., k]] / flat.frames[t, ..., k][ok[t, ..., k]]
            assert abs(np.median(ratio) - lit.illumination[t, k]) < 0.01


def test_steps_are_sudden():
    c = clip("illumination", 0, seconds=20.0, size=64, flicker_amplitude=0.0, illum_drift=0.0)
    times = c.params["drawn"]["illumination"]["step_times_s"]
    assert len(times) == 2  # 6 /min x 20 s
    jumps = np.abs(np.diff(c.illumination, axis=0)).max(axis=1)
    frames_with_jumps = np.flatnonzero(jumps > 0.01)
    np.testing.assert_array_equal(frames_with_jumps + 1, np.ceil(np.array(times) * c.fps))


def test_head_motion_moves_box_and_skin_together():
    c = clip("motion", 0, seconds=10.0)
    dx, dy, rotation, scale = c.motion.T
    assert dx.std() > 1.0 and rotation.std() > 1.0 and scale.std() > 0.01
    centre_x = c.face_box[:, 0] + (c.face_box[:, 2] - 1) / 2
    centre_y = c.face_box[:, 1] + (c.face_box[:, 3] - 1) / 2
    rest_x, rest_y = c.params["drawn"]["subject"]["face_center_px"]
    np.testing.assert_allclose(centre_x, rest_x + dx, atol=0.8)  # integer box: rounding only
    np.testing.assert_allclose(centre_y, rest_y + dy, atol=0.8)
    np.testing.assert_allclose(c.face_box[:, 2] / c.face_box[0, 2], scale / scale[0], atol=0.05)
    cols = np.arange(c.frames.shape[2])
    skin_x = np.array([(m.sum(axis=0) * cols).sum() / m.sum() for m in c.skin_mask])
    assert np.corrcoef(skin_x, dx)[0, 1] > 0.9


@pytest.mark.parametrize(("scenario", "seed"), [("clean", 0), ("clean", 5), ("motion", 1),
                                                ("mixed", 2)])  # fmt: skip
def test_haar_cascade_finds_the_face_box(scenario, seed):
    c = clip(scenario, seed, seconds=10.0, size=128)
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    assert not cascade.empty()
    found = []
    for t in range(0, len(c.frames), 15):
        gray = cv2.cvtColor(c.frames[t], cv2.COLOR_RGB2GRAY)
        boxes = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5)
        found.append(max((iou(b, c.face_box[t]) for b in boxes), default=0.0))
    found = np.array(found)
    assert (found > 0.5).mean() >= 0.8, found
    width = c.face_box[:, 2] / c.frames.shape[2]
    assert (width >= 0.3).all() and (width <= 0.6).all()  # background stays in an enlarged crop


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"scenario": "sunny"}, "scenario"),
        ({"flicker_hz": 1.0}, "flicker_hz"),
        ({"seconds": 0.0}, "seconds"),
        ({"seconds": -1.0}, "seconds"),
        ({"seconds": float("nan")}, "seconds"),
        ({"fps": 0.0}, "fps"),
        ({"fps": -30.0}, "fps"),
        ({"fps": 3.0}, "fps"),
        ({"size": 32}, "size"),
        ({"size": 100.5}, "size"),
        ({"seed": -1}, "seed"),
        ({"seconds": 0.01}, "seconds"),
        ({"pulse_amplitude": -0.1}, "pulse_amplitude"),
        ({"hr_mean_bpm": 200.0}, "hr_mean_bpm"),
        ({"hr_mean_range_bpm": (90.0, 60.0)}, "hr_mean_range_bpm"),
        ({"flicker_freqs_hz": [16.0]}, "flicker_freqs_hz"),
        ({"flicker_count": 1.5}, "flicker_count"),
        ({"noise_std": "high"}, "noise_std"),
    ],
)
def test_bad_arguments_raise_naming_the_parameter(kwargs, match):
    with pytest.raises(ValueError, match=match):
        generate(**{"seconds": 1.0, "size": 64, **kwargs})


def test_scenario_params_rejects_unknown_names():
    with pytest.raises(ValueError, match="scenario"):
        scenario_params("noisy")
    with pytest.raises(ValueError, match="wobble"):
        scenario_params("clean", wobble=1.0)
    assert set(SCENARIOS) == {"clean", "illumination", "motion", "mixed", "no_pulse"}
