"""How many threads each stage uses: BLAS (threadpoolctl), OpenCV and PyTorch, set on purpose.

Left alone, every library sizes its own thread pool to the whole machine, and the pools fight.
The worst case measured on 2 cores: OpenBLAS splits every dot product of more than about 10,000
values across its threads, and the preprocessing computes one per frame (72x72x3 = 15,552
values); when the other core is busy decoding video, each call waits 2.5-2.9 ms for the worker
instead of taking 20 µs, and a 60 s video took 12-32 s instead of 6.8 s.

The stages and the library whose threads they use:

========== ============================================ ==================================
stage      what runs                                    threads set
========== ============================================ ==================================
decode     the video decoder, in a background thread    one thread (``preprocess_frames``'
           (``prefetch``)                               ``prefetch``; 0 decodes inline)
crop       Haar face detection (``cv2``)                ``opencv``
resize     ``cv2.resize`` of the crop to S and the grid ``opencv``
normalise  frame differences and running statistics     ``blas``
           (numpy)
network    TS-CAN / CAN forward and backward (torch)    ``torch``
========== ============================================ ==================================

Crop, resize and normalise alternate on every frame, so they run under one setting
(:func:`preprocessing_threads`); switching thread pools per frame would cost more (entering a
threadpoolctl limit takes ~0.3 ms) than the work. The defaults, measured on 2 cores
(``benchmarks/bench_preprocess.py``): BLAS one thread (a frame's statistics are a few thousand
values, far too few to split; this alone took a 60 s 72x72 run from 14.4 to 3.6 CPU seconds);
OpenCV one thread as well (its per-frame work is crop-sized: the face's optical flow in a region
about the face, two resizes of the crop, a colour conversion; split across threads it gains
nothing while the other core decodes, and OpenCV's idle workers spin. On 60 s of 640x480 video on
a quiet 2-core machine, paired rounds, one thread against two: 0.93x the wall time at S = 36
(median 2.73 s against 2.96 s, n = 6) and 0.99x at S = 72 (3.92 s against 3.87 s, n = 5), with
0.9 and 0.8 CPU seconds less); the network PyTorch's own choice, one thread per physical core
(its convolutions are large enough to split; hyper-threads only slow them).

The setting: :class:`ThreadSettings`, installed process-wide with :func:`set_thread_settings`
(or for a ``with`` block with :func:`thread_settings`), or from the environment variable
``RPPG_THREADS`` (the number of cores the network may use; unset: PyTorch's choice).
``ThreadSettings(manage=False)`` leaves every library's own default in place (the behaviour
before these settings existed; the benchmarks compare it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "STAGES",
    "THREADS_ENV",
    "ThreadSettings",
    "default_thread_settings",
    "get_thread_settings",
    "set_thread_settings",
    "thread_settings",
    "preprocessing_threads",
    "network_threads",
]

STAGES = ("decode", "crop", "resize", "normalise", "network")
THREADS_ENV = "RPPG_THREADS"


def _check_threads(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1 (threads), got {value!r}")
    return value


@dataclass(frozen=True)
class ThreadSettings:
    """Threads per library while a stage runs (see the module docstring for the stage table).

    opencv: OpenCV threads during crop and resize (``cv2.setNumThreads``).
    blas: BLAS threads during the normalisation (threadpoolctl).
    torch: PyTorch intra-op threads for the network (``torch.set_num_threads``); None keeps
        PyTorch's own choice (one per physical core: more, on hyper-threads, is slower).
    manage: False leaves all three libraries at their own defaults (the numbers are ignored).
    """

    opencv: int = 1
    blas: int = 1
    torch: int | None = None
    manage: bool = True

    def __post_init__(self) -> None:
        for name in ("opencv", "blas"):
            _check_threads(getattr(self, name), name)
        if self.torch is not None:
            _check_threads(self.torch, "torch")
        if not isinstance(self.manage, bool):
            raise ValueError(f"manage must be True or False, got {self.manage!r}")

    def replace(self, **changes: int | bool) -> ThreadSettings:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


def default_thread_settings(cores: int | None = None) -> ThreadSettings:
    """The default for ``cores`` cores (default: the ``RPPG_THREADS`` environment variable):
    BLAS and OpenCV one thread, the network ``cores`` threads (neither given: PyTorch's own
    choice, one per physical core)."""
    if cores is None:
        raw = os.environ.get(THREADS_ENV, "").strip()
        if raw:
            try:
                cores = int(raw)
            except ValueError:
                raise ValueError(
                    f"{THREADS_ENV} must be a whole number of cores, got {raw!r}"
                ) from None
            _check_threads(cores, THREADS_ENV)
    if cores is None:
        return ThreadSettings(opencv=1, blas=1, torch=None)
    return ThreadSettings(opencv=1, blas=1, torch=_check_threads(cores, "cores"))


_current: ThreadSettings | None = None


def get_thread_settings() -> ThreadSettings:
    """The settings in force: the last :func:`set_thread_settings`, else the default."""
    global _current
    if _current is None:
        _current = default_thread_settings()
    return _current


def set_thread_settings(settings: ThreadSettings | None) -> ThreadSettings:
    """Install ``settings`` for this process (None: back to the default); returns the previous
    settings. It takes effect when the next stage starts."""
    global _current
    if settings is not None and not isinstance(settings, ThreadSettings):
        raise ValueError(f"settings must be a ThreadSettings or None, got {settings!r}")
    previous = get_thread_settings()
    _current = settings
    return previous


@contextlib.contextmanager
def thread_settings(settings: ThreadSettings) -> Iterator[ThreadSettings]:
    """``with thread_settings(s):`` installs ``s`` for the block and restores the previous."""
    previous = set_thread_settings(settings)
    try:
        yield settings
    finally:
        set_thread_settings(previous)


@contextlib.contextmanager
def preprocessing_threads(settings: ThreadSettings | None = None) -> Iterator[None]:
    """Crop, resize and normalise under ``settings`` (default: the settings in force): OpenCV and
    BLAS threads set for the block, restored afterwards."""
    s = settings if settings is not None else get_thread_settings()
    if not s.manage:
        yield
        return
    import cv2
    from threadpoolctl import threadpool_limits

    previous = cv2.getNumThreads()
    cv2.setNumThreads(s.opencv)
    try:
        with threadpool_limits(limits=s.blas, user_api="blas"):
            yield
    finally:
        cv2.setNumThreads(previous)


@contextlib.contextmanager
def network_threads(settings: ThreadSettings | None = None) -> Iterator[None]:
    """The network under ``settings`` (default: the settings in force): torch intra-op threads
    set for the block, restored afterwards. BLAS threads are left to torch (its own pool)."""
    s = settings if settings is not None else get_thread_settings()
    if not s.manage or s.torch is None:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    if previous != s.torch:
        torch.set_num_threads(s.torch)
    try:
        yield
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)
