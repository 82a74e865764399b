"""Colours and the application style sheet (one place, so every window looks the same)."""

from __future__ import annotations

GRANTED = "#2e7d32"
"""Green of ACCESS GRANTED and recognised faces."""
UNKNOWN = "#f9a825"
"""Amber of unknown faces."""
DENIED = "#c62828"
"""Red of denied decisions."""
WAITING = "#37474f"
"""Slate of the idle decision panel."""
TOO_SMALL = "#90a4ae"
"""Grey of faces too small to recognise."""
MATCH = "#9ccc65"
"""Light green of a face that votes for a person before the decision is made."""
ACCENT = "#1565c0"
CHECKING = "#29b6f6"
"""Light blue of a face whose liveness check has not decided yet (the door waits)."""
SPOOF = "#6a1b9a"
"""Purple of a face (and a decision) the liveness check judged a photo, a screen or a cut-out."""

DECISION_COLOURS: dict[str, str] = {"granted": GRANTED, "unknown": UNKNOWN, "denied": DENIED, "ambiguous": UNKNOWN,
                                    "spoof": SPOOF}
DECISION_LABELS: dict[str, str] = {"granted": "ACCESS GRANTED", "unknown": "UNKNOWN", "denied": "DENIED",
                                   "ambiguous": "NOT SURE WHO", "spoof": "SPOOF SUSPECTED"}

FACE_LEGEND: tuple[tuple[str, str, str], ...] = (
    (GRANTED, "Granted", "Recognised as an enrolled, active person: access granted."),
    (MATCH, "Deciding…", "Looks like an enrolled person: a few more frames must agree before the door decides."),
    (UNKNOWN, "Not recognised", "A face that matches nobody enrolled."),
    (DENIED, "Denied", "Recognised as a person whose access is switched off."),
    (TOO_SMALL, "Face not usable", "Still deciding: the face is turned away, blurred or too far (dashed) to be "
                                  "recognised. Look at the camera and come closer."),
    (CHECKING, "Checking…", "Liveness: the door checks that the face is a live person, not a photo or a screen "
                           "(keep looking at the camera, or do what the box asks)."),
    (SPOOF, "Spoof suspected", "Liveness: the face looks like a photo, a screen or a cut-out: not let in."),
)
"""The colours of the face boxes on the door view: (colour, short label, explanation), in legend order."""

STYLE_SHEET = f"""
QMainWindow, QDialog {{ background: #fafafa; }}
QToolBar {{ background: #263238; spacing: 4px; padding: 4px; border: none; }}
QToolBar QToolButton {{ color: white; padding: 6px 12px; border-radius: 4px; font-size: 14px; }}
QToolBar#navigation QToolButton {{ min-width: 132px; }}
QToolBar QToolButton:checked {{ background: {ACCENT}; }}
QToolBar QToolButton:hover {{ background: #37474f; }}
QStatusBar {{ background: #eceff1; }}
QStatusBar QLabel {{ padding: 0 8px; }}
QPushButton {{ padding: 6px 14px; }}
QPushButton[primary="true"] {{ background: {ACCENT}; color: white; border-radius: 4px; border: none; }}
QPushButton[primary="true"]:disabled {{ background: #90a4ae; }}
QPushButton[danger="true"] {{ background: {DENIED}; color: white; border-radius: 4px; border: none; }}
QLabel[role="title"] {{ font-size: 20px; font-weight: bold; }}
QLabel[role="hint"] {{ color: #546e7a; }}
QLabel[role="warning"] {{ color: #8d6e00; background: #fff8e1; border: 1px solid {UNKNOWN};
                         border-radius: 4px; padding: 6px; }}
QLabel[role="error"] {{ color: {DENIED}; }}
QFrame[role="card"] {{ background: white; border: 1px solid #cfd8dc; border-radius: 6px; }}
QFrame[role="callout"] {{ background: #e3f2fd; border: 1px solid {ACCENT}; border-radius: 6px; }}
QLabel[role="legend"] {{ color: #546e7a; font-size: 12px; }}
"""
