"""``run_app``: the desktop app's entry point. A splash screen shows while the face models load in
a pool thread (about a second); then the main window opens. Returns the process exit code."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QRectF, Qt, QThreadPool, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPixmap
from PySide6.QtWidgets import QApplication, QMessageBox, QSplashScreen

from desktop_app.core.progress import CancelFn, ProgressFn
from desktop_app.core.service import FaceGate

from . import theme
from .icon import app_icon, paint_icon
from .jobs import Job
from .main_window import MainWindow

if TYPE_CHECKING:
    from desktop_app.core.central.applink import CentralLink

log = logging.getLogger(__name__)


def splash_pixmap(message: str = "Loading face models…") -> QPixmap:
    """The splash picture: icon, name, and a line of text (480 x 270)."""
    pix = QPixmap(480, 270)
    pix.fill(QColor("#263238"))
    p = QPainter(pix)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.drawPixmap(40, 75, paint_icon(120))
    font = QFont()
    font.setPixelSize(40)
    font.setBold(True)
    p.setFont(font)
    p.setPen(QColor("white"))
    p.drawText(QRectF(180, 80, 290, 60), Qt.AlignmentFlag.AlignVCenter, "FaceGate")
    font.setPixelSize(15)
    font.setBold(False)
    p.setFont(font)
    p.setPen(QColor("#b0bec5"))
    p.drawText(QRectF(182, 140, 290, 50), Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap,
               "Face recognition door access and attendance")
    p.drawText(QRectF(40, 225, 400, 30), Qt.AlignmentFlag.AlignVCenter, message)
    p.end()
    return pix


class GateLoader(QObject):
    """Builds the ``FaceGate`` in the global thread pool; ``loaded(gate)`` or ``failed(message)``."""

    loaded = Signal(object)
    failed = Signal(str)

    def __init__(self, db: Path, central: CentralLink | None = None) -> None:
        super().__init__()
        self.db = db
        self.central = central
        self.job: Job | None = None

    def start(self) -> None:
        db, central = self.db, self.central

        def work(progress: ProgressFn, cancelled: CancelFn) -> FaceGate:
            gate = central.open_gate() if central is not None else FaceGate(db, allow_locked=True)
            # central: the site's admin cache, pulled from the server first; else a locked store opens
            # (the window offers to unlock it)
            try:
                gate.load_engine()  # here, off the GUI thread (FaceGate builds it on first use otherwise)
            except BaseException:
                gate.close()
                raise
            return gate

        self.job = Job(work, "load models")
        self.job.signals.succeeded.connect(self.loaded)
        self.job.signals.failed.connect(lambda msg, _exc: self.failed.emit(msg))
        QThreadPool.globalInstance().start(self.job)


def run_app(db: Path, source: str | None = None, kiosk: bool = False, central: CentralLink | None = None) -> int:
    """Open FaceGate's window on database ``db`` (created when missing) reading ``source`` (camera
    index, video file, folder or URL; None: the configured one); ``kiosk``: full screen door view
    without admin controls; central: work on the central roster (``gui --central DSN``: the site's
    admin cache, pulled at start, changes published in the background). Blocks until the window is
    closed; returns 0, or 1 when it could not start."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("FaceGate")
    app.setApplicationDisplayName("FaceGate")
    app.setOrganizationName("FaceGate")
    app.setWindowIcon(app_icon())
    app.setStyleSheet(theme.STYLE_SHEET)
    previous_quit = app.quitOnLastWindowClosed()
    app.setQuitOnLastWindowClosed(False)  # the splash closing must not end the app

    splash = QSplashScreen(splash_pixmap() if central is None else
                           splash_pixmap(f"Pulling the roster from {central.server}…"))
    splash.show()
    state: dict[str, object] = {"code": 0}
    loader = GateLoader(Path(db), central)

    def on_loaded(gate: FaceGate) -> None:
        state["gate"] = gate
        try:
            win = MainWindow(gate, source=source, kiosk=kiosk)
        except Exception as exc:
            log.exception("The window could not open")
            on_failed(str(exc))
            return
        state["window"] = win
        if central is not None:
            from .central_bar import attach_central

            state["central"] = attach_central(win, win.hub, central, gate)
        win.destroyed.connect(app.quit)
        win.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        if kiosk:
            screen = app.primaryScreen()
            if screen is not None:
                win.setGeometry(screen.geometry())
            win.showFullScreen()
        else:
            win.show()
        splash.finish(win)

    def on_failed(message: str) -> None:
        splash.close()
        state["code"] = 1
        where = f"Database: {db}" if central is None else f"Central server: {central.server}"
        QMessageBox.critical(None, "FaceGate cannot start",
                             f"FaceGate could not open its database or models:\n\n{message}\n\n{where}")
        app.quit()

    loader.loaded.connect(on_loaded)
    loader.failed.connect(on_failed)
    loader.start()
    try:
        app.exec()
    finally:
        app.setQuitOnLastWindowClosed(previous_quit)
        win = state.get("window")
        if isinstance(win, MainWindow):
            win.shutdown()
        link = state.get("central")
        if link is not None:
            link.stop()  # type: ignore[attr-defined]  # after its round in progress: then the gate closes
        if loader.job is not None:
            loader.job.wait(30.0)
        gate = state.get("gate")
        if isinstance(gate, FaceGate):
            gate.close()
    code = state["code"]
    return code if isinstance(code, int) else 1
