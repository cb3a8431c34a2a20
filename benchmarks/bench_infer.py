"""Speed of ``rppg infer``: a 60 s 640x480 30 fps video as a multiple of real time on 2 CPU
cores, with the share of decoding, face tracking and cropping, the network and the
post-processing, beside today's path (the ``infer_video`` of the commit before this work).

The video is bench_preprocess.py's synthetic face (the scikit-image astronaut drifting over a
texture, MJPG by default) written to --workdir and kept between runs. Each path runs
``--repeats`` times, alternating, and the best time of each counts (the machine may be shared).
Today's path needs weights: both use open-rppg's TS-CAN trained on PURE from data/weights/.

Shares: decode = a decode-only pass over the file (what the pipeline reads); tracking and crops =
infer's "decode_and_crop_s" minus decode; network and post-processing from infer's timings.

Run: ``python benchmarks/bench_infer.py [--seconds 60] [--baseline cb5fb4e]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_preprocess import make_video  # noqa: E402

from rppg_lib.video_inference import default_weights, infer_video  # noqa: E402
from rppg_lib.video_io import DecodedFrames  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def baseline_module(commit: str):
    """``rppg_lib/video_inference.py`` as it was at ``commit``, imported beside today's."""
    source = subprocess.run(
        ["git", "show", f"{commit}:rppg_lib/video_inference.py"], cwd=REPO, check=True,
        capture_output=True, text=True,
    ).stdout
    # The report package moved into the run layer since; the old code's figure saving lives there.
    source = source.replace("rppg_lib.report.", "rppg_lib.run.report.")
    path = Path(tempfile.mkdtemp()) / "video_inference_baseline.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("video_inference_baseline", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def decode_seconds(video: Path) -> float:
    t0 = time.perf_counter()
    for _ in DecodedFrames(video):
        pass
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--codec", default="MJPG", help="MJPG (webcam-like) or FFV1 (lossless)")
    parser.add_argument("--workdir", default="data/bench_infer")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--baseline", default="cb5fb4e",
                        help="commit whose rppg infer is today's path ('' to skip)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    video = workdir / f"face_640x480_{args.seconds:g}s.avi"
    make_video(video, args.seconds, 30.0, 640, 480, args.codec)
    weights = default_weights()
    old = baseline_module(args.baseline) if args.baseline else None

    best = {"new": float("inf"), "old": float("inf"), "decode": float("inf")}
    timings = {}
    for repeat in range(args.repeats):
        best["decode"] = min(best["decode"], decode_seconds(video))
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            result = infer_video(video, weights, Path(tmp) / "new", progress=False)
            elapsed = time.perf_counter() - t0
            if elapsed < best["new"]:
                best["new"], timings = elapsed, result.summary["timings_s"]
            if old is not None:
                t0 = time.perf_counter()
                old.infer_video(video, weights, Path(tmp) / "old", progress=False)
                best["old"] = min(best["old"], time.perf_counter() - t0)
        print(f"repeat {repeat + 1}: new {best['new']:.1f} s, old {best['old']:.1f} s")

    seconds = args.seconds
    new = best["new"]
    decode = min(best["decode"], timings["decode_and_crop_s"])
    shares = {
        "decode": decode,
        "face tracking + crops": timings["decode_and_crop_s"] - decode,
        "network": timings.get("network_s", 0.0),
        "post-processing": timings["post_s"],
    }
    shares["other (checks, loading, writing)"] = new - sum(shares.values())
    print(f"\nrppg infer on {seconds:g} s of 640x480 {args.codec} at 30 fps, "
          f"{args.threads} threads, best of {args.repeats}")
    print(f"  this branch : {new:6.1f} s = {seconds / new:5.2f}x real time")
    if old is not None:
        print(f"  today ({args.baseline}): {best['old']:6.1f} s = {seconds / best['old']:5.2f}x "
              f"real time; this branch is {best['old'] / new:.2f}x as fast")
    for name, value in shares.items():
        print(f"  {name:<34}{value:6.1f} s  {value / new:5.0%}")


if __name__ == "__main__":
    main()
