"""``facegate run --headless [--door NAME ...]``: run the doors of the database without a window.

One line per event on stdout (door, camera, who, decision, reason, score), door state changes and
camera troubles on stderr, and a summary per camera and per door at the end (or JSON with
``--json``). Exit status: 0 when frames were processed, 1 when none was, 2 for a user error (an
unknown door, no door configured, a bad output URI) or when every camera failed.
"""

from __future__ import annotations

import argparse
import json
import sys

from desktop_app.core.doors.runner import DoorRunner, DoorRunSummary, select_doors
from desktop_app.core.doors.status import DoorStatus
from desktop_app.core.live.session import LoggedEvent
from desktop_app.core.vocabulary import AccessReason, Decision, DoorState, LivenessMode, SourceState
from desktop_app.core.wording import count

from .cli_central import start_run_sync, stop_run_sync


def event_line(ev: LoggedEvent) -> str:
    """``[front front/in] granted Lin-Manuel Miranda (granted) score 0.571``; a spoof:
    ``[front front/in] spoof suspected, looks like Lin-Manuel Miranda (spoof suspected: a border
    moves with the face (phone, tablet or print edge)) score 0.612``."""
    if ev.decision == Decision.UNKNOWN:
        who = "unknown face"
    elif ev.decision == Decision.AMBIGUOUS:
        who = "ambiguous: " + " or ".join(ev.candidates or ("two enrolled people",))
    elif ev.decision == Decision.SPOOF:
        who = "spoof suspected" + (f", looks like {ev.name}" if ev.name else "")
    else:
        who = f"{ev.decision} {ev.name or 'unnamed person'}"
    reason = ev.reason.value if ev.reason is not None else ev.decision.value
    if ev.decision == Decision.GRANTED and ev.reason == AccessReason.ANTI_PASSBACK:
        reason = "anti-passback: flagged"
    if ev.liveness:
        reason += ": " + "; ".join(ev.liveness)
    return f"[{ev.door} {ev.camera}] {who} ({reason}) score {ev.score:.3f}"


def _door_words(s: DoorStatus) -> str:
    return f"{s.state.value}" + (f": {s.detail}" if s.detail else "")


def cmd_run_doors(args: argparse.Namespace) -> int:
    from .cli import _gate

    if args.source is not None:
        print("facegate: error: give --source (one camera without a door) or --door (doors of the database), "
              "not both", file=sys.stderr)
        return 2
    with _gate(args) as gate:
        gate.load_engine()  # built on first use otherwise: a door refuses to start on a model it cannot load
        doors = select_doors(gate.doors(), args.door or ())  # ValueError: one line, exit 2

        def on_event(ev: LoggedEvent) -> None:
            print(event_line(ev), flush=True)

        def on_camera(name: str, state: str, message: str) -> None:
            print(f"[camera {name}] {state}: {message}", file=sys.stderr, flush=True)

        shown: dict[str, tuple[DoorState, str]] = {}

        def on_status(s: DoorStatus) -> None:
            now = (s.state, s.detail)
            if shown.get(s.name, (DoorState.LOCKED, "")) != now:
                print(f"[door {s.name}] {_door_words(s)}", file=sys.stderr, flush=True)
            shown[s.name] = now

        override = getattr(args, "liveness", None)
        runner = DoorRunner(gate, doors, site_doors=gate.doors(), realtime=args.realtime, on_event=on_event,
                            on_camera_state=on_camera, liveness=LivenessMode(override) if override else None)
        runner.subscribe(on_status)
        default = gate.config.liveness.mode
        modes = ", ".join(f"{d.name} {LivenessMode(override) if override else d.liveness or default}" for d in doors)
        print(f"Running {count(len(doors), 'door')}: {', '.join(d.name for d in doors)} "
              f"(Ctrl+C stops); liveness: {modes}.", file=sys.stderr, flush=True)
        sync = start_run_sync(gate, args)  # run --central DSN: sync beside the door loop (cli_central)
        try:
            summary = runner.run(max_frames=args.max_frames)
        finally:
            stop_run_sync(sync)
        _report(summary, args.json, gate.db_path.name)
    if not any(c.frames for c in summary.cameras):
        return 2 if all(c.final_state == SourceState.FAILED for c in summary.cameras) else 1
    return 0


def _report(summary: DoorRunSummary, as_json: bool, db_name: str) -> None:
    if summary.pending_events:
        print(f"events pending: {summary.pending_events}, kept in {db_name}.spool and written when the database "
              "accepts them (at the latest on the next start).", file=sys.stderr)
    if as_json:
        print(json.dumps({
            "cameras": [{"camera": c.name, "door": c.door, "frames": c.frames, "fps": round(c.fps, 2),
                         "events": c.events, "dropped": c.dropped, "state": c.final_state, "spoofs": c.spoofs,
                         "latency_ms": [round(v, 1) for v in c.latency_ms]} for c in summary.cameras],
            "doors": [{"door": d.name, "state": d.state.value, "detail": d.detail,
                       "output": d.output_health.status.value, "output_detail": d.output_health.detail}
                      for d in summary.doors],
            "events": [{"door": e.door, "camera": e.camera, "direction": e.direction, "person": e.name,
                        "decision": e.decision.value, "reason": e.reason.value if e.reason else None,
                        "score": round(e.score, 4), "ts": e.ts.isoformat(), "event_id": e.event_id,
                        **({"liveness": list(e.liveness)} if e.liveness else {})}
                       for e in summary.events],
            "events_pending": summary.pending_events, "wall_s": round(summary.wall_s, 2)}))
        return
    print(f"{count(len(summary.events), 'event')} in {summary.wall_s:.1f} s")
    print("camera            door          frames     fps  state")
    for c in summary.cameras:
        print(f"{c.name:17s} {c.door:12s} {c.frames:7d} {c.fps:7.1f}  {c.final_state}")
    for d in summary.doors:
        print(f"door {d.name}: {_door_words(d)} (output {d.output_health.status.value})")
