"""Speed of ``rppg infer``: a 60 s 640x480 30 fps video as a multiple of real time on 2 CPU
cores, with the share of decoding, face tracking and cropping, the network and the
post-processing, beside an earlier ``rppg infer`` (--baseline, a commit before the colour came
from the skin and the default became the RLAP TS-CAN: it ran the PURE TS-CAN), run whole in its
own process from a git worktree of that commit next to today's, run the same way; the default
path with the other TS-CAN (``--model tscan.pure``) and the other network paths (``--eager``,
``--bf16``, and the frozen network run after the decoding instead of overlapping it); and its
peak memory at two video lengths.

The video is bench_preprocess.py's synthetic face (the scikit-image astronaut drifting over a
texture, MJPG by default) written to --workdir and kept between runs. Each path runs
``--repeats`` times, alternating, and the best time of each counts (the machine may be shared);
the CPU seconds (user + system, all threads) of that run are printed beside the wall clock, as
they depend less on other work on the machine. Every path but ``tscan.pure`` and the earlier
one uses the default model (:data:`~rppg_lib.video_inference.DEFAULT_MODEL`, open-rppg's TS-CAN
trained on RLAP) from data/weights/, and writes its files as ``rppg infer`` does. The network
path that ran (mode, threads) is read from the summary.

Shares, from the sequential run (its stages do not overlap): decode = a decode-only pass over the
file (what the pipeline reads); tracking and crops = infer's "decode_and_crop_s" minus decode;
network and post-processing from infer's timings. For the default run: how long the network
worked in all and how much of it came after the decoding had ended.

Peak memory (``--memory 30 120``): each path in a fresh process per video length, its peak
resident set size (``ru_maxrss``).

HR check (``--hr-check N [VIDEO ...]``): the ``--fast`` path (default: the default, frozen and
overlapped) and the ``--versus`` path (default: eager) on N synthetic clips of each scenario
clean and illumination (20 s, 128x128, seeds 1000..) and on the given videos: the paired
per-window heart-rate difference (fast - versus, bpm), mean with a bootstrap 95 % interval over
windows, and its largest absolute value.

Run: ``python benchmarks/bench_infer.py [--seconds 60] [--baseline 20433ba] [--memory 30 120]
[--hr-check 4 my_face_video.mp4]``.
"""

from __future__ import annotations

import argparse
import atexit
import functools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_preprocess import make_video  # noqa: E402

from rppg_lib.run.infer import infer_to_folder  # noqa: E402
from rppg_lib.synthetic import generate  # noqa: E402
from rppg_lib.video_io import DecodedFrames, write_video  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


@functools.lru_cache
def baseline_tree(commit: str) -> Path:
    """A git worktree of ``commit`` (removed at exit) with today's data/weights linked in: the old
    ``rppg infer`` runs whole, with its own library, never mixed with today's."""
    tree = Path(tempfile.mkdtemp()) / commit
    subprocess.run(["git", "worktree", "add", "--detach", "-q", str(tree), commit], cwd=REPO,
                   check=True)
    atexit.register(subprocess.run, ["git", "worktree", "remove", "--force", str(tree)],
                    cwd=REPO, check=False)
    (tree / "data").mkdir(exist_ok=True)
    (tree / "data" / "weights").symlink_to(REPO / "data" / "weights")
    return tree


def run_cli(tree: Path, video: Path, out: Path, threads: int) -> SimpleNamespace:
    """``rppg infer VIDEO --out OUT`` of the library in ``tree``, in a fresh process (startup and
    imports included); its summary and the child's CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = {**os.environ, "PYTHONPATH": str(tree), "RPPG_THREADS": str(threads)}
    command = [sys.executable, "-m", "rppg_lib.run.cli", "infer", str(video), "--out", str(out)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"rppg infer of {tree.name} failed: {done.stderr.strip()[-400:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    summary = json.loads((out / "summary.json").read_text())
    return SimpleNamespace(summary=summary, cpu=cpu)


def decode_seconds(video: Path) -> float:
    t0 = time.perf_counter()
    for _ in DecodedFrames(video):
        pass
    return time.perf_counter() - t0


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


# Paths run as a whole `rppg infer` process: today's and the --baseline commit's, like for like.
CLI_PATHS = ("cli", "earlier")

PATH_LABELS = {
    "frozen": "default (frozen, overlapped)",
    "sequential": "frozen, after the decoding",
    "eager": "--eager",
    "bf16": "--bf16 (overlapped)",
    "tscan.pure": "--model tscan.pure (as default)",
    "cli": "rppg infer, whole process",
}
# The paths --hr-check can compare: they return the per-window rates in process.
IN_PROCESS_PATHS = tuple(p for p in PATH_LABELS if p not in CLI_PATHS)


def run_path(name: str, video: Path, out: Path, baseline: str):
    """One ``rppg infer`` of ``video`` by path ``name`` (:data:`PATH_LABELS`, or "earlier")."""
    if name in CLI_PATHS:
        tree = REPO if name == "cli" else baseline_tree(baseline)
        return run_cli(tree, video, out, torch.get_num_threads())
    model = name if name.startswith("tscan.") else None  # None: the default model
    return infer_to_folder(video, None, out, model=model, bf16=name == "bf16",
                           freeze=name in ("frozen", "sequential", "tscan.pure"),
                           overlap=name != "sequential", progress=False)


def child_peak_rss(name: str, video: Path, baseline: str) -> None:
    """In a fresh process: run one path, print its peak RSS (MiB)."""
    with tempfile.TemporaryDirectory() as tmp:
        run_path(name, video, Path(tmp) / "out", baseline)
    peaks = (resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF,
                                                            resource.RUSAGE_CHILDREN))
    print(max(peaks) / 1024)  # a CLI path's peak is its child's


def peak_rss(name: str, video: Path, baseline: str, threads: int) -> float:
    command = [sys.executable, __file__, "--child", name, "--child-video", str(video),
               "--baseline", baseline, "--threads", str(threads)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return float(done.stdout.strip().splitlines()[-1])


def memory_table(lengths: list[float], paths: list[str], args: argparse.Namespace) -> None:
    workdir = Path(args.workdir)
    print(f"\npeak RSS (MiB), one fresh process per run, {args.threads} threads")
    print(f"  {'video':<8}" + "".join(f"{p:>10}" for p in paths))
    for seconds in lengths:
        video = workdir / f"face_640x480_{seconds:g}s.avi"
        make_video(video, seconds, 30.0, 640, 480, args.codec)
        row = [peak_rss(p, video, args.baseline, args.threads) for p in paths]
        print(f"  {seconds:>5g} s " + "".join(f"{r:>10.0f}" for r in row), flush=True)


def time_paths(video: Path, paths: list[str], args: argparse.Namespace) -> dict:
    """Best wall clock per path (alternated), with that run's CPU seconds and summary."""
    best = {p: {"wall": float("inf")} for p in paths}
    best["decode"] = {"wall": float("inf")}
    for repeat in range(args.repeats):
        best["decode"]["wall"] = min(best["decode"]["wall"], decode_seconds(video))
        for name in paths:
            with tempfile.TemporaryDirectory() as tmp:
                t0, c0 = time.perf_counter(), cpu_seconds()
                result = run_path(name, video, Path(tmp) / name, args.baseline)
                wall, cpu = time.perf_counter() - t0, getattr(result, "cpu", None)
                cpu = cpu_seconds() - c0 if cpu is None else cpu
            if wall < best[name]["wall"]:
                best[name] = {"wall": wall, "cpu": cpu, "summary": result.summary}
        print(f"repeat {repeat + 1}: " + ", ".join(
            f"{p} {best[p]['wall']:.1f} s" for p in paths), flush=True)
    return best


def synthetic_clips(count: int, workdir: Path) -> list[Path]:
    """``count`` clean and ``count`` illumination clips (20 s, 128x128, 30 fps, lossless)."""
    paths = []
    for seed in range(1000, 1000 + count):
        for scenario in ("clean", "illumination"):
            path = workdir / f"hr_check_{scenario}_{seed}.avi"
            if not path.is_file():
                clip = generate(scenario, seconds=20.0, fps=30.0, size=128, seed=seed)
                write_video(path, clip.frames, 30.0)
            paths.append(path)
    return paths


def hr_check(videos: list[Path], fast: str, versus: str = "eager") -> None:
    """Paired per-window HR difference, ``fast`` path - ``versus`` path, per video and over
    all."""
    print(f"\nHR check: {PATH_LABELS[fast]} - {PATH_LABELS[versus]}, per window (bpm)")
    every = []
    for video in videos:
        rates = {}
        with tempfile.TemporaryDirectory() as tmp:
            for name in (fast, versus):
                result = run_path(name, video, Path(tmp) / name, "")
                rates[name] = result.methods["network"].hr_series
        diff = rates[fast] - rates[versus]
        every.append(diff)
        print(f"  {video.name:<36} n = {diff.size:3d} windows, mean {diff.mean():+.4f}, "
              f"max |diff| {np.max(np.abs(diff)):.4f}", flush=True)
    diff = np.concatenate(every)
    rng = np.random.default_rng(0)
    boot = [rng.choice(diff, size=diff.size).mean() for _ in range(10_000)]
    low, high = np.percentile(boot, [2.5, 97.5])
    print(f"  all: n = {diff.size} windows of {len(videos)} videos, mean {diff.mean():+.4f} bpm "
          f"(95 % CI {low:+.4f} to {high:+.4f}), max |diff| {np.max(np.abs(diff)):.4f} bpm")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--codec", default="MJPG", help="MJPG (webcam-like) or FFV1 (lossless)")
    parser.add_argument("--workdir", default="data/bench_infer")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--baseline", default="20433ba",
                        help="earlier commit whose whole rppg infer runs beside today's ('' to "
                             "skip)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--memory", type=float, nargs="*", default=[],
                        help="video lengths (s) for the peak-memory table, e.g. 30 120")
    parser.add_argument("--hr-check", nargs="+", default=None, metavar="N [VIDEO]",
                        help="frozen vs eager per-window HR on N x 2 synthetic clips and videos")
    parser.add_argument("--fast", choices=IN_PROCESS_PATHS, default="frozen",
                        help="the path --hr-check compares with --versus")
    parser.add_argument("--versus", choices=IN_PROCESS_PATHS, default="eager",
                        help="the path --hr-check compares it with")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child-video", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    if args.child:
        child_peak_rss(args.child, Path(args.child_video), args.baseline)
        return
    paths = list(IN_PROCESS_PATHS)
    paths += list(CLI_PATHS) if args.baseline else []
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if args.hr_check:
        count, *videos = args.hr_check
        hr_check(synthetic_clips(int(count), workdir) + [Path(v) for v in videos], args.fast,
                 args.versus)
        return
    video = workdir / f"face_640x480_{args.seconds:g}s.avi"
    make_video(video, args.seconds, 30.0, 640, 480, args.codec)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    best = time_paths(video, paths, args)
    print_speed(best, paths, args)
    if args.memory:
        memory_table(args.memory, [p for p in paths if p in ("frozen", *CLI_PATHS)], args)


def print_speed(best: dict, paths: list[str], args: argparse.Namespace) -> None:
    seconds, new = args.seconds, best["frozen"]
    print(f"\nrppg infer on {seconds:g} s of 640x480 {args.codec} at 30 fps, "
          f"{args.threads} threads, best of {args.repeats}; network path: "
          f"{new['summary']['network_path']}")
    print(f"  {'path':<32}{'wall s':>7}{'x real t.':>10}{'vs earlier':>11}{'CPU s':>7}")
    for name in paths:
        b = best[name]
        label = PATH_LABELS.get(name, f"earlier rppg infer ({args.baseline})")
        ratio = best["earlier"]["wall"] / b["wall"] if "earlier" in best else float("nan")
        print(f"  {label:<32}{b['wall']:7.1f}{seconds / b['wall']:9.2f}x{ratio:10.2f}x"
              f"{b['cpu']:7.1f}")
    # Shares from the sequential run, whose stages do not overlap.
    serial = best["sequential"]
    timings = serial["summary"]["timings_s"]
    decode = min(best["decode"]["wall"], timings["decode_and_crop_s"])
    shares = {
        "decode": decode,
        "face tracking + crops": timings["decode_and_crop_s"] - decode,
        "network": timings.get("network_s", 0.0),
        "post-processing": timings["post_s"],
    }
    shares["other (checks, loading, writing)"] = serial["wall"] - sum(shares.values())
    print("  shares of the sequential run (frozen network after the decoding):")
    for name, value in shares.items():
        print(f"    {name:<34}{value:6.1f} s  {value / serial['wall']:5.0%}")
    overlapped = new["summary"]["timings_s"]
    print(f"  default run: the network worked {overlapped['network_overlapped_s']:.1f} s, of "
          f"which it ran {overlapped['network_s']:.1f} s after the decoding had ended")


if __name__ == "__main__":
    main()
