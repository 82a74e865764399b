"""Checks and normalisation of the plain arguments the store receives (raise ValueError)."""

from __future__ import annotations

import unicodedata
from datetime import date, datetime
from typing import Final

import numpy as np

from desktop_app.core.errors import InputError

MAX_TEXT: Final[int] = 200


def clean_text(value: object, what: str, *, required: bool) -> str | None:
    """Trimmed single-line text (inner whitespace collapsed) of at most MAX_TEXT characters.

    Empty or None gives None for optional values and ValueError for required ones.
    """
    if value is None:
        if required:
            raise ValueError(f"{what} is required")
        return None
    if not isinstance(value, str):
        raise ValueError(f"{what} must be text, got {type(value).__name__}")
    text = " ".join(value.split())
    if not text:
        if required:
            raise ValueError(f"{what} must not be empty")
        return None
    if len(text) > MAX_TEXT:
        raise ValueError(f"{what} is too long ({len(text)} characters, at most {MAX_TEXT})")
    if any(unicodedata.category(ch) == "Cc" for ch in text):
        raise ValueError(f"{what} must not contain control characters")
    return text


#: Unicode categories refused in names: control (Cc), format (Cf: bidi overrides such as U+202E,
#: zero-width characters), surrogates (Cs: undecodable bytes from the command line), private use (Co).
REFUSED_CATEGORIES: Final[frozenset[str]] = frozenset({"Cc", "Cf", "Cs", "Co"})
#: Letters and symbols that show as nothing (Hangul fillers, braille blank), refused in names too.
INVISIBLE: Final[frozenset[str]] = frozenset({"\u115f", "\u1160", "\u3164", "\uffa0", "\u2800"})


def _describe(ch: str) -> str:
    name = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X}" + (f" {name}" if name else "")


def validate_display_name(value: object, what: str = "name", *, max_len: int = MAX_TEXT) -> str:
    """A person's name (or another label shown to people) checked and normalised, for display.

    NFC-normalised, whitespace trimmed and collapsed (tabs and newlines count as spaces), 1 to
    ``max_len`` characters. InputError (a ValueError) with a clear message for anything else: not text, empty,
    too long, or containing characters that hide or disguise text (control and format
    characters such as the right-to-left override U+202E or the zero-width space U+200B).
    """
    if not isinstance(value, str):
        raise InputError(f"The {what} must be text, got {type(value).__name__}.")
    text = " ".join(unicodedata.normalize("NFC", value).split())
    if not text:
        raise InputError(f"The {what} is empty: type at least one letter.")
    for ch in text:
        if unicodedata.category(ch) in REFUSED_CATEGORIES or ch in INVISIBLE:
            raise InputError(
                f"The {what} contains an invisible or control character ({_describe(ch)}); type it again "
                f"without it."
            )
    if len(text) > max_len:
        raise InputError(f"The {what} is too long ({len(text)} characters, at most {max_len}).")
    return text


def validate_optional_label(value: object, what: str, *, max_len: int = MAX_TEXT) -> str | None:
    """``validate_display_name`` for an optional field: None, empty or blank text gives None."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return validate_display_name(value, what, max_len=max_len)


def validate_person_fields(name: object, employee_id: object = None,
                           department: object = None) -> tuple[str, str | None, str | None]:
    """(name, employee ID, department) of a person, each checked as above; InputError (a ValueError) otherwise.

    Called before any work (reading photos, embedding) so that a bad name costs nothing.
    """
    return (
        validate_display_name(name, "name"),
        validate_optional_label(employee_id, "employee ID"),
        validate_optional_label(department, "department"),
    )


def required_text(value: object, what: str) -> str:
    """``clean_text`` of a value that must be given."""
    text = clean_text(value, what, required=True)
    assert text is not None
    return text


def name_key(name: str) -> str:
    """Comparison key of a person's name: NFC-normalised and case-folded."""
    return unicodedata.normalize("NFC", name).casefold()


def fold(value: object) -> str:
    """``name_key`` of any SQL value (NULL gives ""); registered in SQL as ``facegate_fold``."""
    return "" if value is None else name_key(str(value))


def like_pattern(text: str) -> str:
    """``%text%`` for ``LIKE ... ESCAPE '\\'``."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def as_int(value: object, what: str) -> int:
    """``value`` as int (Python or numpy integer, not bool); else ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{what} must be an integer, got {type(value).__name__}")
    return int(value)


def as_day(value: date, what: str) -> date:
    """``value`` as a date (a datetime gives its date part); else ValueError."""
    if isinstance(value, datetime):
        return value.date()
    if not isinstance(value, date):
        raise ValueError(f"{what} must be a date, got {type(value).__name__}")
    return value


def as_score(value: object, what: str = "score") -> float:
    """``value`` as a finite float; else ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{what} must be a number, got {type(value).__name__}")
    out = float(value)
    if not np.isfinite(out):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return out
