"""No Python traceback ever reaches a CLI user (issue 9, item 7): every sub-command of
``facegate`` runs as a real process (``python -m desktop_app``) with bad arguments (a missing or
foreign database, a folder as the database, bad numbers and dates, unknown, long and
control-character names, missing files) and must answer with a message on stderr and a non-zero
exit status, never a traceback and never an "internal error".

The sub-commands are read from ``build_parser()``: each one gets an unknown-option case
automatically, and ``test_every_command_has_bad_input_cases`` fails for a new command until it has
cases of its own here. All cases run once, in parallel, against one shared real database.

Each case is a real process with its own exit status and output; most are forked from a warm
interpreter (``fork_runner.py``: the imports are paid once, not ~200 times), and the cases marked
``fresh`` start a new ``python -m desktop_app`` as a user's shell would."""

from __future__ import annotations

import argparse
import json
import os
import queue
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from desktop_app.cli import build_parser

from .damaged_db import LIN, copy_real_db

LONG = "x" * 300
CONTROL = "Eve\x07\x1b[31mil\x08"


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("facegate has no sub-commands")


COMMANDS = sorted(_subcommands())


@dataclass(frozen=True)
class Case:
    """One bad command line: {db}, {folder}, {notadb}, {img}, {clip}, {empty}, {missing} and {lin}
    are filled in per run; ``error``: it must fail (non-zero status and a message on stderr)."""

    command: str
    args: tuple[str, ...]
    error: bool = True
    fresh: bool = False

    @property
    def id(self) -> str:
        text = " ".join(self.args).replace(LONG, "<300 chars>").replace(CONTROL, "<control chars>")
        return f"{self.command} {text}"[:90]


def _c(command: str, *args: str, error: bool = True, fresh: bool = False) -> Case:
    return Case(command, args, error, fresh)


CASES: list[Case] = [
    # The matrix is kept lean (each process that opens a database costs ~1.5 s of CPU): every
    # command gets its bad numbers/dates/names at parse time, plus one or two cases that reach
    # the database: a folder, a non-database file, a missing file, an unknown or long name.
    # enroll: names are checked before any image is read
    _c("enroll", "--db", "{db}", "--name", LONG, "{img}", fresh=True),
    _c("enroll", "--db", "{db}", "--name", CONTROL, "{img}"),
    # identify
    _c("identify", "--db", "{db}", "{missing}/face.jpg"),
    _c("identify", "--db", "{notadb}", "{img}", fresh=True),
    _c("identify", "--db", "{db}", "--device", "tpu", "{img}"),
    # run
    _c("run", "--db", "{db}", "--source", "{missing}/clip.mp4", "--headless", "--max-frames", "3", fresh=True),
    _c("run", "--db", "{db}", "--source", "{clip}", "--headless", "--max-frames", "-1"),
    _c("run", "--db", "{db}", "--source", "{clip}", "--headless", "--max-frames", "nan"),
    _c("run", "--db", "{db}", "--source", "{clip}", "--headless", "--max-frames", "9" * 30),
    # eval
    _c("eval", "--pairs", "{missing}/pairs.txt", "--images", "{missing}"),
    _c("eval", "--pairs", "{notadb}", "--images", "{folder}", "--folds", "0"),
    _c("eval", "--pairs", "{notadb}", "--images", "{folder}", "--folds", "ten"),
    # calibrate: an empty database (was ValueError), --fpir 2 (was a math domain error)
    _c("calibrate", "--db", "{empty}"),
    _c("calibrate", "--db", "{db}", "--fpir", "2"),
    _c("calibrate", "--db", "{db}", "--fpir", "0"),
    _c("calibrate", "--db", "{db}", "--fpir", "nan"),
    _c("calibrate", "--db", "{db}", "--fpir", "-0.001"),
    _c("calibrate", "--db", "{db}", "--fpir", "one in a thousand"),
    # bench
    _c("bench", "--clip", "{missing}/clip.mp4", "--sizes", "10", "--frames", "1"),
    _c("bench", "--sizes", "-5"),
    _c("bench", "--frames", "0"),
    # people
    _c("people", "--db", "{folder}"),
    _c("people", "--db", "{notadb}"),
    # erase: a 300-character name was a plain ValueError
    _c("erase", "--db", "{db}", "--name", LONG, "--yes"),
    _c("erase", "--db", "{db}", "--name", "No Such Person", "--yes"),
    _c("erase", "--db", "{db}", "--name", "{lin}"),  # no terminal and no --yes: refused
    # events
    _c("events", "--db", "{db}", "--limit", "-1"),
    _c("events", "--db", "{db}", "--limit", "1e9"),
    _c("events", "--db", "{db}", "--limit", "9" * 30),
    _c("events", "--db", "{db}", "--from", "2026-13-45"),
    _c("events", "--db", "{db}", "--from", "yesterday"),
    _c("events", "--db", "{db}", "--person", LONG),
    _c("events", "--db", "{db}", "--csv", "{notadb}/events.csv"),
    # attendance
    _c("attendance", "--db", "{db}", "--from", "2026-02-30"),
    _c("attendance", "--db", "{db}", "--to", "1999-01-01", "--from", "2000-01-01"),
    _c("attendance", "--db", "{db}", "--csv", "{folder}"),
    # models
    _c("models", "--db", "{db}", "--rollback"),  # there is no previous model
    _c("models", "--central", "postgresql://facegate@127.0.0.1:1/none", "--site-key", "{notadb}"),  # a bad key file
    _c("models", "--central", "postgresql://facegate@127.0.0.1:1/none", "--db", "{db}"),  # both
    # doctor
    _c("doctor", "--db", "{folder}"),
    _c("doctor", "--db", "{notadb}"),
    # door, group, schedule, person (access control): refused before anything is written
    _c("door", "add", "--db", "{db}", "--name", "front", "--source", "0", "--output", "ftp://host/x"),
    _c("door", "add", "--db", "{db}", "--name", "front", "--source", "0", "--unlock-seconds", "nan"),
    _c("door", "add", "--db", "{db}", "--name", CONTROL, "--source", "0"),
    _c("door", "open", "--db", "{db}", "--name", "No Such Door"),
    _c("group", "add", "--db", "{db}", "--name", "staff", "--doors", "nowhere"),
    _c("group", "add", "--db", "{db}", "--name", LONG),
    _c("group", "remove", "--db", "{db}", "--name", "nobody"),
    _c("schedule", "add", "--db", "{db}", "--name", "s", "--spec", "Mon 25:00-26:00"),
    _c("schedule", "add", "--db", "{db}", "--name", "s", "--spec", "Mon 08:00-09:00", "--holidays", "2026-02-30"),
    _c("person", "set", "--db", "{db}", "--name", "No Such Person", "--active"),
    _c("person", "set", "--db", "{db}", "--name", "{lin}", "--valid-from", "tomorrow"),
    _c("person", "set", "--db", "{db}", "--name", "{lin}", "--groups", "nobody"),
    # audit
    _c("audit"),  # no verify / list
    _c("audit", "verify", "--db", "{notadb}"),
    _c("audit", "verify", "--db", "{db}", "--expect", "12:not-a-hash"),
    _c("audit", "list", "--db", "{db}", "--from", "2026-13-45"),
    _c("audit", "list", "--db", "{db}", "--to", "1999-01-01", "--from", "2000-01-01"),
    _c("audit", "list", "--db", "{db}", "--csv", "{notadb}/audit.csv"),
    # account: never creates one in the shared database (no password on stdin)
    _c("account", "add", "--db", "{db}", "--name", "with space", "--role", "admin"),
    _c("account", "add", "--db", "{db}", "--name", "alice", "--role", "root"),
    _c("account", "add", "--db", "{db}", "--name", CONTROL, "--role", "admin", "--password-stdin"),
    _c("account", "recover", "--db", "{db}", "--password-stdin"),
    _c("account", "set", "--db", "{db}", "--name", "nobody", "--role", "viewer"),
    _c("account", "list", "--db", "{notadb}"),
    # liveness: a missing input, bad frame rates, a file that is not a video
    _c("liveness", "--db", "{db}", "{missing}/clip.mp4"),
    _c("liveness", "--db", "{db}", "--fps", "0", "{clip}"),
    _c("liveness", "--db", "{db}", "--fps", "nan", "{clip}"),
    _c("liveness", "--db", "{db}", "{notadb}"),
    # unlock / protect / keys (cli_keys.py); standard input is empty, and not a terminal
    _c("unlock", "--db", "{notadb}", "--password-stdin"),
    _c("unlock", "--db", "{missing}/facegate.db", "--password-stdin"),
    _c("unlock", "--db", "{db}"),  # no --password-stdin and no terminal to ask on
    _c("unlock", "--db", "{db}", "--password-stdin"),  # an empty password
    _c("protect", "--db", "{folder}", "--password-stdin"),
    _c("protect", "--db", "{db}", "--password-stdin", "--account", ""),
    _c("protect", "--db", "{db}"),
    _c("keys"),  # no status / rotate / rekey
    _c("keys", "status", "--db", "{notadb}"),
    _c("keys", "status", "--db", "{missing}/facegate.db"),
    _c("keys", "status", "--db", "{db}", error=False),
    _c("keys", "rotate", "--db", "{folder}"),
    _c("keys", "rekey", "--db", "{db}", "--password-stdin"),  # an empty password
    # unknowns / assign (cli_unknowns.py): no such cluster, bad ids, a delete without --yes
    _c("unknowns", "--db", "{notadb}"),
    _c("unknowns", "--db", "{db}", "--ignore", "abc"),
    _c("unknowns", "--db", "{db}", "--ignore", "999999"),
    _c("unknowns", "--db", "{db}", "--delete", "1"),  # no --yes
    _c("unknowns", "--db", "{db}", "--json", error=False),
    _c("assign", "--db", "{db}", "--cluster", "999999", "--name", "Nobody"),
    _c("assign", "--db", "{db}", "--cluster", "0", "--name", "Nobody"),
    _c("assign", "--db", "{db}", "--cluster", "1"),  # no --name
    _c("assign", "--db", "{notadb}", "--cluster", "1", "--name", LONG),
    # backup / restore (cli_backup.py); standard input is empty, and not a terminal
    _c("backup", "--db", "{db}", "--out", "{missing}/site.fgbak", "--passphrase-stdin"),  # an empty passphrase
    _c("backup", "--db", "{notadb}", "--out", "{missing}/site.fgbak"),
    _c("backup", "--db", "{db}", "--out", "{img}"),  # exists
    _c("restore", "--db", "{db}", "--from", "{missing}/site.fgbak", "--yes"),
    _c("restore", "--db", "{db}", "--from", "{notadb}", "--yes", "--passphrase-stdin"),  # not a backup
    _c("restore", "--db", "{db}", "--from", "{img}"),  # no --yes and no terminal
    # central server (issue 13): unreachable server, bad DSN, missing or foreign key file
    _c("central"),  # no init / status
    _c("central", "init", "--dsn", "postgresql://facegate@127.0.0.1:1/none", "--site-key", "{missing}/site.key"),
    _c("central", "status", "--dsn", "host=127.0.0.1 port=1 dbname=none connect_timeout=2"),
    _c("central", "status", "--dsn", "this is not = a dsn ="),
    _c("central", "purge", "--dsn", "host=127.0.0.1 port=1 dbname=none connect_timeout=2", "--events-days", "30"),
    _c("central", "purge", "--dsn", "postgresql://facegate@127.0.0.1:1/none", "--events-days", "-4"),
    _c("sync", "--db", "{db}", "--central", "postgresql://facegate@127.0.0.1:1/none"),  # no site key
    _c("sync", "--db", "{db}", "--central", "postgresql://facegate@127.0.0.1:1/none", "--site-key", "{notadb}"),
    _c("people", "--central", "postgresql://facegate@127.0.0.1:1/none", "--site-key", "{missing}/site.key"),
    _c("gui", "--central", "postgresql://facegate@127.0.0.1:1/none", "--site-key", "{missing}/site.key"),
    _c("gui", "--db", "{db}", "--central", "postgresql://facegate@127.0.0.1:1/none", "--site-key", "{notadb}"),
    _c("run", "--db", "{db}", "--source", "{clip}", "--headless", "--central", "postgresql://127.0.0.1:1/x"),
    # gui: only what fails before a window would open
    _c("gui", "--source"),
    _c("gui", "--kiosk", "yes"),
    # privacy / purge / export-person (cli_privacy.py)
    _c("privacy", "--db", "{db}", "--events-days", "nan"),
    _c("privacy", "--db", "{db}", "--events-days", "10", "--snapshots-days", "20"),  # snapshots outlive events
    _c("privacy", "--db", "{db}", "--door-display", "photo"),
    _c("purge", "--db", "{missing}/facegate.db"),
    _c("purge", "--db", "{notadb}", "--dry-run"),
    _c("export-person", "--db", "{db}", "--person", LONG, "--out", "{folder}/x.zip"),
    _c("export-person", "--db", "{db}", "--id", "-5", "--out", "{folder}/x.zip"),
    _c("export-person", "--db", "{db}", "--person", "{lin}", "--out", "{missing}/x.zip"),
    _c("export-person", "--db", "{db}", "--person", "{lin}", "--out", "{folder}"),
    _c("export-person", "--db", "{db}", "--out", "{folder}/x.zip"),
    # correct / corrections / refresh-templates (cli_corrections.py)
    _c("correct", "--db", "{db}", "--event", "999999", "--not-person"),  # no such event
    _c("correct", "--db", "{db}", "--event", "1", "--was", "{missing}"),  # no such person
    _c("correct", "--db", "{db}", "--event", "-3", "--not-person"),
    _c("correct", "--db", "{db}", "--event", "1"),  # no verdict
    _c("correct", "--db", "{db}", "--event", "1", "--not-person", "--was", "{lin}"),
    _c("correct", "--db", "{db}", "--event", "1", "--withdraw"),  # has no correction: exit 1
    _c("correct", "--db", "{notadb}", "--event", "1", "--not-person"),
    _c("corrections", "--db", "{missing}/facegate.db"),
    _c("corrections", "--db", "{folder}", "--json"),
    _c("corrections", "--db", "{db}", "--json", error=False, fresh=True),
    _c("corrections", "--db", "{db}", "--list", error=False),
    _c("refresh-templates", "--db", "{db}"),  # the refresh is off by default
    _c("refresh-templates", "--db", "{notadb}", "--dry-run"),
    _c("refresh-templates", "--db", "{db}", "--dry-run", "--json", error=False),
    _c("refresh-templates", "--db", "{db}", "--enable", "--disable"),
]
CASES += [_c(command, "--no-such-option", fresh=command == "people") for command in COMMANDS]  # new ones too


@dataclass(frozen=True)
class Outcome:
    returncode: int
    stdout: str
    stderr: str
    seconds: float


@pytest.fixture(scope="module")
def places(tmp_path_factory: pytest.TempPathFactory, clips: Path, real_db_template: Path) -> dict[str, str]:
    base = tmp_path_factory.mktemp("cli-bad-input")
    db = copy_real_db(real_db_template, base / "data")
    folder = base / "a-folder"
    folder.mkdir()
    notadb = base / "notes.db"
    notadb.write_text("These are meeting notes, not a database.\n" * 50)
    return {
        "db": str(db), "folder": str(folder), "notadb": str(notadb), "img": str(clips / "alex-lacamoire.png"),
        "clip": str(clips / "short_hamilton_clip.mp4"), "empty": str(base / "empty" / "facegate.db"),
        "missing": str(base / "no-such-folder"), "lin": LIN, "home": str(base / "home"),
    }


def _env(places: dict[str, str]) -> dict[str, str]:
    return {**os.environ, "FACEGATE_HOME": places["home"], "XDG_CACHE_HOME": str(Path(places["home"]) / "cache"),
            "QT_QPA_PLATFORM": "offscreen"}


class ForkRunner:
    """One warm interpreter that forks a child process per case (``fork_runner.py``)."""

    def __init__(self, env: dict[str, str], folder: Path) -> None:
        self.folder = folder
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("fork_runner.py"))],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)

    def run(self, argv: list[str], tag: int) -> Outcome:
        out, err = self.folder / f"{tag}.out", self.folder / f"{tag}.err"
        start = time.monotonic()
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"argv": argv, "out": str(out), "err": str(err)}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, "the fork runner died"
        return Outcome(int(json.loads(line)["rc"]), out.read_text(errors="replace"), err.read_text(errors="replace"),
                       time.monotonic() - start)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def _run(case: Case, places: dict[str, str], runners: queue.Queue[ForkRunner], tag: int) -> Outcome:
    args = [a.format(**places) if "{" in a else a for a in case.args]
    if not case.fresh:
        runner = runners.get()
        try:
            return runner.run([case.command, *args], tag)
        finally:
            runners.put(runner)
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "desktop_app", case.command, *args], capture_output=True,
                          text=True, env=_env(places), timeout=300, stdin=subprocess.DEVNULL)
    return Outcome(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start)


@pytest.fixture(scope="module")
def outcomes(places: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[Case, Outcome]]:
    """Every case, run once (three at a time)."""
    folder = tmp_path_factory.mktemp("cli-outputs")
    runners: queue.Queue[ForkRunner] = queue.Queue()
    started = [ForkRunner(_env(places), folder) for _ in range(3)]
    for runner in started:
        runners.put(runner)
    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            results = dict(zip(CASES, pool.map(lambda ic: _run(ic[1], places, runners, ic[0]), enumerate(CASES)),
                               strict=True))
    finally:
        for runner in started:
            runner.close()
    yield results


def test_every_command_has_bad_input_cases() -> None:
    own = {c.command for c in CASES if c.args != ("--no-such-option",)}
    for command in COMMANDS:
        n = sum(1 for c in CASES if c.command == command)
        assert command in own and n >= 2, f"add bad-input cases for the new sub-command {command!r}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_no_traceback(case: Case, outcomes: dict[Case, Outcome]) -> None:
    out = outcomes[case]
    both = out.stdout + out.stderr
    assert "Traceback" not in both, both
    assert "internal error" not in out.stderr, out.stderr
    if case.error:
        assert out.returncode not in (0, 3), (out.returncode, both)
        # a message on stderr; a command that reports per file (enroll) may say it on stdout
        assert out.stderr.strip() or (out.returncode == 1 and out.stdout.strip()), "no message"
        assert len(out.stderr.strip().splitlines()) <= 30, out.stderr


def test_an_unexpected_error_is_one_line_and_a_log_file(tmp_path: Path) -> None:
    """A bug (here: the people listing replaced by one that raises) prints one line naming a log
    file, which holds the traceback, with exit 3."""
    code = (
        "import sys, desktop_app.cli as cli\n"
        "def boom(args):\n    raise KeyError('the bug')\n"
        "cli.COMMANDS['people'] = boom\n"
        "sys.exit(cli.main(['people']))\n"
    )
    env = {**os.environ, "FACEGATE_HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    line = proc.stderr.strip()
    assert len(line.splitlines()) == 1 and "internal error" in line and "the bug" in line, line
    logs = list((tmp_path / "logs").glob("crash-*.log"))
    assert len(logs) == 1 and str(logs[0]) in line
    text = logs[0].read_text()
    assert "Traceback" in text and "KeyError: 'the bug'" in text
