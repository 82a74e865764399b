"""The desktop app on the central server (``facegate gui --central DSN``): the background link,
the pending-changes banner and the status line.

:class:`CentralController` runs :meth:`CentralLink.round` in its own thread (never the GUI
thread): every ``check_s`` seconds it looks for roster changes made in the app (the difference
between the cache and the central documents it holds: every page's change is seen, whatever page
made it) and publishes them; every ``pull_s`` seconds it pulls the others' changes and the
central events anyway. After a failure (server down) the changes stay pending in the cache, the
banner says "Not yet on the central server: N changes — Retry", and it tries again every
``retry_s`` seconds or at once on Retry. Results reach the GUI through queued signals.
"""

from __future__ import annotations

import logging
import threading
import time

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QBoxLayout, QFrame, QHBoxLayout, QLabel, QMainWindow, QPushButton, QWidget

from desktop_app.core.central.applink import CentralLink, LinkHealth, LinkState
from desktop_app.core.service import FaceGate

from .context import ChangeHub

log = logging.getLogger(__name__)


class CentralController(QObject):
    """state_changed(LinkState) after every check or round; roster_pulled() when others' roster
    changes arrived; events_pulled() when central events were copied into the cache;
    model_changed() when a round published this cache's model as the site's, switched it to the
    site's model, or refused that model (``LinkState.model`` says which)."""

    state_changed = Signal(object)
    roster_pulled = Signal()
    events_pulled = Signal()
    model_changed = Signal()
    banner: CentralBanner | None = None  # set by attach_central
    status_label: QLabel | None = None

    def __init__(self, link: CentralLink, gate: FaceGate, *, check_s: float = 2.0, pull_s: float = 15.0,
                 retry_s: float = 30.0, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.link = link
        self.gate = gate
        self.check_s = check_s
        self.pull_s = pull_s
        self.retry_s = retry_s
        self.state: LinkState = link.state(gate)
        self.rounds = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="facegate-central-app", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop after the round in progress (idempotent)."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def sync_now(self) -> None:
        """Run a round at once (Retry; a change just made)."""
        self._wake.set()

    # ------------------------------------------------------------------ worker thread
    def _loop(self) -> None:
        last_round = time.monotonic()  # the window opened on a fresh pull
        failing = False
        while not self._stop.is_set():
            woken = self._wake.wait(self.check_s)
            self._wake.clear()
            if self._stop.is_set():
                if not failing and self.link.pending(self.gate):  # a change made just before closing
                    self._emit(self.link.round(self.gate))
                return
            try:
                pending = self.link.pending(self.gate)
            except Exception as exc:  # a locked or damaged cache: say so, never end the thread
                log.warning("central: cannot read the pending changes: %s", exc)
                continue
            since = time.monotonic() - last_round
            due = woken or since >= (self.retry_s if failing else self.pull_s) or (pending and not failing)
            if not due:
                if pending != self.state.pending:
                    self._emit(LinkState(self.state.server, self.state.health if failing else LinkHealth.PENDING,
                                         pending, reason=self.state.reason, detail=self.state.detail))
                continue
            try:
                state = self.link.round(self.gate)
            except Exception as exc:  # a bug must not end the link: the changes stay pending
                log.exception("central round failed")
                state = LinkState(self.link.server, LinkHealth.REFUSED, pending, reason=str(exc) or type(exc).__name__)
            last_round = time.monotonic()
            failing = state.health in (LinkHealth.UNREACHABLE, LinkHealth.REFUSED)
            self.rounds += 1
            self._emit(state)
            if state.pulled:
                self.roster_pulled.emit()
            if state.events:
                self.events_pulled.emit()
            if state.model:
                self.model_changed.emit()

    def _emit(self, state: LinkState) -> None:
        self.state = state
        self.state_changed.emit(state)


class CentralBanner(QFrame):
    """Shown while changes made here are not on the server and the last try failed:
    "Not yet on the central server: N changes" and a Retry button."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("centralBanner")
        self.setStyleSheet("#centralBanner { background: #fff3cd; border-bottom: 1px solid #e0c060; }"
                           " #centralBanner QLabel { color: #5d4200; }")
        row = QHBoxLayout(self)
        row.setContentsMargins(12, 6, 12, 6)
        self.label = QLabel("")
        self.retry = QPushButton("Retry")
        self.retry.setToolTip("Publish the pending changes to the central server now")
        row.addWidget(self.label, 1)
        row.addWidget(self.retry)
        self.hide()

    def show_state(self, state: LinkState) -> None:
        failed = state.health in (LinkHealth.UNREACHABLE, LinkHealth.REFUSED)
        if state.pending and failed:
            n = state.pending
            self.label.setText(f"Not yet on the central server: {n} change{'s' if n != 1 else ''} "
                               f"(kept on this computer; server {state.health.value}: {state.reason})")
            self.label.setToolTip(state.detail)
            self.retry.setEnabled(True)
            self.show()
        else:
            self.hide()


def attach_central(win: QMainWindow, hub: ChangeHub, link: CentralLink, gate: FaceGate, *,
                   start: bool = True, **timing: float) -> CentralController:
    """Put the banner above the pages and the status line in the status bar of ``win``, and start
    the link's thread. The caller stops it (``controller.stop()``) before closing the gate."""
    controller = CentralController(link, gate, parent=win, **timing)
    banner = CentralBanner()
    body = win.centralWidget()
    column = body.layout() if body is not None else None
    if isinstance(column, QBoxLayout):
        column.insertWidget(0, banner)
    status = QLabel(controller.state.line())
    status.setToolTip("The central PostgreSQL server this app publishes to and pulls from")
    win.statusBar().addPermanentWidget(status)

    def on_state(state: LinkState) -> None:
        status.setText(state.line())
        status.setToolTip(state.detail or "The central PostgreSQL server this app publishes to and pulls from")
        status.setProperty("role", "warning" if state.health in (LinkHealth.UNREACHABLE, LinkHealth.REFUSED)
                           else "")
        banner.show_state(state)

    def on_retry() -> None:
        banner.retry.setEnabled(False)
        banner.label.setText("Publishing to the central server…")
        controller.sync_now()

    controller.state_changed.connect(on_state)
    banner.retry.clicked.connect(on_retry)
    controller.roster_pulled.connect(hub.people_changed)
    controller.roster_pulled.connect(hub.settings_changed)
    controller.events_pulled.connect(hub.events_changed)
    controller.model_changed.connect(hub.model_changed)
    hub.people_changed.connect(controller.sync_now)
    win.setWindowTitle(f"FaceGate — {link.server} (central)")
    controller.banner = banner
    controller.status_label = status
    if start:
        controller.start()
    return controller
