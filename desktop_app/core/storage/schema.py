"""Database schema, kept as an ordered list of migrations.

The schema version is ``PRAGMA user_version``: version N means the first N functions of
``MIGRATIONS`` were applied. Opening a database applies the missing ones, each in its own
``BEGIN IMMEDIATE`` transaction together with the version bump, so a failed migration leaves the
file at the previous version. To change the schema, append ``migration_2`` (never edit a migration
that has shipped). ``migrate`` runs the migrations with foreign keys off (they cannot be switched
inside a transaction, and a table rebuild must not fire ON DELETE actions): a migration that
rebuilds a table (``_rebuild_table``) ends with ``PRAGMA foreign_key_check``.

``PRAGMA application_id`` marks the file as FaceGate's, so that another program's SQLite database
is refused rather than altered.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Final

from sqlite_utils import Database

from desktop_app.core.errors import StorageError
from desktop_app.core.protection import wraps as key_wraps
from desktop_app.core.storage import audit_chain, codecs, times

APPLICATION_ID: Final[int] = 0x46476174  # "FGat"

Migration = Callable[[Database], None]

_SCHEMA_1: Final[tuple[str, ...]] = (
    # Enrolled people. name_key = NFC-normalised, case-folded name: names are unique ignoring case.
    """CREATE TABLE people (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL CHECK (length(trim(name)) > 0),
        name_key TEXT NOT NULL UNIQUE,
        employee_id TEXT UNIQUE,
        department TEXT,
        active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""",
    # Face samples: the aligned 112x112 BGR crop as PNG (last column, so listing skips its pages).
    """CREATE TABLE samples (
        id INTEGER PRIMARY KEY,
        person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
        quality_json TEXT NOT NULL,
        source TEXT NOT NULL,
        created_at TEXT NOT NULL,
        crop_png BLOB NOT NULL
    )""",
    "CREATE INDEX samples_person ON samples(person_id)",
    # One embedding per (sample, model): little-endian float32 bytes of length 4 * dim.
    """CREATE TABLE templates (
        sample_id INTEGER NOT NULL REFERENCES samples(id) ON DELETE CASCADE,
        model_sha256 TEXT NOT NULL,
        dim INTEGER NOT NULL CHECK (dim > 0),
        created_at TEXT NOT NULL,
        vector BLOB NOT NULL CHECK (length(vector) = 4 * dim),
        PRIMARY KEY (sample_id, model_sha256)
    )""",
    "CREATE INDEX templates_model ON templates(model_sha256)",
    # Recognition events; person_ref survives erasure as "erased-<8 hex>".
    """CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        ts TEXT NOT NULL,
        person_id INTEGER REFERENCES people(id) ON DELETE SET NULL,
        person_ref TEXT,
        score REAL NOT NULL,
        decision TEXT NOT NULL CHECK (decision IN ('granted', 'unknown', 'denied')),
        camera TEXT NOT NULL,
        model_sha256 TEXT NOT NULL,
        track_id INTEGER,
        snapshot_jpg BLOB
    )""",
    "CREATE INDEX events_ts ON events(ts)",
    "CREATE INDEX events_person_ts ON events(person_id, ts)",
    # First in / last out per person per local calendar day (YYYY-MM-DD).
    """CREATE TABLE attendance (
        person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
        day TEXT NOT NULL,
        first_in TEXT NOT NULL,
        last_out TEXT NOT NULL,
        PRIMARY KEY (person_id, day)
    )""",
    "CREATE INDEX attendance_day ON attendance(day)",
    """CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        ts TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        details_json TEXT NOT NULL DEFAULT '{}'
    )""",
    """CREATE TABLE models (
        sha256 TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        path TEXT NOT NULL,
        input_size INTEGER NOT NULL CHECK (input_size > 0),
        embedding_dim INTEGER NOT NULL CHECK (embedding_dim > 0),
        threshold REAL,
        target_fpir REAL,
        gallery_size INTEGER,
        created_at TEXT NOT NULL,
        parent_sha256 TEXT,
        metrics_json TEXT,
        registered_at TEXT NOT NULL
    )""",
    # Every activation, newest last: the active model is the last row, the previous one is the
    # last row naming another model.
    """CREATE TABLE model_activations (
        id INTEGER PRIMARY KEY,
        sha256 TEXT NOT NULL REFERENCES models(sha256),
        activated_at TEXT NOT NULL
    )""",
    """CREATE TABLE calibrations (
        id INTEGER PRIMARY KEY,
        model_sha256 TEXT NOT NULL,
        created_at TEXT NOT NULL,
        threshold REAL NOT NULL,
        target_fpir REAL NOT NULL,
        gallery_persons INTEGER NOT NULL,
        gallery_templates INTEGER NOT NULL,
        est_fpir REAL NOT NULL,
        est_fnir REAL NOT NULL,
        n_genuine INTEGER NOT NULL,
        n_impostor INTEGER NOT NULL,
        method TEXT NOT NULL,
        notes_json TEXT NOT NULL
    )""",
    "CREATE INDEX calibrations_model ON calibrations(model_sha256, id)",
    # Embeddings of faces of non-enrolled people, for threshold calibration.
    """CREATE TABLE strangers (
        id INTEGER PRIMARY KEY,
        model_sha256 TEXT NOT NULL,
        dim INTEGER NOT NULL CHECK (dim > 0),
        source TEXT NOT NULL,
        created_at TEXT NOT NULL,
        vector BLOB NOT NULL CHECK (length(vector) = 4 * dim)
    )""",
    "CREATE INDEX strangers_model ON strangers(model_sha256)",
    """CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value_json TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""",
)


def migration_1(db: Database) -> None:
    """Create every table of the first schema and mark the file as FaceGate's."""
    for statement in _SCHEMA_1:
        db.execute(statement)
    db.execute(f"PRAGMA application_id = {APPLICATION_ID}")


def _model_path_in_folder(path: str, base: str) -> str:
    """Stored text for a model path written by version 1 (relative to the working directory of
    the time, or absolute): relative to the database folder ``base`` when the file is in it,
    and, for a folder that was moved since, its file of the same name in ``base/models``."""
    here = os.path.join(base, "models", os.path.basename(path))
    if not os.path.isabs(path):
        if os.path.isfile(os.path.join(base, path)):
            return path.replace(os.sep, "/")
        candidate = os.path.abspath(path)
        if not os.path.isfile(candidate):
            return f"models/{os.path.basename(path)}" if os.path.isfile(here) else path
        path = candidate
    for a, b in ((path, base), (os.path.realpath(path), os.path.realpath(base))):
        try:
            rel = os.path.relpath(a, b)
        except ValueError:  # another drive (Windows)
            continue
        if not rel.startswith(os.pardir) and not os.path.isabs(rel) and rel != os.curdir:
            return rel.replace(os.sep, "/")
    if not os.path.isfile(path) and os.path.isfile(here):
        return f"models/{os.path.basename(path)}"
    return path


def migration_2(db: Database) -> None:
    """Model paths relative to the database's folder, so that the data folder can be moved and
    FaceGate run from any working directory (version 1 stored them as given)."""
    row = db.conn.execute("PRAGMA database_list").fetchone()
    file = str(row[2]) if row is not None and row[2] else ""
    if not file:  # an in-memory database has no folder
        return
    base = os.path.dirname(os.path.abspath(file))
    for sha, path in db.conn.execute("SELECT sha256, path FROM models").fetchall():
        new = _model_path_in_folder(str(path), base)
        if new != path:
            db.conn.execute("UPDATE models SET path = ? WHERE sha256 = ?", (new, sha))


def migration_3(db: Database) -> None:
    """A unique ``uid`` per event, so that an event written again (from the event spool, after a
    crash between the commit and the spool's rewrite) is recognised and skipped, never doubled.
    Older rows keep NULL (SQLite's unique index allows several)."""
    db.execute("ALTER TABLE events ADD COLUMN uid TEXT")
    db.execute("CREATE UNIQUE INDEX events_uid ON events(uid)")



def _rebuild_table(db: Database, table: str, edit: Callable[[str], str]) -> None:
    """Recreate ``table`` from its own CREATE statement changed by ``edit`` (constraints that
    ALTER TABLE cannot change), keeping every row, column and index, inside the caller's
    transaction. Needs foreign keys off (``migrate`` switches them off around each migration),
    so that dropping the old copy runs no ON DELETE action on other tables."""
    conn = db.conn
    if int(conn.execute("PRAGMA foreign_keys").fetchone()[0]):
        raise StorageError("Internal error: a table rebuild needs foreign keys off.")
    row = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()
    if row is None:
        raise StorageError(f"The database has no {table} table: it cannot be brought up to date.")
    indexes = [str(r[0]) for r in conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL", (table,))]
    new_sql, n = re.subn(rf'^CREATE TABLE "?{table}"?', f"CREATE TABLE {table}_m4", edit(str(row[0])))
    if n != 1:
        raise StorageError(f"The {table} table has an unexpected definition: it cannot be brought up to date.")
    cols = ", ".join(f'"{r[1]}"' for r in conn.execute(f"PRAGMA table_info({table})"))
    conn.execute(new_sql)
    conn.execute(f"INSERT INTO {table}_m4 ({cols}) SELECT {cols} FROM {table}")
    conn.execute(f"DROP TABLE {table}")
    conn.execute(f"ALTER TABLE {table}_m4 RENAME TO {table}")
    for sql in indexes:
        conn.execute(sql)


def _must_change(pattern: str, replacement: str, what: str) -> Callable[[str], str]:
    def edit(sql: str) -> str:
        out, n = re.subn(pattern, replacement, sql)
        if n != 1:
            raise StorageError(f"The {what} has an unexpected definition: it cannot be brought up to date.")
        return out
    return edit


def migration_4(db: Database) -> None:
    """Identity integrity (issue 9, item 6).

    - people: the name is no longer unique on its own. People are keyed by employee ID where one
      is given: two people may share a name when each has an employee ID (the rule is enforced
      by the store's code, ``PeopleMixin._check_person_unique``); ``name_key`` keeps an index.
    - events: the decision may be ``"ambiguous"`` (a face that matched two people too closely),
      and ``detail_json`` (JSON object or NULL) holds such details: ``{"candidates": [id, id]}``,
      the ids of the two people (ids, not names, so that erasing a person leaves no name here).
    """
    _rebuild_table(db, "people", _must_change(r"name_key\s+TEXT\s+NOT\s+NULL\s+UNIQUE", "name_key TEXT NOT NULL",
                                              "people table"))
    db.conn.execute("CREATE INDEX IF NOT EXISTS people_name_key ON people(name_key)")
    _rebuild_table(db, "events", _must_change(
        r"CHECK\s*\(\s*decision\s+IN\s*\(\s*'granted',\s*'unknown',\s*'denied'\s*\)\s*\)",
        "CHECK (decision IN ('granted', 'unknown', 'denied', 'ambiguous'))", "events table"))
    db.conn.execute("ALTER TABLE events ADD COLUMN detail_json TEXT")
    broken = db.conn.execute("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise StorageError(f"Bringing the database up to date broke {len(broken)} references; nothing was changed.")


_SCHEMA_5: Final[tuple[str, ...]] = (
    # Weekly schedules (access/schedule.py): text as written, holidays a JSON list of ISO days,
    # timezone an IANA name or "local". Names are unique ignoring case (ASCII).
    """CREATE TABLE schedules (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE CHECK (length(trim(name)) > 0),
        text TEXT NOT NULL,
        holidays TEXT NOT NULL DEFAULT '[]',
        timezone TEXT NOT NULL DEFAULT 'local',
        updated_at TEXT NOT NULL
    )""",
    """CREATE TABLE groups (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE CHECK (length(trim(name)) > 0),
        description TEXT NOT NULL DEFAULT '',
        updated_at TEXT NOT NULL
    )""",
    """CREATE TABLE person_groups (
        person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
        group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
        PRIMARY KEY (person_id, group_id)
    )""",
    "CREATE INDEX person_groups_group ON person_groups(group_id)",
    # Doors. secret: HMAC key of signed outputs, as given (encryption at rest: issue 12);
    # passback_partner: a door name (checked by the store's code, not a reference).
    """CREATE TABLE doors (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE CHECK (length(trim(name)) > 0),
        output TEXT NOT NULL DEFAULT 'log:',
        secret TEXT,
        unlock_seconds REAL NOT NULL DEFAULT 5.0 CHECK (unlock_seconds > 0),
        fail_mode TEXT NOT NULL DEFAULT 'secure' CHECK (fail_mode IN ('secure', 'safe')),
        contact TEXT,
        held_open_s REAL NOT NULL DEFAULT 30.0 CHECK (held_open_s > 0),
        passback_partner TEXT,
        passback TEXT NOT NULL DEFAULT 'off' CHECK (passback IN ('off', 'deny', 'flag')),
        updated_at TEXT NOT NULL
    )""",
    # The cameras of a door, in order (position 0, 1, ...).
    """CREATE TABLE door_cameras (
        door_id INTEGER NOT NULL REFERENCES doors(id) ON DELETE CASCADE,
        position INTEGER NOT NULL CHECK (position >= 0),
        source TEXT NOT NULL CHECK (length(trim(source)) > 0),
        direction TEXT NOT NULL DEFAULT 'in' CHECK (direction IN ('in', 'out')),
        name TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (door_id, position)
    )""",
    # Group x door x schedule; a NULL schedule means always. A schedule in use cannot be deleted.
    """CREATE TABLE permissions (
        group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
        door_id INTEGER NOT NULL REFERENCES doors(id) ON DELETE CASCADE,
        schedule_id INTEGER REFERENCES schedules(id) ON DELETE RESTRICT,
        PRIMARY KEY (group_id, door_id)
    )""",
    "CREATE INDEX permissions_door ON permissions(door_id)",
    "CREATE INDEX permissions_schedule ON permissions(schedule_id)",
    # Remote commands for the door loops (possibly other processes), oldest first. taken_at: when a
    # door loop took it (NULL: waiting); outcome: "taken", or "expired" when it waited too long.
    """CREATE TABLE door_commands (
        id INTEGER PRIMARY KEY,
        door TEXT NOT NULL,
        command TEXT NOT NULL CHECK (command IN ('open')),
        actor TEXT NOT NULL,
        ts TEXT NOT NULL,
        taken_at TEXT,
        outcome TEXT
    )""",
    "CREATE INDEX door_commands_waiting ON door_commands(door) WHERE taken_at IS NULL",
    # Validity of a person (first and last local day, inclusive; NULL: no limit).
    "ALTER TABLE people ADD COLUMN valid_from TEXT",
    "ALTER TABLE people ADD COLUMN valid_until TEXT",
    # Where and why: the door (name), the camera's direction ("in" / "out"), the AccessReason value.
    "ALTER TABLE events ADD COLUMN door TEXT",
    "ALTER TABLE events ADD COLUMN direction TEXT",
    "ALTER TABLE events ADD COLUMN reason TEXT",
)


def migration_5(db: Database) -> None:
    """Access control (issue 10): schedules, groups and their members, doors and their cameras,
    permissions (group x door x schedule), a person's validity, the door, direction and reason of
    each event, a queue of remote door commands, and attendance that follows the camera's
    direction: a day may have only a first in (an entry seen, no exit yet) or only a last out, so
    both become nullable (at least one is set)."""
    for statement in _SCHEMA_5:
        db.execute(statement)
    _rebuild_table(db, "attendance", _must_change(
        r"first_in\s+TEXT\s+NOT\s+NULL,\s*last_out\s+TEXT\s+NOT\s+NULL,",
        "first_in TEXT, last_out TEXT, CHECK (first_in IS NOT NULL OR last_out IS NOT NULL),",
        "attendance table"))
    broken = db.conn.execute("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise StorageError(f"Bringing the database up to date broke {len(broken)} references; nothing was changed.")


def migration_6(db: Database) -> None:
    """A tamper-evident audit log (issue 12; the design is in ``audit_chain``'s docstring).

    - audit: the chain columns ``details_salt``, ``details_sha256``, ``prev_hash``, ``row_hash``;
      every existing row is chained, oldest first, and when there were any an
      ``audit.chain.start`` row records how many (they are vouched for from now on, not before);
    - audit_head: the chain's head (row count, last id, last hash), kept with every audit row;
    - triggers that refuse deleting audit rows and changing them, except an erasure's
      pseudonymisation of the details (which drops the row's salt).
    """
    conn = db.conn
    for column in audit_chain.CHAIN_COLUMNS:
        conn.execute(f"ALTER TABLE audit ADD COLUMN {column} TEXT")
    conn.execute(audit_chain.HEAD_TABLE)
    chained = audit_chain.chain_existing_rows(conn)
    if chained:
        audit_chain.append(conn, times.now_db(), "facegate", audit_chain.CHAIN_START_ACTION,
                           codecs.to_json({"rows_chained": chained}, "audit details"))
    for statement in audit_chain.TRIGGERS:
        conn.execute(statement)


def migration_7(db: Database) -> None:
    """Encryption at rest (issue 12; the design is in ``desktop_app.core.protection``).

    - protection: one row with the database's random ``database_uid`` (it names the machine key
      outside the data folder), the state of its face data (plain until the store makes the data
      key, at the first writable open), and the current data key id;
    - key_wraps: the data key wrapped by the machine key and by password-derived keys;
    - templates and strangers: ``vector`` holds an encrypted value (36 bytes longer than
      ``4 * dim``), so its length check becomes ``>= 4 * dim`` (the encryption authenticates it).
    """
    for statement in key_wraps.TABLES:
        db.execute(statement)
    key_wraps.insert_protection_row(db.conn, times.now_db())
    vector_check = r"CHECK\s*\(\s*length\(vector\)\s*=\s*4\s*\*\s*dim\s*\)"
    for table in ("templates", "strangers"):
        _rebuild_table(db, table, _must_change(vector_check, "CHECK (length(vector) >= 4 * dim)", f"{table} table"))
    broken = db.conn.execute("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise StorageError(f"Bringing the database up to date broke {len(broken)} references; nothing was changed.")


def migration_8(db: Database) -> None:
    """Named accounts with roles (issue 12; the design is in ``desktop_app.core.accounts.book``).

    - accounts: one row per account: login name (unique ignoring case), role, argon2id password
      hash (NULL: must be reset before it can log in), disabled flag, the wrong passwords in a row
      and the time of the last one (seconds since the epoch, UTC: the back-off survives restarts);
    - an index on audit(action): the accounts' history (``account.*`` rows) is read at each login.
    """
    conn = db.conn
    conn.execute("""CREATE TABLE accounts (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
        name_key TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
        password_hash TEXT,
        disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
        failures INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0),
        last_failed_at REAL,
        last_login_at TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""")
    conn.execute("CREATE INDEX IF NOT EXISTS audit_action ON audit(action)")


def migration_9(db: Database) -> None:
    """Liveness at the door (issue 11).

    - events: the decision may be ``"spoof"`` (the liveness check judged the face a photo, a
      screen or a cut-out); its ``detail_json`` holds ``{"liveness": ["reason", ...]}``, the check's
      reasons in words;
    - doors: ``liveness``, the door's liveness mode (``off``, ``passive``, ``challenge``), NULL for
      the installation's default (the ``liveness`` settings).
    """
    _rebuild_table(db, "events", _must_change(
        r"CHECK\s*\(\s*decision\s+IN\s*\(\s*'granted',\s*'unknown',\s*'denied',\s*'ambiguous'\s*\)\s*\)",
        "CHECK (decision IN ('granted', 'unknown', 'denied', 'ambiguous', 'spoof'))", "events table"))
    db.conn.execute("ALTER TABLE doors ADD COLUMN liveness TEXT"
                    " CHECK (liveness IS NULL OR liveness IN ('off', 'passive', 'challenge'))")
    broken = db.conn.execute("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise StorageError(f"Bringing the database up to date broke {len(broken)} references; nothing was changed.")


def migration_10(db: Database) -> None:
    """The faces behind door events and the unknown-faces library (issue 14).

    - unknown_clusters: one row per recurring unknown visitor (faces of *unknown* events grouped
      by ``desktop_app.core.unknowns``): the model whose embeddings it groups, ``open`` or
      ``ignored`` (an ignored visitor's new faces join it and stay out of the list);
    - event_faces: one row per event that had a face: the model, the embedding (``vector``) and
      the aligned 112x112 crop (``crop_png``), both encrypted and bound to the event id like
      templates and crops, the quality measures, and the cluster of an unknown event's face.
      Deleting the event (retention) deletes its face; deleting a cluster deletes its faces first.
    """
    conn = db.conn
    conn.execute("""CREATE TABLE unknown_clusters (
        id INTEGER PRIMARY KEY,
        model_sha256 TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'ignored')),
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""")
    conn.execute("""CREATE TABLE event_faces (
        event_id INTEGER PRIMARY KEY REFERENCES events(id) ON DELETE CASCADE,
        model_sha256 TEXT NOT NULL,
        dim INTEGER NOT NULL CHECK (dim > 0),
        quality_json TEXT NOT NULL,
        cluster_id INTEGER REFERENCES unknown_clusters(id) ON DELETE SET NULL,
        vector BLOB NOT NULL CHECK (length(vector) >= 4 * dim),
        crop_png BLOB NOT NULL
    )""")
    conn.execute("CREATE INDEX event_faces_cluster ON event_faces(cluster_id)")
    conn.execute("CREATE INDEX event_faces_model ON event_faces(model_sha256)")


def migration_11(db: Database) -> None:
    """Corrections of door decisions (issue 14; the design is in ``desktop_app.core.corrections``).

    - corrections: one row per corrected event (``event_id`` unique while the event exists; it
      becomes NULL when the event is deleted, the counts stay): ``kind`` ``not_person`` (the event
      named ``wrong_person_id`` but it was someone else: a false accept) or ``was_person`` (it was
      ``true_person_id``: a false reject; ``wrong_person_id`` is set too when the event named
      another person), who (``actor``) and when, and the event's time, decision and score as they
      were. Deleting either person deletes the row (``ON DELETE CASCADE``);
    - a trigger: erasing a person first deletes the faces (``event_faces``) of the events corrected
      about them, so that no face of theirs stays behind a correction (their own events' faces are
      deleted by the erasure itself);
    - auto_templates: the events whose face the template refresh took as a template (one row per
      event, kept after the template is replaced or taken back, so that an event is promoted at
      most once), with the sample made (NULL once deleted).
    """
    conn = db.conn
    conn.execute("""CREATE TABLE corrections (
        id INTEGER PRIMARY KEY,
        created_at TEXT NOT NULL,
        actor TEXT NOT NULL,
        event_id INTEGER REFERENCES events(id) ON DELETE SET NULL,
        kind TEXT NOT NULL CHECK (kind IN ('not_person', 'was_person')),
        wrong_person_id INTEGER REFERENCES people(id) ON DELETE CASCADE,
        true_person_id INTEGER REFERENCES people(id) ON DELETE CASCADE,
        event_ts TEXT NOT NULL,
        event_decision TEXT NOT NULL,
        event_score REAL NOT NULL,
        note TEXT,
        CHECK (kind = 'was_person' OR (wrong_person_id IS NOT NULL AND true_person_id IS NULL)),
        CHECK (kind = 'not_person' OR true_person_id IS NOT NULL)
    )""")
    conn.execute("CREATE UNIQUE INDEX corrections_event ON corrections(event_id)")
    conn.execute("CREATE INDEX corrections_wrong ON corrections(wrong_person_id)")
    conn.execute("CREATE INDEX corrections_true ON corrections(true_person_id)")
    conn.execute("""CREATE TABLE auto_templates (
        event_id INTEGER PRIMARY KEY REFERENCES events(id) ON DELETE CASCADE,
        person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
        sample_id INTEGER REFERENCES samples(id) ON DELETE SET NULL,
        created_at TEXT NOT NULL
    )""")
    conn.execute("CREATE INDEX auto_templates_person ON auto_templates(person_id)")
    conn.execute("CREATE INDEX auto_templates_sample ON auto_templates(sample_id)")
    conn.execute("""CREATE TRIGGER corrections_erase_faces BEFORE DELETE ON people BEGIN
        DELETE FROM event_faces WHERE event_id IN (SELECT event_id FROM corrections
            WHERE wrong_person_id = OLD.id OR true_person_id = OLD.id);
    END""")


def migration_12(db: Database) -> None:
    """A central PostgreSQL server for many doors (issue 13; the design is in ``desktop_app.core.central``).

    - people and samples: a global ``uid`` (32 hex digits), the same on the central server and on
      every door; existing rows get a random one, new rows one from a trigger (no code path that
      inserts people or samples has to know about it);
    - events: every row has a ``uid`` (older rows without one get a random one), and
      ``central_pushed`` (NULL: still in the outbox; 1: committed on the central server);
    - central_state: the node's sync state (node id, last revision pulled, last audit row pushed);
    - central_docs: the central documents this file holds, with the revision and digest pulled.
    """
    conn = db.conn
    for table in ("people", "samples"):
        conn.execute(f"ALTER TABLE {table} ADD COLUMN uid TEXT")
        conn.execute(f"UPDATE {table} SET uid = lower(hex(randomblob(16)))")
        conn.execute(f"CREATE UNIQUE INDEX {table}_uid ON {table}(uid)")
        conn.execute(f"CREATE TRIGGER {table}_uid_default AFTER INSERT ON {table} WHEN NEW.uid IS NULL BEGIN"
                     f" UPDATE {table} SET uid = lower(hex(randomblob(16))) WHERE id = NEW.id; END")
    conn.execute("UPDATE events SET uid = lower(hex(randomblob(16))) WHERE uid IS NULL")
    conn.execute("ALTER TABLE events ADD COLUMN central_pushed INTEGER")
    conn.execute("CREATE INDEX events_outbox ON events(id) WHERE central_pushed IS NULL")
    conn.execute("""CREATE TABLE central_state (
        key TEXT PRIMARY KEY,
        value_json TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""")
    conn.execute("""CREATE TABLE central_docs (
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        revision INTEGER NOT NULL,
        digest TEXT NOT NULL,
        PRIMARY KEY (kind, key)
    )""")


MIGRATIONS: Final[tuple[Migration, ...]] = (migration_1, migration_2, migration_3, migration_4, migration_5,
                                              migration_6, migration_7, migration_8, migration_9,
                                              migration_10, migration_11, migration_12)
SCHEMA_VERSION: Final[int] = len(MIGRATIONS)
#: The schema version from which the audit log is hash-chained (``migration_6``).
AUDIT_CHAIN_VERSION: Final[int] = MIGRATIONS.index(migration_6) + 1


def user_version(db: Database) -> int:
    """Schema version recorded in the file (``PRAGMA user_version``)."""
    return int(db.conn.execute("PRAGMA user_version").fetchone()[0])


def _check_ours(db: Database, version: int) -> None:
    """StorageError unless the file is empty, or a FaceGate database."""
    app_id = int(db.conn.execute("PRAGMA application_id").fetchone()[0])
    if app_id == APPLICATION_ID:
        return
    n_objects = int(db.conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0])
    if app_id != 0 or version != 0 or n_objects:
        raise StorageError(
            "This file is an SQLite database of another program, not a FaceGate database. "
            "Choose another file, or a new file name to start an empty database."
        )


def check_file(db: Database, known: int = SCHEMA_VERSION) -> int:
    """Schema version of the file; StorageError when it is newer than ``known`` or the file is
    another program's SQLite database. Reads only: safe to call before anything is written.

    The reads share one snapshot (a read transaction), so that another process creating the
    schema meanwhile cannot make a new FaceGate file look like another program's."""
    conn = db.conn
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN")
    try:
        version = user_version(db)
        if version > known:
            raise StorageError(
                f"This database has schema version {version}, but this FaceGate knows only up to {known}: "
                "it was written by a newer FaceGate. Update FaceGate to open it."
            )
        _check_ours(db, version)
        return version
    finally:
        if own and conn.in_transaction:
            conn.execute("COMMIT")


def quick_check(db: Database, budget_s: float, max_errors: int = 10) -> list[str] | None:
    """Damage found by ``PRAGMA quick_check`` (B-tree structure, page links, NOT NULL and CHECK
    constraints; not index contents): [] when the file is sound, else up to ``max_errors``
    messages; None when the check did not finish within ``budget_s`` seconds (large files: run
    ``facegate doctor`` for the full check). Reads only. "Locked" errors pass through."""
    conn = db.conn
    deadline = time.monotonic() + max(0.0, budget_s)
    conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 1_000)
    try:
        rows = conn.execute(f"PRAGMA quick_check({int(max_errors)})").fetchall()
    except sqlite3.OperationalError as exc:
        if "interrupt" in str(exc).lower():
            return None
        if "malformed" not in str(exc).lower():
            raise
        return [str(exc)]
    except sqlite3.DatabaseError as exc:  # "database disk image is malformed" and kin
        return [str(exc)]
    finally:
        conn.set_progress_handler(None, 0)
    found = [str(r[0]) for r in rows]
    return [] if found == ["ok"] else found


def migrate(db: Database, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Bring the database up to ``len(migrations)``; returns the schema version it was at before.

    Safe to call on every open and from several processes: the version is re-read inside the
    write transaction. Raises StorageError for a file written by a newer FaceGate (higher version)
    or a file that is not a FaceGate database; sqlite3 errors pass through to the caller.
    """
    known = len(migrations)
    start = check_file(db, known)
    conn = db.conn
    if user_version(db) >= known:
        return start
    # Off for the migrations (a table rebuild must not run ON DELETE actions; it cannot be switched
    # inside a transaction), then back; each migration checks the references it touched.
    fk = int(conn.execute("PRAGMA foreign_keys").fetchone()[0])
    conn.execute("PRAGMA foreign_keys = OFF")
    try:
        return _migrate_steps(db, migrations, start)
    finally:
        conn.execute(f"PRAGMA foreign_keys = {fk}")


def _migrate_steps(db: Database, migrations: Sequence[Migration], start: int) -> int:
    known = len(migrations)
    conn = db.conn
    while True:
        current = user_version(db)
        if current >= known:
            return start
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = check_file(db, known)  # another process may have migrated meanwhile
            if current < known:
                migrations[current](db)
                conn.execute(f"PRAGMA user_version = {current + 1}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
