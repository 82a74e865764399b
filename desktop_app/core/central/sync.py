"""``SyncThread``: continuous sync beside the door loop (``facegate run ... --central DSN``).

- The event outbox is pushed every ``push_every_s`` seconds (2 s) when it holds anything.
- The roster is pulled when the server NOTIFYs a change (``LISTEN facegate_roster`` on a second
  connection: a door picks up a central change within about a second), and every ``poll_s``
  seconds (30 s) in any case: the polling fallback while the notify connection is down.
- Nothing here ever raises into the door loop: a failure (server down, network cut, a refusal)
  becomes the ``health`` line (also given to ``on_health`` when it changes) and the next try comes
  after the same intervals; the door keeps deciding on its local copy meanwhile.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import psycopg

from desktop_app.core.central import schema
from desktop_app.core.central.client import CentralClient
from desktop_app.core.central.connection import connect
from desktop_app.core.central.errors import CentralError
from desktop_app.core.central.facade import SyncReport
from desktop_app.core.central.sitekey import SiteKey
from desktop_app.core.errors import FaceGateError

if TYPE_CHECKING:
    from desktop_app.core.service import FaceGate

log = logging.getLogger(__name__)


class SyncThread(threading.Thread):
    """Sync ``gate`` with the server at ``dsn`` until ``stop()`` (module docstring)."""

    def __init__(self, gate: FaceGate, dsn: str, key: SiteKey, *, name: str | None = None,
                 push_every_s: float = 2.0, poll_s: float = 30.0, doors: Sequence[str] | None = None,
                 on_health: Callable[[str], None] | None = None) -> None:
        super().__init__(name="facegate-central-sync", daemon=True)
        self.gate = gate
        self.dsn = dsn
        self.key = key
        self.node_name = name
        self.doors = None if doors is None else tuple(doors)
        self.push_every_s = push_every_s
        self.poll_s = poll_s
        self.on_health = on_health
        self.health = "central: connecting"
        self.last_report: SyncReport | None = None
        self.rounds = 0
        self._stop_event = threading.Event()
        self._listener: psycopg.Connection[Any] | None = None
        self._error: str | None = None
        self._notes = ""

    def stop(self, timeout: float | None = 10.0) -> None:
        """Stop after the round in progress (a last push of the outbox is tried first)."""
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout)

    def _set_health(self, text: str) -> None:
        if text != self.health:
            self.health = text
            if self.on_health is not None:
                with contextlib.suppress(Exception):
                    self.on_health(text)

    def run(self) -> None:
        client = CentralClient(self.dsn, self.key)
        next_pull = 0.0
        try:
            while True:
                stopping = self._stop_event.is_set()
                pull = time.monotonic() >= next_pull or stopping
                try:
                    if pull or self.gate.store.outbox_count():
                        report = self.gate.central_sync(client, name=self.node_name, error=self._error, pull=pull,
                                                        doors=self.doors)
                        if pull:
                            next_pull = time.monotonic() + self.poll_s
                            self.last_report = report
                            self._notes = "".join(f"; {n}" for n in (  # kept through the push-only rounds
                                report.model,
                                f"{report.id_clashes} central people without their employee ID here (held by "
                                "someone enrolled only here)" if report.id_clashes else None) if n)
                        self.rounds += 1
                        self._error = None
                        self._set_health(f"central: in sync (revision {report.revision}, "
                                         f"{report.pending} events waiting{self._notes})")
                except FaceGateError as exc:  # CentralUnavailable, CentralError, StorageError
                    self._error = str(exc)
                    self._set_health(f"central: {exc}")
                except Exception as exc:  # never into the door loop
                    log.exception("central sync failed")
                    self._error = f"{type(exc).__name__}: {exc}"
                    self._set_health(f"central: internal error ({self._error})")
                if stopping:
                    return
                if self._wait_for_change(self.push_every_s):
                    next_pull = 0.0
        finally:
            client.close()
            self._close_listener()

    def _close_listener(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(psycopg.Error):
                self._listener.close()
            self._listener = None

    def _wait_for_change(self, seconds: float) -> bool:
        """Wait up to ``seconds`` (less when stopped); True when the server notified a change."""
        try:
            if self._listener is None:
                self._listener = connect(self.dsn, autocommit=True)
                self._listener.execute(f"LISTEN {schema.NOTIFY_CHANNEL}")
            deadline = time.monotonic() + seconds
            while not self._stop_event.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                for _ in self._listener.notifies(timeout=min(left, 0.5), stop_after=1):
                    return True
            return False
        except (psycopg.Error, CentralError):
            self._close_listener()  # polling until it can be made again
            self._stop_event.wait(seconds)
            return False
