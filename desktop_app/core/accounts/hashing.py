"""Hashing of passwords and recovery codes: argon2id (``argon2-cffi``), never the secret itself.

A stored credential is argon2's encoded string ``$argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>``:
the parameters and the 16-byte random salt travel with it, so a later FaceGate with stronger
parameters still verifies old ones. Cost: RFC 9106's second recommended option (64 MiB, 3 passes,
4 lanes), about 0.1 s on a laptop core per check: an offline search of a 10-character password is out
of reach, a login is not slowed down noticeably.

Recovery codes are 25 random characters of Crockford's base32 (125 bits), shown as five groups of
five; typed in any case, with or without the dashes, and O/I/L read as 0/1/1.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

TIME_COST: Final[int] = 3
MEMORY_KIB: Final[int] = 64 * 1024
LANES: Final[int] = 4

_HASHER: Final = PasswordHasher(time_cost=TIME_COST, memory_cost=MEMORY_KIB, parallelism=LANES)

CODE_ALPHABET: Final[str] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford: no I, L, O, U
CODE_GROUPS: Final[int] = 5
CODE_GROUP_LEN: Final[int] = 5


def hash_secret(secret: str) -> str:
    """argon2id encoded hash of ``secret`` (a new random salt each call)."""
    return _HASHER.hash(secret)


def verify_secret(encoded: str | None, secret: str) -> bool:
    """True when ``secret`` matches ``encoded`` (made by :func:`hash_secret`); False for a wrong
    secret, a missing or malformed hash (the same time is spent as for a real check)."""
    dummy = _dummy()  # made by the first check of a process, whichever branch: it costs the same
    if not encoded:
        _check(dummy, secret)
        return False
    return _check(encoded, secret)


@functools.cache
def _dummy() -> str:
    """Verified against when the account named does not exist, so that a wrong name costs the same
    time. Made on first use, not at import: a process that checks no password (``facegate --help``,
    every command on a database without accounts) does not pay an argon2 hash (~0.25 s CPU)."""
    return _HASHER.hash(secrets.token_hex(16))


def _check(encoded: str, secret: str) -> bool:
    try:
        return _HASHER.verify(encoded, secret)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def credential_digest(encoded: str | None) -> str | None:
    """SHA-256 (hex) of a stored hash: what the audit keeps to tell later that the hash in the
    accounts table is the one FaceGate wrote (it reveals nothing: the salt is not in the audit)."""
    return None if not encoded else hashlib.sha256(encoded.encode("ascii")).hexdigest()


def new_recovery_code() -> str:
    """A fresh recovery code, e.g. ``7KQ3M-X0ZRT-...`` (125 random bits)."""
    chars = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_GROUPS * CODE_GROUP_LEN))
    return "-".join(chars[i:i + CODE_GROUP_LEN] for i in range(0, len(chars), CODE_GROUP_LEN))


def normalise_code(text: str) -> str:
    """A typed recovery code in its canonical form (upper case, dashes and spaces dropped, O->0,
    I/L->1); '' when it holds other characters."""
    raw = "".join(text.split()).replace("-", "").upper().translate(str.maketrans("OIL", "011"))
    return raw if raw and all(c in CODE_ALPHABET for c in raw) else ""
