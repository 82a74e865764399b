"""Back-off and lock-out after wrong passwords, as pure rules over the stored counters.

Each account keeps, in the database (so a restart forgets nothing): the wrong passwords in a row
(``failures``) and the time of the last one (seconds since the epoch, UTC). From the
:data:`FREE_TRIES`-th wrong password in a row, the next try waits 1 s, then 2, 4... up to
:data:`MAX_DELAY_S`; from :data:`LOCK_AFTER` in a row the account is locked for
:data:`LOCK_S` seconds after each further wrong password. The right password (once the wait is
over) clears the counter. While a wait runs, tries are refused without looking at the password.
"""

from __future__ import annotations

from typing import Final

FREE_TRIES: Final[int] = 3
MAX_DELAY_S: Final[float] = 60.0
LOCK_AFTER: Final[int] = 10
LOCK_S: Final[float] = 15 * 60.0


def wait_after(failures: int) -> float:
    """Seconds the next try waits after ``failures`` wrong passwords in a row."""
    if failures >= LOCK_AFTER:
        return LOCK_S
    if failures >= FREE_TRIES:
        return min(2.0 ** (failures - FREE_TRIES), MAX_DELAY_S)
    return 0.0


def retry_in(failures: int, last_failed_at: float | None, now: float) -> float:
    """Seconds left before the next try is accepted (0: now). A last failure "in the future" (the
    clock was set back) counts from now, so the wait is never longer than the rule gives."""
    if last_failed_at is None or failures <= 0:
        return 0.0
    wait = wait_after(failures)
    return max(0.0, min(wait, last_failed_at + wait - now))


def is_lock(failures: int) -> bool:
    """True when ``failures`` in a row lock the account (rather than slow it down)."""
    return failures >= LOCK_AFTER
