"""Checks and normalisation of the plain arguments the store receives (raise ValueError)."""

from __future__ import annotations

import unicodedata
from datetime import date, datetime
from typing import Final

import numpy as np

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
