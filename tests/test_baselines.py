import numpy as np
import pytest

from rppg_lib.baselines import METHODS, pulse_colour_match, spatial_rgb_means, unsupervised_pulse
from rppg_lib.constants import PULSE_RGB
from rppg_lib.signals import heart_rate

FS = 30.0
SKIN_TONE = np.array([0.75, 0.55, 0.45])  # mean skin reflectance, RGB
PULSE_DIRECTION = np.array([0.33, 0.77, 0.53])  # blood absorption signature, RGB


def _skin_traces(hr_bpm: float, seconds: float, flicker_hz: float | None, seed: int) -> np.ndarray:
    """Mean skin colour (T, 3): a 0.5 % pulse along the blood signature under white light.

    With ``flicker_hz``, the light intensity flickers by 2 % (four times the pulse) at that
    frequency, modulating all channels alike, as a lamp would.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * FS)) / FS
    phase = 2 * np.pi * hr_bpm / 60 * t
    pulse = np.sin(phase) + 0.4 * np.sin(2 * phase + 0.8)
    light = 1.0 + 0.01 * np.sin(2 * np.pi * 0.05 * t)
    if flicker_hz is not None:
        light = light + 0.02 * np.sin(2 * np.pi * flicker_hz * t)
    reflectance = SKIN_TONE[None, :] * (1.0 - 0.005 * pulse[:, None] * PULSE_DIRECTION[None, :])
    noise = rng.normal(0, 2e-4, size=(t.size, 3))
    return 200.0 * light[:, None] * reflectance + noise


@pytest.mark.parametrize("method", METHODS)
def test_every_method_finds_the_heart_rate_of_a_clean_skin_trace(method):
    rgb = _skin_traces(hr_bpm=72.0, seconds=30.0, flicker_hz=None, seed=1)
    pulse = unsupervised_pulse(method, rgb, FS)
    assert pulse.shape == (rgb.shape[0],)
    assert heart_rate(pulse, FS) == pytest.approx(72.0, abs=1.0)


@pytest.mark.parametrize("method", ["CHROM", "POS"])
def test_chrominance_methods_reject_white_light_flicker_that_fools_green(method):
    # 1.5 Hz (90 bpm) flicker, inside the HR band and stronger than the pulse
    rgb = _skin_traces(hr_bpm=66.0, seconds=30.0, flicker_hz=1.5, seed=2)
    assert heart_rate(unsupervised_pulse("GREEN", rgb, FS), FS) == pytest.approx(90.0, abs=1.0)
    assert heart_rate(unsupervised_pulse(method, rgb, FS), FS) == pytest.approx(66.0, abs=1.0)


def test_spatial_means_of_box_and_mask_regions():
    frames = np.zeros((2, 4, 6, 3), dtype=np.uint8)
    frames[:, 1:3, 2:5] = [10, 20, 30]
    boxes = np.array([[2, 1, 3, 2], [2, 1, 3, 2]])
    np.testing.assert_allclose(spatial_rgb_means(frames, boxes=boxes), [[10, 20, 30]] * 2)
    masks = frames[..., 0] > 0
    np.testing.assert_allclose(spatial_rgb_means(frames, masks=masks), [[10, 20, 30]] * 2)
    whole = spatial_rgb_means(frames)
    np.testing.assert_allclose(whole[0], np.array([10, 20, 30]) * 6 / 24)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="method"):
        unsupervised_pulse("LGI", np.ones((300, 3)), FS)
    with pytest.raises(ValueError, match=r"rgb has shape \(300, 4\)"):
        unsupervised_pulse("POS", np.ones((300, 4)), FS)
    with pytest.raises(ValueError, match="at least 1.6 s"):
        unsupervised_pulse("POS", np.ones((20, 3)), FS)
    with pytest.raises(ValueError, match="fs"):
        unsupervised_pulse("GREEN", np.ones((300, 3)), 0.0)
    rgb = np.ones((300, 3))
    rgb[5, 1] = np.nan
    with pytest.raises(ValueError, match="rgb"):
        unsupervised_pulse("CHROM", rgb, FS)
    frames = np.zeros((3, 4, 4, 3))
    with pytest.raises(ValueError, match="frame 0 contains no pixels"):
        spatial_rgb_means(frames, masks=np.zeros((3, 4, 4), dtype=bool))
    with pytest.raises(ValueError, match="boxes has 2 rows"):
        spatial_rgb_means(frames, boxes=np.array([[0, 0, 2, 2]] * 2))


# --- pulse_colour_match: does the colour change at a rate look like blood or like light? ---

FS_COLOUR = 30.0
T_COLOUR = np.arange(300) / FS_COLOUR  # one 10 s window
SKIN = np.array([150.0, 110.0, 90.0])


def _skin(change: np.ndarray) -> np.ndarray:
    """(T, 3) skin colour whose relative change per channel is ``change`` (T, 3), plus noise."""
    noise = np.random.default_rng(0).normal(0.0, 0.02, (T_COLOUR.size, 3))
    return SKIN * (1.0 + change) + noise


def test_a_pulse_matches_the_blood_colour_and_light_does_not():
    blood = np.array(PULSE_RGB)
    pulse = -0.004 * np.sin(2 * np.pi * 1.2 * T_COLOUR)[:, None] * blood  # blood darkens skin
    assert pulse_colour_match(_skin(pulse), FS_COLOUR, 72.0) > 0.95
    grey = 0.01 * np.sin(2 * np.pi * 1.2 * T_COLOUR)[:, None] * np.ones(3)
    assert pulse_colour_match(SKIN * (1.0 + grey), FS_COLOUR, 72.0) == 0.0  # brightness only
    reference = blood - blood.mean()
    across = np.cross(reference, np.ones(3))  # a tint neither grey nor blood-like
    tint = 1.0 + 0.2 * across / np.linalg.norm(across)
    tinted = 0.01 * np.sin(2 * np.pi * 1.2 * T_COLOUR)[:, None] * tint
    assert abs(pulse_colour_match(_skin(tinted), FS_COLOUR, 72.0)) < 0.1
    opposite = 0.01 * np.sin(2 * np.pi * 1.2 * T_COLOUR)[:, None] * (1.0 - 0.5 * reference)
    assert pulse_colour_match(_skin(opposite), FS_COLOUR, 72.0) < -0.95


def test_the_match_reads_the_colour_at_the_rate_asked():
    """A pulse at 66 bpm under a stronger tinted flicker at 108 bpm: blood at one, light at the
    other."""
    pulse = -0.004 * np.sin(2 * np.pi * 1.1 * T_COLOUR)[:, None] * np.array(PULSE_RGB)
    flicker = 0.01 * np.sin(2 * np.pi * 1.8 * T_COLOUR)[:, None] * np.array([1.2, 0.9, 1.0])
    rgb = _skin(pulse + flicker)
    assert pulse_colour_match(rgb, FS_COLOUR, 66.0) > 0.9
    assert pulse_colour_match(rgb, FS_COLOUR, 108.0) < 0.0


def test_a_constant_colour_has_no_match_and_a_bad_rate_is_refused():
    assert np.isnan(pulse_colour_match(np.tile(SKIN, (300, 1)), FS_COLOUR, 72.0))
    with pytest.raises(ValueError, match="rate_bpm"):
        pulse_colour_match(_skin(np.zeros((300, 3))), FS_COLOUR, 0.0)
