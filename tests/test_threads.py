"""Thread settings per stage (rppg_lib.threads) and the BLAS-free running statistics."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_info, threadpool_limits

from rppg_lib.preprocess import PreprocessConfig, preprocess_frames
from rppg_lib.preprocess.inputs import RunningStats
from rppg_lib.threads import (
    THREADS_ENV,
    ThreadSettings,
    default_thread_settings,
    get_thread_settings,
    network_threads,
    preprocessing_threads,
    set_thread_settings,
    thread_settings,
)


def _blas_threads() -> list[int]:
    return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]


def test_default_gives_blas_and_opencv_one_thread_and_the_network_its_cores(monkeypatch):
    monkeypatch.delenv(THREADS_ENV, raising=False)
    s = default_thread_settings()
    assert (s.opencv, s.blas, s.torch, s.manage) == (1, 1, None, True)
    monkeypatch.setenv(THREADS_ENV, "3")
    s = default_thread_settings()
    assert (s.opencv, s.blas, s.torch) == (1, 1, 3)
    assert default_thread_settings(cores=2).torch == 2


def test_bad_settings_are_refused_by_name(monkeypatch):
    with pytest.raises(ValueError, match="blas"):
        ThreadSettings(blas=0)
    with pytest.raises(ValueError, match="torch"):
        ThreadSettings(torch=1.5)
    monkeypatch.setenv(THREADS_ENV, "two")
    with pytest.raises(ValueError, match=f"{THREADS_ENV}.*'two'"):
        default_thread_settings()
    with pytest.raises(ValueError, match="settings"):
        set_thread_settings("fast")


def test_preprocessing_threads_set_opencv_and_blas_and_restore_them():
    before_cv = cv2.getNumThreads()
    with threadpool_limits(limits=2, user_api="blas"):  # a known starting point
        cv2.setNumThreads(2)
        outer_blas = _blas_threads()
        with preprocessing_threads(ThreadSettings(opencv=1, blas=1)):
            assert cv2.getNumThreads() == 1
            assert all(n == 1 for n in _blas_threads())
        assert cv2.getNumThreads() == 2
        assert _blas_threads() == outer_blas
        with preprocessing_threads(ThreadSettings(manage=False)):
            assert cv2.getNumThreads() == 2  # left alone
    cv2.setNumThreads(before_cv)


def test_network_threads_set_torch_threads_and_restore_them():
    before = torch.get_num_threads()
    with network_threads(ThreadSettings(torch=1)):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with network_threads(ThreadSettings(torch=None)):  # PyTorch's own choice: untouched
        assert torch.get_num_threads() == before


def test_thread_settings_block_installs_and_restores():
    outer = get_thread_settings()
    inner = ThreadSettings(opencv=2, blas=2, torch=1)
    with thread_settings(inner):
        assert get_thread_settings() == inner
    assert get_thread_settings() == outer


def test_running_stats_of_72x72_frames_keep_the_numbers():
    rng = np.random.default_rng(0)
    frames = (0.4 + 0.05 * rng.standard_normal((50, 72, 72, 3))).astype(np.float32)
    new = RunningStats()
    for frame in frames:
        new.update(frame)
    # The per-frame streaming update keeps the two-pass float64 numbers (the BLAS dot product it
    # replaced was within 1e-14 of them too; benchmarks/bench_preprocess.py times the two).
    exact = frames.astype(np.float64)
    assert new.count == frames.size
    assert new.mean == pytest.approx(exact.mean(), rel=1e-14)
    assert new.std == pytest.approx(exact.std(), rel=1e-12)
    # same bits whatever the BLAS thread count
    with threadpool_limits(limits=1, user_api="blas"):
        single = RunningStats()
        for frame in frames:
            single.update(frame)
    assert (single.mean, single.m2) == (new.mean, new.m2)


def test_thread_settings_change_the_speed_only_never_the_result():
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, size=(20, 96, 128, 3), dtype=np.uint8)
    cfg = PreprocessConfig(size=72, crop="center")
    runs = [
        preprocess_frames(list(frames), 30.0, cfg, threads=s)
        for s in (None, ThreadSettings(manage=False), ThreadSettings(opencv=2, blas=2))
    ]
    for other in runs[1:]:
        for name in ("motion", "appearance", "mask_frames"):
            assert np.array_equal(getattr(runs[0], name), getattr(other, name)), name
