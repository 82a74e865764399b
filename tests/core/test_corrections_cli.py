"""``facegate correct`` / ``corrections`` / ``refresh-templates`` on a real database (issue 14): a
verdict by name, the dashboard as JSON lines, the refresh off by default then turned on; bad input is
one line and exit 2 (the whole no-traceback matrix is in tests/reliability)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from desktop_app.cli import main
from desktop_app.core.service import FaceGate
from desktop_app.core.storage.store import Store

MODEL = "d" * 64


@pytest.mark.slow  # seven openings of the database, each loading the face model
def test_correct_by_name_and_the_dashboard_as_json(tmp_path: Path, capsys: Any) -> None:
    db = tmp_path / "site.db"
    FaceGate(db, device="cpu").close()
    with Store(db) as store:
        ann = store.add_person("Ann Lee")
        store.add_person("Ben")
        granted = store.log_event(person_id=ann, score=0.6, decision="granted", camera="c", model_sha256=MODEL)
        store.log_event(person_id=ann, score=0.6, decision="granted", camera="c", model_sha256=MODEL)
        unknown = store.log_event(person_id=None, score=0.2, decision="unknown", camera="c", model_sha256=MODEL)
    assert main(["correct", "--db", str(db), "--event", str(granted), "--not-person", "--note", "a visitor"]) == 0
    assert main(["correct", "--db", str(db), "--event", str(unknown), "--was", "ben"]) == 0  # any case
    out = capsys.readouterr().out
    assert f"Event {granted} corrected: not Ann Lee (granted 0.60)." in out and "was Ben (unknown 0.20)" in out
    assert main(["corrections", "--db", str(db), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {(r["name"], r["granted"], r["false_accepts"], r["false_rejects"]) for r in rows} == {
        ("Ann Lee", 2, 1, 0), ("Ben", 0, 0, 1)}
    assert next(r for r in rows if r["name"] == "Ann Lee")["fa_rate"] == 0.5
    assert set(rows[0]) == {"person_id", "name", "granted", "false_accepts", "false_rejects", "fa_rate", "fr_rate",
                            "last_false_accept", "last_false_reject"}
    assert main(["correct", "--db", str(db), "--event", str(unknown), "--was", "Nobody"]) == 2
    assert "No enrolled person is named 'Nobody'" in capsys.readouterr().err
    assert main(["correct", "--db", str(db), "--event", str(unknown), "--withdraw"]) == 0
    assert main(["refresh-templates", "--db", str(db)]) == 2  # off by default
    assert "template refresh is off" in capsys.readouterr().err.lower()
    assert main(["refresh-templates", "--db", str(db), "--enable", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["promoted"] == [] and report["dry_run"] is False  # these events have no face to take
    with Store(db) as store:
        assert [c.event_id for c in store.list_corrections()] == [granted]
        assert {r.action for r in store.audit_log(50)} >= {"correction.add", "correction.withdraw", "settings.update"}
