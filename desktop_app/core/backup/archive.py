"""The encrypted backup archive: a versioned header, then a tar stream encrypted in chunks.

File layout (format version 1)::

    magic "FGBACKUP" (8 bytes) | format version (1 byte) | header length (uint32, big-endian)
    | header (UTF-8 JSON, see ``BackupHeader``)
    | chunks: nonce (12 random bytes) | AES-256-GCM ciphertext of ``chunk_bytes`` plain bytes
      (the last chunk shorter, maybe empty) | tag (16 bytes)

The key is derived from the backup passphrase with argon2id (``password_kdf``; parameters and
salt in the header). Chunk ``i``'s associated data is the file's first bytes up to the end of
the header, then ``i`` (uint64) and a last-chunk flag (1 byte). The writer always ends with a
chunk shorter than ``chunk_bytes``, so a changed header or byte, a truncated file, removed,
repeated or reordered chunks and data appended after the end all fail authentication.

The header also holds ``key_check``: the first 16 bytes of HMAC-SHA256(key, "facegate backup key
check"), so that a wrong passphrase is told apart from a damaged archive without decrypting.
It reveals nothing beyond what a decryption attempt would (each guess still costs one argon2id).

The plain stream is a tar archive (``tarfile`` stream mode) whose members are named in
``snapshot``; nothing here knows them.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import struct
from dataclasses import dataclass
from typing import BinaryIO, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from desktop_app.core.errors import FaceGateError
from desktop_app.core.protection.envelope import NONCE_BYTES, TAG_BYTES
from desktop_app.core.protection.password_kdf import KdfParams, derive_key

MAGIC: Final[bytes] = b"FGBACKUP"
FORMAT_VERSION: Final[int] = 1
#: plain bytes per encrypted chunk (1 MiB)
CHUNK_BYTES: Final[int] = 1 << 20
#: the largest header accepted (a damaged length must not make the reader allocate gigabytes)
MAX_HEADER_BYTES: Final[int] = 64 * 1024
_PREFIX: Final = struct.Struct(">8sBI")
_CHUNK_TAIL: Final = struct.Struct(">QB")
_KEY_CHECK_LABEL: Final[bytes] = b"facegate backup key check"


class BackupError(FaceGateError):
    """A backup archive cannot be made, read or restored; the message says why and what to do."""


class WrongPassphraseError(BackupError):
    """The passphrase does not open this backup."""


class BackupDamagedError(BackupError):
    """The archive was altered, truncated or damaged: nothing of it is used."""


@dataclass(frozen=True)
class BackupHeader:
    """What an archive says about itself, readable without the passphrase.

    format_version: of the file layout; kdf: argon2id parameters and salt of the passphrase key;
    created_at: ISO 8601 UTC time of the backup; database_uid: the source database's random id
    (None for a database that was never encrypted); schema_version: the source's ``user_version``;
    chunk_bytes: plain bytes per chunk; key_check: hex, see the module docstring;
    facegate_version: the program that wrote it."""

    format_version: int
    kdf: KdfParams
    created_at: str
    database_uid: str | None
    schema_version: int
    chunk_bytes: int
    key_check: str
    facegate_version: str

    def to_bytes(self) -> bytes:
        return json.dumps({
            "format": "facegate-backup", "format_version": self.format_version,
            "kdf": json.loads(self.kdf.to_json()), "created_at": self.created_at,
            "database_uid": self.database_uid, "schema_version": self.schema_version,
            "chunk_bytes": self.chunk_bytes, "key_check": self.key_check,
            "facegate_version": self.facegate_version,
        }, separators=(",", ":"), sort_keys=True).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> BackupHeader:
        try:
            d = json.loads(data.decode("utf-8"))
            if d.get("format") != "facegate-backup":
                raise ValueError("not a FaceGate backup header")
            uid = d.get("database_uid")
            header = cls(format_version=int(d["format_version"]), kdf=KdfParams.from_json(json.dumps(d["kdf"])),
                         created_at=str(d["created_at"]), database_uid=None if uid is None else str(uid),
                         schema_version=int(d["schema_version"]), chunk_bytes=int(d["chunk_bytes"]),
                         key_check=str(d["key_check"]), facegate_version=str(d.get("facegate_version", "?")))
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
            raise BackupDamagedError(f"The backup's header is damaged ({exc}); nothing was restored.") from None
        if not 1 <= header.chunk_bytes <= 64 << 20 or header.schema_version < 0:
            raise BackupDamagedError("The backup's header is damaged (values out of range); nothing was restored.")
        return header


def key_check(key: bytes) -> str:
    return hmac.new(key, _KEY_CHECK_LABEL, hashlib.sha256).digest()[:16].hex()


def _read_exact(src: BinaryIO, n: int) -> bytes:
    parts: list[bytes] = []
    left = n
    while left > 0:
        part = src.read(left)
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def read_header(src: BinaryIO) -> tuple[BackupHeader, bytes]:
    """The header of the archive open in ``src`` (positioned at its start) and the raw bytes up to
    its end (the chunks' associated data); BackupDamagedError when it is not a FaceGate backup."""
    prefix = _read_exact(src, _PREFIX.size)
    if len(prefix) < _PREFIX.size or prefix[:8] != MAGIC:
        raise BackupDamagedError("This file is not a FaceGate backup (made by facegate backup).")
    _magic, version, length = _PREFIX.unpack(prefix)
    if version != FORMAT_VERSION:
        raise BackupError(f"This backup has format version {version}; this FaceGate reads version {FORMAT_VERSION}. "
                          "Update FaceGate to restore it.")
    if not 2 <= length <= MAX_HEADER_BYTES:
        raise BackupDamagedError("The backup's header is damaged; nothing was restored.")
    raw = _read_exact(src, length)
    if len(raw) < length:
        raise BackupDamagedError("The backup is truncated (it ends inside its header); nothing was restored.")
    return BackupHeader.from_bytes(raw), prefix + raw


class EncryptingWriter(io.RawIOBase):
    """A write-only stream: what is written goes to ``out`` encrypted (module docstring), after
    the header. ``finish()`` writes the last chunk (required: an archive without it is refused)."""

    def __init__(self, out: BinaryIO, header: BackupHeader, key: bytes) -> None:
        super().__init__()
        self._out = out
        self._aead = AESGCM(key)
        self._chunk = header.chunk_bytes
        raw = header.to_bytes()
        self._ad = _PREFIX.pack(MAGIC, FORMAT_VERSION, len(raw)) + raw
        out.write(self._ad)
        self._buf = bytearray()
        self._index = 0
        self._finished = False
        #: plain bytes written so far
        self.plain_bytes = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        if self._finished:
            raise ValueError("the backup archive is already finished")
        self._buf += data
        self.plain_bytes += len(data)
        while len(self._buf) >= self._chunk:
            self._emit(bytes(self._buf[:self._chunk]), last=False)
            del self._buf[:self._chunk]
        return len(data)

    def _emit(self, plain: bytes, last: bool) -> None:
        nonce = os.urandom(NONCE_BYTES)
        self._out.write(nonce)
        self._out.write(self._aead.encrypt(nonce, plain, self._ad + _CHUNK_TAIL.pack(self._index, int(last))))
        self._index += 1

    def finish(self) -> None:
        """Write the last (short, maybe empty) chunk."""
        if not self._finished:
            self._emit(bytes(self._buf), last=True)
            self._buf.clear()
            self._finished = True


class DecryptingReader(io.RawIOBase):
    """A read-only stream of the plain bytes of the archive in ``src`` (positioned after the
    header, whose raw bytes are ``ad``). Each chunk is authenticated before any of its bytes are
    returned; BackupDamagedError for an altered, truncated or extended archive."""

    def __init__(self, src: BinaryIO, header: BackupHeader, key: bytes, ad: bytes) -> None:
        super().__init__()
        self._src = src
        self._aead = AESGCM(key)
        self._full = NONCE_BYTES + header.chunk_bytes + TAG_BYTES
        self._ad = ad
        self._index = 0
        self._plain = b""
        self._pos = 0
        self._done = False

    def readable(self) -> bool:
        return True

    def _next(self) -> None:
        block = _read_exact(self._src, self._full)
        last = len(block) < self._full
        if len(block) < NONCE_BYTES + TAG_BYTES:
            raise BackupDamagedError("The backup is truncated (its end is missing); nothing was restored.")
        try:
            self._plain = self._aead.decrypt(block[:NONCE_BYTES], block[NONCE_BYTES:],
                                             self._ad + _CHUNK_TAIL.pack(self._index, int(last)))
        except InvalidTag:
            raise BackupDamagedError(
                f"The backup fails its authentication check at chunk {self._index} (altered, truncated or "
                "damaged); nothing was restored.") from None
        self._pos = 0
        self._index += 1
        self._done = last

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        while self._pos >= len(self._plain):
            if self._done:
                return 0
            self._next()
        n = min(len(view), len(self._plain) - self._pos)
        view[:n] = self._plain[self._pos:self._pos + n]
        self._pos += n
        return n

    def drain(self) -> None:
        """Read (and authenticate) to the last chunk; BackupDamagedError when anything follows it."""
        while not self._done:
            self._next()
        if self._src.read(1):
            raise BackupDamagedError("The backup has data after its last chunk (altered); nothing was restored.")


def open_key(header: BackupHeader, passphrase: str) -> bytes:
    """The archive key of ``passphrase``; WrongPassphraseError when it is not the backup's."""
    key = derive_key(passphrase, header.kdf)
    if not hmac.compare_digest(key_check(key), header.key_check):
        raise WrongPassphraseError("This passphrase does not open the backup; nothing was changed.")
    return key
