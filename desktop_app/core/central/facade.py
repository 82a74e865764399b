"""``CentralFacade``: the ``FaceGate`` mixin that syncs this database with the central server.

One round (``central_sync``):

1. push the event outbox: the oldest unpushed events are inserted centrally in one transaction
   (``ON CONFLICT (uid) DO NOTHING``) and marked pushed here only after that commit: a cut
   before the commit resends them, a cut after it resends them too and the server skips them,
   so every event arrives exactly once;
2. push the new audit rows (node + local id, idempotent as well);
3. pull the roster changes since the last revision held (everything at the first round), apply
   them in one local transaction, erase every person whose tombstone arrived through
   ``FaceGate.erase_person`` (the same guarantees as a local erasure: rows, crops, templates,
   gallery files, WAL), reload the gallery and recalibrate;
4. switch to the site's face model when the server names another one (``model_follow``);
5. report to the server (last seen, revision held, events still waiting, last error).

The network part never holds the FaceGate lock, so the door loop is never blocked by a slow or
cut network; only the local writes take it.
"""

from __future__ import annotations

import logging
import secrets
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from desktop_app.core.central.client import CentralClient, RosterChange
from desktop_app.core.central.model_follow import SiteModelFacade
from desktop_app.core.storage.replica import KIND_ORDER, DocKind

if TYPE_CHECKING:
    from desktop_app.core.storage.records import ErasureReport, ModelRecord
    from desktop_app.core.storage.store import Store

log = logging.getLogger(__name__)

#: events per push transaction
PUSH_BATCH = 1000
#: roster documents per local transaction when applying a pull (the door loop waits for one at most)
APPLY_CHUNK = 2000


class Applied(NamedTuple):
    """What applying pulled changes did: documents applied, documents removed, people erased, and
    central people kept without their employee ID (someone enrolled only here holds it)."""

    applied: int
    deleted: int
    erased: int
    id_clashes: int


@dataclass(frozen=True)
class SyncReport:
    """What one round did: events and audit rows pushed (new centrally / sent), roster documents
    applied, people erased, the revision now held and events still waiting here."""

    events_sent: int
    events_new: int
    audit_sent: int
    applied: int
    deleted: int
    erased: int
    revision: int
    pending: int
    #: the site's model: switched to it, or refused and why (None: nothing to do)
    model: str | None = None
    #: central people kept here without their employee ID (a person enrolled only here holds it)
    id_clashes: int = 0

    def line(self) -> str:
        return (f"pushed {self.events_sent} events ({self.events_new} new centrally), {self.audit_sent} audit rows; "
                f"roster revision {self.revision}: {self.applied} changes, {self.deleted} removals, "
                f"{self.erased} people erased; {self.pending} events waiting"
                + (f"; {self.model}" if self.model else "")
                + (f"; {self.id_clashes} central people kept without their employee ID (a person enrolled only "
                   "here holds it: change one of them)" if self.id_clashes else ""))


class CentralFacade(SiteModelFacade):
    """Central sync methods of ``FaceGate`` (see the module docstring)."""


    store: Store
    _lock: threading.RLock
    model: ModelRecord

    def erase_person(self, person_id: int, actor: str = "admin") -> ErasureReport:
        raise NotImplementedError

    def _reload_shared_state(self) -> None:
        raise NotImplementedError

    def doors(self) -> list:  # type: ignore[type-arg]
        raise NotImplementedError

    # ------------------------------------------------------------------ identity
    def central_node(self) -> str:
        """This database's node id on the central server (made at the first call)."""
        with self._lock:
            uid = self.store.central_state("node_uid")
            if not uid:
                uid = secrets.token_hex(16)
                self.store.set_central_state("node_uid", uid)
            return str(uid)

    def central_revision(self) -> int:
        with self._lock:
            return int(self.store.central_state("revision", 0))

    # ------------------------------------------------------------------ one round
    def central_sync(self, client: CentralClient, *, name: str | None = None, role: str = "door",
                     error: str | None = None, pull: bool = True, doors: Sequence[str] | None = None) -> SyncReport:
        """One sync round (module docstring); ``pull`` False pushes only (steps 1 and 2).

        doors: the doors this node runs (kept for later rounds; never given: everyone is pulled).
        A door node then holds only the people permitted at its doors: their samples and
        templates are pulled, and a person no longer permitted there is erased here through
        ``erase_person`` (as a central erasure is).
        CentralUnavailable / CentralError when the server cannot be reached or refuses: nothing
        is lost, the next round goes on from there."""
        node = self.central_node()
        with self._lock:
            if name and name != self.store.central_state("node_name"):
                self.store.set_central_state("node_name", name)  # kept for the rounds that name none
            name = name or self.store.central_state("node_name")
            if doors is not None and role == "door":
                self.store.set_central_state("node_doors", sorted(set(doors)))
            mine = self.store.central_state("node_doors") if role == "door" else None
            known = self.store.central_state("permitted_groups")
        sent = new = 0
        while True:
            with self._lock:
                batch = self.store.outbox_events(PUSH_BATCH)
            if not batch:
                break
            new += client.push_events(node, batch)
            with self._lock:
                self.store.mark_pushed([e.local_id for e in batch])  # only after the server's commit
            sent += len(batch)
        with self._lock:
            last = int(self.store.central_state("audit_pushed", 0))
            audit = self.store.audit_after(last, 5000)
        client.push_audit(node, audit)
        if audit:
            with self._lock:
                self.store.set_central_state("audit_pushed", audit[-1][0])
        since = self.central_revision()
        if not pull:
            return SyncReport(sent, new, len(audit), 0, 0, 0, since, self.store.outbox_count())
        changes, top, groups = client.pull(since, self.model.sha256 if role == "door" else None, doors=mine,
                                           known_groups=known)
        if groups is not None:  # a person changed who is neither permitted here nor held here is none of our business
            allowed = {g.casefold() for g in groups}
            with self._lock:
                held = self.store.held_documents()
            changes = [c for c in changes if c.kind != DocKind.PERSON or c.doc is None or (c.kind.value, c.key) in held
                       or {str(g).casefold() for g in c.doc.body.get("groups", [])} & allowed]
        applied, deleted, erased, clashes = self.apply_central_changes(changes, top)
        if groups is not None:
            erased += self._erase_not_permitted(groups)
            with self._lock:
                self.store.set_central_state("permitted_groups", groups)
        followed = self.follow_site_model(client, role=role, doors=mine)
        if followed is not None and followed.refused:
            error = followed.line if error is None else f"{error}; {followed.line}"
        with self._lock:
            pending = self.store.outbox_count()
            doors = [d.name for d in self.doors()]
        client.heartbeat(node, name or default_node_name(self.store.path.name), role, doors=doors,
                         model_sha256=self.model.sha256, revision=top, pending=pending, error=error)
        return SyncReport(sent, new, len(audit), applied, deleted, erased, top, pending,
                          None if followed is None else followed.line, clashes)

    def apply_central_changes(self, changes: list[RosterChange], top: int) -> Applied:
        """Apply pulled changes (documents whose digest differs from the one held, tombstones of
        what is held or known here); erase tombstoned people through ``erase_person``; then hold
        revision ``top``. Returns what was applied (``Applied``).

        The documents go in kind order (people before their samples before their templates), in
        local transactions of at most ``APPLY_CHUNK`` documents, each noted as held with it: the
        door loop waits for one chunk at most, and a stop between two chunks re-pulls from the
        revision held, skipping what was applied. The tombstones, the erasures, the revision and
        the gallery reload come last, together."""
        with self._lock:
            held = self.store.held_documents()
        order = {kind: i for i, kind in enumerate(KIND_ORDER)}
        revision = {(c.kind.value, c.key): c.revision for c in changes}
        upserts = sorted((c.doc for c in changes
                          if c.doc is not None and held.get((c.kind.value, c.key)) != c.doc.digest),
                         key=lambda d: order[d.kind])
        tombs = [(c.kind.value, c.key) for c in changes if c.doc is None]
        counts = {"upserted": 0, "deleted": 0, "skipped": 0, "id_clashes": 0}

        def count(got: dict[str, int]) -> None:
            for k, n in got.items():
                counts[k] = counts.get(k, 0) + n

        for i in range(0, len(upserts), APPLY_CHUNK):
            chunk = upserts[i:i + APPLY_CHUNK]
            with self._lock, self.store.transaction():  # applied and noted together
                count(self.store.apply_documents(chunk, []))
                self.store.note_documents([(d.kind.value, d.key, revision[(d.kind.value, d.key)], d.digest)
                                           for d in chunk])
        with self._lock:
            if tombs:
                count(self.store.apply_documents([], tombs))
            erased = 0
            for kind, key in tombs:
                if kind == DocKind.PERSON:
                    pid = self.store.person_id_of(key)
                    if pid is not None:
                        self.erase_person(pid, actor="central")
                        erased += 1
            self.store.note_documents([], tombs)
            self.store.set_central_state("revision", top)
            if upserts or tombs:
                self.store.audit("central", "central.sync", {"applied": counts["upserted"],
                                                           "removed": counts["deleted"],
                                                           "erased": erased, "revision": top,
                                                           "employee_id_clashes": counts["id_clashes"]})
                self._reload_shared_state()
            return Applied(counts["upserted"], counts["deleted"], erased, counts["id_clashes"])

    def _erase_not_permitted(self, groups: Sequence[str]) -> int:
        """Erase the central people held here who are in none of ``groups`` (no longer permitted
        at this node's doors); people enrolled only here are left alone. Returns how many."""
        allowed = {g.casefold() for g in groups}
        erased = 0
        with self._lock:
            held = {key for kind, key in self.store.held_documents() if kind == DocKind.PERSON}
            for access in self.store.people_access():
                uid = self.store.person_uid(access.person_id)
                if uid in held and not {g.casefold() for g in access.groups} & allowed:
                    gone = self.store.person_documents(access.person_id)  # pulled again if permitted again
                    self.erase_person(access.person_id, actor="central")
                    self.store.note_documents([], gone)
                    erased += 1
        return erased


def default_node_name(db_name: str) -> str:
    return f"{socket.gethostname()}/{db_name}"
