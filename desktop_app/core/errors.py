"""Exceptions raised by the core. Every message is meant to be shown to a person as is."""

from __future__ import annotations


class FaceGateError(Exception):
    """Base class of every error the core raises on purpose."""


class ModelError(FaceGateError):
    """A model file is missing, altered (checksum mismatch) or cannot be loaded."""


class ImageError(FaceGateError):
    """An input file is unreadable, not an image, or empty."""


class NoFaceError(FaceGateError):
    """No face was found where one was required."""


class ManyFacesError(FaceGateError):
    """Several faces were found where exactly one was required (enrolment)."""


class QualityError(FaceGateError):
    """A face was found but is too poor to enrol; ``reasons`` lists why."""

    def __init__(self, message: str, reasons: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.reasons = reasons


class SourceError(FaceGateError):
    """A frame source (camera, file, stream) cannot be opened or was lost."""


class StorageError(FaceGateError):
    """The database cannot be read or written (locked, full disk, corrupt)."""


class GalleryError(FaceGateError):
    """The face gallery index is inconsistent or cannot be loaded."""


class CancelledError(FaceGateError):
    """A long job was cancelled by the user; nothing of it was kept."""


class InputError(FaceGateError, ValueError):
    """A value a person typed (a name, an employee ID) is not acceptable; the message says why."""
