"""An HNSW gallery as one byte string, so that it can be encrypted whole before it touches the disk.

hnswlib writes its index only to a file path (``save_index``), which would put the templates on
disk in clear before they could be encrypted. Its picklable state (``Index.__getstate__``: scalars
and numpy arrays) is packed here instead, without pickle::

    b"FGHNSW1\\n" | header length (uint32, big-endian) | header (UTF-8 JSON) | array bytes...

The header holds the scalars (``{"scalars": {name: value}}``) and, for each array in order, its
name, dtype, shape and byte length (``{"arrays": [[name, dtype, shape, nbytes], ...]}``).
Unpacking makes no copy of the arrays (they are read-only views of the input).
"""

from __future__ import annotations

import json
import struct
from typing import Final

import numpy as np

from desktop_app.core.errors import GalleryError

MAGIC: Final[bytes] = b"FGHNSW1\n"
_LEN: Final = struct.Struct(">I")
Scalar = int | float | bool | str


def pack(scalars: dict[str, Scalar], arrays: dict[str, np.ndarray]) -> bytes:
    """One byte string holding ``scalars`` (JSON values) and ``arrays`` (any shape, plain dtypes)."""
    described = [[name, a.dtype.str, list(a.shape), int(a.nbytes)] for name, a in arrays.items()]
    header = json.dumps({"scalars": scalars, "arrays": described}, separators=(",", ":")).encode()
    parts = [MAGIC, _LEN.pack(len(header)), header]
    parts += [np.ascontiguousarray(a).tobytes() for a in arrays.values()]
    return b"".join(parts)


def unpack(data: bytes | bytearray | memoryview) -> tuple[dict[str, Scalar], dict[str, np.ndarray]]:
    """The scalars and arrays packed by :func:`pack`; GalleryError when ``data`` is not such a string."""
    view = memoryview(data).cast("B")
    try:
        if bytes(view[:len(MAGIC)]) != MAGIC:
            raise ValueError("not a packed gallery")
        (size,) = _LEN.unpack_from(view, len(MAGIC))
        start = len(MAGIC) + _LEN.size
        header = json.loads(bytes(view[start:start + size]).decode())
        pos = start + size
        scalars = dict(header["scalars"])
        arrays: dict[str, np.ndarray] = {}
        for name, dtype, shape, nbytes in header["arrays"]:
            if pos + int(nbytes) > len(view):
                raise ValueError("truncated")
            arr = np.frombuffer(view[pos:pos + int(nbytes)], dtype=np.dtype(str(dtype)))
            arrays[str(name)] = arr.reshape([int(n) for n in shape])
            pos += int(nbytes)
    except (ValueError, KeyError, TypeError, struct.error) as exc:
        raise GalleryError(f"the saved gallery is damaged ({exc}); rebuild it") from exc
    return scalars, arrays
