"""What a backup or a restore reports (boundary data for the CLI and the app)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class BackupReport:
    """A backup made: ``path`` the archive, ``sha256`` of its bytes (hex), ``size`` in bytes,
    ``db_bytes`` the database copy's size, ``created_at`` ISO UTC, ``database_uid`` and
    ``schema_version`` of the source; ``people``, ``templates``, ``events`` counted in the
    snapshot; ``files`` the archive's members; ``warnings`` lines for the admin (e.g. no
    password wraps the data key, so the backup opens only on this computer)."""

    path: Path
    sha256: str
    size: int
    db_bytes: int
    created_at: str
    database_uid: str | None
    schema_version: int
    people: int
    templates: int
    events: int
    files: tuple[str, ...]
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class RestoreReport:
    """A restore done: ``db_path`` replaced by the backup ``archive`` (``sha256`` of its bytes),
    made at ``created_at`` from database ``database_uid`` with schema ``schema_version`` (migrated
    to ``schema_now``); ``people``/``templates``/``events`` now held; ``pending_events`` spooled
    events restored; ``models`` model files put back; ``previous``: the safety copy of the
    replaced database, when kept (else None; also None when there was none); ``locked``: why the
    face data cannot be opened on this computer yet (then ``facegate unlock`` with an admin
    password of the backup), else None; ``erasures_reapplied``: people of the backup erased again
    from the erasure ledger (they had been erased after the backup was made)."""

    db_path: Path
    archive: Path
    sha256: str
    created_at: str
    database_uid: str | None
    schema_version: int
    schema_now: int
    people: int
    templates: int
    events: int
    pending_events: int
    models: int
    previous: Path | None
    locked: str | None
    erasures_reapplied: int = 0
