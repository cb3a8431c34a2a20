"""Pulse and heart rate from your own video, without ground truth: :func:`infer_video` and the
``rppg infer VIDEO`` command (:func:`register_infer_command`).

The chain: open the video with :mod:`rppg_lib.datasets` (any file OpenCV/FFmpeg reads, or a
folder of frames), find and track the face (OpenCV Haar cascade, or a centre crop), build the
network inputs with :mod:`rppg_lib.preprocess`, run the network over every frame
(:func:`rppg_lib.inference.predict_clip`), and write:

* ``pulse.csv``: per frame ``time_s``, ``pulse`` (band-passed waveform, arbitrary units),
  ``pulse_derivative`` (network output) and ``hr_bpm`` (sliding-window heart rate interpolated
  to the frame; held constant before the first and after the last window centre);
* ``heart_rate.csv``: per window ``time_s`` (window centre) and ``hr_bpm``;
* ``summary.json``: whole-video heart rate, frame rate, frames without a face, settings;
* ``figures/pulse.png`` and ``.pdf``: the pulse and the heart rate over time;
* ``masks.npz`` and ``mask_frames.npy`` (with ``save_masks``): the attention masks of every
  frame and the face crops on the mask grid (float16), for :mod:`rppg_lib.attention` figures.

(A breathing model writes ``resp`` / ``br_per_min`` columns instead.)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from rppg_lib.atomic import atomic_write_text, atomic_write_with
from rppg_lib.attention import save_masks as write_masks
from rppg_lib.figure_style import style_context, write_figure
from rppg_lib.inference import ClipPrediction, LoadedModel, load_model, predict_clip

__all__ = [
    "NoFaceError",
    "VideoInference",
    "WEIGHTS_ENV",
    "infer_video",
    "plot_video_pulse",
    "register_infer_command",
]

log = logging.getLogger(__name__)

# Environment variable naming the weights file used when none is given.
WEIGHTS_ENV = "RPPG_WEIGHTS"


class NoFaceError(ValueError):
    """The face detector found no face in any frame of the video."""


@dataclass
class VideoInference:
    """What :func:`infer_video` computed and wrote: the prediction, the summary dict (also in
    ``summary.json``) and the written files by name ("pulse_csv", "heart_rate_csv", "summary",
    "figure_png", "figure_pdf", "masks")."""

    prediction: ClipPrediction
    summary: dict[str, Any]
    files: dict[str, Path]


def _resolve_weights(weights: str | os.PathLike | LoadedModel | None) -> LoadedModel:
    if isinstance(weights, LoadedModel):
        return weights
    if weights is None:
        weights = os.environ.get(WEIGHTS_ENV)
        if not weights:
            raise ValueError(
                f"no weights given: pass weights= (or --weights), or set ${WEIGHTS_ENV}; a "
                "checkpoint from rppg_lib.train (.pt), an rPPG-Toolbox TS-CAN (.pth) or "
                "open-rppg's TS-CAN (.weights.h5 / .whl) will do"
            )
    return load_model(weights)


def _network_inputs(pre: Any, loaded: LoadedModel) -> Any:
    """The network input for ``loaded``: the preprocessed clip itself (standard inputs), or
    open-rppg's inputs built from the crops (clips of 160 frames; the last one completed by
    repeating the last frame; the inputs of those copies are dropped again)."""
    if loaded.inputs == "standard":
        return pre
    from rppg_lib.weights.open_rppg import OPEN_RPPG_CLIP_LENGTH, open_rppg_inputs

    crops = np.asarray(pre.mask_frames, dtype=np.float32)
    n = crops.shape[0]
    extra = -n % OPEN_RPPG_CLIP_LENGTH
    if extra:
        crops = np.concatenate([crops, np.repeat(crops[-1:], extra, axis=0)])
    return open_rppg_inputs(crops)[:n]


def infer_video(
    video_path: str | os.PathLike,
    weights: str | os.PathLike | LoadedModel | None = None,
    out_dir: str | os.PathLike = "rppg_infer",
    *,
    fps: float | None = None,
    crop: str = "haar",
    window_s: float = 10.0,
    step_s: float = 1.0,
    device: str = "auto",
    batch_frames: int | None = None,
    save_masks: bool = False,
    progress: bool = True,
) -> VideoInference:
    """Estimate the pulse and heart rate of the face in ``video_path``; write results to
    ``out_dir`` (see the module docstring for the files).

    weights: a weights file (see :func:`rppg_lib.inference.load_model`), a :class:`LoadedModel`,
        or None for the file named by the environment variable ``RPPG_WEIGHTS``.
    fps: frame rate in Hz; needed for a folder of frames, overrides a video's own.
    crop: "haar" (face detection, re-run every 30 frames, box enlarged x1.8) or "center"
        (largest centre square: for videos where the face fills the frame but is not found).
    window_s, step_s: the sliding window of the heart rate over time (s).
    Raises NoFaceError (a ValueError) when no face is found in any frame; a warning is logged
    when some frames had none (they are cropped with the last box).
    """
    from rppg_lib.datasets import open_dataset
    from rppg_lib.preprocess import PreprocessConfig, preprocess_clip

    video_path = Path(video_path)
    loaded = _resolve_weights(weights)  # a bad weights file fails before the video is decoded
    dataset = open_dataset("video", video_path, **({} if fps is None else {"fps": fps}))
    if len(dataset) != 1:
        raise ValueError(
            f"video_path must be one video file or one folder of frames; {video_path} holds "
            f"{len(dataset)} videos"
        )
    clip = dataset[0]
    depth = loaded.frame_depth or 10
    config = PreprocessConfig(
        size=loaded.img_size,
        crop=crop,
        frame_depth=depth,
        chunk_length=depth * max(1, round(180 / depth)),
        mask_size=loaded.img_size if loaded.inputs == "open_rppg" else None,
    )
    with tempfile.TemporaryDirectory(prefix="rppg_infer_") as tmp:
        try:
            pre = preprocess_clip(clip, config, cache_dir=tmp, progress=progress)
        except ValueError as err:
            if "no face found" in str(err):
                raise NoFaceError(
                    f"no face found in {video_path} ({clip.n_frames} frames searched with the "
                    "Haar face detector). Check that a frontal face is visible, or use "
                    "crop='center' (--crop center) if the face fills the frame."
                ) from err
            raise
        inputs = _network_inputs(pre, loaded)
        prediction = predict_clip(
            loaded.model,
            inputs,
            fps=pre.fps,
            outputs=loaded.outputs,
            frame_depth=loaded.frame_depth,
            batch_frames=batch_frames,
            device=device,
            return_masks=save_masks and loaded.inputs == "standard",
            hr_window_s=window_s,
            hr_step_s=step_s,
            progress=progress,
        )
        prediction.clip_id = str(clip.clip_id)
        prediction.frame_times = np.asarray(pre.frame_times, dtype=np.float64)
        frames_without_face = pre.n_no_face_frames if crop == "haar" else 0
        mask_frames = np.array(pre.mask_frames) if save_masks else None

    out = Path(out_dir)
    files: dict[str, Path] = {}
    table = {"time_s": prediction.frame_times}
    if prediction.pulse is not None:
        table |= {
            "pulse": prediction.pulse,
            "pulse_derivative": prediction.pulse_derivative,
            "hr_bpm": np.interp(prediction.frame_times, prediction.hr_times, prediction.hr_series),
        }
        hr_table = pd.DataFrame({"time_s": prediction.hr_times, "hr_bpm": prediction.hr_series})
        files["heart_rate_csv"] = atomic_write_text(
            out / "heart_rate.csv", hr_table.to_csv(index=False, float_format="%.9g")
        )
    if prediction.resp is not None:
        table |= {"resp": prediction.resp, "resp_derivative": prediction.resp_derivative}
    files["pulse_csv"] = atomic_write_text(
        out / "pulse.csv", pd.DataFrame(table).to_csv(index=False, float_format="%.9g")
    )
    summary = {
        "video": str(video_path),
        "weights": loaded.source,
        "weights_kind": loaded.kind,
        "fps": prediction.fps,
        "n_frames": prediction.n_frames,
        "duration_s": prediction.n_frames / prediction.fps,
        "hr_bpm": prediction.hr_bpm,
        "br_per_min": prediction.br_bpm,
        "crop": crop,
        "frames_without_face": frames_without_face,
        "padded_frames": prediction.padded_frames,
        "window_s": window_s,
        "step_s": step_s,
    }
    files["summary"] = atomic_write_text(
        out / "summary.json", json.dumps(summary, indent=2, sort_keys=True) + "\n"
    )
    figure = plot_video_pulse(prediction, title=video_path.name)
    paths = write_figure(figure, out / "figures", "pulse", formats=("png", "pdf"))
    files["figure_png"], files["figure_pdf"] = paths["png"], paths["pdf"]
    if prediction.masks is not None:
        files["masks"] = write_masks(out / "masks.npz", prediction.masks)
        crops = mask_frames.astype(np.float16)
        files["mask_frames"] = atomic_write_with(
            out / "mask_frames.npy", lambda handle: np.save(handle, crops)
        )
    return VideoInference(prediction=prediction, summary=summary, files=files)


def plot_video_pulse(prediction: ClipPrediction, *, title: str | None = None) -> Figure:
    """The estimated pulse waveform over time and the sliding-window heart rate (and the
    respiration for a breathing model), one panel each, time in seconds."""
    panels = []
    if prediction.pulse is not None:
        panels += ["pulse", "hr"]
    if prediction.resp is not None:
        panels.append("resp")
    t = prediction.frame_times
    with style_context():
        fig = Figure(figsize=(6.5, 1.6 * len(panels) + 0.4), layout="constrained")
        axes = np.atleast_1d(fig.subplots(len(panels), 1, sharex=True))
        for ax, panel in zip(axes, panels, strict=True):
            if panel == "pulse":
                ax.plot(t, prediction.pulse, lw=0.8)
                ax.set_ylabel("pulse (a.u.)")
            elif panel == "hr":
                ax.plot(prediction.hr_times, prediction.hr_series, marker=".", lw=1)
                ax.axhline(prediction.hr_bpm, color="0.5", ls="--", lw=0.8,
                           label=f"whole video: {prediction.hr_bpm:.1f} bpm")
                ax.set_ylabel("HR (bpm)")
                ax.legend(loc="upper right")
            else:
                ax.plot(t, prediction.resp, lw=0.8)
                ax.set_ylabel(f"resp. (BR {prediction.br_bpm:.1f}/min)")
        axes[-1].set_xlabel("time (s)")
        if title:
            fig.suptitle(title)
    return fig


# --- the `rppg infer` command --------------------------------------------------------------------


def register_infer_command(subparsers: argparse._SubParsersAction) -> None:
    """Add ``infer`` to the ``rppg`` command's subparsers (its ``func`` returns the exit status:
    0 success, 2 bad input such as a missing file or no face)."""
    parser = subparsers.add_parser(
        "infer",
        help="estimate pulse and heart rate from a video (no ground truth needed)",
        description="Estimate the pulse and heart rate of the face in a video; writes "
        "pulse.csv, heart_rate.csv, summary.json and figures/pulse.png|pdf.",
    )
    parser.add_argument("video", help="video file (any format OpenCV reads) or folder of frames")
    parser.add_argument(
        "--weights", default=None,
        help=f"weights: .pt (rppg_lib.train), .pth (rPPG-Toolbox), .weights.h5/.whl (open-rppg); "
        f"default ${WEIGHTS_ENV}",
    )
    parser.add_argument("--out", default=None, help="output folder (default: ./<video name>_rppg)")
    parser.add_argument("--fps", type=float, default=None, help="frame rate (Hz) of a folder")
    parser.add_argument("--crop", choices=("haar", "center"), default="haar",
                        help="face detection (default) or centre square")
    parser.add_argument("--window", type=float, default=10.0, help="HR window length (s)")
    parser.add_argument("--step", type=float, default=1.0, help="HR window step (s)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, mps")
    parser.add_argument("--masks", action="store_true", help="also save the attention masks")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.set_defaults(func=_cmd_infer)


def _cmd_infer(args: argparse.Namespace) -> int:
    video = Path(args.video)
    out = Path(args.out) if args.out else Path(f"{video.stem}_rppg")
    try:
        result = infer_video(
            video, args.weights, out, fps=args.fps, crop=args.crop, window_s=args.window,
            step_s=args.step, device=args.device, save_masks=args.masks,
            progress=not args.no_progress,
        )
    except (ValueError, FileNotFoundError) as err:
        print(f"rppg infer: error: {err}", file=sys.stderr)
        return 2
    s = result.summary
    if s["hr_bpm"] is not None:
        print(f"rppg infer: heart rate {s['hr_bpm']:.1f} bpm over {s['duration_s']:.1f} s")
    if s["br_per_min"] is not None:
        print(f"rppg infer: breathing rate {s['br_per_min']:.1f} /min")
    if s["frames_without_face"]:
        print(f"rppg infer: warning: no face in {s['frames_without_face']} of {s['n_frames']} "
              "frames (cropped with the last box)")
    print(f"rppg infer: results in {out}")
    return 0
