"""``facegate privacy | purge | export-person``: retention, subject access, kiosk privacy.

    facegate privacy --db DB [--events-days N|keep] [--snapshots-days N|keep] [--door-display full|initials|none]
                                     show (or set) the retention limits and what the door screen shows
    facegate purge --db DB [--dry-run]
                                     delete the events and snapshots past the retention limits now
    facegate export-person --db DB (--person NAME [--employee-id ID] | --id ID) --out FILE.zip [--with-vectors]
                                     everything held about one person, as a zip (GDPR article 15)

Once the database has accounts, ``purge`` and ``export-person`` need an admin's credentials and
``privacy`` with a change needs the settings right (``cli_auth.RULES``). Every change is audited
(``retention.purge``, ``person.export``, ``settings.update``). User errors are one line on stderr
and exit status 2 (``cli.main``); a person not found is exit status 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from desktop_app.core.errors import InputError
from desktop_app.core.privacy.display import DoorDisplay

from .cli_auth import actor_of
from .paths import default_db

if TYPE_CHECKING:
    from desktop_app.core.service import FaceGate

EXAMPLES = """\
examples:
  facegate privacy --db site.db --events-days 90 --snapshots-days 30 --door-display initials
  facegate purge --db site.db --dry-run
  printf '%s\\n' "$ADMIN_PASSWORD" | facegate export-person --db site.db --person "Jane Doe" \\
      --out jane-doe.zip --password-stdin
"""


def _days(text: str) -> int | None:
    """``--events-days`` value: a whole number of days, or "keep" (None: kept for ever)."""
    if text.strip().lower() in ("keep", "none", "forever"):
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"give a whole number of days or 'keep', not {text!r}") from None


def _db_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", type=Path, default=None, help=f"database file (default {default_db()})")


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the privacy, purge and export-person commands to the ``facegate`` parser."""
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("privacy", help="show or set the retention limits and what the door screen shows",
                       epilog=EXAMPLES, formatter_class=fmt)
    _db_arg(p)
    p.add_argument("--events-days", type=_days, default=..., metavar="N|keep",
                   help="delete door events older than N days ('keep': never)")
    p.add_argument("--snapshots-days", type=_days, default=..., metavar="N|keep",
                   help="delete the face snapshots of events older than N days ('keep': as long as the event)")
    p.add_argument("--door-display", choices=[d.value for d in DoorDisplay], default=None,
                   help="what the door screen shows of a person: full name and photo, initials, or none")
    p = sub.add_parser("purge", help="delete the events and snapshots past the retention limits now",
                       epilog=EXAMPLES, formatter_class=fmt)
    _db_arg(p)
    p.add_argument("--dry-run", action="store_true", help="only count what would be deleted")
    p = sub.add_parser("export-person", help="export everything held about one person as a zip (subject access)",
                       epilog=EXAMPLES, formatter_class=fmt)
    _db_arg(p)
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--person", help="the person's name")
    who.add_argument("--id", type=int, help="the person's id (facegate people)")
    p.add_argument("--employee-id", default=None, help="with --person: tells apart people of the same name")
    p.add_argument("--out", type=Path, required=True, help="the zip file to write (must not exist)")
    p.add_argument("--with-vectors", action="store_true",
                   help="also include the face template vectors (not included by default: see docs)")


def _open(args: argparse.Namespace, allow_locked: bool = True) -> FaceGate:
    """The FaceGate of ``--db``; InputError when the database does not exist (never created here)."""
    from desktop_app.core.service import FaceGate

    db = Path(args.db or default_db())
    if not db.is_file():
        raise InputError(f"There is no database at {db}.")
    return FaceGate(db, allow_locked=allow_locked)


def _days_text(days: int | None) -> str:
    return "kept" if days is None else f"{days} day(s)"


def cmd_privacy(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from desktop_app.core.config import describe_validation_error

    with _open(args) as gate:
        cfg = gate.config
        retention = cfg.retention.model_dump()
        if args.events_days is not ...:
            retention["events_days"] = args.events_days
        if args.snapshots_days is not ...:
            retention["snapshots_days"] = args.snapshots_days
        screen = cfg.door_screen.model_dump()
        if args.door_display is not None:
            screen["display"] = args.door_display
        try:
            new = cfg.model_validate({**cfg.model_dump(), "retention": retention, "door_screen": screen})
        except ValidationError as exc:
            raise InputError(f"Not changed: {describe_validation_error(exc)}") from None
        if new != cfg:
            gate.update_config(new, actor=actor_of(args))
            print("Saved.")
        r = new.retention
        print(f"events: {_days_text(r.events_days)}; snapshots: {_days_text(r.snapshots_days)}; "
              f"attendance: kept; door screen: {new.door_screen.display.value}")
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    with _open(args) as gate:
        r = gate.config.retention
        if r.events_days is None and r.snapshots_days is None:
            print("Nothing to purge: the retention limits keep every event and snapshot "
                  "(set them with facegate privacy --events-days N --snapshots-days N).")
            return 0
        report = gate.purge_expired(actor=actor_of(args), dry_run=args.dry_run)
        print(f"Retention (events {_days_text(r.events_days)}, snapshots {_days_text(r.snapshots_days)}): "
              f"{report.summary()}.")
    return 0


def cmd_export_person(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists():
        raise InputError(f"{out} exists already; choose a new file name (nothing was written).")
    if not out.parent.is_dir():
        raise InputError(f"The folder {out.parent} does not exist (nothing was written).")
    with _open(args, allow_locked=False) as gate:
        if args.id is not None:
            person = gate.get_person(args.id)
            what = f"id {args.id}"
        else:
            person = gate.find_person(args.person, args.employee_id)
            what = repr(args.person) + (f" with employee ID {args.employee_id!r}" if args.employee_id else "")
        if person is None:
            print(f"facegate export-person: no person with {what}.", file=sys.stderr)
            return 1
        done = gate.export_person(person.id, out, actor=actor_of(args), include_vectors=args.with_vectors)
        print(f"Wrote {out}: {person.name}'s record, {done.samples} face crop(s), {done.templates} template(s)"
              f"{' with vectors' if done.vectors else ''}, {done.events} event(s) with {done.snapshots} snapshot(s), "
              f"{done.attendance_days} attendance day(s), {done.audit_rows} audit row(s). It holds biometric data: "
              "hand it to the person only.")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "privacy": cmd_privacy, "purge": cmd_purge, "export-person": cmd_export_person,
}
