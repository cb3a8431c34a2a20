"""Where the confidence thresholds of ``rppg infer`` come from: the peak SNR of every sliding
window, per method, on videos with a pulse (synthetic ``clean`` and ``illumination``) and without
one (``no_pulse``, a blank grey video, uniform noise, a face-less background crop).

Prints, per condition and method: the windows n, their SNR min / median / max (dB), the share
flagged by ``MIN_SNR_DB``, how many clips get a heart rate (``MIN_RELIABLE_SHARE``), and for the
videos with a pulse the window HR error (bpm, against the mean true HR of the window) of the
reliable and of the flagged windows. Run: ``python benchmarks/bench_infer_confidence.py
[--seeds 4] [--seconds 20]`` (20 s clips at 128 px, as the default run; ~15 s per clip).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import cv2
import numpy as np
import torch

from rppg_lib.synthetic import generate
from rppg_lib.video_inference import MIN_RELIABLE_SHARE, MIN_SNR_DB, infer_video
from rppg_lib.video_io import write_video

FPS = 30.0
SIZE = 128
CONDITIONS = ("clean", "illumination", "no_pulse", "blank", "noise", "faceless")


def _videos(seed: int, seconds: float):
    """(frames, crop policy, true HR per frame or None) per condition for one seed."""
    clean = generate("clean", seconds=seconds, fps=FPS, size=SIZE, seed=seed)
    illumination = generate("illumination", seconds=seconds, fps=FPS, size=SIZE, seed=seed)
    n = clean.frames.shape[0]
    rng = np.random.default_rng(seed)
    corner = clean.frames[:, : SIZE // 4, : SIZE // 4]  # background only: no face in it
    faceless = np.stack([cv2.resize(f, (SIZE, SIZE), interpolation=cv2.INTER_NEAREST)
                         for f in corner])
    return {
        "clean": (clean.frames, "haar", clean.hr),
        "illumination": (illumination.frames, "haar", illumination.hr),
        "no_pulse": (generate("no_pulse", seconds=seconds, fps=FPS, size=SIZE,
                              seed=seed).frames, "haar", None),
        "blank": (np.full((n, SIZE, SIZE, 3), 128, dtype=np.uint8), "center", None),
        "noise": (rng.integers(0, 256, size=(n, SIZE, SIZE, 3), dtype=np.uint8), "center", None),
        "faceless": (faceless, "center", None),
    }


def _window_truth(hr: np.ndarray, centres: np.ndarray, window_s: float) -> np.ndarray:
    t = np.arange(hr.size) / FPS
    return np.array([hr[np.abs(t - c) <= window_s / 2].mean() for c in centres])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    torch.set_num_threads(2)
    snr: dict[tuple[str, str], list[float]] = {}
    rated: dict[tuple[str, str], int] = {}
    err_ok: dict[tuple[str, str], list[float]] = {}
    err_bad: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            for condition, (frames, crop, hr) in _videos(seed, args.seconds).items():
                video = Path(tmp) / f"{condition}_{seed}.avi"
                write_video(video, frames, FPS)
                result = infer_video(video, None, Path(tmp) / f"out_{condition}_{seed}",
                                     method="all", crop=crop, progress=False)
                for name, r in result.methods.items():
                    key = (condition, name)
                    values = r.snr_db if r.snr_db.size else np.array([-np.inf])
                    snr.setdefault(key, []).extend(values.tolist())
                    rated[key] = rated.get(key, 0) + (r.hr_bpm is not None)
                    if hr is not None:
                        error = np.abs(r.hr_series - _window_truth(hr, r.hr_times, 10.0))
                        err_ok.setdefault(key, []).extend(error[r.reliable].tolist())
                        err_bad.setdefault(key, []).extend(error[~r.reliable].tolist())
    print(f"peak SNR per 10 s window (step 1 s), {args.seeds} seed(s) x {args.seconds:g} s clips; "
          f"MIN_SNR_DB = {MIN_SNR_DB:g} dB, MIN_RELIABLE_SHARE = {MIN_RELIABLE_SHARE:g}")
    print(f"{'condition':<13}{'method':<7}{'n':>5}{'min':>8}{'median':>8}{'max':>8}"
          f"{'flagged':>9}{'clips rated':>13}{'MAE reliable':>15}{'MAE flagged':>15}")
    for (condition, name), values in snr.items():
        v = np.asarray(values)
        ok, bad = err_ok.get((condition, name), []), err_bad.get((condition, name), [])
        mae_ok = f"{np.mean(ok):.2f} ({len(ok)})" if ok else "-"
        mae_bad = f"{np.mean(bad):.2f} ({len(bad)})" if bad else "-"
        print(f"{condition:<13}{name:<7}{v.size:>5}{v.min():>8.2f}{np.median(v):>8.2f}"
              f"{v.max():>8.2f}{np.mean(v < MIN_SNR_DB):>9.0%}"
              f"{f'{rated[(condition, name)]}/{args.seeds}':>13}{mae_ok:>15}{mae_bad:>15}")


if __name__ == "__main__":
    main()
