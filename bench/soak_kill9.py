"""Soak: ``kill -9`` at random points of ``run``, ``enroll`` and ``erase --yes`` (issue 9).

Each trial copies one enrolled data folder (obama 2 shots, biden 2 shots, Lin-Manuel Miranda 1
shot; the real default model), starts one real ``python -m desktop_app`` process on it, kills it
with SIGKILL at a random point (one in four during start-up, the others uniformly over its
work once it has opened the database, timed as the same command took when measured first),
and then checks the folder:

- ``PRAGMA integrity_check`` is ok and ``PRAGMA foreign_key_check`` finds nothing;
- no committed event is lost: every event ``run`` printed before the kill (it prints an event
  after its commit) is in the events table;
- all or nothing: the erased person is either whole (person, every shot) or gone; the enrolled
  person is either absent or has shots that each have a template of the active model;
- ``facegate doctor`` finds nothing, or only repairable stale files (temporary files of the
  killed process);
- FaceGate opens, and its gallery holds exactly the database's templates of the active model
  (templates and persons).

    .venv/bin/python bench/soak_kill9.py [--trials 30] [--seed 1] [--json]

``run_trials`` is also used by tests/reliability/test_kill9.py (a few trials).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FACEGATE_SHARED_DATA") or REPO.parent / "shared" / "data")
LIN = "Lin-Manuel Miranda"
ERASED = "obama"
ENROLLED = "Kit Harington"
OPS = ("run", "enroll", "erase")


@dataclass
class Trial:
    """One kill: the command, when it was killed, what it printed and what the checks found."""

    index: int
    op: str
    kill_after_s: float
    finished: bool  # the command ended by itself before the kill
    printed_events: int
    event_rows: int
    seconds: float
    outcome: str  # what the killed command had done: "erased" / "kept", "3 shots" / "absent", "2 events"
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def build_base(folder: Path, clips: Path) -> Path:
    """The enrolled data folder every trial copies; its database path."""
    from desktop_app.core.service import FaceGate

    db = folder / "facegate.db"
    train = clips / "knn_examples" / "train"
    with FaceGate(db, device="cpu") as gate:
        for name, images in ((ERASED, [train / "obama"]), ("biden", [train / "biden"]),
                             (LIN, [clips / "lin-manuel-miranda.png"])):
            rep = gate.enrol_images(name, images)
            if not rep.added or rep.rejected:
                raise RuntimeError(f"could not enrol {name}: {rep}")
    return db


def clone(db: Path, dest: Path) -> Path:
    """A copy of the data folder of ``db`` in ``dest`` (model files hard-linked), with FaceGate's
    own private modes (0700 / 0600), so that the doctor has no file-mode finding to report."""
    dest.mkdir(mode=0o700, parents=True)
    shutil.copyfile(db, dest / db.name)
    (dest / db.name).chmod(0o600)
    (dest / "models").mkdir(mode=0o700)
    for f in (db.parent / "models").iterdir():
        if f.is_file():
            os.link(f, dest / "models" / f.name)
    return dest / db.name


def command(op: str, db: Path, clips: Path) -> list[str]:
    """The command line of ``op`` on ``db``."""
    base = [sys.executable, "-m", "desktop_app", op, "--db", str(db)]
    if op == "run":
        return [*base, "--device", "cpu", "--source", str(clips / "short_hamilton_clip.mp4"), "--headless",
                "--max-frames", "60"]
    if op == "enroll":
        return [*base, "--device", "cpu", "--name", ENROLLED, str(clips / "knn_examples" / "train" / "kit_harington")]
    if op == "erase":
        return [*base, "--yes", "--name", ERASED]
    raise ValueError(op)


def _start(cmd: list[str], home: Path) -> tuple[subprocess.Popen[str], list[str], threading.Thread]:
    path = os.pathsep.join(x for x in (str(REPO), os.environ.get("PYTHONPATH", "")) if x)
    env = {**os.environ, "FACEGATE_HOME": str(home), "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": path}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                            text=True, env=env, cwd=home)
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return proc, lines, reader


def _printed_events(lines: list[str]) -> int:
    return sum(1 for line in lines if line.startswith("frame ") and " score " in line)


def check(db: Path, op: str, printed_events: int) -> tuple[list[str], int, str]:
    """What is wrong with the folder of ``db`` after a kill during ``op``; the event rows; and
    what the command had done (its outcome)."""
    from desktop_app.core.doctor import Check, run_doctor
    from desktop_app.core.service import FaceGate

    problems: list[str] = []
    conn = sqlite3.connect(db)
    try:
        integrity = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        if integrity != ["ok"]:
            problems.append(f"integrity_check: {integrity[:3]}")
        fk = conn.execute("PRAGMA foreign_key_check").fetchall()
        if fk:
            problems.append(f"foreign_key_check: {fk[:3]}")
        rows = int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
        if rows < printed_events:
            problems.append(f"lost events: {printed_events} printed before the kill, {rows} in the database")
        shots = dict(conn.execute(
            "SELECT p.name, count(s.id) FROM people p LEFT JOIN samples s ON s.person_id = p.id GROUP BY p.id"))
        if ERASED in shots and shots[ERASED] != 2:
            problems.append(f"{ERASED} half erased: {shots[ERASED]} of 2 shots left")
        if op == "erase":
            outcome = "kept" if ERASED in shots else "erased"
        elif op == "enroll":
            outcome = f"{shots[ENROLLED]} shots" if ENROLLED in shots else "absent"
        else:
            outcome = f"{rows} events"
        if ENROLLED in shots:
            if shots[ENROLLED] == 0:
                problems.append(f"{ENROLLED} was created without a shot")
            bare = conn.execute(
                "SELECT count(*) FROM samples s WHERE NOT EXISTS (SELECT 1 FROM templates t WHERE t.sample_id = s.id)"
            ).fetchone()[0]
            if bare:
                problems.append(f"{bare} shot(s) without a template")
    finally:
        conn.close()

    report = run_doctor(db, device="cpu")
    other = [f for f in report.problems if not (f.check == Check.STALE_FILES and f.repairable)]
    if other:
        problems.append("doctor: " + "; ".join(f.line() for f in other[:3]))

    try:
        with FaceGate(db, device="cpu") as gate:
            stats = gate.gallery_stats()
            sha = gate.model.sha256
            conn = sqlite3.connect(db)
            try:
                n, persons = conn.execute(
                    "SELECT count(*), count(DISTINCT s.person_id) FROM templates t JOIN samples s ON s.id = t.sample_id"
                    " WHERE t.model_sha256 = ?", (sha,)).fetchone()
            finally:
                conn.close()
            if (stats.templates, stats.persons) != (n, persons):
                problems.append(f"gallery {stats.templates} templates of {stats.persons} persons, database "
                                f"{n} of {persons}")
    except Exception as exc:  # any failure to open is what the soak looks for
        problems.append(f"FaceGate does not open: {type(exc).__name__}: {exc}")
    return problems, rows, outcome


def _wait_open(proc: subprocess.Popen[str], db: Path, timeout_s: float = 600) -> float:
    """Seconds until the command opened the database (its ``-wal`` file appears) or ended."""
    start = time.monotonic()
    wal = db.with_name(db.name + "-wal")
    while proc.poll() is None and not wal.exists() and time.monotonic() - start < timeout_s:
        time.sleep(0.005)
    return time.monotonic() - start


def measure(base_db: Path, clips: Path, work: Path) -> dict[str, tuple[float, float]]:
    """Per command, the seconds until it opens the database and from then until it ends (and a
    check that it succeeds on its own)."""
    out: dict[str, tuple[float, float]] = {}
    for op in OPS:
        db = clone(base_db, work / f"measure-{op}")
        proc, _, reader = _start(command(op, db, clips), db.parent)
        opened = _wait_open(proc, db)
        start = time.monotonic()
        rc = proc.wait(timeout=600)
        reader.join(timeout=10)
        if rc != 0:
            raise RuntimeError(f"{op} fails without a kill (exit {rc})")
        out[op] = (opened, time.monotonic() - start)
    return out


def run_trials(trials: int, *, seed: int = 1, clips: Path | None = None, work: Path | None = None,
               log: bool = False) -> tuple[list[Trial], dict[str, tuple[float, float]]]:
    """``trials`` kills (run, enroll and erase in turn); the trials and the measured durations."""
    clips = clips or SHARED / "clips"
    own = work is None
    work = Path(tempfile.mkdtemp(prefix="soak-kill9-")) if work is None else work
    rng = random.Random(seed)
    try:
        base = build_base(work / "base", clips)
        durations = measure(base, clips, work)
        out: list[Trial] = []
        for i in range(trials):
            op = OPS[i % len(OPS)]
            db = clone(base, work / f"t{i}")
            # one kill in four during start-up (imports, before the database is opened); the
            # others at a random point of the command's work on the open database, timed from
            # the moment it opened it, so that the load of the machine does not skew the draw
            to_open, work_s = durations[op]
            start = time.monotonic()
            proc, lines, reader = _start(command(op, db, clips), db.parent)
            if rng.random() < 0.25:
                delay = rng.uniform(0.05, to_open)
            else:
                delay = _wait_open(proc, db) + rng.uniform(0.0, 1.2 * work_s)  # its end varies with load
            try:
                proc.wait(timeout=max(0.0, delay - (time.monotonic() - start)))
                finished = True
            except subprocess.TimeoutExpired:
                proc.kill()  # SIGKILL
                proc.wait()
                finished = False
            reader.join(timeout=10)
            printed = _printed_events(lines)
            problems, rows, outcome = check(db, op, printed)
            trial = Trial(i, op, round(delay, 2), finished, printed, rows, round(time.monotonic() - start, 1),
                          outcome, problems)
            out.append(trial)
            if log:
                state = "finished" if finished else f"killed at {delay:5.2f} s"
                print(f"trial {i:3d} {op:7s} {state:18s} {outcome:9s} events printed {printed:2d} rows {rows:2d}  "
                      f"{'ok' if trial.ok else 'FAIL: ' + ' | '.join(problems)}", flush=True)
            shutil.rmtree(db.parent, ignore_errors=True)
        return out, durations
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = ap.parse_args()
    start = time.monotonic()
    trials, durations = run_trials(args.trials, seed=args.seed, log=not args.json)
    summary = {
        "trials": len(trials),
        "failures": sum(not t.ok for t in trials),
        "killed": sum(not t.finished for t in trials),
        "per_op": {op: {"trials": sum(t.op == op for t in trials),
                        "failures": sum(t.op == op and not t.ok for t in trials)} for op in OPS},
        "events_printed": sum(t.printed_events for t in trials),
        "outcomes": {op: sorted({t.outcome for t in trials if t.op == op}) for op in OPS},
        "command_seconds": {op: {"to_open": round(a, 1), "work": round(b, 1)} for op, (a, b) in durations.items()},
        "seconds": round(time.monotonic() - start, 1),
        "problems": [f"trial {t.index} ({t.op}): {p}" for t in trials for p in t.problems],
    }
    print(json.dumps(summary, indent=None if args.json else 2))
    return 0 if summary["failures"] == 0 else 1


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
