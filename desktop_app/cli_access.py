"""``facegate door | group | schedule | person``: access control from the command line.

    facegate door add --db DB --name NAME --source SRC [--direction in|out] [--output URI]
                      [--secret S] [--unlock-seconds N] [--fail secure|safe]
                      [--liveness off|passive|challenge|default]
    facegate door list --db DB
    facegate door open --db DB --name NAME          remote open, audited
    facegate door remove --db DB --name NAME
    facegate group add --db DB --name G [--schedule "Mon-Fri 08:00-18:00"] [--doors D1,D2]
    facegate group list / remove
    facegate schedule add --db DB --name N --spec TEXT [--holidays D,D] [--timezone TZ]
    facegate schedule list / remove
    facegate person set --db DB --name P [--employee-id ID] [--groups G1,G2]
                        [--valid-from YYYY-MM-DD] [--valid-until YYYY-MM-DD] [--active|--inactive]

Every change goes through the ``FaceGate`` facade and is audited with the actor "cli" (the
account's name once the database has accounts: ``cli_auth``). User
errors (unknown door, group or person, a bad schedule, a bad output URI) are one line on stderr
and exit status 2 (see ``cli.main``). A door's secret is never printed: listings say "set" or
"none".
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from desktop_app.core.access.model import DEFAULT_OUTPUT, CameraSpec, DoorSpec, Group, Permission
from desktop_app.core.access.schedule import Schedule
from desktop_app.core.errors import InputError
from desktop_app.core.outputs.base import redact_uri
from desktop_app.core.vocabulary import Direction, FailMode, LivenessMode

from .cli_auth import actor_of
from .paths import default_db

if TYPE_CHECKING:
    from desktop_app.core.service import FaceGate

EXAMPLES = """\
examples:
  facegate door add --db site.db --name front --source 0 --direction in --output log:
  facegate door add --db site.db --name front --source rtsp://cam2/stream --direction out
  facegate schedule add --db site.db --name office --spec "Mon-Fri 08:00-18:00" --timezone Europe/Paris
  facegate group add --db site.db --name staff --schedule office --doors front,back
  facegate person set --db site.db --name "Ada Lovelace" --groups staff --valid-until 2026-12-31
  facegate door open --db site.db --name front
"""


def _db_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", type=Path, default=None, help=f"database file (default {default_db()})")


def _names(text: str) -> list[str]:
    """argparse type of --doors / --groups: comma-separated names ("" gives none)."""
    return [n.strip() for n in text.split(",") if n.strip()]


def _day_or_none(text: str) -> date | None:
    """argparse type of --valid-from / --valid-until: YYYY-MM-DD, or "none" for no limit."""
    if text.strip().lower() in ("", "none"):
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a day: write it as YYYY-MM-DD (e.g. 2026-12-31), or 'none' for no limit") from None


def _days(text: str) -> frozenset[date]:
    """argparse type of --holidays: comma-separated YYYY-MM-DD days."""
    out: set[date] = set()
    for part in _names(text):
        try:
            out.add(date.fromisoformat(part))
        except ValueError:
            raise argparse.ArgumentTypeError(f"holiday {part!r} is not a day: write YYYY-MM-DD") from None
    return frozenset(out)


def _seconds(text: str) -> float:
    """argparse type of --unlock-seconds: a number of seconds, 0.5 to 3600."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0.5 <= value <= 3600:  # also refuses nan
        raise argparse.ArgumentTypeError(f"the unlock time must be 0.5 to 3600 seconds, got {text}")
    return value


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the door, group, schedule and person commands to the ``facegate`` parser."""
    door = sub.add_parser("door", help="doors: add a door or camera, list them, open one remotely",
                          epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    ds = door.add_subparsers(dest="access_command", required=True, metavar="{add,list,open,remove}")
    p = ds.add_parser("add", help="add a door, or a camera to a door (and change its settings)",
                      description="Add the door NAME with the camera SRC. When the door exists, the camera is "
                                  "added to it (unless it is there already) and only the options given change.")
    _db_arg(p)
    p.add_argument("--name", required=True, help="the door's name (unique, any case)")
    p.add_argument("--source", required=True,
                   help="the camera: webcam index, video file, image folder or stream URL")
    p.add_argument("--direction", choices=[d.value for d in Direction], default=None,
                   help="which way the camera faces: 'in' sees arrivals (first in), 'out' departures "
                        "(last out); default in")
    p.add_argument("--output", default=None, metavar="URI",
                   help="what works the lock: log: (dry run, the default), webhook:https://..., "
                        "mqtt://host:port/topic, serial:///dev/ttyUSB0?protocol=lctech, hidrelay:SERIAL/CH, "
                        "gpio:CHIP/LINE")
    p.add_argument("--secret", default=None, metavar="S",
                   help="HMAC key signing the output's messages (webhook); never printed; '' removes it")
    p.add_argument("--unlock-seconds", type=_seconds, default=None, metavar="N",
                   help="how long a grant releases the lock, seconds (default 5)")
    p.add_argument("--fail", choices=[f.value for f in FailMode], default=None,
                   help="when FaceGate or the output fails: secure = stay locked (default), "
                        "safe = release (fire exits)")
    p.add_argument("--contact", default=None, metavar="URI",
                   help="door-contact sensor, for door-forced and held-open alarms: mqtt://host:port/topic "
                        "(payload open/closed); '' removes it")
    p.add_argument("--held-open-seconds", type=_seconds, default=None, metavar="N",
                   help="seconds the door may stand open before a held-open alarm (default 30)")
    p.add_argument("--passback-with", default=None, metavar="DOOR",
                   help="anti-passback partner: the door people leave by (this door's own name when it has "
                        "an entry and an exit camera); '' removes anti-passback")
    p.add_argument("--passback", choices=["off", "deny", "flag"], default=None,
                   help="a second entry without an exit: deny it, or let it pass and flag the event "
                        "(default deny when --passback-with is given)")
    p.add_argument("--liveness", choices=[*(m.value for m in LivenessMode), "default"], default=None,
                   help="is the face a live person, not a photo or a screen? off; passive (the face must move "
                        "like a head, about a second); challenge (the door asks for head turns); default = "
                        "the installation's liveness setting (what a new door gets)")
    p = ds.add_parser("list", help="list the doors: cameras, output, unlock time, fail mode, secret, groups")
    _db_arg(p)
    p = ds.add_parser("open", help="open a door remotely (audited); the running door loop opens it",
                      description="Queue a remote open of the door. The door loop running that door (facegate "
                                  "run --door NAME, or the app) opens it on its next poll, within a second; a "
                                  "command no loop takes within 30 s is dropped, never carried out later.")
    _db_arg(p)
    p.add_argument("--name", required=True, help="the door to open")
    p = ds.add_parser("remove", help="remove a door, its cameras and the permissions at it")
    _db_arg(p)
    p.add_argument("--name", required=True, help="the door to remove")

    group = sub.add_parser("group", help="groups of people: who may pass which doors, and when",
                           epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    gs = group.add_subparsers(dest="access_command", required=True, metavar="{add,list,remove}")
    p = gs.add_parser("add", help="create or update a group and its permissions",
                      description="Create the group G (or update it). --doors sets the doors it may pass "
                                  "(replacing those it had); --schedule says when. Without --doors, a new "
                                  "--schedule applies at the doors the group already has; without --schedule, "
                                  "the doors keep the group's schedule (always for a new group).")
    _db_arg(p)
    p.add_argument("--name", required=True, help="the group's name (unique, any case)")
    p.add_argument("--schedule", default=None, metavar="SPEC",
                   help="when the group may pass: the name of a saved schedule, a schedule text such as "
                        "\"Mon-Fri 08:00-18:00; Sat 09:00-12:00\" (saved under the group's name, or the "
                        "saved schedule of the same windows reused), or 'always'")
    p.add_argument("--doors", type=_names, default=None, metavar="D1,D2",
                   help="the doors the group may pass, comma-separated ('' for none)")
    p.add_argument("--description", default=None, help="a few words on who is in the group")
    p = gs.add_parser("list", help="list the groups: members, doors and schedules")
    _db_arg(p)
    p = gs.add_parser("remove", help="remove a group, its memberships and permissions")
    _db_arg(p)
    p.add_argument("--name", required=True, help="the group to remove")

    sched = sub.add_parser("schedule", help="weekly schedules: time windows, holidays, time zone",
                           epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    ss = sched.add_subparsers(dest="access_command", required=True, metavar="{add,list,remove}")
    p = ss.add_parser("add", help="create or replace a schedule")
    _db_arg(p)
    p.add_argument("--name", required=True, help="the schedule's name (unique, any case)")
    p.add_argument("--spec", required=True, metavar="TEXT",
                   help="days and times, e.g. \"Mon-Fri 08:00-12:30, 13:30-18:00; Sat 09:00-13:00\"; "
                        "24:00 ends the day; 22:00-02:00 runs past midnight")
    p.add_argument("--holidays", type=_days, default=frozenset(), metavar="D,D",
                   help="days on which the schedule allows nobody, YYYY-MM-DD, comma-separated")
    p.add_argument("--timezone", default="local", metavar="TZ",
                   help="IANA time zone the times are read in, e.g. Europe/Paris (default: local, the "
                        "door machine's zone)")
    p = ss.add_parser("list", help="list the schedules and where they are used")
    _db_arg(p)
    p = ss.add_parser("remove", help="remove a schedule no permission uses")
    _db_arg(p)
    p.add_argument("--name", required=True, help="the schedule to remove")

    person = sub.add_parser("person", help="a person's access: groups, validity, activation",
                            epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    ps = person.add_subparsers(dest="access_command", required=True, metavar="{set}")
    p = ps.add_parser("set", help="set a person's groups, validity and activation (shows them when no option)",
                      description="Change what the door rules know of an enrolled person; options not given "
                                  "are left as they are. Without options, show them.")
    _db_arg(p)
    p.add_argument("--name", required=True, help="the enrolled person's name (any case)")
    p.add_argument("--employee-id", default=None, metavar="ID",
                   help="which person, when several share the name; given for the one person of that "
                        "name who has none yet, it becomes theirs")
    p.add_argument("--groups", type=_names, default=None, metavar="G1,G2",
                   help="the person's groups, replacing those they had ('' for none)")
    p.add_argument("--valid-from", type=_day_or_none, default=..., metavar="YYYY-MM-DD",
                   help="first day the person may pass (local; 'none' for no limit)")
    p.add_argument("--valid-until", type=_day_or_none, default=..., metavar="YYYY-MM-DD",
                   help="last day the person may pass, inclusive (local; 'none' for no limit)")
    act = p.add_mutually_exclusive_group()
    act.add_argument("--active", dest="active", action="store_true", default=None,
                     help="let the person in again (per their groups)")
    act.add_argument("--inactive", dest="active", action="store_false",
                     help="deactivate: the person is recognised and refused everywhere")


def _gate(args: argparse.Namespace) -> FaceGate:
    from desktop_app.cli import _gate as open_gate

    gate: FaceGate = open_gate(args)
    return gate


def _camera_words(door: DoorSpec) -> str:
    return ", ".join(f"{redact_uri(c.source)} ({c.direction.value})" for c in door.cameras) or "no camera"


def _schedule_words(p: Permission) -> str:
    return "always" if p.schedule.name == "always" else f"{p.schedule.name}: {p.schedule.text}"


def cmd_door(args: argparse.Namespace) -> int:
    actions: dict[str, Callable[[FaceGate, argparse.Namespace], int]] = {
        "add": _door_add, "list": _door_list, "open": _door_open, "remove": _door_remove}
    with _gate(args) as gate:
        return actions[args.access_command](gate, args)


def _door_add(gate: FaceGate, args: argparse.Namespace) -> int:
    camera = CameraSpec(args.source, Direction(args.direction or Direction.IN))
    given: dict[str, object] = {}
    if args.output is not None:
        given["output"] = args.output.strip()
    if args.secret is not None:
        given["secret"] = args.secret or None
    if args.unlock_seconds is not None:
        given["unlock_seconds"] = args.unlock_seconds
    if args.fail is not None:
        given["fail_mode"] = FailMode(args.fail)
    if args.contact is not None:
        given["contact"] = args.contact.strip() or None
    if args.held_open_seconds is not None:
        given["held_open_s"] = args.held_open_seconds
    if args.passback_with is not None:
        partner = args.passback_with.strip()
        given["passback_partner"] = partner or None
        given["passback"] = (args.passback or "deny") if partner else "off"
    elif args.passback is not None:
        given["passback"] = args.passback
    if args.liveness is not None:
        given["liveness"] = None if args.liveness == "default" else LivenessMode(args.liveness)
    existing = gate.door(args.name)
    if existing is None:
        saved = gate.save_door(replace(DoorSpec(args.name, cameras=(camera,)), **given), actor=actor_of(args))  # type: ignore[arg-type]
        print(f"Door {saved.name!r} added with camera {redact_uri(camera.source)} ({camera.direction.value}).")
    else:
        same = any(c.source.strip() == camera.source.strip() and c.direction == camera.direction
                   for c in existing.cameras)
        cameras = existing.cameras if same else (*existing.cameras, camera)
        saved = gate.save_door(replace(existing, cameras=cameras, **given), actor=actor_of(args))  # type: ignore[arg-type]
        what = (f"camera {redact_uri(camera.source)} ({camera.direction.value}) was there already" if same
                else f"camera {redact_uri(camera.source)} ({camera.direction.value}) added")
        changed = [k.replace("_", " ") for k in given]
        print(f"Door {saved.name!r} exists: {what}"
              f"{'; changed ' + ', '.join(changed) if changed else ''}.")
    print(f"  cameras: {_camera_words(saved)}; output {redact_uri(saved.output)}"
          f"{' (dry run: logs what it would do)' if saved.output == DEFAULT_OUTPUT else ''}; "
          f"unlock {saved.unlock_seconds:g} s; fail-{saved.fail_mode.value}; "
          f"secret {'set' if saved.secret else 'none'}")
    if saved.contact or saved.passback != "off":
        print(f"  contact {redact_uri(saved.contact) if saved.contact else 'none'} (held open after "
              f"{saved.held_open_s:g} s); anti-passback {saved.passback}"
              f"{' with ' + saved.passback_partner if saved.passback_partner else ''}")
    print(f"  liveness {_liveness_words(saved, gate)}")
    if not any(p.door == saved.name for p in gate.permissions()):
        print(f"  Nobody may pass it yet: facegate group add --name G --doors {saved.name}")
    return 0


def _door_list(gate: FaceGate, args: argparse.Namespace) -> int:
    doors = gate.doors()
    if not doors:
        print("No door yet: facegate door add --name NAME --source SRC")
        return 0
    perms = gate.permissions()
    print(f"{'door':16s} {'cameras':30s} {'output':32s} {'unlock':>6s}  {'fail':6s} {'secret':6s} groups")
    for d in doors:
        groups = ", ".join(f"{p.group} ({_schedule_words(p)})" for p in perms if p.door == d.name) or "none"
        passback = f"; anti-passback {d.passback} with {d.passback_partner}" if d.passback != "off" else ""
        if d.contact:
            passback += f"; contact {redact_uri(d.contact)}"
        passback += f"; liveness {_liveness_words(d, gate)}"
        print(f"{d.name:16s} {_camera_words(d):30s} {redact_uri(d.output):32s} {d.unlock_seconds:5g}s  "
              f"{d.fail_mode.value:6s} {'set' if d.secret else 'none':6s} {groups}{passback}")
    return 0


def _liveness_words(door: DoorSpec, gate: FaceGate) -> str:
    """"passive", or "off (default)" when the door follows the installation's setting."""
    return door.liveness.value if door.liveness is not None else f"{gate.config.liveness.mode.value} (default)"


def _door_open(gate: FaceGate, args: argparse.Namespace) -> int:
    command_id = gate.request_door_open(args.name, actor=actor_of(args))
    door = gate.door(args.name)
    name = door.name if door is not None else args.name
    print(f"Open of door {name!r} queued (command {command_id}, audited): the running door loop "
          f"(facegate run --door {name}, or the app) opens it within a second; if none runs, it is dropped "
          "after 30 s.")
    return 0


def _door_remove(gate: FaceGate, args: argparse.Namespace) -> int:
    gate.remove_door(args.name, actor=actor_of(args))
    print(f"Door {args.name!r} removed, with its cameras and the permissions at it.")
    return 0


def cmd_group(args: argparse.Namespace) -> int:
    actions: dict[str, Callable[[FaceGate, argparse.Namespace], int]] = {
        "add": _group_add, "list": _group_list, "remove": _group_remove}
    with _gate(args) as gate:
        return actions[args.access_command](gate, args)


def _group_schedule(gate: FaceGate, group: str, spec: str, args: argparse.Namespace) -> str | None:
    """The name of the schedule ``spec`` stands for (None: always): a saved schedule of that name,
    else the text saved under the group's name, or the saved schedule of the same windows."""
    if spec.strip().lower() == "always":
        return None
    named = gate.schedule(spec)
    if named is not None:
        return named.name
    wanted = Schedule(group, spec)  # ValueError with the reason for bad text
    saved = gate.schedules()
    for s in saved:
        if s.windows == wanted.windows and not s.holidays and s.timezone == "local":
            return s.name
    # the group's own name, unless another group uses a schedule of that name (it must not change)
    others = {p.schedule.name.casefold() for p in gate.permissions() if p.group.casefold() != group.casefold()}
    taken = {s.name.casefold() for s in saved}
    name, n = group, 2
    while name.casefold() in others:
        name, n = f"{group}-{n}", n + 1
        if name.casefold() not in taken:
            break
    return gate.save_schedule(replace(wanted, name=name), actor=actor_of(args)).name


def _group_add(gate: FaceGate, args: argparse.Namespace) -> int:
    if args.schedule is not None and not args.schedule.strip():
        raise InputError("--schedule is empty: give a schedule text such as \"Mon-Fri 08:00-18:00\", a saved "
                         "schedule's name, or 'always'")
    before = {g.name.casefold() for g in gate.groups()}
    old = [p for p in gate.permissions() if p.group.casefold() == args.name.strip().casefold()]
    description = args.description
    if description is None:
        description = next((g.description for g in gate.groups() if g.name.casefold() == args.name.strip().casefold()),
                           "")
    if args.schedule is not None and args.schedule.strip().lower() != "always" and gate.schedule(args.schedule) is None:
        Schedule(args.name, args.schedule)  # bad text refused (ValueError, the reason) before anything is saved
    for d in args.doors or ():  # unknown doors refused before anything is saved
        if gate.door(d) is None:
            names = ", ".join(x.name for x in gate.doors()) or "none yet (facegate door add)"
            raise InputError(f"There is no door named {d!r}; doors: {names}.")
    group = gate.save_group(Group(args.name, description), actor=actor_of(args))
    print(f"Group {group.name!r} {'updated' if group.name.casefold() in before else 'created'}.")
    if args.schedule is None and args.doors is None:
        return 0
    if args.schedule is not None:
        schedule = _group_schedule(gate, group.name, args.schedule, args)
    else:
        kept = {p.schedule.name for p in old}
        schedule = kept.pop() if len(kept) == 1 and "always" not in kept else None
    doors = args.doors if args.doors is not None else [p.door for p in old]
    perms = gate.set_permissions(group.name, doors, schedule, actor=actor_of(args))
    if not perms:
        print(f"  {group.name} may pass no door.")
    else:
        when = "always" if schedule is None else f"when schedule {schedule!r} allows ({perms[0].schedule.text})"
        print(f"  {group.name} may pass {', '.join(p.door for p in perms)} {when}.")
    return 0


def _group_list(gate: FaceGate, args: argparse.Namespace) -> int:
    groups = gate.groups()
    if not groups:
        print("No group yet: facegate group add --name G --doors D1,D2")
        return 0
    members: dict[str, int] = {}
    for person in gate.people_access():
        for name in person.groups:
            members[name] = members.get(name, 0) + 1
    perms = gate.permissions()
    for g in groups:
        doors = "; ".join(f"{p.door} ({_schedule_words(p)})" for p in perms if p.group == g.name) or "no door"
        n = members.get(g.name, 0)
        print(f"{g.name:16s} {n:4d} member{'s' if n != 1 else ' '}  {doors}"
              f"{'  - ' + g.description if g.description else ''}")
    return 0


def _group_remove(gate: FaceGate, args: argparse.Namespace) -> int:
    gate.remove_group(args.name, actor=actor_of(args))
    print(f"Group {args.name!r} removed, with its memberships and permissions.")
    return 0


def cmd_schedule(args: argparse.Namespace) -> int:
    with _gate(args) as gate:
        if args.access_command == "add":
            saved = gate.save_schedule(Schedule(args.name, args.spec, holidays=args.holidays,
                                                timezone=args.timezone), actor=actor_of(args))
            print(f"Schedule {saved.name!r} saved: {saved.text} ({saved.timezone} time"
                  f"{', ' + str(len(saved.holidays)) + ' holidays' if saved.holidays else ''}).")
            return 0
        if args.access_command == "remove":
            gate.remove_schedule(args.name, actor=actor_of(args))
            print(f"Schedule {args.name!r} removed.")
            return 0
        schedules = gate.schedules()
        if not schedules:
            print("No schedule yet: facegate schedule add --name N --spec \"Mon-Fri 08:00-18:00\"")
            return 0
        perms = gate.permissions()
        for s in schedules:
            used = ", ".join(f"{p.group} at {p.door}" for p in perms if p.schedule.name == s.name) or "unused"
            holidays = ", ".join(d.isoformat() for d in sorted(s.holidays)) or "none"
            print(f"{s.name:16s} {s.text:36s} zone {s.timezone:16s} holidays {holidays}; used by {used}")
        return 0


def cmd_person(args: argparse.Namespace) -> int:
    with _gate(args) as gate:
        person, new_id = _person(gate, args.name, args.employee_id)
        changes: dict[str, object] = {}
        if args.groups is not None:
            changes["groups"] = args.groups
        if args.valid_from is not ...:
            changes["valid_from"] = args.valid_from
        if args.valid_until is not ...:
            changes["valid_until"] = args.valid_until
        if args.active is not None:
            changes["active"] = args.active
        if new_id is not None:
            changes["employee_id"] = new_id
        if changes:
            acc = gate.set_person_access(person, actor=actor_of(args), **changes)  # type: ignore[arg-type]
        else:
            found = gate.person_access(person)
            if found is None:
                raise InputError(f"The person {args.name!r} was erased meanwhile.")
            acc = found
        start = acc.valid_from.isoformat() if acc.valid_from else "always"
        end = acc.valid_until.isoformat() if acc.valid_until else "no end"
        print(f"{acc.name}{f' ({acc.employee_id})' if acc.employee_id else ''}: "
              f"{'updated' if changes else 'unchanged'}; groups {', '.join(sorted(acc.groups)) or 'none'}; "
              f"valid from {start} to {end}; {'active' if acc.active else 'INACTIVE'}")
        if not acc.groups and acc.active:
            print("  In no group, so no door lets them in: add --groups G1,G2")
        return 0


def _person(gate: FaceGate, name: str, employee_id: str | None) -> tuple[int, str | None]:
    """(person id, employee ID to give them or None): the person of ``name`` holding
    ``employee_id``; failing that, the one person of that name without an employee ID (who gets it)."""
    person = gate.find_person(name, employee_id)
    if person is not None:
        return person.id, None
    same = gate.find_people(name)
    if employee_id is not None and len(same) == 1 and same[0].employee_id is None:
        return same[0].id, employee_id
    if employee_id is not None and same:
        ids = ", ".join(p.employee_id or "none" for p in same)
        raise InputError(f"No person named {name!r} has employee ID {employee_id!r} (theirs: {ids}).")
    raise InputError(f"There is no enrolled person named {name!r}: see facegate people, or enrol them first "
                     "(facegate enroll).")


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "door": cmd_door, "group": cmd_group, "schedule": cmd_schedule, "person": cmd_person}

