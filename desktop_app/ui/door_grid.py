"""The door grid: one tile per door with its state (locked, unlocked, out of service: coloured
and written, never colour alone), what its lock does, its last decision with the reason, and the
health of its cameras and output.

The tiles show :class:`TileView` snapshots, a plain record the page builds from the door
runtime's status (see :func:`tile_from_status`), so that the widgets do not depend on how the
runtime keeps its state."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QVBoxLayout, QWidget

from desktop_app.core.vocabulary import DoorState

from . import theme

STATE_LOOK: dict[DoorState, tuple[str, str]] = {
    DoorState.LOCKED: ("LOCKED", theme.WAITING),
    DoorState.UNLOCKED: ("UNLOCKED", theme.GRANTED),
    DoorState.OUT_OF_SERVICE: ("⚠ OUT OF SERVICE", theme.DENIED),
}
"""Each door state's badge: (text, background colour)."""
NOT_RUNNING = ("NOT RUNNING", "#78909c")
TILE_WIDTH = 400
LINE_CHARS = 110
"""Longer camera and output lines are cut (the whole line is the tooltip)."""


def _cut(text: str, limit: int = LINE_CHARS) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass(frozen=True)
class CameraLine:
    """One camera of a door as its tile shows it. ok: it gives pictures now; text: its state in
    words ("live, 12.4 fps", "reconnecting in 4 s (attempt 3)")."""

    name: str
    direction: str
    ok: bool
    text: str


@dataclass(frozen=True)
class TileView:
    """What one door tile shows. state: None while the door is not running here; detail: one line
    on the state (why out of service, what the lock does); last_*: the last decision (None: none
    yet), its reason, who, which way, when; output: the output's health in words, output_ok."""

    name: str
    state: DoorState | None
    detail: str = ""
    last_decision: str | None = None
    last_reason: str | None = None
    last_who: str | None = None
    last_direction: str | None = None
    last_ts: datetime | None = None
    cameras: tuple[CameraLine, ...] = field(default_factory=tuple)
    output: str = ""
    output_ok: bool = True
    alarm: str | None = None


def last_decision_text(v: TileView) -> str:
    """``"Granted · Lin-Manuel Miranda · in · 14:03:12"`` then ``"reason: granted"``; "No decision yet"."""
    if v.last_decision is None:
        return "No decision yet"
    parts = [v.last_decision.capitalize()]
    if v.last_who:
        parts.append(v.last_who)
    if v.last_direction:
        parts.append(v.last_direction)
    if v.last_ts is not None:
        parts.append(f"{v.last_ts.astimezone():%H:%M:%S}")
    text = " · ".join(parts)
    return text + (f"\nreason: {v.last_reason}" if v.last_reason else "")


class DoorTile(QFrame):
    """One door's card."""

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setProperty("role", "card")
        self.setFixedWidth(TILE_WIDTH)
        self.name = QLabel(name)
        self.name.setProperty("role", "title")
        self.badge = QLabel()
        self.badge.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.detail = QLabel()
        self.detail.setWordWrap(True)
        self.detail.setProperty("role", "hint")
        self.alarm = QLabel()
        self.alarm.setProperty("role", "warning")
        self.alarm.setWordWrap(True)
        self.last = QLabel()
        self.last.setWordWrap(True)
        self.cameras = QLabel()
        self.cameras.setWordWrap(True)
        self.cameras.setTextFormat(Qt.TextFormat.RichText)
        self.output = QLabel()
        self.output.setWordWrap(True)
        lay = QVBoxLayout(self)
        for w in (self.name, self.badge, self.detail, self.alarm, self.last, self.cameras, self.output):
            lay.addWidget(w)

    def show_view(self, v: TileView) -> None:
        text, colour = STATE_LOOK[v.state] if v.state is not None else NOT_RUNNING
        self.badge.setText(text)
        self.badge.setStyleSheet(f"background: {colour}; color: white; font-size: 18px; font-weight: bold; "
                                 "border-radius: 4px; padding: 6px;")
        self.badge.setAccessibleName(f"{v.name}: {text}")
        # "locked (fail-secure): <why>": the why is on the camera and output lines below
        self.detail.setText(v.detail.split(": ", 1)[0])
        self.detail.setToolTip(v.detail)
        self.detail.setVisible(bool(v.detail))
        self.alarm.setText(f"⚠ {v.alarm}" if v.alarm else "")
        self.alarm.setVisible(bool(v.alarm))
        self.last.setText("Last decision: " + last_decision_text(v))
        colour_of = theme.DECISION_COLOURS.get(v.last_decision or "", "#37474f")
        self.last.setStyleSheet(f"color: {colour_of};")
        lines, tips = [], []
        for cam in v.cameras:
            dot = theme.GRANTED if cam.ok else theme.DENIED
            mark = "✓" if cam.ok else "✗"
            line = f"{cam.name} ({cam.direction}): {cam.text}"
            lines.append(f"<span style='color:{dot}'>{mark}</span> {_html(_cut(line))}")
            tips.append(f"{mark} {line}")
        self.cameras.setText("Cameras:<br>" + "<br>".join(lines) if lines else "Cameras: none")
        self.cameras.setToolTip("\n".join(tips))
        if v.output:
            self.output.setText(_cut(f"Output: {'✓' if v.output_ok else '✗'} {v.output}"))
            self.output.setToolTip(v.output)
        self.output.setVisible(bool(v.output))


class DoorGrid(QWidget):
    """Tiles of every door, ``columns`` to a row."""

    def __init__(self, columns: int = 3, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.columns = columns
        self.tiles: dict[str, DoorTile] = {}
        self.grid = QGridLayout(self)
        self.grid.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.empty = QLabel("No door runs here. Doors are set up on the Doors page and run with "
                            "facegate run --db DB --headless, or in this app.")
        self.empty.setProperty("role", "hint")
        self.empty.setWordWrap(True)
        self.grid.addWidget(self.empty, 0, 0)

    def set_views(self, views: Sequence[TileView]) -> None:
        """Show ``views`` (one per door, in order); tiles of doors no longer listed go."""
        names = [v.name for v in views]
        for name in list(self.tiles):
            if name not in names:
                tile = self.tiles.pop(name)
                self.grid.removeWidget(tile)
                tile.deleteLater()
        for i, v in enumerate(views):
            tile = self.tiles.get(v.name) or DoorTile(v.name)
            self.tiles[v.name] = tile
            self.grid.addWidget(tile, i // self.columns, i % self.columns)
            tile.show_view(v)
        self.empty.setVisible(not views)
        rows = (len(views) + self.columns - 1) // self.columns
        for r in range(rows + 1):  # the tiles keep their height; the room left goes below them
            self.grid.setRowStretch(r, 1 if r == rows else 0)
