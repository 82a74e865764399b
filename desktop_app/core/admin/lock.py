"""The administrator PIN: hashed with scrypt (random salt), kept in the store's settings, never in clear.

The stored value (setting ``admin_pin``) is a JSON object
``{"kdf": "scrypt", "n": 16384, "r": 8, "p": 1, "salt": <hex>, "hash": <hex>}``; verification
recomputes the hash with the stored parameters and compares in constant time.

:class:`AdminPin` holds the rules: wrong PINs in a row slow further tries down (from the third,
1 s doubling up to 60 s, even for the right PIN), every refusal and every accepted PIN and PIN
change is audited. ``FaceGate`` exposes it as ``has_admin_pin`` / ``verify_admin_pin`` /
``set_admin_pin`` / ``admin_pin_retry_in``; the GUI's lock (idle time-out, dialogs) sits on top.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from typing import Protocol

from desktop_app.core.accounts.policy import pin_problem
from desktop_app.core.storage.store import Store

SETTING_KEY = "admin_pin"
MIN_LENGTH = 4
MAX_LENGTH = 32

#: scrypt cost: N=2**14, r=8, p=1 uses 16 MiB and about 50 ms on a laptop core.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
HASH_BYTES = 32
#: wrong PINs in a row before each further try waits (1 s, doubling, at most MAX_DELAY_S)
FREE_TRIES = 3
MAX_DELAY_S = 60.0


class AdminPinAccess(Protocol):
    """The PIN use-cases (``FaceGate`` and :class:`AdminPin` both provide them)."""

    def has_admin_pin(self) -> bool: ...

    def verify_admin_pin(self, pin: str) -> bool: ...

    def set_admin_pin(self, new_pin: str, current_pin: str | None = None) -> None: ...

    def admin_pin_retry_in(self) -> float: ...


def check_pin_format(pin: str) -> str | None:
    """Why ``pin`` is not acceptable as a new PIN, or None when it is (4-32 ASCII digits)."""
    if not pin.isdigit() or not pin.isascii():
        return "The PIN must contain digits only."
    if len(pin) < MIN_LENGTH:
        return f"The PIN must have at least {MIN_LENGTH} digits."
    if len(pin) > MAX_LENGTH:
        return f"The PIN must have at most {MAX_LENGTH} digits."
    return None


def _scrypt(pin: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(pin.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=HASH_BYTES,
                          maxmem=256 * 1024 * 1024)


def hash_pin(pin: str) -> dict[str, object]:
    """The record to store for ``pin`` (new random salt each call). ValueError for a malformed PIN."""
    problem = check_pin_format(pin)
    if problem:
        raise ValueError(problem)
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(pin, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return {"kdf": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P,
            "salt": salt.hex(), "hash": digest.hex()}


def verify_pin(record: object, pin: str) -> bool:
    """True when ``pin`` matches a record made by :func:`hash_pin`; False for anything malformed."""
    if not isinstance(record, dict) or record.get("kdf") != "scrypt":
        return False
    try:
        salt = bytes.fromhex(str(record["salt"]))
        expected = bytes.fromhex(str(record["hash"]))
        n, r, p = int(record["n"]), int(record["r"]), int(record["p"])
    except (KeyError, ValueError, TypeError):
        return False
    if not pin or len(pin) > MAX_LENGTH or n > 2**20 or r > 32 or p > 16:
        return False
    return hmac.compare_digest(_scrypt(pin, salt, n, r, p), expected)


class AdminPin:
    """The PIN of one database. store: where the hashed PIN and the audit live; clock: seconds
    (monotonic), injectable for tests. Not thread-safe on its own (``FaceGate`` locks around it)."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.clock = clock
        self._failures = 0
        self._blocked_until = 0.0

    def has_admin_pin(self) -> bool:
        """True once a PIN was set (first run: False). A damaged record counts as set: nobody may
        set a new PIN without the old one until ``facegate doctor --repair`` resets it."""
        return self.store.has_setting(SETTING_KEY)

    def admin_pin_retry_in(self) -> float:
        """Seconds to wait before the next try is accepted (0 when none)."""
        return max(0.0, self._blocked_until - self.clock())

    def verify_admin_pin(self, pin: str) -> bool:
        """True when ``pin`` is right and no back-off delay is running; a wrong PIN counts a
        failure (audited as ``admin.pin_refused``) and from the third in a row delays the next try."""
        if self.admin_pin_retry_in() > 0:
            return False
        if verify_pin(self.store.get_setting(SETTING_KEY), pin):
            self._failures = 0
            with contextlib.suppress(Exception):  # an audit failure must not keep the admin out
                self.store.audit("door", "admin.pin_accepted", {})
            return True
        self._failures += 1
        if self._failures >= FREE_TRIES:
            self._blocked_until = self.clock() + min(2.0 ** (self._failures - FREE_TRIES), MAX_DELAY_S)
        with contextlib.suppress(Exception):  # an audit failure must not open or break the lock
            self.store.audit("door", "admin.pin_refused", {"failures": self._failures})
        return False

    def set_admin_pin(self, new_pin: str, current_pin: str | None = None) -> None:
        """Set the PIN (first run), or change it (``current_pin`` required then); stored and audited
        (``admin.pin_set``) in one transaction. ValueError when the current PIN is wrong or the new
        one is malformed or weak (``accounts.policy.pin_problem``: 6 digits at least, no pattern)."""
        record_now = self.store.get_setting(SETTING_KEY)
        if self.store.has_setting(SETTING_KEY) and not verify_pin(record_now, current_pin or ""):
            raise ValueError("The current PIN is wrong.")
        problem = pin_problem(new_pin) if check_pin_format(new_pin) is None else check_pin_format(new_pin)
        if problem:
            raise ValueError(problem)
        record = hash_pin(new_pin)
        with self.store.transaction():
            self.store.set_setting(SETTING_KEY, record)
            self.store.audit("admin", "admin.pin_set", {})
        self._failures = 0
        self._blocked_until = 0.0
