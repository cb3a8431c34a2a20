"""nbval settings for the committed notebooks (`pytest --nbval-lax notebooks/`).

Notebook 07 reproduces the released Benefit-of-Distraction sample, read from ../shared/reference.
Its stored outputs hold the parity numbers; where the reference data is absent the notebook runs
its "unavailable" path, whose output cannot match them, so nbval skips it, saying why.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REFERENCE_DIR = (
    Path(__file__).resolve().parents[2] / "shared" / "reference" / "benefit_of_distraction"
)
NEEDS_REFERENCE = "07_reproduce_benefit_of_distraction.ipynb"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if REFERENCE_DIR.is_dir():
        return
    skip = pytest.mark.skip(reason=f"reference data not found at {REFERENCE_DIR}")
    for item in items:
        if Path(str(item.fspath)).name == NEEDS_REFERENCE:
            item.add_marker(skip)
