"""Shared fixtures: the read-only reference data in ../shared, and a deterministic CPU setup."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
REFERENCE_DIR = REPO_ROOT.parent / "shared" / "reference" / "benefit_of_distraction"

# No thread-count override here: nbval re-executes the committed notebooks in kernels that inherit
# this environment, and their checked outputs were produced by `make reproduce` with the default
# thread count; a different count changes float reductions and, through training, the numbers.


@pytest.fixture(scope="session")
def bod_reference() -> Path:
    """Folder of the released Benefit-of-Distraction sample; skips the test where it is absent."""
    if not REFERENCE_DIR.is_dir():
        pytest.skip(
            f"reference data not found at {REFERENCE_DIR} (it lives in ../shared/reference, "
            "outside the repository, and is never copied into it)"
        )
    return REFERENCE_DIR


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


OPEN_RPPG_WHEEL_GLOB = "data/weights/open_rppg-*.whl"


@pytest.fixture(scope="session")
def open_rppg_wheel() -> Path:
    """The open-rppg wheel in data/weights (set-up downloads it); skips the test where absent."""
    wheels = sorted(REPO_ROOT.glob(OPEN_RPPG_WHEEL_GLOB))
    if not wheels:
        pytest.skip(
            f"open-rppg wheel not found ({OPEN_RPPG_WHEEL_GLOB}); get it at set-up time with "
            "`pip download --no-deps open-rppg==0.1.1 -d data/weights`"
        )
    return wheels[-1]
