"""The key derived from a password: argon2id (RFC 9106) through argon2-cffi's low-level API.

The parameters are stored with each password wrap (``KdfParams.to_json``), so that they can be
raised later without locking out data wrapped with the old ones. Defaults: 3 passes over 64 MiB
with 4 lanes (RFC 9106's second recommended option), about half a second on a small machine:
an offline guess costs the same, which is what makes a stolen database expensive to attack.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Final

from argon2.low_level import Type, hash_secret_raw

from desktop_app.core.errors import InputError
from desktop_app.core.protection.envelope import KEY_BYTES

ALGORITHM: Final[str] = "argon2id"
#: the shortest password accepted for the password wrap (the account rules may ask more)
MIN_PASSWORD_CHARS: Final[int] = 8


@dataclass(frozen=True)
class KdfParams:
    """argon2id parameters: passes ``time_cost``, memory ``memory_kib`` (KiB), lanes
    ``parallelism``, and the random ``salt`` (16 bytes)."""

    salt: bytes
    time_cost: int = 3
    memory_kib: int = 64 * 1024
    parallelism: int = 4

    @classmethod
    def new(cls) -> KdfParams:
        """Default parameters with a fresh random salt."""
        return cls(salt=os.urandom(16))

    def to_json(self) -> str:
        return json.dumps({"alg": ALGORITHM, "salt": self.salt.hex(), "t": self.time_cost, "m_kib": self.memory_kib,
                           "p": self.parallelism, "len": KEY_BYTES}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> KdfParams:
        """Parameters stored by ``to_json``; ValueError when damaged or of another algorithm."""
        try:
            d = json.loads(text)
            if d.get("alg") != ALGORITHM or int(d.get("len", 0)) != KEY_BYTES:
                raise ValueError(f"unknown key derivation {d.get('alg')!r}")
            params = cls(salt=bytes.fromhex(str(d["salt"])), time_cost=int(d["t"]), memory_kib=int(d["m_kib"]),
                         parallelism=int(d["p"]))
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"damaged key derivation parameters ({exc})") from exc
        if len(params.salt) < 8 or not (1 <= params.time_cost <= 100 and 8 <= params.memory_kib <= 4 << 20
                                        and 1 <= params.parallelism <= 64):
            raise ValueError("key derivation parameters out of range")
        return params


def check_password(password: str) -> str:
    """``password`` when usable for the password wrap (a string of at least
    ``MIN_PASSWORD_CHARS`` characters); else InputError saying why."""
    if not isinstance(password, str):
        raise InputError("The password must be text.")
    if len(password) < MIN_PASSWORD_CHARS:
        raise InputError(f"The password is too short to protect the face data: use at least {MIN_PASSWORD_CHARS} "
                         "characters.")
    return password


def derive_key(password: str, params: KdfParams) -> bytes:
    """The 32-byte key of ``password`` (UTF-8) under ``params``."""
    return hash_secret_raw(password.encode("utf-8"), params.salt, time_cost=params.time_cost,
                           memory_cost=params.memory_kib, parallelism=params.parallelism, hash_len=KEY_BYTES,
                           type=Type.ID)
