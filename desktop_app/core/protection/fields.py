"""The stored values that are encrypted, and the associated data that binds each one to its place.

Each encrypted value is bound, through AES-GCM's associated data, to the database (its random
``database_uid``), its table and column, and its row: a ciphertext copied to another row, column
or database fails to decrypt (``DataDamagedError``), so a person's face cannot be swapped for
another's by editing the file, and an injected value is refused.
"""

from __future__ import annotations

from enum import StrEnum, unique


@unique
class SealedField(StrEnum):
    """A column (or file) whose values are kept encrypted; the value is ``table.column``."""

    SAMPLE_CROP = "samples.crop_png"
    """The aligned 112x112 face crop (PNG); row key: the sample id."""
    TEMPLATE_VECTOR = "templates.vector"
    """A face template (float32 embedding); row key: ``<sample id>:<model sha256>``."""
    STRANGER_VECTOR = "strangers.vector"
    """An embedding of a non-enrolled face (calibration pool); row key: the stranger row id."""
    EVENT_SNAPSHOT = "events.snapshot_jpg"
    """The face snapshot of a door event (JPEG); row key: the event id."""
    SPOOLED_SNAPSHOT = "spool.snapshot_jpg"
    """A snapshot waiting in the event spool beside the database; row key: the event's uid."""
    EVENT_FACE_VECTOR = "event_faces.vector"
    """The embedding of a door event's face (float32); row key: the event id."""
    EVENT_FACE_CROP = "event_faces.crop_png"
    """The aligned 112x112 crop of a door event's face (PNG); row key: the event id."""
    SPOOLED_FACE = "spool.face"
    """A door event's face (packed embedding, crop and quality) waiting in the event spool; row key: the event's uid."""
    GALLERY_FILE = "gallery.hnsw"
    """The saved HNSW gallery index (a whole file); row key: the model's sha256."""
    DOOR_OUTPUT = "doors.output"
    """A door's output URI (UTF-8; may hold ``user:password@``); row key: the door id."""
    DOOR_SECRET = "doors.secret"
    """A door's HMAC key of signed outputs (UTF-8); row key: the door id."""
    CAMERA_SOURCE = "door_cameras.source"
    """A door camera's source (UTF-8; an rtsp URL may hold ``user:password@``); row key: ``<door id>:<position>``."""
    SETTINGS_SECRETS = "settings.value_json"
    """The secret parts of a setting (a JSON object of UTF-8 values: the camera source, the site alert
    output and its HMAC key of ``config``), kept in their own settings row; row key: that row's key."""

    @property
    def table(self) -> str:
        return self.value.split(".", 1)[0]

    @property
    def column(self) -> str:
        return self.value.split(".", 1)[1]


def context(database_uid: str, field: SealedField, row_key: str | int) -> bytes:
    """The associated data of one value: ``facegate|<database uid>|<table.column>|<row key>``."""
    return f"facegate|{database_uid}|{field.value}|{row_key}".encode()
