"""``facegate backup`` and ``facegate restore``: the whole data folder in one encrypted file.

    facegate backup --db DB --out FILE [--passphrase-stdin]
    facegate restore --db DB --from FILE [--passphrase-stdin] [--keep-previous] [--yes]

The backup passphrase (a new one follows the accounts' password rules) is asked on the terminal
(twice for a backup), or read from standard input with ``--passphrase-stdin``: the next line,
after the account's password when ``--password-stdin`` gives that too. It is never taken from the
command line. Both commands need an admin once the database has accounts (``cli_auth.RULES``:
maintain); a restore into a database that does not exist yet (a new computer) needs none. Errors
(wrong passphrase, a damaged archive, the database open in a running door) are one line and exit
status 2; nothing is changed.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from pathlib import Path

from desktop_app.core.errors import InputError

from .cli_auth import actor_of
from .paths import default_db

EXAMPLES = """\
examples:
  facegate backup --db /srv/facegate/facegate.db --out /mnt/usb/facegate-2026-12-02.fgbak
  printf '%s\\n%s\\n' "$ADMIN_PASSWORD" "$BACKUP_PASSPHRASE" | \\
      facegate backup --db site.db --out site.fgbak --password-stdin --passphrase-stdin
  facegate restore --db /srv/facegate/facegate.db --from /mnt/usb/facegate-2026-12-02.fgbak
"""


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", type=Path, default=None, help=f"database file (default {default_db()})")
    p.add_argument("--passphrase-stdin", action="store_true",
                   help="read the backup passphrase from standard input (the next line) instead of the terminal")


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the backup and restore commands to the ``facegate`` parser."""
    p = sub.add_parser("backup", help="write an encrypted backup of the database and its data folder",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(p)
    p.add_argument("--out", type=Path, required=True, help="the backup file to write (must not exist)")
    p = sub.add_parser("restore", help="replace the database by a backup (verified first; the door must be stopped)",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(p)
    p.add_argument("--from", dest="source", type=Path, required=True, metavar="FILE", help="the backup file")
    p.add_argument("--keep-previous", action="store_true",
                   help="keep the replaced database as <db>.before-restore-<time> (default: deleted once the "
                        "restored one opens and passes its checks)")
    p.add_argument("--yes", action="store_true", help="do not ask before replacing the database")


def read_passphrase(args: argparse.Namespace, confirm: bool) -> str:
    """The backup passphrase: the next line of standard input with ``--passphrase-stdin``, else
    asked on the terminal (twice with ``confirm``); InputError when neither works or it is empty."""
    if args.passphrase_stdin:
        line = sys.stdin.readline() if sys.stdin is not None else ""
        if not line:
            raise InputError("--passphrase-stdin: no backup passphrase on standard input.")
        value = line.removesuffix("\n").removesuffix("\r")
    elif sys.stdin is not None and sys.stdin.isatty():
        value = getpass.getpass("Backup passphrase: ")
        if confirm and getpass.getpass("Again: ") != value:
            raise InputError("The two passphrases differ; nothing was written.")
    else:
        raise InputError("Give the backup passphrase on standard input with --passphrase-stdin, or run the command "
                         "in a terminal.")
    if not value:
        raise InputError("The backup passphrase is empty.")
    return value


def _progress_printer(enabled: bool) -> Callable[[int, int, str], None] | None:
    if not enabled:
        return None
    last = [""]

    def show(done: int, total: int, message: str) -> None:
        pct = f"{100 * done // total}%" if total > 0 else ""
        line = f"\r{message} {pct}".ljust(60)
        if line != last[0]:
            last[0] = line
            print(line, end="", file=sys.stderr, flush=True)

    return show


def cmd_backup(args: argparse.Namespace) -> int:
    from desktop_app.core.service import FaceGate

    db = Path(args.db or default_db())
    if not db.is_file():
        raise InputError(f"There is no database at {db}.")
    out = Path(args.out)
    if out.exists():
        raise InputError(f"{out} already exists; choose a new file name for the backup.")
    passphrase = read_passphrase(args, confirm=True)
    progress = _progress_printer(sys.stderr is not None and sys.stderr.isatty())
    with FaceGate(db, allow_locked=True) as gate:
        report = gate.backup_to(out, passphrase, actor=actor_of(args), progress=progress)
    if progress is not None:
        print(file=sys.stderr)
    print(f"Backup written to {report.path} ({report.size / 1e6:.1f} MB, encrypted): {report.people} people, "
          f"{report.templates} templates, {report.events} events, schema {report.schema_version}; "
          f"sha256 {report.sha256}.")
    for line in report.warnings:
        print(f"warning: {line}", file=sys.stderr)
    print("Keep the passphrase apart from the file: without it the backup opens for no one.")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from desktop_app.core.backup import read_backup_header
    from desktop_app.core.backup.restore import check_schema
    from desktop_app.core.service import FaceGate

    db = Path(args.db or default_db())
    source = Path(args.source)
    if not source.is_file():
        raise InputError(f"There is no backup file at {source}.")
    header = read_backup_header(source)  # not a backup / newer format: said before any question
    check_schema(header)  # a newer FaceGate's backup: refused before the passphrase is asked for
    if not args.yes and (sys.stdin is None or not sys.stdin.isatty()):
        print("facegate restore: restoring replaces the database, so it needs a confirmation: run it in a "
              "terminal to be asked, or add --yes.", file=sys.stderr)
        return 2
    passphrase = read_passphrase(args, confirm=False)
    if not args.yes:
        answer = input(f"Replace {db} by the backup made {header.created_at}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("Nothing was restored.", file=sys.stderr)
            return 1
    progress = _progress_printer(sys.stderr is not None and sys.stderr.isatty())
    report = FaceGate.restore_backup(db, source, passphrase, actor=actor_of(args), progress=progress,
                                     keep_previous=args.keep_previous)
    if progress is not None:
        print(file=sys.stderr)
    migrated = (f", migrated from schema {report.schema_version} to {report.schema_now}"
                if report.schema_now != report.schema_version else "")
    print(f"Restored {report.db_path} from {report.archive} (made {report.created_at}{migrated}): {report.people} "
          f"people, {report.templates} templates, {report.events} events, {report.pending_events} pending event(s); "
          f"sha256 {report.sha256}.")
    if report.erasures_reapplied:
        print(f"{report.erasures_reapplied} person(s) erased after this backup was made were erased again "
              "(erasure ledger).")
    if report.previous is not None:
        print(f"The replaced database is kept as {report.previous}.")
    if report.locked is not None:
        print(f"The face data is locked on this computer: unlock it once with an admin password of the backup: "
              f"facegate unlock --db {report.db_path} --password-stdin", file=sys.stderr)
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"backup": cmd_backup, "restore": cmd_restore}
