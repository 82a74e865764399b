"""Fixtures shared by the reliability tests that damage a real database (corrupt state, doctor)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .damaged_db import build_real_db, clone


@pytest.fixture(scope="module")
def base_db(tmp_path_factory: pytest.TempPathFactory, clips: Path) -> Path:
    """A real database with the clip's people enrolled, built once per module (never modified)."""
    return build_real_db(tmp_path_factory.mktemp("enrolled"), clips)


@pytest.fixture
def db(base_db: Path, tmp_path: Path) -> Path:
    """A fresh copy of ``base_db``'s data folder for one test to damage; modules that need another
    database define their own ``db``."""
    return clone(base_db, tmp_path / "data")
