"""Training data: contiguous chunks of sequences, their collation, and subject-wise splits.

One generic dataset serves every network. A *sequence* is a pair ``(inputs, targets)`` of
array-likes with the same length T along axis 0 (a preprocessed clip: network inputs (T, 6, S, S)
and pulse-derivative labels (T,); or the LSTM's (T, 4) signals and (T,) target waveform). The
dataset cuts each sequence into chunks of ``length`` consecutive steps; one item is a pair of
float32 tensors ``(inputs[s:s+length], targets[s:s+length])``.

Chunks are read from the sequences on demand, so inputs can be memory-mapped caches: the whole
dataset never has to fit in memory (rPPG-Toolbox held whole videos per worker), and
memory maps travel to DataLoader worker processes as file references, not as copies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from rppg_lib.network_input import ClipFrames, from_portable, to_portable
from rppg_lib.validation import check_choice, check_positive_int
from rppg_lib.windows import window_starts

__all__ = [
    "ChunkDataset",
    "clip_sequence",
    "chunks_from_clips",
    "concat_collate",
    "stack_collate",
    "split_by_subject",
]


def concat_collate(batch: Sequence[tuple[torch.Tensor, torch.Tensor]]):
    """Join chunks end to end along axis 0: B chunks of (L, ...) -> (B*L, ...).

    The CNNs' batch axis is time; a TS-CAN chunk of a multiple of frame_depth frames keeps every
    temporal-shift segment inside one chunk.
    """
    inputs, targets = zip(*batch, strict=True)
    return torch.cat(inputs), torch.cat(targets)


def stack_collate(batch: Sequence[tuple[torch.Tensor, torch.Tensor]]):
    """Stack chunks along a new axis 0: B chunks of (L, ...) -> (B, L, ...) (the LSTM windows)."""
    inputs, targets = zip(*batch, strict=True)
    return torch.stack(inputs), torch.stack(targets)


COLLATES: dict[str, Callable] = {"concat": concat_collate, "stack": stack_collate}


class ChunkDataset(Dataset):
    """Chunks of ``length`` consecutive steps cut from ``(inputs, targets)`` sequences.

    sequences: pairs of array-likes with equal length T >= ``length`` along axis 0 (numpy arrays,
        memory maps, or any object with ``len`` and slicing such as :class:`ClipFrames`).
    length: steps per chunk. hop: steps between chunk starts (default ``length``: no overlap).
        Chunks start at 0, hop, 2*hop, ...; when the last one stops short of the end, one more
        chunk ending exactly at the last step is added, so every step is trained on (none is
        dropped) at the price of overlapping the previous chunk.
    collate: "concat" (CNNs: B chunks -> (B*length, ...)) or "stack" (LSTM: (B, length, ...));
        the matching function is :attr:`collate_fn`.
    names: a label per sequence for error messages (e.g. clip ids).
    """

    def __init__(
        self,
        sequences: Sequence[tuple[Any, Any]],
        length: int,
        hop: int | None = None,
        *,
        collate: str = "concat",
        names: Sequence[str] | None = None,
    ) -> None:
        self.length = check_positive_int(length, "length")
        self.hop = self.length if hop is None else check_positive_int(hop, "hop")
        self.collate = check_choice(collate, "collate", tuple(COLLATES))
        self.sequences = list(sequences)
        if not self.sequences:
            raise ValueError("sequences is empty: there is nothing to train on")
        if names is not None and len(names) != len(self.sequences):
            raise ValueError(f"names has {len(names)} entries for {len(self.sequences)} sequences")
        self.names = [str(n) for n in names] if names is not None else [
            f"sequence {i}" for i in range(len(self.sequences))
        ]
        index = []
        for i, (seq, name) in enumerate(zip(self.sequences, self.names, strict=True)):
            if not isinstance(seq, (tuple, list)) or len(seq) != 2:
                raise ValueError(f"{name} must be an (inputs, targets) pair, got {type(seq)}")
            n_in, n_out = len(seq[0]), len(seq[1])
            if n_in != n_out:
                raise ValueError(
                    f"{name}: inputs have {n_in} steps but targets have {n_out}; they must match"
                )
            if n_in < self.length:
                raise ValueError(
                    f"{name} has {n_in} steps, fewer than the chunk length {self.length}; "
                    "use a shorter chunk length or leave the sequence out"
                )
            if isinstance(seq[1], np.ndarray) and np.issubdtype(seq[1].dtype, np.number):
                # NaN targets make the loss NaN, which would read as a diverging learning rate
                bad = np.flatnonzero(~np.isfinite(seq[1].reshape(n_out, -1)).all(axis=1))
                if bad.size:
                    raise ValueError(
                        f"{name}: {bad.size} target step(s) hold NaN or inf, first at step "
                        f"{int(bad[0])}; fix or leave out the sequence"
                    )
            starts = window_starts(n_in, self.length, self.hop, tail="shift")
            index.extend((i, int(s)) for s in starts)
        self.index = index

    @property
    def collate_fn(self) -> Callable:
        """The collate function matching ``collate``, for ``torch.utils.data.DataLoader``."""
        return COLLATES[self.collate]

    def __len__(self) -> int:
        return len(self.index)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["sequences"] = [tuple(to_portable(a) for a in pair) for pair in self.sequences]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state["sequences"] = [tuple(from_portable(a) for a in pair) for pair in state["sequences"]]
        self.__dict__.update(state)

    def __getitem__(self, item: int) -> tuple[torch.Tensor, torch.Tensor]:
        seq, start = self.index[item]
        inputs, targets = self.sequences[seq]
        stop = start + self.length
        # a copy: slices of read-only memory maps must not become tensors that share them
        x = np.array(inputs[start:stop], dtype=np.float32)
        y = np.array(targets[start:stop], dtype=np.float32)
        return torch.from_numpy(x), torch.from_numpy(y)


def clip_sequence(clip: Any, targets: str = "pulse") -> tuple[ClipFrames, np.ndarray]:
    """``(inputs, labels)`` of a preprocessed clip (``rppg_lib.preprocess.PreprocessedClip``).

    targets: "pulse" -> the normalised pulse derivative ``clip.labels`` (T,); "pulse+resp" ->
    (T, 2) [pulse, respiration derivative] for MTTS-CAN (needs ``clip.resp_labels``).
    """
    check_choice(targets, "targets", ("pulse", "pulse+resp"))
    inputs = ClipFrames(clip.motion, clip.appearance)
    labels = np.asarray(clip.labels, dtype=np.float32)
    if targets == "pulse+resp":
        resp = getattr(clip, "resp_labels", None)
        if resp is None:
            raise ValueError(
                f"clip {getattr(clip, 'clip_id', '?')} has no respiration labels "
                "(resp_labels); MTTS-CAN needs a dataset with a respiration reference"
            )
        labels = np.stack([labels, np.asarray(resp, dtype=np.float32)], axis=1)
    return inputs, labels


def _clip_name(clip: Any, index: int) -> str:
    """``clip <id>``, and the cache entry it was read from when there is one (error messages)."""
    name = f"clip {getattr(clip, 'clip_id', index)}"
    path = getattr(clip, "path", None)
    return f"{name} ({path})" if path is not None else name


def chunks_from_clips(
    clips: Sequence[Any],
    chunk_length: int,
    *,
    frame_depth: int | None = None,
    hop: int | None = None,
    targets: str = "pulse",
) -> ChunkDataset:
    """Training chunks of ``chunk_length`` frames from preprocessed clips (CNN training set).

    frame_depth: the TS-CAN segment length; chunk_length (and hop) must be multiples of it so
    that segments start on the same frames in training and in whole-clip prediction.
    """
    chunk_length = check_positive_int(chunk_length, "chunk_length")
    if frame_depth is not None:
        frame_depth = check_positive_int(frame_depth, "frame_depth")
        for name, value in (("chunk_length", chunk_length), ("hop", hop)):
            if value is not None and value % frame_depth:
                raise ValueError(
                    f"{name} = {value} frames must be a multiple of frame_depth = {frame_depth}"
                )
    sequences = [clip_sequence(c, targets) for c in clips]
    names = [_clip_name(c, i) for i, c in enumerate(clips)]
    return ChunkDataset(sequences, chunk_length, hop, collate="concat", names=names)


def split_by_subject(
    items: Sequence[Any],
    fractions: Sequence[float] = (0.6, 0.2, 0.2),
    *,
    seed: int = 0,
    subject: Callable[[Any], Any] = lambda item: item.subject,
) -> tuple[list[Any], ...]:
    """Split ``items`` (clips) into disjoint groups by subject: no subject in two groups.

    fractions: the share of *subjects* per group (e.g. train, validation, test), summing to 1.
    The sorted subjects are shuffled with ``seed`` and cut at the cumulative fractions (rounded
    to whole subjects); every group with a positive fraction gets at least one subject, so
    there must be at least as many subjects as such groups. Items keep their input order within
    a group. Returns one list per fraction.
    """
    fracs = [float(f) for f in fractions]
    if len(fracs) < 2 or any(not np.isfinite(f) or f < 0 for f in fracs):
        raise ValueError(f"fractions must be two or more numbers >= 0, got {tuple(fractions)}")
    if abs(sum(fracs) - 1.0) > 1e-6:
        raise ValueError(f"fractions must sum to 1, got {tuple(fractions)} (sum {sum(fracs)})")
    keys = [subject(item) for item in items]
    subjects = sorted(set(keys), key=str)
    wanted = sum(f > 0 for f in fracs)
    if len(subjects) < wanted:
        raise ValueError(
            f"{len(subjects)} subject(s) cannot fill {wanted} groups with fractions "
            f"{tuple(fractions)}; each group needs at least one subject"
        )
    order = np.random.default_rng(seed).permutation(len(subjects))
    counts = _group_sizes(len(subjects), fracs)
    group_of: dict[Any, int] = {}
    start = 0
    for g, n in enumerate(counts):
        for k in order[start : start + n]:
            group_of[subjects[k]] = g
        start += n
    groups: list[list[Any]] = [[] for _ in fracs]
    for item, key in zip(items, keys, strict=True):
        groups[group_of[key]].append(item)
    return tuple(groups)


def _group_sizes(n: int, fracs: list[float]) -> list[int]:
    """Whole-subject group sizes: largest remainders of n * fraction, at least 1 where > 0."""
    raw = np.array(fracs) * n
    sizes = np.floor(raw).astype(int)
    sizes[(np.array(fracs) > 0) & (sizes == 0)] = 1
    while sizes.sum() > n:  # the minimum of one took subjects: give back from groups of > 1
        excess = np.where(sizes > 1, sizes - raw, -np.inf)
        sizes[np.argmax(excess)] -= 1
    for k in np.argsort(-(raw - sizes), kind="stable"):
        if sizes.sum() >= n:
            break
        sizes[k] += 1
    return sizes.tolist()
