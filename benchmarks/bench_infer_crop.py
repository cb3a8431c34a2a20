"""Is ``rppg infer``'s flow-tracked face crop not worse than the old held-box crop? Paired per clip.

Synthetic clips (``clean`` and ``illumination``, one subject per seed, 128 px, 30 fps) go through
``infer_video`` with the default model (``DEFAULT_MODEL``) twice: with today's
crop (``tracker="flow"``) and with the earlier one (``tracker="legacy"``: Haar every 30 frames,
the box held in between); everything else is the same code. POS and CHROM run on the flow crop
beside them. Per clip: the MAE (bpm) of the 10 s windows (every 1 s) against the generator's true
heart rate averaged over each window.

The verdict is a non-inferiority test on the mean paired difference (flow − legacy) of the
per-clip MAE, with a 95 % bootstrap interval over clips: the flow crop is not worse when the
interval's upper end is below ``--margin`` (1 bpm by default: a fifth of the ±5 bpm that
ANSI/AAMI EC13 allows a heart-rate monitor, and small beside the window errors of POS and CHROM
on these clips), worse when its lower end is above the margin, undecided otherwise.

Run: ``python benchmarks/bench_infer_crop.py [--seeds 12] [--seconds 20]`` (~20 s per clip on
2 CPU threads: 24 clips in about 8 minutes).
"""

from __future__ import annotations

import argparse
import functools
import tempfile
import warnings
from pathlib import Path
from unittest import mock

import numpy as np
import scipy.stats
import torch

from rppg_lib import video_inference
from rppg_lib.network_inference import load_released_model
from rppg_lib.preprocess import PreprocessConfig
from rppg_lib.synthetic import generate
from rppg_lib.video_io import write_video

FPS, SIZE = 30.0, 128
WINDOW_S, STEP_S = 10.0, 1.0
SCENARIOS = ("clean", "illumination")


def window_truth(hr: np.ndarray, centres: np.ndarray, window_s: float, fps: float) -> np.ndarray:
    """The true heart rate (bpm) of each window: the mean per-frame rate over it."""
    t = np.arange(hr.size) / fps
    return np.array([hr[np.abs(t - c) <= window_s / 2].mean() for c in centres])


def clip_mae(video: Path, hr: np.ndarray, loaded, out: Path, tracker: str) -> dict[str, float]:
    """Window HR MAE (bpm) per method on one clip with the face tracker ``tracker``."""
    methods = ["network", "pos", "chrom"] if tracker == "flow" else ["network"]
    config = functools.partial(PreprocessConfig, tracker=tracker)
    # infer_video builds its PreprocessConfig itself: only the tracker is swapped here
    with mock.patch.object(video_inference, "PreprocessConfig", config), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = video_inference.infer_video(video, loaded, method=methods, window_s=WINDOW_S,
                                             step_s=STEP_S, progress=False)
    return {m: float(np.mean(np.abs(r.hr_series - window_truth(hr, r.hr_times, WINDOW_S, FPS))))
            for m, r in result.methods.items()}


def bootstrap_ci(values: np.ndarray) -> tuple[float, float]:
    """95 % BCa bootstrap interval of the mean of ``values`` (resampling clips)."""
    res = scipy.stats.bootstrap((values,), np.mean, n_resamples=5000, confidence_level=0.95,
                                random_state=np.random.default_rng(0))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=12, help="subjects (one seed each)")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--margin", type=float, default=1.0, help="non-inferiority margin, bpm")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    loaded = load_released_model(video_inference.DEFAULT_MODEL, video_inference.default_weights())
    rows: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            for scenario in SCENARIOS:
                clip = generate(scenario, seconds=args.seconds, fps=FPS, size=SIZE, seed=seed)
                video = Path(tmp) / f"{scenario}_{seed}.avi"
                write_video(video, clip.frames, FPS)
                flow = clip_mae(video, clip.hr, loaded, Path(tmp) / f"f{seed}{scenario}", "flow")
                legacy = clip_mae(video, clip.hr, loaded, Path(tmp) / f"l{seed}{scenario}",
                                  "legacy")
                rows.append({**flow, "legacy": legacy["network"]})
                print(f"seed {seed:>2} {scenario:<13}" + "  ".join(
                    f"{k} {v:6.2f}" for k, v in rows[-1].items()), flush=True)
    report(rows, args)


def report(rows: list[dict[str, float]], args: argparse.Namespace) -> None:
    n = len(rows)
    print(f"\nwindow HR MAE (bpm), {args.seeds} subjects x {SCENARIOS}, {args.seconds:g} s at "
          f"{SIZE} px; {WINDOW_S:g} s windows every {STEP_S:g} s; mean over n = {n} clips, "
          "95 % bootstrap interval over clips")
    labels = {"network": "TS-CAN, flow crop (today)", "legacy": "TS-CAN, legacy crop",
              "pos": "POS, flow crop", "chrom": "CHROM, flow crop"}
    for key, label in labels.items():
        v = np.array([r[key] for r in rows])
        lo, hi = bootstrap_ci(v)
        print(f"  {label:<27} {v.mean():6.2f}  [{lo:.2f}, {hi:.2f}]")
    diff = np.array([r["network"] - r["legacy"] for r in rows])
    lo, hi = bootstrap_ci(diff)
    verdict = ("not worse" if hi < args.margin else
               "worse" if lo > args.margin else "undecided")
    print(f"paired difference flow - legacy: mean {diff.mean():+.2f} bpm [{lo:+.2f}, {hi:+.2f}], "
          f"n = {n}; flow better on {int((diff < 0).sum())}, equal on "
          f"{int((diff == 0).sum())}, worse on {int((diff > 0).sum())} clips")
    print(f"non-inferiority margin {args.margin:g} bpm: {verdict}")
    for scenario in SCENARIOS:
        d = diff[[i % len(SCENARIOS) == SCENARIOS.index(scenario) for i in range(n)]]
        lo, hi = bootstrap_ci(d)
        print(f"  {scenario:<13} n = {d.size:>2}: {d.mean():+.2f} [{lo:+.2f}, {hi:+.2f}]")


if __name__ == "__main__":
    main()
