"""The byte formats of encrypted values and files (AES-256-GCM, version 1).

A value (one database cell)::

    magic "FGE" (3 bytes) | version 1 (1 byte) | data key id (uint32, big-endian)
    | nonce (12 random bytes) | ciphertext | GCM tag (16 bytes)

36 bytes longer than the plain value (``VALUE_OVERHEAD``). The associated data is the 8-byte
header followed by the value's context (``fields.context``: database, table.column, row), so the
header (which key, which format) is authenticated as well.

A file (the saved gallery index), in chunks so that no single encryption call is larger than
``CHUNK_BYTES`` and a truncated file is detected::

    magic "FGF" | version 1 | data key id (uint32) | chunk size (uint32)
    then chunks: nonce (12) | ciphertext of chunk_size bytes (the last one shorter, maybe empty) | tag (16)

Chunk ``i``'s associated data is the 12-byte header, the context, then ``i`` (uint64) and a
last-chunk flag (1 byte); the writer always ends with a chunk shorter than the chunk size (empty
when the data fills the last full chunk), so removing, reordering or truncating chunks fails.

Nonces are 96 random bits per value or chunk: with one data key, the chance of a repeated nonce
stays below 2^-32 for the first 2^32 values (NIST SP 800-38D), far beyond a site's lifetime of
enrolments and events; ``rekey_data`` starts a new key.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from typing import BinaryIO, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from desktop_app.core.protection.errors import DataDamagedError

VALUE_MAGIC: Final[bytes] = b"FGE"
FILE_MAGIC: Final[bytes] = b"FGF"
VERSION: Final[int] = 1
NONCE_BYTES: Final[int] = 12
TAG_BYTES: Final[int] = 16
KEY_BYTES: Final[int] = 32
_VALUE_HEADER: Final = struct.Struct(">3sBI")
_FILE_HEADER: Final = struct.Struct(">3sBII")
_CHUNK_TAIL: Final = struct.Struct(">QB")
#: bytes an encrypted value adds to the plain one
VALUE_OVERHEAD: Final[int] = _VALUE_HEADER.size + NONCE_BYTES + TAG_BYTES
#: plain bytes per chunk of an encrypted file (4 MiB)
CHUNK_BYTES: Final[int] = 4 << 20

#: the AES-GCM key of a data key id, or None when that key is not known here
KeyLookup = Callable[[int], AESGCM | None]


def is_sealed(blob: bytes | memoryview) -> bool:
    """True when ``blob`` starts like an encrypted value (magic and version): PNG, JPEG and the
    float32 vectors of unit length never do."""
    return len(blob) >= VALUE_OVERHEAD and bytes(blob[:4]) == VALUE_MAGIC + bytes([VERSION])


def value_key_id(blob: bytes) -> int:
    """The data key id in an encrypted value's header (``is_sealed`` must hold)."""
    return int(_VALUE_HEADER.unpack_from(blob)[2])


def seal_value(aead: AESGCM, key_id: int, plain: bytes, context: bytes) -> bytes:
    """Encrypt one value under data key ``key_id`` bound to ``context`` (see the module docstring)."""
    header = _VALUE_HEADER.pack(VALUE_MAGIC, VERSION, key_id)
    nonce = os.urandom(NONCE_BYTES)
    return header + nonce + aead.encrypt(nonce, plain, header + context)


def open_value(keys: KeyLookup, blob: bytes, context: bytes, what: str) -> bytes:
    """The plain value of ``blob`` bound to ``context``; DataDamagedError when it is not an
    encrypted value of this format, names an unknown key, or fails authentication. ``what``
    names the value in the message (e.g. "the face crop of sample 12")."""
    if not is_sealed(blob):
        raise DataDamagedError(f"{what} is not encrypted although this database is: it was written by another "
                               "program or damaged, and is not used")
    header = bytes(blob[:_VALUE_HEADER.size])
    key_id = int(_VALUE_HEADER.unpack(header)[2])
    aead = keys(key_id)
    if aead is None:
        raise DataDamagedError(f"{what} is encrypted with a key this database does not hold (key {key_id}): "
                               "it was copied from another database or damaged, and is not used")
    start = _VALUE_HEADER.size
    nonce = bytes(blob[start:start + NONCE_BYTES])
    try:
        return aead.decrypt(nonce, bytes(blob[start + NONCE_BYTES:]), header + context)
    except InvalidTag:
        raise DataDamagedError(f"{what} fails its authentication check: it was altered, damaged or moved from "
                               "another row, and is not used") from None


def write_sealed_file(out: BinaryIO, aead: AESGCM, key_id: int, plain: bytes | memoryview, context: bytes,
                      chunk_bytes: int = CHUNK_BYTES) -> None:
    """Write ``plain`` to ``out`` encrypted in chunks (file format above)."""
    header = _FILE_HEADER.pack(FILE_MAGIC, VERSION, key_id, chunk_bytes)
    out.write(header)
    view = memoryview(plain).cast("B")
    index = 0
    while True:
        part = view[index * chunk_bytes:(index + 1) * chunk_bytes]
        last = len(part) < chunk_bytes
        nonce = os.urandom(NONCE_BYTES)
        out.write(nonce)
        out.write(aead.encrypt(nonce, bytes(part), header + context + _CHUNK_TAIL.pack(index, int(last))))
        if last:
            return
        index += 1


def is_sealed_file(head: bytes) -> bool:
    """True when the first bytes of a file start like an encrypted file."""
    return len(head) >= _FILE_HEADER.size and head[:4] == FILE_MAGIC + bytes([VERSION])


def read_sealed_file(data: bytes, keys: KeyLookup, context: bytes, what: str) -> bytearray:
    """The plain content of an encrypted file's bytes ``data``; DataDamagedError when it is not an
    encrypted file, names an unknown key, or any chunk fails authentication (altered, truncated,
    reordered, moved from another file)."""
    if not is_sealed_file(data):
        raise DataDamagedError(f"{what} is not encrypted")
    header = data[:_FILE_HEADER.size]
    _magic, _version, key_id, chunk_bytes = _FILE_HEADER.unpack(header)
    aead = keys(int(key_id))
    if aead is None:
        raise DataDamagedError(f"{what} is encrypted with a key this database does not hold (key {key_id})")
    if chunk_bytes < 1:
        raise DataDamagedError(f"{what} has a damaged header")
    full = NONCE_BYTES + chunk_bytes + TAG_BYTES
    out = bytearray()
    pos, index = _FILE_HEADER.size, 0
    view = memoryview(data)
    while True:
        remaining = len(data) - pos
        last = remaining < full
        size = remaining if last else full
        if size < NONCE_BYTES + TAG_BYTES:
            raise DataDamagedError(f"{what} is truncated")
        nonce = bytes(view[pos:pos + NONCE_BYTES])
        body = bytes(view[pos + NONCE_BYTES:pos + size])
        try:
            out += aead.decrypt(nonce, body, header + context + _CHUNK_TAIL.pack(index, int(last)))
        except InvalidTag:
            raise DataDamagedError(f"{what} fails its authentication check (altered, truncated or damaged)") from None
        pos += size
        index += 1
        if last:
            return out
