"""``facegate`` command line: the GUI by default, and headless sub-commands.

    facegate [--db DB] [--source SRC]             open the desktop app (door view)
    facegate enroll --db DB --name NAME IMAGE...  enrol a person from photos or folders
    facegate identify --db DB [--json] IMAGE...   identify every face in images
    facegate run --db DB --source SRC --headless [--max-frames N]
    facegate run --db DB --headless [--door NAME ...] [--max-frames N] [--realtime] [--liveness MODE]
    facegate eval --pairs PAIRS --images DIR --json
    facegate calibrate --db DB [--fpir 0.001] [--strangers DIR] [--json]
    facegate bench [--clip FILE]
    facegate events --db DB [--from DATE --to DATE --person NAME] [--csv FILE]
    facegate attendance --db DB [--from DATE --to DATE] [--csv FILE]
    facegate people / erase / models             administration
    facegate door add|list|open|remove, group add|list|remove, schedule add|list|remove,
    facegate person set                          access control (cli_access.py)
    facegate audit verify --db DB                 check the tamper-evident audit log
    facegate audit list --db DB [--person NAME --action A --actor NAME --from --to] [--csv FILE]
    facegate liveness [--json] INPUT...          is it a live face, or a photo / a screen?
    facegate account add|list|set|passwd|remove|recover   named accounts (cli_accounts.py)

Once a database has accounts, commands need credentials (--account NAME --password-stdin, or
asked on the terminal): the table of who may run what is ``cli_auth.RULES``; exit status 4 when
refused.
    facegate unlock / protect / keys status|rotate|rekey   keys of the encrypted face data (cli_keys.py)
    facegate unknowns / assign                    the unknown-faces library (cli_unknowns.py)
    facegate privacy / purge / export-person    retention, subject access, door screen (cli_privacy.py)
    facegate backup --out FILE / restore --from FILE        encrypted backups (cli_backup.py)
    facegate correct / corrections / refresh-templates   corrections, their dashboard (cli_corrections.py)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

from desktop_app.core.errors import FaceGateError
from desktop_app.core.vocabulary import Decision, LivenessMode, SourceState
from desktop_app.core.wording import count, hours_minutes

from .cli_access import COMMANDS as ACCESS_COMMANDS
from .cli_access import add_parsers as add_access_parsers
from .cli_accounts import add_parsers as add_account_parsers
from .cli_accounts import cmd_account
from .cli_auth import actor_of, add_credential_args, run_authorised
from .cli_backup import COMMANDS as BACKUP_COMMANDS
from .cli_backup import add_parsers as add_backup_parsers
from .cli_central import COMMANDS as CENTRAL_COMMANDS
from .cli_central import add_central_options, central_wrapped
from .cli_central import add_parsers as add_central_parsers
from .cli_corrections import COMMANDS as CORRECTIONS_COMMANDS
from .cli_corrections import add_parsers as add_corrections_parsers
from .cli_keys import COMMANDS as KEYS_COMMANDS
from .cli_keys import add_parsers as add_keys_parsers
from .cli_privacy import COMMANDS as PRIVACY_COMMANDS
from .cli_privacy import add_parsers as add_privacy_parsers
from .cli_unknowns import COMMANDS as UNKNOWNS_COMMANDS
from .cli_unknowns import add_parsers as add_unknowns_parsers
from .paths import data_home, default_db

#: the largest count a command line number may give (frames, list limits, gallery sizes)
MAX_COUNT = 100_000_000


def _db_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", type=Path, default=None, help=f"database file (default {default_db()})")


def _device_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", choices=["auto", "cuda", "cpu"], default=None,
                   help="ONNX Runtime device (default: the setting, 'auto' = CUDA if present)")


def _day(text: str) -> date:
    """argparse type of --from / --to: an ISO day (YYYY-MM-DD)."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day: write it as YYYY-MM-DD, e.g. 2026-03-31") from None


def _count(text: str) -> int:
    """argparse type of counts (--limit, --folds...): a whole number >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative: give a number >= 0")
    if value > MAX_COUNT:
        raise argparse.ArgumentTypeError(f"{value} is too large (at most {MAX_COUNT:,})")
    return value


def _positive(text: str) -> int:
    """argparse type of sizes and frame counts: a whole number >= 1."""
    value = _count(text)
    if value < 1:
        raise argparse.ArgumentTypeError("give a number >= 1")
    return value


def _rate(text: str) -> float:
    """argparse type of --fpir: a false-accept rate strictly between 0 and 1 (e.g. 0.001)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number: write a rate such as 0.001") from None
    if not 0.0 < value < 1.0:  # also refuses nan and inf
        raise argparse.ArgumentTypeError(f"{text} is not a rate between 0 and 1 (exclusive), e.g. 0.001")
    return value


def _day_range_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="day_from", type=_day, default=None, metavar="DATE",
                   help="first local day included, YYYY-MM-DD")
    p.add_argument("--to", dest="day_to", type=_day, default=None, metavar="DATE",
                   help="last local day included, YYYY-MM-DD")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="facegate", description="Face-recognition door access and attendance.")
    ap.add_argument("-v", "--verbose", action="store_true", help="log more")
    _db_arg(ap)
    ap.add_argument("--source", default=None, help="camera index, video file, image folder or URL for the door view")
    ap.add_argument("--kiosk", action="store_true", help="full screen door view without admin controls")
    sub = ap.add_subparsers(dest="command")

    p = sub.add_parser("gui", help="open the desktop app (the default)")
    _db_arg(p)
    p.add_argument("--source", default=None)
    p.add_argument("--kiosk", action="store_true")

    p = sub.add_parser("enroll", help="enrol a person from photos (files or folders)")
    _db_arg(p)
    _device_arg(p)
    p.add_argument("--name", required=True)
    p.add_argument("--employee-id", default=None,
                   help="the person's employee ID: it, not the name, says who the shots are for; people "
                        "of the same name need one each")
    p.add_argument("--department", default=None)
    p.add_argument("--no-quality-check", action="store_true", help="store shots even when quality is poor")
    p.add_argument("--force", action="store_true",
                   help="store shots the identity check refused (a face that does not match the person, or "
                        "a new person who looks like an enrolled one); audited")
    p.add_argument("images", nargs="+", type=Path)

    p = sub.add_parser("identify", help="identify the faces in images", epilog=IDENTIFY_JSON_KEYS,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    _db_arg(p)
    _device_arg(p)
    p.add_argument("--json", action="store_true", help="one JSON object per face and line (keys below)")
    p.add_argument("images", nargs="+", type=Path)

    p = sub.add_parser("run", help="live recognition loop")
    _db_arg(p)
    _device_arg(p)
    p.add_argument("--source", default=None, help="one camera without a door (default: the doors of the database)")
    p.add_argument("--door", action="extend", nargs="+", default=None, metavar="NAME",
                   help="run these doors of the database (default with --headless and no --source: all doors)")
    p.add_argument("--headless", action="store_true", help="no window: log events, print latency")
    p.add_argument("--max-frames", type=_positive, default=None)
    p.add_argument("--realtime", action="store_true", help="pace a video file at its frame rate")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--liveness", choices=[m.value for m in LivenessMode], default=None,
                   help="liveness check for this run, over each door's mode and the settings': off, passive "
                        "(watch the face move like a head) or challenge (ask for head turns)")

    p = sub.add_parser("eval", help="LFW view-2 verification protocol")
    p.add_argument("--pairs", type=Path, required=True)
    p.add_argument("--images", type=Path, required=True)
    p.add_argument("--json", action="store_true")
    p.add_argument("--model", type=Path, default=None, help="ONNX embedder (default: shipped SFace, fp32)")
    p.add_argument("--int8", action="store_true", help="evaluate the shipped int8 file as is")
    p.add_argument("--no-flip", action="store_true", help="no test-time flip")
    p.add_argument("--folds", type=_positive, default=10, help="use only the first N folds (quick checks)")
    _device_arg(p)

    p = sub.add_parser("calibrate", help="choose the threshold for a target false-accept rate")
    _db_arg(p)
    _device_arg(p)
    p.add_argument("--fpir", type=_rate, default=None, help="target open-set false-accept rate (default 0.001)")
    p.add_argument("--strangers", type=Path, nargs="*", default=[],
                   help="photos/folders of people NOT enrolled, added to the stranger pool")
    p.add_argument("--json", action="store_true", help="print the calibration and its findings as JSON")

    p = sub.add_parser("bench", help="per-stage latency and gallery search benchmark")
    p.add_argument("--clip", type=Path, default=None, help="video file (default: the shared Hamilton clip)")
    p.add_argument("--sizes", type=_positive, nargs="*", default=[1000, 10000, 100000])
    p.add_argument("--frames", type=_positive, default=60)
    p.add_argument("--json", action="store_true")
    _device_arg(p)

    p = sub.add_parser("people", help="list enrolled people")
    _db_arg(p)
    p = sub.add_parser("erase", help="erase a person and every trace of their face",
                       epilog="Exit status 3: the records are deleted but some copy is still on disk (it says "
                              "which and why); FaceGate finishes the purge by itself.")
    _db_arg(p)
    p.add_argument("--name", required=True)
    p.add_argument("--employee-id", default=None, help="which one, when several people share the name")
    p.add_argument("--yes", action="store_true",
                   help="do not ask for confirmation (needed when not run from a terminal)")
    p = sub.add_parser("events", help="list or export events (the export is audited)")
    _db_arg(p)
    _day_range_args(p)
    p.add_argument("--person", default=None, metavar="NAME", help="only this enrolled person's events")
    p.add_argument("--employee-id", default=None, help="which --person, when several share the name")
    p.add_argument("--door", default=None, metavar="NAME", help="only the events of this door")
    p.add_argument("--csv", type=Path, default=None,
                   help="export every matching event to this CSV file (with door, direction and reason columns)")
    p.add_argument("--limit", type=_count, default=20, help="events listed (newest first; not for --csv)")
    p = sub.add_parser("attendance", help="first in / last out per person and day; list or export (audited)")
    _db_arg(p)
    _day_range_args(p)
    p.add_argument("--csv", type=Path, default=None, help="export to this CSV file")
    p = sub.add_parser("models", help="list registered models, or roll back")
    _db_arg(p)
    p.add_argument("--rollback", action="store_true")
    p = sub.add_parser("doctor", help="check the database and data folder for damage, and repair it")
    _db_arg(p)
    _device_arg(p)
    p.add_argument("--repair", action="store_true",
                   help="re-embed damaged or missing templates, reset damaged settings, delete stale files")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    add_access_parsers(sub)
    _audit_parser(sub)
    p = sub.add_parser("liveness", help="check that videos or folders of frames show a live face, not a photo "
                                        "or a screen (passive check)", epilog=LIVENESS_JSON_KEYS,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    _db_arg(p)
    _device_arg(p)
    p.add_argument("--json", action="store_true", help="one JSON object per input and line (keys below)")
    p.add_argument("--fps", type=_frame_rate, default=15.0,
                   help="frame rate of a folder of frames; videos are read at up to this rate (default 15)")
    p.add_argument("--all-frames", action="store_true",
                   help="read every frame and report the verdict at the end (default: stop at the first decision, "
                        "as a door does)")
    p.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="video file, folder of frames or image")
    add_account_parsers(sub)
    add_unknowns_parsers(sub)
    add_privacy_parsers(sub)  # privacy, purge, export-person (cli_privacy.py)
    add_backup_parsers(sub)
    add_keys_parsers(sub)
    add_corrections_parsers(sub)
    add_central_parsers(sub)
    add_central_options(ap)  # --central DSN in place of --db (cli_central)
    add_credential_args(ap)  # --account / --password-stdin where credentials may be needed (cli_auth): last
    return ap


def _row_hash(text: str) -> tuple[int, str]:
    """argparse type of --expect: ``ID:HASH`` (a row id and its 64-hex row hash)."""
    row, _, digest = text.partition(":")
    digest = digest.strip().lower()
    if not row.strip().isdigit() or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise argparse.ArgumentTypeError(f"{text!r} is not ID:HASH (a row id, a colon, its 64-hex row hash), "
                                         "as `facegate audit verify` prints it")
    return int(row), digest


def _audit_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``facegate audit verify|list``: check the audit log's hash chain; list or export its rows."""
    p = sub.add_parser("audit", help="check the tamper-evident audit log, list or export it (the export is audited)")
    asub = p.add_subparsers(dest="audit_command", required=True, metavar="{verify,list}")
    v = asub.add_parser("verify", help="check the audit log's hash chain",
                        epilog="Exit status 0: intact; 1: broken (the first broken row and what is wrong).")
    _db_arg(v)
    v.add_argument("--expect", type=_row_hash, action="append", default=[], metavar="ID:HASH",
                   help="a head printed by an earlier verify and kept elsewhere: that row must still have that "
                        "hash (repeatable)")
    ls = asub.add_parser("list", help="list or export audit rows, newest first")
    _db_arg(ls)
    _day_range_args(ls)
    ls.add_argument("--person", default=None, metavar="NAME",
                    help="rows about this person (name, or the erased-XXXXXXXX reference of an erased one)")
    ls.add_argument("--action", default=None, metavar="A",
                    help="this action, or a family of them (\"model\" matches model.activate, model.register...)")
    ls.add_argument("--actor", default=None, metavar="NAME", help="rows by this account or program (admin, cli...)")
    ls.add_argument("--csv", type=Path, default=None, metavar="FILE", help="export every matching row to this CSV file")
    ls.add_argument("--limit", type=_count, default=50, help="rows listed (newest first; not for --csv)")


def _gate(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from desktop_app.core.service import FaceGate

    gate = FaceGate(args.db or default_db(), device=getattr(args, "device", None))
    if gate.read_only:
        print(f"facegate: read-only: changes are not saved ({gate.db_path} or its folder cannot be written).",
              file=sys.stderr)
    return gate


def cmd_enroll(args: argparse.Namespace) -> int:
    with _gate(args) as gate:
        rep = gate.enrol_images(args.name, args.images, employee_id=args.employee_id,
                                department=args.department, check_quality=not args.no_quality_check,
                                actor=actor_of(args), force=args.force)
        for shot in rep.added:
            print(f"added   {shot.source}")
        for shot in rep.rejected:
            tag = "REFUSED" if shot.identity else "REJECT "
            print(f"{tag} {shot.source}: {_reason(shot.source, shot.reason)}")
        for w in rep.warnings:
            print(f"WARNING {w}")
        if rep.needs_force:
            print("Shots were refused by the identity check: check the name and employee ID; add --force to "
                  "store them anyway (audited).")
        stats = gate.gallery_stats()
        print(f"{rep.name}: {count(len(rep.added), 'shot')} enrolled, {len(rep.rejected)} rejected; "
              f"gallery {count(stats.templates, 'template')} of {count(stats.persons, 'person')}")
        return 0 if rep.added else 1


def _reason(source: str, reason: str | None) -> str:
    """A rejection reason without the file name the reader already put in front of it."""
    text = reason or "rejected"
    return text.removeprefix(f"{source}: ")


IDENTIFY_JSON_KEYS = """\
With --json, each face found prints one line holding one JSON object (an image with no face
prints no line; an unreadable image prints an error on stderr and the exit status is 1):
  image        the image file, as given or found in a folder given
  name         the enrolled person recognised, or null (unknown, too small, or not matchable)
  person_id    that person's id in the database, or null
  score        cosine of the best enrolled person, -1..1 (4 decimals); -1.0 when there is no one
               to compare with (empty gallery) or the face is too small
  box          the face box [x, y, width, height] in pixels of the image
  too_small    true when the face is too small to be recognised (eyes too close in pixels)
  accepted     true when the face was recognised: its score reached the calibrated threshold,
               it led the second-best person by the margin, and the face was matchable
  allowed      true only for an accepted face of an enrolled, ACTIVE person: the one key to
               open a door on (false for strangers, too-small faces and deactivated people)
  issues       why a found face could not be matched (turned away, blurred), else []
  ambiguous    the names of the two enrolled people the face matched at the threshold or above but
               too closely to tell apart (the margin was not met): ["A", "B"], best first; the
               face is then not accepted (name null) and staff must check; else []
"""


def cmd_identify(args: argparse.Namespace) -> int:
    """Identify every face in the images given (files or folders).

    Text: one line per face, ``IMAGE: NAME SCORE`` (or ``unknown``, ``too small``, ``ambiguous:
    A or B``; a recognised but deactivated person is marked not allowed). ``--json``: one object
    per face and line with the keys ``image``, ``name``, ``person_id``, ``score``, ``box``,
    ``too_small``, ``accepted``, ``allowed``, ``issues`` and ``ambiguous``, described in
    :data:`IDENTIFY_JSON_KEYS` (the command's help).
    ``allowed`` is true only for an accepted face of an enrolled, active person.
    """
    from desktop_app.core.video.imageio import expand_image_args, read_image

    status = 0
    with _gate(args) as gate:
        for path in expand_image_args(args.images):
            try:
                results = gate.identify(read_image(path))
            except FaceGateError as exc:
                print(f"{path}: error: {exc}", file=sys.stderr)
                status = 1
                continue
            if not results and not args.json:
                print(f"{path}: no face")
            for r in results:
                if args.json:
                    print(json.dumps({"image": str(path), "name": r.name, "person_id": r.person_id,
                                      "score": round(r.score, 4), "box": [round(v, 1) for v in r.box],
                                      "too_small": r.too_small, "accepted": r.accepted,
                                      "allowed": r.allowed,
                                      "issues": list(r.quality_reasons), "ambiguous": list(r.ambiguous)}))
                else:
                    label = r.name or ("too small" if r.too_small else "unknown")
                    if r.ambiguous:
                        label = "ambiguous: " + " or ".join(r.ambiguous)
                    label += " (deactivated: not allowed)" if r.accepted and not r.allowed else ""
                    print(f"{path}: {label} {r.score:.3f}")
    return status


def cmd_run(args: argparse.Namespace) -> int:
    if not args.headless:
        return cmd_gui(args)
    if args.door or args.source is None:  # the doors of the database, each with its cameras and lock
        from .cli_doors import cmd_run_doors

        return cmd_run_doors(args)
    from desktop_app.core.live.session import run_headless

    with _gate(args) as gate:
        gate.load_engine()  # built on first use otherwise: the door refuses to start on a model it cannot load

        def on_state(state: str, message: str) -> None:
            print(f"[camera] {state}: {message}", file=sys.stderr)

        pending = [0]

        def on_frame(result) -> None:  # type: ignore[no-untyped-def]
            for ev in result.events:
                print(f"frame {result.index}: {_event_words(ev.decision, ev.name, ev.candidates)} score {ev.score:.3f} "
                      f"(track {ev.track_id})", flush=True)
            if result.pending_events != pending[0]:  # the database refuses events (locked, disk full)
                pending[0] = result.pending_events
                print(f"events pending: {result.pending_events}", file=sys.stderr, flush=True)

        summary = run_headless(gate, args.source, max_frames=args.max_frames, realtime=args.realtime,
                               on_frame=on_frame, on_state=on_state,
                               liveness=LivenessMode(args.liveness) if args.liveness else None)
        table = summary.latency_table() if summary.frames else {}
        out = {
            "frames": summary.frames, "events": [{**e.__dict__, "ts": e.ts.isoformat()} for e in summary.events],
            "faces_seen": summary.faces_seen, "frames_with_too_small_faces": summary.too_small_frames,
            "threshold": gate.threshold, "provider": gate.provider, "latency_ms": table,
            "source_state": summary.final_state, "events_pending": summary.pending_events,
        }
        if summary.pending_events:
            print(f"events pending: {summary.pending_events}, kept in {gate.db_path.name}.spool and written "
                  "when the database accepts them (at the latest on the next start).", file=sys.stderr)
        failed = summary.final_state == SourceState.FAILED
        if args.json:
            print(json.dumps(out))
        elif not summary.frames:
            print(f"No frame was processed ({args.source}: {summary.final_state or 'no picture'}), "
                  "so there is no latency to show.", file=sys.stderr)
        else:
            print(f"{count(summary.frames, 'frame')}, {count(len(summary.events), 'event')}, "
                  f"provider {gate.provider}, threshold {gate.threshold:.3f}")
            print("stage     mean ms   p50 ms   p95 ms")
            for stage, row in table.items():
                print(f"{stage:8s} {row['mean']:8.1f} {row['p50']:8.1f} {row['p95']:8.1f}")
        return 2 if failed else (0 if summary.frames else 1)


def _event_words(decision: str, name: str | None, candidates: Sequence[str] = ()) -> str:
    """An event as words: "granted Ada Lovelace", "denied Mallory", "unknown face",
    "ambiguous: Ada or Grace"."""
    if decision == Decision.UNKNOWN:
        return "unknown face"
    if decision == Decision.AMBIGUOUS:
        return "ambiguous: " + " or ".join(candidates or ("two enrolled people",))
    if decision == Decision.SPOOF:
        return "spoof suspected" + (f" (looks like {name})" if name else "")
    return f"{decision} {name or 'unnamed person'}"


def cmd_eval(args: argparse.Namespace) -> int:
    from desktop_app.core.evaluation.models import evaluate_lfw
    from desktop_app.core.video.imageio import IMAGE_SUFFIXES

    result = evaluate_lfw(args.pairs, args.images, model=args.model, int8=args.int8, flip=not args.no_flip,
                          device=args.device or "auto", folds=args.folds)
    missing = result.get("missing_files")
    if isinstance(missing, int) and missing:
        print(f"facegate eval: warning: {missing} of {result.get('images')} images were not found in "
              f"{args.images} (looked for <name>/<name>_NNNN with any of {', '.join(sorted(IMAGE_SUFFIXES))}); "
              "they count as no face.", file=sys.stderr)
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k}: {v}")
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Calibrate, then say in words which rule chose the threshold (``--json``: the calibration and
    its findings as data, unmeasurable rates as null)."""
    from desktop_app.core.matching.calibration_findings import describe
    from desktop_app.core.matching.calibration_summary import summarise

    def rate(x: float) -> float | None:
        return x if math.isfinite(x) else None

    with _gate(args) as gate:
        if gate.gallery_stats().templates == 0:
            print("facegate calibrate: nobody is enrolled yet, so there is no threshold to choose: enrol "
                  "people first (facegate enroll); until then nobody is recognised.", file=sys.stderr)
            return 2
        cal = gate.calibrate(args.fpir, stranger_images=args.strangers)
        if args.json:
            print(json.dumps({
                "threshold": round(cal.threshold, 4), "target_fpir": cal.target_fpir,
                "gallery_persons": cal.gallery_persons, "gallery_templates": cal.gallery_templates,
                "est_fpir": rate(cal.est_fpir), "est_fnir": rate(cal.est_fnir), "n_genuine": cal.n_genuine,
                "n_impostor": cal.n_impostor, "method": cal.method,
                "findings": cal.findings.to_dict() if cal.findings is not None else None,
            }))
            return 0
        rec = gate.config.recognition
        print(summarise(cal, rec.fallback_threshold, cal.target_fpir))
        for line in describe(cal.findings) if cal.findings is not None else cal.notes:
            print(f"  - {line}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from desktop_app.core.evaluation.benchmark import run_benchmark

    result = run_benchmark(clip=args.clip, sizes=args.sizes, frames=args.frames, device=args.device or "auto")
    print(json.dumps(result, indent=None if args.json else 2))
    return 0


def cmd_people(args: argparse.Namespace) -> int:
    with _gate(args) as gate:
        for p in gate.people():
            print(f"{p.id:5d}  {p.name:30s} {p.employee_id or '':12s} {p.n_samples} shots"
                  f"{'' if p.active else '  (inactive)'}")
    return 0


def cmd_erase(args: argparse.Namespace) -> int:
    """Erase a person; asks on the terminal first unless ``--yes`` (refuses without a terminal)."""
    if not args.yes and not _is_terminal():
        print("facegate erase: erasing cannot be undone, so it needs a confirmation: run it in a terminal "
              "to be asked, or add --yes.", file=sys.stderr)
        return 2
    from desktop_app.core.service import FaceGate

    with FaceGate.open_for_erasure(args.db or default_db(), device=getattr(args, "device", None)) as gate:
        person = gate.find_person(args.name, args.employee_id)
        if person is None:
            print(f"No person named {args.name!r}"
                  f"{f' with employee ID {args.employee_id!r}' if args.employee_id else ''}.", file=sys.stderr)
            return 1
        if not args.yes and not _confirm(
                f"Erase {person.name} ({count(person.n_samples, 'shot')}) and every trace of their face? "
                "Their events are kept, anonymised. This cannot be undone. [y/N] "):
            print("Nothing was erased.", file=sys.stderr)
            return 1
        rep = gate.erase_person(person.id, actor=actor_of(args))
        what = (f"{count(rep.samples, 'shot')}, {count(rep.templates, 'template')}, "
                f"{count(rep.events_anonymised, 'event')} anonymised as {rep.person_ref}")
        if rep.purged:
            print(f"Erased {args.name}: {what}; no copy is left on disk.")
        else:
            print(f"Deleted {args.name}'s records ({what}), but the erasure is NOT complete on disk yet:")
            for line in rep.pending:
                print(f"  pending: {line}")
            print("FaceGate finishes it by itself (the app retries while it runs; any facegate command at "
                  "its next start).")
    return 0 if rep.purged else 3


def _day_range(args: argparse.Namespace) -> tuple[date | None, date | None] | None:
    """(--from, --to) as given; None (after saying why) when reversed."""
    if args.day_from is not None and args.day_to is not None and args.day_from > args.day_to:
        print(f"facegate: error: --from {args.day_from} is after --to {args.day_to}.", file=sys.stderr)
        return None
    return args.day_from, args.day_to


def _is_terminal() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def _confirm(question: str) -> bool:
    """Ask a yes/no question on the terminal; only "y" or "yes" (any case) is a yes."""
    try:
        answer = input(question)
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")



def cmd_events(args: argparse.Namespace) -> int:
    from desktop_app.core.service import EventFilter

    days = _day_range(args)
    if days is None:
        return 2
    with _gate(args) as gate:
        person_id = None
        if args.person is not None:
            person = gate.find_person(args.person, args.employee_id)
            if person is None:
                print(f"facegate: error: no enrolled person named {args.person!r}.", file=sys.stderr)
                return 1
            person_id = person.id
        flt = EventFilter(day_from=days[0], day_to=days[1], person_id=person_id, door=args.door)
        if args.csv:
            n = gate.export_events_csv(args.csv, flt, actor=actor_of(args))
            print(f"{count(n, 'event')} written to {args.csv}")
            return 0
        total = gate.count_events(flt)
        for e in gate.query_events(EventFilter(day_from=days[0], day_to=days[1], person_id=person_id,
                                               door=args.door, limit=args.limit)):
            who = e.who
            where = f"  {e.door} {e.direction or ''}".rstrip() if e.door else ""
            why = f"  ({e.reason})" if e.reason else ""
            print(f"{e.ts.astimezone():%Y-%m-%d %H:%M:%S}  {e.decision:8s} {who:25s} "
                  f"{e.score:.3f}  {e.camera}{where}{why}")
        shown = min(total, args.limit)
        print(f"{shown} of {total} event{'s' if total != 1 else ''} shown (newest first).")
    return 0


def cmd_attendance(args: argparse.Namespace) -> int:
    days = _day_range(args)
    if days is None:
        return 2
    day_to = days[1] or date.today()
    day_from = days[0] or min(day_to, date.today()) - timedelta(days=6)
    if day_from > day_to:
        print(f"facegate: error: --from {day_from} is after --to {day_to}.", file=sys.stderr)
        return 2
    with _gate(args) as gate:
        if args.csv:
            n = gate.export_attendance_csv(args.csv, day_from, day_to, actor=actor_of(args))
            print(f"{n} attendance row{'s' if n != 1 else ''} ({day_from} to {day_to}) written to {args.csv}")
            return 0
        rows = gate.attendance(day_from, day_to)
        people = {p.id: p for p in gate.people()}
        print(f"{'day':10s}  {'name':25s} {'employee id':12s} {'department':15s} first in  last out  hours")
        for r in rows:
            p = people.get(r.person_id)
            print(f"{r.day.isoformat():10s}  {r.name:25s} {(p.employee_id if p else None) or '':12s} "
                  f"{(p.department if p else None) or '':15s} {_clock(r.first_in)}  "
                  f"{_clock(r.last_out)}  {'' if r.hours is None else hours_minutes(r.hours):>5s}")
        print(f"{len(rows)} day row{'s' if len(rows) != 1 else ''} from {day_from} to {day_to}.")
    return 0


def _clock(ts: datetime | None) -> str:
    """Local time of day of an attendance end, "HH:MM:SS"; "--:--:--" for a missing end (a day
    with only an entry, or only an exit)."""
    return "--:--:--" if ts is None else f"{ts.astimezone():%H:%M:%S}"


def cmd_models(args: argparse.Namespace) -> int:
    with _gate(args) as gate:
        if args.rollback:
            rec = gate.rollback_model(actor=actor_of(args))
            print(f"Active model is now {rec.name} ({rec.sha256[:12]})")
        active = gate.model.sha256
        for m in gate.list_models():
            flag = "*" if m.sha256 == active else " "
            print(f"{flag} {m.name:30s} {m.sha256[:12]}  dim {m.embedding_dim}  threshold {m.threshold}")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    """Exit 0 when healthy (or repaired), 1 when problems remain."""
    from desktop_app.core.doctor import run_doctor

    report = run_doctor(args.db or default_db(), repair=args.repair, device=args.device)
    if args.json:
        print(json.dumps(report.to_dict()))
    else:
        print("\n".join(report.lines()))
    return report.exit_code


def cmd_audit(args: argparse.Namespace) -> int:
    """``audit verify``: exit 0 when intact, 1 when broken. ``audit list``: rows or a CSV export."""
    from desktop_app.core.service import AuditFilter

    if args.audit_command == "verify":
        with _gate(args) as gate:
            result = gate.verify_audit(args.expect)
        for line in result.warnings:
            print(f"facegate audit: warning: {line}", file=sys.stderr)
        print(result.summary())
        if result.intact:
            if result.pseudonymised:
                print(f"{count(result.pseudonymised, 'row')} pseudonymised by erasures, each vouched for by the chain")
            if result.head_id is not None:
                print(f"head: {result.head_id}:{result.head_hash} (keep it elsewhere; later, check it with "
                      f"--expect {result.head_id}:{result.head_hash})")
            return 0
        print(f"{count(result.checked, 'row')} before it {'is' if result.checked == 1 else 'are'} intact.")
        return 1
    days = _day_range(args)
    if days is None:
        return 2
    flt = AuditFilter(day_from=days[0], day_to=days[1], person=args.person, action=args.action, actor=args.actor)
    with _gate(args) as gate:
        if args.csv:
            n = gate.export_audit_csv(args.csv, flt, actor=actor_of(args))
            print(f"{count(n, 'audit row')} written to {args.csv}")
            return 0
        total = gate.count_audit(flt)
        for r in gate.query_audit(replace(flt, limit=args.limit)):
            details = json.dumps(dict(r.details), ensure_ascii=False, separators=(",", ":"))
            print(f"{r.id:6d}  {r.ts.astimezone():%Y-%m-%d %H:%M:%S}  {r.actor:10s} {r.action:28s} {details}")
        print(f"{min(total, args.limit)} of {count(total, 'audit row')} shown (newest first).")
    return 0
LIVENESS_JSON_KEYS = """\
With --json, each input prints one line holding one JSON object:
  input    the input as given
  live     true (a live face), false (a photo, a screen or no sign of life: see reasons), or null
           (undecided: too few frames, or no face found)
  score    0..1, how live the face looked (4 decimals)
  reasons  readable reasons for the verdict, e.g. ["screen moiré on the face"]
  frames   frames of the face used; elapsed_s: seconds of the input they spanned
Exit status: 0 when every input was read, 1 when one could not be (said on stderr), 2 when an
input does not exist.
"""


def _frame_rate(text: str) -> float:
    """argparse type of --fps: frames per second, 1 to 240."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of frames per second") from None
    if not 1.0 <= value <= 240.0:  # also refuses nan and inf
        raise argparse.ArgumentTypeError(f"{text} is not a frame rate between 1 and 240")
    return value


def cmd_liveness(args: argparse.Namespace) -> int:
    """Passive liveness of the main face of each input (video file, folder of frames, image).

    Text: ``INPUT: live 0.83 (the face moves in depth ...)``, ``not live``, or ``undecided``.
    ``--json``: one object per input with the keys of :data:`LIVENESS_JSON_KEYS`.
    """
    from desktop_app.core.liveness.media import input_frames

    missing = [p for p in args.inputs if not p.exists()]
    if missing:
        print(f"facegate liveness: error: no such file or folder: {', '.join(map(str, missing))}", file=sys.stderr)
        return 2
    status = 0
    with _gate(args) as gate:
        for path in args.inputs:
            try:
                result = gate.check_liveness(input_frames(path, folder_fps=args.fps, max_fps=args.fps),
                                             stop_when_decided=not args.all_frames)
            except FaceGateError as exc:
                print(f"{path}: error: {_error_text(exc)}", file=sys.stderr)
                status = 1
                continue
            v = result.verdict
            if args.json:
                print(json.dumps({"input": str(path), "live": v.live, "score": round(v.score, 4),
                                  "reasons": list(v.reasons), "frames": v.frames,
                                  "elapsed_s": round(v.elapsed_s, 2)}), flush=True)
            else:
                word = {True: "live", False: "NOT LIVE", None: "undecided"}[v.live]
                why = f" ({'; '.join(v.reasons)})" if v.reasons else ""
                print(f"{path}: {word} {v.score:.2f}{why}", flush=True)
    return status


def cmd_gui(args: argparse.Namespace) -> int:
    from .syscheck import main as syscheck  # before Qt loads: a clear message instead of Qt's abort

    if syscheck() != 0:
        return 2
    try:
        from .ui.app import run_app
    except ImportError as exc:
        print(f"The desktop app cannot start: {exc}", file=sys.stderr)
        return 2
    from .cli_central import central_link

    return run_app(db=args.db or default_db(), source=getattr(args, "source", None),
                   kiosk=getattr(args, "kiosk", False), central=central_link(args))


COMMANDS = {
    "enroll": cmd_enroll, "identify": cmd_identify, "run": cmd_run, "eval": cmd_eval, "calibrate": cmd_calibrate,
    "bench": cmd_bench, "people": cmd_people, "erase": cmd_erase, "events": cmd_events, "models": cmd_models,
    "attendance": cmd_attendance,
    "gui": cmd_gui,
}
COMMANDS["doctor"] = cmd_doctor
COMMANDS.update(ACCESS_COMMANDS)
COMMANDS["audit"] = cmd_audit
COMMANDS["account"] = cmd_account
COMMANDS["liveness"] = cmd_liveness
COMMANDS.update(KEYS_COMMANDS)
COMMANDS.update(UNKNOWNS_COMMANDS)
COMMANDS.update(PRIVACY_COMMANDS)
COMMANDS.update(BACKUP_COMMANDS)
COMMANDS.update(CORRECTIONS_COMMANDS)
COMMANDS.update(CENTRAL_COMMANDS)


def _error_text(exc: BaseException) -> str:
    """One line a person can read: an OSError as "reason: file", others as their message."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename is not None else ""
        return f"{exc.strerror}{where}"
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())  # a multi-line message on one line


def _crash_log(exc: BaseException) -> Path | None:
    """Write ``exc``'s traceback to a new file under ``<data home>/logs`` (else the temporary
    folder) and return its path; None when no file could be written."""
    import os
    import tempfile
    import time
    import traceback

    from desktop_app.core.file_modes import make_private_dirs, write_private_text

    text = (f"facegate {' '.join(sys.argv[1:])!r}\n{time.strftime('%Y-%m-%d %H:%M:%S %z')}\n\n"
            + "".join(traceback.format_exception(exc)))
    name = f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    for folder in (data_home() / "logs", Path(tempfile.gettempdir()) / "facegate-logs"):
        try:
            make_private_dirs(folder)  # a traceback may name people and files: this user's only
            path = folder / name
            write_private_text(path, text)
            return path
        except OSError:
            continue
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit status. No Python traceback reaches the user: a FaceGate error,
    a bad value (ValueError) or a file problem (OSError) is one line on stderr and exit 2; anything
    unexpected is one line naming the log file that holds the details, and exit 3."""
    args = build_parser().parse_args(argv)  # bad arguments: usage and exit 2 (argparse)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return run_authorised(args, central_wrapped(args, COMMANDS[args.command or "gui"]))  # accounts; --central
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (e.g. `| head`): not an error of ours
        import os

        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (FaceGateError, ValueError, OSError) as exc:
        print(f"facegate: error: {_error_text(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug: the details go to a file, not to the user's terminal
        logging.getLogger("facegate").debug("internal error", exc_info=True)
        path = _crash_log(exc)
        where = f"details logged to {path}" if path else "no log file could be written"
        print(f"facegate: internal error ({type(exc).__name__}: {_error_text(exc)}); {where}. "
              "Please report it with that file.", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
