"""Where the confidence thresholds of ``rppg infer`` come from, and whether they hold on clips
they were not chosen on: every sliding window's peak SNR and pulse colour, per method, on videos
with a pulse (synthetic ``clean`` and ``illumination``) and without one (``no_pulse``, a blank
grey video, uniform noise, a face-less background crop).

The thresholds (``MIN_SNR_DB``, ``MIN_PULSE_COLOUR``, ``MIN_RELIABLE_SHARE``) were chosen on the
first seeds (seeds below ``--train`` for the videos with a pulse, below ``--train-without-pulse``
for the others); the other seeds are held out. Prints, per split, input
kind and method: the windows n, the share flagged with a 95 % Wilson interval, the clips that get
a heart rate; for the videos with a pulse, the window HR error (bpm, against the mean true HR of
the window) of the reliable and of the flagged windows, each with a 95 % bootstrap interval over
clips, and the share of windows wrong by more than 5 bpm that pass as reliable; pooled over the
methods, the same for the earlier rule (peak SNR >= 1 dB alone).

The network is ``--model`` (default: ``rppg infer``'s default, the RLAP TS-CAN); the colour
methods and the pulse-colour test read the skin region of the face box (``rppg infer``'s
default). On the videos with a pulse, the colour methods also run on the network's enlarged
crop (the earlier colour region): their window MAE per region, with 95 % bootstrap intervals
over clips, is printed last.

Run: ``python benchmarks/bench_infer_confidence.py`` (defaults: ``--seeds 12 --train 6
--seeds-without-pulse 8 --train-without-pulse 4 --seconds 20``, the README's numbers: 20 s clips
at 128 px as the default run, 56 clips, ~20 s each on 2 CPU threads).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import scipy.stats
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_infer_crop import window_truth  # noqa: E402

from rppg_lib.network_inference import load_released_model  # noqa: E402
from rppg_lib.synthetic import generate  # noqa: E402
from rppg_lib.video_inference import (  # noqa: E402
    DEFAULT_MODEL,
    MIN_PULSE_COLOUR,
    MIN_RELIABLE_SHARE,
    MIN_SNR_DB,
    default_weights,
    infer_video,
)
from rppg_lib.video_io import write_video  # noqa: E402

FPS = 30.0
SIZE = 128
WINDOW_S = 10.0
WRONG_BPM = 5.0  # a window this far from the truth is wrong
EARLIER_SNR_DB = 1.0  # the earlier rule: a window was reliable on its peak SNR alone


PULSE_KINDS = ("clean", "illumination")
COLOUR_METHODS = ("pos", "chrom", "green", "ica")


def _videos(seed: int, seconds: float, kinds: tuple[str, ...]):
    """(frames, crop policy, true HR per frame or None) per input kind for one seed."""
    clean = generate("clean", seconds=seconds, fps=FPS, size=SIZE, seed=seed)
    illumination = generate("illumination", seconds=seconds, fps=FPS, size=SIZE, seed=seed)
    n = clean.frames.shape[0]
    rng = np.random.default_rng(seed)
    corner = clean.frames[:, : SIZE // 4, : SIZE // 4]  # background only: no face in it
    faceless = np.stack([cv2.resize(f, (SIZE, SIZE), interpolation=cv2.INTER_NEAREST)
                         for f in corner])
    videos = {
        "clean": (clean.frames, "haar", clean.hr),
        "illumination": (illumination.frames, "haar", illumination.hr),
        "no_pulse": (generate("no_pulse", seconds=seconds, fps=FPS, size=SIZE,
                              seed=seed).frames, "haar", None),
        "blank": (np.full((n, SIZE, SIZE, 3), 128, dtype=np.uint8), "center", None),
        "noise": (rng.integers(0, 256, size=(n, SIZE, SIZE, 3), dtype=np.uint8), "center", None),
        "faceless": (faceless, "center", None),
    }
    return {kind: videos[kind] for kind in kinds}


def _window_rows(kind: str, seed: int, region: str, result, hr) -> tuple[list, list]:
    windows, clips = [], []
    for name, r in result.methods.items():
        clips.append({"kind": kind, "seed": seed, "method": name, "region": region,
                      "rated": r.hr_bpm is not None})
        error = (np.abs(r.hr_series - window_truth(hr, r.hr_times, WINDOW_S, FPS))
                 if hr is not None else np.full(r.hr_series.shape, np.nan))
        reliable = r.reliable if r.reliable.size else np.array([False])
        error = error if error.size else np.array([np.nan])
        snr = r.snr_db if r.snr_db.size else np.array([-np.inf])
        windows += [{"kind": kind, "seed": seed, "method": name, "region": region, "error": e,
                     "reliable": bool(ok), "snr_db": q}
                    for e, ok, q in zip(error, reliable, snr, strict=True)]
    return windows, clips


def collect(seeds: int, seeds_without_pulse: int, seconds: float,
            model: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per window (kind, seed, method, colour region, error bpm or NaN, reliable) and per clip
    (rated)."""
    loaded = load_released_model(model, default_weights())
    windows, clips = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(max(seeds, seeds_without_pulse)):
            kinds = (PULSE_KINDS if seed < seeds else ()) + (
                ("no_pulse", "blank", "noise", "faceless") if seed < seeds_without_pulse else ())
            for kind, (frames, crop, hr) in _videos(seed, seconds, kinds).items():
                video = Path(tmp) / f"{kind}_{seed}.avi"
                write_video(video, frames, FPS)
                runs = [("skin", "all")] + ([("crop", COLOUR_METHODS)] if hr is not None else [])
                for region, methods in runs:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        result = infer_video(video, loaded, method=methods, crop=crop,
                                             colour_region=region, progress=False)
                    rows, rated = _window_rows(kind, seed, region, result, hr)
                    windows += rows
                    clips += rated
            print(f"seed {seed} done", flush=True)
    return pd.DataFrame(windows), pd.DataFrame(clips)


def wilson(k: int, n: int) -> str:
    ci = scipy.stats.binomtest(k, n).proportion_ci(method="wilson")
    return f"{k / n:4.0%} [{ci.low:.0%}, {ci.high:.0%}]"


def clip_mae(rows: pd.DataFrame) -> str:
    """Mean window error (bpm) with a 95 % bootstrap interval over clips, and n windows."""
    if rows.empty:
        return f"{'-':>22}"
    per_clip = [g.error.to_numpy() for _, g in rows.groupby("seed")]
    rng = np.random.default_rng(0)
    means = [np.mean(np.concatenate([per_clip[i] for i in rng.integers(0, len(per_clip),
                                                                        len(per_clip))]))
             for _ in range(2000)]
    lo, hi = np.percentile(means, [2.5, 97.5])
    return f"{rows.error.mean():6.2f} [{lo:.2f}, {hi:.2f}] n={len(rows)}"


def region_table(windows: pd.DataFrame) -> None:
    """Window MAE of the colour methods on the skin and on the crop, per scenario."""
    print("\ncolour methods, window HR MAE (bpm) [95 % bootstrap over clips], all seeds:")
    rows = windows[windows.method.isin(COLOUR_METHODS) & windows.error.notna()]
    for (kind, name), part in rows.groupby(["kind", "method"], sort=False):
        cells = [f"{region} {clip_mae(part[part.region == region]).strip()}"
                 for region in ("skin", "crop")]
        print(f"  {kind:<13}{name:<7}" + "   ".join(cells))


def report(windows: pd.DataFrame, clips: pd.DataFrame, train: int,
           train_without_pulse: int) -> None:
    region_table(windows)
    windows = windows[windows.region == "skin"]
    clips = clips[clips.region == "skin"]
    pulse = windows.kind.isin(PULSE_KINDS)
    chosen = np.where(pulse, windows.seed < train, windows.seed < train_without_pulse)
    print(f"\nreliable: peak SNR >= {MIN_SNR_DB:g} dB and pulse colour >= {MIN_PULSE_COLOUR:g}; "
          f"a clip is rated when >= {MIN_RELIABLE_SHARE:.0%} of its windows are reliable")
    for split, keep in (("chosen on", chosen), ("held out", ~chosen)):
        print(f"\n{split}: seeds {'<' if split == 'chosen on' else '>='} {train} (with a pulse),"
              f" {train_without_pulse} (without)")
        print(f"{'kind':<13}{'method':<7}{'flagged [95% Wilson]':>22}{'rated':>7}"
              f"{'MAE reliable [95% CI]':>30}{'MAE flagged [95% CI]':>30}{'wrong passed':>15}")
        part = windows[keep]
        for (kind, name), rows in part.groupby(["kind", "method"], sort=False):
            c = clips[(clips.kind == kind) & (clips.method == name) & (clips.seed.isin(rows.seed))]
            line = (f"{kind:<13}{name:<7}{wilson(int((~rows.reliable).sum()), len(rows)):>22}"
                    f"{f'{int(c.rated.sum())}/{len(c)}':>7}")
            if rows.error.notna().any():
                wrong = rows[rows.error > WRONG_BPM]
                passed = wilson(int(wrong.reliable.sum()), len(wrong)) if len(wrong) else "-"
                line += (f"{clip_mae(rows[rows.reliable]):>30}{clip_mae(rows[~rows.reliable]):>30}"
                         f"{passed:>15}")
            print(line)
        rows = part[part.error.notna()]
        wrong = rows[rows.error > WRONG_BPM]
        if wrong.empty:
            continue
        earlier = rows.snr_db >= EARLIER_SNR_DB
        for label, passes in (("all methods", rows.reliable),
                              (f"SNR >= {EARLIER_SNR_DB:g} dB alone", earlier)):
            wrong_passed = int(passes[rows.error > WRONG_BPM].sum())
            print(f"{label}, videos with a pulse: windows wrong by > {WRONG_BPM:g} bpm passed "
                  f"{wilson(wrong_passed, len(wrong))} of n = {len(wrong)}; MAE reliable "
                  f"{rows.error[passes].mean():.2f} bpm (n = {int(passes.sum())}), flagged "
                  f"{rows.error[~passes].mean():.2f} (n = {int((~passes).sum())})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=12, help="subjects with a pulse")
    parser.add_argument("--train", type=int, default=6, help="seeds below it chose the thresholds")
    parser.add_argument("--seeds-without-pulse", type=int, default=8)
    parser.add_argument("--train-without-pulse", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--model", default=DEFAULT_MODEL, help="the released network")
    args = parser.parse_args()
    torch.set_num_threads(2)
    print(f"network: {args.model}")
    windows, clips = collect(args.seeds, args.seeds_without_pulse, args.seconds, args.model)
    report(windows, clips, args.train, args.train_without_pulse)


if __name__ == "__main__":
    main()
