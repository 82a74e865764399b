"""The unwrapped data keys of one open database, and the encryption of its values with them."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import BinaryIO

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from desktop_app.core.protection import envelope
from desktop_app.core.protection.fields import SealedField, context


def new_data_key() -> bytes:
    """32 random bytes (AES-256)."""
    return os.urandom(envelope.KEY_BYTES)


@dataclass
class DataKeys:
    """The data keys of one database held in memory: ``keys`` id -> 32-byte key; new values are
    encrypted with ``current_id``; ``database_uid`` goes into every value's associated data.

    Normally one key; two while ``rekey_data`` moves the values from the old key to the new one.
    """

    database_uid: str
    current_id: int
    keys: dict[int, bytes]
    _aeads: dict[int, AESGCM] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.current_id not in self.keys:
            raise ValueError(f"data key {self.current_id} is not among the keys held")
        self._aeads = {kid: AESGCM(key) for kid, key in self.keys.items()}

    def __repr__(self) -> str:  # never show key bytes
        return f"DataKeys(database_uid={self.database_uid!r}, current_id={self.current_id}, ids={sorted(self.keys)})"

    def aead(self, key_id: int) -> AESGCM | None:
        """The cipher of data key ``key_id``; None when it is not held."""
        return self._aeads.get(int(key_id))

    def seal(self, where: SealedField, row_key: str | int, plain: bytes) -> bytes:
        """Encrypt one value of column ``where`` in row ``row_key`` with the current key."""
        return envelope.seal_value(self._aeads[self.current_id], self.current_id, plain,
                                   context(self.database_uid, where, row_key))

    def open(self, where: SealedField, row_key: str | int, blob: bytes, what: str) -> bytes:
        """The plain value of ``blob`` in column ``where``, row ``row_key``; DataDamagedError when
        it fails (``what`` names it in the message)."""
        return envelope.open_value(self.aead, blob, context(self.database_uid, where, row_key), what)

    def write_file(self, out: BinaryIO, where: SealedField, name: str, plain: bytes | memoryview) -> None:
        """Write a whole file's content encrypted (chunked file format) to ``out``."""
        envelope.write_sealed_file(out, self._aeads[self.current_id], self.current_id, plain,
                                   context(self.database_uid, where, name))

    def read_file(self, data: bytes, where: SealedField, name: str, what: str) -> bytearray:
        """The plain content of an encrypted file's bytes; DataDamagedError when it fails."""
        return envelope.read_sealed_file(data, self.aead, context(self.database_uid, where, name), what)
