"""``facegate central | sync | run --central | <admin command> --central`` as real processes on a
real PostgreSQL server and the real clip (issue 13, "What must be shown"): enrolled centrally,
recognised at both doors; events of both doors arrive once; a door cut off (server stopped)
keeps deciding, and after the restart every event arrives, none twice; erased centrally, gone
from both doors' files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from door_site import LIN
from service_fixtures import PostgresServer

from desktop_app.core.storage.store import Store

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def facegate(*args: str, home: Path, key: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FACEGATE_HOME": str(home), "XDG_CACHE_HOME": str(home / "cache"),
           "FACEGATE_SITE_KEY": str(key), "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-m", "desktop_app", *args], capture_output=True, text=True, env=env,
                         timeout=600, cwd=home, stdin=subprocess.DEVNULL)
    assert "Traceback" not in out.stderr, out.stderr
    return out


def granted_uids(db: Path) -> list[str]:
    with Store(db) as store:
        return [str(r[0]) for r in store.db.execute("SELECT uid FROM events WHERE decision = 'granted'")]


def test_two_doors_one_central_server_through_a_cut(postgres_server: PostgresServer, tmp_path: Path,
                                                    clips: Path) -> None:
    dsn = postgres_server.new_database()
    key = tmp_path / "keys" / "site.key"
    admin, doors = tmp_path / "admin", {n: tmp_path / n / "door.db" for n in ("a", "b")}
    for folder in (admin, *(db.parent for db in doors.values())):
        folder.mkdir(mode=0o700)

    def run(*args: str, home: Path = admin) -> subprocess.CompletedProcess[str]:
        return facegate(*args, home=home, key=key)

    out = run("central", "init", "--dsn", dsn, "--site-key", str(key))
    assert out.returncode == 0 and "initialised" in out.stdout and key.stat().st_mode & 0o777 == 0o600, out.stderr
    clip = str(clips / "short_hamilton_clip.mp4")
    for cmd in (("enroll", "--name", LIN, str(clips / "lin-manuel-miranda.png")),
                ("door", "add", "--name", "front", "--source", clip, "--unlock-seconds", "2"),
                ("group", "add", "--name", "cast", "--doors", "front"),
                ("person", "set", "--name", LIN, "--groups", "cast")):
        out = run(*cmd, "--central", dsn)
        assert out.returncode == 0 and "central: published" in out.stderr, (cmd, out.stdout, out.stderr)

    # one sync each; door b recognises him on the clip, and its run's sync thread pushes the events
    for n, db in doors.items():
        out = run("sync", "--db", str(db), "--central", dsn, "--node", f"door-{n}", home=db.parent)
        assert out.returncode == 0 and "0 people erased" in out.stdout, out.stderr
    db = doors["b"]
    out = run("run", "--db", str(db), "--headless", "--door", "front", "--max-frames", "60", "--central", dsn,
              home=db.parent)
    assert out.returncode == 0 and f"granted {LIN}" in out.stdout, (out.stdout, out.stderr)
    assert "central: in sync" in out.stderr and "0 events waiting" in out.stderr, out.stderr

    # door a cut off: the server is down while the clip runs; the door decides all the same
    postgres_server.stop()
    try:
        out = run("run", "--db", str(doors["a"]), "--headless", "--door", "front", "--max-frames", "60",
                  "--central", dsn, home=doors["a"].parent)
        assert out.returncode == 0 and f"granted {LIN}" in out.stdout
        assert "cannot be reached" in out.stderr, out.stderr
        out = run("sync", "--db", str(doors["a"]), "--central", dsn, home=doors["a"].parent)
        last = out.stderr.strip().splitlines()[-1]
        assert out.returncode == 2 and out.stderr.count("facegate: error") == 1 and "cannot be reached" in last
    finally:
        postgres_server.start()
    out = run("sync", "--db", str(doors["a"]), "--central", dsn, home=doors["a"].parent)
    assert out.returncode == 0 and "0 events waiting" in out.stdout, out.stdout

    local = {n: granted_uids(db) for n, db in doors.items()}
    assert len(local["a"]) >= 1 and len(local["b"]) >= 1
    with psycopg.connect(dsn) as conn:
        central = [str(r[0]) for r in conn.execute("SELECT uid FROM events WHERE decision = 'granted'")]
        total_local = 0
        for path in doors.values():
            with Store(path) as store:
                total_local += int(store.db.execute("SELECT count(*) FROM events").fetchone()[0])
        total_central = conn.execute("SELECT count(*), count(DISTINCT uid) FROM events").fetchone()
    assert sorted(central) == sorted(local["a"] + local["b"])  # every event, once
    assert total_central == (total_local, total_local)
    print(f"granted at door a (clip run during the cut) {len(local['a'])}, at door b {len(local['b'])}; "
          f"central granted {len(central)}; all events: doors {total_local}, central {total_central[0]} rows, "
          f"{total_central[1]} distinct uids")  # the figures for the note (pytest -s)
    out = run("central", "status", "--dsn", dsn)
    assert out.returncode == 0 and "door-a" in out.stdout and "door-b" in out.stdout, out.stdout
    out = run("events", "--central", dsn)
    assert out.returncode == 0 and LIN in out.stdout and "front" in out.stdout, out.stdout

    # erased centrally: gone from both doors' files at their next sync
    out = run("erase", "--name", LIN, "--yes", "--central", dsn)
    assert out.returncode == 0 and "central: published" in out.stderr, out.stderr
    for db in doors.values():
        out = run("sync", "--db", str(db), "--central", dsn, home=db.parent)
        assert out.returncode == 0 and "1 people erased" in out.stdout, out.stdout
        data = b"".join(p.read_bytes() for p in db.parent.rglob("*") if p.is_file())
        assert b"Miranda" not in data
        with Store(db) as store:
            assert store.db.execute("SELECT count(*) FROM people").fetchone()[0] == 0
            assert store.db.execute("SELECT count(*) FROM samples").fetchone()[0] == 0
