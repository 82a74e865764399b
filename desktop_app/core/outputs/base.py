"""The one interface every door output driver implements, and the messages it carries.

A driver never blocks the caller and never raises from :meth:`DoorOutput.send`: it queues the
message and delivers it from its own thread, with timeouts, retries where a retry is safe, and a
:class:`OutputHealth` that says plainly what is wrong. The door runtime reads ``health()`` to show
the fault and to apply the door's fail mode.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum, unique

from desktop_app.core.vocabulary import DoorState


@unique
class MessageKind(StrEnum):
    """What a message asks of the output."""

    OPEN = "open"
    """Release the lock for ``unlock_seconds`` (a grant, or a remote open), then lock again."""
    HOLD = "hold"
    """Release the lock until told otherwise (fail-safe door out of service)."""
    LOCK = "lock"
    """Lock now (end of a hold)."""
    DENY = "deny"
    """A refused attempt (no lock action; controllers may beep or show red)."""
    STATE = "state"
    """The door's state changed (locked, unlocked, out of service); MQTT keeps it retained."""
    ALERT = "alert"
    """A notice for people: unknown face, denied attempt, door fault, door forced or held open."""


@dataclass(frozen=True)
class DoorMessage:
    """One message to a door output. ts: aware UTC; event_id: the event's unique id (``uid``,
    stable even while the event waits in the spool), None for messages without an event;
    unlock_seconds: for OPEN; state: for STATE; text: for ALERT (one readable line)."""

    kind: MessageKind
    door: str
    ts: datetime = field(default_factory=lambda: datetime.now(UTC))
    decision: str | None = None
    reason: str | None = None
    person: str | None = None
    employee_id: str | None = None
    event_id: str | None = None
    score: float | None = None
    camera: str | None = None
    unlock_seconds: float | None = None
    state: DoorState | None = None
    text: str = ""

    def payload(self) -> dict[str, object]:
        """The JSON object sent (webhook body, MQTT payload): ``kind``, ``door``, ``time`` (ISO
        8601 UTC), and each other field that is set."""
        out: dict[str, object] = {"kind": self.kind.value, "door": self.door,
                                  "time": self.ts.astimezone(UTC).isoformat().replace("+00:00", "Z")}
        for key in ("decision", "reason", "person", "employee_id", "event_id", "score", "camera",
                    "unlock_seconds", "text"):
            value = getattr(self, key)
            if value not in (None, ""):
                out[key] = value
        if self.state is not None:
            out["state"] = self.state.value
        return out


@unique
class OutputStatus(StrEnum):
    """How a door output is doing."""

    OK = "ok"
    """Connected (or nothing to connect to); the last delivery worked."""
    RETRYING = "retrying"
    """A delivery failed and is being retried; messages wait."""
    DOWN = "down"
    """The output cannot be reached (gave up, or not connected); the door is out of service."""


@dataclass(frozen=True)
class OutputHealth:
    """What the door shows of its output. detail: one readable line ("webhook: connection refused
    by 127.0.0.1:8080, retry in 4 s"); pending: messages waiting; since: when the status began."""

    status: OutputStatus
    detail: str = ""
    pending: int = 0
    since: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.status == OutputStatus.OK


#: Called from the driver's thread when a remote command arrives (MQTT "open" on the command topic).
CommandHandler = Callable[[str], None]


class DoorOutput(ABC):
    """One door's output. Thread-safe; ``send`` and ``health`` may be called from any thread."""

    #: URI scheme this driver serves ("log", "webhook", "mqtt", "serial", "hidrelay", "gpio").
    scheme: str = ""

    def __init__(self, uri: str, door: str, secret: str | None = None) -> None:
        self.uri = uri
        self.door = door
        self.secret = secret
        self._on_command: CommandHandler | None = None
        self._lock = threading.Lock()

    def start(self) -> None:  # noqa: B027 - optional hook
        """Start the driver's thread and connection; :func:`~desktop_app.core.outputs.registry.open_output`
        calls it. Returns at once: a device or server that is not there yet shows in ``health()``."""

    @abstractmethod
    def send(self, message: DoorMessage) -> None:
        """Queue ``message`` for delivery; returns at once, never raises."""

    @abstractmethod
    def health(self) -> OutputHealth:
        """How the output is doing now."""

    def on_command(self, handler: CommandHandler | None) -> None:
        """Call ``handler(command)`` ("open") when a remote command arrives; drivers without an
        input channel ignore it."""
        self._on_command = handler

    def close(self, timeout_s: float = 2.0) -> None:  # noqa: B027 - optional hook
        """Deliver what is queued within ``timeout_s`` seconds, then release the connection."""

    def describe(self) -> str:
        """The URI with any password or secret left out (for logs, the app and the audit)."""
        return redact_uri(self.uri)


def redact_uri(uri: str) -> str:
    """``uri`` with the password of ``user:password@`` replaced by ``***``."""
    head, sep, rest = uri.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return uri
    auth, _at, host = rest.partition("@")
    user = auth.split(":", 1)[0]
    return f"{head}://{user}:***@{host}" if ":" in auth else uri
