"""The central server's schema: its own ordered, append-only list of migrations.

Version N means the first N entries of ``MIGRATIONS`` were applied; each is recorded in
``facegate_schema`` (version, applied_at) in the same transaction as its statements, under an
advisory lock so that two ``central init`` at once apply each migration once. Never edit a
migration that has shipped: append one.

Tables (migration 1):

- ``site``: one row, the site id and the site key's check value (``sitekey``);
- ``roster``: every roster document (``storage.replica``), keyed by (kind, key), with a
  ``revision`` from the one global sequence ``facegate_revision``; a removed document stays as a
  tombstone (``deleted``, body and sealed data cleared) with a new revision, so a door pulling
  "changes since R" sees erasures. ``sealed`` holds the face crop / template / door secret
  encrypted with the site key; ``body`` holds no face data;
- ``nodes``: doors and admin workspaces that talked to the server (last seen, revision pulled,
  events waiting in their outbox, last error);
- ``events``: door events keyed by their global uid (exactly once: INSERT ... ON CONFLICT DO
  NOTHING); no snapshot (face snapshots stay at the door);
- ``audit``: audit rows of every node, keyed by (node, local id), without details;
- ``attendance``: a view over the granted events (first in / last out per person and UTC day).

Migration 2, the site's face model:

- ``models``: every embedding model an admin published, by sha256: name, parent, sizes, the ONNX
  file sealed with the site key (a fine-tuned model was trained on the staff's faces), its size,
  and its score priors ({"flip": "json"}, what calibration reads beside the model file);
- ``site_model``: one row, the model every node of the site runs, with a ``revision`` from
  ``facegate_revision`` (a change is NOTIFYed like a roster change). A door that sees another
  sha256 there downloads the model (checked by sha256), takes its templates, re-embeds what the
  server has none for, and switches (``central.models``).
"""

from __future__ import annotations

from typing import Any, Final

import psycopg

from desktop_app.core.central.errors import CentralError

#: advisory lock keys (one 64-bit space per database)
MIGRATE_LOCK: Final[int] = 0x46470001
PUBLISH_LOCK: Final[int] = 0x46470002
ADMIN_LOCK: Final[int] = 0x46470003
NOTIFY_CHANNEL: Final[str] = "facegate_roster"

_MIGRATION_1: Final[tuple[str, ...]] = (
    "CREATE SEQUENCE facegate_revision",
    """CREATE TABLE site (
        id integer PRIMARY KEY CHECK (id = 1),
        site_id text NOT NULL,
        key_check bytea NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    )""",
    """CREATE TABLE roster (
        kind text NOT NULL CHECK (kind IN ('schedule', 'door', 'group', 'person', 'sample', 'template')),
        key text NOT NULL,
        revision bigint NOT NULL,
        deleted boolean NOT NULL DEFAULT false,
        person_uid text,
        model_sha256 text,
        body jsonb NOT NULL DEFAULT '{}',
        sealed bytea,
        digest text,
        updated_at timestamptz NOT NULL DEFAULT now(),
        updated_by text NOT NULL,
        PRIMARY KEY (kind, key)
    )""",
    "CREATE UNIQUE INDEX roster_revision ON roster(revision)",
    "CREATE INDEX roster_person ON roster(person_uid)",
    """CREATE TABLE nodes (
        node_uid text PRIMARY KEY,
        name text NOT NULL,
        role text NOT NULL CHECK (role IN ('door', 'admin')),
        doors text[] NOT NULL DEFAULT '{}',
        model_sha256 text,
        first_seen timestamptz NOT NULL DEFAULT now(),
        last_seen timestamptz NOT NULL DEFAULT now(),
        roster_revision bigint NOT NULL DEFAULT 0,
        pending_events integer NOT NULL DEFAULT 0,
        last_error text
    )""",
    """CREATE TABLE events (
        uid text PRIMARY KEY,
        node_uid text NOT NULL,
        ts timestamptz NOT NULL,
        person_uid text,
        person_ref text,
        score real NOT NULL,
        decision text NOT NULL,
        camera text NOT NULL,
        model_sha256 text NOT NULL,
        track_id integer,
        door text,
        direction text,
        reason text,
        detail jsonb,
        received_at timestamptz NOT NULL DEFAULT now()
    )""",
    "CREATE INDEX events_ts ON events(ts)",
    "CREATE INDEX events_person ON events(person_uid, ts)",
    "CREATE INDEX events_node ON events(node_uid, ts)",
    """CREATE TABLE audit (
        node_uid text NOT NULL,
        local_id bigint NOT NULL,
        ts timestamptz NOT NULL,
        actor text NOT NULL,
        action text NOT NULL,
        row_hash text,
        received_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (node_uid, local_id)
    )""",
    """CREATE VIEW attendance AS
        SELECT person_uid, (ts AT TIME ZONE 'UTC')::date AS day,
               min(ts) FILTER (WHERE direction IS DISTINCT FROM 'out') AS first_in,
               max(ts) FILTER (WHERE direction = 'out') AS last_out
        FROM events WHERE decision = 'granted' AND person_uid IS NOT NULL GROUP BY 1, 2""",
)

_MIGRATION_2: Final[tuple[str, ...]] = (
    """CREATE TABLE models (
        sha256 text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
        name text NOT NULL,
        parent_sha256 text,
        input_size integer NOT NULL CHECK (input_size > 0),
        embedding_dim integer NOT NULL CHECK (embedding_dim > 0),
        size_bytes bigint NOT NULL CHECK (size_bytes > 0),
        sealed bytea NOT NULL,
        priors jsonb NOT NULL DEFAULT '{}',
        metrics jsonb,
        published_at timestamptz NOT NULL DEFAULT now(),
        published_by text NOT NULL
    )""",
    "ALTER TABLE models ALTER COLUMN sealed SET STORAGE EXTERNAL",  # ciphertext: no use compressing it
    """CREATE TABLE site_model (
        id integer PRIMARY KEY CHECK (id = 1),
        sha256 text NOT NULL REFERENCES models(sha256),
        revision bigint NOT NULL,
        set_at timestamptz NOT NULL DEFAULT now(),
        set_by text NOT NULL
    )""",
)

MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (_MIGRATION_1, _MIGRATION_2)
SCHEMA_VERSION: Final[int] = len(MIGRATIONS)


def version(conn: psycopg.Connection[Any]) -> int:
    """The schema version of the server's database (0: not initialised)."""
    row = conn.execute("SELECT to_regclass('facegate_schema') IS NOT NULL").fetchone()
    if not row or not row[0]:
        return 0
    got = conn.execute("SELECT coalesce(max(version), 0) FROM facegate_schema").fetchone()
    return int(got[0]) if got else 0


def migrate(conn: psycopg.Connection[Any]) -> tuple[int, int]:
    """Apply the missing migrations (autocommit connection); returns (version before, after).
    CentralError when the database was written by a newer FaceGate."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS facegate_schema ("
                     " version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
        start = version(conn)
        if start > SCHEMA_VERSION:
            raise CentralError(f"The central database has schema version {start}, but this FaceGate knows only up to "
                               f"{SCHEMA_VERSION}: update FaceGate.")
        for n in range(start, SCHEMA_VERSION):
            for statement in MIGRATIONS[n]:
                conn.execute(statement)
            conn.execute("INSERT INTO facegate_schema (version) VALUES (%s)", (n + 1,))
    return start, SCHEMA_VERSION
