"""``CentralLink``: the desktop admin app on the central roster (``facegate gui --central DSN``).

The app runs on the site's admin cache database (the CLI's workspace cache, ``cache_path``): it
is opened and brought up to date with the central roster at start (:meth:`CentralLink.open_gate`,
under the admins' advisory lock), every page then works on it as on a local database, and a
*round* (:meth:`CentralLink.round`, called off the GUI thread) publishes what differs from the
central documents the cache holds (the same ``publish`` as the CLI, under the same admins' lock),
pulls the others' changes and copies the central events into the cache (``mirror_events``).

A round never raises: a server that cannot be reached (or refuses) leaves the changes pending in
the cache (nothing is lost: they are the differences between the cache and the documents held,
computed again at every round) and the :class:`LinkState` says so, with the reason.
No Qt here.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from enum import StrEnum

from desktop_app.core.central.client import CentralClient
from desktop_app.core.central.connection import redact_dsn
from desktop_app.core.central.errors import CentralError, CentralUnavailable
from desktop_app.core.central.sitekey import SiteKey
from desktop_app.core.central.workspace import cache_path, mirror_events, publish
from desktop_app.core.errors import FaceGateError
from desktop_app.core.service import FaceGate

#: how long a round waits for another administrator's workspace (seconds)
ADMIN_LOCK_WAIT_S = 10.0


class LinkHealth(StrEnum):
    IN_SYNC = "in sync"
    PENDING = "pending"
    UNREACHABLE = "unreachable"
    REFUSED = "refused"


@dataclass(frozen=True)
class LinkState:
    """Where the app stands with the server. pending: roster changes made here and not yet on the
    server; published / pulled / events: what the last round did (counts); reason: one line."""

    server: str
    health: LinkHealth
    pending: int
    published: int = 0
    pulled: int = 0
    events: int = 0
    reason: str = ""
    detail: str = ""  # the whole error line (a tooltip)
    #: the site's face model, when the round changed something about it: published from here,
    #: followed (this cache switched to it), or refused (why); "" otherwise
    model: str = ""

    def line(self) -> str:
        """The status line: ``Central: <host/db> — in sync / N pending / unreachable (why)``."""
        if self.health in (LinkHealth.UNREACHABLE, LinkHealth.REFUSED):
            tail = f"{self.health.value} ({self.reason})" if self.reason else self.health.value
            if self.pending:
                tail += f", {self.pending} pending"
        elif self.pending:
            tail = f"{self.pending} pending"
        else:
            tail = "in sync"
        return f"Central: {self.server} — {tail}"


def server_label(dsn: str) -> str:
    """``host/db`` of a DSN (URI or key=value form), without user or password."""
    m = re.match(r"^\w+://(?:[^@/]*@)?([^/?]*)/?([^?]*)", dsn)
    if m:
        host, db = m.group(1) or "localhost", m.group(2)
    else:
        kv = dict(re.findall(r"(\w+)\s*=\s*(\S+)", dsn))
        host = kv.get("host", "localhost") + (f":{kv['port']}" if "port" in kv else "")
        db = kv.get("dbname", "")
    return redact_dsn(f"{host}/{db}" if db else host)


class CentralLink:
    """The app's link to the central server at ``dsn`` with the site key ``key``.

    actor: the name written on the server for the documents this app publishes."""

    def __init__(self, dsn: str, key: SiteKey, *, actor: str = "admin app") -> None:
        self.dsn = dsn
        self.key = key
        self.actor = actor
        self.server = server_label(dsn)
        self._round_lock = threading.Lock()  # one round at a time (timer and Retry)

    @property
    def node_name(self) -> str:
        return f"admin app {self.actor}"

    def open_gate(self, *, device: str | None = None) -> FaceGate:
        """The site's admin cache, pulled up to date with the server (the central events copied
        too). CentralUnavailable / CentralError (one line) when the server cannot be used."""
        with CentralClient(self.dsn, self.key) as client:
            site = client.site_id()
            if site is None:
                raise CentralError("The central database is not initialised: run `facegate central init --dsn DSN`.")
            with client.admin_lock(ADMIN_LOCK_WAIT_S):
                gate = FaceGate(cache_path(site), device=device, allow_locked=True)
                try:
                    publish(gate, client, self.actor)  # changes left pending by an earlier session
                    gate.central_sync(client, name=self.node_name, role="admin")
                    mirror_events(gate, client)
                except BaseException:
                    gate.close()
                    raise
        return gate

    @staticmethod
    def pending(gate: FaceGate) -> int:
        """Roster documents changed here and not yet on the server (local; no network)."""
        with gate._lock:
            held = gate.store.held_documents()
            now = gate.store.roster_documents()
        changed = sum(1 for k, d in now.items() if held.get(k) != d.digest)
        return changed + sum(1 for k in held if k not in now)

    def state(self, gate: FaceGate) -> LinkState:
        n = self.pending(gate)
        return LinkState(self.server, LinkHealth.PENDING if n else LinkHealth.IN_SYNC, n)

    def round(self, gate: FaceGate) -> LinkState:
        """Publish the pending changes, pull the others', copy the new central events. Never
        raises a FaceGate error: a failure is the state's health and reason (the changes stay
        pending here)."""
        with self._round_lock:
            try:
                with CentralClient(self.dsn, self.key) as client, client.admin_lock(ADMIN_LOCK_WAIT_S):
                    report = publish(gate, client, self.actor)
                    sync = gate.central_sync(client, name=self.node_name, role="admin")
                    events = mirror_events(gate, client)
            except CentralUnavailable as exc:
                return LinkState(self.server, LinkHealth.UNREACHABLE, self.pending(gate), reason=_why(str(exc)),
                                 detail=str(exc))
            except (CentralError, FaceGateError) as exc:
                return LinkState(self.server, LinkHealth.REFUSED, self.pending(gate), reason=_why(str(exc)),
                                 detail=str(exc))
            n = self.pending(gate)
            model = sync.model or (f"every door now switches to the model {report.model}" if report.model else "")
            return LinkState(self.server, LinkHealth.PENDING if n else LinkHealth.IN_SYNC, n,
                             published=report.upserted + report.removed, pulled=sync.applied + sync.deleted,
                             events=events, model=model)


def _why(message: str) -> str:
    """The reason part of a server error line, short enough for a status bar: libpq's last
    clause ("Connection refused", "timeout expired"), else the message."""
    m = re.search(r"(?:cannot be reached|failed|refused a request): (.*)$", message)
    text = (m.group(1) if m else message).strip()
    if "failed: " in text:
        text = text.rsplit("failed: ", 1)[1]
    text = re.split(r"\s+Is the server running", text)[0].strip()
    return text if len(text) <= 80 else text[:77] + "…"
