"""The `facegate` command line, run as a real process on real images and the real clip."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

LIN = "Lin-Manuel Miranda"


def facegate(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FACEGATE_HOME": str(home), "XDG_CACHE_HOME": str(home / "cache")}
    return subprocess.run([sys.executable, "-m", "desktop_app", *args], capture_output=True, text=True,
                          env=env, timeout=600)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory, clips: Path) -> Path:
    home = tmp_path_factory.mktemp("cli")
    path = home / "staff.db"
    out = facegate("enroll", "--db", str(path), "--name", LIN, str(clips / "lin-manuel-miranda.png"), home=home)
    assert out.returncode == 0, out.stderr
    assert "1 shot enrolled" in out.stdout
    out = facegate("enroll", "--db", str(path), "--name", "obama", str(clips / "knn_examples" / "train" / "obama"),
                   home=home)
    assert out.returncode == 0 and "2 shots enrolled" in out.stdout, out.stdout + out.stderr
    return path


def test_identify_json_lines(db: Path, clips: Path) -> None:
    test = clips / "knn_examples" / "test"
    out = facegate("identify", "--db", str(db), "--json", str(test / "obama1.jpg"), str(test / "obama_and_biden.jpg"),
                   home=db.parent)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == 4
    assert all({"image", "name", "score", "box"} <= set(r) for r in rows)
    assert [r["name"] for r in rows if r["image"].endswith("obama1.jpg")] == ["obama"]
    pair = [r["name"] for r in rows if r["image"].endswith("obama_and_biden.jpg")]
    assert sorted(pair, key=str) == sorted(["obama", None, None], key=str)  # biden is not enrolled here


def test_run_headless_prints_events_and_latency(db: Path, clips: Path) -> None:
    out = facegate("run", "--db", str(db), "--source", str(clips / "short_hamilton_clip.mp4"), "--headless",
                   "--max-frames", "40", home=db.parent)
    assert out.returncode == 0, out.stderr
    assert f"granted {LIN}" in out.stdout
    assert "40 frames" in out.stdout and "detect" in out.stdout and "embed" in out.stdout


def test_calibrate_prints_the_threshold(db: Path) -> None:
    out = facegate("calibrate", "--db", str(db), "--fpir", "0.001", "--json", home=db.parent)
    assert out.returncode == 0, out.stderr
    cal = json.loads(out.stdout)
    assert 0.3 < cal["threshold"] < 0.8 and cal["gallery_persons"] == 2 and cal["target_fpir"] == 0.001


def test_eval_json_keys_on_a_small_pairs_file(lfw: Path, tmp_path: Path) -> None:
    lines = (lfw / "pairs.txt").read_text().splitlines()[1:]
    small = ["2\t6"]
    for fold in range(2):
        block = lines[fold * 600:(fold + 1) * 600]
        small += block[:6] + block[300:306]
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("\n".join(small) + "\n")
    out = facegate("eval", "--pairs", str(pairs), "--images", str(lfw), "--json", home=tmp_path)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert {"accuracy", "accuracy_std", "tar_at_far", "no_face", "images", "seconds"} <= set(res)
    assert set(res["tar_at_far"]) == {"0.01", "0.001"}
    assert res["accuracy"] >= 0.9 and res["images"] > 20


@pytest.mark.slow
def test_errors_are_clear(tmp_path: Path) -> None:
    bad = tmp_path / "nope.jpg"
    bad.write_text("not an image")
    out = facegate("identify", "--db", str(tmp_path / "x.db"), str(bad), home=tmp_path)
    assert out.returncode == 1 and "not an image" in out.stderr
    out = facegate("run", "--db", str(tmp_path / "x.db"), "--source", str(tmp_path / "missing.mp4"), "--headless",
                   home=tmp_path)
    assert out.returncode != 0 and "missing.mp4" in out.stderr


@pytest.fixture(scope="module")
def dated_events(db: Path) -> dict[str, int]:
    """Events on three days of March 2025 (far from today's run events), logged in the real database:
    obama granted on the 3rd and 5th, Lin granted on the 5th, one unknown face on the 4th."""
    from datetime import datetime

    from desktop_app.core.storage.store import Store

    with Store(db) as store:
        obama, lin = store.find_person("obama"), store.find_person(LIN)
        assert obama is not None and lin is not None
        store.update_person(obama.id, employee_id="E-44", department="Front Office")
        for pid, ts in [(obama.id, datetime(2025, 3, 3, 8, 58)), (obama.id, datetime(2025, 3, 3, 17, 31)),
                        (obama.id, datetime(2025, 3, 5, 9, 5)), (lin.id, datetime(2025, 3, 5, 10, 0))]:
            store.log_event(person_id=pid, score=0.8, decision="granted", camera="door-1", model_sha256="f" * 64,
                            ts=ts)
        store.log_event(person_id=None, score=0.1, decision="unknown", camera="door-1", model_sha256="f" * 64,
                        ts=datetime(2025, 3, 4, 12, 0))
        return {"obama": obama.id, "lin": lin.id}


def _audit(db: Path, action: str) -> list[object]:
    from desktop_app.core.storage.store import Store

    with Store(db) as store:
        return [a for a in store.audit_log(1000) if a.action == action]


def test_events_filters_list_and_audited_csv(db: Path, dated_events: dict[str, int], tmp_path: Path) -> None:
    import csv

    out = facegate("events", "--db", str(db), "--from", "2025-03-03", "--to", "2025-03-04", home=db.parent)
    assert out.returncode == 0, out.stderr
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("2025-")]
    assert len(lines) == 3 and sum("obama" in ln for ln in lines) == 2 and sum("unknown" in ln for ln in lines) == 1
    assert "3 of 3 events shown" in out.stdout
    out = facegate("events", "--db", str(db), "--from", "2025-03-01", "--to", "2025-03-31", "--person", "OBAMA",
                   home=db.parent)
    assert out.returncode == 0, out.stderr
    assert [ln.split()[1] for ln in out.stdout.splitlines() if ln.startswith("2025-")] == ["09:05:00", "17:31:00",
                                                                                         "08:58:00"]
    before = len(_audit(db, "events.export"))
    target = tmp_path / "obama-march.csv"
    out = facegate("events", "--db", str(db), "--from", "2025-03-04", "--to", "2025-03-05", "--person", "obama",
                   "--csv", str(target), home=db.parent)
    assert out.returncode == 0, out.stderr
    assert "1 event written" in out.stdout
    with target.open(newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    got = [(r["name"], r["decision"], r["time_local"][:16]) for r in rows]
    assert got == [("obama", "granted", "2025-03-05T09:05")]
    exports = _audit(db, "events.export")
    assert len(exports) == before + 1
    last = exports[0]
    assert last.actor == "cli" and last.details["rows"] == 1  # type: ignore[attr-defined]
    assert last.details["person_id"] == dated_events["obama"] and last.details["day_from"] == "2025-03-04"  # type: ignore[attr-defined]


def test_events_bad_filters_are_refused_clearly(db: Path, dated_events: dict[str, int], tmp_path: Path) -> None:
    out = facegate("events", "--db", str(db), "--person", "Nobody Here", "--csv", str(tmp_path / "x.csv"),
                   home=db.parent)
    assert out.returncode == 1 and "no enrolled person named 'Nobody Here'" in out.stderr
    assert not (tmp_path / "x.csv").exists() and "Traceback" not in out.stderr
    out = facegate("events", "--db", str(db), "--from", "2025-03-31", "--to", "2025-03-01", home=db.parent)
    assert out.returncode == 2 and "is after" in out.stderr
    out = facegate("attendance", "--db", str(db), "--from", "31/03/2025", home=db.parent)
    assert out.returncode == 2 and "YYYY-MM-DD" in out.stderr and "Traceback" not in out.stderr


def test_attendance_table_and_audited_csv(db: Path, dated_events: dict[str, int], tmp_path: Path) -> None:
    import csv

    out = facegate("attendance", "--db", str(db), "--from", "2025-03-01", "--to", "2025-03-07", home=db.parent)
    assert out.returncode == 0, out.stderr
    rows = [ln for ln in out.stdout.splitlines() if ln.startswith("2025-")]
    assert len(rows) == 3 and "3 day rows from 2025-03-01 to 2025-03-07" in out.stdout
    first = rows[0]
    assert first.startswith("2025-03-03") and "obama" in first and "E-44" in first and "Front Office" in first
    assert "08:58:00" in first and "17:31:00" in first and "8:33" in first  # hours as h:mm
    target = tmp_path / "att.csv"
    before = len(_audit(db, "attendance.export"))
    out = facegate("attendance", "--db", str(db), "--csv", str(target), "--from", "2025-03-01", "--to", "2025-03-07",
                   home=db.parent)
    assert out.returncode == 0, out.stderr
    with target.open(newline="", encoding="utf-8-sig") as f:
        table = list(csv.DictReader(f))
    assert [(r["day"], r["name"], r["employee_id"], r["department"]) for r in table] == [
        ("2025-03-03", "obama", "E-44", "Front Office"), ("2025-03-05", LIN, "", ""),
        ("2025-03-05", "obama", "E-44", "Front Office")]
    assert table[0]["hours"] == "8.55"
    exports = _audit(db, "attendance.export")
    assert len(exports) == before + 1 and exports[0].actor == "cli"  # type: ignore[attr-defined]
    assert exports[0].details["rows"] == 3 and exports[0].details["day_to"] == "2025-03-07"  # type: ignore[attr-defined]
