"""``facegate correct | corrections | refresh-templates``: corrections of door decisions, the
false-accept / false-reject dashboard, and the template refresh (issue 14, docs/corrections.md).

    facegate correct --db DB --event ID --not-person      the event named the wrong person
    facegate correct --db DB --event ID --was NAME        the event was NAME (a missed match)
    facegate correct --db DB --event ID --withdraw        take the correction back
    facegate corrections --db DB [--json] [--all] [--list]
                                                          false accepts / rejects per person
    facegate refresh-templates --db DB [--dry-run | --enable | --disable] [--json]
                                                          promote held door captures to templates

Every change goes through the ``FaceGate`` facade and is audited with the account's name
(``cli_auth``: correcting and refreshing need the enrol right, the dashboard the events right).
User errors (no such event, an unknown name, a pointless verdict, a missing database) are one line
on stderr and exit status 2 (``cli.main``); ``corrections`` exits 0 also when there are none.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from desktop_app.core.errors import InputError

from .cli_auth import actor_of
from .paths import default_db

if TYPE_CHECKING:
    from desktop_app.core.service import FaceGate

EXAMPLES = """\
examples:
  facegate correct --db site.db --event 412 --not-person
  facegate correct --db site.db --event 415 --was "Ann Lee"
  facegate corrections --db site.db --json
  facegate refresh-templates --db site.db --dry-run
"""


def _event_id(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not an event id (a whole number, as `facegate events` shows)")
    return int(text)


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the correct, corrections and refresh-templates commands to the ``facegate`` parser."""
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("correct", help="say that an event named the wrong person, or who it really was (audited)",
                       epilog=EXAMPLES, formatter_class=fmt)
    p.add_argument("--db", type=Path, default=None, help=f"database file (default {default_db()})")
    p.add_argument("--event", type=_event_id, required=True, metavar="ID", help="the event's id (facegate events)")
    verdict = p.add_mutually_exclusive_group(required=True)
    verdict.add_argument("--not-person", action="store_true", help="the person the event named was someone else")
    verdict.add_argument("--was", default=None, metavar="NAME", help="the event was this enrolled person")
    verdict.add_argument("--withdraw", action="store_true", help="take back the event's correction")
    p.add_argument("--employee-id", default=None, help="with --was: the employee ID when several share the name")
    p.add_argument("--note", default=None, help="a few words kept with the correction")
    p = sub.add_parser("corrections", help="false accepts and false rejects per person, from the corrections",
                       epilog=EXAMPLES, formatter_class=fmt)
    p.add_argument("--db", type=Path, default=None, help=f"database file (default {default_db()})")
    p.add_argument("--json", action="store_true",
                   help="one JSON object per person and line (person_id, name, granted, false_accepts, "
                        "false_rejects, fa_rate, fr_rate, last_false_accept, last_false_reject)")
    p.add_argument("--all", action="store_true", help="every person, also those without a correction")
    p.add_argument("--list", action="store_true", help="list the corrections themselves, newest first")
    p = sub.add_parser("refresh-templates", help="add good door captures as templates (template_refresh settings)",
                       epilog=EXAMPLES, formatter_class=fmt)
    p.add_argument("--db", type=Path, default=None, help=f"database file (default {default_db()})")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="say what would be promoted; change nothing")
    mode.add_argument("--enable", action="store_true", help="turn the template refresh on (a setting), then run it")
    mode.add_argument("--disable", action="store_true", help="turn the template refresh off (a setting)")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")


def _open(args: argparse.Namespace) -> FaceGate:
    """The FaceGate of ``--db``; InputError when the database does not exist (never created here)."""
    from desktop_app.core.service import FaceGate

    db = Path(args.db or default_db())
    if not db.is_file():
        raise InputError(f"There is no database at {db}.")
    return FaceGate(db)


def cmd_correct(args: argparse.Namespace) -> int:
    with _open(args) as gate:
        if args.withdraw:
            if gate.withdraw_correction(args.event, actor=actor_of(args)):
                print(f"The correction of event {args.event} was withdrawn.")
                return 0
            print(f"Event {args.event} has no correction.", file=sys.stderr)
            return 1
        was: int | None = None
        if args.was is not None:
            person = gate.find_person(args.was, args.employee_id)
            if person is None:
                raise InputError(f"No enrolled person is named {args.was!r}.")
            was = person.id
        elif args.employee_id is not None:
            raise InputError("--employee-id goes with --was.")
        made = gate.correct_event(args.event, not_person=args.not_person, was=was, actor=actor_of(args),
                                  note=args.note)
        print(f"Event {args.event} corrected: {made.describe()}.")
    return 0


def _rate(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def cmd_corrections(args: argparse.Namespace) -> int:
    with _open(args) as gate:
        if args.list:
            rows = gate.corrections()
            for c in rows:
                if args.json:
                    print(json.dumps({"id": c.id, "event_id": c.event_id, "kind": c.kind.value,
                                      "wrong_person": c.wrong_name, "true_person": c.true_name,
                                      "event_ts": c.event_ts.isoformat(), "decision": c.event_decision,
                                      "score": round(c.event_score, 4), "actor": c.actor,
                                      "created_at": c.created_at.isoformat(), "note": c.note}))
                else:
                    print(f"#{c.id} event {c.event_id if c.event_id is not None else '(deleted)'} "
                          f"{c.event_ts:%Y-%m-%d %H:%M}: {c.describe()} by {c.actor}")
            if not rows and not args.json:
                print("No corrections yet.")
            return 0
        board = gate.correction_dashboard(everyone=args.all)
        if args.json:
            for row in board:
                print(json.dumps(row.to_dict()))
            return 0
        if not board:
            print("No corrections yet: no false accept or false reject was reported.")
            return 0
        print(f"{'person':<28} {'granted':>7} {'FA':>4} {'FA rate':>8} {'FR':>4} {'FR rate':>8}  last")
        for r in board:
            last = max((t for t in (r.last_false_accept, r.last_false_reject) if t is not None), default=None)
            print(f"{r.name[:28]:<28} {r.granted:>7} {r.false_accepts:>4} {_rate(r.fa_rate):>8} "
                  f"{r.false_rejects:>4} {_rate(r.fr_rate):>8}  {last:%Y-%m-%d}" if last else
                  f"{r.name[:28]:<28} {r.granted:>7} {r.false_accepts:>4} {_rate(r.fa_rate):>8} "
                  f"{r.false_rejects:>4} {_rate(r.fr_rate):>8}  -")
    return 0


def cmd_refresh_templates(args: argparse.Namespace) -> int:
    with _open(args) as gate:
        if args.enable or args.disable:
            current = gate.config.template_refresh
            if current.enabled != bool(args.enable):
                gate.update_config(gate.config.model_copy(update={
                    "template_refresh": current.model_copy(update={"enabled": bool(args.enable)})}),
                    actor=actor_of(args))
            print(f"Template refresh {'on' if args.enable else 'off'}.", file=sys.stderr)
            if args.disable:
                return 0
        report = gate.refresh_templates(actor=actor_of(args), dry_run=args.dry_run)
        if args.json:
            print(json.dumps(report.to_dict()))
            return 0
        verb = "would add" if args.dry_run else "added"
        print(f"Template refresh: {verb} {len(report.promoted)} template(s); {len(report.held)} capture(s) still "
              f"held; {len(report.skipped)} skipped.")
        for c in report.skipped:
            print(f"  event {c.event_id} ({c.name}): {c.reason}")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "correct": cmd_correct, "corrections": cmd_corrections, "refresh-templates": cmd_refresh_templates,
}
