"""Reading images from disk robustly: any path, any common format, EXIF orientation applied."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from desktop_app.core.errors import ImageError

IMAGE_SUFFIXES: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm", ".pbm"}
)
"""The one list of file suffixes (lower case) read as images: folders of photos, image-folder
sources, LFW-style sets."""


def decode_image(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode encoded image bytes to a (H, W, 3) uint8 BGR array (grey and alpha images included)."""
    if not data:
        raise ImageError(f"{name}: the file is empty.")
    buf = np.frombuffer(data, dtype=np.uint8)
    image = cv2.imdecode(buf, cv2.IMREAD_COLOR)  # applies EXIF orientation, drops alpha, greys -> 3 ch
    if image is None or image.size == 0:
        raise ImageError(f"{name}: not an image, or the image is corrupted.")
    return np.ascontiguousarray(image)


def read_image(path: Path) -> np.ndarray:
    """Read an image file (unicode paths too) to (H, W, 3) uint8 BGR; raises ImageError when unreadable."""
    path = Path(path)
    if not path.exists():
        raise ImageError(f"{path}: no such file.")
    if path.is_dir():
        raise ImageError(f"{path}: is a folder, not an image.")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageError(f"{path}: cannot be read ({exc.strerror or exc}).") from exc
    return decode_image(data, str(path))


def as_bgr(image: np.ndarray) -> np.ndarray:
    """Any (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) uint8/uint16/float image -> (H, W, 3) uint8 BGR."""
    img = image
    if img.dtype == np.uint16:
        img = (img / 257.0).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = np.clip(img * (255.0 if float(np.max(img, initial=0.0)) <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.ndim == 3 and img.shape[2] == 1:
        return cv2.cvtColor(img[:, :, 0], cv2.COLOR_GRAY2BGR)
    if img.ndim == 3 and img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    if img.ndim == 3 and img.shape[2] == 3:
        return img
    raise ImageError(f"Unsupported image shape {image.shape}.")


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside ``folder`` (by suffix), sorted by name."""
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def expand_image_args(paths: list[Path]) -> list[Path]:
    """Files as given plus the images inside any folder given (non-recursive), in order, no duplicates."""
    out: list[Path] = []
    for p in paths:
        items = list_images(p) if Path(p).is_dir() else [Path(p)]
        out.extend(i for i in items if i not in out)
    return out
