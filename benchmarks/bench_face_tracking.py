"""Face-crop benchmark: jitter on a still face and lag on a moving one, today's tracker vs the new.

Trackers: ``legacy`` (the box is held between Haar detections every 30 frames and moved by each
detection to a moving average) and ``flow`` (the default: optical-flow tracking, one-euro
smoothing, re-detection hysteresis and a dead band; see ``rppg_lib.preprocess.face_tracking``).
Both run
through ``BoxTracker`` with the default ``PreprocessConfig`` parameters.

Measures (face size = median side of the legacy tracker's face box on that clip, so that both
trackers are divided by the same number):

- jitter: std over frames of the frame-to-frame change of the box centre x, y and side, divided
  by the face size; ``all`` = root mean square of the three. Face box (box_scale 1, what the
  tracker follows) and crop box (box_scale 1.8, what the network sees; on the real video its side
  is clipped to the frame height). Also the number of frames whose box differs from the previous
  one. On the real face video in ../shared/real (skipped when absent) and on synthetic ``clean``
  clips (the default run's subjects: seeds 1..N, 20 s, 128 px, 30 fps).
- lag on the synthetic ``motion`` scenario against the exact face centre the generator knows
  (``face_center_px`` + the head translation ``motion[:, :2]``): the shift k (frames) of the box
  centre trajectory that best matches the true one, i.e. the k in [-15, 45] minimising the RMS of
  est[t] − true[t − k] once its mean (Haar's constant offset from the generator's box) is removed;
  with that RMS and the one at k = 0, in face sides.
- the change of the default run's crop boxes (crop haar, box_scale 1.8; clean and illumination
  clips of the default subjects): mean absolute difference of x, y and side between the two
  trackers (pixels), mean IoU, the share of frames with the same box, and how often each
  tracker's crop moves.

Run: ``python benchmarks/bench_face_tracking.py`` (about 1-2 minutes on one core;
``--subjects 2 --seconds 10`` for a quick look).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from rppg_lib.preprocess.face_tracking import BoxTracker
from rppg_lib.synthetic import generate
from rppg_lib.video_io import read_video

REAL_VIDEO = (
    Path(__file__).resolve().parents[1]
    / ".."
    / "shared"
    / "real"
    / "naber_rppg_video"
    / "rPPG_video.mp4"
)
TRACKERS = ("legacy", "flow")
CROP_SCALE = 1.8  # PreprocessConfig's default box_scale
FPS = 30.0
FRAME_SIZE = 128  # the default run's synthetic frames
LAGS = range(-15, 46)


def track(
    frames: np.ndarray, fps: float, tracker: str, box_scale: float
) -> tuple[np.ndarray, float]:
    """Boxes (T, 4) float of one tracker over a clip, and the tracking time per frame (ms)."""
    boxes = BoxTracker("haar", tracker=tracker, box_scale=box_scale, fps=fps)
    start = time.process_time()
    out = np.array([boxes(frame, t)[0] for t, frame in enumerate(frames)], dtype=np.float64)
    return out, 1e3 * (time.process_time() - start) / len(frames)


def centres(boxes: np.ndarray) -> np.ndarray:
    """(T, 3) centre x, centre y, side of (T, 4) boxes."""
    return np.c_[boxes[:, 0] + boxes[:, 2] / 2, boxes[:, 1] + boxes[:, 3] / 2, boxes[:, 2]]


def jitter(boxes: np.ndarray, face_px: float) -> np.ndarray:
    """std of the frame-to-frame change of (x, y, side) / face_px, and their RMS: (4,)."""
    per_axis = np.diff(centres(boxes), axis=0).std(axis=0) / face_px
    return np.append(per_axis, np.sqrt(np.mean(per_axis**2)))


def moves(boxes: np.ndarray) -> int:
    return int(np.count_nonzero(np.any(np.diff(boxes, axis=0) != 0, axis=1)))


def lag(boxes: np.ndarray, truth: np.ndarray) -> tuple[int, float, float]:
    """Best-aligning shift (frames) of the box centres vs the true centres (T, 2), the RMS error
    there and at shift 0 (pixels, constant offset removed)."""
    est = centres(boxes)[:, :2]

    def rms(k: int) -> float:
        err = est[k:] - truth[: len(truth) - k] if k >= 0 else est[:k] - truth[-k:]
        err = err - err.mean(axis=0)
        return float(np.sqrt(np.mean(np.sum(err**2, axis=1))))

    errors = {k: rms(k) for k in LAGS}
    best = min(errors, key=errors.get)
    return best, errors[best], errors[0]


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    w = np.clip(
        np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None
    )
    h = np.clip(
        np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None
    )
    inter = w * h
    return inter / (a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter)


def still_face(frames: np.ndarray, fps: float) -> dict[str, dict[str, np.ndarray | float | int]]:
    """Jitter of face and crop boxes and moves, per tracker, on one clip."""
    face_px = None
    out = {}
    for name in TRACKERS:
        face, ms = track(frames, fps, name, 1.0)
        crop, _ = track(frames, fps, name, CROP_SCALE)
        face_px = face_px or float(np.median(face[:, 2]))
        out[name] = {
            "face": jitter(face, face_px),
            "crop": jitter(crop, face_px),
            "moves": moves(crop),
            "ms": ms,
            "face_px": face_px,
        }
    return out


def row(label: str, values: np.ndarray) -> str:
    return f"  {label:<22}" + "".join(f"{v:>10.5f}" for v in values)


def ratio(new: float, old: float) -> str:
    return f"{new / old:.3f}" if old > 0 else "n/a (old is 0)"


def report_still(title: str, results: list[dict]) -> None:
    """Print mean jitter per tracker over clips, with new/old ratios (mean and range over clips)."""
    print(f"\n{title} (n = {len(results)} clip(s)); jitter in face sides per frame")
    print(f"  {'':<22}" + "".join(f"{h:>10}" for h in ("x", "y", "side", "all")))
    for kind in ("face", "crop"):
        for name in TRACKERS:
            mean = np.mean([r[name][kind] for r in results], axis=0)
            print(row(f"{kind} box, {name}", mean))
        old = np.array([r["legacy"][kind][3] for r in results])
        new = np.array([r["flow"][kind][3] for r in results])
        per_clip = [new_k / old_k for new_k, old_k in zip(new, old, strict=True) if old_k > 0]
        spread = f" (per clip {min(per_clip):.3f}-{max(per_clip):.3f})" if per_clip else ""
        print(f"  {kind} box: new/old jitter (all) = {ratio(new.mean(), old.mean())}{spread}")
    for name in TRACKERS:
        n_moves = [r[name]["moves"] for r in results]
        ms = np.mean([r[name]["ms"] for r in results])
        print(f"  {name}: crop moves per clip {n_moves}; tracking {ms:.2f} ms/frame (CPU time)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=8, help="synthetic subjects (seeds 1..N)")
    parser.add_argument("--seconds", type=float, default=20.0, help="synthetic clip length, s")
    parser.add_argument("--video", type=Path, default=REAL_VIDEO, help="real face video")
    args = parser.parse_args()
    seeds = range(1, args.subjects + 1)
    started = time.time()

    if args.video.is_file():
        frames, fps = read_video(args.video)
        result = still_face(frames, fps)
        report_still(
            f"Real video {args.video.name}: {len(frames)} frames at {fps:.1f} fps, "
            f"face {result['legacy']['face_px']:.0f} px",
            [result],
        )
    else:
        print(f"\nReal video {args.video} not found: skipped")

    clean = [
        generate("clean", seconds=args.seconds, fps=FPS, size=FRAME_SIZE, seed=s) for s in seeds
    ]
    report_still(
        f"Synthetic clean, seeds {list(seeds)}, {args.seconds:g} s at {FPS:g} fps, {FRAME_SIZE} px",
        [still_face(clip.frames, FPS) for clip in clean],
    )

    print(f"\nSynthetic motion, seeds {list(seeds)}: lag of the face-box centre vs the true centre")
    lags: dict[str, list[tuple[int, float, float]]] = {name: [] for name in TRACKERS}
    for seed in seeds:
        clip = generate("motion", seconds=args.seconds, fps=FPS, size=FRAME_SIZE, seed=seed)
        subject = clip.params["drawn"]["subject"]
        truth = np.asarray(subject["face_center_px"]) + clip.motion[:, :2]
        face_px = max(subject["face_size_px"])
        for name in TRACKERS:
            k, rms_k, rms_0 = lag(track(clip.frames, FPS, name, 1.0)[0], truth)
            lags[name].append((k, rms_k / face_px, rms_0 / face_px))
    for name in TRACKERS:
        k = np.array([v[0] for v in lags[name]])
        rms_k = np.mean([v[1] for v in lags[name]])
        rms_0 = np.mean([v[2] for v in lags[name]])
        print(
            f"  {name:<7} lag per clip {k.tolist()} frames; mean {k.mean():.1f} frames = "
            f"{k.mean() / FPS:.3f} s (max {k.max() / FPS:.3f} s); RMS error {rms_k:.4f} face "
            f"sides at that lag, {rms_0:.4f} at lag 0"
        )
    old, new = (np.mean([v[0] for v in lags[name]]) for name in TRACKERS)
    print(f"  new/old lag = {ratio(new, old)}")

    print(
        f"\nDefault run's crop boxes (box_scale {CROP_SCALE}), flow vs legacy, seeds {list(seeds)}"
    )
    for scenario in ("clean", "illumination"):
        diffs, overlaps, same, n_moves = [], [], [], {name: [] for name in TRACKERS}
        for seed in seeds:
            clip = (
                clean[seed - 1]
                if scenario == "clean"
                else generate(scenario, seconds=args.seconds, fps=FPS, size=FRAME_SIZE, seed=seed)
            )
            old_boxes, new_boxes = (track(clip.frames, FPS, n, CROP_SCALE)[0] for n in TRACKERS)
            diffs.append(np.abs(centres(new_boxes) - centres(old_boxes)).mean(axis=0))
            overlaps.append(iou(new_boxes, old_boxes).mean())
            same.append(np.all(new_boxes == old_boxes, axis=1).mean())
            n_moves["legacy"].append(moves(old_boxes))
            n_moves["flow"].append(moves(new_boxes))
        dx, dy, ds = np.mean(diffs, axis=0)
        print(
            f"  {scenario:<12} mean |difference| centre x {dx:.2f} px, y {dy:.2f} px, side "
            f"{ds:.2f} px; mean IoU {np.mean(overlaps):.3f} (min clip {np.min(overlaps):.3f}); "
            f"same box in {100 * np.mean(same):.1f} % of frames; crop moves per clip legacy "
            f"{n_moves['legacy']}, flow {n_moves['flow']}"
        )
    print(f"\n(total {time.time() - started:.0f} s)")


if __name__ == "__main__":
    main()
