"""Subject access (GDPR article 15): one zip file holding everything FaceGate keeps about one person.

Layout of the zip (``SubjectExport`` lists what went in):

- ``README.txt``: what the file is, when and from which database it was made, what each part holds;
- ``person.json``: the person record (name, employee ID, department, active, created, updated) and
  their access data (groups, first and last valid day);
- ``samples.json`` and ``samples/sample-<id>.png``: each enrolment shot (source, quality measures,
  when) and its aligned face crop, decrypted, as the PNG that FaceGate stores;
- ``templates.json``: each face template's metadata (shot, model, dimensions, when), no vector;
  with ``include_vectors``, also ``templates/sample-<id>-<model 12 hex>.json`` holding the vector
  (the numbers themselves; see docs/data-protection.md, "Subject access", for why they are left
  out by default);
- ``events.csv`` and ``snapshots/event-<id>.jpg``: their door events (the person recognised, or
  named as one of two candidates of an ambiguous decision) and the face snapshots kept with them;
- ``faces/event-<id>.png``: the aligned face crop kept with each of those events (``event_faces``);
- ``attendance.csv``: their first in / last out per day;
- ``audit.csv``: the audit rows that concern them (details naming them).

The file is written 0600 in the target's folder under a temporary name and fsynced; the export's
audit row is written; only then is the file renamed into place: a reader never sees half a file,
a crash leaves no partial copy under the name, and no export exists without its audit row.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from desktop_app.core.file_modes import PRIVATE_FILE

README: str = """FaceGate subject access export
==============================

This file holds everything FaceGate kept about one person on {made} (UTC), from the database
{db}. It was made by {actor} at the person's request (GDPR article 15, right of access).

person.json      the person record and their access data (groups, validity)
samples.json     each enrolment shot: where it came from, its quality measures, when
samples/         each enrolment shot's aligned face crop, as stored (PNG, decrypted)
templates.json   each face template computed from the shots: model, dimensions, when.
                 {vectors}
events.csv       the door events that concern the person (role "subject": recognised;
                 "candidate": one of two people an ambiguous face could not be told apart from;
                 "corrected": an event an administrator said was the person, "this was")
snapshots/       the face snapshots kept with those events (JPEG, decrypted)
faces/           the aligned face crop kept with each of those events (PNG, decrypted)
attendance.csv   first in / last out per day
audit.csv        the administrative actions that concern the person

Events and snapshots older than the site's retention limits were deleted before this export
and are not in it. Treat this file as the person's biometric data: hand it to them only, over a
safe channel, and delete your copy afterwards.
"""

VECTORS_OUT = ("The vectors themselves are not included: they are numbers derived from the crops\n"
               "                 above, meaningful only to the face model (ask for them if needed).")
VECTORS_IN = "The vectors are in templates/ (one JSON file each)."


@dataclass(frozen=True)
class SubjectExport:
    """What ``FaceGate.export_person`` wrote: the zip's path, the person, and how many of each
    part (crops, templates, events, snapshots, attendance days, audit rows); files: names in the zip."""

    path: Path
    person_id: int
    samples: int
    templates: int
    events: int
    snapshots: int
    attendance_days: int
    audit_rows: int
    vectors: bool
    files: tuple[str, ...]

    def describe(self) -> dict[str, object]:
        """Counts for the audit row."""
        return {"samples": self.samples, "templates": self.templates, "events": self.events,
                "snapshots": self.snapshots, "attendance_days": self.attendance_days,
                "audit_rows": self.audit_rows, "vectors": self.vectors}


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """CSV text (RFC 4180, ``\\r\\n`` line ends) of ``header`` and ``rows``; None as an empty field.
    A text that a spreadsheet would take for a formula (``=``, ``+``, ``-``, ``@`` first) is
    prefixed with a quote."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    for row in rows:
        w.writerow(["" if v is None else (f"'{v}" if isinstance(v, str) and v[:1] in ("=", "+", "-", "@") else v)
                    for v in row])
    return buf.getvalue()


def json_text(value: object) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n"


class ZipBuilder:
    """Writes a zip to a 0600 temporary file beside ``path``; :meth:`commit` renames it into place,
    :meth:`abort` removes it. Entries are written as they come (snapshots one at a time)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise IsADirectoryError(21, "Is a directory", str(self.path))
        self.tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        self.tmp.unlink(missing_ok=True)  # a stale one of a crashed run: new, so 0600 from creation
        fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), PRIVATE_FILE)
        self._file = os.fdopen(fd, "wb")
        self._zip = zipfile.ZipFile(self._file, "w", compression=zipfile.ZIP_DEFLATED)
        self.names: list[str] = []

    def add(self, name: str, data: bytes | str, compress: bool = True) -> None:
        info = zipfile.ZipInfo(name, date_time=(2000, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        info.external_attr = (0o600 << 16)
        self._zip.writestr(info, data.encode("utf-8") if isinstance(data, str) else data)
        self.names.append(name)

    def finish(self) -> None:
        """Close the zip and make the temporary file durable (not yet under its name)."""
        self._zip.close()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()

    def commit(self) -> None:
        """Rename the finished temporary file to ``path`` (atomic on one file system)."""
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        with contextlib.suppress(Exception):  # closing a half-written zip may fail; it is deleted anyway
            self._zip.close()
        with contextlib.suppress(OSError):
            self._file.close()
        self.tmp.unlink(missing_ok=True)
