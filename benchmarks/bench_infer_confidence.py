"""Where the confidence threshold of ``rppg infer`` comes from: the peak SNR of every sliding
window, per method, on videos with a pulse (synthetic ``clean`` and ``illumination``) and without
one (``no_pulse``, a blank grey video, uniform noise, a face-less background crop).

Prints, per condition and method, the number of windows n, the SNR's min / median / max (dB) and
the share of windows flagged by ``MIN_SNR_DB``. Run: ``python benchmarks/bench_infer_confidence.py
[--seeds 3] [--seconds 20]`` (2 CPU threads; about 10 s per clip).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import cv2
import numpy as np
import torch

from rppg_lib.synthetic import generate
from rppg_lib.video_inference import MIN_SNR_DB, infer_video
from rppg_lib.video_io import write_video

FPS = 30.0
SIZE = 128


def _videos(seed: int, seconds: float) -> dict[str, tuple[np.ndarray, str]]:
    """Frames and crop policy per condition for one seed."""
    clean = generate("clean", seconds=seconds, fps=FPS, size=SIZE, seed=seed).frames
    n = clean.shape[0]
    rng = np.random.default_rng(seed)
    corner = clean[:, : SIZE // 4, : SIZE // 4]  # background only: no face in it
    faceless = np.stack([cv2.resize(f, (SIZE, SIZE), interpolation=cv2.INTER_NEAREST)
                         for f in corner])
    return {
        "clean": (clean, "haar"),
        "illumination": (generate("illumination", seconds=seconds, fps=FPS, size=SIZE,
                                  seed=seed).frames, "haar"),
        "no_pulse": (generate("no_pulse", seconds=seconds, fps=FPS, size=SIZE,
                              seed=seed).frames, "haar"),
        "blank": (np.full((n, SIZE, SIZE, 3), 128, dtype=np.uint8), "center"),
        "noise": (rng.integers(0, 256, size=(n, SIZE, SIZE, 3), dtype=np.uint8), "center"),
        "faceless": (faceless, "center"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    torch.set_num_threads(2)
    snr: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            for condition, (frames, crop) in _videos(seed, args.seconds).items():
                video = Path(tmp) / f"{condition}_{seed}.avi"
                write_video(video, frames, FPS)
                result = infer_video(video, None, Path(tmp) / f"out_{condition}_{seed}",
                                     method="all", crop=crop, progress=False)
                for name, r in result.methods.items():
                    values = r.snr_db if r.snr_db.size else np.array([-np.inf])
                    snr.setdefault((condition, name), []).extend(values.tolist())
    print(f"peak SNR per 10 s window (step 1 s), {args.seeds} seed(s) x {args.seconds:g} s, "
          f"threshold MIN_SNR_DB = {MIN_SNR_DB:g} dB")
    print(f"{'condition':<13}{'method':<7}{'n':>5}{'min':>8}{'median':>8}{'max':>8}{'flagged':>9}")
    for (condition, name), values in snr.items():
        v = np.asarray(values)
        print(f"{condition:<13}{name:<7}{v.size:>5}{v.min():>8.2f}{np.median(v):>8.2f}"
              f"{v.max():>8.2f}{np.mean(v < MIN_SNR_DB):>9.0%}")


if __name__ == "__main__":
    main()
