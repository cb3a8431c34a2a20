"""Build the synthetic dataset on disk, reusing every clip that is already there and current.

Subject k (1-based) uses seed ``seed * 1000 + k`` in every scenario (same face and physiology,
different corruption). A clip is regenerated only when its folder is missing, incomplete, or was
made with different parameters (scenario, seconds, fps, size, seed, overrides, storage format or
generator source code). Each clip is written into a temporary folder and renamed into place, and
the manifest is rewritten atomically after each clip, so a crash leaves either a finished clip or
a temporary folder that the next build removes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import __version__, synthetic
from ..atomic import atomic_write_json, atomic_write_text, atomic_write_with
from ..progress import progress_bar
from ..synthetic import SCENARIOS
from ..validation import check_fs, check_positive, check_positive_int
from ..video_io import iter_video, write_image_folder, write_video
from .collection import Dataset
from .synthetic import (
    CLIP_META,
    FRAMES_DIR,
    GT_COLUMNS,
    GT_FILE,
    MANIFEST,
    MASK_FILE,
    SYNTHETIC_FORMAT,
    VIDEO_FILE,
    clip_is_complete,
    read_synthetic,
    subject_seed,
    synthetic_clip_id,
)

__all__ = ["build_synthetic_dataset", "generator_digest"]

_TMP_PREFIX = ".tmp-"
_VIDEO_FORMATS = ("auto", "ffv1", "png")


def generator_digest() -> str:
    """SHA-256 (first 16 hex digits) of the synthetic generator's source files.

    Part of every clip's parameters: editing the generator regenerates the cached clips.
    """
    folder = Path(synthetic.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _ground_truth_csv(clip: Any) -> str:
    n = clip.frames.shape[0]
    columns = np.column_stack([
        np.arange(n), np.arange(n) / clip.fps, clip.bvp, clip.resp, clip.hr, clip.br,
        clip.face_box, clip.illumination, clip.motion,
    ])  # fmt: skip
    table = pd.DataFrame(columns, columns=list(GT_COLUMNS))
    for name in ("frame", "face_x", "face_y", "face_w", "face_h"):
        table[name] = table[name].astype(np.int64)
    # 17 significant digits: every float64 reads back bit-exactly.
    return table.to_csv(index=False, float_format="%.17g")


def _write_frames(folder: Path, frames: np.ndarray, fps: float, video_format: str) -> str:
    """Write the frames losslessly; returns the name of the video file or frame folder."""
    even = frames.shape[1] % 2 == 0 and frames.shape[2] % 2 == 0
    if video_format == "ffv1" or (video_format == "auto" and even):
        path = folder / VIDEO_FILE
        try:
            write_video(path, frames, fps, fourcc="FFV1")
            exact = all(
                np.array_equal(a, b)
                for a, b in zip(iter_video(path, n_frames=len(frames)), frames, strict=True)
            )
        except ValueError as err:
            if video_format == "ffv1":
                raise
            warnings.warn(f"FFV1 writing failed ({err}); storing PNG frames", stacklevel=3)
            exact = None
        if exact:
            return VIDEO_FILE
        if exact is False:
            if video_format == "ffv1":
                raise ValueError(f"the FFV1 round trip of {path} is not bit-exact with this OpenCV "
                                 "build; use video_format='png'")
            warnings.warn(f"FFV1 round trip of {path} not bit-exact; storing PNG frames",
                          stacklevel=3)
        path.unlink(missing_ok=True)
    write_image_folder(folder / FRAMES_DIR, frames, ext=".png")
    return FRAMES_DIR


def _write_clip(root: Path, clip_id: str, subject: str, params: dict, video_format: str) -> None:
    overrides = params["overrides"]
    # Through the module, so that the generator can be swapped (tests count its calls).
    clip = synthetic.generate(
        params["scenario"], params["seconds"], params["fps"], params["size"], params["seed"],
        **overrides,
    )
    tmp = root / f"{_TMP_PREFIX}{clip_id}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        video = _write_frames(tmp, clip.frames, clip.fps, video_format)
        atomic_write_text(tmp / GT_FILE, _ground_truth_csv(clip))
        mask = np.asarray(clip.skin_mask, dtype=bool)
        atomic_write_with(tmp / MASK_FILE, lambda f: np.savez_compressed(
            f, packed=np.packbits(mask, axis=-1), shape=np.asarray(mask.shape)))
        files = {
            str(p.relative_to(tmp)): p.stat().st_size for p in sorted(tmp.rglob("*")) if p.is_file()
        }
        atomic_write_json(tmp / CLIP_META, {
            "clip_id": clip_id,
            "subject": subject,
            "scenario": params["scenario"],
            "params": params,
            "generator_params": clip.params,
            "n_frames": int(clip.frames.shape[0]),
            "fps": float(clip.fps),
            "height": int(clip.frames.shape[1]),
            "width": int(clip.frames.shape[2]),
            "video": video,
            "files": files,
        })  # fmt: skip
        final = root / clip_id
        if final.exists():
            # Move the stale clip aside first: rename cannot replace a non-empty folder.
            stale = root / f"{_TMP_PREFIX}stale-{clip_id}-{uuid.uuid4().hex[:8]}"
            os.replace(final, stale)
            shutil.rmtree(stale)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _json_roundtrip(obj: Any) -> Any:
    """``obj`` as JSON gives it back (tuples become lists), to compare with stored params."""
    return json.loads(json.dumps(obj))


def build_synthetic_dataset(
    root: str | os.PathLike,
    *,
    subjects: int,
    scenarios: Sequence[str],
    seconds: float,
    fps: float,
    size: int,
    seed: int,
    progress: bool = True,
    overrides: dict | None = None,
    video_format: str = "auto",
) -> Dataset:
    """Generate ``subjects`` × ``scenarios`` clips into ``root`` (or reuse them) and read them back.

    ``seconds`` per clip, ``fps`` in Hz, ``size`` × ``size`` pixels, ``seed`` for the dataset;
    ``overrides`` are generator knobs applied to every clip. ``video_format``: ``"ffv1"`` (lossless
    video; even ``size`` only), ``"png"`` (frame folders) or ``"auto"`` (FFV1 when the size is even
    and the round trip is verified bit-exact, PNG otherwise). Returns the dataset as
    :func:`read_synthetic` reads it.
    """
    root = Path(root)
    spec = _DatasetSpec(
        subjects, scenarios, seconds, fps, size, seed, overrides, video_format
    ).checked()
    root.mkdir(parents=True, exist_ok=True)
    for leftover in root.glob(f"{_TMP_PREFIX}*"):
        # Temporary folders only exist while a build runs: these are from an interrupted one.
        shutil.rmtree(leftover, ignore_errors=True)
    _write_clips(root, spec, generator_digest(), progress)
    return read_synthetic(root)


@dataclass(frozen=True)
class _DatasetSpec:
    """The arguments of :func:`build_synthetic_dataset` (same meanings and units), as given
    until :meth:`checked`."""

    subjects: int
    scenarios: Sequence[str]
    seconds: float
    fps: float
    size: int
    seed: int
    overrides: dict[str, Any] | None
    video_format: str

    def checked(self) -> _DatasetSpec:
        """The spec with its values checked: ValueError naming the first bad argument;
        scenarios as a list, overrides as JSON gives them back."""
        subjects = check_positive_int(self.subjects, "subjects")
        scenarios = self.scenarios
        if isinstance(scenarios, str) or not scenarios:
            raise ValueError(
                f"scenarios must be a non-empty list of scenario names, got {scenarios!r}"
            )
        scenarios = list(scenarios)
        unknown = [s for s in scenarios if s not in SCENARIOS]
        if unknown or len(set(scenarios)) != len(scenarios):
            raise ValueError(
                f"scenarios must be distinct names from {SCENARIOS}, got {scenarios!r}"
            )
        seconds = check_positive(self.seconds, "seconds")
        fps = check_fs(self.fps, "fps")
        size = check_positive_int(self.size, "size")
        seed = self.seed
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
        if self.video_format not in _VIDEO_FORMATS:
            raise ValueError(
                f"video_format must be one of {_VIDEO_FORMATS}, got {self.video_format!r}"
            )
        return dataclasses.replace(
            self, subjects=subjects, scenarios=scenarios, seconds=seconds, fps=fps, size=size,
            overrides=_json_roundtrip(dict(self.overrides or {})),
        )

    def plan(self, digest: str) -> list[tuple[str, str, dict[str, Any]]]:
        """(clip_id, subject, clip parameters) of every clip, subject by subject."""
        plan = []
        for k in range(1, self.subjects + 1):
            for scenario in self.scenarios:
                params = _json_roundtrip({
                    "format": SYNTHETIC_FORMAT, "generator_source_sha256": digest,
                    "scenario": scenario, "seconds": self.seconds, "fps": self.fps,
                    "size": self.size, "seed": subject_seed(self.seed, k),
                    "overrides": self.overrides, "video_format": self.video_format,
                })  # fmt: skip
                plan.append((synthetic_clip_id(k, scenario), f"s{k:02d}", params))
        return plan

    def manifest(self, digest: str) -> dict[str, Any]:
        """The dataset manifest before any clip is written."""
        return {
            "format": SYNTHETIC_FORMAT,
            "generator": "rppg_lib.synthetic.generate",
            "generator_source_sha256": digest,
            "rppg_lib_version": __version__,
            "parameters": {"subjects": self.subjects, "scenarios": self.scenarios,
                           "seconds": self.seconds, "fps": self.fps, "size": self.size,
                           "seed": int(self.seed), "overrides": self.overrides,
                           "video_format": self.video_format},
            "seed_rule": "subject k (1-based) uses seed * 1000 + k in every scenario",
            "complete": False,  # True once every planned clip is on disk
            "clips": [],
        }


def _write_clips(root: Path, spec: _DatasetSpec, digest: str, progress: bool) -> None:
    """Write (or reuse) every planned clip, the manifest rewritten after each one."""
    plan, manifest = spec.plan(digest), spec.manifest(digest)
    bar = progress_bar(plan, desc="synthetic dataset", unit="clip", disable=not progress)
    for clip_id, subject, params in bar:
        if clip_is_complete(root / clip_id, params):
            bar.set_postfix_str(f"{clip_id} reused")
        else:
            bar.set_postfix_str(f"{clip_id} generating")
            _write_clip(root, clip_id, subject, params, spec.video_format)
        manifest["clips"].append({"clip_id": clip_id, "subject": subject,
                                  "scenario": params["scenario"], "seed": params["seed"]})
        if len(manifest["clips"]) < len(plan):
            atomic_write_json(root / MANIFEST, manifest)
    manifest["complete"] = True
    atomic_write_json(root / MANIFEST, manifest)
