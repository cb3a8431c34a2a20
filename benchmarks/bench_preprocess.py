"""Preprocessing benchmark: peak memory and throughput on a long 640×480 video.

Targets (issue 4): a 10-minute 640×480 30 fps video preprocesses in under 500 MB peak RSS
(memory must not grow with the video: the outputs alone, 18000×36×36×6 float32 plus the mask
frames, are ~810 MB), at no less than 70 % of the decode-only throughput on the same file.

Steps: write a synthetic face video (the scikit-image astronaut's head drifting over a textured
background, a small pulse-like colour change, MJPG by default) to --workdir; decode it once in a
fresh process (decode + BGR→RGB, what the pipeline reads); preprocess it in another fresh process
(Haar crop, S = 36, cache folder on disk); each child reports its own wall and CPU time and
peak RSS (VmHWM). The two alternate ``--repeats`` times and the best time of each counts, which
keeps the ratio meaningful on a machine shared with other work.
Finally compare np.savez with np.savez_compressed on the first minute of the outputs.

Run: ``python benchmarks/bench_preprocess.py`` (10 minutes of video; ``--seconds 60`` for a quick
look). The video is kept between runs (``--workdir``) and regenerated when its parameters change.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

MB = 1024 * 1024


def peak_rss_mb() -> float:
    """Peak resident set size of this process (VmHWM) in MiB."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic_frames(n: int, width: int, height: int, fps: float, seed: int = 0):
    """Yield n RGB uint8 frames: a face (scikit-image astronaut) moving over a static texture."""
    import cv2
    from skimage import data

    rng = np.random.default_rng(seed)
    noise = rng.random((height // 8, width // 8, 3)).astype(np.float32)
    background = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC) * 120 + 60
    background = np.clip(background, 0, 255).astype(np.uint8)
    head = data.astronaut()[10:280, 130:350]  # hair, face and collar of the portrait
    side = int(0.55 * height)
    head = cv2.resize(
        head, (int(side * head.shape[1] / head.shape[0]), side), interpolation=cv2.INTER_AREA
    ).astype(np.float32)
    hh, hw = head.shape[:2]
    pulse_dir = np.array([0.33, 0.77, 0.53], dtype=np.float32)
    for t in range(n):
        sec = t / fps
        dx = int(round(25 * np.sin(2 * np.pi * 0.05 * sec)))
        dy = int(round(12 * np.sin(2 * np.pi * 0.23 * sec)))
        x0, y0 = (width - hw) // 2 + dx, (height - hh) // 2 + dy
        pulse = 2.0 * np.sin(2 * np.pi * 1.2 * sec)
        frame = background.copy()
        frame[y0 : y0 + hh, x0 : x0 + hw] = np.clip(head + pulse * pulse_dir, 0, 255)
        yield frame


def make_video(path: Path, seconds: float, fps: float, width: int, height: int, codec: str) -> int:
    from rppg_lib.video_io import write_video

    n = int(round(seconds * fps))
    meta = path.with_suffix(".json")
    params = {"seconds": seconds, "fps": fps, "width": width, "height": height, "codec": codec}
    if path.is_file() and meta.is_file() and json.loads(meta.read_text()) == params:
        print(f"reusing {path} ({path.stat().st_size / MB:.0f} MiB)")
        return n
    t0 = time.perf_counter()
    write_video(path, synthetic_frames(n, width, height, fps), fps, fourcc=codec)
    meta.write_text(json.dumps(params))
    print(
        f"wrote {path}: {n} frames {width}x{height} {codec}, {path.stat().st_size / MB:.0f} MiB "
        f"in {time.perf_counter() - t0:.0f} s"
    )
    return n


def cpu_seconds() -> float:
    """User + system CPU time of this process, all threads."""
    t = os.times()
    return t.user + t.system


def child_decode(video: str) -> dict:
    from rppg_lib.video_io import iter_video, probe_video

    info = probe_video(video)
    base = peak_rss_mb()
    t0, c0 = time.perf_counter(), cpu_seconds()
    n = 0
    for _frame in iter_video(info.path, n_frames=info.n_frames):
        n += 1
    elapsed, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    return {
        "frames": n,
        "seconds": elapsed,
        "cpu_seconds": cpu,
        "peak_rss_mb": peak_rss_mb(),
        "rss_after_imports_mb": base,
    }


def child_preprocess(video: str, cache: str, size: int) -> dict:
    from rppg_lib.datasets.base import Clip
    from rppg_lib.preprocess import PreprocessConfig, preprocess_clip
    from rppg_lib.video_io import probe_video

    info = probe_video(video)
    clip = Clip(
        "bench",
        "bench",
        "bench",
        info.path,
        info.fps,
        info.n_frames,
        np.arange(info.n_frames) / info.fps,
    )
    base = peak_rss_mb()
    t0, c0 = time.perf_counter(), cpu_seconds()
    out = preprocess_clip(clip, PreprocessConfig(size=size), cache, progress=False)
    elapsed, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    on_disk = sum(p.stat().st_size for p in Path(out.path).iterdir())
    return {
        "frames": out.n_frames,
        "seconds": elapsed,
        "cpu_seconds": cpu,
        "peak_rss_mb": peak_rss_mb(),
        "rss_after_imports_mb": base,
        "no_face_frames": out.n_no_face_frames,
        "output_mb": on_disk / MB,
        "entry": str(out.path),
    }


def run_child(args: list[str]) -> dict:
    cmd = [sys.executable, __file__, "--child", *args]
    result = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def compression(entry: Path, frames: int) -> None:
    from rppg_lib.preprocess import PreprocessedClip

    clip = PreprocessedClip.open(entry)
    n = min(frames, clip.n_frames)
    arrays = {
        name: np.array(getattr(clip, name)[:n]) for name in ("motion", "appearance", "mask_frames")
    }
    raw = sum(a.nbytes for a in arrays.values()) / MB
    print(f"\ncompression of the first {n} frames ({raw:.0f} MiB of float32 arrays):")
    for name, writer in (("np.savez", np.savez), ("np.savez_compressed", np.savez_compressed)):
        buf = io.BytesIO()
        t0 = time.perf_counter()
        writer(buf, **arrays)
        elapsed = time.perf_counter() - t0
        size = buf.getbuffer().nbytes / MB
        print(f"  {name:20s} {size:7.1f} MiB ({100 * size / raw:5.1f} %)  write {elapsed:5.2f} s")
    small = {
        "boxes": np.array(clip.boxes),
        "frame_times": np.array(clip.frame_times),
        "face_found": np.array(clip.face_found),
    }
    sizes = []
    for writer in (np.savez, np.savez_compressed):
        buf = io.BytesIO()
        writer(buf, **small)
        sizes.append(buf.getbuffer().nbytes / 1024)
    print(
        f"  per-frame metadata (boxes, times, flags): {sizes[0]:.0f} KiB -> {sizes[1]:.0f} KiB "
        "compressed"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--codec", default="MJPG", help="MJPG (fast to decode) or FFV1 (lossless)")
    parser.add_argument("--size", type=int, default=36)
    parser.add_argument("--repeats", type=int, default=2, help="runs of each; the best counts")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/rppg_bench_preprocess"))
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        out = (
            child_decode(*rest)
            if kind == "decode"
            else child_preprocess(rest[0], rest[1], int(rest[2]))
        )
        print(json.dumps(out))
        return

    args.workdir.mkdir(parents=True, exist_ok=True)
    video = args.workdir / f"synthetic_{args.width}x{args.height}.avi"
    make_video(video, args.seconds, args.fps, args.width, args.height, args.codec)
    cache = args.workdir / "cache"
    decodes, preps = [], []
    for rep in range(args.repeats):  # alternate, so that both see the same background load
        shutil.rmtree(cache, ignore_errors=True)
        decodes.append(run_child(["decode", str(video)]))
        preps.append(run_child(["preprocess", str(video), str(cache), str(args.size)]))
        print(
            f"run {rep + 1}/{args.repeats}: decode {decodes[-1]['seconds']:.1f} s, "
            f"preprocess {preps[-1]['seconds']:.1f} s"
        )
    n = decodes[0]["frames"]
    best = {
        name: {key: min(r[key] for r in runs) for key in ("seconds", "cpu_seconds")}
        | {
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
            "rss_after_imports_mb": runs[0]["rss_after_imports_mb"],
        }
        for name, runs in (("decode", decodes), ("preprocess", preps))
    }
    ratio = best["decode"]["seconds"] / best["preprocess"]["seconds"]
    cpu_ratio = best["decode"]["cpu_seconds"] / best["preprocess"]["cpu_seconds"]
    peak = best["preprocess"]["peak_rss_mb"] * MB / 1e6
    print(
        f"\nvideo: {n} frames ({n / args.fps / 60:.1f} min) {args.width}x{args.height} "
        f"{args.codec}, S = {args.size}; {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f}; best of {args.repeats} runs"
    )
    for name in ("decode", "preprocess"):
        b = best[name]
        print(
            f"{name:10s}: {b['seconds']:7.1f} s  {n / b['seconds']:6.1f} frames/s  "
            f"CPU {b['cpu_seconds']:7.1f} s  peak RSS {b['peak_rss_mb']:5.0f} MiB "
            f"(after imports {b['rss_after_imports_mb']:.0f})"
        )
    print(
        f"throughput ratio preprocess / decode: {ratio:.2f} wall clock, {cpu_ratio:.2f} CPU time "
        f"(target >= 0.70: {'met' if ratio >= 0.70 else 'MISSED'})"
    )
    print(f"peak RSS {peak:.0f} MB (target < 500 MB: {'met' if peak < 500 else 'MISSED'})")
    print(
        f"outputs on disk: {preps[-1]['output_mb']:.0f} MiB; frames without a face: "
        f"{preps[-1]['no_face_frames']}"
    )
    compression(Path(preps[-1]["entry"]), int(round(60 * args.fps)))
    shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
