"""The store's side of the central server (issue 13): the roster as documents, their application,
the event outbox and the audit rows still to push.

A *document* is one replicated object of the roster, keyed by ``(kind, key)``:

- ``schedule``, ``door``, ``group``: keyed by the case-folded name; a group carries its
  permissions (door and schedule names), a door its cameras;
- ``person``: keyed by the person's global ``uid`` (``migration_12``), with the names of their groups;
- ``sample``: keyed by the sample's ``uid``; its secret part is the aligned crop (PNG);
- ``template``: keyed by ``<sample uid>:<model sha256>``; its secret part is the float32 vector.

``body`` is JSON (sent to the server in clear); ``secret`` holds biometric or secret bytes (face
crop, template, door signing secret), which the central client encrypts with the site key before
they leave the machine. ``digest`` covers both, so that a node can tell what changed.

Local ids differ between nodes; uids and names do not. :meth:`ReplicaMixin.apply_documents`
writes documents into this file (face data sealed with this database's own key, like any other
write); the erasure of a person is NOT done here but by ``FaceGate.erase_person`` (the same path
as a local erasure), which the central facade calls for every person tombstone.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from enum import StrEnum
from typing import Any

import numpy as np

from desktop_app.core.protection.fields import SealedField
from desktop_app.core.storage import codecs, times
from desktop_app.core.storage.base import StoreBase, api
from desktop_app.core.storage.sealing import SealingBase


class DocKind(StrEnum):
    """Kinds of roster documents, in the order they are applied (a group names doors and
    schedules, a person names groups, a sample names a person, a template a sample)."""

    SCHEDULE = "schedule"
    DOOR = "door"
    GROUP = "group"
    PERSON = "person"
    SAMPLE = "sample"
    TEMPLATE = "template"


KIND_ORDER: tuple[DocKind, ...] = tuple(DocKind)


@dataclass(frozen=True)
class Doc:
    """One roster document (see the module docstring). ``person_uid`` and ``model_sha256`` are
    set for samples and templates (the server filters on them)."""

    kind: DocKind
    key: str
    body: Mapping[str, Any] = field(default_factory=dict)
    secret: bytes | None = None
    person_uid: str | None = None
    model_sha256: str | None = None

    @property
    def digest(self) -> str:
        """sha256 of the canonical JSON body and of the secret bytes (hex)."""
        h = hashlib.sha256(canonical_json(self.body).encode())
        h.update(b"\x00" + (hashlib.sha256(self.secret).digest() if self.secret is not None else b"-"))
        return h.hexdigest()


def canonical_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def fold_name(name: str) -> str:
    """Key of a named document: the name case-folded (names are unique ignoring case)."""
    return name.strip().casefold()


@dataclass(frozen=True)
class OutboxEvent:
    """One local event still to push: ``uid`` is its global id; ``row`` the values sent."""

    local_id: int
    uid: str
    row: Mapping[str, Any]


_PERSON_COLUMNS = ("name", "employee_id", "department", "active", "created_at", "updated_at", "valid_from",
                   "valid_until")


class ReplicaMixin(SealingBase, StoreBase):
    """Roster documents, outbox and sync state of ``Store``."""

    local_tz: tzinfo | None
    #: central people applied without their employee ID in the last ``apply_documents``
    _id_clashes: int = 0

    # ------------------------------------------------------------------ sync state
    @api("reading the central sync state")
    def central_state(self, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value_json FROM central_state WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(str(row[0]))

    @api("saving the central sync state")
    def set_central_state(self, key: str, value: Any) -> None:
        with self.transaction():
            self.db.execute("INSERT INTO central_state (key, value_json, updated_at) VALUES (?, ?, ?)"
                            " ON CONFLICT (key) DO UPDATE SET value_json = excluded.value_json,"
                            " updated_at = excluded.updated_at", (key, json.dumps(value), times.now_db()))

    @api("reading the central documents held")
    def held_documents(self) -> dict[tuple[str, str], str]:
        """{(kind, key): digest} of the central documents this file holds (as pulled or published)."""
        rows = self.db.execute("SELECT kind, key, digest FROM central_docs")
        return {(str(k), str(key)): str(d) for k, key, d in rows}

    @api("recording the central documents held")
    def note_documents(self, docs: Iterable[tuple[str, str, int, str]], gone: Iterable[tuple[str, str]] = ()) -> None:
        """Record (kind, key, revision, digest) as held; forget ``gone`` (kind, key)."""
        with self.transaction():
            self.db.conn.executemany(
                "INSERT INTO central_docs (kind, key, revision, digest) VALUES (?, ?, ?, ?) ON CONFLICT (kind, key)"
                " DO UPDATE SET revision = excluded.revision, digest = excluded.digest", list(docs))
            self.db.conn.executemany("DELETE FROM central_docs WHERE kind = ? AND key = ?", list(gone))

    # ------------------------------------------------------------------ export
    @api("reading the roster")
    def roster_documents(self, models: Sequence[str] | None = None) -> dict[tuple[str, str], Doc]:
        """Every roster document of this file, {(kind, key): doc}; templates of ``models`` only
        (None: all). Face data is decrypted into memory (DataLockedError when locked)."""
        docs: list[Doc] = []
        c = self.db.conn
        for name, text, holidays, tz in c.execute("SELECT name, text, holidays, timezone FROM schedules"):
            docs.append(Doc(DocKind.SCHEDULE, fold_name(name), {
                "name": name, "text": text, "holidays": json.loads(holidays or "[]"), "timezone": tz}))
        cams: dict[int, list[dict[str, Any]]] = {}
        sources: dict[int, list[str | None]] = {}
        for door_id, pos, source, direction, cname in c.execute(
                "SELECT door_id, position, source, direction, name FROM door_cameras ORDER BY door_id, position"):
            cams.setdefault(int(door_id), []).append({"position": int(pos), "direction": direction, "name": cname})
            sources.setdefault(int(door_id), []).append(
                self._clear_text(SealedField.CAMERA_SOURCE, f"{int(door_id)}:{int(pos)}", source))
        for row in c.execute("SELECT id, name, output, secret, unlock_seconds, fail_mode, contact, held_open_s,"
                             " passback_partner, passback, liveness FROM doors"):
            did, name, output, secret, *rest = row
            keys = ("unlock_seconds", "fail_mode", "contact", "held_open_s", "passback_partner", "passback",
                    "liveness")
            body = {"name": name, **dict(zip(keys, rest, strict=True)), "cameras": cams.get(int(did), [])}
            # the output URI and camera sources (they may hold user:pass@) and the signing secret travel
            # in the secret part, encrypted with the site key; here they are decrypted from the data key
            # (storage.doors; a locked store raises DataLockedError: nothing is published then)
            hidden = {"output": self._clear_text(SealedField.DOOR_OUTPUT, int(did), output),
                      "secret": self._clear_text(SealedField.DOOR_SECRET, int(did), secret),
                      "sources": sources.get(int(did), [])}
            docs.append(Doc(DocKind.DOOR, fold_name(name), body,
                            secret=json.dumps(hidden, sort_keys=True).encode("utf-8")))
        perms: dict[int, list[dict[str, Any]]] = {}
        for gid, door, sched in c.execute(
                "SELECT p.group_id, d.name, s.name FROM permissions p JOIN doors d ON d.id = p.door_id"
                " LEFT JOIN schedules s ON s.id = p.schedule_id ORDER BY d.name"):
            perms.setdefault(int(gid), []).append({"door": door, "schedule": sched})
        for gid, name, desc in c.execute("SELECT id, name, description FROM groups"):
            docs.append(Doc(DocKind.GROUP, fold_name(name),
                            {"name": name, "description": desc, "permissions": perms.get(int(gid), [])}))
        member: dict[int, list[str]] = {}
        for pid, gname in c.execute("SELECT pg.person_id, g.name FROM person_groups pg JOIN groups g"
                                    " ON g.id = pg.group_id ORDER BY g.name"):
            member.setdefault(int(pid), []).append(gname)
        uids: dict[int, str] = {}
        for row in c.execute("SELECT id, uid, name, employee_id, department, active, created_at, updated_at,"
                             " valid_from, valid_until FROM people"):
            pid, uid, *rest = row
            uids[int(pid)] = str(uid)
            body = {**dict(zip(_PERSON_COLUMNS, rest, strict=True)), "groups": member.get(int(pid), [])}
            docs.append(Doc(DocKind.PERSON, str(uid), body))
        sample_uids: dict[int, tuple[str, str]] = {}
        rows = c.execute("SELECT id, uid, person_id, quality_json, source, created_at, crop_png FROM samples"
                         ).fetchall()
        crops, failed = self._unseal_many(SealedField.SAMPLE_CROP, [int(r[0]) for r in rows],
                                          [bytes(r[6]) for r in rows])
        for i, (sid, uid, pid, quality, source, created, _png) in enumerate(rows):
            if i in failed:
                continue  # a damaged crop is not spread (the doctor reports it)
            person_uid = uids[int(pid)]
            sample_uids[int(sid)] = (str(uid), person_uid)
            docs.append(Doc(DocKind.SAMPLE, str(uid), {"quality": json.loads(quality), "source": source,
                                                        "created_at": created},
                            secret=crops[i], person_uid=person_uid))
        sql = "SELECT sample_id, model_sha256, dim, vector FROM templates"
        params: list[object] = []
        if models is not None:
            sql += f" WHERE model_sha256 IN ({', '.join('?' * len(models))})"
            params = list(models)
        trows = c.execute(sql, params).fetchall()
        vectors, tfailed = self._unseal_many(SealedField.TEMPLATE_VECTOR, [f"{r[0]}:{r[1]}" for r in trows],
                                             [bytes(r[3]) for r in trows])
        for i, (sid, model, dim, _v) in enumerate(trows):
            if i in tfailed or int(sid) not in sample_uids:
                continue
            suid, person_uid = sample_uids[int(sid)]
            docs.append(Doc(DocKind.TEMPLATE, f"{suid}:{model}", {"sample": suid, "model_sha256": model,
                                                                  "dim": int(dim)},
                            secret=vectors[i], person_uid=person_uid, model_sha256=str(model)))
        return {(d.kind.value, d.key): d for d in docs}

    # ------------------------------------------------------------------ apply
    @api("taking the central roster")
    def apply_documents(self, upserts: Sequence[Doc], deletes: Sequence[tuple[str, str]]) -> dict[str, int]:
        """Write ``upserts`` (in kind order) and remove ``deletes`` (samples, templates, groups,
        doors, schedules: person tombstones are left to ``FaceGate.erase_person``), in one
        transaction. Returns counts {"upserted", "deleted", "skipped", "id_clashes"} (a sample or
        template whose person or sample is not held here is skipped; ``id_clashes``: central people
        whose employee ID a person enrolled only here holds: they are kept here without it, so the
        door still recognises them and the pull goes on)."""
        counts = {"upserted": 0, "deleted": 0, "skipped": 0, "id_clashes": 0}
        self._id_clashes = 0
        order = {k: i for i, k in enumerate(KIND_ORDER)}
        with self.transaction():
            for doc in sorted(upserts, key=lambda d: order[d.kind]):
                done = getattr(self, f"_apply_{doc.kind.value}")(doc)
                counts["upserted" if done else "skipped"] += 1
            for kind, key in sorted(deletes, key=lambda d: -order[DocKind(d[0])]):
                if kind == DocKind.PERSON:
                    continue
                counts["deleted"] += self._delete_document(DocKind(kind), key)
        counts["id_clashes"] = self._id_clashes
        return counts

    def _named(self, table: str, name: str | None) -> int | None:
        if name is None:
            return None
        row = self.db.execute(f"SELECT id FROM {table} WHERE name = ? COLLATE NOCASE", (name,)).fetchone()
        return None if row is None else int(row[0])

    def _apply_schedule(self, doc: Doc) -> bool:
        b = doc.body
        holidays = json.dumps(sorted(str(d) for d in b.get("holidays", [])))
        sid = self._named("schedules", str(b["name"]))
        values = (b["name"], b["text"], holidays, b.get("timezone") or "local", times.now_db())
        if sid is None:
            self.db.execute("INSERT INTO schedules (name, text, holidays, timezone, updated_at) VALUES (?, ?, ?, ?, ?)",
                            values)
        else:
            self.db.execute("UPDATE schedules SET name = ?, text = ?, holidays = ?, timezone = ?, updated_at = ?"
                            " WHERE id = ?", (*values, sid))
        return True

    def _clear_text(self, where: SealedField, key: int | str, stored: str | bytes | None) -> str | None:
        """A door value as it is in clear (decrypted: ``storage.doors``; DataLockedError when locked)."""
        if stored is None or isinstance(stored, str):
            return stored
        return self._unseal(where, key, bytes(stored), "a door's value").decode("utf-8")

    def _stored_text(self, where: SealedField, key: int | str, text: str | None) -> str | bytes | None:
        """What to store for a door value: encrypted in an encrypted database (``storage.doors``)."""
        keys = self._sealing_keys()
        return text if text is None or keys is None else keys.seal(where, key, text.encode("utf-8"))

    def _apply_door(self, doc: Doc) -> bool:
        b = doc.body
        hidden = json.loads(doc.secret.decode("utf-8")) if doc.secret is not None else {}
        output = str(hidden.get("output") or "log:")
        secret = hidden.get("secret")
        sources = list(hidden.get("sources") or [])
        cols = ("name", "output", "secret", "unlock_seconds", "fail_mode", "contact", "held_open_s",
                "passback_partner", "passback", "liveness")
        found = self._named("doors", str(b["name"]))
        did = self._next_id("doors") if found is None else found
        values = [b["name"], self._stored_text(SealedField.DOOR_OUTPUT, did, output),
                  self._stored_text(SealedField.DOOR_SECRET, did, None if secret is None else str(secret)),
                  b["unlock_seconds"], b["fail_mode"], b.get("contact"), b["held_open_s"], b.get("passback_partner"),
                  b["passback"], b.get("liveness")]
        if found is None:
            self.db.execute(
                f"INSERT INTO doors ({', '.join(cols)}, updated_at, id) VALUES ({', '.join('?' * len(cols))}, ?, ?)",
                (*values, times.now_db(), did))
        else:
            self.db.execute(f"UPDATE doors SET {', '.join(f'{c} = ?' for c in cols)}, updated_at = ? WHERE id = ?",
                            (*values, times.now_db(), did))
        self.db.execute("DELETE FROM door_cameras WHERE door_id = ?", (did,))
        for i, cam in enumerate(b.get("cameras", [])):
            source = sources[i] if i < len(sources) else cam.get("source", "")
            self.db.execute("INSERT INTO door_cameras (door_id, position, source, direction, name)"
                            " VALUES (?, ?, ?, ?, ?)", (did, cam["position"], self._stored_text(
                                SealedField.CAMERA_SOURCE, f"{did}:{int(cam['position'])}", str(source or "")),
                                cam["direction"], cam.get("name", "")))
        return True

    def _apply_group(self, doc: Doc) -> bool:
        b = doc.body
        gid = self._named("groups", str(b["name"]))
        if gid is None:
            gid = int(self.db.execute("INSERT INTO groups (name, description, updated_at) VALUES (?, ?, ?)",
                                      (b["name"], b.get("description", ""), times.now_db())).lastrowid or 0)
        else:
            self.db.execute("UPDATE groups SET name = ?, description = ?, updated_at = ? WHERE id = ?",
                            (b["name"], b.get("description", ""), times.now_db(), gid))
        self.db.execute("DELETE FROM permissions WHERE group_id = ?", (gid,))
        for perm in b.get("permissions", []):
            did = self._named("doors", perm["door"])
            if did is None:
                continue  # a door removed in the same batch
            self.db.execute("INSERT INTO permissions (group_id, door_id, schedule_id) VALUES (?, ?, ?)",
                            (gid, did, self._named("schedules", perm.get("schedule"))))
        return True

    def person_id_of(self, uid: str) -> int | None:
        """Local id of the person with this global uid (None: not held here)."""
        row = self.db.execute("SELECT id FROM people WHERE uid = ?", (uid,)).fetchone()
        return None if row is None else int(row[0])

    def _apply_person(self, doc: Doc) -> bool:
        from desktop_app.core.storage.validate import name_key

        b = doc.body
        cols = ("name", "employee_id", "department", "active", "created_at", "updated_at", "valid_from",
                "valid_until")
        values = [b.get(c) for c in cols]
        employee = b.get("employee_id")
        if employee is not None and self.db.execute(
                "SELECT 1 FROM people WHERE employee_id = ? AND uid IS NOT ?", (employee, doc.key)).fetchone():
            values[cols.index("employee_id")] = None  # held here by someone enrolled only here
            self._id_clashes += 1
        pid = self.person_id_of(doc.key)
        if pid is None:
            pid = int(self.db.execute(
                f"INSERT INTO people (uid, name_key, {', '.join(cols)}) VALUES (?, ?, {', '.join('?' * len(cols))})",
                (doc.key, name_key(str(b["name"])), *values)).lastrowid or 0)
        else:
            self.db.execute(f"UPDATE people SET name_key = ?, {', '.join(f'{c} = ?' for c in cols)} WHERE id = ?",
                            (name_key(str(b["name"])), *values, pid))
        self.db.execute("DELETE FROM person_groups WHERE person_id = ?", (pid,))
        for gname in b.get("groups", []):
            gid = self._named("groups", gname)
            if gid is not None:
                self.db.execute("INSERT INTO person_groups (person_id, group_id) VALUES (?, ?)", (pid, gid))
        return True

    def _apply_sample(self, doc: Doc) -> bool:
        pid = None if doc.person_uid is None else self.person_id_of(doc.person_uid)
        if pid is None or doc.secret is None:
            return False
        b = doc.body
        row = self.db.execute("SELECT id FROM samples WHERE uid = ?", (doc.key,)).fetchone()
        if row is not None:  # a sample never changes its face; its description may
            self.db.execute("UPDATE samples SET quality_json = ?, source = ?, created_at = ? WHERE id = ?",
                            (codecs.to_json(dict(b["quality"]), "quality"), b["source"], b["created_at"], int(row[0])))
            return True
        sid = self._next_id("samples")
        self.db.execute("INSERT INTO samples (id, uid, person_id, quality_json, source, created_at, crop_png)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (sid, doc.key, pid, codecs.to_json(dict(b["quality"]), "quality"), b["source"],
                         b["created_at"], self._seal(SealedField.SAMPLE_CROP, sid, doc.secret)))
        return True

    def _apply_template(self, doc: Doc) -> bool:
        b = doc.body
        row = self.db.execute("SELECT id FROM samples WHERE uid = ?", (b["sample"],)).fetchone()
        if row is None or doc.secret is None:
            return False
        vector = np.frombuffer(doc.secret, dtype="<f4").astype(np.float32)
        self._put_template(int(row[0]), str(b["model_sha256"]), vector)  # type: ignore[attr-defined]
        return True

    def _delete_document(self, kind: DocKind, key: str) -> int:
        if kind == DocKind.TEMPLATE:
            sample_uid, _, model = key.partition(":")
            return int(self.db.execute("DELETE FROM templates WHERE model_sha256 = ? AND sample_id ="
                                       " (SELECT id FROM samples WHERE uid = ?)", (model, sample_uid)).rowcount)
        if kind == DocKind.SAMPLE:
            return int(self.db.execute("DELETE FROM samples WHERE uid = ?", (key,)).rowcount)
        table = {DocKind.GROUP: "groups", DocKind.DOOR: "doors", DocKind.SCHEDULE: "schedules"}[kind]
        if kind == DocKind.SCHEDULE:  # no longer named by a permission once the groups were applied
            self.db.execute("UPDATE permissions SET schedule_id = NULL WHERE schedule_id ="
                            " (SELECT id FROM schedules WHERE name = ? COLLATE NOCASE)", (key,))
        return int(self.db.execute(f"DELETE FROM {table} WHERE name = ? COLLATE NOCASE", (key,)).rowcount)

    # ------------------------------------------------------------------ outbox
    @api("reading the event outbox")
    def outbox_events(self, limit: int = 500) -> list[OutboxEvent]:
        """The oldest events not yet committed on the central server (no snapshot: face
        snapshots stay at the door)."""
        rows = self.db.execute(
            "SELECT e.id, e.uid, e.ts, p.uid, e.person_ref, e.score, e.decision, e.camera, e.model_sha256,"
            " e.track_id, e.door, e.direction, e.reason, e.detail_json FROM events e"
            " LEFT JOIN people p ON p.id = e.person_id WHERE e.central_pushed IS NULL ORDER BY e.id LIMIT ?",
            (int(limit),)).fetchall()
        keys = ("ts", "person_uid", "person_ref", "score", "decision", "camera", "model_sha256", "track_id",
                "door", "direction", "reason", "detail_json")
        out = []
        for r in rows:
            row = dict(zip(keys, r[2:], strict=True))
            ref = row["person_ref"]
            row["person_ref"] = ref if isinstance(ref, str) and ref.startswith("erased-") else None  # not local ids
            if row["detail_json"]:
                detail = json.loads(row["detail_json"])
                if "candidates" in detail:  # local ids -> global uids
                    detail["candidates"] = [self.person_uid(int(c)) for c in detail["candidates"]]
                row["detail_json"] = json.dumps(detail)
            out.append(OutboxEvent(int(r[0]), str(r[1]), row))
        return out

    @api("reading the central documents of a person")
    def person_documents(self, person_id: int) -> list[tuple[str, str]]:
        """(kind, key) of the central documents held of a person: theirs, their samples', their
        templates'."""
        uid = self.person_uid(person_id)
        if uid is None:
            return []
        out = [(DocKind.PERSON.value, uid)]
        for (suid,) in self.db.execute("SELECT uid FROM samples WHERE person_id = ?", (int(person_id),)).fetchall():
            out.append((DocKind.SAMPLE.value, str(suid)))
            out += [(DocKind.TEMPLATE.value, str(k)) for (k,) in self.db.execute(
                "SELECT key FROM central_docs WHERE kind = 'template' AND key LIKE ? || ':%'", (str(suid),))]
        return out

    def person_uid(self, person_id: int) -> str | None:
        row = self.db.execute("SELECT uid FROM people WHERE id = ?", (person_id,)).fetchone()
        return None if row is None else str(row[0])

    @api("copying the central events")
    def mirror_events(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """Copy central events (dicts with the central ``events`` columns, ``ts`` aware) into this
        file, marked as pushed (an admin workspace lists and exports them with the ordinary
        commands); an event already here (same uid) is skipped. Returns how many were new."""
        from desktop_app.core.storage.events import _ATTENDANCE_SQL

        new = 0
        with self.transaction():
            for r in rows:
                pid = None if r.get("person_uid") is None else self.person_id_of(str(r["person_uid"]))
                if r["decision"] == "granted" and pid is None and not r.get("person_ref"):
                    continue  # a person not (or no longer) in the roster
                detail = r.get("detail")
                if isinstance(detail, dict) and "candidates" in detail:
                    detail = {"candidates": [p for c in detail["candidates"] if c and (p := self.person_id_of(c))]}
                stamp = times.to_db(r["ts"])
                cur = self.db.execute(
                    "INSERT OR IGNORE INTO events (ts, person_id, person_ref, score, decision, camera, model_sha256,"
                    " track_id, uid, detail_json, door, direction, reason, central_pushed)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
                    (stamp, pid, r.get("person_ref") or (None if pid is None else f"person-{pid}"), float(r["score"]),
                     r["decision"], r["camera"], r["model_sha256"], r.get("track_id"), r["uid"],
                     None if detail is None else json.dumps(detail), r.get("door"), r.get("direction"),
                     r.get("reason")))
                if cur.rowcount != 1:
                    continue
                new += 1
                if r["decision"] == "granted" and pid is not None:
                    day = times.local_day(r["ts"], self.local_tz).isoformat()
                    way = r.get("direction")
                    self.db.execute(_ATTENDANCE_SQL, (pid, day, None if way == "out" else stamp,
                                                      None if way == "in" else stamp))
        return new

    @api("counting the event outbox")
    def outbox_count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM events WHERE central_pushed IS NULL").fetchone()[0])

    @api("marking pushed events")
    def mark_pushed(self, local_ids: Sequence[int]) -> None:
        """Mark events as committed centrally (call only after the server's commit)."""
        with self.transaction():
            self.db.conn.executemany("UPDATE events SET central_pushed = 1 WHERE id = ?",
                                     [(int(i),) for i in local_ids])

    @api("reading the audit log to push")
    def audit_after(self, last_id: int, limit: int = 500) -> list[tuple[int, str, str, str, str | None]]:
        """(id, ts, actor, action, row_hash) of the audit rows after ``last_id``, oldest first
        (details stay here: they may name a person, and an erasure pseudonymises them locally)."""
        return [(int(r[0]), str(r[1]), str(r[2]), str(r[3]), r[4]) for r in self.db.execute(
            "SELECT id, ts, actor, action, row_hash FROM audit WHERE id > ? ORDER BY id LIMIT ?",
            (int(last_id), int(limit)))]
