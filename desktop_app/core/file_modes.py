"""Private file modes for FaceGate's data: files 0600, folders 0700 (POSIX), and the check that
says when the data can be read by other users of the computer.

FaceGate's data folder holds biometric data (face crops, templates, the gallery index). Each place
that creates part of it uses an explicit mode (``make_private_dirs``, ``create_private_file``,
``write_private_text``, ``make_private``) instead of changing the process's umask, which would also
affect files that other code of the same process writes (a CSV the user exports to their Documents,
say) and is not thread-safe. SQLite gives the ``-wal`` and ``-shm`` files the mode of the database
file, so creating the database file 0600 first covers them.

Existing files and folders are never changed silently (an administrator may share a folder on
purpose): ``mode_problems`` lists what others can reach, ``mode_warning`` says it with the
``chmod`` command that fixes it, and ``facegate doctor --repair`` applies it (``fix_modes``).
On Windows (no POSIX modes) these are no-ops and nothing is reported.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

PRIVATE_FILE: Final[int] = 0o600
PRIVATE_DIR: Final[int] = 0o700
#: group and others' permission bits: any of them set lets another user reach the data
OTHERS: Final[int] = 0o077
#: FaceGate's folders beside the database, checked with everything directly in them
DATA_SUBFOLDERS: Final[tuple[str, ...]] = ("models", "gallery", "logs")

POSIX: Final[bool] = os.name == "posix"


def make_private_dirs(folder: Path) -> None:
    """Create ``folder`` and its missing parents with mode 0700 (``mkdir -p -m 700``; existing
    folders are left as they are). OSError when one cannot be created."""
    folder = Path(folder)
    missing: list[Path] = []
    here = folder
    while not here.exists():
        missing.append(here)
        if here.parent == here:
            break
        here = here.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:  # another process made it meanwhile
            continue
        make_private(path)  # mkdir's mode is filtered by the umask; this is exact
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is not a folder")


def make_private(path: Path) -> None:
    """Give ``path`` mode 0600 (file) or 0700 (folder); nothing on Windows. OSError passes."""
    if POSIX:
        os.chmod(path, PRIVATE_DIR if Path(path).is_dir() else PRIVATE_FILE)


def create_private_file(path: Path) -> bool:
    """Create ``path`` empty with mode 0600 unless it exists; True when this call created it."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), PRIVATE_FILE)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def write_private_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` with mode 0600 (an existing file is truncated and made 0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), PRIVATE_FILE)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        if POSIX:
            os.fchmod(fh.fileno(), PRIVATE_FILE)
        fh.write(text)


@dataclass(frozen=True)
class ModeProblem:
    """A FaceGate file or folder that other users may reach: its path, its permission bits
    (e.g. 0o644), whether it is a folder."""

    path: Path
    mode: int
    is_dir: bool

    def describe(self) -> str:
        return f"{self.path} ({self.mode:04o})"


def _data_paths(db_path: Path) -> list[Path]:
    """FaceGate's own places for the database ``db_path``: its folder, the files beside it whose
    name starts with the database's (WAL, SHM, spool, audit head file, reserve), and the models,
    gallery and logs folders with what is directly in them. The data folder may be shared with
    other programs' files: those are not looked at."""
    db_path = Path(db_path)
    folder = db_path.parent
    out: list[Path] = [folder]
    with contextlib.suppress(OSError):
        out += sorted(p for p in folder.iterdir() if p.name.startswith(db_path.name))
    for name in DATA_SUBFOLDERS:
        sub = folder / name
        if sub.is_dir():
            out.append(sub)
            with contextlib.suppress(OSError):
                out += sorted(sub.iterdir())
    return out


def mode_problems(db_path: Path) -> list[ModeProblem]:
    """Files and folders of FaceGate's data (see ``_data_paths``) that grant group or other users
    any permission, owned by this user (others' files are not ours to judge). [] on Windows."""
    if not POSIX:
        return []
    uid = os.getuid()
    out: list[ModeProblem] = []
    for path in _data_paths(db_path):
        try:
            st = path.lstat()
        except OSError:
            continue  # vanished meanwhile
        if stat.S_ISLNK(st.st_mode) or st.st_uid != uid:
            continue
        bits = stat.S_IMODE(st.st_mode)
        if bits & OTHERS:
            out.append(ModeProblem(path, bits, stat.S_ISDIR(st.st_mode)))
    return out


def _shared_folder(problem: ModeProblem) -> bool:
    """True for a folder that is not ours to lock: sticky (``/tmp``) or the home folder itself."""
    if not problem.is_dir:
        return False
    return bool(problem.mode & stat.S_ISVTX) or problem.path.resolve() in (Path.home().resolve(), Path("/"))


def fix_command(problems: Sequence[ModeProblem], db_path: Path) -> str:
    """The shell command that removes the others' permissions of ``problems`` (folders 0700 and
    files 0600 for the usual 0755 / 0644): ``chmod go-rwx ...``, ``-R`` for FaceGate's sub-folders,
    and ``<db>*`` for the files beside the database (the -wal and -shm files come and go)."""
    db_path = Path(db_path)
    folder = db_path.parent
    subfolders = {folder / name for name in DATA_SUBFOLDERS}
    plain: list[str] = []
    recursive: list[str] = []

    def add(to: list[str], word: str) -> None:
        if word not in to:
            to.append(word)

    for p in problems:
        if _shared_folder(p):
            continue
        if p.path in subfolders or p.path.parent in subfolders:
            add(recursive, shlex.quote(str(p.path if p.path in subfolders else p.path.parent)))
        elif p.path.parent == folder and p.path.name.startswith(db_path.name):
            add(plain, shlex.quote(str(db_path)) + "*")
        else:
            add(plain, shlex.quote(str(p.path)))
    parts = []
    if plain:
        parts.append("chmod go-rwx " + " ".join(plain))
    if recursive:
        parts.append("chmod -R go-rwx " + " ".join(recursive))
    return " && ".join(parts)


def mode_warning(db_path: Path, problems: Sequence[ModeProblem] | None = None) -> str | None:
    """One sentence for the start-up warnings when FaceGate's data can be reached by other users
    (with the command that fixes it), else None."""
    found = list(mode_problems(db_path) if problems is None else problems)
    if not found:
        return None
    shown = ", ".join(p.describe() for p in found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
    text = (f"{len(found)} file(s) or folder(s) of FaceGate's data (face data included) can be read by other "
            f"users of this computer: {shown}.")
    command = fix_command(found, db_path)
    if command:
        text += f" Fix: {command} (or run `facegate doctor --db {shlex.quote(str(db_path))} --repair`)."
    shared = [p for p in found if _shared_folder(p)]
    if shared:
        text += (f" {shared[0].path} is a shared folder: keep the database in a folder of its own "
                 "(e.g. ~/.local/share/facegate).")
    return text


def fix_modes(problems: Iterable[ModeProblem]) -> list[str]:
    """Remove the group and other permissions of each problem path (shared folders such as /tmp
    or the home folder are left alone); returns one sentence per path that could not be fixed."""
    failed: list[str] = []
    for p in problems:
        if _shared_folder(p):
            failed.append(f"{p.path} is a shared folder: move the database to a folder of its own")
            continue
        try:
            os.chmod(p.path, p.mode & ~OTHERS)
        except FileNotFoundError:  # gone meanwhile (a -wal or -shm file at the last close)
            continue
        except OSError as exc:
            failed.append(f"could not change the mode of {p.path}: {exc.strerror or exc}")
    return failed
