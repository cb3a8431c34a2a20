"""Parity with the Benefit-of-Distraction MATLAB arithmetic (GNU Octave) on its MMSE-HR sample.

``bod_octave_reference.mat`` holds the outputs of the released ``get_noise_estimates.m``
arithmetic: ``inv_mask`` (τ = 0.1 from ``mask1``), ``noise_<c>_mean`` / ``noise_<c>_mean2`` (from
each ``mask_noise_<c>``), ``noise_red_mean2_br``, ``detrend_only_red``, ``pulse_sub2`` (from
``yptest``) and the filter coefficients; all with fs = 30 Hz (as released), λ = 50, order 1.
Nothing here is copied into the repository: everything is read from ../shared at test time.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io

from rppg_lib.constants import BR_BAND, HR_BAND
from rppg_lib.inverse_attention import (
    CHANNELS,
    condition_signal,
    corruption_estimates,
    inverse_masks,
    masked_channel_means,
)
from rppg_lib.signals import butter_bandpass, detrend

pytestmark = pytest.mark.reference

FS_RELEASE = 30.0  # the release's hard-coded rate (the video is 25 fps; see the module docstring)
LAM = 50.0
TOL = 1e-6


def _read_v73(path: Path, name: str) -> np.ndarray:
    """A MATLAB v7.3 (HDF5) variable in MATLAB's axis order: HDF5 stores it transposed."""
    with h5py.File(path, "r") as handle:
        return handle[name][()].T


@pytest.fixture(scope="module")
def octave(bod_reference: Path) -> dict[str, np.ndarray]:
    ref = scipy.io.loadmat(bod_reference / "bod_octave_reference.mat")
    return {key: value for key, value in ref.items() if not key.startswith("__")}


@pytest.fixture(scope="module")
def masked_frames(bod_reference: Path) -> np.ndarray:
    """The release's masked 34×34 frames, (861, 34, 34, 3) RGB, background pixels only."""
    channels = [
        _read_v73(
            bod_reference / f"RGB_noise_estimates_{c}" / "sample_noise.mat", f"mask_noise_{c}"
        )
        for c in CHANNELS
    ]
    return np.stack(channels, axis=-1)


@pytest.fixture(scope="module")
def mask1(bod_reference: Path) -> np.ndarray:
    return scipy.io.loadmat(bod_reference / "sample_mask1.mat")["mask1"]


@pytest.fixture(scope="module")
def yptest(bod_reference: Path) -> np.ndarray:
    return scipy.io.loadmat(bod_reference / "sample_yptest.mat")["yptest"]


def test_reference_file_holds_what_the_tests_compare(octave):
    expected = {"inv_mask", "pulse_sub2", "noise_red_mean2_br", "detrend_only_red"}
    expected |= {f"noise_{c}_mean{s}" for c in CHANNELS for s in ("", "2")}
    expected |= {"b", "a", "bb", "ab"}
    assert expected <= set(octave)
    assert octave["inv_mask"].shape == (861, 34, 34)


def test_binary_inverse_masks_equal_octave_exactly(mask1, octave):
    assert mask1.shape == (861, 34, 34, 1) and mask1.dtype == np.float32
    inv = inverse_masks(mask1, kind="binary", threshold=0.1)
    np.testing.assert_array_equal(inv, octave["inv_mask"])


def test_hdf5_axis_order_matches_matlab(masked_frames, octave):
    """Read transposed, the background support of the released masked frames lines up with the
    Octave inverse masks; with height and width swapped it does not. (They were made by an
    earlier, unreleased version of the script, so the agreement is high, not total.)"""
    support = masked_frames[..., 0] != 0
    agree = np.mean(support == octave["inv_mask"].astype(bool))
    swapped = np.mean(support.transpose(0, 2, 1) == octave["inv_mask"].astype(bool))
    assert masked_frames.shape == (861, 34, 34, 3)
    assert agree > 0.85
    assert agree > swapped + 0.15


def test_filter_design_matches_octave(octave):
    for band, (b_key, a_key) in ((HR_BAND, ("b", "a")), (BR_BAND, ("bb", "ab"))):
        b, a = butter_bandpass(FS_RELEASE, *band, order=1)
        np.testing.assert_allclose(b, octave[b_key][0], rtol=0, atol=1e-12)
        np.testing.assert_allclose(a, octave[a_key][0], rtol=0, atol=1e-12)


RECORDED = 859  # the release's masked frames end with 2 all-zero frames: its zero padding


def test_release_sample_is_zero_padded(masked_frames):
    empty = np.flatnonzero(~masked_frames.reshape(len(masked_frames), -1).any(axis=1))
    np.testing.assert_array_equal(empty, [859, 860])


@pytest.fixture(scope="module")
def recorded_estimates(masked_frames) -> np.ndarray:
    """Masked means of the 859 recorded frames, (859, 3)."""
    frames = masked_frames[:RECORDED]
    # The saved frames are already X ⊙ M; their nonzero support is the mask they were made with.
    support = np.any(frames != 0, axis=-1).astype(np.float64)
    return masked_channel_means(frames, support, mode="all_pixels")


@pytest.fixture(scope="module")
def raw_estimates(recorded_estimates) -> np.ndarray:
    """The release's input to conditioning: the recorded means padded with zeros to 861 frames.

    The library refuses to pad (a frame-count mismatch is a ValueError); the padding is rebuilt
    here only to compare the conditioning arithmetic with Octave's on the same numbers.
    """
    return np.vstack([recorded_estimates, np.zeros((861 - RECORDED, 3))])


def test_masked_means_match_octave(raw_estimates, octave):
    for i, c in enumerate(CHANNELS):
        expected = octave[f"noise_{c}_mean"][:, 0]
        np.testing.assert_allclose(raw_estimates[:, i], expected, rtol=0, atol=TOL)


def test_detrend_stage_matches_octave(raw_estimates, octave):
    # Localises a conditioning failure: the first stage alone.
    np.testing.assert_allclose(
        detrend(raw_estimates[:, 0], LAM), octave["detrend_only_red"][:, 0], rtol=0, atol=TOL
    )


def test_conditioned_estimates_match_octave_hr_band(raw_estimates, octave):
    conditioned = condition_signal(raw_estimates, FS_RELEASE, lam=LAM, band=HR_BAND, order=1)
    for i, c in enumerate(CHANNELS):
        expected = octave[f"noise_{c}_mean2"][:, 0]
        np.testing.assert_allclose(conditioned[:, i], expected, rtol=0, atol=TOL)


def test_conditioned_red_matches_octave_br_band(raw_estimates, octave):
    conditioned = condition_signal(raw_estimates[:, 0], FS_RELEASE, lam=LAM, band=BR_BAND)
    np.testing.assert_allclose(conditioned, octave["noise_red_mean2_br"][:, 0], rtol=0, atol=TOL)


def test_whole_step_pulse_and_masks_match_octave(mask1, masked_frames, yptest, octave):
    """``corruption_estimates`` on the sample: masks from ``mask1`` and the pulse from ``yptest``
    reproduce Octave (the raw estimates differ: the saved frames used another mask)."""
    est = corruption_estimates(
        mask1, masked_frames, yptest, FS_RELEASE, lam=LAM, integration_dtype=np.float32
    )
    np.testing.assert_array_equal(est.inverse_masks, octave["inv_mask"])
    np.testing.assert_allclose(est.pulse_conditioned, octave["pulse_sub2"][:, 0], atol=TOL)
    # Accumulating in float64 (the default) moves the pulse by a few 1e-6 only.
    default = corruption_estimates(mask1, masked_frames, yptest, FS_RELEASE, lam=LAM)
    diff = np.abs(default.pulse_conditioned - octave["pulse_sub2"][:, 0]).max()
    assert TOL < diff < 1e-5


def test_refusing_to_pad_removes_the_release_spike(recorded_estimates, octave):
    """The release's two padded zero frames become a spike of ~16 (z-score units) after
    conditioning; the 859 recorded frames alone stay within ±3.5 (max 2.9, at the ends)."""
    release = np.abs(octave["noise_red_mean2"][:, 0])
    ours = np.abs(condition_signal(recorded_estimates, FS_RELEASE, lam=LAM, band=HR_BAND))
    assert release[-10:].max() > 15 and release[:800].max() < 1
    assert ours.max() < 3.5
