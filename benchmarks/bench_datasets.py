"""Data-layer throughput: FFV1 writing and reading, building vs reusing the synthetic dataset.

Prints frames per second for lossless writing and streaming of 128×128 synthetic frames, the FFV1
size relative to raw RGB, and the seconds to build a small synthetic dataset fresh and again from
its cache. Run: ``.venv/bin/python benchmarks/bench_datasets.py``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from rppg_lib.datasets import build_synthetic_dataset
from rppg_lib.synthetic import generate
from rppg_lib.video_io import iter_video, write_video


def main() -> None:
    clip = generate("mixed", seconds=20.0, fps=30.0, size=128, seed=1)
    n = clip.frames.shape[0]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        write_video(root / "clip.avi", clip.frames, clip.fps)
        write_s = time.perf_counter() - t
        t = time.perf_counter()
        decoded = sum(1 for _ in iter_video(root / "clip.avi", n_frames=n))
        read_s = time.perf_counter() - t
        ratio = (root / "clip.avi").stat().st_size / clip.frames.nbytes
        print(f"FFV1 write: {n / write_s:7.0f} frames/s (128x128, {n} frames)")
        print(f"FFV1 read:  {decoded / read_s:7.0f} frames/s")
        print(f"FFV1 size:  {ratio:.2f} x raw RGB")

        kwargs = dict(subjects=2, scenarios=["clean", "mixed"], seconds=10.0, fps=30.0, size=128,
                      seed=0, progress=False)
        t = time.perf_counter()
        build_synthetic_dataset(root / "synth", **kwargs)
        fresh_s = time.perf_counter() - t
        t = time.perf_counter()
        build_synthetic_dataset(root / "synth", **kwargs)
        cached_s = time.perf_counter() - t
        print(f"synthetic build, 4 clips x 10 s: fresh {fresh_s:.2f} s, reused {cached_s:.3f} s")


if __name__ == "__main__":
    main()
