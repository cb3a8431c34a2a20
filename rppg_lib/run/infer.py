"""The ``rppg infer VIDEO`` command: its options, its output folder and the files it writes.

The estimate itself is :func:`rppg_lib.video_inference.infer_video` (the core, which writes
nothing); here :func:`infer_to_folder` checks the output folder once every other check has
passed and before any decoding, runs it, and writes (each file atomically) to the folder:

* ``pulse.csv``: per frame ``time_s``, ``pulse`` (band-passed waveform, a.u.),
  ``pulse_derivative`` (a network whose output is the derivative), ``hr_bpm`` (window heart
  rate interpolated to the frame) and ``reliable`` (the nearest window's flag);
* ``heart_rate.csv``: per window ``time_s`` (window centre), ``hr_bpm``, ``snr_db``,
  ``peak_share``, ``pulse_colour``, ``reliable``, and ``hr_ref_bpm`` with ``--ground-truth``;
* ``summary.json``: whole-video heart rate per method, confidence, whether the methods agree,
  errors against the ground truth, frame counts (header and decoded), the model's name,
  settings and timings;
* ``figures/pulse.png`` and ``.pdf``: the pulse and the heart rate over time, flagged windows
  marked, the ground truth overlaid, and a disagreement between methods in the title;
* ``masks.npz`` and ``mask_frames.npy`` (with ``--masks``, a standard-input network): the
  attention masks and the face crops on the mask grid (float16).

A method's columns carry the suffix ``_<method>`` when several methods run (``hr_bpm_pos``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rppg_lib.atomic import atomic_write_text, atomic_write_with, move_aside
from rppg_lib.attention import save_masks as write_masks
from rppg_lib.figure_style import write_figure
from rppg_lib.plots import plot_video_pulse
from rppg_lib.video_inference import (
    DEFAULT_MODEL,
    METHOD_CHOICES,
    WEIGHTS_ENV,
    MethodResult,
    VideoInference,
    infer_video,
)
from rppg_lib.weights import RELEASED_MODELS

__all__ = [
    "InferOutput",
    "infer_to_folder",
    "prepare_infer_out_dir",
    "register_infer_command",
    "write_results",
]

# What a previous `rppg infer` leaves in its folder: --force moves such a folder aside.
_RESULT_MARKERS = ("summary.json", "pulse.csv", "heart_rate.csv")


@dataclass
class InferOutput:
    """:func:`infer_to_folder`'s result: the estimate and the written files by name
    ("pulse_csv", "heart_rate_csv", "summary", "figure_png", "figure_pdf", "masks",
    "mask_frames")."""

    result: VideoInference
    files: dict[str, Path]

    @property
    def summary(self) -> dict[str, Any]:
        return self.result.summary

    @property
    def methods(self) -> dict[str, MethodResult]:
        return self.result.methods


def _nearest_existing(path: Path) -> Path:
    for parent in (path, *path.parents):
        if parent.exists():
            return parent
    return Path(".")


def prepare_infer_out_dir(out_dir: str | os.PathLike, *, force: bool = False) -> Path | None:
    """Check (and with ``force`` clear) the output folder before any work; returns where an old
    result was moved, if anywhere.

    Refused with a one-line error naming the folder: a path that is a file or lies under a file
    (FileExistsError / NotADirectoryError), a folder that cannot be created or written
    (PermissionError), a non-empty folder without ``force`` (FileExistsError). With ``force`` a
    folder holding a previous result (``summary.json``, ``pulse.csv`` or ``heart_rate.csv``) is
    renamed to ``<out>.old-<UTC time>``, so no stale file of the previous run (masks, figures) is
    left beside the new ones and nothing is deleted; any other non-empty folder is refused.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"output folder --out {out} exists and is a file")
    anchor = _nearest_existing(out.parent if not out.exists() else out)
    if not anchor.is_dir():
        raise NotADirectoryError(f"output folder --out {out} lies under the file {anchor}")
    if not os.access(anchor, os.W_OK | os.X_OK):
        raise PermissionError(f"output folder --out {out}: {anchor} is not writable")
    moved = None
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise FileExistsError(
                f"output folder --out {out} is not empty; pass --force to move a previous result "
                f"aside (to {out.name}.old-<time>) or choose another --out"
            )
        if not any((out / m).exists() for m in _RESULT_MARKERS):
            raise FileExistsError(
                f"output folder --out {out} is not empty and holds no rppg infer result; choose "
                "a new or empty folder"
            )
        moved = move_aside(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise PermissionError(f"cannot create output folder --out {out}: {err.strerror}") from None
    return moved


def infer_to_folder(
    video_path: str | os.PathLike,
    weights: Any = None,
    out_dir: str | os.PathLike = "rppg_infer",
    *,
    force: bool = False,
    **options: Any,
) -> InferOutput:
    """:func:`~rppg_lib.video_inference.infer_video` (``options`` are its keywords) with its
    results written to ``out_dir`` (module docstring). The folder is checked, and with ``force``
    a previous result moved aside (:func:`prepare_infer_out_dir`), only once every other argument
    has passed its checks and before any frame is decoded."""
    result = infer_video(
        video_path, weights,
        before_decoding=lambda: prepare_infer_out_dir(out_dir, force=force), **options,
    )
    return InferOutput(result, write_results(result, out_dir))


def write_results(result: VideoInference, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write ``result``'s tables, figure, masks and summary to ``out_dir`` (an existing folder);
    the written files by name."""
    out = Path(out_dir)
    files = _write_tables(out, result.frame_times, result.methods, result.resp,
                          result.reference_hr)
    agreement = result.summary.get("agreement")
    title = Path(str(result.summary["video"])).name
    if agreement and agreement["disagree"]:
        title += f": methods disagree by {agreement['spread_bpm']:.0f} bpm"
    figure = plot_video_pulse(result.frame_times, result.methods, resp=result.resp,
                              reference_hr=result.reference_hr, title=title)
    paths = write_figure(figure, out / "figures", "pulse", formats=("png", "pdf"))
    files["figure_png"], files["figure_pdf"] = paths["png"], paths["pdf"]
    if result.masks is not None:
        mask_frames = result.mask_frames
        files["masks"] = write_masks(out / "masks.npz", result.masks)
        files["mask_frames"] = atomic_write_with(
            out / "mask_frames.npy", lambda handle: np.save(handle, mask_frames)
        )
    files["summary"] = atomic_write_text(
        out / "summary.json", json.dumps(result.summary, indent=2, sort_keys=True) + "\n"
    )
    return files


def _write_tables(out: Path, frame_times: np.ndarray, results: dict[str, MethodResult],
                  resp: np.ndarray | None, ref_rates: np.ndarray | None) -> dict[str, Path]:
    files: dict[str, Path] = {}
    table: dict[str, Any] = {"time_s": frame_times}
    windows: dict[str, Any] = {}
    several = len(results) > 1
    for name, r in results.items():
        sfx = f"_{name}" if several else ""
        table[f"pulse{sfx}"] = r.pulse
        if r.derivative is not None:
            table[f"pulse_derivative{sfx}"] = r.derivative
        if r.hr_times.size:
            table[f"hr_bpm{sfx}"] = np.interp(frame_times, r.hr_times, r.hr_series)
            nearest = np.abs(frame_times[:, None] - r.hr_times[None, :]).argmin(axis=1)
            table[f"reliable{sfx}"] = r.reliable[nearest]
            windows.setdefault("time_s", r.hr_times)
            windows |= {f"hr_bpm{sfx}": r.hr_series, f"snr_db{sfx}": r.snr_db,
                        f"peak_share{sfx}": r.peak_share, f"pulse_colour{sfx}": r.pulse_colour,
                        f"reliable{sfx}": r.reliable}
        else:
            table[f"hr_bpm{sfx}"] = np.full(frame_times.shape, np.nan)
            table[f"reliable{sfx}"] = np.zeros(frame_times.shape, dtype=bool)
    if resp is not None:
        table["resp"] = resp
    if windows and ref_rates is not None:
        windows["hr_ref_bpm"] = ref_rates
    if windows:
        files["heart_rate_csv"] = atomic_write_text(
            out / "heart_rate.csv", pd.DataFrame(windows).to_csv(index=False, float_format="%.9g")
        )
    files["pulse_csv"] = atomic_write_text(
        out / "pulse.csv", pd.DataFrame(table).to_csv(index=False, float_format="%.9g")
    )
    return files


# --- the `rppg infer` command --------------------------------------------------------------------


def register_infer_command(subparsers: argparse._SubParsersAction) -> None:
    """Add ``infer`` to the ``rppg`` command's subparsers (its ``func`` returns the exit status:
    0 success, 2 bad input such as a missing file, a bad option or no face)."""
    parser = subparsers.add_parser(
        "infer",
        help="estimate pulse and heart rate from a video (no ground truth needed)",
        description="Estimate the pulse and heart rate of the face in a video, with a confidence "
        "per window; writes pulse.csv, heart_rate.csv, summary.json and figures/pulse.png|pdf.",
    )
    parser.add_argument("video", help="video file (any format OpenCV reads) or folder of frames")
    parser.add_argument(
        "--method", default="network", choices=METHOD_CHOICES, metavar="METHOD",
        help="network (default; tscan is its earlier name), pos, chrom, green, ica, or all of "
        "them side by side (the unsupervised methods read the skin of the face box)",
    )
    parser.add_argument(
        "--model", default=None, metavar="NAME", type=str.lower,
        help=f"a released open-rppg model from data/weights/: {', '.join(sorted(RELEASED_MODELS))}"
        f" (default {DEFAULT_MODEL}; facephys.rlap steps frame by frame, about 0.4 s of CPU per "
        "frame)",
    )
    parser.add_argument(
        "--weights", default=None,
        help="your own network weights instead of --model: .pt (rppg_lib.train), .pth "
        "(rPPG-Toolbox), .weights.h5/.whl (open-rppg TS-CAN); PyTorch files are read without "
        f"unpickling code; default ${WEIGHTS_ENV}, else --model's default",
    )
    parser.add_argument("--ground-truth", default=None, metavar="CSV",
                        help="CSV with time and bvp and/or hr columns: MAE/RMSE in the summary")
    parser.add_argument("--out", default=None, help="output folder (default: ./<video name>_rppg)")
    parser.add_argument("--force", action="store_true",
                        help="if --out holds a previous result, move it aside to <out>.old-<time>")
    parser.add_argument("--fps", type=float, default=None,
                        help="frame rate (Hz, 5-240): required for a folder of frames, overrides "
                        "a video's header")
    parser.add_argument("--crop", choices=("haar", "center"), default="haar",
                        help="face detection and tracking (default) or centre square")
    parser.add_argument("--window", type=float, default=None,
                        help="HR window length (s; default 10, or the whole of a shorter video)")
    parser.add_argument("--step", type=float, default=1.0, help="HR window step (s)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, mps")
    parser.add_argument("--masks", action="store_true", help="also save the attention masks")
    parser.add_argument("--eager", action="store_true",
                        help="run the network eagerly instead of as a frozen TorchScript (same "
                        "numbers to ~1e-6; the summary's network_path says which ran)")
    parser.add_argument("--bf16", action="store_true",
                        help="the network under bfloat16 autocast, channels-last (CPUs with "
                        "AVX-512-BF16 or AMX; outputs within ~3e-3 of float32)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.set_defaults(func=_cmd_infer)


def _cmd_infer(args: argparse.Namespace) -> int:
    video = Path(args.video)
    out = Path(args.out) if args.out else Path(f"{video.stem}_rppg")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            written = infer_to_folder(
                video, args.weights, out, force=args.force, model=args.model,
                method=args.method, ground_truth=args.ground_truth, fps=args.fps, crop=args.crop,
                window_s=args.window, step_s=args.step, device=args.device,
                freeze=not args.eager, bf16=args.bf16, save_masks=args.masks,
                progress=not args.no_progress,
            )
    except (ValueError, OSError) as err:
        print(f"rppg infer: error: {err}", file=sys.stderr)
        return 2
    for warning in caught:
        if warning.category.__module__.split(".")[0] in ("sklearn", "numpy"):
            continue  # FastICA's convergence and numpy's arithmetic notes: no action for a user
        print(f"rppg infer: warning: {warning.message}", file=sys.stderr)
    s = written.summary
    if s["model"] is not None:
        print(f"rppg infer: network: {s['model']}")
    for name, m in s["methods"].items():
        if m["hr_bpm"] is not None:
            print(f"rppg infer: {name}: heart rate {m['hr_bpm']:.1f} bpm over "
                  f"{s['duration_s']:.1f} s ({m['n_windows_reliable']} of {m['n_windows']} "
                  "windows reliable)")
        else:
            print(f"rppg infer: {name}: {m['reason']}")
        if "ground_truth" in m and m["ground_truth"]["mae_bpm"] is not None:
            g = m["ground_truth"]
            print(f"rppg infer: {name}: MAE {g['mae_bpm']:.2f} bpm, RMSE {g['rmse_bpm']:.2f} bpm "
                  f"over {g['n_windows']} windows against the ground truth")
    if s["agreement"] is not None:
        label = "warning: " if s["agreement"]["disagree"] else ""
        print(f"rppg infer: {label}{s['agreement']['message']}")
    if s["br_per_min"] is not None:
        print(f"rppg infer: breathing rate {s['br_per_min']:.1f} /min")
    if s["frames_without_face"]:
        print(f"rppg infer: warning: no face in {s['frames_without_face']} of {s['n_frames']} "
              "frames (cropped with the last box)")
    print(f"rppg infer: results in {out}")
    return 0
