"""The access-control data FaceGate keeps: doors and their cameras, groups, permissions, and what
the rules need to know of a person. Frozen records, checked on construction (ValueError with a
readable message); the store keeps them, the door runtime and the rules read them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from desktop_app.core.access.schedule import ALWAYS, Schedule
from desktop_app.core.vocabulary import Direction, FailMode, LivenessMode

#: What anti-passback does with a second entry without an exit: nothing, refuse it, or let it
#: pass and flag the event.
PassbackMode = Literal["off", "deny", "flag"]

DEFAULT_OUTPUT = "log:"
"""The output of a door given none: a dry run that logs what it would do."""


def _name(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"a {what} needs a name")
    if len(value) > 64:
        raise ValueError(f"a {what} name must be 64 characters at most, got {len(value)}")
    return value.strip()


@dataclass(frozen=True)
class CameraSpec:
    """One camera of a door. source: as for ``--source`` (webcam index, file, folder, URL);
    direction: which way it looks (an entry camera sees arrivals); name: written on its events
    (``"<door>/<direction>"`` when not given, with a number for a second camera of that way)."""

    source: str
    direction: Direction = Direction.IN
    name: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.source, str) or not self.source.strip():
            raise ValueError("a door camera needs a source (webcam index, video file, folder or URL)")
        object.__setattr__(self, "direction", Direction(self.direction))


@dataclass(frozen=True)
class DoorSpec:
    """A door. output: the URI of the driver that works its lock (``log:``, ``webhook:https://…``,
    ``mqtt://host:port/topic``, ``serial:///dev/ttyUSB0?protocol=lctech``, ``hidrelay:SERIAL/CH``,
    ``gpio:CHIP/LINE``); secret: HMAC key of signed outputs (webhook), None when unsigned;
    unlock_seconds: how long a grant releases the lock, seconds; fail_mode: what the lock does when
    FaceGate or the output fails; contact: input URI of a door-contact sensor (door forced / held
    open alarms), None without one; held_open_s: seconds open before "held open" is raised;
    passback_partner: the door that pairs with this one for anti-passback (entry through one, exit
    through the other; the same door when it has an entry and an exit camera), None for none;
    passback: what a second entry without an exit does; liveness: how the door checks that a face
    is a live person (off, passive, challenge), None for the installation's default (the
    ``liveness`` settings' mode)."""

    name: str
    cameras: tuple[CameraSpec, ...] = ()
    output: str = DEFAULT_OUTPUT
    secret: str | None = None
    unlock_seconds: float = 5.0
    fail_mode: FailMode = FailMode.SECURE
    contact: str | None = None
    held_open_s: float = 30.0
    passback_partner: str | None = None
    passback: PassbackMode = "off"
    liveness: LivenessMode | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", _name(self.name, "door"))
        object.__setattr__(self, "fail_mode", FailMode(self.fail_mode))
        if self.liveness is not None:
            try:
                object.__setattr__(self, "liveness", LivenessMode(self.liveness))
            except ValueError:
                raise ValueError(f"the liveness mode must be off, passive or challenge, "
                                 f"got {self.liveness!r}") from None
        if not 0.5 <= self.unlock_seconds <= 3600:
            raise ValueError(f"the unlock time must be 0.5 to 3600 seconds, got {self.unlock_seconds}")
        if not 1 <= self.held_open_s <= 86400:
            raise ValueError(f"the held-open time must be 1 to 86400 seconds, got {self.held_open_s}")
        if not isinstance(self.output, str) or ":" not in self.output:
            raise ValueError(f"the door output must be a URI such as 'log:' or 'webhook:https://…', "
                             f"got {self.output!r}")
        if self.passback not in ("off", "deny", "flag"):
            raise ValueError(f"anti-passback must be off, deny or flag, got {self.passback!r}")
        if self.passback != "off" and not self.passback_partner:
            raise ValueError("anti-passback needs the paired door "
                             "(the same door when it has both an entry and an exit)")

    def camera_names(self) -> tuple[str, ...]:
        """The name each camera writes on its events, in order (see :class:`CameraSpec`)."""
        out: list[str] = []
        for cam in self.cameras:
            base = cam.name or f"{self.name}/{cam.direction.value}"
            name, n = base, 2
            while name in out:
                name, n = f"{base}-{n}", n + 1
            out.append(name)
        return tuple(out)


@dataclass(frozen=True)
class Group:
    """A group of people (staff, cleaners, visitors); permissions are given to groups."""

    name: str
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", _name(self.name, "group"))


@dataclass(frozen=True)
class Permission:
    """Members of ``group`` may pass ``door`` when ``schedule`` allows (always, by default)."""

    group: str
    door: str
    schedule: Schedule = ALWAYS


@dataclass(frozen=True)
class PersonAccess:
    """What the rules need to know of a person. valid_from / valid_until: first and last local day
    (inclusive) on which the person may pass, None for no limit; groups: names of their groups."""

    person_id: int
    name: str
    active: bool = True
    employee_id: str | None = None
    valid_from: date | None = None
    valid_until: date | None = None
    groups: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.valid_from and self.valid_until and self.valid_until < self.valid_from:
            raise ValueError(
                f"the validity ends ({self.valid_until}) before it starts ({self.valid_from})")
