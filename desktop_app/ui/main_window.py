"""The main window: the door view, and behind the admin PIN the people, events, attendance, models
(retrain, roll back) and settings screens and the enrolment wizard; a status bar with fps, latency, execution provider,
camera state and gallery size. Kiosk mode: full screen door view only, no technical figures, left with
``KIOSK_EXIT_KEYS`` (and the admin PIN once one is set). The audit log viewer is behind the PIN too.

Named accounts (issue 12): once the database has accounts, the PIN gives way to a login (account name
and password) and each page and button checks the account's role (``PAGE_ACTIONS`` and the pages'
``ctx.require`` calls; the matrix is ``core.accounts.roles``); the Accounts page manages them. A
database without accounts keeps the PIN, as before, until its first account is created. When the
accounts were altered outside FaceGate, every protected action is refused (fail closed)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QIcon, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSizePolicy,
    QStackedWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.accounts import AccountsMode, Action, Role
from desktop_app.core.accounts.roles import least_role
from desktop_app.core.privacy.retention import RetentionScheduler
from desktop_app.core.service import FaceGate
from desktop_app.core.video.sources import list_cameras

from .accounts_page import AccountsPage
from .audit_page import AuditPage
from .capture import CaptureController, CaptureStats, DoorEvent, LiveFrame, SourceRequest
from .context import AppContext, ChangeHub
from .corrections_page import CorrectionsPage
from .door_grid_page import DoorGridPage
from .door_view import DoorView
from .doors_page import DoorsPage
from .enrol_wizard import EnrolWizard
from .events_page import AttendancePage, EventsPage
from .icon import app_icon, lock_icon
from .jobs import JobRunner
from .login_dialog import FirstAdminDialog, LoginDialog
from .models_page import ModelsPage
from .people_page import PeoplePage
from .pin_dialogs import PinDialog
from .schedules_page import SchedulesPage
from .session import Session
from .settings_page import SettingsPage
from .unknowns_page import UnknownsPage
from .unlock import UnlockBanner

log = logging.getLogger(__name__)

PAGES = ("door", "grid", "people", "unknowns", "doors", "schedules", "events", "attendance", "models", "settings",
         "audit", "accounts", "corrections")
ADMIN_PAGES = frozenset({"people", "unknowns", "doors", "schedules", "events", "attendance", "models", "settings",
                         "audit", "accounts", "corrections"})
"""Pages behind the admin PIN (or a login): events and attendance hold face snapshots and who came when."""
PAGE_ACTIONS: dict[str, Action | None] = {
    "people": Action.VIEW_PEOPLE, "doors": Action.VIEW_DOORS, "schedules": Action.VIEW_DOORS,
    "events": Action.VIEW_EVENTS, "attendance": Action.VIEW_EVENTS, "models": Action.MODELS,
    "settings": Action.SETTINGS, "audit": Action.VIEW_AUDIT, "accounts": Action.ACCOUNTS,
    "unknowns": Action.VIEW_PEOPLE, "corrections": Action.VIEW_EVENTS}
"""What an account's role must allow to open each page behind the login."""
PAGE_TITLES = {"door": "Door", "people": "People", "events": "Events", "attendance": "Attendance",
               "models": "Models", "settings": "Settings", "doors": "Doors", "schedules": "Schedules",
               "grid": "All doors", "audit": "Audit", "accounts": "Accounts", "unknowns": "Unknown faces",
               "corrections": "Corrections"}
KIOSK_EXIT_KEYS = "Ctrl+Shift+Q"
"""The keys that leave kiosk mode (they ask for the admin PIN once one is set)."""
NO_FIGURE = ("— fps", "— ms/frame")


class MainWindow(QMainWindow):
    """FaceGate's window for one ``FaceGate`` (the caller owns and closes it).

    source: what the door camera reads (None: the configured source); kiosk: full-screen door
    view without admin controls; realtime: play video files at their frame rate like a camera
    (False: every frame, as fast as recognition goes). ``page_changed(name)`` after navigation.
    """

    page_changed = Signal(str)

    def __init__(self, gate: FaceGate, source: str | None = None, kiosk: bool = False,
                 realtime: bool = True, start_camera: bool = True) -> None:
        super().__init__()
        self.gate = gate
        self.kiosk = kiosk
        self.realtime = realtime
        self.setWindowTitle("FaceGate")
        self.setWindowIcon(app_icon())
        self.resize(1400, 860)
        self.hub = ChangeHub(self)
        self.jobs = JobRunner(parent=self)
        self.capture = CaptureController(gate, self)
        self.lock = Session(gate)
        self.ctx = AppContext(gate=gate, jobs=self.jobs, capture=self.capture, lock=self.lock,
                              require_admin=self.require_admin, hub=self.hub, require=self.require)
        self.wizard: EnrolWizard | None = None
        self._closed = False

        self.stack = QStackedWidget()
        self.door = DoorView(kiosk=kiosk, display=gate.config.door_screen.display)
        self.hub.settings_changed.connect(lambda: self.door.set_display(self.gate.config.door_screen.display))
        self.retention = RetentionScheduler(gate)  # the app is a door: expired events go at start, then daily
        self.retention.start()
        self.pages: dict[str, QWidget] = {"door": self.door}
        if not kiosk:
            self.people = PeoplePage(self.ctx)
            self.events = EventsPage(self.ctx)
            self.attendance = AttendancePage(self.ctx)
            self.settings = SettingsPage(self.ctx)
            self.models = ModelsPage(self.ctx)
            self.pages.update(people=self.people, events=self.events, attendance=self.attendance,
                              models=self.models, settings=self.settings)
            self.audit = AuditPage(self.ctx)
            self.doors = DoorsPage(self.ctx)
            self.schedules = SchedulesPage(self.ctx)
            self.grid = DoorGridPage(self.ctx, realtime=realtime)
            self.pages.update(doors=self.doors, schedules=self.schedules, grid=self.grid, audit=self.audit)
            self.accounts = AccountsPage(self.ctx)
            self.pages["accounts"] = self.accounts
            self.unknowns = UnknownsPage(self.ctx)
            self.pages["unknowns"] = self.unknowns
            self.corrections = CorrectionsPage(self.ctx)
            self.pages["corrections"] = self.corrections
            self.accounts.session_changed.connect(self._update_lock_action)
            self.grid.states_changed.connect(self.doors.set_states)
            self.people.enrol_requested.connect(lambda name, mode: self.open_enrolment(name, mode))
            self.settings.applied.connect(self._settings_applied)
        for w in self.pages.values():
            self.stack.addWidget(w)
        self.unlock_banner = UnlockBanner(gate)  # shown while the face data is locked (moved data folder)
        self.unlock_banner.unlocked.connect(self._face_data_unlocked)
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.unlock_banner)
        column.addWidget(self.stack, 1)
        self.setCentralWidget(central)
        self.current_page = "door"
        self._build_toolbar()
        self._build_status_bar()

        worker = self.capture.worker
        worker.frame_ready.connect(self._on_frame)
        worker.events_logged.connect(self._on_events)
        worker.state_changed.connect(self._on_state)
        worker.stats_updated.connect(self._on_stats)
        worker.error.connect(lambda msg: self.statusBar().showMessage(msg, 8000))
        worker.pending_changed.connect(self._on_pending)
        self.door.source_requested.connect(self._source_requested)
        self.door.enrol_requested.connect(lambda: self.open_enrolment())
        self.hub.model_changed.connect(self.refresh_status)
        self.hub.people_changed.connect(self._show_enrolled)
        self._show_enrolled()

        self._lock_timer = QTimer(self)
        self._lock_timer.setInterval(1000)
        self._lock_timer.timeout.connect(self.refresh_lock_state)
        self._lock_timer.start()
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)
        if kiosk:
            leave = QShortcut(QKeySequence(KIOSK_EXIT_KEYS), self)
            leave.activated.connect(self._leave_kiosk)
        self.capture.start()
        if start_camera:
            self.start_source(source)

    # ------------------------------------------------------------------ chrome
    def _build_toolbar(self) -> None:
        """The navigation bar, down the left side: 13 pages, Enrol and the lock do not fit across
        a 1,400-pixel window in the app's theme (they needed 1,719 pixels; the last four went
        into Qt's overflow menu), and they fit down a 760-pixel one (548)."""
        self.nav_actions: dict[str, QAction] = {}
        if self.kiosk:
            return
        bar = QToolBar("Navigation")
        bar.setObjectName("navigation")
        bar.setMovable(False)
        bar.setFloatable(False)
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        bar.setIconSize(QSize(16, 16))
        padlock = lock_icon(True, "#b0bec5")
        empty = QPixmap(16, 16)
        empty.fill(Qt.GlobalColor.transparent)
        blank = QIcon(empty)
        group = QActionGroup(self)
        group.setExclusive(True)
        for name in PAGES:
            act = QAction(PAGE_TITLES[name], self, checkable=True)
            if name in ADMIN_PAGES:
                act.setIcon(padlock)
                act.setToolTip(f"{PAGE_TITLES[name]} (needs the admin PIN)")
            else:
                act.setIcon(blank)  # the titles line up with the padlocked ones
            act.triggered.connect(lambda _=False, n=name: self.navigate(n))
            group.addAction(act)
            bar.addAction(act)
            self.nav_actions[name] = act
            if name == "door":
                act.setChecked(True)
                enrol = QAction(padlock, "Enrol…", self)
                enrol.setToolTip("Enrol a person (needs the admin PIN)")
                enrol.triggered.connect(lambda: self.open_enrolment())
                bar.addAction(enrol)
                self.enrol_action = enrol
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
        bar.addWidget(spacer)  # the lock at the bottom
        self.lock_action = QAction(lock_icon(True), "Locked", self)
        self.lock_action.triggered.connect(self._toggle_lock)
        bar.addAction(self.lock_action)
        self.addToolBar(Qt.ToolBarArea.LeftToolBarArea, bar)
        for action in bar.actions():  # one column of equal buttons
            button = bar.widgetForAction(action)
            if button is not None and button is not spacer:
                button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.toolbar = bar

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.camera_state = "idle"
        self.fps_label = QLabel(NO_FIGURE[0])
        self.latency_label = QLabel(NO_FIGURE[1])
        self.provider_label = QLabel(f"Provider: {self.gate.provider}")
        self.camera_label = QLabel("Camera: —")
        stats = self.gate.gallery_stats()
        self.gallery_label = QLabel(self._gallery_text(stats.templates, stats.persons))
        self.pending_label = QLabel("")  # shown while events wait for the database (locked, disk full)
        self.pending_label.setProperty("role", "warning")
        self.pending_label.hide()
        warnings = self.gate.storage_warnings  # an empty or damaged database, quarantined rows, read-only
        self.storage_label = QLabel(f"⚠ Data: {len(warnings)} warning{'s' if len(warnings) != 1 else ''}")
        self.storage_label.setProperty("role", "warning")
        self.storage_label.setToolTip("\n".join(warnings) + "\n\nAn administrator can check and repair the data "
                                      "with: facegate doctor --db <database> --repair")
        self.storage_label.setVisible(bool(warnings))
        for w in (self.storage_label, self.pending_label, self.camera_label, self.fps_label, self.latency_label,
                  self.provider_label, self.gallery_label):
            sb.addPermanentWidget(w)
        if self.kiosk:  # a public screen: no technical figures, and a discreet way out for the staff
            for w in (self.fps_label, self.latency_label, self.provider_label, self.gallery_label):
                w.hide()
            self.kiosk_hint = QLabel(f"Staff: {KIOSK_EXIT_KEYS} leaves kiosk mode")
            self.kiosk_hint.setProperty("role", "hint")
            sb.addWidget(self.kiosk_hint)

    def refresh_status(self) -> None:
        """Show the gate's execution provider and gallery size now (after a model change)."""
        self.provider_label.setText(f"Provider: {self.gate.provider}")
        stats = self.gate.gallery_stats()
        self.gallery_label.setText(self._gallery_text(stats.templates, stats.persons))

    def _face_data_unlocked(self) -> None:
        """The face data was unlocked (UnlockBanner): the gallery is loaded; pages follow."""
        self.hub.people_changed.emit()
        self.hub.model_changed.emit()
        self.statusBar().showMessage("Face data unlocked: a machine key of this computer now opens it.", 8000)

    def _show_enrolled(self) -> None:
        """The door's call to enrol while nobody is in the gallery."""
        self.door.set_enrolled(self.gate.gallery_stats().persons)

    @staticmethod
    def _gallery_text(templates: int, persons: int) -> str:
        return (f"Gallery: {persons} {'person' if persons == 1 else 'people'} · "
                f"{templates} {'shot' if templates == 1 else 'shots'}")

    def _update_lock_action(self) -> None:
        if not self.kiosk:
            unlocked = self.lock.unlocked
            account = self.lock.account if unlocked else None
            # two short lines: the navigation bar keeps its width whatever the account's name
            who = (account.name if len(account.name) <= 18 else account.name[:17] + "…") if account else ""
            text = (f"{who} ({account.role.value})\nclick to log out" if account is not None else
                    "Admin\nclick to lock" if unlocked else "Locked")
            self.lock_action.setText(text)
            self.lock_action.setToolTip(
                f"Logged in as {account.name} ({account.role.value}): click to log out" if account is not None
                else "Admin pages unlocked: click to lock" if unlocked else "Click to unlock the admin pages")
            self.lock_action.setIcon(lock_icon(not unlocked, "#a5d6a7" if unlocked else "white"))
            for name, action in PAGE_ACTIONS.items():  # a logged-in role sees what it may open
                nav = self.nav_actions.get(name)
                if nav is not None:
                    nav.setEnabled(account is None or action is None or account.may(action))

    # ------------------------------------------------------------------ admin
    def require_admin(self, action: str = "continue") -> bool:
        """True when an admin may go on (the PIN, or an admin account), asking when needed."""
        return self.require(None, action)

    def require(self, action: Action | None, words: str = "continue") -> bool:
        """True when the person at the keyboard may do ``action`` (None: what an admin may), asking
        for the PIN on a database without accounts (to create the first admin account on a new
        one), else to log in; a role that may not is told so. Accounts altered outside FaceGate:
        refused (fail closed), with the way out."""
        if self.kiosk and action != Action.LEAVE_KIOSK:
            return False
        state = self.gate.accounts_state()
        if state.mode == AccountsMode.TAMPERED:
            self.lock.lock()
            self._update_lock_action()
            QMessageBox.critical(self, "Accounts altered", state.summary())
            return False
        if state.mode == AccountsMode.OPEN:
            ok = self._require_pin(words)
        elif self.lock.unlocked and self.lock.account is not None:
            self.lock.touch()
            ok = True
        else:
            self.lock.lock()  # a PIN session from before the first account ends here
            dialog = LoginDialog(self.lock, words, self)
            ok = dialog.exec() == LoginDialog.DialogCode.Accepted and self.lock.unlocked
            dialog.deleteLater()  # one dialog per question: none piles up under the window
        if ok and not self.lock.allows(action):
            account = self.lock.account
            if account is not None:
                need = "an admin" if action is None or least_role(action) == Role.ADMIN else "an operator or admin"
                QMessageBox.information(self, "Not allowed", f"The account {account.name!r} ({account.role.value}) "
                                        f"may not {words}: that needs {need} account.")
            ok = False
        self._update_lock_action()
        return ok

    def _require_pin(self, words: str) -> bool:
        """The legacy PIN (a database without accounts); a new database creates its admin account."""
        if self.lock.unlocked:
            self.lock.touch()
            return True
        if self.lock.has_pin:
            dialog: PinDialog | FirstAdminDialog = PinDialog(self.lock.pin, words, self)
        else:
            dialog = FirstAdminDialog(self.lock, self)
        dialog.exec()
        dialog.deleteLater()  # one dialog per question: none piles up under the window
        return self.lock.unlocked

    def _toggle_lock(self) -> None:
        if self.lock.unlocked:
            self.lock.lock()
            if self.current_page in ADMIN_PAGES:
                self.navigate("door")
        else:
            self.require(Action.VIEW_DOORS, "unlock the admin screens")  # any role may log in
        self._update_lock_action()

    def refresh_lock_state(self) -> None:
        """Leave an admin page once the lock closed (idle timeout) and show the lock state."""
        if not self.lock.unlocked and self.current_page in ADMIN_PAGES:
            self.navigate("door")
        self._update_lock_action()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in (QEvent.Type.KeyPress, QEvent.Type.MouseButtonPress):
            self.lock.touch()
        return False

    # ------------------------------------------------------------------ navigation
    def navigate(self, name: str) -> bool:
        """Show page ``name``; admin pages ask for the PIN first. True when shown."""
        if name not in self.pages:
            return False
        if name in ADMIN_PAGES and not self.require(PAGE_ACTIONS.get(name), f"open {PAGE_TITLES[name]}"):
            self._check_nav(self.current_page)
            return False
        self.stack.setCurrentWidget(self.pages[name])
        self.current_page = name
        self._check_nav(name)
        self.page_changed.emit(name)
        return True

    def _check_nav(self, name: str) -> None:
        act = self.nav_actions.get(name)
        if act is not None:
            act.setChecked(True)

    def open_enrolment(self, name: str = "", mode: str = "camera") -> EnrolWizard | None:
        """The enrolment wizard (after the PIN), prefilled with ``name`` when adding shots."""
        if not self.require(Action.ENROL, "enrol people"):
            return None
        if self.wizard is not None and self.wizard.isVisible():
            self.wizard.raise_()
            return self.wizard
        named = self.gate.find_people(name) if name else []  # a shared name: the person selected on the people page
        selected = getattr(getattr(self, "people", None), "person", None)
        person = next((p for p in named if selected is not None and p.id == selected.id),
                      named[0] if len(named) == 1 else None)
        self.wizard = EnrolWizard(self.ctx, self, name=name, mode=mode,
                                  employee_id=person.employee_id if person else None,
                                  department=person.department if person else None)
        self.wizard.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.wizard.destroyed.connect(lambda: setattr(self, "wizard", None))
        self.wizard.show()
        return self.wizard

    # ------------------------------------------------------------------ camera
    def start_source(self, source: str | None = None) -> None:
        """Open ``source`` (None: the configured one) on the door camera; with no webcam, say so."""
        cfg = self.gate.config.camera
        spec = (source if source is not None else cfg.source).strip()
        if spec.isdigit() and int(spec) not in list_cameras(max(int(spec) + 1, 5)):
            self.door.show_no_camera()
            self.camera_label.setText("Camera: none found")
            self.door.set_source_label(f"Camera {spec} not found")
            if source is None:  # the door's own camera: keep trying (retries for ever) until it is plugged in
                self.capture.open(SourceRequest(spec, realtime=self.realtime, width=cfg.width, height=cfg.height))
            return
        self.open_request(SourceRequest(spec, realtime=self.realtime, width=cfg.width, height=cfg.height))

    def open_request(self, request: SourceRequest) -> None:
        spec = request.spec
        self.door.set_source_label(f"Source: {'camera ' + spec if spec.isdigit() else Path(spec).name or spec}")
        self.capture.open(request)

    def _source_requested(self, kind: str) -> None:
        if kind == "replay" and self.capture.request is not None:
            self.capture.open(self.capture.request)
            return
        if not self.require(Action.SETTINGS, "change the camera"):
            return
        spec: str | None = None
        if kind == "file":
            path, _ = QFileDialog.getOpenFileName(self, "Play a video file as the camera", str(Path.home()),
                                                  "Videos (*.mp4 *.avi *.mkv *.mov *.webm);;All files (*)")
            spec = path or None
        elif kind == "url":
            text, ok = QInputDialog.getText(self, "Network camera",
                                            "Stream address (rtsp://, http://…):")
            spec = text.strip() if ok and text.strip() else None
        elif kind == "camera":
            cams = list_cameras()
            if not cams:
                QMessageBox.information(self, "No camera", "No camera was found on this computer. Connect one, "
                                        "or use a video file or a network camera.")
                return
            spec = str(cams[0])
        if spec:
            if kind == "file":  # played once: the configured camera stays for the next start
                self.start_source(spec)
                self.door.set_source_label(f"Playing {Path(spec).name} (this time only; the configured "
                                           "camera is unchanged)")
                return
            self._save_source(spec)
            self.start_source(spec)

    def _save_source(self, spec: str) -> None:
        cfg = self.gate.config
        try:
            self.gate.update_config(cfg.model_copy(update={"camera": cfg.camera.model_copy(update={"source": spec})}),
                                    actor=self.ctx.actor)
        except Exception as exc:
            log.warning("Could not save the source: %s", exc)

    def _settings_applied(self, camera_changed: bool) -> None:
        if camera_changed:
            self.start_source(None)

    # ------------------------------------------------------------------ worker signals
    def _on_frame(self, frame: LiveFrame) -> None:
        try:
            self.door.show_frame(frame)
        finally:
            self.capture.worker.frame_consumed()

    def _on_events(self, events: Sequence[DoorEvent]) -> None:
        self.door.add_events(events)
        self.hub.events_changed.emit()

    def _on_state(self, state: str, message: str) -> None:
        self.door.set_state(state, message)
        self.camera_state = state
        if state != "live":  # no frames flow: the last source's figures would be stale
            self.fps_label.setText(NO_FIGURE[0])
            self.latency_label.setText(NO_FIGURE[1])
        names = {"live": "live", "connecting": "connecting…", "reconnecting": "reconnecting…",
                 "ended": "video ended", "failed": "no picture", "closed": "closed", "stopped": "stopped"}
        self.camera_label.setText(f"Camera: {names.get(state, state)}")
        if state in ("failed", "reconnecting") and message:
            self.camera_label.setToolTip(message)

    def _on_pending(self, n: int) -> None:
        self.pending_label.setText(f"Events pending: {n}")
        self.pending_label.setToolTip("Decided events the database cannot take yet (locked by another program, or "
                                      "the disk is full); they are kept beside it and written in order.")
        self.pending_label.setVisible(n > 0)

    def _on_stats(self, s: CaptureStats) -> None:
        if self.camera_state == "live":
            self.fps_label.setText(f"{s.fps:.1f} fps")
            self.latency_label.setText(f"{s.latency_ms:.0f} ms/frame")
        self.door.set_enrolled(s.gallery_persons)
        self.provider_label.setText(f"Provider: {s.provider}")
        self.gallery_label.setText(self._gallery_text(s.gallery_templates, s.gallery_persons))

    # ------------------------------------------------------------------ closing
    def _leave_kiosk(self) -> None:
        if self.gate.accounts_state().mode != AccountsMode.OPEN:
            if not self.require(Action.LEAVE_KIOSK, "leave kiosk mode"):
                return
        elif self.lock.has_pin:
            dialog = PinDialog(self.lock.pin, "leave kiosk mode", self)
            accepted = dialog.exec() == PinDialog.DialogCode.Accepted
            dialog.deleteLater()
            if not accepted:
                return
        self.close()

    def shutdown(self) -> None:
        """Stop the camera thread and the jobs (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._lock_timer.stop()
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)
        if self.wizard is not None:
            self.wizard.close()
        if not self.kiosk:
            self.grid.stop_doors(ask=False)
        self.capture.shutdown()
        self.jobs.shutdown()
        self.retention.stop()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)
