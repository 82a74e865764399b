"""Conversion of arrays to and from the blobs kept in the database.

- face crops: (112, 112, 3) uint8 BGR <-> lossless PNG bytes;
- event snapshots: (H, W, 3) uint8 BGR <-> JPEG bytes, shrunk so the longer side is at most
  ``SNAPSHOT_MAX_SIDE`` pixels;
- vectors: 1-D float32 <-> little-endian float32 bytes (the length is kept in a ``dim`` column);
- JSON values (quality, details, settings), numpy numbers allowed.

OpenCV is imported where an image is coded, not with the module: the CLI imports the store at start-up
and most commands code no image (``import cv2`` is ~0.15 s CPU).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Final

import numpy as np

from desktop_app.core import vectors
from desktop_app.core.errors import StorageError

CROP_SHAPE: Final[tuple[int, int, int]] = (112, 112, 3)
SNAPSHOT_MAX_SIDE: Final[int] = 320
SNAPSHOT_JPEG_QUALITY: Final[int] = 85
_F32_LE: Final = np.dtype("<f4")


def encode_crop(crop: np.ndarray) -> bytes:
    """PNG bytes of an aligned face crop: ``crop`` must be (112, 112, 3) uint8 BGR."""
    if not isinstance(crop, np.ndarray):
        raise ValueError(f"face crop must be a numpy array, got {type(crop).__name__}")
    if crop.shape != CROP_SHAPE or crop.dtype != np.uint8:
        raise ValueError(f"face crop must be a {CROP_SHAPE} uint8 BGR image, got shape {crop.shape} dtype {crop.dtype}")
    import cv2

    ok, buf = cv2.imencode(".png", np.ascontiguousarray(crop))
    if not ok:
        raise ValueError("the face crop could not be encoded as PNG")
    return bytes(buf.tobytes())


def decode_crop(blob: bytes) -> np.ndarray:
    """(112, 112, 3) uint8 BGR crop from its PNG bytes; StorageError when damaged."""
    import cv2

    img = cv2.imdecode(np.frombuffer(blob, dtype=np.uint8), cv2.IMREAD_COLOR)
    if img is None or img.shape != CROP_SHAPE:
        raise StorageError("a stored face crop is damaged and cannot be decoded; re-enrol that sample")
    return np.asarray(img, dtype=np.uint8)


def encode_snapshot(image: np.ndarray) -> bytes:
    """JPEG bytes of a (H, W, 3) uint8 BGR snapshot, downscaled to at most 320 px on its longer side."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"snapshot must be a numpy array, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or min(image.shape[:2]) < 1:
        raise ValueError(f"snapshot must be a (H, W, 3) uint8 BGR image, got shape {image.shape} dtype {image.dtype}")
    import cv2

    h, w = image.shape[:2]
    side = max(h, w)
    if side > SNAPSHOT_MAX_SIDE:
        scale = SNAPSHOT_MAX_SIDE / side
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(image), [int(cv2.IMWRITE_JPEG_QUALITY), SNAPSHOT_JPEG_QUALITY])
    if not ok:
        raise ValueError("the snapshot could not be encoded as JPEG")
    return bytes(buf.tobytes())


def decode_snapshot(blob: bytes) -> np.ndarray:
    """(H, W, 3) uint8 BGR snapshot from its JPEG bytes; StorageError when damaged."""
    import cv2

    img = cv2.imdecode(np.frombuffer(blob, dtype=np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise StorageError("a stored event snapshot is damaged and cannot be decoded")
    return np.asarray(img, dtype=np.uint8)


def as_vector(vector: np.ndarray, what: str = "embedding") -> np.ndarray:
    """``vector`` as a finite, non-empty 1-D float32 array (a (1, D) row is accepted), stored as
    given (not normalised); else ValueError."""
    return vectors.as_vector(vector, what, unit=False)


def as_matrix(matrix: np.ndarray, what: str = "embeddings") -> np.ndarray:
    """``matrix`` as a finite (M, D) float32 array; a single (D,) vector becomes (1, D); else ValueError."""
    return vectors.as_vectors(matrix, what, unit=False)


def vector_to_blob(vector: np.ndarray) -> bytes:
    """Little-endian float32 bytes of a 1-D vector (4 * D bytes)."""
    return np.ascontiguousarray(vector, dtype=_F32_LE).tobytes()


def blob_to_vector(blob: bytes, dim: int) -> np.ndarray:
    """(dim,) float32 vector from its bytes; StorageError when the length does not match."""
    if len(blob) != 4 * dim:
        raise StorageError(f"a stored vector is damaged: {len(blob)} bytes for dimension {dim}; re-embed the samples")
    return np.frombuffer(blob, dtype=_F32_LE).astype(np.float32)


def _json_default(value: object) -> object:
    """JSON form of numpy scalars/arrays, tuples and sets inside stored JSON values."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    raise TypeError(f"values of type {type(value).__name__} cannot be stored as JSON")


def to_json(value: object, what: str) -> str:
    """Compact JSON text of ``value`` (numpy values become plain numbers/lists); else ValueError."""
    try:
        return json.dumps(value, default=_json_default, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} cannot be stored as JSON: {exc}") from exc


def from_json(text: str) -> object:
    """Value of stored JSON text; StorageError when damaged."""
    try:
        return json.loads(text)
    except ValueError as exc:
        raise StorageError(f"a stored JSON value is damaged: {exc}") from exc


#: Stored embeddings are L2-normalised: a vector whose length differs from 1 by more than this is damaged.
UNIT_NORM_TOLERANCE: Final[float] = 1e-3


def vector_problem(blob: bytes, dim: int, expected_dim: int | None, unit: bool) -> str | None:
    """Why one stored vector is unusable, or None when it is sound.

    blob: little-endian float32 bytes; dim: its stored length; expected_dim: the model's embedding
    length (None: not known); unit: the vector must have length 1 (within ``UNIT_NORM_TOLERANCE``).
    """
    if expected_dim is not None and dim != expected_dim:
        return f"it has {dim} values but the model produces {expected_dim}"
    if dim <= 0 or len(blob) != 4 * dim:
        return f"it has {len(blob)} bytes for {dim} values"
    vec = np.frombuffer(blob, dtype=_F32_LE).astype(np.float64)
    if not np.all(np.isfinite(vec)):
        return "it contains NaN or infinite values"
    norm = float(np.sqrt(np.sum(vec * vec)))
    if norm < vectors.MIN_NORM:
        return "it is all zeros"
    if unit and not abs(norm - 1.0) <= UNIT_NORM_TOLERANCE:
        return f"its length is {norm:.4g} instead of 1"
    return None


def stack_vectors(
    dims: Sequence[int], blobs: Sequence[bytes], *, expected_dim: int | None = None, unit: bool = False
) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """The sound rows of N stored vectors as an (M, D) float32 matrix, and the rows left out.

    A row is left out (quarantined) when ``vector_problem`` finds it damaged: wrong length for the
    model (``expected_dim``; when None, the most common stored length), all zeros, non-finite, or
    (``unit``) not of length 1. Returns (matrix, [(row index, reason), ...]); the matrix is
    (0, 0) when no row is sound.
    """
    dim = expected_dim
    if dim is None and dims:
        counts: dict[int, int] = {}
        for d in dims:
            counts[int(d)] = counts.get(int(d), 0) + 1
        dim = max(sorted(counts), key=lambda d: counts[d])
    good: list[np.ndarray] = []
    bad: list[tuple[int, str]] = []
    for i, (d, blob) in enumerate(zip(dims, blobs, strict=True)):
        problem = vector_problem(blob, int(d), dim, unit)
        if problem is None:
            good.append(np.frombuffer(blob, dtype=_F32_LE))
        else:
            bad.append((i, problem))
    if not good:
        return np.zeros((0, 0), np.float32), bad
    return np.stack(good).astype(np.float32), bad
