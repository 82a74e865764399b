"""Shared fixtures: the real face data beside the checkout, and one face engine per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (LFW, the Hamilton clip, enrolment photos); skips when absent."""
    if not (SHARED_DATA / "lfw" / "pairs.txt").is_file():
        pytest.skip(f"real face data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def lfw(shared_data: Path) -> Path:
    return shared_data / "lfw"


@pytest.fixture(scope="session")
def clips(shared_data: Path) -> Path:
    return shared_data / "clips"


@pytest.fixture(scope="session")
def fp32_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped SFace converted to fp32 once per session."""
    from desktop_app.core.embedding.model_convert import ensure_fp32_copy
    from desktop_app.core.embedding.model_files import EMBEDDER, shipped_model_path

    return ensure_fp32_copy(shipped_model_path(EMBEDDER), tmp_path_factory.mktemp("models") / "sface-fp32.onnx")


@pytest.fixture(scope="session")
def engine(fp32_model: Path):  # type: ignore[no-untyped-def]
    """A FaceEngine (YuNet + fp32 SFace, flip on, CPU) shared by the session's tests."""
    from desktop_app.core.embedding.embedder import Embedder
    from desktop_app.core.face.detector import FaceDetector
    from desktop_app.core.face.engine import FaceEngine

    return FaceEngine(FaceDetector(), Embedder(fp32_model, device="cpu", flip=True))
