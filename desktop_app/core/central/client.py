"""The central server's client: init, status, roster pull and publish, event and audit push.

Every method raises ``CentralUnavailable`` (server down, network cut) or ``CentralError``
(refused) with a one-line message; nothing here touches the local SQLite file.

Revisions: every roster write takes ``nextval('facegate_revision')`` inside a transaction that
holds the exclusive ``PUBLISH_LOCK``, and every pull reads under the shared one, so revisions
become visible in order: a door that pulled up to R never misses a later write numbered below R.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from desktop_app.core.central import schema
from desktop_app.core.central.connection import connect, mapped_error, redact_dsn
from desktop_app.core.central.errors import CentralError, CentralUnavailable
from desktop_app.core.central.model_client import SiteModel, SiteModelClient
from desktop_app.core.central.roster_scope import permitted_groups
from desktop_app.core.central.sitekey import SiteKey
from desktop_app.core.storage import times
from desktop_app.core.storage.replica import Doc, DocKind, OutboxEvent


@dataclass(frozen=True)
class RosterChange:
    """One roster row changed since a revision: a document, or a tombstone (``doc`` None)."""

    kind: DocKind
    key: str
    revision: int
    doc: Doc | None


@dataclass(frozen=True)
class NodeStatus:
    node_uid: str
    name: str
    role: str
    doors: tuple[str, ...]
    last_seen: datetime
    roster_revision: int
    pending_events: int
    last_error: str | None
    model_sha256: str | None = None


@dataclass(frozen=True)
class CentralStatus:
    """What ``facegate central status`` shows."""

    site_id: str
    schema_version: int
    revision: int
    roster: dict[str, int]
    tombstones: int
    events: int
    nodes: tuple[NodeStatus, ...]
    site_model: SiteModel | None = None


class CentralClient(SiteModelClient):
    """One connection to the central server (autocommit; explicit transactions).

    dsn: a libpq connection string or URI; site_key: needed for anything that reads or writes
    face data (pull, publish) and checked against the server's site on first use."""

    def __init__(self, dsn: str, site_key: SiteKey | None = None) -> None:
        self.dsn = dsn
        self.site_key = site_key
        self._conn: psycopg.Connection[Any] | None = None
        self._checked = False

    # ------------------------------------------------------------------ plumbing
    @property
    def conn(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = connect(self.dsn, autocommit=True)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None

    def __enter__(self) -> CentralClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _talk(self) -> Iterator[psycopg.Connection[Any]]:
        """The connection; psycopg errors become CentralError / CentralUnavailable (and a broken
        connection is dropped, to be made again next time)."""
        try:
            yield self.conn
        except psycopg.Error as exc:
            err = mapped_error(exc, self.dsn)
            if isinstance(err, CentralUnavailable):
                self.close()
            raise err from None

    def _require_site(self, conn: psycopg.Connection[Any]) -> None:
        if self._checked:
            return
        if schema.version(conn) < 1:
            raise CentralError(f"The central database {redact_dsn(self.dsn)} is not initialised: run "
                               "`facegate central init --dsn DSN` first.")
        if schema.version(conn) > schema.SCHEMA_VERSION:
            raise CentralError("The central database was written by a newer FaceGate: update FaceGate.")
        row = conn.execute("SELECT site_id, key_check FROM site WHERE id = 1").fetchone()
        if row is None:
            raise CentralError("The central database has no site row: run `facegate central init` again.")
        if self.site_key is not None:
            self.site_key.verify(str(row[0]), bytes(row[1]))
        self._checked = True

    # ------------------------------------------------------------------ init / status
    def init(self, site_key: SiteKey) -> bool:
        """Create or update the schema and record the site; True when the site is new.
        CentralError when the server already holds another site (its key file is needed)."""
        with self._talk() as conn:
            schema.migrate(conn)
            with conn.transaction():
                row = conn.execute("SELECT site_id, key_check FROM site WHERE id = 1 FOR UPDATE").fetchone()
                if row is None:
                    conn.execute("INSERT INTO site (id, site_id, key_check) VALUES (1, %s, %s)",
                                  (site_key.site_id, site_key.check_value()))
                    new = True
                else:
                    site_key.verify(str(row[0]), bytes(row[1]))
                    new = False
        self.site_key = site_key
        self._checked = True
        return new

    def site_id(self) -> str | None:
        """The server's site id (None: not initialised)."""
        with self._talk() as conn:
            if schema.version(conn) < 1:
                return None
            row = conn.execute("SELECT site_id FROM site WHERE id = 1").fetchone()
            return None if row is None else str(row[0])

    def status(self) -> CentralStatus:
        with self._talk() as conn:
            self._require_site(conn)
            site = conn.execute("SELECT site_id FROM site WHERE id = 1").fetchone()
            rev = conn.execute("SELECT coalesce(max(revision), 0) FROM roster").fetchone()
            roster = {str(k): int(n) for k, n in conn.execute(
                "SELECT kind, count(*) FROM roster WHERE NOT deleted GROUP BY kind")}
            tomb = conn.execute("SELECT count(*) FROM roster WHERE deleted").fetchone()
            events = conn.execute("SELECT count(*) FROM events").fetchone()
            nodes = tuple(NodeStatus(str(r[0]), str(r[1]), str(r[2]), tuple(r[3] or ()), r[4], int(r[5]), int(r[6]),
                                     r[7], r[8])
                          for r in conn.execute(
                              "SELECT node_uid, name, role, doors, last_seen, roster_revision, pending_events,"
                              " last_error, model_sha256 FROM nodes ORDER BY role DESC, name"))
            return CentralStatus(str(site[0]) if site else "", schema.version(conn), int(rev[0]) if rev else 0,
                                 roster, int(tomb[0]) if tomb else 0, int(events[0]) if events else 0, nodes,
                                 self._site_model(conn))

    # ------------------------------------------------------------------ nodes
    def heartbeat(self, node_uid: str, name: str, role: str, *, doors: Sequence[str] = (),
                  model_sha256: str | None = None, revision: int = 0, pending: int = 0,
                  error: str | None = None) -> None:
        with self._talk() as conn:
            self._require_site(conn)
            conn.execute(
                "INSERT INTO nodes (node_uid, name, role, doors, model_sha256, roster_revision, pending_events,"
                " last_error) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (node_uid) DO UPDATE SET"
                " name = excluded.name, role = excluded.role, doors = excluded.doors,"
                " model_sha256 = excluded.model_sha256, last_seen = now(),"
                " roster_revision = excluded.roster_revision, pending_events = excluded.pending_events,"
                " last_error = excluded.last_error",
                (node_uid, name, role, list(doors), model_sha256, revision, pending, error))

    # ------------------------------------------------------------------ events / audit
    def push_events(self, node_uid: str, events: Sequence[OutboxEvent]) -> int:
        """Insert the events (one transaction; an event whose uid is there already is skipped);
        returns how many were new. Only after this returns are they committed centrally."""
        if not events:
            return 0
        rows = []
        for ev in events:
            r = ev.row
            detail = r.get("detail_json")
            rows.append((ev.uid, node_uid, times.from_db(str(r["ts"])), r.get("person_uid"), r.get("person_ref"),
                         float(r["score"]), r["decision"], r["camera"], r["model_sha256"], r.get("track_id"),
                         r.get("door"), r.get("direction"), r.get("reason"),
                         None if detail is None else Jsonb(json.loads(detail))))
        with self._talk() as conn:
            self._require_site(conn)
            with conn.transaction(), conn.cursor() as cur:
                cur.execute("CREATE TEMP TABLE IF NOT EXISTS incoming (LIKE events INCLUDING DEFAULTS)"
                            " ON COMMIT DELETE ROWS")
                with cur.copy("COPY incoming (uid, node_uid, ts, person_uid, person_ref, score, decision, camera,"
                              " model_sha256, track_id, door, direction, reason, detail) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                cur.execute("INSERT INTO events SELECT * FROM incoming ORDER BY ts ON CONFLICT (uid) DO NOTHING")
                return int(cur.rowcount)

    def push_audit(self, node_uid: str, rows: Sequence[tuple[int, str, str, str, str | None]]) -> None:
        if not rows:
            return
        with self._talk() as conn:
            self._require_site(conn)
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO audit (node_uid, local_id, ts, actor, action, row_hash)"
                    " VALUES (%s, %s, %s, %s, %s, %s)"
                    " ON CONFLICT (node_uid, local_id) DO NOTHING",
                    [(node_uid, i, times.from_db(ts), actor, action, h) for i, ts, actor, action, h in rows])

    def events_received_after(self, after: datetime | None, limit: int = 50_000) -> list[dict[str, Any]]:
        """Central events received after ``after`` (None: all), oldest received first, as dicts."""
        with self._talk() as conn:
            self._require_site(conn)
            cur = conn.execute(
                "SELECT uid, node_uid, ts, person_uid, person_ref, score, decision, camera, model_sha256, track_id,"
                " door, direction, reason, detail, received_at FROM events"
                " WHERE %s::timestamptz IS NULL OR received_at > %s ORDER BY received_at, uid LIMIT %s",
                (after, after, limit))
            names = [d.name for d in cur.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def purge_events(self, before: datetime, *, dry_run: bool = False) -> int:
        """Delete the central events that happened before ``before`` (aware), in one transaction;
        returns how many (counted only with ``dry_run``). The doors' own copies follow their own
        retention settings."""
        if before.tzinfo is None:
            raise ValueError("the cutoff must be an aware datetime")
        with self._talk() as conn:
            self._require_site(conn)
            if dry_run:
                row = conn.execute("SELECT count(*) FROM events WHERE ts < %s", (before,)).fetchone()
                return int(row[0]) if row else 0
            with conn.transaction():
                return int(conn.execute("DELETE FROM events WHERE ts < %s", (before,)).rowcount)

    def count_events(self, node_uid: str | None = None) -> int:
        with self._talk() as conn:
            if node_uid is None:
                row = conn.execute("SELECT count(*) FROM events").fetchone()
            else:
                row = conn.execute("SELECT count(*) FROM events WHERE node_uid = %s", (node_uid,)).fetchone()
            return int(row[0]) if row else 0

    # ------------------------------------------------------------------ roster
    def _key(self) -> SiteKey:
        if self.site_key is None:
            raise CentralError("No site key: give --site-key FILE (made by `facegate central init`).")
        return self.site_key

    def pull(self, since: int, model_sha256: str | None = None, *, doors: Sequence[str] | None = None,
             known_groups: Sequence[str] | None = None) -> tuple[list[RosterChange], int, list[str] | None]:
        """Roster changes after revision ``since`` (templates of ``model_sha256`` only, None: all),
        oldest first, the revision reached, and the permitted groups.

        doors: the doors of the node (None: everyone is pulled). Then the samples and templates
        are pulled only for the people in a group permitted at one of them, every person changed
        (the caller keeps only the permitted ones, and those it holds: a person who lost the
        permission is erased there), and every tombstone; when the permitted groups differ from
        ``known_groups`` (a permission or a group changed), the permitted people are pulled again
        from revision 0. Sealed parts are
        opened with the site key. One snapshot: the publishers' lock is held shared."""
        key = self._key()
        with self._roster_snapshot() as (conn, top):
            groups: list[str] | None = None
            since_people = since
            if doors is not None:
                groups = permitted_groups(conn, doors)
                if known_groups is None or sorted(known_groups) != groups:
                    since_people = 0
            rows = conn.execute(
                "SELECT kind, key, revision, deleted, person_uid, model_sha256, body, sealed FROM roster"
                " WHERE (kind <> 'template' OR deleted OR %(model)s::text IS NULL OR model_sha256 = %(model)s)"
                " AND ((revision > %(since)s AND (deleted OR %(groups)s::text[] IS NULL"
                "       OR kind IN ('schedule', 'door', 'group', 'person')))"
                "   OR (revision > %(since_people)s AND NOT deleted AND %(groups)s::text[] IS NOT NULL AND ("
                "       (kind = 'person' AND body->'groups' ?| %(groups)s::text[])"
                "    OR (kind IN ('sample', 'template') AND person_uid IN (SELECT r.key FROM roster r"
                "        WHERE r.kind = 'person' AND NOT r.deleted AND r.body->'groups' ?| %(groups)s::text[])))))"
                " ORDER BY revision",
                {"model": model_sha256, "since": since, "since_people": since_people, "groups": groups}).fetchall()
        out = []
        for kind, k, rev, deleted, person_uid, model, body, sealed in rows:
            dk = DocKind(kind)
            doc = None if deleted else Doc(dk, str(k), dict(body or {}),
                                           None if sealed is None else key.open(kind, str(k), bytes(sealed)),
                                           person_uid, model)
            out.append(RosterChange(dk, str(k), int(rev), doc))
        return out, max(since, top), groups

    def pull_templates(self, model_sha256: str, *,
                       doors: Sequence[str] | None = None) -> tuple[list[RosterChange], int]:
        """Every template of ``model_sha256`` (of the people permitted at ``doors``; None: all),
        oldest first, and the revision of that snapshot: what a node that switches to that model
        takes at once, instead of the templates its pulls skipped while it ran another."""
        key = self._key()
        with self._roster_snapshot() as (conn, top):
            groups = None if doors is None else permitted_groups(conn, doors)
            rows = conn.execute(
                "SELECT key, revision, person_uid, body, sealed FROM roster"
                " WHERE kind = 'template' AND NOT deleted AND model_sha256 = %(model)s"
                " AND (%(groups)s::text[] IS NULL OR person_uid IN (SELECT r.key FROM roster r"
                "      WHERE r.kind = 'person' AND NOT r.deleted AND r.body->'groups' ?| %(groups)s::text[]))"
                " ORDER BY revision", {"model": model_sha256, "groups": groups}).fetchall()
        out = [RosterChange(DocKind.TEMPLATE, str(k), int(rev),
                            Doc(DocKind.TEMPLATE, str(k), dict(body or {}),
                                None if sealed is None else key.open(DocKind.TEMPLATE.value, str(k), bytes(sealed)),
                                person_uid, model_sha256))
               for k, rev, person_uid, body, sealed in rows]
        return out, top

    @contextlib.contextmanager
    def _roster_snapshot(self) -> Iterator[tuple[psycopg.Connection[Any], int]]:
        """One consistent read of the roster: a transaction holding the publishers' lock shared
        (every revision up to the one reached is visible), and that revision."""
        with self._talk() as conn:
            self._require_site(conn)
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", (schema.PUBLISH_LOCK,))
                top = conn.execute("SELECT coalesce(max(revision), 0) FROM roster").fetchone()
                yield conn, int(top[0]) if top else 0

    @contextlib.contextmanager
    def admin_lock(self, wait_s: float = 30.0) -> Iterator[None]:
        """Hold the admins' lock (one admin workspace at a time); CentralError after ``wait_s``."""
        with self._talk() as conn:
            self._require_site(conn)
            deadline = time.monotonic() + wait_s
            while True:
                row = conn.execute("SELECT pg_try_advisory_lock(%s)", (schema.ADMIN_LOCK,)).fetchone()
                if row and row[0]:
                    break
                if time.monotonic() > deadline:
                    raise CentralError("Another administrator is changing the central roster: try again shortly.")
                time.sleep(0.2)
        try:
            yield
        finally:
            with contextlib.suppress(psycopg.Error, CentralError), self._talk() as conn:
                conn.execute("SELECT pg_advisory_unlock(%s)", (schema.ADMIN_LOCK,))

    def publish(self, upserts: Sequence[Doc], deletes: Sequence[tuple[str, str]],
                actor: str) -> dict[tuple[str, str], int]:
        """Write documents and tombstones in one transaction (NOTIFY at commit); returns the new
        revision of each (kind, key) written. A person tombstone also pseudonymises the person's
        central events, as a local erasure does."""
        key = self._key()
        written: dict[tuple[str, str], int] = {}
        with self._talk() as conn:
            self._require_site(conn)
            with conn.transaction(), conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (schema.PUBLISH_LOCK,))
                rows = [(d.kind.value, d.key, d.person_uid, d.model_sha256, Jsonb(dict(d.body)),
                         None if d.secret is None else key.seal(d.kind.value, d.key, d.secret), d.digest, actor)
                        for d in upserts]
                if rows:  # one pipelined round trip, each row's new revision returned
                    cur.executemany(
                        "INSERT INTO roster (kind, key, revision, deleted, person_uid, model_sha256, body, sealed,"
                        " digest, updated_by) VALUES (%s, %s, nextval('facegate_revision'), false, %s, %s, %s, %s, %s,"
                        " %s) ON CONFLICT (kind, key) DO UPDATE SET revision = excluded.revision, deleted = false,"
                        " person_uid = excluded.person_uid, model_sha256 = excluded.model_sha256,"
                        " body = excluded.body, sealed = excluded.sealed, digest = excluded.digest,"
                        " updated_at = now(), updated_by = excluded.updated_by RETURNING kind, key, revision",
                        rows, returning=True)
                    while True:
                        for kind, k, rev in cur.fetchall():
                            written[(str(kind), str(k))] = int(rev)
                        if not cur.nextset():
                            break
                for kind, k in deletes:
                    cur.execute("UPDATE roster SET revision = nextval('facegate_revision'), deleted = true,"
                                " body = '{}', sealed = NULL, digest = NULL, updated_at = now(), updated_by = %s"
                                " WHERE kind = %s AND key = %s AND NOT deleted RETURNING revision", (actor, kind, k))
                    row = cur.fetchone()
                    if row:
                        written[(kind, k)] = int(row[0])
                    if kind == DocKind.PERSON:
                        cur.execute("UPDATE events SET person_uid = NULL, person_ref = %s WHERE person_uid = %s",
                                    (f"erased-{k[:8]}", k))
                if written:
                    cur.execute("SELECT pg_notify(%s, %s)", (schema.NOTIFY_CHANNEL, str(max(written.values()))))
        return written
