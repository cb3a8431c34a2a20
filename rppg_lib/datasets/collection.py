"""A dataset: a list of clips with subject ids, split by subject so no person is in two splits."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..video_io import natural_key
from .base import Clip

__all__ = ["Dataset"]


class Dataset:
    """Clips of one dataset (``name``) read from ``root``; clip ids are unique."""

    def __init__(self, clips: Iterable[Clip], name: str, root: str | Path):
        self.clips: list[Clip] = list(clips)
        self.name = str(name)
        self.root = Path(root)
        seen: set[str] = set()
        for clip in self.clips:
            if not isinstance(clip, Clip):
                raise ValueError(f"clips must hold Clip objects, got {type(clip).__name__}")
            if clip.clip_id in seen:
                raise ValueError(f"dataset {self.name}: clip id {clip.clip_id!r} occurs twice")
            seen.add(clip.clip_id)

    @property
    def subjects(self) -> list[str]:
        """Distinct subject ids in natural order."""
        return sorted({c.subject for c in self.clips}, key=natural_key)

    @property
    def tasks(self) -> list[str]:
        """Distinct task ids in natural order."""
        return sorted({c.task for c in self.clips}, key=natural_key)

    def __len__(self) -> int:
        return len(self.clips)

    def __iter__(self) -> Iterator[Clip]:
        return iter(self.clips)

    def __getitem__(self, key: int | str) -> Clip:
        """A clip by position or by clip id."""
        if isinstance(key, str):
            for clip in self.clips:
                if clip.clip_id == key:
                    return clip
            raise KeyError(f"dataset {self.name} has no clip {key!r}")
        return self.clips[key]

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, root={str(self.root)!r}, clips={len(self.clips)}, "
            f"subjects={len(self.subjects)})"
        )

    def select(
        self, *, subjects: Sequence[str] | None = None, tasks: Sequence[str] | None = None
    ) -> Dataset:
        """The clips of the given subjects and/or tasks (ValueError for an unknown id)."""
        for what, wanted, known in (
            ("subject", subjects, self.subjects),
            ("task", tasks, self.tasks),
        ):
            if wanted is not None:
                if isinstance(wanted, str):
                    raise ValueError(f"{what}s must be a list of ids, got the string {wanted!r}")
                unknown = sorted(set(wanted) - set(known))
                if unknown:
                    raise ValueError(f"unknown {what} id(s) {unknown}; known: {known}")
        clips = [
            c
            for c in self.clips
            if (subjects is None or c.subject in subjects) and (tasks is None or c.task in tasks)
        ]
        return Dataset(clips, self.name, self.root)

    def table(self) -> pd.DataFrame:
        """One row per clip: ids, fps (Hz), frames, duration (s), which ground truth exists."""
        rows = [
            {
                "clip_id": c.clip_id,
                "subject": c.subject,
                "task": c.task,
                "fps": c.fps,
                "n_frames": c.n_frames,
                "duration_s": c.duration,
                "bvp": c.bvp is not None,
                "resp": c.resp is not None,
                "hr": c.hr is not None,
                "source": str(c.source),
            }
            for c in self.clips
        ]
        return pd.DataFrame(rows)

    def split_by_subject(
        self,
        fractions: Sequence[float] | None = None,
        seed: int = 0,
        *,
        train: Sequence[str] | None = None,
        val: Sequence[str] | None = None,
        test: Sequence[str] | None = None,
    ) -> tuple[Dataset, Dataset, Dataset]:
        """(train, val, test) datasets whose subject sets are disjoint.

        Either ``fractions`` of the subjects (default (0.6, 0.2, 0.2); subjects shuffled with
        ``seed``; counts by largest remainder, every non-zero fraction getting at least one
        subject), or explicit subject lists ``train``/``val``/``test`` (lists not given are empty;
        subjects in no list are left out, with a warning naming them).
        """
        explicit = (train, val, test)
        if any(x is not None for x in explicit):
            if fractions is not None:
                raise ValueError("give either fractions or explicit subject lists, not both")
            groups = [[] if x is None else list(x) for x in explicit]
            known = set(self.subjects)
            for name, group in zip(("train", "val", "test"), groups, strict=True):
                unknown = sorted(set(group) - known)
                if unknown:
                    raise ValueError(
                        f"{name} names unknown subject(s) {unknown}; known: {sorted(known)}"
                    )
            for i in range(3):
                for j in range(i + 1, 3):
                    both = sorted(set(groups[i]) & set(groups[j]))
                    if both:
                        names = ("train", "val", "test")
                        raise ValueError(f"subject(s) {both} are in both {names[i]} and {names[j]}")
            left = sorted(known - set().union(*map(set, groups)), key=natural_key)
            if left:
                warnings.warn(
                    f"dataset {self.name}: subject(s) {left} are in no split and are left out",
                    stacklevel=2,
                )
        else:
            fractions = (0.6, 0.2, 0.2) if fractions is None else fractions
            groups = self._fraction_groups(fractions, seed)
        return tuple(self.select(subjects=g) for g in groups)  # type: ignore[return-value]

    def _fraction_groups(self, fractions: Sequence[float], seed: int) -> list[list[str]]:
        fr = [float(f) for f in fractions]
        if len(fr) != 3 or any(not math.isfinite(f) or f < 0 for f in fr):
            raise ValueError(f"fractions must be three numbers >= 0, got {tuple(fractions)!r}")
        if abs(sum(fr) - 1.0) > 1e-6:
            raise ValueError(f"fractions must sum to 1, got {tuple(fractions)!r} (sum {sum(fr)})")
        subjects = self.subjects
        n = len(subjects)
        need = sum(f > 0 for f in fr)
        if n < need:
            raise ValueError(
                f"cannot split {n} subject(s) of dataset {self.name} into {need} non-empty parts "
                f"with fractions {tuple(fractions)}"
            )
        exact = np.array(fr) * n
        counts = np.floor(exact).astype(int)
        for i in np.argsort(-(exact - counts), kind="stable")[: n - counts.sum()]:
            counts[i] += 1
        # Every non-zero fraction gets a subject, taken from the largest part.
        for i in range(3):
            if fr[i] > 0 and counts[i] == 0:
                counts[int(np.argmax(counts))] -= 1
                counts[i] = 1
        order = np.random.default_rng(seed).permutation(n)
        shuffled = [subjects[k] for k in order]
        bounds = np.cumsum(counts)
        return [shuffled[:bounds[0]], shuffled[bounds[0]:bounds[1]], shuffled[bounds[1]:]]
