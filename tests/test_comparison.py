"""Methods comparison over clips (rppg_lib.steps.evaluation): face boxes and colour, every method's
signal per clip, windowed HR/BR evaluation and per-scenario summaries,
with known answers on constructed clips."""

from __future__ import annotations

import numpy as np
import pytest
from study_clips import FS, estimates_for, face_clip, gt_clip

from rppg_lib.evaluation_protocols import summarize_by_scenario
from rppg_lib.steps.evaluation import (
    ClipSignals,
    bland_altman_table,
    clip_signals,
    collect_signals,
    evaluate_methods,
    face_boxes,
    face_rgb_means,
    method_labels,
)


def test_face_boxes_shrink_crop_boxes_back_about_their_centre():
    crop = np.array([[10, 20, 90, 90], [0, 0, 36, 36]])
    # side 90 / 1.8 = 50 about the centre (55, 65); side 36 / 1.8 = 20 about (18, 18)
    np.testing.assert_array_equal(face_boxes(crop, 1.8, "haar"), [[30, 40, 50, 50], [8, 8, 20, 20]])
    np.testing.assert_array_equal(face_boxes(crop, 1.8, "box"), face_boxes(crop, 1.8, "haar"))
    # a centre or whole-frame crop did not start from a face: unchanged
    np.testing.assert_array_equal(face_boxes(crop, 1.8, "center"), crop)
    with pytest.raises(ValueError, match=r"crop_boxes must have shape \(T, 4\)"):
        face_boxes(crop[:, :3], 1.8)
    with pytest.raises(ValueError, match="box_scale"):
        face_boxes(crop, 0.0)


def test_face_rgb_means_average_the_face_box_of_the_original_frames():
    clip, pre, colours = face_clip()
    np.testing.assert_allclose(face_rgb_means(clip, pre), colours)
    pre.boxes = pre.boxes[:-1]
    with pytest.raises(ValueError, match="has 6 frames but its preprocessing has 5 crop boxes"):
        face_rgb_means(clip, pre)


def _clip_signals(clip_id: str, scenario: str, hr_bpm: float = 72.0, seconds: float = 20.0):
    t = np.arange(int(seconds * FS)) / FS
    bvp = np.sin(2 * np.pi * hr_bpm / 60 * t)
    resp = np.sin(2 * np.pi * 0.25 * t)  # 15 breaths/min
    wrong = np.sin(2 * np.pi * (hr_bpm + 18.0) / 60 * t)
    return ClipSignals(
        clip_id=clip_id, subject="s01", scenario=scenario, split="test", fs=FS, bvp=bvp,
        pulse={"perfect": bvp, "wrong": wrong},
        breathing={"perfect": resp + 0.3 * bvp, "wrong": np.sin(2 * np.pi * 0.4 * t)},
        hr=np.full(t.size, hr_bpm), resp=resp, br=np.full(t.size, 15.0),
    )


def test_evaluate_methods_gives_known_errors_per_window_for_hr_and_br():
    result = evaluate_methods([_clip_signals("a", "clean"), _clip_signals("b", "illumination")],
                              window_s=10.0, br_window_s=20.0)
    hr, br = result.hr, result.br
    assert list(hr.columns[:5]) == ["clip_id", "subject", "scenario", "split", "method"]
    assert len(hr) == 2 * 2 * 2 and len(br) == 2 * 2 * 1  # clips x methods x windows
    errors = hr.groupby("method")["abs_error"].mean()
    # 10 s windows, nfft = 4 x 300: bins 0.75 bpm apart, so both HRs fall on bins
    assert errors["perfect"] == pytest.approx(0.0, abs=1e-9)
    assert errors["wrong"] == pytest.approx(18.0, abs=1e-9)
    br_errors = br.groupby("method")["abs_error"].mean()
    assert br_errors["perfect"] == pytest.approx(0.0, abs=0.2)
    assert br_errors["wrong"] == pytest.approx(9.0, abs=0.2)  # 24 vs 15 breaths/min
    assert result.settings["snr_convention"] == "10*log10"
    series = evaluate_methods([_clip_signals("a", "clean", hr_bpm=72.0)], br_window_s=20.0,
                              reference="waveform")
    assert series.hr["hr_reference"].iloc[0] == pytest.approx(72.0, abs=0.75)
    with pytest.raises(ValueError, match="reference must be one of"):
        evaluate_methods([_clip_signals("a", "clean")], reference="median")


def test_summary_per_scenario_keeps_method_order_and_adds_all():
    result = evaluate_methods([_clip_signals("a", "clean"), _clip_signals("b", "illumination")],
                              br_window_s=20.0)
    table = summarize_by_scenario(result.hr)
    assert list(table["scenario"]) == ["clean", "clean", "illumination", "illumination",
                                       "all", "all"]
    assert list(table["method"]) == ["perfect", "wrong"] * 3
    row = table[(table["scenario"] == "all") & (table["method"] == "wrong")].iloc[0]
    assert row["mae"] == pytest.approx(18.0) and row["n"] == 4
    assert row["mape"] == pytest.approx(25.0)  # 18 / 72
    ba = bland_altman_table(result.hr).set_index("method")
    assert ba.loc["wrong", "bias"] == pytest.approx(18.0) and ba.loc["wrong", "n"] == 4


def test_clip_signals_gathers_every_method_with_labels_and_references():
    n = 300
    clip, est = gt_clip(n), estimates_for(n)
    _, pre, _ = face_clip(n)
    # face colour varies over frames so the baselines have something to work on
    denoised = {"rgb_pulse": np.sin(np.arange(n) / 5.0), "pulse": np.cos(np.arange(n) / 5.0)}
    item = clip_signals(clip, pre, est, denoised, baselines=("green", "POS"))
    labels = method_labels("TS-CAN")
    assert list(item.pulse) == [labels["network"], labels["rgb+pulse"], labels["pulse"],
                                "GREEN", "POS"]
    np.testing.assert_array_equal(item.pulse["TS-CAN"], est.pulse_conditioned)
    np.testing.assert_array_equal(item.breathing["TS-CAN"], est.pulse_raw)
    np.testing.assert_array_equal(item.pulse[labels["rgb+pulse"]], denoised["rgb_pulse"])
    assert item.scenario == "illumination" and item.split == "test" and item.fs == FS
    np.testing.assert_allclose(item.hr, 72.0)
    np.testing.assert_allclose(item.br, 15.0)
    resp_d = np.gradient(np.sin(2 * np.pi * 0.3 * np.arange(n) / FS))
    with_resp = clip_signals(clip, pre, est, baselines=(), resp_derivative=resp_d)
    np.testing.assert_allclose(with_resp.breathing["TS-CAN"], np.cumsum(resp_d))
    assert list(with_resp.pulse) == ["TS-CAN"]
    with pytest.raises(ValueError, match="has 300 frames, its estimates 200"):
        clip_signals(clip, pre, estimates_for(200), baselines=())
    with pytest.raises(ValueError, match="denoised key 'lstm'"):
        clip_signals(clip, pre, est, {"lstm": np.ones(n)}, baselines=())
    with pytest.raises(ValueError, match="baselines entry"):
        clip_signals(clip, pre, est, baselines=("PCA",))


def test_collect_signals_follows_the_clip_order_and_names_missing_clips():
    n = 300
    clips = [gt_clip(n, "a"), gt_clip(n, "b")]
    _, pre, _ = face_clip(n)
    est = estimates_for(n)
    items = collect_signals(clips, {"a": pre, "b": pre}, {"a": est, "b": est},
                            {"b": {"pulse": np.ones(n)}}, baselines=(), progress=False)
    assert [i.clip_id for i in items] == ["a", "b"]
    assert list(items[0].pulse) == ["TS-CAN"]
    assert list(items[1].pulse) == ["TS-CAN", "TS-CAN + LSTM (pulse only)"]
    with pytest.raises(KeyError, match="clip b is not in estimates"):
        collect_signals(clips, {"a": pre, "b": pre}, {"a": est}, baselines=(), progress=False)
