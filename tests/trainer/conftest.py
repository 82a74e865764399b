"""Fixtures of the trainer tests: a few real LFW people as aligned crops and as a FaceGate database."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop_app.core.service import FaceGate
from trainer.data import CropCache, TrainSplit, crops_from_images, split_held_out
from trainer.train import TrainConfig

# Six LFW people whose first six photos each hold one clear face (checked with the core's detector).
PEOPLE = ("Colin_Powell", "Donald_Rumsfeld", "Gerhard_Schroeder", "Jose_Maria_Aznar", "Hugo_Chavez",
          "Guillermo_Coria")
SHOTS = 6

TINY = TrainConfig(recipe="partial", epochs=2, warmup_epochs=1, unfreeze_blocks=1, p=6, k=3, seed=7, patience=5)
"""A real but tiny fine-tune: one head-only warm-up epoch, then one epoch with the last stage and the
embedding layer unfrozen; two batches of 6 people x 3 shots per epoch."""


@pytest.fixture(scope="session")
def tiny() -> TrainConfig:
    return TINY


@pytest.fixture(scope="session")
def people() -> tuple[str, ...]:
    return PEOPLE


@pytest.fixture(scope="session")
def shots() -> int:
    return SHOTS


def lfw_shots(lfw: Path, name: str, n: int = SHOTS) -> list[Path]:
    return sorted((lfw / name).glob("*.jpg"))[:n]


@pytest.fixture(scope="session")
def crop_cache() -> CropCache:
    """Aligned crops of LFW images, computed once per test session."""
    return CropCache(device="cpu")


@pytest.fixture(scope="session")
def lfw_split(lfw: Path, crop_cache: CropCache) -> TrainSplit:
    """6 people x 6 shots, one shot per person held out (seed 0)."""
    data = crops_from_images([(p, name) for name in PEOPLE for p in lfw_shots(lfw, name)], crop_cache)
    assert len(data) == len(PEOPLE) * SHOTS and not data.skipped
    return split_held_out(data, 0.2, seed=0)


@pytest.fixture(scope="session")
def enrolled_dir(tmp_path_factory: pytest.TempPathFactory, lfw: Path) -> Path:
    """A FaceGate database with the six people enrolled from their photos (built once; copy it)."""
    d = tmp_path_factory.mktemp("enrolled")
    with FaceGate(d / "facegate.db", device="cpu") as fg:
        for name in PEOPLE:
            report = fg.enrol_images(name.replace("_", " "), lfw_shots(lfw, name), check_quality=False)
            assert len(report.added) == SHOTS, report.rejected
    return d


@pytest.fixture()
def facegate(enrolled_dir: Path, tmp_path: Path) -> Iterator[FaceGate]:
    """A private copy of the enrolled database, open."""
    dst = tmp_path / "site"
    shutil.copytree(enrolled_dir, dst)
    fg = FaceGate(dst / "facegate.db", device="cpu")
    yield fg
    fg.close()
