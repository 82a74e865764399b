"""What the door screen shows of the person it lets in (kiosk privacy): the full name, the initials
only, or nothing but the decision. One closed set, applied by the door view and any door-facing
output that would show a name."""

from __future__ import annotations

import unicodedata
from enum import StrEnum, unique


@unique
class DoorDisplay(StrEnum):
    """How the door screen names the person it decided about (stored as its value)."""

    FULL = "full"
    """The full name and the enrolled photo (FaceGate's behaviour before this setting)."""
    INITIALS = "initials"
    """The initials only ("J. D."); no enrolled photo, no face snapshot."""
    NONE = "none"
    """Nothing about the person: just granted or denied; no photo, no snapshot."""


def initials(name: str) -> str:
    """"Jane van Doe-Smith" -> "J. V. D. S."; the first letter of each word (hyphenated parts
    included), upper-cased, at most 4; "" for a blank name. Accents are kept ("Émile" -> "É.")."""
    words = [w for part in unicodedata.normalize("NFC", name).split() for w in part.split("-") if w]
    letters = [next((c for c in w if c.isalnum()), "") for w in words]
    return " ".join(f"{c.upper()}." for c in [c for c in letters if c][:4])


def shown_name(name: str | None, display: DoorDisplay) -> str | None:
    """The name as the door screen shows it: ``name`` (FULL), its initials (INITIALS), or None
    (NONE, or no name)."""
    if name is None or display is DoorDisplay.NONE:
        return None
    if display is DoorDisplay.INITIALS:
        return initials(name) or None
    return name
