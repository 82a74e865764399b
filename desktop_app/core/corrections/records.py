"""What the corrections and the template refresh hand out: frozen records, plain Python values.

A *correction* is a user's verdict on one door event:

- ``not_person`` ("not this person"): the event named ``wrong_person_id`` but the face was someone
  else's, a **false accept** of that person;
- ``was_person`` ("this was X"): the face was ``true_person_id``'s, a **false reject** of X (the
  event was unknown, ambiguous, or named someone else: then ``wrong_person_id`` is that other
  person, and it counts as that person's false accept too).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum, unique

import numpy as np


@unique
class CorrectionKind(StrEnum):
    """The two verdicts (stored as their value)."""

    NOT_PERSON = "not_person"
    """"Not this person": the event named the wrong person (a false accept)."""
    WAS_PERSON = "was_person"
    """"This was X": the face was X's, who was not recognised (a false reject)."""


@dataclass(frozen=True)
class Correction:
    """One correction.

    event_id: the corrected event (None once that event was deleted); wrong_person_id / wrong_name:
    the person the event wrongly named (None for a missed match of an unknown or ambiguous event);
    true_person_id / true_name: who it was (``was_person`` only); event_ts (aware, UTC),
    event_decision, event_score: the event as it was when corrected; actor: who corrected it;
    created_at: when (aware, UTC); note: the user's words, if any.
    """

    id: int
    kind: CorrectionKind
    event_id: int | None
    wrong_person_id: int | None
    wrong_name: str | None
    true_person_id: int | None
    true_name: str | None
    event_ts: datetime
    event_decision: str
    event_score: float
    actor: str
    created_at: datetime
    note: str | None = None

    def describe(self) -> str:
        """The verdict in words: "not Ann (granted 0.61)" / "was Ben (unknown 0.22)"."""
        what = (f"not {self.wrong_name or 'that person'}" if self.kind is CorrectionKind.NOT_PERSON
                else f"was {self.true_name or 'an erased person'}"
                + (f", not {self.wrong_name}" if self.wrong_name else ""))
        return f"{what} ({self.event_decision} {self.event_score:.2f})"


@dataclass(frozen=True)
class PersonCorrections:
    """The dashboard row of one person.

    granted: their granted events (all time); false_accepts: corrections saying an event that named
    them was someone else; false_rejects: corrections saying an event was them (not recognised as
    them); last_*: time of the latest such event (aware UTC; None without any);
    fa_rate = false_accepts / granted (None without granted events); fr_rate = false_rejects /
    (granted + false_rejects), the share of their visits that were missed (None when both are 0).
    """

    person_id: int
    name: str
    granted: int
    false_accepts: int
    false_rejects: int
    last_false_accept: datetime | None
    last_false_reject: datetime | None

    @property
    def fa_rate(self) -> float | None:
        return None if self.granted == 0 else self.false_accepts / self.granted

    @property
    def fr_rate(self) -> float | None:
        seen = self.granted + self.false_rejects
        return None if seen == 0 else self.false_rejects / seen

    def to_dict(self) -> dict[str, object]:
        """JSON-able (times as ISO 8601 UTC)."""
        return {"person_id": self.person_id, "name": self.name, "granted": self.granted,
                "false_accepts": self.false_accepts, "false_rejects": self.false_rejects,
                "fa_rate": self.fa_rate, "fr_rate": self.fr_rate,
                "last_false_accept": self.last_false_accept.isoformat() if self.last_false_accept else None,
                "last_false_reject": self.last_false_reject.isoformat() if self.last_false_reject else None}


@unique
class FaceRole(StrEnum):
    """What a corrected face teaches the trainer about a person."""

    POSITIVE = "positive"
    """The face is this person's (a missed match)."""
    NEGATIVE = "negative"
    """The face is *not* this person's although it was taken for them (a hard negative)."""


@dataclass(frozen=True, eq=False)
class CorrectionFace:
    """A corrected event's face for training: ``crop`` (112, 112, 3) uint8 BGR aligned face,
    ``vector`` (D,) float32 door embedding by ``model_sha256``; ``role`` towards ``person_id``
    (``person_name``). A ``was_person`` correction of an event that named someone else gives two:
    a positive for the true person and a negative for the wrong one."""

    correction_id: int
    event_id: int
    role: FaceRole
    person_id: int
    person_name: str
    model_sha256: str
    crop: np.ndarray = field(repr=False)
    vector: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class RefreshCandidate:
    """A granted event whose face may become an automatic template.

    score / margin: its match against the person now (cosine; lead over the second person);
    held: still inside the holding period (it may yet be corrected); reason: why it is not
    promoted (None: it may be, or was)."""

    event_id: int
    person_id: int
    name: str
    event_ts: datetime
    score: float
    margin: float
    held: bool
    reason: str | None = None


@dataclass(frozen=True)
class RefreshReport:
    """What one template refresh did: ``promoted`` (event id, person id, new sample id, replaced
    auto sample id or None), ``skipped`` candidates with reasons, ``held`` candidates still
    inside the holding period, ``dry_run``."""

    promoted: tuple[tuple[int, int, int, int | None], ...]
    skipped: tuple[RefreshCandidate, ...]
    held: tuple[RefreshCandidate, ...]
    dry_run: bool = False

    def to_dict(self) -> dict[str, object]:
        return {"promoted": [{"event_id": e, "person_id": p, "sample_id": s, "replaced_sample_id": r}
                             for e, p, s, r in self.promoted],
                "skipped": [{"event_id": c.event_id, "person_id": c.person_id, "reason": c.reason}
                            for c in self.skipped],
                "held": [c.event_id for c in self.held], "dry_run": self.dry_run}
