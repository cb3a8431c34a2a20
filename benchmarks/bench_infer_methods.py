"""Sliding-window heart-rate MAE of ``rppg infer`` on the test clips of the default run, per
method: the default network (:data:`~rppg_lib.video_inference.DEFAULT_MODEL`), POS, CHROM, GREEN
and ICA on the skin of the face box, and an earlier ``rppg infer`` (the ``infer_video`` of
--baseline, which ran the PURE TS-CAN and read the colour from the network crop).

The clips are those of ``params/default.yaml`` (8 synthetic subjects x clean, illumination, 20 s,
128 px, 30 fps, seed 0, split 0.5/0.25/0.25 by subject: 2 test subjects, 4 clips), built into
--data (reused when there). Windows of 10 s every 1 s (11 per clip); the reference is the clip's
ground-truth BVP through the same detrend, band-pass and spectral-peak chain (``--ground-truth``).
Prints the MAE (bpm) over all windows and over the windows flagged reliable, with n and a 95 %
bootstrap interval over clips.

Run: ``python benchmarks/bench_infer_methods.py [--data data/synthetic] [--baseline 20433ba]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_infer import baseline_module  # noqa: E402

from rppg_lib.steps.dataset_split import prepare_study  # noqa: E402
from rppg_lib.video_inference import METHODS, default_weights, infer_video  # noqa: E402

WINDOW_S, STEP_S = 10.0, 1.0


def _interval(per_clip: list[np.ndarray], rng: np.random.Generator) -> tuple[float, float]:
    """95 % bootstrap interval of the window MAE, resampling clips."""
    means = []
    for _ in range(2000):
        pick = rng.integers(0, len(per_clip), len(per_clip))
        means.append(np.mean(np.concatenate([per_clip[i] for i in pick])))
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="data/synthetic")
    parser.add_argument("--baseline", default="20433ba", help="commit of an earlier rppg infer")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    study = prepare_study("synthetic", args.data, subjects=8, scenarios=("clean", "illumination"),
                          seconds=20.0, fps=30.0, frame_size=128, seed=0,
                          split_fractions=(0.5, 0.25, 0.25), progress=False)
    weights = default_weights()
    old = baseline_module(args.baseline) if args.baseline else None
    errors: dict[str, list[np.ndarray]] = {}
    reliable_errors: dict[str, list[np.ndarray]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for clip in study.clips("test"):
            video = Path(clip.source)  # <clip>/video.avi, or <clip>/frames/ for PNG storage
            gt = video.parent / "ground_truth.csv"
            fps = None if video.is_file() else clip.fps
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the extra ground-truth columns are ignored
                result = infer_video(video, method="all", ground_truth=gt, fps=fps,
                                     window_s=WINDOW_S, step_s=STEP_S, progress=False)
            ref = result.reference_hr
            for name, r in result.methods.items():
                errors.setdefault(name, []).append(np.abs(r.hr_series - ref))
                reliable_errors.setdefault(name, []).append(np.abs(r.hr_series - ref)[r.reliable])
            if old is not None:
                out = Path(tmp) / f"old_{clip.clip_id}"
                old.infer_video(video, weights, out, fps=fps, window_s=WINDOW_S,
                                step_s=STEP_S, progress=False)
                old_hr = pd.read_csv(out / "heart_rate.csv")["hr_bpm"].to_numpy()
                errors.setdefault("today", []).append(np.abs(old_hr - ref))
            print(f"{clip.clip_id}: " + ", ".join(
                f"{n} {np.mean(e[-1]):.2f}" for n, e in errors.items()))
    rng = np.random.default_rng(0)
    print(f"\nwindow HR MAE (bpm) on the {len(study.clips('test'))} test clips of the default run,"
          f" {WINDOW_S:g} s windows every {STEP_S:g} s; 95 % bootstrap interval over clips")
    print(f"{'method':<26}{'n':>4}{'MAE':>7}{'95% CI':>16}{'n rel.':>8}{'MAE rel.':>10}")
    names = [m for m in METHODS if m in errors] + (["today"] if "today" in errors else [])
    for name in names:
        per_clip = errors[name]
        all_e = np.concatenate(per_clip)
        lo, hi = _interval(per_clip, rng)
        label = {"network": "rppg infer (default)", "today": f"earlier infer ({args.baseline})"}
        line = f"{label.get(name, name):<26}{all_e.size:>4}{all_e.mean():>7.2f}"
        line += f"{f'[{lo:.2f}, {hi:.2f}]':>16}"
        if name in reliable_errors:
            rel = np.concatenate(reliable_errors[name])
            line += f"{rel.size:>8}{(rel.mean() if rel.size else float('nan')):>10.2f}"
        print(line)


if __name__ == "__main__":
    main()
