"""Writing CSV exports atomically.

Files are UTF-8 with a byte-order mark (so spreadsheet programs read accented names right),
comma separated, one header row. The rows go to a temporary file beside the target, which is
flushed to disk and then renamed over the target: a reader never sees half a file, and a failed
export leaves any previous file untouched. Text cells that a spreadsheet would run as a formula
(starting with ``= + - @`` or a tab / carriage return, and not a plain number) are prefixed
with ``'``.
"""

from __future__ import annotations

import contextlib
import csv
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final

from desktop_app.core.errors import StorageError

ENCODING: Final[str] = "utf-8-sig"
_FORMULA_START: Final[tuple[str, ...]] = ("=", "+", "-", "@", "\t", "\r")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def safe_cell(value: object) -> object:
    """``value`` with text that a spreadsheet would evaluate neutralised by a leading ``'``
    (plain numbers such as ``-0.25`` are left alone)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _is_number(value):
        return "'" + value
    return value


def write_csv_atomic(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    """Write ``header`` and ``rows`` to ``path`` atomically; returns the number of data rows.

    None cells are written empty. Raises StorageError when the file cannot be written.
    """
    path = Path(path)
    tmp_name: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        count = 0
        with os.fdopen(fd, "w", encoding=ENCODING, newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            for row in rows:
                writer.writerow(["" if cell is None else safe_cell(cell) for cell in row])
                count += 1
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, path)
        tmp_name = None
        return count
    except OSError as exc:
        raise StorageError(f"Could not write the CSV file {path}: {exc.strerror or exc}") from exc
    finally:
        if tmp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
