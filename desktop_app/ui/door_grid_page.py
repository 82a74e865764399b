"""All doors at a glance: run the site's doors in the app (their cameras, one shared engine, their
outputs) and show a tile per door (see :mod:`desktop_app.ui.door_grid`).

:class:`DoorRunService` runs a :class:`~desktop_app.core.doors.runner.DoorRunner` on a thread of
its own and forwards its status notices (runner thread) to the GUI thread through a queued
signal. Starting and stopping the doors need the admin PIN; watching them does not (like the Door
page)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QScrollArea, QVBoxLayout, QWidget

from desktop_app.core.accounts import Action
from desktop_app.core.doors.runner import DoorRunner, select_doors
from desktop_app.core.doors.status import CameraStatus, DoorStatus
from desktop_app.core.privacy.display import DoorDisplay, shown_name
from desktop_app.core.service import FaceGate
from desktop_app.core.vocabulary import DoorState, SourceState

from .context import AppContext
from .door_grid import CameraLine, DoorGrid, TileView

log = logging.getLogger(__name__)

STATE_WORDS = {DoorState.LOCKED: "locked", DoorState.UNLOCKED: "unlocked",
               DoorState.OUT_OF_SERVICE: "out of service"}
"""How the Doors page's State column words a running door's state."""


def camera_line(cam: CameraStatus) -> CameraLine:
    """A camera's health in words: ``"live · 12.4 fps"``, ``"reconnecting: camera lost…"``."""
    if cam.state == SourceState.LIVE:
        text = f"live · {cam.fps:.1f} fps"
    else:
        text = cam.state.value + (f": {cam.message}" if cam.message else "")
    return CameraLine(cam.name, cam.direction.value, not cam.lost, text)


def tile_from_status(s: DoorStatus, display: DoorDisplay = DoorDisplay.FULL) -> TileView:
    """The tile of a door's status snapshot; the last person is named as the door screen names
    them (``display``: full name, initials, or not at all)."""
    last = s.last_decision
    direction = None
    if last is not None:
        direction = next((c.direction.value for c in s.cameras if c.name == last.camera), None)
    detail = s.detail
    if s.state == DoorState.UNLOCKED and not detail:
        detail = f"released for {s.unlocked_for_s:.0f} s more"
    if s.contact_open is not None:
        detail = (detail + " · " if detail else "") + ("door open" if s.contact_open else "door closed")
    health = s.output_health
    output = s.output + " · " + health.status.value + (f": {health.detail}" if health.detail else "")
    if health.pending and "waiting" not in health.detail:
        output += f" ({health.pending} waiting)"
    return TileView(
        name=s.name, state=s.state, detail=detail,
        last_decision=None if last is None else last.decision.value,
        last_reason=None if last is None else last.reason.value,
        last_who=None if last is None else (last.decision.value + " face" if last.person is None
                                            else shown_name(last.person, display)),
        last_direction=direction, last_ts=None if last is None else last.ts,
        cameras=tuple(camera_line(c) for c in s.cameras), output=output, output_ok=health.ok, alarm=s.alarm)


def _not_running(v: TileView) -> TileView:
    """A door's tile after the doors stopped: its last decision only."""
    return TileView(name=v.name, state=None, detail="not running", last_decision=v.last_decision,
                    last_reason=v.last_reason, last_who=v.last_who, last_direction=v.last_direction,
                    last_ts=v.last_ts)


class DoorRunService(QObject):
    """The doors running in this app. status(DoorStatus) for every notice; started(names);
    event_logged(): a door decided (its event is stored); ended(message): the run ended ("" after
    stop, else why: every file ended, an error)."""

    status = Signal(object)
    started = Signal(list)
    event_logged = Signal()
    ended = Signal(str)

    def __init__(self, gate: FaceGate, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.gate = gate
        self.runner: DoorRunner | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, names: Sequence[str] = (), realtime: bool = True) -> list[str]:
        """Run the named doors (all when none is named); the names run. ValueError (readable)
        when there is no door, a door has no camera, or doors run already."""
        if self.running:
            raise ValueError("the doors are running already")
        doors = select_doors(self.gate.doors(), names)
        runner = DoorRunner(self.gate, doors, realtime=realtime, on_event=lambda _ev: self.event_logged.emit())
        runner.subscribe(self.status.emit)  # from the runner's thread: a queued signal
        self.runner = runner
        self._stopping = False
        self._thread = threading.Thread(target=self._run, args=(runner,), name="FaceGateDoors", daemon=True)
        self._thread.start()
        names_run = [d.name for d in doors]
        self.started.emit(names_run)
        return names_run

    def _run(self, runner: DoorRunner) -> None:
        try:
            runner.run()
        except Exception as exc:  # a bad output or contact URI: said on the page, never a traceback
            log.warning("The doors stopped: %s", exc, exc_info=True)
            self.ended.emit(f"The doors stopped: {exc}")
            return
        self.ended.emit("" if self._stopping else "The doors stopped: every camera source ended.")

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop the doors and wait for their loop; True when it ended in time (or none ran)."""
        runner, thread = self.runner, self._thread
        if runner is None or thread is None:
            return True
        self._stopping = True
        runner.stop(timeout)
        thread.join(timeout)
        return not thread.is_alive()


class DoorGridPage(QWidget):
    """Run / stop the doors here, and their tiles. ``states_changed(dict)``: door name -> state in
    words, for the Doors page's State column."""

    states_changed = Signal(dict)

    def __init__(self, ctx: AppContext, realtime: bool = True, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.realtime = realtime
        self.service = DoorRunService(ctx.gate, self)
        self.views: dict[str, TileView] = {}
        self._statuses: dict[str, DoorStatus] = {}  # the last notice of each door (tiles are redrawn from it)
        self._live = False  # tiles follow the runner's notices (not after a stop)

        title = QLabel("All doors")
        title.setProperty("role", "title")
        self.run_btn = QPushButton("Run the doors here")
        self.run_btn.setProperty("primary", True)
        self.run_btn.setToolTip("Run every door's cameras and output in this app (needs the admin PIN)")
        self.stop_btn = QPushButton("Stop the doors")
        self.stop_btn.setEnabled(False)
        self.status = QLabel("The doors are not running in this app.")
        self.status.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(title)
        top.addStretch(1)
        top.addWidget(self.run_btn)
        top.addWidget(self.stop_btn)
        self.grid = DoorGrid()
        scroll = QScrollArea()
        scroll.setWidget(self.grid)
        scroll.setWidgetResizable(True)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.status)
        lay.addWidget(scroll, 1)

        self.run_btn.clicked.connect(lambda: self.run_doors())
        self.stop_btn.clicked.connect(lambda: self.stop_doors())
        self.service.status.connect(self._on_status)
        self.service.ended.connect(self._on_ended)
        self.service.event_logged.connect(ctx.hub.events_changed)
        ctx.hub.settings_changed.connect(self._redraw)

    def run_doors(self, names: Sequence[str] = ()) -> bool:
        """Start the named doors, every door when none is (after the PIN); the Door page's single
        camera is closed meanwhile, so that no camera is opened twice."""
        if not self.ctx.require(Action.RUN_DOORS, "run the doors"):
            return False
        try:
            names = self.service.start(names, realtime=self.realtime)
        except ValueError as exc:
            self.status.setText(f"Not started: {exc}")
            return False
        self.ctx.capture.worker.close_source()
        self._live = True
        self.views, self._statuses = {}, {}
        self.grid.set_views([TileView(name=n, state=None, detail="starting…") for n in names])
        self.run_btn.setEnabled(False)
        self.stop_btn.setEnabled(True)
        self.status.setText(f"Running {len(names)} door{'s' if len(names) != 1 else ''}: {', '.join(names)}. "
                            "The Door page's camera is closed while the doors run (and opened again after).")
        return True

    def stop_doors(self, ask: bool = True) -> bool:
        """Stop the doors (after the PIN when ``ask``); True when they ended."""
        if not self.service.running:
            return True
        if ask and not self.ctx.require(Action.RUN_DOORS, "stop the doors"):
            return False
        self.status.setText("Stopping the doors…")
        ok = self.service.stop()
        self._stopped("The doors were stopped." if ok else "The doors did not stop in time.", reopen=ask)
        return ok

    def _on_status(self, status: DoorStatus) -> None:
        if not self._live:
            return
        self._statuses[status.name] = status
        self.views[status.name] = tile_from_status(status, self.ctx.gate.config.door_screen.display)
        order = [t for t in self.grid.tiles] or list(self.views)
        views = [self.views.get(n) or TileView(name=n, state=None, detail="starting…") for n in order]
        views += [v for n, v in self.views.items() if n not in order]
        self.grid.set_views(views)
        self.states_changed.emit({v.name: STATE_WORDS[v.state] for v in views if v.state is not None})

    def _redraw(self) -> None:
        """The settings changed: the tiles name people as the door screen now does (a more private
        choice hides the names already shown, whether or not the doors still run)."""
        display = self.ctx.gate.config.door_screen.display
        for name, status in self._statuses.items():
            view = tile_from_status(status, display)
            self.views[name] = view if self._live else _not_running(view)
        self.grid.set_views(list(self.views.values()))

    def _on_ended(self, message: str) -> None:
        if message:
            self._stopped(message)

    def _stopped(self, message: str, reopen: bool = True) -> None:
        """Show the run as ended; ``reopen``: give the Door page its camera back (not when closing)."""
        self._live = False
        request = self.ctx.capture.request
        if reopen and request is not None:
            self.ctx.capture.open(request)
        self.run_btn.setEnabled(True)
        self.stop_btn.setEnabled(False)
        self.status.setText(message)
        self.views = {n: _not_running(v) for n, v in self.views.items()}
        self.grid.set_views(list(self.views.values()))
        self.states_changed.emit({})
        self.ctx.hub.events_changed.emit()
