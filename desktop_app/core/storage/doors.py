"""Doors: their cameras, outputs and settings, and the queue of remote commands (open) that the
door loops take, possibly from another process.

Door names are unique ignoring case (ASCII); a door is saved whole (insert or replace by name).
Secrets at rest (issue 12): a door's output URI (which may hold ``user:password@``) and its secret
(the HMAC key of signed outputs) are encrypted with the data key, like the face data
(``SealedField.DOOR_OUTPUT`` / ``DOOR_SECRET``, bound to the door id), and so is each camera's
source (``CAMERA_SOURCE``, bound to ``<door id>:<position>``: an rtsp URL may hold a password;
``sealed:<why>`` when it cannot be decrypted, which ``video.sources`` fails to open with the
reason), in an encrypted database;
values an earlier version stored in clear are encrypted at the next writable opening
(``_seal_clear_values``) and the old pages vacuumed. The secret is never printed, logged nor
exported, and the output is shown with its password masked (``redact_uri``). When the values
cannot be decrypted here (locked: no machine key; or damaged) the door is read with the output
``sealed:<why>``, whose driver (``outputs.sealed``) is always down: a door fault that says why,
never a crash and never a door driven without its credentials.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final, cast

from desktop_app.core.access.model import CameraSpec, DoorSpec, PassbackMode
from desktop_app.core.errors import InputError, StorageError
from desktop_app.core.outputs.registry import DRIVERS, scheme_of
from desktop_app.core.outputs.sealed import SEALED_SCHEME, sealed_uri
from desktop_app.core.protection.errors import DataDamagedError, DataLockedError
from desktop_app.core.protection.fields import SealedField
from desktop_app.core.storage import times
from desktop_app.core.storage.base import api
from desktop_app.core.storage.events import EventsMixin
from desktop_app.core.storage.validate import as_int, clean_text, fold, required_text, validate_display_name
from desktop_app.core.vocabulary import Direction, FailMode, LivenessMode

log = logging.getLogger(__name__)

#: Output schemes a door may name: those of the drivers installed here, and those issue 10 names
#: (their drivers may live in modules this build loads on first use); never ``sealed:`` (the
#: store's own stand-in for an output it cannot decrypt).
OUTPUT_SCHEMES: Final[frozenset[str]] = (frozenset(DRIVERS) | {"log", "webhook", "mqtt", "serial", "hidrelay",
                                                               "gpio"}) - {SEALED_SCHEME}
#: The commands a door loop takes from the queue.
DOOR_COMMANDS: Final[frozenset[str]] = frozenset({"open"})
#: Seconds a queued command stays valid: one no door loop took in time is dropped ("expired"),
#: so that a door is never opened long after it was asked (no loop was running then).
COMMAND_MAX_AGE_S: Final[float] = 30.0


def check_output(uri: str) -> str:
    """``uri`` trimmed when its scheme is a known door output; ValueError (readable) otherwise."""
    scheme = scheme_of(uri)
    if scheme not in OUTPUT_SCHEMES:
        raise ValueError(f"unknown door output {uri!r}: the output must start with one of "
                         f"{', '.join(s + ':' for s in sorted(OUTPUT_SCHEMES))}")
    return uri.strip()


def _door_from_rows(row: Mapping[str, Any], cameras: Sequence[Mapping[str, Any]], sources: Sequence[str],
                    output: str, secret: str | None) -> DoorSpec:
    return DoorSpec(
        name=str(row["name"]),
        cameras=tuple(CameraSpec(source=src, direction=Direction(str(c["direction"])),
                                 name=str(c["name"] or "")) for c, src in zip(cameras, sources, strict=True)),
        output=output,
        secret=secret,
        unlock_seconds=float(row["unlock_seconds"]),
        fail_mode=FailMode(str(row["fail_mode"])),
        contact=row["contact"],
        held_open_s=float(row["held_open_s"]),
        passback_partner=row["passback_partner"],
        passback=cast(PassbackMode, str(row["passback"])),
        liveness=None if row.get("liveness") is None else LivenessMode(str(row["liveness"])),
    )


class DoorsMixin(EventsMixin):
    """Door and door-command methods of ``Store``."""

    def _door_row(self, name: str) -> Mapping[str, Any] | None:
        rows = list(self.db.query("SELECT * FROM doors WHERE name = ? COLLATE NOCASE",
                                  [required_text(name, "door name")]))
        return rows[0] if rows else None

    def _door_names(self) -> list[str]:
        return [str(r[0]) for r in self.db.execute("SELECT name FROM doors ORDER BY name COLLATE NOCASE")]

    def _unknown_door(self, name: str) -> InputError:
        names = self._door_names()
        known = f"doors: {', '.join(names)}" if names else "no door is set up yet (facegate door add)"
        return InputError(f"There is no door named {name!r}; {known}.")

    def _require_door(self, name: str) -> Mapping[str, Any]:
        row = self._door_row(name)
        if row is None:
            raise self._unknown_door(name)
        return row

    def _door(self, row: Mapping[str, Any], cameras: Sequence[Mapping[str, Any]]) -> DoorSpec:
        """The door of a ``doors`` row, its output and secret decrypted (``sealed:<why>`` when they
        cannot be: module docstring)."""
        door_id = int(row["id"])
        sources = [self._camera_source(c) for c in cameras]
        try:
            output = self._door_text(SealedField.DOOR_OUTPUT, door_id, row["output"], "output")
            secret = self._door_text(SealedField.DOOR_SECRET, door_id, row["secret"], "secret")
        except (DataLockedError, DataDamagedError) as exc:
            return _door_from_rows(row, cameras, sources, sealed_uri(str(exc)), None)
        return _door_from_rows(row, cameras, sources, output or "log:", secret)

    def _camera_source(self, cam: Mapping[str, Any]) -> str:
        """A camera's source decrypted; ``sealed:<why>`` when it cannot be (the camera then fails to
        open with the reason: ``video.sources.open_source``)."""
        key = f"{int(cam['door_id'])}:{int(cam['position'])}"
        try:
            return self._door_text(SealedField.CAMERA_SOURCE, key, cam["source"], "camera source") or ""
        except (DataLockedError, DataDamagedError) as exc:
            return sealed_uri(str(exc))

    def _door_text(self, where: SealedField, door_id: int | str, stored: str | bytes | None,
                   what: str) -> str | None:
        if stored is None:
            return None
        if isinstance(stored, str):
            return stored  # in clear: written before the doors' values were encrypted (sealed at the next opening)
        return self._unseal(where, door_id, bytes(stored), f"the {what} of a door").decode("utf-8")

    def _door_value(self, where: SealedField, door_id: int | str, text: str | None) -> str | bytes | None:
        """What to store for ``text``: encrypted in an encrypted database (DataLockedError while
        locked: saving a door needs the data key), else the text."""
        if text is None:
            return None
        keys = self._sealing_keys()
        return text if keys is None else keys.seal(where, door_id, text.encode("utf-8"))

    def _seal_clear_values(self) -> None:
        """Encrypt the door values stored in clear (an earlier version), then vacuum their old pages."""
        try:
            with self.transaction():
                rows = self.db.conn.execute(
                    "SELECT id, output, secret FROM doors WHERE typeof(output) = 'text'"
                    " OR typeof(secret) = 'text'").fetchall()
                for door_id, output, secret in rows:
                    self.db.conn.execute(
                        "UPDATE doors SET output = ?, secret = ? WHERE id = ?",
                        (self._door_value(SealedField.DOOR_OUTPUT, int(door_id), self._door_text(
                            SealedField.DOOR_OUTPUT, int(door_id), output, "output")),
                         self._door_value(SealedField.DOOR_SECRET, int(door_id), self._door_text(
                             SealedField.DOOR_SECRET, int(door_id), secret, "secret")), door_id))
                cams = self.db.conn.execute(
                    "SELECT door_id, position, source FROM door_cameras WHERE typeof(source) = 'text'").fetchall()
                for door_id, position, source in cams:
                    self.db.conn.execute(
                        "UPDATE door_cameras SET source = ? WHERE door_id = ? AND position = ?",
                        (self._door_value(SealedField.CAMERA_SOURCE, f"{int(door_id)}:{int(position)}", str(source)),
                         door_id, position))
                if rows or cams:
                    self._insert_audit("facegate", "keys.encrypt_door_secrets", {"doors": len(rows),
                                                                                 "cameras": len(cams)})
            if rows or cams:
                with self._lock:
                    self._checkpoint()
                    self.db.conn.execute("VACUUM")
                    self._checkpoint()
        except (StorageError, sqlite3.Error, DataDamagedError) as exc:  # the door keeps going; retried next time
            log.warning("Encrypting the doors' secrets of %s is not finished (%s); FaceGate resumes at the next "
                        "start.", self.path, exc)

    def _cameras(self, door_id: int) -> list[Mapping[str, Any]]:
        return list(self.db.query("SELECT * FROM door_cameras WHERE door_id = ? ORDER BY position", [door_id]))

    @api("saving a door")
    def save_door(self, spec: DoorSpec) -> DoorSpec:
        """Insert the door, or replace the one of the same name (any case) with ``spec`` whole
        (cameras included); returns it as stored. ValueError for an unknown output scheme;
        InputError when the anti-passback partner is neither this door nor an existing one."""
        if not isinstance(spec, DoorSpec):
            raise ValueError(f"expected a DoorSpec, got {type(spec).__name__}")
        validate_display_name(spec.name, "door name", max_len=64)  # no control or invisible characters
        output = check_output(spec.output)
        for cam in spec.cameras:
            if cam.source.strip().lower().startswith(f"{SEALED_SCHEME}:"):
                raise ValueError(f"camera source {cam.source!r} is the stand-in of a source that cannot be "
                                 "decrypted here: give the real source")
        secret = spec.secret if spec.secret else None
        contact = clean_text(spec.contact, "door contact", required=False)
        with self.transaction():
            partner = spec.passback_partner
            if partner is not None:
                if fold(partner) == fold(spec.name):
                    partner = spec.name
                else:
                    row = self._door_row(partner)
                    if row is None:
                        raise InputError(f"The anti-passback partner of door {spec.name!r} must be an existing "
                                         f"door or the door itself: {self._unknown_door(partner)}")
                    partner = str(row["name"])
            now = times.now_db()
            current = self._door_row(spec.name)
            door_id = self._next_id("doors") if current is None else int(current["id"])
            values = (spec.name, self._door_value(SealedField.DOOR_OUTPUT, door_id, output),
                      self._door_value(SealedField.DOOR_SECRET, door_id, secret), float(spec.unlock_seconds),
                      spec.fail_mode.value, contact, float(spec.held_open_s), partner, spec.passback, now,
                      None if spec.liveness is None else spec.liveness.value)
            if current is None:
                cur = self.db.execute(
                    "INSERT INTO doors (name, output, secret, unlock_seconds, fail_mode, contact, held_open_s,"
                    " passback_partner, passback, updated_at, liveness, id)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", (*values, door_id))
                door_id = as_int(cur.lastrowid, "new door id")
            else:
                self.db.execute(
                    "UPDATE doors SET name = ?, output = ?, secret = ?, unlock_seconds = ?, fail_mode = ?,"
                    " contact = ?, held_open_s = ?, passback_partner = ?, passback = ?, updated_at = ?,"
                    " liveness = ? WHERE id = ?", (*values, door_id))
                self.db.execute("DELETE FROM door_cameras WHERE door_id = ?", (door_id,))
            for i, cam in enumerate(spec.cameras):
                self.db.execute(
                    "INSERT INTO door_cameras (door_id, position, source, direction, name) VALUES (?, ?, ?, ?, ?)",
                    (door_id, i, self._door_value(SealedField.CAMERA_SOURCE, f"{door_id}:{i}", cam.source.strip()),
                     cam.direction.value, cam.name))
            return self._door(self._require_door(spec.name), self._cameras(door_id))

    @api("reading doors")
    def list_doors(self) -> list[DoorSpec]:
        """Every door, by name (any case)."""
        rows = list(self.db.query("SELECT * FROM doors ORDER BY name COLLATE NOCASE, id"))
        cams: dict[int, list[Mapping[str, Any]]] = {}
        for c in self.db.query("SELECT * FROM door_cameras ORDER BY door_id, position"):
            cams.setdefault(int(c["door_id"]), []).append(c)
        return [self._door(r, cams.get(int(r["id"]), [])) for r in rows]

    @api("reading a door")
    def get_door(self, name: str) -> DoorSpec | None:
        """The door of this name (any case), or None."""
        row = self._door_row(name)
        return None if row is None else self._door(row, self._cameras(int(row["id"])))

    @api("deleting a door")
    def delete_door(self, name: str) -> DoorSpec:
        """Delete a door, its cameras and the permissions at it; returns what it was. InputError
        when there is no such door, or another door names it as its anti-passback partner."""
        with self.transaction():
            row = self._require_door(name)
            paired = [str(r[0]) for r in self.db.execute(
                "SELECT name FROM doors WHERE passback_partner = ? COLLATE NOCASE AND id != ? ORDER BY name",
                (row["name"], row["id"]))]
            if paired:
                raise InputError(f"Door {row['name']!r} is the anti-passback partner of {', '.join(paired)}: "
                                 "change that first.")
            door = self._door(row, self._cameras(int(row["id"])))
            self.db.execute("DELETE FROM doors WHERE id = ?", (row["id"],))
            return door

    # ------------------------------------------------------------------ remote commands
    @api("queueing a door command")
    def queue_door_command(self, door: str, command: str, actor: str) -> int:
        """Queue ``command`` ("open") for the door loop running ``door``; returns the command's id.
        InputError when there is no such door."""
        if command not in DOOR_COMMANDS:
            raise ValueError(f"door command must be one of {sorted(DOOR_COMMANDS)}, got {command!r}")
        who = required_text(actor, "actor")
        with self.transaction():
            name = str(self._require_door(door)["name"])
            cur = self.db.execute("INSERT INTO door_commands (door, command, actor, ts) VALUES (?, ?, ?, ?)",
                                  (name, command, who, times.now_db()))
            return as_int(cur.lastrowid, "new command id")

    @api("taking door commands")
    def take_door_commands(self, doors: Sequence[str], *, max_age_s: float = COMMAND_MAX_AGE_S,
                           wait_s: float | None = None) -> list[tuple[int, str, str]]:
        """Take the waiting commands of ``doors`` (names, any case), oldest first: each is marked
        taken, so that it is served once even when several processes poll. A command older than
        ``max_age_s`` seconds is marked "expired" and not returned. Returns (id, door, command)
        triples. Cheap when nothing waits (one indexed read, no write); wait_s: wait at most this
        long for another program's write lock (the door loop must not stall)."""
        keys = sorted({fold(required_text(d, "door name")) for d in doors})
        if not keys:
            return []
        marks = ", ".join("?" for _ in keys)
        select = (f"SELECT id, door, command, ts FROM door_commands WHERE taken_at IS NULL"
                  f" AND facegate_fold(door) IN ({marks}) ORDER BY id")
        if not self.db.execute(select, keys).fetchone():
            return []
        with self._waiting_at_most(wait_s), self.transaction():
            now = datetime.now(UTC)
            oldest = now - timedelta(seconds=max(0.0, float(max_age_s)))
            out: list[tuple[int, str, str]] = []
            for cid, door, command, ts in self.db.execute(select, keys).fetchall():
                fresh = times.from_db(str(ts)) >= oldest
                self.db.execute("UPDATE door_commands SET taken_at = ?, outcome = ? WHERE id = ?",
                                (times.to_db(now), "taken" if fresh else "expired", cid))
                if fresh:
                    out.append((int(cid), str(door), str(command)))
            return out

    @api("reading the last passage")
    def last_passage(self, person_id: int, doors: Sequence[str]) -> tuple[Direction, str, datetime] | None:
        """(direction, door, time) of the person's latest granted passage with a direction at one
        of ``doors`` (names, any case), or None: what anti-passback needs after a restart. One
        indexed read (events by person and time)."""
        pid = as_int(person_id, "person_id")
        names = sorted({required_text(d, "door name") for d in doors})
        if not names:
            return None
        marks = ", ".join("?" for _ in names)
        row = self.db.execute(
            "SELECT direction, door, ts FROM events WHERE person_id = ? AND decision = 'granted'"
            f" AND direction IS NOT NULL AND door COLLATE NOCASE IN ({marks}) ORDER BY ts DESC, id DESC LIMIT 1",
            (pid, *names)).fetchone()
        return None if row is None else (Direction(str(row[0])), str(row[1]), times.from_db(str(row[2])))
