"""The admin workspace: central writes through the ordinary local commands.

``central_workspace(dsn, key)`` takes the admins' advisory lock on the server (two admins
serialise), opens a local cache database for that server (one per site, under the user's data
folder, 0600 like every FaceGate database), brings it up to date with the central roster
(everything: every model's templates), and yields its ``FaceGate``: the command runs on it
with all of its usual checks (identity integrity, quality, names, audit). On a normal exit the
differences are published: changed and new documents upserted, removed ones tombstoned, in one
transaction that notifies the doors. An exception publishes nothing (the cache is brought back
in line at the next pull: its digests still name the central state).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from desktop_app.core.central.client import CentralClient
from desktop_app.core.central.errors import CentralError
from desktop_app.core.central.sitekey import SiteKey
from desktop_app.core.service import FaceGate
from desktop_app.paths import data_home


@dataclass(frozen=True)
class PublishReport:
    upserted: int
    removed: int
    revision: int
    #: the model made the site's by this publish (name and sha256 prefix), or None
    model: str | None = None

    def line(self) -> str:
        tail = f"; every door now switches to the model {self.model}" if self.model else ""
        if not (self.upserted or self.removed):
            return "central: nothing to publish" + tail
        return (f"central: published {self.upserted} changes and {self.removed} removals (revision {self.revision})"
                + tail)


def cache_path(site_id: str) -> Path:
    """The admin cache database of a site."""
    return data_home() / "central" / f"site-{site_id[:16]}.db"


def publish(gate: FaceGate, client: CentralClient, actor: str) -> PublishReport:
    """Publish what differs between the workspace and the central documents it holds, then make
    the model the workspace runs the site's when it is not (its templates are published first,
    so a door that switches finds them)."""
    with gate._lock:
        held = gate.store.held_documents()
        now = gate.store.roster_documents()
    upserts = [d for k, d in now.items() if held.get(k) != d.digest]
    deletes = [k for k in held if k not in now]
    top = gate.central_revision()
    if upserts or deletes:
        written = client.publish(upserts, deletes, actor)
        top = max(written.values(), default=top)
        with gate._lock:
            gate.store.note_documents([(d.kind.value, d.key, written.get((d.kind.value, d.key), 0), d.digest)
                                       for d in upserts], deletes)
            gate.store.set_central_state("revision", max(top, gate.central_revision()))
    site = gate.publish_site_model(client, actor)
    return PublishReport(len(upserts), len(deletes), top,
                         None if site is None else f"{site.name} ({site.sha256[:12]})")


#: received_at overlap when copying central events: a transaction that started earlier may commit later
EVENT_OVERLAP_S = 300.0


def mirror_events(gate: FaceGate, client: CentralClient) -> int:
    """Copy the central events received since the last copy (with an overlap; uids make it
    idempotent) into the workspace; returns how many were new."""
    last = gate.store.central_state("events_received")
    after = None if last is None else datetime.fromisoformat(str(last)) - timedelta(seconds=EVENT_OVERLAP_S)
    new = 0
    while True:
        rows = client.events_received_after(after)
        if not rows:
            return new
        new += gate.store.mirror_events(rows)
        gate.store.set_central_state("events_received", rows[-1]["received_at"].isoformat())
        if len(rows) < 50_000:
            return new
        after = rows[-1]["received_at"]


@contextlib.contextmanager
def central_workspace(dsn: str, key: SiteKey, *, actor: str = "admin", device: str | None = None,
                      cache: Path | None = None, publish_changes: bool = True,
                      reports: list[PublishReport] | None = None, with_events: bool = False) -> Iterator[FaceGate]:
    """See the module docstring. ``reports`` receives the publish report; ``with_events`` copies
    the central events into the cache first (``events`` and ``attendance`` then list them)."""
    with CentralClient(dsn, key) as client:
        site = client.site_id()
        if site is None:
            raise CentralError("The central database is not initialised: run `facegate central init --dsn DSN`.")
        with client.admin_lock():
            gate = FaceGate(cache or cache_path(site), device=device)
            try:
                gate.central_sync(client, name=f"admin workspace {actor}", role="admin")
                if with_events:
                    mirror_events(gate, client)
                yield gate
                if publish_changes:
                    report = publish(gate, client, actor)
                    if reports is not None:
                        reports.append(report)
                    gate.central_sync(client, name=f"admin workspace {actor}", role="admin")  # its audit rows
            finally:
                gate.close()
