"""Shared test helpers: where the read-only fixtures are (``../shared``), skipping cleanly when absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("EAMM_SHARED", REPO.parent / "shared"))
FIXTURES = SHARED / "fixtures"
GOLDEN = SHARED / "golden" / "eamm_golden_v1.npz"


def shared_path(*parts: str) -> Path:
    """Path under ../shared, or skip the test with the reason when the folder is not there."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared fixture {path} is not present (tests read ../shared beside the checkout)")
    return path


@pytest.fixture
def fixtures_dir() -> Path:
    return shared_path("fixtures")


@pytest.fixture
def golden() -> object:
    import numpy as np

    return np.load(shared_path("golden", "eamm_golden_v1.npz"), allow_pickle=False)
