"""Frames of an input the ``facegate liveness`` command is given: a video file, a folder of frames
or a single image, as (image, seconds) pairs on the input's own clock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from desktop_app.core.errors import SourceError
from desktop_app.core.video.imageio import IMAGE_SUFFIXES, read_image
from desktop_app.core.video.sources import ImageFolderSource, VideoFileSource


def input_frames(path: Path, *, folder_fps: float = 15.0, max_fps: float | None = 15.0) -> Iterator[tuple[np.ndarray,
                                                                                                         float]]:
    """(image (H, W, 3) uint8 BGR, ts seconds) of ``path``, in order.

    A video file runs on its own clock (frame index / its frame rate), thinned to at most
    ``max_fps`` frames per second (None: every frame), as a door camera processed on a CPU would
    see it; a folder holds one frame per image in natural name order, ``folder_fps`` apart; an
    image file is one frame at 0 s. SourceError / ImageError when the input cannot be read.
    """
    path = Path(path)
    if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
        yield read_image(path), 0.0
        return
    if path.is_dir():
        folder = ImageFolderSource(path)
        folder.open()
        try:
            i = 0
            while (frame := folder.read()) is not None:
                yield frame.image, i / folder_fps
                i += 1
        finally:
            folder.close()
        return
    if not path.exists():
        raise SourceError(f"{path}: no such file or folder.")
    video = VideoFileSource(path)
    video.open()
    try:
        fps = video.fps or 25.0
        step = max(round(fps / max_fps), 1) if max_fps else 1
        while (frame := video.read()) is not None:
            if frame.index % step == 0:
                yield frame.image, frame.index / fps
    finally:
        video.close()
