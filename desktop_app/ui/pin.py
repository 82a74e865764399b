"""The administrator PIN: hashed with scrypt (random salt), kept in the store's settings, never in clear.

The stored value (setting ``admin_pin``) is a JSON object
``{"kdf": "scrypt", "n": 16384, "r": 8, "p": 1, "salt": <hex>, "hash": <hex>}``; verification
recomputes the hash with the stored parameters and compares in constant time. No Qt here.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

SETTING_KEY = "admin_pin"
MIN_LENGTH = 4
MAX_LENGTH = 32

#: scrypt cost: N=2**14, r=8, p=1 uses 16 MiB and about 50 ms on a laptop core.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
HASH_BYTES = 32


class SettingsStore(Protocol):
    """The part of ``Store`` the PIN needs."""

    def get_setting(self, key: str, default: object = None) -> object: ...

    def set_setting(self, key: str, value: object) -> None: ...

    def audit(self, actor: str, action: str, details: dict[str, object] | None = None) -> None: ...


def check_pin_format(pin: str) -> str | None:
    """Why ``pin`` is not acceptable as a new PIN, or None when it is (4-32 digits)."""
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


@dataclass
class AdminLock:
    """Whether the admin screens are open. Unlocks with the PIN; locks again on ``lock()`` or after
    ``idle_timeout_s`` seconds without ``touch()``; wrong PINs in a row slow further tries down.

    store: where the hashed PIN lives; clock: seconds (monotonic), injectable for tests.
    """

    store: SettingsStore
    idle_timeout_s: float = 300.0
    clock: Callable[[], float] = time.monotonic
    _unlocked_at: float | None = None
    _last_activity: float = 0.0
    _failures: int = 0
    _blocked_until: float = 0.0

    @property
    def has_pin(self) -> bool:
        """True once a PIN was set (first run: False)."""
        return isinstance(self.store.get_setting(SETTING_KEY), dict)

    @property
    def unlocked(self) -> bool:
        if self._unlocked_at is None:
            return False
        if self.clock() - self._last_activity > self.idle_timeout_s:
            self._unlocked_at = None
            return False
        return True

    def touch(self) -> None:
        """Record admin activity (keeps the lock open)."""
        if self._unlocked_at is not None:
            self._last_activity = self.clock()

    def lock(self) -> None:
        self._unlocked_at = None

    def retry_in(self) -> float:
        """Seconds to wait before the next try is accepted (0 when none)."""
        return max(0.0, self._blocked_until - self.clock())

    def unlock(self, pin: str) -> bool:
        """Open the admin screens when ``pin`` is right; False (and a growing delay) when wrong."""
        if self.retry_in() > 0:
            return False
        if verify_pin(self.store.get_setting(SETTING_KEY), pin):
            self._failures = 0
            self._unlocked_at = self._last_activity = self.clock()
            return True
        self._failures += 1
        if self._failures >= 3:
            self._blocked_until = self.clock() + min(2.0 ** (self._failures - 3), 60.0)
        with contextlib.suppress(Exception):  # an audit failure must not open or break the lock
            self.store.audit("door", "admin.pin_refused", {"failures": self._failures})
        return False

    def set_pin(self, new_pin: str, current_pin: str | None = None) -> None:
        """Set the PIN (first run), or change it (``current_pin`` required then). ValueError when refused."""
        if self.has_pin and not verify_pin(self.store.get_setting(SETTING_KEY), current_pin or ""):
            raise ValueError("The current PIN is wrong.")
        record = hash_pin(new_pin)
        self.store.set_setting(SETTING_KEY, record)
        self.store.audit("admin", "admin.pin_set", {})
        self._unlocked_at = self._last_activity = self.clock()
        self._failures = 0
