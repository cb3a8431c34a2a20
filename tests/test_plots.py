"""Figure functions of rppg_lib.plots: what they draw, their labels (units), and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from rppg_lib import plots

FS = 30.0
T = np.arange(300) / FS
PULSE = np.sin(2 * np.pi * 1.2 * T)  # 72 bpm


def _labels(ax) -> tuple[str, str]:
    return ax.get_xlabel(), ax.get_ylabel()


def test_plot_frames_draws_one_axes_per_frame_with_boxes_and_mask_contours():
    frames = np.zeros((3, 40, 50, 3), dtype=np.uint8)
    masks = np.zeros((3, 40, 50), dtype=bool)
    masks[:, 10:20, 10:30] = True
    fig = plots.plot_frames(frames, boxes=[(5, 6, 20, 20)] * 3, masks=masks,
                            titles=["a", "b", "c"])
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3
    assert [ax.get_title() for ax in fig.axes] == ["a", "b", "c"]
    rects = [p for p in fig.axes[0].patches if isinstance(p, Rectangle)]
    assert len(rects) == 1 and rects[0].get_width() == 20
    assert len(fig.axes[0].collections) >= 1  # the mask contour


def test_plot_frames_wraps_into_rows_and_rejects_bad_input():
    fig = plots.plot_frames(np.zeros((7, 8, 8, 3)), columns=3)
    assert len(fig.axes) == 9  # 3 rows of 3, the last two blank
    partial = plots.plot_frames(np.zeros((2, 8, 8, 3)), boxes=[None, (1, 1, 3, 3)],
                                masks=[None, np.ones((8, 8), bool)])
    assert len(partial.axes[0].patches) == 0 and len(partial.axes[1].patches) == 1
    with pytest.raises(ValueError, match="frames is empty"):
        plots.plot_frames([])
    with pytest.raises(ValueError, match=r"frames\[0\] must have shape \(H, W, 3\)"):
        plots.plot_frames([np.zeros((8, 8))])
    with pytest.raises(ValueError, match="boxes has 1 entries for 2 frames"):
        plots.plot_frames(np.zeros((2, 8, 8, 3)), boxes=[(0, 0, 2, 2)])
    with pytest.raises(ValueError, match=r"masks\[0\] has shape \(4, 4\)"):
        plots.plot_frames(np.zeros((1, 8, 8, 3)), masks=np.zeros((1, 4, 4), bool))


def test_plot_network_inputs_one_column_per_frame_rows_scaled():
    rng = np.random.default_rng(1)
    crops = rng.uniform(size=(3, 34, 34, 3))
    appearance = rng.normal(size=(3, 36, 36, 3))
    motion = 3 * rng.normal(size=(3, 36, 36, 3))
    fig = plots.plot_network_inputs(crops, appearance, motion, times=[0.0, 1.0, 2.0])
    axes = np.array(fig.axes).reshape(3, 3)
    assert [ax.get_ylabel() for ax in axes[:, 0]] == ["crop", "appearance A", "motion D"]
    assert [ax.get_title() for ax in axes[0]] == ["0.00 s", "1.00 s", "2.00 s"]
    shown = np.stack([ax.get_images()[0].get_array() for ax in axes[2]])
    assert shown.min() == pytest.approx(0.0) and shown.max() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="motion D has 2 frames, crop has 3"):
        plots.plot_network_inputs(crops, appearance, motion[:2])
    with pytest.raises(ValueError, match=r"appearance A must have shape \(N, h, w, 3\)"):
        plots.plot_network_inputs(crops, appearance[..., 0], motion)


def test_plot_signals_one_line_per_signal_and_stacked_axes():
    fig = plots.plot_signals(T, {"bvp": PULSE, "resp": 0.5 * PULSE}, ylabel="a.u.", title="x")
    (ax,) = fig.axes
    assert len(ax.lines) == 2
    assert _labels(ax) == ("time (s)", "a.u.")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["bvp", "resp"]
    stacked = plots.plot_signals(T, {"a": PULSE, "b": PULSE, "c": PULSE}, stacked=True)
    assert len(stacked.axes) == 3 and all(len(ax.lines) == 1 for ax in stacked.axes)
    units = plots.plot_signals(T, {"bvp": PULSE, "HR": 70 + PULSE}, stacked=True,
                               ylabel={"bvp": "a.u.", "HR": "bpm"})
    assert [ax.get_ylabel() for ax in units.axes] == ["bvp\n(a.u.)", "HR\n(bpm)"]
    with pytest.raises(ValueError, match=r"ylabel has no unit for \['HR'\]"):
        plots.plot_signals(T, {"bvp": PULSE, "HR": PULSE}, stacked=True, ylabel={"bvp": "a.u."})
    z = plots.plot_signals(T, {"a": 5 + 3 * PULSE}, standardize=True)
    y = z.axes[0].lines[0].get_ydata()
    assert abs(np.mean(y)) < 1e-12 and np.std(y) == pytest.approx(1.0)


def test_plot_signals_rejects_mismatched_lengths_and_empty_input():
    with pytest.raises(ValueError, match=r"signals\['a'\] has 10 samples, t has 300"):
        plots.plot_signals(T, {"a": np.zeros(10)})
    with pytest.raises(ValueError, match="non-empty mapping"):
        plots.plot_signals(T, {})


def test_plot_spectra_peaks_at_the_signal_rate_in_bpm_with_markers():
    fig = plots.plot_spectra({"pulse": PULSE}, FS, markers={"HR": 72.0})
    (ax,) = fig.axes
    assert _labels(ax) == ("frequency (bpm)", "power (normalised)")
    line = ax.lines[0]
    x, y = line.get_xdata(), line.get_ydata()
    assert x[np.argmax(y)] == pytest.approx(72.0, abs=0.5)
    assert y.max() == pytest.approx(1.0)
    marker = ax.lines[1]
    assert list(marker.get_xdata()) == [72.0, 72.0]
    with pytest.raises(ValueError, match="band"):
        plots.plot_spectra({"pulse": PULSE}, FS, band=(0.7, 20.0))
    with pytest.raises(ValueError, match="xlim_bpm"):
        plots.plot_spectra({"pulse": PULSE}, FS, xlim_bpm=(100, 50))


def test_plot_training_history_from_rows_and_log_csv(tmp_path):
    rows = [
        {"epoch": 1, "train_loss": 1.0, "val_loss": 1.2, "val_hr_mae": 9.0},
        {"epoch": 2, "train_loss": 0.6, "val_loss": 0.9, "val_hr_mae": 3.0},
    ]
    fig = plots.plot_training_history(rows)
    loss_ax, hr_ax = fig.axes
    assert len(loss_ax.lines) == 2
    assert _labels(loss_ax) == ("epoch", "MSE loss (a.u.)")
    assert hr_ax.get_ylabel() == "validation HR MAE (bpm)"
    assert list(hr_ax.lines[0].get_ydata()) == [9.0, 3.0]
    path = tmp_path / "log.csv"
    pd.DataFrame(rows).drop(columns=["val_loss", "val_hr_mae"]).to_csv(path, index=False)
    only_train = plots.plot_training_history(path)
    assert len(only_train.axes) == 1 and len(only_train.axes[0].lines) == 1
    with pytest.raises(FileNotFoundError, match="training log not found"):
        plots.plot_training_history(tmp_path / "none.csv")
    with pytest.raises(ValueError, match="lacks the column 'train_loss'"):
        plots.plot_training_history([{"epoch": 1}])


def test_plot_prediction_standardizes_both_and_puts_rates_in_the_legend():
    fig = plots.plot_prediction(T, 10 * PULSE + 3, PULSE, hr_estimate=71.96, hr_reference=72.0)
    (ax,) = fig.axes
    assert _labels(ax) == ("time (s)", "pulse (z-score)")
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts == ["ground truth (72.0 bpm)", "estimate (72.0 bpm)"]
    est, ref = ax.lines[1].get_ydata(), ax.lines[0].get_ydata()
    np.testing.assert_allclose(est, ref, atol=1e-12)
    with pytest.raises(ValueError, match="has 5 samples, t has 300"):
        plots.plot_prediction(T, PULSE, PULSE[:5])


def test_plot_bland_altman_draws_bias_and_limits():
    est = np.array([70.0, 82.0, 91.0, 60.0])
    ref = np.array([71.0, 80.0, 90.0, 62.0])
    fig = plots.plot_bland_altman(est, ref, label="TS-CAN")
    (ax,) = fig.axes
    diff = est - ref
    bias, sd = diff.mean(), diff.std(ddof=1)
    levels = sorted(line.get_ydata()[0] for line in ax.lines if len(line.get_ydata()) == 2)
    np.testing.assert_allclose(levels, [bias - 1.96 * sd, bias, bias + 1.96 * sd])
    np.testing.assert_allclose(ax.collections[0].get_offsets()[:, 1], diff)
    assert _labels(ax) == ("mean of estimate and reference (bpm)", "estimate − reference (bpm)")
    with pytest.raises(ValueError, match="same length"):
        plots.plot_bland_altman(est, ref[:3])


def test_plot_hr_scatter_one_series_per_method_with_identity():
    table = pd.DataFrame({
        "method": ["A", "A", "B"], "hr_estimate": [70.0, 80.0, 95.0],
        "hr_reference": [71.0, 80.0, 90.0],
    })
    fig = plots.plot_hr_scatter(table)
    (ax,) = fig.axes
    assert len(ax.collections) == 2
    assert _labels(ax) == ("reference HR (bpm)", "estimated HR (bpm)")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["identity", "A", "B"]
    single = plots.plot_hr_scatter(table.drop(columns="method"))
    assert len(single.axes[0].collections) == 1
    with pytest.raises(ValueError, match="lacks the column 'hr_reference'"):
        plots.plot_hr_scatter(table.drop(columns="hr_reference"))
    with pytest.raises(ValueError, match="no row with a finite"):
        plots.plot_hr_scatter(table.assign(hr_estimate=np.nan))


def test_plot_corruption_three_channels_with_and_without_injected():
    rng = np.random.default_rng(0)
    est, inj = rng.normal(size=(300, 3)), rng.normal(size=(300, 3))
    fig = plots.plot_corruption(T, est, inj, title="s01")
    assert len(fig.axes) == 3
    assert all(len(ax.lines) == 2 for ax in fig.axes)
    assert [ax.get_ylabel() for ax in fig.axes] == ["R (z-score)", "G (z-score)", "B (z-score)"]
    assert fig.axes[-1].get_xlabel() == "time (s)"
    alone = plots.plot_corruption(T, est)
    assert all(len(ax.lines) == 1 for ax in alone.axes)
    with pytest.raises(ValueError, match=r"estimates must have shape \(300, 3\)"):
        plots.plot_corruption(T, est[:, :2])
    with pytest.raises(ValueError, match="injected must have shape"):
        plots.plot_corruption(T, est, inj[:100])
