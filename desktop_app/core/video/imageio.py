"""Reading images from disk robustly: any path, any common format, EXIF orientation applied.

Bad input costs a clear ImageError, never a hang, a crash or gigabytes of memory: only regular
files are read (a FIFO or a device like /dev/zero is refused before it is opened for reading),
files are capped at ``MAX_FILE_BYTES``, and the size an image's header declares is checked
against ``MAX_PIXELS`` and ``MAX_ASPECT`` before any decoding (``image_header``). Formats whose
header gives no size are only decoded up to ``UNKNOWN_FORMAT_MAX_BYTES``.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Final

import cv2
import numpy as np

from desktop_app.core.errors import ImageError
from desktop_app.core.video.image_header import read_header

IMAGE_SUFFIXES: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm", ".pbm"}
)
"""The one list of file suffixes (lower case) read as images: folders of photos, image-folder
sources, LFW-style sets."""

#: Largest image accepted, in pixels (120 megapixels: a 108 MP phone photo; 360 MB decoded).
MAX_PIXELS: Final[int] = 120_000_000
#: Largest ratio of the longer to the shorter side (a panorama is about 8:1).
MAX_ASPECT: Final[float] = 20.0
#: Largest image file read, in bytes.
MAX_FILE_BYTES: Final[int] = 256 << 20
#: Largest file decoded when its header gives no size (an unrecognised or damaged header).
UNKNOWN_FORMAT_MAX_BYTES: Final[int] = 4 << 20


def check_image_size(width: int, height: int, name: str) -> None:
    """ImageError unless a ``width`` x ``height`` image is within MAX_PIXELS and MAX_ASPECT."""
    if width <= 0 or height <= 0:
        raise ImageError(f"{name}: the image header gives an empty size ({width} x {height} pixels): "
                         "the file is corrupted.")
    if width * height > MAX_PIXELS:
        raise ImageError(f"{name}: the image is too large ({width} x {height} pixels, at most "
                         f"{MAX_PIXELS // 1_000_000} megapixels): use a smaller photo.")
    if max(width, height) > MAX_ASPECT * min(width, height):
        raise ImageError(f"{name}: the image is {width} x {height} pixels, far too narrow for a face photo.")


def decode_image(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode encoded image bytes to a (H, W, 3) uint8 BGR array (grey and alpha images included).

    The declared size is checked before decoding (``check_image_size``); ImageError for anything
    that is not a decodable image within the limits.
    """
    if not data:
        raise ImageError(f"{name}: the file is empty.")
    header = read_header(data)
    if header is not None:
        check_image_size(header.width, header.height, name)
    elif len(data) > UNKNOWN_FORMAT_MAX_BYTES:
        raise ImageError(f"{name}: not a known image format, or its header is damaged.")
    buf = np.frombuffer(data, dtype=np.uint8)
    try:
        image = cv2.imdecode(buf, cv2.IMREAD_COLOR)  # applies EXIF orientation, drops alpha, greys -> 3 ch
    except cv2.error as exc:
        raise ImageError(f"{name}: not an image, or the image is corrupted ({_cv_reason(exc)}).") from exc
    except MemoryError as exc:
        raise ImageError(f"{name}: the image is too large to decode in the memory available.") from exc
    if image is None or image.size == 0:
        raise ImageError(f"{name}: not an image, or the image is corrupted.")
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        image = as_bgr(image)
    check_image_size(int(image.shape[1]), int(image.shape[0]), name)
    return np.ascontiguousarray(image)


def _cv_reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[-1][:200] if text else exc.__class__.__name__


def read_image(path: Path) -> np.ndarray:
    """Read an image file (unicode paths too) to (H, W, 3) uint8 BGR; raises ImageError when unreadable.

    Only regular files of at most MAX_FILE_BYTES are read: a folder, FIFO, socket or device is
    refused without reading from it (a FIFO would block for ever, /dev/zero never ends).
    """
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file.") from None
    except OSError as exc:
        raise ImageError(f"{path}: cannot be read ({exc.strerror or exc}).") from exc
    _check_regular(path, st)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise ImageError(f"{path}: cannot be read ({exc.strerror or exc}).") from exc
    try:
        with os.fdopen(fd, "rb") as fh:
            _check_regular(path, os.fstat(fh.fileno()))  # it may have been swapped since the stat
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ImageError(f"{path}: cannot be read ({exc.strerror or exc}).") from exc
    if len(data) > MAX_FILE_BYTES:
        raise ImageError(f"{path}: the file is too large for an image ({MAX_FILE_BYTES >> 20} MB at most).")
    return decode_image(data, str(path))


def _check_regular(path: Path, st: os.stat_result) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise ImageError(f"{path}: is a folder, not an image.")
    if not stat.S_ISREG(st.st_mode):
        raise ImageError(f"{path}: not a regular file (a device, pipe or socket), so not an image file.")
    if st.st_size == 0:
        raise ImageError(f"{path}: the file is empty.")
    if st.st_size > MAX_FILE_BYTES:
        raise ImageError(f"{path}: the file is too large for an image ({st.st_size >> 20} MB, at most "
                         f"{MAX_FILE_BYTES >> 20} MB).")


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
