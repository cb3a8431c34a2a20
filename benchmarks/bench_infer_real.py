"""``rppg infer`` on a real face video without contact truth: does each released model and each
colour method agree with the others, how stable is it over windows, how many windows pass?

Runs :func:`~rppg_lib.video_inference.infer_video` once per released model
(:data:`rppg_lib.weights.RELEASED_MODELS`) with ``--method all`` and the colour read from the
skin region, and once more with the colour read from the network's enlarged crop (the earlier
behaviour). Per network and method it prints: n windows, the mean window rate with a 95 %
moving-block bootstrap interval (blocks of one window length, since windows 1 s apart overlap),
the window-to-window jitter (median |rate(t+1) - rate(t)|, bpm), the windows reliable (k of n,
95 % Wilson interval), the median pulse colour, and the network's time; then, per pair, the mean
absolute difference of the window rates with the same block-bootstrap interval and the share of
windows within 5 bpm of each other.

Run: ``python benchmarks/bench_infer_real.py VIDEO [--models tscan.rlap,facephys.rlap]``
(a 30 s 320x240 video takes about 15 s per model on 2 CPU threads, FacePhys about 3 times that).
"""

from __future__ import annotations

import argparse
import itertools
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.stats
import torch

from rppg_lib.video_inference import AGREEMENT_BPM, MethodResult, infer_video
from rppg_lib.weights import RELEASED_MODELS

COLOUR_METHODS = ("pos", "chrom", "green", "ica")


def block_bootstrap(values: np.ndarray, block: int, rng: np.random.Generator,
                    resamples: int = 2000) -> tuple[float, float]:
    """95 % interval of the mean of a series of overlapping windows: moving blocks of ``block``
    consecutive windows, drawn with replacement until the series' length is filled."""
    n = values.size
    block = max(1, min(block, n))
    starts = np.arange(n - block + 1)
    means = []
    for _ in range(resamples):
        picks = rng.choice(starts, size=-(-n // block))
        sample = np.concatenate([values[s : s + block] for s in picks])[:n]
        means.append(sample.mean())
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(lo), float(hi)


def wilson(k: int, n: int) -> str:
    ci = scipy.stats.binomtest(k, n).proportion_ci(method="wilson")
    return f"{k}/{n} [{ci.low:.0%}, {ci.high:.0%}]"


def describe(label: str, r: MethodResult, block: int, rng: np.random.Generator,
             seconds: float | None) -> str:
    rates = r.hr_series
    lo, hi = block_bootstrap(rates, block, rng)
    jitter = float(np.median(np.abs(np.diff(rates)))) if rates.size > 1 else float("nan")
    colour = float(np.nanmedian(r.pulse_colour)) if np.isfinite(r.pulse_colour).any() else np.nan
    hr = "-" if r.hr_bpm is None else f"{r.hr_bpm:.1f}"
    timing = "" if seconds is None else f"{seconds:8.1f}"
    return (f"{label:<28}{rates.size:>4}{rates.mean():>8.1f}{f'[{lo:.1f}, {hi:.1f}]':>15}"
            f"{rates.min():>7.1f}{rates.max():>7.1f}{jitter:>8.2f}"
            f"{wilson(int(r.reliable.sum()), rates.size):>18}{colour:>8.2f}{hr:>7}{timing}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("video")
    parser.add_argument("--models", default=",".join(RELEASED_MODELS),
                        help="comma-separated released model names")
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--step", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    block = int(round(args.window / args.step))
    series: dict[str, MethodResult] = {}
    lines: list[str] = []
    for k, name in enumerate(args.models.split(",")):
        methods = ["network", *COLOUR_METHODS] if k == 0 else ["network"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = infer_video(args.video, model=name, method=methods, window_s=args.window,
                                 step_s=args.step, progress=False)
        network_s = result.summary["timings_s"]
        seconds = network_s.get("network_overlapped_s", network_s.get("network_s"))
        series[name] = result.methods["network"]
        lines.append(describe(name, result.methods["network"], block, rng, seconds))
        for m in methods[1:]:
            series[f"{m} (skin)"] = result.methods[m]
            lines.append(describe(f"{m} (skin)", result.methods[m], block, rng, None))
        print(f"{name} done", flush=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        crop = infer_video(args.video, method=list(COLOUR_METHODS), colour_region="crop",
                           window_s=args.window, step_s=args.step, progress=False)
    print(f"crop colour done ({time.perf_counter() - start:.1f} s)", flush=True)
    for m in COLOUR_METHODS:
        series[f"{m} (crop)"] = crop.methods[m]
        lines.append(describe(f"{m} (crop)", crop.methods[m], block, rng, None))

    print(f"\n{Path(args.video).name}: {args.window:g} s windows every {args.step:g} s; mean "
          f"window rate with a 95 % moving-block bootstrap interval (blocks of {block} windows)")
    print(f"{'network / method':<28}{'n':>4}{'mean':>8}{'95% CI':>15}{'min':>7}{'max':>7}"
          f"{'jitter':>8}{'reliable [Wilson]':>18}{'colour':>8}{'hr':>7}{'net s':>8}")
    print("\n".join(lines))
    print(f"\nagreement per pair: mean |difference| of the window rates (bpm) [95 % block "
          f"bootstrap], windows within {AGREEMENT_BPM:g} bpm")
    for a, b in itertools.combinations(series, 2):
        diff = np.abs(series[a].hr_series - series[b].hr_series)
        lo, hi = block_bootstrap(diff, block, rng)
        within = int((diff <= AGREEMENT_BPM).sum())
        print(f"  {a:<18} vs {b:<18} {diff.mean():6.2f} [{lo:.2f}, {hi:.2f}]  "
              f"{within}/{diff.size}")


if __name__ == "__main__":
    main()
