"""Roles of the named accounts and what each may do: the permission matrix, one place for the
app and the command line.

Three roles, each including the one below it:

- ``viewer``: watches. Events and attendance (lists, on screen), the doors' state, doors, groups and
  schedules as lists, the registered models as a list.
- ``operator``: runs the doors. Everything a viewer may, plus the enrolled people (names and photos),
  identifying faces in photos, opening a door remotely, starting and stopping the doors in the app,
  and leaving kiosk mode.
- ``admin``: everything. Plus enrolment, editing and erasing people, exports (events, attendance,
  audit), the audit log, settings and calibration, models (roll back, retrain), doors, groups and
  schedules changes, repairs, accounts and the encryption keys.

Why enrolment and exports are the admin's: both copy biometric data or the record of who came
when out of the protected store (a template, a CSV file), which is what GDPR article 9 and BIPA
ask to keep to the fewest hands. The door screen, ``facegate run`` and ``facegate audit verify``
need no account: the door must start by itself after a reboot, and checking the audit chain reveals
nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum, unique
from types import MappingProxyType
from typing import Final


@unique
class Role(StrEnum):
    """An account's role (stored as its value)."""

    ADMIN = "admin"
    """Everything, accounts and keys included."""
    OPERATOR = "operator"
    """Runs the doors: a viewer's rights, plus people, identify, remote open, run the doors."""
    VIEWER = "viewer"
    """Watches: events, attendance and the doors' state, read only."""


@unique
class Action(StrEnum):
    """Something a role may be allowed to do (the rows of the permission matrix)."""

    VIEW_EVENTS = "view-events"
    """List events and attendance (on screen, with face snapshots)."""
    VIEW_DOORS = "view-doors"
    """List doors, groups, schedules and models; see the doors' state."""
    VIEW_PEOPLE = "view-people"
    """List the enrolled people, with their photos."""
    IDENTIFY = "identify"
    """Identify the faces in photos against the gallery."""
    OPEN_DOOR = "open-door"
    """Open a door remotely (audited)."""
    RUN_DOORS = "run-doors"
    """Start and stop the doors in the app."""
    LEAVE_KIOSK = "leave-kiosk"
    """Leave the full-screen kiosk door view."""
    ENROL = "enrol"
    """Enrol people, add and remove face shots."""
    EDIT_PEOPLE = "edit-people"
    """Change a person's name, IDs, groups, validity and activation."""
    ERASE = "erase"
    """Erase a person and every trace of their face."""
    EXPORT = "export"
    """Export events, attendance or the audit log to a file."""
    VIEW_AUDIT = "view-audit"
    """Read the audit log."""
    SETTINGS = "settings"
    """Change settings and the camera; calibrate."""
    MODELS = "models"
    """Switch, roll back and retrain the face model."""
    ACCESS_RULES = "access-rules"
    """Add, change and remove doors, groups, schedules and permissions."""
    MAINTAIN = "maintain"
    """Repair the database (``facegate doctor --repair``)."""
    ACCOUNTS = "accounts"
    """Add, change, disable and remove accounts; reset their passwords."""
    KEYS = "keys"
    """Manage the encryption keys (the data key's password and machine wraps, rotation)."""


_VIEWER: Final = frozenset({Action.VIEW_EVENTS, Action.VIEW_DOORS})
_OPERATOR: Final = _VIEWER | {Action.VIEW_PEOPLE, Action.IDENTIFY, Action.OPEN_DOOR, Action.RUN_DOORS,
                              Action.LEAVE_KIOSK}
_ADMIN: Final = frozenset(Action)

#: What each role may do (the permission matrix).
ALLOWED: Final[Mapping[Role, frozenset[Action]]] = MappingProxyType({
    Role.VIEWER: _VIEWER, Role.OPERATOR: frozenset(_OPERATOR), Role.ADMIN: _ADMIN})


def allows(role: Role | str, action: Action | str) -> bool:
    """True when ``role`` may do ``action``; False for an unknown role or action."""
    try:
        return Action(action) in ALLOWED[Role(role)]
    except ValueError:
        return False


def least_role(action: Action) -> Role:
    """The lowest role allowed ``action`` (viewer < operator < admin)."""
    for role in (Role.VIEWER, Role.OPERATOR, Role.ADMIN):
        if action in ALLOWED[role]:
            return role
    return Role.ADMIN  # pragma: no cover - the admin may do everything


def matrix() -> list[tuple[Action, tuple[Role, ...]]]:
    """The permission matrix as rows (action, roles allowed), in the order of :class:`Action`."""
    return [(a, tuple(r for r in Role if a in ALLOWED[r])) for a in Action]
