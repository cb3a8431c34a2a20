"""Skin masks on the attention grid, the ground-truth skin as an oracle attention, and the skin
share of released TS-CAN masks (rppg_lib.steps.attention_masks)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from keras_synthetic import write_open_rppg_weights

from rppg_lib.attention import crop_skin_masks, skin_fraction, skin_on_mask_grid
from rppg_lib.datasets import load_skin_masks
from rppg_lib.preprocess import PreprocessConfig, preprocess_dataset
from rppg_lib.steps.attention_masks import (
    attention_skin_fraction,
    crops_at,
    oracle_attention,
    released_skin_fraction,
    skin_on_grid,
)
from rppg_lib.steps.inverse_attention_noise import region_correlation_table
from rppg_lib.steps.study import prepare_study
from rppg_lib.weights import load_open_rppg_tscan, open_rppg_inputs


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Three synthetic subjects in the illumination scenario, 6 s (180 frames) at 64 px, cropped
    with the known face box."""
    base = tmp_path_factory.mktemp("skin")
    study = prepare_study(
        "synthetic", base / "data", subjects=3, scenarios=["illumination"], seconds=6.0,
        fps=30.0, frame_size=64, seed=0, split_fractions=(0.34, 0.33, 0.33), progress=False,
    )
    done = preprocess_dataset(study.dataset, PreprocessConfig(size=36, crop="box", chunk_length=60),
                              base / "cache", progress=False)
    return study, {c.clip_id: c for c in done.clips}


def test_skin_on_grid_is_the_cropped_skin_on_each_gate(world):
    study, pre = world
    clip = study.clips("test")[0]
    expected = crop_skin_masks(load_skin_masks(clip), pre[clip.clip_id].boxes, 36)
    gate1 = skin_on_grid(clip, pre[clip.clip_id], "gate1")
    assert gate1.shape == (180, 34, 34)
    np.testing.assert_array_equal(gate1, expected[:, 1:35, 1:35])
    assert skin_on_grid(clip, pre[clip.clip_id], "gate2").shape == (180, 15, 15)
    assert 0.05 < gate1.mean() < 0.6  # a face with background around it


def test_oracle_attention_puts_its_mass_on_skin(world):
    study, pre = world
    oracle = oracle_attention(study.clips(), pre)
    assert sorted(oracle) == sorted(study.clip_ids())
    table = attention_skin_fraction(oracle, study, pre)
    for clip_id, row in table.set_index("clip_id").iterrows():
        skin = skin_on_grid(study.dataset[clip_id], pre[clip_id])
        # sum(s * s) / sum(s) per frame: 1 inside the skin, less only at its fractional edge
        expected = np.mean((skin**2).sum(axis=(1, 2)) / skin.sum(axis=(1, 2)))
        assert row["fraction"] == pytest.approx(expected, rel=1e-3)  # masks are float16
        assert row["fraction"] > 0.8 and row["lift"] > 2.0


def test_oracle_inverse_region_tracks_the_injected_light(world):
    study, pre = world
    clips = study.clips()
    table = region_correlation_table(clips, oracle_attention(clips, pre), pre, kind="binary",
                                     threshold=0.1, mode="inverse_pixels")
    assert len(table) == 3 * len(clips)
    # the inverse region is pure background: its mean colour is the injected gain times a
    # constant, up to sensor noise and 8-bit rounding
    assert table["r_inverse"].min() > 0.9


def test_oracle_attention_needs_the_preprocessed_clip(world):
    study, _ = world
    with pytest.raises(KeyError, match=study.clip_ids()[0]):
        oracle_attention(study.clips(), {})


def test_crops_at_cuts_and_resizes_each_frame(world):
    study, pre = world
    clip = study.clips("train")[0]
    boxes = pre[clip.clip_id].boxes
    crops = crops_at(clip, boxes, 36)
    assert crops.shape == (180, 36, 36, 3) and crops.dtype == np.uint8
    x, y, w, h = boxes[7]
    frame = clip.read_frames()[7][y : y + h, x : x + w].astype(float)
    # area resampling keeps the mean colour of the crop
    np.testing.assert_allclose(crops[7].mean(axis=(0, 1)), frame.mean(axis=(0, 1)), atol=1.0)
    with pytest.raises(ValueError, match="179 boxes for 180 frames"):
        crops_at(clip, boxes[:-1], 36)


def test_released_skin_fraction_matches_the_windowed_network(world, tmp_path):
    study, pre = world
    weights = tmp_path / "TSCAN.pure.weights.h5"
    write_open_rppg_weights(weights, np.random.default_rng(3))
    clip = study.clips("test")[0]
    table = released_skin_fraction([clip], pre, weights, variants=["pure"])
    assert table[["variant", "clip_id", "scenario"]].values.tolist() == [
        ["pure", clip.clip_id, "illumination"]
    ]
    # independently: windows of 160 frames at 0 and 20 (the last ends at frame 180); frames
    # 160-179 come from the second window
    network = load_open_rppg_tscan(weights)
    crops = crops_at(clip, pre[clip.clip_id].boxes, 36)
    with torch.no_grad():
        first = network(torch.from_numpy(open_rppg_inputs(crops[:160])), return_masks=True)[1]
        last = network(torch.from_numpy(open_rppg_inputs(crops[20:])), return_masks=True)[1]
    gate1 = np.concatenate([first["gate1"][:, 0].numpy(), last["gate1"][140:, 0].numpy()])
    skin = skin_on_mask_grid(crop_skin_masks(load_skin_masks(clip), pre[clip.clip_id].boxes, 36))
    expected = skin_fraction(gate1, skin)
    row = table.iloc[0]
    assert row["fraction"] == pytest.approx(expected.fraction, rel=1e-6)
    assert row["chance"] == pytest.approx(expected.chance_mean, rel=1e-9)
    assert row["lift"] == pytest.approx(expected.lift, rel=1e-6)


def test_released_skin_fraction_refuses_bad_input(world, tmp_path):
    study, pre = world
    weights = tmp_path / "TSCAN.pure.weights.h5"
    write_open_rppg_weights(weights, np.random.default_rng(3))
    with pytest.raises(ValueError, match="clips is empty"):
        released_skin_fraction([], pre, weights)
    with pytest.raises(ValueError, match="variant"):
        released_skin_fraction(study.clips("test"), pre, weights, variants=["ubfc"])
    clip = study.clips("test")[0]
    short = clip.subclip(0, 100)
    short_pre = {short.clip_id: SimpleNamespace(boxes=pre[clip.clip_id].boxes[:100])}
    with pytest.raises(ValueError, match="160 samples is longer than the signal"):
        released_skin_fraction([short], short_pre, weights, variants=["pure"])
