"""Shared fixtures: the real face data beside the checkout, and one face engine per test session.

Test tiers (markers registered in pyproject.toml): ``data`` marks every test that needs the shared
face data, set here automatically for each test that uses the ``shared_data`` fixture (directly or
through ``lfw``, ``clips``, ``clip``, ...) or is skipped-if on a path under it; ``slow`` marks the
long real-data runs. ``pytest -m "not slow and not data"`` is the fast tier (``make test-fast``).
FACEGATE_SHARED_DATA=DIR reads the data from DIR instead (an empty folder: run as without data).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from service_fixtures import (  # noqa: F401 - real counterparts
    central_site,
    lctech_board,
    mqtt_broker,
    postgres_server,
    webhook_server,
)

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SHARED_DATA = Path(os.environ.get("FACEGATE_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
"""../shared/data beside the checkout (LFW, clips), or $FACEGATE_SHARED_DATA."""


def _needs_shared_data(item: pytest.Item) -> bool:
    if "shared_data" in getattr(item, "fixturenames", ()):
        return True
    return any(str(SHARED_DATA) in str(mark.kwargs.get("reason", "")) for mark in item.iter_markers("skipif"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark ``data`` every test that needs the shared face data."""
    for item in items:
        if _needs_shared_data(item):
            item.add_marker(pytest.mark.data)


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
def lin_site(tmp_path_factory: pytest.TempPathFactory, clips: Path) -> Path:
    """A data folder whose ``facegate.db`` has Lin-Manuel Miranda enrolled from his photo, built
    once per session and never opened again: a test takes a private copy (``lin_gate``)."""
    from desktop_app.core.service import FaceGate

    folder = tmp_path_factory.mktemp("lin-site")
    with FaceGate(folder / "facegate.db", device="cpu") as gate:
        assert gate.enrol_images("Lin-Manuel Miranda", [clips / "lin-manuel-miranda.png"]).added
    return folder


@pytest.fixture()
def lin_gate(lin_site: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    """An open ``FaceGate`` on a private copy of ``lin_site`` (closed after the test)."""
    import shutil

    from desktop_app.core.service import FaceGate

    shutil.copytree(lin_site, tmp_path / "gate")
    gate = FaceGate(tmp_path / "gate" / "facegate.db", device="cpu")
    yield gate
    gate.close()


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


@pytest.fixture(scope="session", autouse=True)
def machine_key_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every database's machine key goes to a key file in a folder of this test session (never the
    user's keyring or ~/.config): FACEGATE_KEY_DIR and FACEGATE_KEY_STORE=file, inherited by the
    CLI processes the tests start. A test that needs another key folder sets its own."""
    folder = tmp_path_factory.mktemp("machine-keys")
    os.environ["FACEGATE_KEY_DIR"] = str(folder)
    os.environ["FACEGATE_KEY_STORE"] = "file"
    return folder


@pytest.fixture(scope="session", autouse=True)
def model_cache_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fp32 default-model cache (desktop_app.core.embedding.model_cache) of this test session,
    never ~/.cache: FACEGATE_MODEL_CACHE, inherited by CLI processes. New databases link from it."""
    folder = tmp_path_factory.mktemp("model-cache")
    os.environ["FACEGATE_MODEL_CACHE"] = str(folder)
    return folder
