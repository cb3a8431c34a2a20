"""Speed of the synthetic generator on one CPU core (target: >= 300 frames/s at 128x128).

For each scenario, generates a default clip (20 s at 30 fps, 128x128) ``--repeats`` times and
prints frames/s from the best and the median wall time (the best is the least disturbed by other
processes on a shared machine) and from the best CPU time of this process (what one core does
when it is not shared), plus the size of the clip in memory. OpenCV and BLAS are pinned to one
thread before they load, so wall time >= CPU time.

Run: python benchmarks/bench_synthetic.py [--repeats 5] [--size 128] [--seconds 20]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import cv2  # noqa: E402

from rppg_lib.synthetic import SCENARIOS, generate  # noqa: E402

TARGET_FPS = 300.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    cv2.setNumThreads(1)

    generate("clean", seconds=1.0, size=args.size)  # warm-up: builds the cached face template
    print(f"{args.seconds:g} s at 30 fps, {args.size}x{args.size}, one thread "
          f"(target >= {TARGET_FPS:.0f} frames/s)")  # fmt: skip
    worst = float("inf")
    for scenario in SCENARIOS:
        times, cpu_times = [], []
        for seed in range(args.repeats):
            start, cpu_start = time.perf_counter(), time.process_time()
            clip = generate(scenario, seconds=args.seconds, size=args.size, seed=seed)
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - cpu_start)
        n = clip.frames.shape[0]
        best, median = n / min(times), n / statistics.median(times)
        worst = min(worst, best)
        megabytes = (clip.frames.nbytes + clip.skin_mask.nbytes) / 1e6
        print(f"{scenario:>12s}: wall {best:5.0f} frames/s best, {median:5.0f} median; "
              f"CPU {n / min(cpu_times):5.0f} frames/s "
              f"({n} frames, {megabytes:.0f} MB frames + skin masks)")  # fmt: skip
    verdict = "meets" if worst >= TARGET_FPS else "MISSES"
    print(f"slowest scenario, best wall time: {worst:.0f} frames/s ({verdict} the target)")


if __name__ == "__main__":
    main()
