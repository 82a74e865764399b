"""Frame sources behind one protocol: webcams, video files, network streams and image folders.

Every source yields :class:`Frame` objects whose ``image`` is ``np.ndarray`` uint8 BGR of shape
(H, W, 3), whatever the input (grayscale and BGRA inputs are converted). Sources are created
closed; call ``open()`` (which raises :class:`SourceError` with a message a person can act on),
then ``read()`` until it returns ``None`` (end of a finite source), then ``close()``.

Live sources (webcams, streams) raise :class:`SourceError` from ``read()`` when they stop
delivering frames (unplugged camera, network loss); :class:`~desktop_app.core.video.latest_frame.
LatestFrameReader` turns that into reconnection with back-off.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np

from desktop_app.core.errors import ImageError, SourceError
from desktop_app.core.video.imageio import IMAGE_SUFFIXES as IMAGE_EXTENSIONS  # the one list of image suffixes
from desktop_app.core.video.imageio import read_image

logger = logging.getLogger(__name__)

STREAM_SCHEMES: frozenset[str] = frozenset({"rtsp", "rtsps", "rtmp", "http", "https"})
"""URL schemes :class:`StreamSource` accepts."""


@dataclass(frozen=True, eq=False)
class Frame:
    """One frame delivered by a source.

    image: (H, W, 3) uint8 BGR; index: 0-based position of the frame among those this source
    object delivered since it was opened (for a looping file it keeps increasing); ts: the
    ``time.monotonic()`` clock in seconds when the frame was read; source: the source's name
    (for an image folder, the image file's name).
    """

    image: np.ndarray
    index: int
    ts: float
    source: str


@runtime_checkable
class FrameSource(Protocol):
    """What every frame source provides. ``name`` is a short human-readable label."""

    name: str

    def open(self) -> None:
        """Open the source; raises SourceError with a clear message when it cannot."""
        ...

    def read(self) -> Frame | None:
        """The next frame; ``None`` at the end of a finite source. Live sources raise SourceError
        when they stop delivering frames."""
        ...

    def close(self) -> None:
        """Release the device/file. Safe to call more than once, or on a source never opened."""
        ...

    @property
    def is_live(self) -> bool:
        """True for cameras and streams (stale frames should be dropped), False for files."""
        ...


def to_bgr(image: np.ndarray) -> np.ndarray:
    """Convert a decoded image to contiguous uint8 BGR (H, W, 3).

    Accepts (H, W) or (H, W, 1) grayscale, (H, W, 3) BGR and (H, W, 4) BGRA, as uint8 or uint16
    (uint16 is scaled down to 0..255). Raises SourceError for anything else.
    """
    img = np.asarray(image)
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    if img.dtype != np.uint8:
        raise SourceError(f"Unsupported frame pixel type {img.dtype}; expected 8-bit images.")
    if img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 1):
        return np.ascontiguousarray(cv2.cvtColor(img.reshape(img.shape[0], img.shape[1]), cv2.COLOR_GRAY2BGR))
    if img.ndim == 3 and img.shape[2] == 3:
        return np.ascontiguousarray(img)
    if img.ndim == 3 and img.shape[2] == 4:
        return np.ascontiguousarray(cv2.cvtColor(img, cv2.COLOR_BGRA2BGR))
    raise SourceError(f"Unsupported frame shape {img.shape}; expected a grayscale or colour image.")


_OPENCV_LOG_LOCK = threading.Lock()


@contextmanager
def _quiet_opencv() -> Iterator[None]:
    """Silence OpenCV's own console warnings (e.g. 'can't open camera by index') for a block."""
    with _OPENCV_LOG_LOCK:
        previous = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
        try:
            yield
        finally:
            cv2.utils.logging.setLogLevel(previous)


def _release(capture: cv2.VideoCapture | None) -> None:
    if capture is not None:
        try:
            capture.release()
        except cv2.error:  # pragma: no cover - release of a broken capture
            logger.debug("VideoCapture.release failed", exc_info=True)


class _LiveCapture:
    """Reading and closing shared by the live OpenCV captures (webcam, stream): a failed read means
    the camera is gone, reported as SourceError so the reader reconnects."""

    name: str
    _cap: cv2.VideoCapture | None
    _count: int

    @property
    def is_live(self) -> bool:
        return True

    def _lost_message(self) -> str:
        raise NotImplementedError

    def read(self) -> Frame | None:
        if self._cap is None:
            raise SourceError(f"{self.name} is not open; call open() first.")
        ok, image = self._cap.read()
        if not ok or image is None:
            raise SourceError(self._lost_message())
        frame = Frame(to_bgr(image), self._count, time.monotonic(), self.name)
        self._count += 1
        return frame

    def close(self) -> None:
        _release(self._cap)
        self._cap = None


class WebcamSource(_LiveCapture):
    """A local camera by OpenCV index (0 is the default camera). Live.

    width/height: requested capture size in pixels (the driver may pick the nearest it supports).
    """

    def __init__(self, index: int, width: int | None = None, height: int | None = None) -> None:
        if index < 0:
            raise SourceError(f"Camera index must be 0 or more, not {index}.")
        self.index = index
        self.width = width
        self.height = height
        self.name = f"camera {index}"
        self._cap: cv2.VideoCapture | None = None
        self._count = 0

    def open(self) -> None:
        self.close()
        with _quiet_opencv():
            cap = cv2.VideoCapture(self.index)
            opened = cap.isOpened()
        if not opened:
            _release(cap)
            raise SourceError(
                f"No camera at index {self.index}: it could not be opened (is it connected and not in "
                "use by another program?). Choose another camera index, a video file or a stream URL."
            )
        if self.width is not None:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, float(self.width))
        if self.height is not None:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, float(self.height))
        self._cap = cap
        self._count = 0

    def _lost_message(self) -> str:
        return f"Camera {self.index} stopped delivering frames (unplugged or in use?)."


class VideoFileSource:
    """A video file decoded with OpenCV. Not live.

    loop: start again from the first frame at the end (``read`` then never returns None);
    realtime: pace ``read`` at the file's frame rate (frames per second from the container;
    no pacing when the file does not state one), as a camera would deliver them.
    """

    def __init__(self, path: Path | str, loop: bool = False, realtime: bool = False) -> None:
        self.path = Path(path)
        self.loop = loop
        self.realtime = realtime
        self.name = self.path.name
        self._cap: cv2.VideoCapture | None = None
        self._pending: np.ndarray | None = None
        self._count = 0
        self._since_rewind = 0
        self._fps = 0.0
        self._frame_count = 0
        self._t0 = 0.0
        self._clock0 = 0.0
        self._paced = 0

    @property
    def is_live(self) -> bool:
        return False

    @property
    def fps(self) -> float | None:
        """Frame rate stated by the container (frames/s), or None if unknown. Valid after open()."""
        return self._fps if self._fps > 0 else None

    @property
    def frame_count(self) -> int | None:
        """Number of frames stated by the container (may be approximate), or None if unknown."""
        return self._frame_count if self._frame_count > 0 else None

    def open(self) -> None:
        self.close()
        if not self.path.exists():
            raise SourceError(f"Video file not found: {self.path}. Check the path or choose another file.")
        if not self.path.is_file():
            raise SourceError(f"{self.path} is not a file; choose a video file.")
        with _quiet_opencv():
            cap = cv2.VideoCapture(str(self.path))
            opened = cap.isOpened()
            ok, first = cap.read() if opened else (False, None)
        if not opened or not ok or first is None:
            _release(cap)
            why = "it is not a video OpenCV can decode" if not opened else "it contains no readable frame"
            raise SourceError(f"Cannot play {self.path}: {why}. Choose another video file.")
        fps = float(cap.get(cv2.CAP_PROP_FPS))
        self._fps = fps if np.isfinite(fps) and 0.0 < fps < 1000.0 else 0.0
        count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        self._frame_count = int(count) if np.isfinite(count) and count > 0 else 0
        self._cap = cap
        self._pending = first
        self._count = 0
        self._since_rewind = 0
        self._paced = 0
        self._clock0 = time.monotonic()

    def _decode_next(self) -> np.ndarray | None:
        assert self._cap is not None
        if self._pending is not None:
            image, self._pending = self._pending, None
            return image
        ok, image = self._cap.read()
        if ok and image is not None:
            return image
        if self.loop and self._since_rewind > 0:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0.0)
            self._since_rewind = 0
            ok, image = self._cap.read()
            if ok and image is not None:
                return image
        return None

    def _pace(self) -> None:
        now = time.monotonic()
        if self._paced == 0 or now - (self._t0 + self._paced / self._fps) > 1.0:
            # First frame, or more than a second behind (slow consumer): restart the schedule.
            self._t0 = now
            self._paced = 0
        wait = self._t0 + self._paced / self._fps - now
        if wait > 0:
            time.sleep(wait)
        self._paced += 1

    def read(self) -> Frame | None:
        if self._cap is None:
            raise SourceError(f"{self.name} is not open; call open() first.")
        image = self._decode_next()
        if image is None:
            return None
        if self.realtime and self._fps > 0:
            self._pace()
        # Unpaced files run on the video's own clock (open time + index / fps), so cooldowns and
        # votes mean the same in footage processed faster or slower than real time.
        ts = self._clock0 + self._count / self._fps if not self.realtime and self._fps > 0 else time.monotonic()
        frame = Frame(to_bgr(image), self._count, ts, self.name)
        self._count += 1
        self._since_rewind += 1
        return frame

    def close(self) -> None:
        _release(self._cap)
        self._cap = None
        self._pending = None


def _mask_credentials(url: str) -> str:
    """The URL with any password replaced by '***' (for names, logs and messages)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username or ''}:***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class StreamSource(_LiveCapture):
    """A network stream (rtsp://, rtsps://, rtmp://, http://, https://) read through FFmpeg. Live.

    open_timeout_s / read_timeout_s: how long FFmpeg may wait to connect / for a frame, seconds.
    """

    def __init__(self, url: str, open_timeout_s: float = 10.0, read_timeout_s: float = 10.0) -> None:
        url = url.strip()
        scheme = urlsplit(url).scheme.lower() if "://" in url else ""
        if scheme not in STREAM_SCHEMES:
            shown = f"'{scheme}'" if scheme else "none"
            raise SourceError(
                f"Unsupported stream address {_mask_credentials(url)!r} (scheme {shown}). "
                "Use an rtsp://, rtsps://, rtmp://, http:// or https:// URL."
            )
        self.url = url
        self.open_timeout_s = open_timeout_s
        self.read_timeout_s = read_timeout_s
        self.name = _mask_credentials(url)
        self._cap: cv2.VideoCapture | None = None
        self._count = 0

    def open(self) -> None:
        self.close()
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            int(self.open_timeout_s * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            int(self.read_timeout_s * 1000),
        ]
        with _quiet_opencv():
            cap = cv2.VideoCapture(self.url, cv2.CAP_FFMPEG, params)
            opened = cap.isOpened()
        if not opened:
            _release(cap)
            raise SourceError(
                f"Cannot open the stream {self.name}: check the address, that the camera is on the "
                "network, and the user name and password."
            )
        self._cap = cap
        self._count = 0

    def _lost_message(self) -> str:
        return f"The stream {self.name} stopped delivering frames (network or camera down?)."


def _natural_key(path: Path) -> tuple[tuple[int, int | str], ...]:
    """Sort key so that 'img2' comes before 'img10' (case-insensitive)."""
    parts = re.split(r"(\d+)", path.name.lower())
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts)


class ImageFolderSource:
    """The images directly inside a folder, in natural name order (img2 before img10). Not live.

    Files that cannot be read are skipped with a logged warning saying why, never fatal: damaged or
    not an image, empty, too large (``imageio.MAX_FILE_BYTES``, or a header declaring more than
    ``imageio.MAX_PIXELS``), or not a regular file (a FIFO named like an image is never opened, so
    it cannot hang the reader). EXIF orientation is applied.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.name = self.path.name or str(self.path)
        self._files: list[Path] = []
        self._pos = 0
        self._count = 0
        self._opened = False

    @property
    def is_live(self) -> bool:
        return False

    @property
    def files(self) -> list[Path]:
        """Image files found by open(), in reading order."""
        return list(self._files)

    @property
    def skipped(self) -> int:
        """How many files were skipped so far because they could not be decoded."""
        return self._pos - self._count

    def open(self) -> None:
        if not self.path.is_dir():
            raise SourceError(f"Image folder not found: {self.path}. Choose an existing folder.")
        try:
            entries = [p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and not p.is_dir()]
        except OSError as exc:
            raise SourceError(f"Cannot list the folder {self.path}: {exc}") from exc
        if not entries:
            raise SourceError(f"No images in {self.path} (looked for {', '.join(sorted(IMAGE_EXTENSIONS))}).")
        self._files = sorted(entries, key=_natural_key)
        self._pos = 0
        self._count = 0
        self._opened = True

    def read(self) -> Frame | None:
        if not self._opened:
            raise SourceError(f"{self.name} is not open; call open() first.")
        while self._pos < len(self._files):
            path = self._files[self._pos]
            self._pos += 1
            image = _decode_image_file(path)
            if image is None:
                continue
            frame = Frame(image, self._count, time.monotonic(), path.name)
            self._count += 1
            return frame
        return None

    def close(self) -> None:
        self._opened = False


def _decode_image_file(path: Path) -> np.ndarray | None:
    """Decode one image file to BGR (H, W, 3) uint8 with the guarded reader
    (:func:`~desktop_app.core.video.imageio.read_image`: regular files only, size and pixel caps
    checked before decoding), or log a warning saying why and return None."""
    try:
        return read_image(path)
    except ImageError as exc:
        logger.warning("Skipping %s", exc)
    except MemoryError:
        logger.warning("Skipping %s: not enough memory to decode it", path)
    return None


class SealedSource:
    """The stand-in of a camera whose stored source cannot be decrypted here (``sealed:<why>``, see
    ``storage.doors``): opening it fails with the reason, so the camera shows a fault, never a crash."""

    def __init__(self, uri: str) -> None:
        self.name = "encrypted camera source"
        self.why = uri.split(":", 1)[1].strip() or "its stored value cannot be decrypted here"

    @property
    def is_live(self) -> bool:
        return True

    def open(self) -> None:
        raise SourceError(f"The camera's source is encrypted and cannot be opened: {self.why}")

    def read(self) -> Frame | None:
        return None

    def close(self) -> None:
        """Nothing to close."""


def open_source(spec: str | int | Path) -> FrameSource:
    """Build (not open) the source a user typed or picked.

    ``0``/``"0"`` (any non-negative integer) -> :class:`WebcamSource`; an existing folder ->
    :class:`ImageFolderSource`; an existing file -> :class:`VideoFileSource`; an rtsp/rtmp/http(s)
    URL -> :class:`StreamSource`. Anything else raises SourceError saying what was expected.
    """
    if isinstance(spec, bool):
        raise SourceError(f"Invalid source {spec!r}: give a camera index, a file, a folder or a URL.")
    if isinstance(spec, int):
        return WebcamSource(spec)
    if isinstance(spec, str):
        text = spec.strip()
        if not text:
            raise SourceError(
                "No source given: enter a camera index (e.g. 0), a video file, a folder or a URL."
            )
        if text.isdigit():
            return WebcamSource(int(text))
        if text.lower().startswith("sealed:"):
            return SealedSource(text)
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", text):
            return StreamSource(text)  # raises SourceError for unsupported schemes
        path = Path(text).expanduser()
    else:
        path = spec.expanduser()
    if path.is_dir():
        return ImageFolderSource(path)
    if path.is_file():
        return VideoFileSource(path)
    raise SourceError(
        f"No such file or folder: {path}. Give a video file, an image folder, an rtsp:// or http(s):// "
        "URL, or a camera index such as 0."
    )


def list_cameras(max_index: int = 5) -> list[int]:
    """Indices in ``range(max_index)`` of the cameras that open, without OpenCV console warnings.

    On Linux an index whose ``/dev/videoN`` node does not exist is skipped without probing.
    """
    found: list[int] = []
    for index in range(max(0, max_index)):
        if sys.platform.startswith("linux") and not os.path.exists(f"/dev/video{index}"):
            continue
        with _quiet_opencv():
            cap = cv2.VideoCapture(index)
            try:
                if cap.isOpened():
                    found.append(index)
            finally:
                _release(cap)
    return found
