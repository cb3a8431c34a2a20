"""rppg_lib.steps.synthetic_data: skin and background of synthetic clips, the premise of inverse
attention."""

from __future__ import annotations

import numpy as np
import pytest

from rppg_lib.datasets import build_synthetic_dataset, load_skin_masks
from rppg_lib.steps.synthetic_data import (
    background_masks,
    flicker_bpm,
    premise_table,
    skin_background_rgb,
    snapshot,
)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """One subject, clean and illumination, 10 s at 64 px."""
    root = tmp_path_factory.mktemp("premise")
    data = build_synthetic_dataset(root, subjects=1, scenarios=["clean", "illumination"],
                                   seconds=10.0, fps=30.0, size=64, seed=0, progress=False)
    return {clip.task: clip for clip in data}


def test_background_masks_leave_out_skin_and_the_enlarged_box():
    skin = np.zeros((1, 10, 10), dtype=bool)
    skin[0, 2:4, 2:4] = True
    skin[0, 8, 8] = True  # skin outside the box stays out too
    plain = background_masks(skin, np.array([[2, 2, 2, 2]]), box_scale=1.0)
    assert plain.sum() == 100 - 4 - 1
    assert not plain[0, 2:4, 2:4].any() and not plain[0, 8, 8]
    wide = background_masks(skin, np.array([[2, 2, 2, 2]]), box_scale=2.0)
    assert not wide[0, 1:5, 1:5].any()  # side 4 about the centre (3, 3)
    assert wide.sum() == 100 - 16 - 1


def test_background_masks_reject_bad_input():
    skin = np.zeros((2, 10, 10), dtype=bool)
    with pytest.raises(ValueError, match=r"face_boxes must have shape \(2, 4\)"):
        background_masks(skin, np.zeros((1, 4)))
    with pytest.raises(ValueError, match="frame 0: no background pixel"):
        background_masks(skin, np.array([[0, 0, 10, 10]] * 2), box_scale=1.0)
    with pytest.raises(ValueError, match="box_scale must be a positive"):
        background_masks(skin, np.array([[0, 0, 2, 2]] * 2), box_scale=0)


def test_snapshot_returns_the_frame_its_box_and_skin(clips):
    clip = clips["clean"]
    shot = snapshot(clip, 7)
    np.testing.assert_array_equal(shot.frame, clip.read_frames()[7])
    assert shot.time == pytest.approx(7 / 30.0)
    assert shot.box == tuple(int(v) for v in clip.face_boxes[7])
    np.testing.assert_array_equal(shot.skin, load_skin_masks(clip)[7])
    assert snapshot(clip).time == pytest.approx(150 / 30.0)  # the middle frame by default
    with pytest.raises(ValueError, match=r"index must be in \[0, 300\)"):
        snapshot(clip, 300)


def test_flicker_bpm_lists_the_injected_flicker(clips):
    assert flicker_bpm(clips["clean"]) == []
    rates = flicker_bpm(clips["illumination"])
    drawn = clips["illumination"].extra["generator_params"]["drawn"]["illumination"]
    assert rates == pytest.approx([60.0 * f for f in drawn["flicker_freqs_hz"]])
    assert 42.0 <= rates[0] <= 150.0  # the first flicker lies in the heart-rate band


def test_skin_background_rgb_are_the_masked_means(clips):
    clip = clips["illumination"]
    means = skin_background_rgb(clip)
    assert means.skin.shape == means.background.shape == (300, 3)
    frame, skin = clip.read_frames()[0].astype(np.float64), load_skin_masks(clip)[0]
    np.testing.assert_allclose(means.skin[0], frame[skin].mean(axis=0))
    background = background_masks(load_skin_masks(clip)[:1], clip.face_boxes[:1])[0]
    np.testing.assert_allclose(means.background[0], frame[background].mean(axis=0))


def test_premise_table_skin_finds_the_pulse_when_clean_background_follows_illumination(clips):
    table = premise_table(clips.values(), progress=False).set_index("scenario")
    assert list(table.columns) == [
        "clip_id", "subject", "hr_reference", "hr_skin_green", "skin_hr_error",
        "r_background_illumination", "r_background_illumination_band",
        "r_skin_illumination", "r_skin_illumination_band",
    ]
    assert table.loc["clean", "skin_hr_error"] < 3.0
    # the background carries the injected in-band flicker almost exactly
    assert table.loc["illumination", "r_background_illumination_band"] > 0.95
    assert table.loc["illumination", "r_background_illumination"] > 0.9
    with pytest.raises(ValueError, match="clips is empty"):
        premise_table([], progress=False)
