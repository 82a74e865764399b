"""``facegate unknowns | assign``: the unknown-faces library from the command line (issue 14).

    facegate unknowns --db DB [--json] [--all]   the clusters of unknown faces, one per recurring
                                                 visitor (--json: one object per line with the keys
                                                 id, count, first_seen, last_seen, status, events)
    facegate unknowns --db DB --ignore ID        ignore a cluster (--unignore ID lists it again)
    facegate unknowns --db DB --delete ID --yes  delete a cluster and its faces
    facegate assign --db DB --cluster ID --name NAME [--employee-id ID] [--department D] [--force]
                                                 enrol the cluster as a new person, or add it to the
                                                 existing person of that name / employee ID

Listing clusters first groups the unknown faces not grouped yet. ``assign`` goes through the
same identity check as enrolment (a face that looks like another enrolled person is refused
unless --force). Every change is audited with the actor "cli" (the account's name once the
database has accounts: ``cli_auth``). Bad input (no such cluster, a name that is taken) is one
line on stderr and exit status 2 (see ``cli.main``); ``assign`` exits 1 when every face was refused.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .cli_auth import actor_of
from .paths import default_db

if TYPE_CHECKING:
    from desktop_app.core.service import FaceGate

EXAMPLES = """\
examples:
  facegate unknowns --db site.db
  facegate unknowns --db site.db --json
  facegate assign --db site.db --cluster 3 --name "Ada Lovelace" --employee-id E042
  facegate unknowns --db site.db --ignore 5
  facegate unknowns --db site.db --delete 6 --yes
"""


def _cluster_id(text: str) -> int:
    """argparse type of a cluster id: a whole number >= 1."""
    try:
        value = int(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a cluster id: give the number `facegate unknowns` lists") \
            from None
    if not 1 <= value <= 2**62:
        raise argparse.ArgumentTypeError(f"{text!r} is not a cluster id: give the number `facegate unknowns` lists")
    return value


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the unknowns and assign commands to the ``facegate`` parser."""
    p = sub.add_parser("unknowns", help="the unknown faces the door saw, grouped per recurring visitor",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", type=Path, default=None, help=f"database file (default {default_db()})")
    p.add_argument("--json", action="store_true",
                   help="one JSON object per cluster and line: id, count, first_seen, last_seen, status, events")
    p.add_argument("--all", action="store_true", help="list the ignored clusters too")
    act = p.add_mutually_exclusive_group()
    act.add_argument("--ignore", type=_cluster_id, default=None, metavar="ID",
                     help="ignore this cluster: it and its visitor's new faces leave the list")
    act.add_argument("--unignore", type=_cluster_id, default=None, metavar="ID", help="list this cluster again")
    act.add_argument("--delete", type=_cluster_id, default=None, metavar="ID",
                     help="delete this cluster and its faces (needs --yes)")
    p.add_argument("--yes", action="store_true", help="confirm --delete (it cannot be undone)")
    p = sub.add_parser("assign", help="enrol a cluster of unknown faces as a person (new or existing)",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", type=Path, default=None, help=f"database file (default {default_db()})")
    p.add_argument("--cluster", type=_cluster_id, required=True, metavar="ID", help="the cluster's id (`unknowns`)")
    p.add_argument("--name", required=True, help="the person's name: a new person, or the existing one of that name")
    p.add_argument("--employee-id", default=None, help="the person's employee ID (picks the existing person)")
    p.add_argument("--department", default=None, help="a new person's department")
    p.add_argument("--force", action="store_true",
                   help="store faces the identity check refuses (audited); only when you are sure")


def _gate(args: argparse.Namespace) -> FaceGate:
    from desktop_app.cli import _gate as open_gate

    gate: FaceGate = open_gate(args)
    return gate


def _local(ts: object) -> str:
    from datetime import datetime

    return ts.astimezone().strftime("%Y-%m-%d %H:%M") if isinstance(ts, datetime) else str(ts)


def cmd_unknowns(args: argparse.Namespace) -> int:
    if args.delete is not None and not args.yes:
        print("facegate unknowns: deleting a cluster deletes its faces and cannot be undone: add --yes.",
              file=sys.stderr)
        return 2
    with _gate(args) as gate:
        actor = actor_of(args)
        if args.delete is not None:
            n = gate.delete_unknown_cluster(args.delete, actor=actor)
            print(f"Deleted cluster {args.delete} and its {n} face(s).")
            return 0
        if args.ignore is not None or args.unignore is not None:
            cid = args.ignore if args.ignore is not None else args.unignore
            gate.ignore_unknown_cluster(cid, actor=actor, ignore=args.ignore is not None)
            print(f"Cluster {cid} is {'ignored' if args.ignore is not None else 'listed again'}.")
            return 0
        clusters = gate.unknown_clusters(include_ignored=args.all)
        if args.json:
            for c in clusters:
                print(json.dumps({"id": c.id, "count": c.count, "first_seen": c.first_seen.isoformat(),
                                  "last_seen": c.last_seen.isoformat(), "status": c.status,
                                  "events": list(c.sample_event_ids)}))
            return 0
        if not clusters:
            print("No unknown faces to show.")
            return 0
        print(f"{'id':>5}  {'faces':>5}  {'first seen':16}  {'last seen':16}  status")
        for c in clusters:
            print(f"{c.id:5d}  {c.count:5d}  {_local(c.first_seen):16}  {_local(c.last_seen):16}  {c.status}")
        print("Enrol one with: facegate assign --cluster ID --name NAME")
    return 0


def cmd_assign(args: argparse.Namespace) -> int:
    with _gate(args) as gate:
        rep = gate.assign_unknown_cluster(args.cluster, args.name, employee_id=args.employee_id,
                                          department=args.department, actor=actor_of(args), force=args.force)
        for shot in rep.rejected:
            print(f"refused {shot.source}: {shot.reason}", file=sys.stderr)
        for text in rep.warnings:
            print(f"warning: {text}", file=sys.stderr)
        if not rep.added:
            print(f"Nothing was enrolled from cluster {args.cluster}: every face was refused (see above); "
                  "--force stores them anyway.", file=sys.stderr)
            return 1
        print(f"Enrolled {len(rep.added)} face(s) of cluster {args.cluster} as {rep.name} (person {rep.person_id}); "
              "the cluster is resolved.")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"unknowns": cmd_unknowns, "assign": cmd_assign}
