"""Errors of the protection of data at rest. Both are ``StorageError``: every caller that reports a
database problem to a person reports these too, with their message as is."""

from __future__ import annotations

from desktop_app.core.errors import StorageError


class DataLockedError(StorageError):
    """The face data is encrypted and its key cannot be unwrapped here: the machine key is missing
    (the data folder was moved to another computer, the key file or keyring entry was deleted) and
    no password was given. The message says how to unlock (``facegate unlock``)."""


class DataDamagedError(StorageError):
    """A stored encrypted value fails its authentication check: it was altered, damaged, moved to
    another row, or written by another program. Reported as damage (the row is quarantined or
    named), never as a crash."""


class KeyStoreError(StorageError):
    """The machine key cannot be kept or read: the key folder cannot be written, is inside the data
    folder, or the key file is malformed."""
