"""``facegate audit verify`` and ``facegate audit list`` as real processes on a real database
(issue 12): exit codes, the first broken row, filters, and the audited CSV export."""

from __future__ import annotations

import csv
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from desktop_app.core.storage.store import Store

pytestmark = pytest.mark.slow  # each command starts the app with its models (seconds)


def facegate(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FACEGATE_HOME": str(home), "XDG_CACHE_HOME": str(home / "cache")}
    return subprocess.run([sys.executable, "-m", "desktop_app", *args], capture_output=True, text=True,
                          env=env, timeout=600)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "facegate.db"
    with Store(path) as store:
        ada = store.add_person("Ada Lovelace")
        store.audit("admin", "person.add", {"person_id": ada, "name": "Ada Lovelace"})
        store.audit("admin", "settings.update", {"threshold": 0.4})
        store.audit("trainer", "model.register", {"sha256": "ab" * 32, "name": "m1"})
        store.audit("admin", "person.update", {"person_id": ada, "fields": ["department"]})
        store.audit("cli", "events.export", {"rows": 2, "file": "e.csv"})
    return path


def test_verify_says_intact_then_names_the_first_broken_row(db: Path) -> None:
    home = db.parent
    out = facegate("audit", "verify", "--db", str(db), home=home)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "intact: 5 rows"
    head = lines[1].split()[1]  # "head: ID:HASH (keep it elsewhere...)"
    head_id, head_hash = head.split(":")
    assert head_id == "5" and len(head_hash) == 64
    conn = sqlite3.connect(db, isolation_level=None)  # another program edits row 2 (triggers dropped first)
    conn.execute("DROP TRIGGER audit_details_only_pseudonymised")
    conn.execute("UPDATE audit SET details_json = '{\"threshold\":0.99}' WHERE id = 2")
    conn.close()
    out = facegate("audit", "verify", "--db", str(db), "--expect", head, home=home)
    assert out.returncode == 1, out.stdout + out.stderr
    assert out.stdout.startswith("BROKEN at row 2: its details were changed after it was written")
    assert "1 row before it is intact." in out.stdout and "Traceback" not in out.stderr
    out = facegate("doctor", "--db", str(db), home=home)
    assert out.returncode == 1, out.stdout
    assert "ERROR   audit: row 2: the audit log's hash chain is broken" in out.stdout


def test_list_filters_and_the_export_is_audited(db: Path, tmp_path: Path) -> None:
    home = db.parent
    out = facegate("audit", "list", "--db", str(db), "--person", "ada lovelace", home=home)
    assert out.returncode == 0, out.stderr
    listed = [line.split()[0] for line in out.stdout.splitlines()[:-1]]
    assert listed == ["4", "1"], out.stdout  # row 4 names Ada by her id only: found through the people
    assert out.stdout.splitlines()[-1] == "2 of 2 audit rows shown (newest first)."
    target = tmp_path / "exports" / "audit.csv"
    out = facegate("audit", "list", "--db", str(db), "--action", "model", "--actor", "TRAINER", "--from",
                   "2000-01-01", "--csv", str(target), home=home)
    assert out.returncode == 0 and out.stdout.strip() == f"1 audit row written to {target}", out.stdout + out.stderr
    with target.open(newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["audit_id"], r["actor"], r["action"]) for r in rows] == [("3", "trainer", "model.register")]
    assert len(rows[0]["row_hash"]) == 64 and '"name":"m1"' in rows[0]["details"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    with Store(db) as store:
        (last,) = store.audit_log(1)
        assert (last.actor, last.action) == ("cli", "audit.export")
        assert last.details["rows"] == 1 and last.details["file"] == "audit.csv" and last.details["action"] == "model"
        assert store.verify_audit().intact
    out = facegate("audit", "list", "--db", str(db), "--limit", "2", home=home)
    assert out.returncode == 0 and "audit.export" in out.stdout.splitlines()[0], out.stdout
    assert out.stdout.splitlines()[-1] == "2 of 6 audit rows shown (newest first)."


def test_user_errors_exit_2_without_a_traceback(db: Path) -> None:
    home = db.parent
    for args, said in ((("list", "--from", "2026-02-01", "--to", "2026-01-01"), "is after --to"),
                       (("verify", "--expect", "5:nothex"), "is not ID:HASH"),
                       ((), "verify,list")):
        out = facegate("audit", *args, "--db", str(db), home=home) if args else facegate("audit", home=home)
        assert out.returncode == 2, (args, out.stdout, out.stderr)
        assert said in out.stderr and "Traceback" not in out.stderr, out.stderr
