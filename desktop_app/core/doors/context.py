"""What a camera's live session knows of its door, and the access decision it makes there."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from desktop_app.core.access.model import DoorSpec
from desktop_app.core.doors.passback import Passage, Passback, PassbackVerdict
from desktop_app.core.vocabulary import AccessReason, Decision, Direction


@dataclass(frozen=True)
class DoorVerdict:
    """The decision for a recognised person at a door: decision (granted or denied), reason, and
    flagged (let through although anti-passback says no, the door being set to "flag"; the event
    then carries the reason "anti-passback" with the decision "granted")."""

    decision: Decision
    reason: AccessReason
    flagged: bool = False


@dataclass(frozen=True)
class DoorContext:
    """The door a camera watches: door (its spec), camera (the name on its events), direction (which
    way the camera looks), passback (the site's anti-passback state, shared by every camera of the
    run; None: no anti-passback)."""

    door: DoorSpec
    camera: str
    direction: Direction = Direction.IN
    passback: Passback | None = field(default=None, compare=False, repr=False)

    def verdict(self, rule: AccessReason, person_id: int, when: datetime) -> DoorVerdict:
        """The decision for ``person_id`` at ``when`` (aware), given what the access rules say
        (``rule``: :func:`~desktop_app.core.access.rules.access_reason`): anything but granted is
        denied with that reason; a grant then meets anti-passback (denied, or flagged)."""
        if rule != AccessReason.GRANTED:
            return DoorVerdict(Decision.DENIED, rule)
        if self.passback is not None:
            check = self.passback.check(person_id, self.door.name, self.direction, when.timestamp())
            if check == PassbackVerdict.DENY:
                return DoorVerdict(Decision.DENIED, AccessReason.ANTI_PASSBACK)
            if check == PassbackVerdict.FLAG:
                return DoorVerdict(Decision.GRANTED, AccessReason.ANTI_PASSBACK, flagged=True)
        return DoorVerdict(Decision.GRANTED, AccessReason.GRANTED)

    def passed(self, person_id: int, when: datetime) -> None:
        """Note a granted passage of ``person_id`` through this door, this camera's way."""
        if self.passback is not None:
            self.passback.passed(Passage(person_id, self.door.name, self.direction, when.timestamp()))
