"""Encryption of the store's face data values on their way in and out (``desktop_app.core.protection``).

The parts of the store that write face crops, templates, stranger vectors and snapshots call
``_seal`` before the INSERT/UPDATE and ``_unseal`` after the SELECT. The associated data names
the row, so the row id must be known before the INSERT: ``_next_id`` takes it as
``max(id) + 1`` inside the write transaction (``BEGIN IMMEDIATE`` holds the database's write
lock, so no other connection can take the same id; SQLite would have chosen the same number),
and the INSERT names it. That avoids writing the row twice (a placeholder then the ciphertext)
and keeps one INSERT per row. Templates are keyed by (sample id, model), known up front.

Keys: ``_keys`` is set when the store opens (``KeysMixin``). While it is None the database is
either plain (values pass through unchanged) or locked (``locked_reason``: every read and write
of face data raises ``DataLockedError``; the rest of the database works).
"""

from __future__ import annotations

from collections.abc import Sequence

from desktop_app.core.protection import envelope
from desktop_app.core.protection.data_keys import DataKeys
from desktop_app.core.protection.errors import DataDamagedError, DataLockedError
from desktop_app.core.protection.fields import SealedField
from desktop_app.core.protection.wraps import ProtectionState
from desktop_app.core.storage.base import StoreBase


class SealingBase(StoreBase):
    """Value encryption shared by the parts of ``Store`` that hold face data."""

    _keys: DataKeys | None = None
    #: how far the face data is encrypted (the ``protection`` row, as read at opening or changed here)
    _protection_state: ProtectionState = ProtectionState.PLAIN
    #: the database's random id (names its machine key); "" before the protection row is read
    database_uid: str = ""
    #: why the face data cannot be decrypted here (None: it can, or it is not encrypted)
    locked_reason: str | None = None

    @property
    def encrypted(self) -> bool:
        """True when face data is written encrypted here (a data key is held)."""
        return self._keys is not None

    @property
    def data_locked(self) -> bool:
        """True when the face data is encrypted and its key could not be unwrapped here."""
        return self.locked_reason is not None

    def _require_unlocked(self) -> None:
        if self.locked_reason is not None:
            raise DataLockedError(self.locked_reason)

    def _sealing_keys(self) -> DataKeys | None:
        """The keys new values are encrypted with (following a re-key made by another program);
        None when the database is not encrypted. DataLockedError when locked."""
        self._require_unlocked()
        keys = self._keys
        if keys is not None and self._rekeyed_elsewhere(keys):
            self._follow_rekey()
            keys = self._keys
        return keys

    def _follow_rekey(self) -> None:
        """Take the data key another program made current (``KeysMixin``)."""

    def _seal_clear_values(self) -> None:
        """Encrypt values that earlier versions stored in clear in an already encrypted database
        (the doors' output URIs and secrets: ``DoorsMixin``); called at a writable opening once the
        data key is held. Nothing here."""

    def _seal(self, where: SealedField, row_key: str | int, plain: bytes) -> bytes:
        """The value to store for ``plain`` in column ``where`` of row ``row_key``: encrypted, or
        ``plain`` itself in a database that is not encrypted."""
        keys = self._sealing_keys()
        return plain if keys is None else keys.seal(where, row_key, plain)

    def _unseal(self, where: SealedField, row_key: str | int, stored: bytes, what: str) -> bytes:
        """The plain value of a stored one. DataLockedError when locked; DataDamagedError when it
        fails its authentication check, or is plain in a database whose values are all encrypted
        (written by another program: never trusted). ``what`` names it in messages."""
        self._require_unlocked()
        if not envelope.is_sealed(stored):
            if self._protection_state in (ProtectionState.PLAIN, ProtectionState.SEALING):
                return stored  # not encrypted yet (being encrypted at this moment, or no key here)
            return envelope.open_value(lambda _kid: None, stored, b"", what)  # raises: not encrypted
        keys = self._keys
        if keys is None:
            raise DataDamagedError(f"{what} is encrypted but this database has no data key: it was copied from "
                                   "another database, and is not used")
        if keys.aead(envelope.value_key_id(stored)) is None and self._rekeyed_elsewhere(keys):
            self._follow_rekey()  # another program replaced the data key (rekey_data) since this one opened
            keys = self._keys or keys
        return keys.open(where, row_key, stored, what)

    def _rekeyed_elsewhere(self, keys: DataKeys) -> bool:
        row = self.db.conn.execute("SELECT current_key_id FROM protection WHERE id = 1").fetchone()
        return row is not None and row[0] is not None and int(row[0]) != keys.current_id

    def _unseal_many(self, where: SealedField, row_keys: Sequence[str | int], blobs: Sequence[bytes]
                     ) -> tuple[list[bytes], dict[int, str]]:
        """Plain values of many stored ones: (values, {index: why it failed}); a failed value is
        b"" in ``values``. DataLockedError when locked (nothing can be read)."""
        self._require_unlocked()
        out: list[bytes] = []
        failed: dict[int, str] = {}
        for i, (key, blob) in enumerate(zip(row_keys, blobs, strict=True)):
            try:
                out.append(self._unseal(where, key, blob, "it"))
            except DataDamagedError as exc:
                out.append(b"")
                failed[i] = str(exc)
        return out, failed

    def _next_id(self, table: str) -> int:
        """The id the next row of ``table`` gets (``max(id) + 1``); call inside a write transaction."""
        assert self.db.conn.in_transaction, "the next id is only safe under the write lock"
        return int(self.db.conn.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {table}").fetchone()[0])
