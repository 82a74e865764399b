"""A schedule in words and as a week chart: the windows of each weekday, consecutive days with the
same hours written once ("Mon–Fri 08:00–18:00"), and a 7 × 24 h bar chart with the same hours
written beside each bar (never colour alone)."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from desktop_app.core.access.schedule import DAY_NAMES, TimeWindow

from . import theme

DAYS = tuple(d.title() for d in DAY_NAMES)
CLOSED = "closed"


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def day_ranges(windows: Sequence[TimeWindow]) -> list[str]:
    """Per weekday (Mon first) the text of its windows, e.g. ``"08:00–12:30, 13:30–18:00"``, or
    ``"closed"``."""
    out: list[str] = []
    for day in range(7):
        spans = [f"{_hhmm(w.start_min)}–{_hhmm(w.end_min)}" for w in sorted(windows) if w.day == day]
        out.append(", ".join(spans) if spans else CLOSED)
    return out


def describe_windows(windows: Sequence[TimeWindow]) -> list[str]:
    """Readable lines, consecutive days with the same hours merged: ``["Mon–Fri 08:00–18:00",
    "Sat–Sun closed"]``; ``["Every day, all day"]`` for a schedule that always allows."""
    per_day = day_ranges(windows)
    if all(r == "00:00–24:00" for r in per_day):
        return ["Every day, all day"]
    lines: list[str] = []
    start = 0
    for day in range(1, 8):
        if day == 7 or per_day[day] != per_day[start]:
            days = DAYS[start] if day - 1 == start else f"{DAYS[start]}–{DAYS[day - 1]}"
            hours = "all day" if per_day[start] == "00:00–24:00" else per_day[start]
            lines.append(f"{days} {hours}")
            start = day
    return lines


class WeekChart(QWidget):
    """Seven rows (Mon…Sun), a 0–24 h axis, the allowed windows as bars, their hours as text."""

    ROW = 18
    LABEL_W = 40
    TEXT_W = 190

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.windows: tuple[TimeWindow, ...] = ()
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMinimumHeight(self.sizeHint().height())

    def sizeHint(self) -> QSize:
        return QSize(480, self.ROW * 7 + 22)

    def set_windows(self, windows: Sequence[TimeWindow]) -> None:
        self.windows = tuple(windows)
        self.setToolTip("\n".join(describe_windows(self.windows)) if self.windows else "")
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        left = self.LABEL_W
        width = max(60, self.width() - left - self.TEXT_W - 8)
        per_min = width / (24 * 60)
        axis = QColor("#b0bec5")
        texts = day_ranges(self.windows)
        for day in range(7):
            y = day * self.ROW
            p.setPen(QColor("#37474f"))
            right = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            p.drawText(QRectF(0, y, left - 6, self.ROW), right, DAYS[day])
            p.fillRect(QRectF(left, y + 3, width, self.ROW - 6), QColor("#eceff1"))
            for w in self.windows:
                if w.day == day:
                    p.fillRect(QRectF(left + w.start_min * per_min, y + 3, (w.end_min - w.start_min) * per_min,
                                      self.ROW - 6), QColor(theme.GRANTED))
            p.setPen(QColor("#546e7a"))
            p.drawText(QRectF(left + width + 8, y, self.TEXT_W, self.ROW),
                       int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), texts[day])
        p.setPen(QPen(axis))
        y0 = 7 * self.ROW
        for hour in (0, 6, 12, 18, 24):
            x = left + hour * 60 * per_min
            p.drawLine(int(x), 0, int(x), y0)
            p.drawText(QRectF(x - 20, y0 + 2, 40, 16), int(Qt.AlignmentFlag.AlignCenter), f"{hour:02d}h")
        p.end()
