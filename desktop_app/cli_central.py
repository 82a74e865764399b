"""``facegate central | sync`` and ``--central DSN``: many doors and sites on one PostgreSQL server.

    facegate central init --dsn DSN --site-key FILE     make the schema (or bring it up to date)
                                                        and the site key file (0600; kept if it exists)
    facegate central status --dsn DSN [--json]          doors, last seen, revision held, events waiting
    facegate central purge --dsn DSN --events-days N [--dry-run]
                                                        the server's retention: delete older events
    facegate sync --db DB --central DSN [--site-key FILE] [--node NAME]
                                                        one round: push the events, pull the roster
    facegate run --db DB --headless --door NAME --central DSN
                                                        the door loop with continuous sync beside it
    facegate enroll|erase|people|events|door|group|schedule|person|models ... --central DSN
                                                        the command on the central roster (admin workspace);
                                                        `models --rollback --central` rolls the site's
                                                        face model back on every door

The site key file can be given by ``--site-key`` or ``$FACEGATE_SITE_KEY``. A server that cannot
be reached is one line on stderr and exit status 2 (``sync``), or a health line (``run``: the door
goes on offline). With ``--central`` the ordinary command runs on a local cache of the central
roster (``core/central/workspace.py``), with every usual check and the accounts of that cache
(``cli_auth.RULES``), and its changes are published when it succeeds.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .paths import default_db

if TYPE_CHECKING:
    from desktop_app.core.central.sync import SyncThread
    from desktop_app.core.service import FaceGate

#: the commands that accept --central DSN in place of --db (their sub-commands too)
CENTRAL_COMMANDS = ("enroll", "erase", "people", "events", "attendance", "door", "group", "schedule", "person",
                    "models")


def _dsn_arg(p: argparse.ArgumentParser, name: str = "--dsn", required: bool = True) -> None:
    p.add_argument(name, dest="central" if name == "--central" else "dsn", required=required, metavar="DSN",
                   help="the central PostgreSQL server, e.g. postgresql://facegate@server/facegate")


def _days(text: str) -> int:
    try:
        days = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of days: {text!r}") from None
    if not 1 <= days <= 36500:
        raise argparse.ArgumentTypeError(f"{days} days: give 1 to 36500")
    return days


def _key_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--site-key", type=Path, default=None, metavar="FILE",
                   help="the site key file made by `central init` (default: $FACEGATE_SITE_KEY)")


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``central init|status`` and ``sync`` to the ``facegate`` parser."""
    c = sub.add_parser("central", help="the central PostgreSQL server of many doors and sites")
    cs = c.add_subparsers(dest="central_command", required=True, metavar="{init,status,purge}")
    p = cs.add_parser("init", help="create (or update) the central schema and the site key file")
    _dsn_arg(p)
    _key_arg(p)
    p = cs.add_parser("status", help="the doors and admin workspaces, last seen, events waiting")
    _dsn_arg(p)
    _key_arg(p)
    p.add_argument("--json", action="store_true")
    p = cs.add_parser("purge", help="delete the central events older than a number of days (the server's retention)")
    _dsn_arg(p)
    _key_arg(p)
    p.add_argument("--events-days", type=_days, required=True, metavar="N",
                   help="delete the central events older than N days (1 to 36500)")
    p.add_argument("--dry-run", action="store_true", help="count only")
    p = sub.add_parser("sync", help="one sync round of a door with the central server")
    p.add_argument("--db", type=Path, default=None, help=f"database file (default {default_db()})")
    _dsn_arg(p, "--central")
    _key_arg(p)
    p.add_argument("--node", default=None, metavar="NAME", help="this door's name on the server (default host/file)")
    p.add_argument("--door", action="extend", nargs="+", default=None, metavar="NAME",
                   help="the doors this node runs: only the people permitted at them are kept here (kept for later "
                        "rounds; default: everyone)")


def add_central_options(root: argparse.ArgumentParser) -> None:
    """Give ``--central DSN`` and ``--site-key`` to every runnable sub-command of
    :data:`CENTRAL_COMMANDS` and to ``run``."""
    subs = next(a for a in root._actions if isinstance(a, argparse._SubParsersAction))

    def leaves(p: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
        inner = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
        return [p] if not inner else [leaf for child in inner[0].choices.values() for leaf in leaves(child)]

    _dsn_arg(root, "--central", required=False)  # `facegate --central DSN` (make run ARGS=...): the app
    _key_arg(root)
    for name in (*CENTRAL_COMMANDS, "run", "gui"):
        for leaf in leaves(subs.choices[name]):
            _dsn_arg(leaf, "--central", required=False)
            _key_arg(leaf)


def _site_key(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from desktop_app.core.central.sitekey import SiteKey, key_path

    return SiteKey.load(key_path(getattr(args, "site_key", None)))


def cmd_central(args: argparse.Namespace) -> int:
    from desktop_app.core.central.client import CentralClient
    from desktop_app.core.central.connection import redact_dsn
    from desktop_app.core.central.sitekey import SiteKey, key_path

    if args.central_command == "init":
        path = key_path(args.site_key)
        with CentralClient(args.dsn) as client:
            existing = client.site_id()
            if path.exists():
                key = SiteKey.load(path)
            elif existing:
                print(f"facegate: error: the central server already holds site {existing[:8]}: give its key file "
                      "with --site-key (a new key would not open its data)", file=sys.stderr)
                return 2
            else:
                key = SiteKey.generate()
            new = client.init(key)
            if not path.exists():
                key.save(path)
                print(f"site key written to {path} (0600): copy it to every door and admin computer, and keep a "
                      "backup apart from the database backups")
        print(f"central server {redact_dsn(args.dsn)}: " + ("initialised" if new else "up to date")
              + f", site {key.site_id[:8]}")
        return 0
    if args.central_command == "purge":
        from datetime import UTC, datetime, timedelta

        before = datetime.now(UTC) - timedelta(days=args.events_days)
        with CentralClient(args.dsn, _site_key(args) if args.site_key or _env_key() else None) as client:
            deleted = client.purge_events(before, dry_run=args.dry_run)
        print(f"central server {redact_dsn(args.dsn)}: {deleted} events before {before:%Y-%m-%d %H:%M} UTC "
              + ("would be deleted (dry run)" if args.dry_run else "deleted"))
        return 0
    with CentralClient(args.dsn, _site_key(args) if args.site_key or _env_key() else None) as client:
        st = client.status()
    site_model = st.site_model
    if args.json:
        print(json.dumps({"site": st.site_id, "schema": st.schema_version, "revision": st.revision,
                          "roster": st.roster, "tombstones": st.tombstones, "events": st.events,
                          "model": None if site_model is None else {
                              "sha256": site_model.sha256, "name": site_model.name,
                              "set_at": site_model.set_at.isoformat(), "set_by": site_model.set_by},
                          "nodes": [{"name": n.name, "role": n.role, "doors": list(n.doors),
                                     "last_seen": n.last_seen.isoformat(), "revision": n.roster_revision,
                                     "pending_events": n.pending_events, "last_error": n.last_error,
                                     "model_sha256": n.model_sha256}
                                    for n in st.nodes]}))
        return 0
    roster = ", ".join(f"{n} {k}s" for k, n in sorted(st.roster.items())) or "empty roster"
    print(f"site {st.site_id[:8]}, schema {st.schema_version}, revision {st.revision}: {roster}; "
          f"{st.tombstones} tombstones; {st.events} events")
    print("site model: " + ("none published yet (each door runs its own)" if site_model is None else
                            f"{site_model.name} ({site_model.sha256[:12]}), set by {site_model.set_by} "
                            f"{site_model.set_at.strftime('%Y-%m-%d %H:%M:%S')} UTC"))
    print("node                              role   last seen (UTC)      revision  waiting  model         "
          "doors / last error")
    for n in st.nodes:
        seen = n.last_seen.strftime("%Y-%m-%d %H:%M:%S")
        model = (n.model_sha256 or "?")[:12]
        if site_model is not None and n.model_sha256 != site_model.sha256:
            model += "*"  # not (yet) on the site's model
        tail = ", ".join(n.doors) + (f"  [error: {n.last_error}]" if n.last_error else "")
        print(f"{n.name[:33]:33s} {n.role:6s} {seen:20s} {n.roster_revision:8d} {n.pending_events:8d}  {model:13s} "
              f"{tail}")
    if site_model is not None and any(n.model_sha256 != site_model.sha256 for n in st.nodes):
        print("*: not on the site's model yet (it switches at its next sync; see its last error otherwise)")
    return 0


def _env_key() -> bool:
    import os

    from desktop_app.core.central.sitekey import ENV_VAR

    return bool(os.environ.get(ENV_VAR))


def cmd_sync(args: argparse.Namespace) -> int:
    from desktop_app.core.central.client import CentralClient

    from .cli import _gate

    key = _site_key(args)
    with _gate(args) as gate, CentralClient(args.central, key) as client:
        report = gate.central_sync(client, name=args.node, doors=args.door)
    print(f"sync: {report.line()}")
    return 0


def central_link(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """For ``gui --central DSN``: the app's link to the server (None without --central)."""
    if not getattr(args, "central", None):
        return None
    import platform

    from desktop_app.core.central.applink import CentralLink

    from .cli_auth import actor_of

    if getattr(args, "db", None) is not None:
        from desktop_app.core.central.errors import CentralError

        raise CentralError("give --db (a local database) or --central (the central server), not both")
    actor = actor_of(args)
    return CentralLink(args.central, _site_key(args), actor=f"app@{platform.node()}" if actor == "cli" else actor)


def start_run_sync(gate: FaceGate, args: argparse.Namespace) -> SyncThread | None:
    """For ``run --central DSN``: the sync thread beside the door loop (None without --central)."""
    if not getattr(args, "central", None):
        return None
    from desktop_app.core.central.sync import SyncThread
    from desktop_app.core.doors.runner import select_doors

    doors = [d.name for d in select_doors(gate.doors(), args.door or ())] if gate.doors() else None
    thread = SyncThread(gate, args.central, _site_key(args), doors=doors,
                        on_health=lambda line: print(f"[{line}]", file=sys.stderr, flush=True))
    thread.start()
    return thread


def stop_run_sync(thread: SyncThread | None) -> None:
    if thread is not None:
        thread.stop()
        print(f"[{thread.health}]", file=sys.stderr, flush=True)


def central_wrapped(args: argparse.Namespace, command: Callable[[argparse.Namespace], int]
                    ) -> Callable[[argparse.Namespace], int]:
    """``command`` itself, or, with ``--central DSN``, the command run in the admin workspace:
    ``args.db`` becomes the site's cache (the accounts checked are that cache's), the roster is
    pulled under the admins' lock before and the changes published after."""
    dsn = getattr(args, "central", None)
    if dsn and args.command == "run" and (args.source is not None or not args.headless):
        from desktop_app.core.central.errors import CentralError

        raise CentralError("run --central syncs the doors of the database: use it with --headless and --door, "
                           "not with --source")
    if not dsn or args.command in ("run", "sync", "gui", None):  # gui: the app keeps its own link (ui/app.py)
        return command
    from desktop_app.core.central.client import CentralClient
    from desktop_app.core.central.errors import CentralError
    from desktop_app.core.central.workspace import cache_path

    if args.db is not None:
        raise CentralError("give --db (a local database) or --central (the central server), not both")
    key = _site_key(args)
    with CentralClient(dsn) as client:
        site = client.site_id()
    if site is None:
        raise CentralError("the central database is not initialised: run `facegate central init --dsn DSN`")
    args.db = cache_path(site)

    def run(a: argparse.Namespace) -> int:
        from desktop_app.core.central.workspace import PublishReport, central_workspace

        from .cli_auth import actor_of

        reports: list[PublishReport] = []
        with central_workspace(dsn, key, actor=actor_of(a), device=getattr(a, "device", None), cache=a.db,
                               reports=reports, with_events=a.command in ("events", "attendance")):
            status = command(a)
        for r in reports:
            print(r.line(), file=sys.stderr)
        return status

    return run


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"central": cmd_central, "sync": cmd_sync}
