"""Fixtures shared by the reliability tests that damage a real database (corrupt state, doctor)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .damaged_db import build_real_db, clone, copy_real_db


@pytest.fixture(scope="session")
def real_db_template(tmp_path_factory: pytest.TempPathFactory, clips: Path) -> Path:
    """``build_real_db`` run once per session (the default model made, the clip's people enrolled):
    never opened again; modules take a copy of its folder (``copy_real_db``) instead of enrolling
    again."""
    return build_real_db(tmp_path_factory.mktemp("enrolled-template") / "data", clips)


@pytest.fixture(scope="module")
def base_db(tmp_path_factory: pytest.TempPathFactory, real_db_template: Path) -> Path:
    """A real database with the clip's people enrolled, one copy per module (never modified)."""
    return copy_real_db(real_db_template, tmp_path_factory.mktemp("enrolled") / "data")


@pytest.fixture
def db(base_db: Path, tmp_path: Path) -> Path:
    """A fresh copy of ``base_db``'s data folder for one test to damage; modules that need another
    database define their own ``db``."""
    return clone(base_db, tmp_path / "data")
