"""Cost of checking a preprocessed-clip cache entry's SHA-256 digests on its first use.

A same-size corruption of a cached array (a flipped byte) passes the size and header checks; only
the digests written with the entry catch it, and ``storage.read_entry`` compares them on each
entry's first opening in a process. This prints the time to open one realistic entry without and
with the digest check (best of ``--repeats``, the file pages warm in the page cache, as on the
second notebook of a run), the check's cost in ms per MB, and the raw hashing rate of SHA-256
(used) and BLAKE2b (the alternative considered) on the same bytes.

Run: ``python benchmarks/bench_cache_verify.py`` (one minute of 30 fps video at S = 72: about
260 MB of arrays; ``--seconds 10`` for a quick look).
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from pathlib import Path

import numpy as np

MB = 1024 * 1024


def build_entry(cache_dir: Path, seconds: float, size: int, fps: float = 30.0):
    from rppg_lib.datasets.base import Clip, Signal
    from rppg_lib.preprocess import PreprocessConfig, preprocess_clip

    n = int(seconds * fps)
    frames = np.random.default_rng(0).integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    t = np.arange(n) / fps
    clip = Clip.from_frames(frames, fps, clip_id="bench",
                            bvp=Signal(np.sin(2 * np.pi * 1.2 * t), t, "a.u."))
    config = PreprocessConfig(crop="none", size=size)
    return preprocess_clip(clip, config, cache_dir, progress=False).path


def best_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def hash_rate(paths: list[Path], name: str, repeats: int) -> float:
    """Seconds to hash every byte of ``paths`` with hashlib's ``name`` (best of ``repeats``)."""
    def run() -> None:
        for path in paths:
            digest = hashlib.new(name)
            with open(path, "rb") as handle:
                while chunk := handle.read(1 << 22):
                    digest.update(chunk)

    return best_time(run, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--size", type=int, default=72)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    from rppg_lib.preprocess import PreprocessedClip

    with tempfile.TemporaryDirectory() as tmp:
        folder = build_entry(Path(tmp), args.seconds, args.size)
        files = sorted(p for p in folder.iterdir() if p.suffix in (".npy", ".npz"))
        megabytes = sum(p.stat().st_size for p in files) / MB
        plain = best_time(lambda: PreprocessedClip.open(folder, verify=False), args.repeats)
        checked = best_time(lambda: PreprocessedClip.open(folder, verify=True), args.repeats)
        sha = hash_rate(files, "sha256", args.repeats)
        blake = hash_rate(files, "blake2b", args.repeats)
    print(f"entry: {args.seconds:g} s at {args.size}x{args.size}, {megabytes:.1f} MB in "
          f"{len(files)} files; best of {args.repeats}")
    print(f"open without digests: {plain * 1e3:9.1f} ms")
    print(f"open with digests:    {checked * 1e3:9.1f} ms  ({checked / plain:.0f}x)")
    print(f"digest check cost:    {(checked - plain) * 1e3 / megabytes:9.2f} ms per MB")
    print(f"sha256 alone:         {sha * 1e3 / megabytes:9.2f} ms per MB")
    print(f"blake2b alone:        {blake * 1e3 / megabytes:9.2f} ms per MB "
          f"(sha256 / blake2b time ratio {sha / blake:.2f})")


if __name__ == "__main__":
    main()
