"""The access decision for a recognised person at a door, at a time: pure, no I/O."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from desktop_app.core.access.model import Permission, PersonAccess
from desktop_app.core.vocabulary import AccessReason


def access_reason(person: PersonAccess, door: str, when: datetime,
                  permissions: Iterable[Permission]) -> AccessReason:
    """Why ``person`` may or may not pass ``door`` at ``when`` (aware datetime).

    Checked in this order, the first failing rule giving the reason: deactivated; outside the
    validity period (local date of ``when``, both ends inclusive): expired; no permission of any
    of the person's groups at this door: not permitted at this door; no such permission's schedule
    allows ``when``: outside schedule; else granted."""
    if not person.active:
        return AccessReason.DEACTIVATED
    day = when.astimezone().date()
    if (person.valid_from and day < person.valid_from) or (person.valid_until and day > person.valid_until):
        return AccessReason.EXPIRED
    here = [p for p in permissions if p.door == door and p.group in person.groups]
    if not here:
        return AccessReason.NOT_PERMITTED
    if not any(p.schedule.allows(when) for p in here):
        return AccessReason.OUTSIDE_SCHEDULE
    return AccessReason.GRANTED
