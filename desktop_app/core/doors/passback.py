"""Anti-passback: a second entry without an exit (or a second exit without an entry) through a
pair of doors is refused, or let through and flagged. Pure: no clock, no I/O; thread-safe.

Doors are paired by :attr:`DoorSpec.passback_partner` (the same door when one door has both an
entry and an exit camera). Paired doors form a *zone*: the connected doors of the partner links,
so that A->B and B->A, or A->B alone, make the one zone {A, B}. Every granted passage through a
door of a zone moves the person's side of it (in, out); a door whose ``passback`` is ``"deny"`` or
``"flag"`` checks it first:

- no passage known in the zone (or the last one older than :data:`FORGET_AFTER_S`): allowed;
- the last passage went the other way: allowed;
- the last passage went the same way: a violation (``deny``: refused with the reason
  "anti-passback"; ``flag``: let through, the event carries the reason "anti-passback").

A refused attempt does not move the person's side. The state lives in memory and is rebuilt at
start from the last events (:meth:`Passback.rebuild`), so that a restart does not reset it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum, unique

from desktop_app.core.access.model import DoorSpec
from desktop_app.core.vocabulary import Direction

FORGET_AFTER_S = 24 * 3600.0
"""A passage older than this (seconds) no longer counts: who left by tailgating yesterday may
enter today (the usual daily reset of access panels)."""


@unique
class PassbackVerdict(StrEnum):
    """What anti-passback says of a passage."""

    OFF = "off"
    """The door does not check anti-passback."""
    OK = "ok"
    """Checked: no earlier passage the same way."""
    DENY = "deny"
    """A violation at a door that refuses it."""
    FLAG = "flag"
    """A violation at a door that lets it through and flags the event."""


@dataclass(frozen=True)
class Passage:
    """A granted passage: who (person id), through which door, which way, when (seconds on any
    clock shared by all passages given, e.g. POSIX time)."""

    person_id: int
    door: str
    direction: Direction
    ts: float


def zones(doors: Sequence[DoorSpec]) -> dict[str, frozenset[str]]:
    """Door name -> its zone (the doors joined by partner links, itself included), for every door
    named in a link; doors without a partner and not named by one are left out."""
    parent: dict[str, str] = {}

    def root(name: str) -> str:
        while parent.setdefault(name, name) != name:
            name = parent[name]
        return name

    for door in doors:
        if door.passback_partner:
            a, b = root(door.name), root(door.passback_partner)
            if a != b:
                parent[a] = b
    groups: dict[str, set[str]] = {}
    for name in list(parent):
        groups.setdefault(root(name), set()).add(name)
    return {name: frozenset(group) for group in groups.values() for name in group}


class Passback:
    """Anti-passback state of a site: per person and zone, the last granted passage.

    doors: every door of the site (also those not run here: a partner's passages count)."""

    def __init__(self, doors: Sequence[DoorSpec], forget_after_s: float = FORGET_AFTER_S) -> None:
        self._zones = zones(doors)
        self._modes = {d.name: d.passback for d in doors}
        self._forget_after_s = forget_after_s
        self._last: dict[tuple[int, frozenset[str]], Passage] = {}
        self._lock = threading.Lock()

    def zone(self, door: str) -> frozenset[str] | None:
        """The zone of ``door``, None when it is paired with no door."""
        return self._zones.get(door)

    def check(self, person_id: int, door: str, direction: Direction, ts: float) -> PassbackVerdict:
        """What anti-passback says of ``person_id`` passing ``door`` ``direction`` at ``ts``; changes nothing."""
        mode = self._modes.get(door, "off")
        zone = self._zones.get(door)
        if mode == "off" or zone is None:
            return PassbackVerdict.OFF
        with self._lock:
            last = self._last.get((person_id, zone))
        if last is None or ts - last.ts > self._forget_after_s or last.direction != direction:
            return PassbackVerdict.OK
        return PassbackVerdict.DENY if mode == "deny" else PassbackVerdict.FLAG

    def passed(self, passage: Passage) -> None:
        """Note a granted (or flagged) passage; doors in no zone are ignored."""
        zone = self._zones.get(passage.door)
        if zone is None:
            return
        key = (passage.person_id, zone)
        with self._lock:
            last = self._last.get(key)
            if last is None or passage.ts >= last.ts:
                self._last[key] = passage

    def rebuild(self, passages: Iterable[Passage]) -> int:
        """Take the last passages (any order; e.g. the granted events of the last day that carry a
        door and a direction); returns how many people-zones are now known."""
        for p in passages:
            self.passed(p)
        with self._lock:
            return len(self._last)

    def last(self, person_id: int, door: str) -> Passage | None:
        """The last passage of ``person_id`` in the zone of ``door`` (None when none or no zone)."""
        zone = self._zones.get(door)
        if zone is None:
            return None
        with self._lock:
            return self._last.get((person_id, zone))
