"""What the app shows of each door and camera while doors run: frozen snapshots that cross threads.

Read them from a :class:`~desktop_app.core.doors.runner.DoorRunner`: ``runner.snapshot()`` at any
time from any thread, or ``runner.subscribe(listener)`` to have ``listener(DoorStatus)`` called
from the runner's thread whenever a door changes (state, decision, fault, alarm) and about once a
second for the camera figures (a Qt caller forwards it with a signal).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from desktop_app.core.outputs.base import OutputHealth
from desktop_app.core.vocabulary import AccessReason, Decision, Direction, DoorState, FailMode, SourceState


@dataclass(frozen=True)
class CameraStatus:
    """One camera of a door. name: as written on its events; source: what it reads (a URL's
    password left out); state/message: its reader's state and why (live, reconnecting: camera
    lost..., ended, failed); fps: frames processed per second over the last few seconds; frames:
    frames processed since the start; dropped: frames the camera gave that were replaced by a newer
    one before they could be processed (a busy machine); last_frame_at: aware UTC, None before the
    first frame."""

    name: str
    door: str
    direction: Direction
    source: str
    state: SourceState
    message: str
    fps: float
    frames: int
    dropped: int
    last_frame_at: datetime | None

    @property
    def lost(self) -> bool:
        """True while the camera gives no picture because of a fault (reconnecting, failed)."""
        return self.state in (SourceState.RECONNECTING, SourceState.FAILED)


@dataclass(frozen=True)
class LastDecision:
    """A door's last decision: decision, reason (with "granted", "anti-passback" means flagged),
    person (None for unknown and ambiguous faces), camera, ts (aware UTC)."""

    decision: Decision
    reason: AccessReason
    person: str | None
    camera: str
    ts: datetime


@dataclass(frozen=True)
class DoorStatus:
    """One door now. state: locked, unlocked, out of service; detail: why out of service and what
    the lock does ("locked (fail-secure): output down: ...", "released (fail-safe): ..."), "" when
    in service; fail_mode; output: the output URI (password left out); output_health: its status,
    detail and messages waiting; cameras: each camera's status; last_decision: None before the
    first; unlocked_for_s: seconds the door stays unlocked (0 when locked); contact_open: the door
    leaf (None without a contact sensor, or nothing heard yet); alarm: "door forced" or "held
    open" while it lasts, else None; ts: when this status was taken (aware UTC)."""

    name: str
    state: DoorState
    detail: str
    fail_mode: FailMode
    output: str
    output_health: OutputHealth
    cameras: tuple[CameraStatus, ...]
    last_decision: LastDecision | None
    unlocked_for_s: float
    contact_open: bool | None
    alarm: str | None
    ts: datetime
