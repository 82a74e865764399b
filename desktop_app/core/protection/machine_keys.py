"""Where the machine key lives: the OS keyring where one exists, else a key file outside the data
folder. The machine key lets the door unwrap its data key by itself after a reboot; it is never
stored in the database or beside it, so the data folder alone decrypts nothing.

One record per database (named by the database's random ``database_uid``), the same JSON text in
the keyring entry or the key file::

    {"format": "facegate-machine-key", "version": 1, "database_uid": "<32 hex>",
     "keys": {"<key id>": "<base64 of 32 bytes>", ...}}

Normally it holds one key; during ``rotate_machine_key`` the new key is added before the database
names it and the old one removed after, so a crash in between leaves a usable record.

Choosing the store (environment variable ``FACEGATE_KEY_STORE``):

- ``auto`` (default): the OS keyring when the ``keyring`` package finds a usable backend (macOS
  Keychain, Windows Credential Locker, Secret Service on a Linux desktop), else the key file;
- ``file``: always the key file (a door that must start before anyone logs in: a desktop keyring
  is locked until its user logs in);
- ``keyring``: the OS keyring only (an error when there is none).

The key file is ``<key folder>/<database uid>.key``, mode 0600, in a folder of mode 0700. The key
folder is ``$FACEGATE_KEY_DIR`` when set, else ``$XDG_CONFIG_HOME/facegate/keys``
(``~/.config/facegate/keys``; ``%APPDATA%\\facegate\\keys`` on Windows). It must not be inside the
data folder (``KeyStoreError``).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from desktop_app.core.file_modes import OTHERS, POSIX, make_private_dirs
from desktop_app.core.protection.envelope import KEY_BYTES
from desktop_app.core.protection.errors import KeyStoreError

log = logging.getLogger(__name__)

KEY_DIR_ENV: Final[str] = "FACEGATE_KEY_DIR"
KEY_STORE_ENV: Final[str] = "FACEGATE_KEY_STORE"
KEYRING_SERVICE: Final[str] = "facegate"
RECORD_FORMAT: Final[str] = "facegate-machine-key"
_UID: Final = re.compile(r"[0-9a-f]{32}")


class KeyStoreKind(StrEnum):
    """Where machine keys are kept (``FACEGATE_KEY_STORE``)."""

    AUTO = "auto"
    FILE = "file"
    KEYRING = "keyring"


def machine_key_id(key: bytes) -> str:
    """The public id of a machine key: 16 hex digits of SHA-256 over a label and the key (it
    names the key in the database without revealing it)."""
    return hashlib.sha256(b"facegate machine key\0" + key).hexdigest()[:16]


def key_dir() -> Path:
    """The key folder: ``$FACEGATE_KEY_DIR``, else the user's configuration folder + facegate/keys."""
    env = os.environ.get(KEY_DIR_ENV)
    if env:
        return Path(env).expanduser()
    if os.name == "nt" and os.environ.get("APPDATA"):
        return Path(os.environ["APPDATA"]) / "facegate" / "keys"
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "facegate" / "keys"


def check_uid(database_uid: str) -> str:
    """``database_uid`` when it is 32 lowercase hex digits (it names a file); else KeyStoreError."""
    if not _UID.fullmatch(database_uid):
        raise KeyStoreError("The database's protection record is damaged (its id is not 32 hex digits); restore the "
                            "database from a backup.")
    return database_uid


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def _kind() -> KeyStoreKind:
    text = os.environ.get(KEY_STORE_ENV, KeyStoreKind.AUTO.value).strip().lower() or KeyStoreKind.AUTO.value
    try:
        return KeyStoreKind(text)
    except ValueError:
        raise KeyStoreError(f"{KEY_STORE_ENV}={text!r} is not one of auto, file, keyring.") from None


def _usable_keyring() -> Any | None:
    """The keyring backend when the ``keyring`` package has a usable one, else None."""
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        return None
    try:
        backend = keyring.get_keyring()
    except Exception as exc:  # a broken backend configuration: fall back to the file
        log.warning("The OS keyring cannot be used (%s); the machine key is kept in a file.", exc)
        return None
    if isinstance(backend, fail.Keyring) or float(getattr(backend, "priority", 0) or 0) <= 0:
        return None
    return backend


@dataclass(frozen=True)
class KeyLocation:
    """Where one database's machine keys are: ``kind`` "keyring" or "file", ``where`` in words."""

    kind: str
    where: str


class MachineKeyStore:
    """The machine keys of one database (``database_uid``) whose file is ``db_path``."""

    def __init__(self, database_uid: str, db_path: Path) -> None:
        self.database_uid = check_uid(database_uid)
        self.db_path = Path(db_path)
        self.kind = _kind()
        self._keyring: Any | None = None if self.kind == KeyStoreKind.FILE else _usable_keyring()
        if self.kind == KeyStoreKind.KEYRING and self._keyring is None:
            raise KeyStoreError(f"{KEY_STORE_ENV}=keyring but no OS keyring is available here; use "
                                f"{KEY_STORE_ENV}=file (a key file outside the data folder).")

    @property
    def file(self) -> Path:
        """The key file of this database."""
        return key_dir() / f"{self.database_uid}.key"

    @property
    def _username(self) -> str:
        return f"machine-key:{self.database_uid}"

    def location(self) -> KeyLocation:
        """Where new machine keys go."""
        if self._keyring is not None:
            return KeyLocation("keyring", f"the OS keyring ({type(self._keyring).__name__}, service "
                                          f"{KEYRING_SERVICE!r}, entry {self._username!r})")
        return KeyLocation("file", str(self.file))

    # -- reading ---------------------------------------------------------------------------
    def load(self) -> dict[str, bytes]:
        """Every machine key found for this database (keyring and key file), by key id."""
        keys: dict[str, bytes] = {}
        if self._keyring is not None:
            try:
                text = self._keyring.get_password(KEYRING_SERVICE, self._username)
            except Exception as exc:  # a locked or broken keyring: the file may still serve
                log.warning("The OS keyring could not be read (%s).", exc)
                text = None
            if text:
                keys.update(self._parse(text, f"the OS keyring entry {self._username!r}"))
        path = self.file
        if path.is_file():
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise KeyStoreError(f"The machine key file {path} cannot be read: {exc.strerror or exc}") from exc
            keys.update(self._parse(text, f"the key file {path}"))
            self._warn_mode(path)
        return keys

    def _parse(self, text: str, where: str) -> dict[str, bytes]:
        try:
            record = json.loads(text)
            if record.get("format") != RECORD_FORMAT or int(record.get("version", 0)) != 1:
                raise ValueError("not a FaceGate machine key record")
            if record.get("database_uid") != self.database_uid:
                raise ValueError("it belongs to another database")
            out: dict[str, bytes] = {}
            for kid, b64 in dict(record["keys"]).items():
                key = base64.b64decode(str(b64), validate=True)
                if len(key) != KEY_BYTES or machine_key_id(key) != kid:
                    raise ValueError(f"key {kid} is damaged")
                out[str(kid)] = key
            return out
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
            log.warning("Ignoring %s: %s.", where, exc)
            return {}

    @staticmethod
    def _warn_mode(path: Path) -> None:
        if POSIX:
            with contextlib.suppress(OSError):
                mode = path.stat().st_mode & 0o777
                if mode & OTHERS:
                    log.warning("The machine key file %s has mode %04o: other users can read it (chmod 600 %s).",
                                path, mode, path)

    # -- writing ---------------------------------------------------------------------------
    def save(self, keys: dict[str, bytes]) -> KeyLocation:
        """Keep exactly ``keys`` (key id -> key) for this database, durably, and say where. In
        the keyring when one is usable (a failing keyring falls back to the file under
        ``auto``), else in the key file (written to a temporary file, synced, renamed)."""
        text = json.dumps({"format": RECORD_FORMAT, "version": 1, "database_uid": self.database_uid,
                           "keys": {kid: base64.b64encode(k).decode("ascii") for kid, k in sorted(keys.items())}})
        if self._keyring is not None:
            try:
                self._keyring.set_password(KEYRING_SERVICE, self._username, text)
                if self.file.exists():  # the keyring holds them now: no second copy on disk
                    _remove_file(self.file)
                return self.location()
            except Exception as exc:
                if self.kind == KeyStoreKind.KEYRING:
                    raise KeyStoreError(f"The OS keyring refused the machine key: {exc}") from exc
                log.warning("The OS keyring refused the machine key (%s); keeping it in %s instead.", exc, self.file)
                self._keyring = None
        self._write_file(text)
        return KeyLocation("file", str(self.file))

    def _write_file(self, text: str) -> None:
        folder = self.file.parent
        data_dir = self.db_path.resolve().parent
        if _inside(folder, data_dir):
            raise KeyStoreError(
                f"The key folder {folder} is inside the data folder {data_dir}: a copy of the data folder would "
                f"carry the key that decrypts it. Set {KEY_DIR_ENV} to a folder outside it.")
        try:
            make_private_dirs(folder)
            tmp = folder / f".{self.file.name}.tmp-{os.getpid()}"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o600)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    if POSIX:
                        os.fchmod(fh.fileno(), 0o600)
                    fh.write(text)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, self.file)
            except BaseException:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                raise
            _sync_folder(folder)
        except OSError as exc:
            raise KeyStoreError(f"The machine key cannot be written to {self.file}: {exc.strerror or exc}. Make the "
                                f"folder writable, or set {KEY_DIR_ENV} to another folder outside the data "
                                "folder.") from exc

    def forget(self) -> None:
        """Remove this database's machine keys from the keyring and the key file (tests, reset)."""
        if self._keyring is not None:
            with contextlib.suppress(Exception):
                self._keyring.delete_password(KEYRING_SERVICE, self._username)
        if self.file.exists():
            _remove_file(self.file)


def _remove_file(path: Path) -> None:
    """Overwrite a small key file with zeros, then delete it (best effort against undelete)."""
    with contextlib.suppress(OSError):
        size = path.stat().st_size
        with path.open("r+b") as fh:
            fh.write(b"\0" * size)
            fh.flush()
            os.fsync(fh.fileno())
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _sync_folder(folder: Path) -> None:
    """fsync a folder so that a rename in it survives a power cut (POSIX; nothing elsewhere)."""
    if not POSIX:
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
