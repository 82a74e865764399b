"""`facegate door | group | schedule | person` and the access columns of `events` / `attendance`:
the main flow as real processes, the many user errors through the same ``main`` in-process (exit
status, one clear line, no traceback), on real SQLite files."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from desktop_app.cli import main
from desktop_app.core.service import FaceGate
from desktop_app.core.storage.store import Store
from desktop_app.core.vocabulary import AccessReason, Direction

PARIS = ZoneInfo("Europe/Paris")


def facegate(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FACEGATE_HOME": str(home), "XDG_CACHE_HOME": str(home / "cache")}
    return subprocess.run([sys.executable, "-m", "desktop_app", *args], capture_output=True, text=True,
                          env=env, timeout=600)


@pytest.fixture()
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A database with three people (two named Sam, told apart by employee ID) and no door yet."""
    monkeypatch.setenv("FACEGATE_HOME", str(tmp_path))
    db = tmp_path / "site.db"
    with Store(db) as store:
        store.add_person("Ada Lovelace")
        store.add_person("Sam", "E1")
        store.add_person("Sam", "E2")
    return db


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``facegate ARGS`` in this process: (exit status, stdout, stderr)."""
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse refusing the arguments
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def refused(result: tuple[int, str, str], *words: str) -> None:
    code, _out, err = result
    assert code == 2, result
    assert "Traceback" not in err and all(w in err for w in words), err


# ------------------------------------------------------------------------------------ real processes
@pytest.mark.slow
def test_access_commands_end_to_end_as_processes(site: Path, tmp_path: Path) -> None:
    db = str(site)
    out = facegate("door", "add", "--db", db, "--name", "front", "--source", "0", home=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Door 'front' added with camera 0 (in)" in out.stdout and "dry run" in out.stdout
    out = facegate("door", "add", "--db", db, "--name", "Front", "--source", "rtsp://cam2/s", "--direction", "out",
                   "--output", "webhook:https://hook:pw@example.org/door", "--secret", "k3y!", "--unlock-seconds",
                   "3", "--fail", "safe", home=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "exists" in out.stdout and "camera rtsp://cam2/s (out) added" in out.stdout
    assert "k3y!" not in out.stdout and "pw@" not in out.stdout
    out = facegate("schedule", "add", "--db", db, "--name", "office", "--spec", "Mon-Fri 08:00-18:00",
                   "--holidays", "2026-12-25", "--timezone", "Europe/Paris", home=tmp_path)
    assert out.returncode == 0 and "Schedule 'office' saved" in out.stdout, out.stderr
    out = facegate("group", "add", "--db", db, "--name", "staff", "--schedule", "office", "--doors", "front",
                   home=tmp_path)
    assert out.returncode == 0 and "staff may pass front when schedule 'office'" in out.stdout, out.stderr
    out = facegate("person", "set", "--db", db, "--name", "ada lovelace", "--groups", "staff", "--valid-until",
                   "2026-12-31", home=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "groups staff" in out.stdout and "to 2026-12-31" in out.stdout
    out = facegate("door", "list", "--db", db, home=tmp_path)
    assert out.returncode == 0, out.stderr
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("front"))
    assert "0 (in), rtsp://cam2/s (out)" in line and "webhook:https://hook:***@example.org/door" in line
    assert " 3s" in line and "safe" in line and " set " in line and "staff (office: Mon-Fri 08:00-18:00)" in line
    assert "k3y!" not in out.stdout
    out = facegate("door", "open", "--db", db, "--name", "FRONT", home=tmp_path)
    assert out.returncode == 0 and "queued" in out.stdout and "door loop" in out.stdout, out.stderr
    out = facegate("person", "set", "--db", db, "--name", "Sam", "--groups", "cleaners", home=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().count("\n") == 0 and "--employee-id" in out.stderr

    with FaceGate(site, device="cpu") as gate:
        front = gate.door("front")
        assert front is not None and front.secret == "k3y!" and front.unlock_seconds == 3
        assert [c.direction for c in front.cameras] == [Direction.IN, Direction.OUT]
        ada = gate.find_person("Ada Lovelace")
        assert ada is not None
        monday = datetime(2026, 3, 2, 10, 0, tzinfo=PARIS)
        assert gate.access_reason(ada.id, "front", monday) == AccessReason.GRANTED
        assert gate.access_reason(ada.id, "front", monday.replace(hour=19)) == AccessReason.OUTSIDE_SCHEDULE
        assert gate.access_reason(ada.id, "front", datetime(2027, 1, 4, 10, tzinfo=PARIS)) == AccessReason.EXPIRED
        assert [c[1:] for c in gate.take_door_commands(["front"])] == [("front", "open")]
        actions = [(a.actor, a.action) for a in gate.store.audit_log(50)]
        assert {("cli", "door.save"), ("cli", "schedule.save"), ("cli", "group.save"), ("cli", "permissions.set"),
                ("cli", "person.access"), ("cli", "door.open")} <= set(actions)
        gate.record_event(person_id=ada.id, score=0.71, decision="denied", camera="front/in",
                          ts=monday.replace(hour=19), door="front", direction=Direction.IN,
                          reason=AccessReason.OUTSIDE_SCHEDULE)

    target = tmp_path / "events.csv"
    out = facegate("events", "--db", db, "--csv", str(target), home=tmp_path)
    assert out.returncode == 0, out.stderr
    with target.open(newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    assert [(r["name"], r["decision"], r["door"], r["direction"], r["reason"]) for r in rows] == [
        ("Ada Lovelace", "denied", "front", "in", "outside schedule")]
    out = facegate("events", "--db", db, "--from", "2026-03-02", "--to", "2026-03-02", home=tmp_path)
    assert out.returncode == 0 and "(outside schedule)" in out.stdout and "front in" in out.stdout, out.stderr


# ------------------------------------------------------------------------------------ in-process
def test_door_add_applies_only_the_options_given(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(site)
    code, out, _ = run(capsys, "door", "add", "--db", db, "--name", "front", "--source", "0", "--output",
                       "mqtt://broker:1883/doors/front", "--unlock-seconds", "7")
    assert code == 0 and "added" in out
    code, out, _ = run(capsys, "door", "add", "--db", db, "--name", "front", "--source", "0")
    assert code == 0 and "camera 0 (in) was there already" in out and "changed" not in out
    code, out, _ = run(capsys, "door", "add", "--db", db, "--name", "front", "--source", "0", "--direction", "out",
                       "--fail", "safe")
    assert code == 0 and "camera 0 (out) added; changed fail mode" in out
    with FaceGate(site, device="cpu") as gate:
        door = gate.door("front")
    assert door is not None and door.output == "mqtt://broker:1883/doors/front" and door.unlock_seconds == 7
    assert [(c.source, c.direction.value) for c in door.cameras] == [("0", "in"), ("0", "out")]
    assert door.fail_mode.value == "safe"


def test_door_add_sets_contact_and_anti_passback(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(site)
    assert run(capsys, "door", "add", "--db", db, "--name", "lobby", "--source", "0")[0] == 0
    code, out, _ = run(capsys, "door", "add", "--db", db, "--name", "lobby", "--source", "1", "--direction", "out",
                       "--passback-with", "lobby", "--contact", "mqtt://127.0.0.1:1883/lobby/contact",
                       "--held-open-seconds", "20")
    assert code == 0 and "anti-passback deny with lobby" in out, out
    with FaceGate(site, device="cpu") as gate:
        door = gate.door("lobby")
        assert door is not None
        assert (door.passback, door.passback_partner, door.contact, door.held_open_s) == (
            "deny", "lobby", "mqtt://127.0.0.1:1883/lobby/contact", 20.0)
    assert run(capsys, "door", "add", "--db", db, "--name", "lobby", "--source", "1", "--passback", "flag")[0] == 0
    assert run(capsys, "door", "add", "--db", db, "--name", "lobby", "--source", "1", "--passback-with", "",
               "--contact", "")[0] == 0
    with FaceGate(site, device="cpu") as gate:
        door = gate.door("lobby")
        assert door is not None and (door.passback, door.passback_partner, door.contact) == ("off", None, None)
    refused(run(capsys, "door", "add", "--db", db, "--name", "back", "--source", "2", "--passback", "deny"),
            "anti-passback needs the paired door")
    refused(run(capsys, "door", "add", "--db", db, "--name", "back", "--source", "2", "--passback-with", "nowhere"),
            "nowhere")


def test_door_errors_are_one_clear_line(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(site)
    refused(run(capsys, "door", "add", "--db", db, "--name", "x", "--source", "0", "--output", "ftp://h/x"),
            "unknown door output 'ftp://h/x'", "webhook:")
    refused(run(capsys, "door", "add", "--db", db, "--name", "x", "--source", "0", "--unlock-seconds", "0"),
            "0.5 to 3600")
    refused(run(capsys, "door", "add", "--db", db, "--name", "x", "--source", "0", "--direction", "up"),
            "invalid choice")
    refused(run(capsys, "door", "open", "--db", db, "--name", "side"), "no door named 'side'", "door add")
    code, out, _ = run(capsys, "door", "list", "--db", db)
    assert code == 0 and "No door yet" in out
    with Store(site) as store:
        assert store.list_doors() == [] and store.db.execute("SELECT count(*) FROM door_commands").fetchone()[0] == 0


def test_group_add_saves_or_reuses_the_schedule(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(site)
    for name in ("front", "back"):
        assert run(capsys, "door", "add", "--db", db, "--name", name, "--source", "0")[0] == 0
    code, out, _ = run(capsys, "group", "add", "--db", db, "--name", "staff", "--schedule", "Mon-Fri 08:00-18:00",
                       "--doors", "front,back")
    assert code == 0 and "Group 'staff' created" in out and "back, front when schedule 'staff'" in out
    code, out, _ = run(capsys, "group", "add", "--db", db, "--name", "temps", "--schedule", "mon-fri 8:00-18:00",
                       "--doors", "front")
    assert code == 0 and "schedule 'staff'" in out  # same windows: reused, not copied
    code, out, _ = run(capsys, "group", "add", "--db", db, "--name", "staff", "--schedule", "Sat 09:00-12:00")
    assert code == 0 and "Group 'staff' updated" in out and "back, front" in out  # kept its doors
    code, out, _ = run(capsys, "group", "add", "--db", db, "--name", "night", "--doors", "back")
    assert code == 0 and "night may pass back always" in out
    with FaceGate(site, device="cpu") as gate:
        perms = {(p.group, p.door): p.schedule for p in gate.permissions()}
        assert perms[("temps", "front")].text == "Mon-Fri 08:00-18:00"  # not changed by staff's new schedule
        assert perms[("staff", "front")].text == "Sat 09:00-12:00" == perms[("staff", "back")].text
        assert perms[("night", "back")].name == "always"
    code, out, _ = run(capsys, "group", "list", "--db", db)
    assert code == 0 and "temps" in out and "front (staff: Mon-Fri 08:00-18:00)" in out
    code, out, _ = run(capsys, "schedule", "list", "--db", db)
    assert code == 0 and "used by temps at front" in out
    refused(run(capsys, "group", "add", "--db", db, "--name", "x", "--doors", "side"), "no door named 'side'",
            "doors: back, front")
    refused(run(capsys, "group", "add", "--db", db, "--name", "x", "--schedule", "Mon-Fri 8-18", "--doors", "front"),
            "HH:MM-HH:MM")
    refused(run(capsys, "schedule", "remove", "--db", db, "--name", "staff"), "in use", "temps")
    refused(run(capsys, "schedule", "add", "--db", db, "--name", "z", "--spec", "Mon 08:00-09:00", "--timezone",
                "Mars/Olympus"), "unknown time zone")
    with FaceGate(site, device="cpu") as gate:
        assert "x" not in {g.name for g in gate.groups()}


def test_person_set_finds_the_person_and_refuses_clearly(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(site)
    run(capsys, "door", "add", "--db", db, "--name", "front", "--source", "0")
    run(capsys, "group", "add", "--db", db, "--name", "staff", "--doors", "front")
    code, out, _ = run(capsys, "person", "set", "--db", db, "--name", "sam", "--employee-id", "E2", "--groups",
                       "STAFF", "--valid-from", "2026-01-01", "--inactive")
    assert code == 0 and "Sam (E2): updated; groups staff; valid from 2026-01-01" in out and "INACTIVE" in out
    code, out, _ = run(capsys, "person", "set", "--db", db, "--name", "Ada Lovelace", "--employee-id", "A-9")
    assert code == 0 and "Ada Lovelace (A-9)" in out  # the one Ada without an ID gets it
    code, out, _ = run(capsys, "person", "set", "--db", db, "--name", "sam", "--employee-id", "E2",
                       "--valid-from", "none", "--active")
    assert code == 0 and "valid from always" in out and "INACTIVE" not in out
    refused(run(capsys, "person", "set", "--db", db, "--name", "Sam", "--active"), "2 people are named 'Sam'")
    refused(run(capsys, "person", "set", "--db", db, "--name", "Sam", "--employee-id", "E9"),
            "has employee ID 'E9'")
    refused(run(capsys, "person", "set", "--db", db, "--name", "Nobody", "--active"), "no enrolled person")
    refused(run(capsys, "person", "set", "--db", db, "--name", "Ada Lovelace", "--groups", "staff,cleaners"),
            "no group named 'cleaners'", "groups: staff")
    refused(run(capsys, "person", "set", "--db", db, "--name", "Ada Lovelace", "--valid-from", "2026-05-01",
                "--valid-until", "2026-04-30"), "ends (2026-04-30) before it starts")
    refused(run(capsys, "person", "set", "--db", db, "--name", "Ada Lovelace", "--valid-until", "31/12/2026"),
            "YYYY-MM-DD")
    with FaceGate(site, device="cpu") as gate:
        ada = gate.find_person("Ada Lovelace")
        assert ada is not None
        acc = gate.person_access(ada.id)
    assert acc is not None and acc.groups == frozenset() and acc.valid_from is None and acc.employee_id == "A-9"


def test_attendance_listing_with_only_an_entry_or_only_an_exit(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    day = date.today() - timedelta(days=1)
    with Store(site) as store:
        ada, sam = store.find_person("Ada Lovelace"), store.find_person("Sam", "E1")
        assert ada is not None and sam is not None
        t = datetime(day.year, day.month, day.day, 9, 0).astimezone()
        store.log_event(person_id=ada.id, score=0.8, decision="granted", camera="front/in", model_sha256="f" * 64,
                        ts=t, door="front", direction="in", reason="granted")
        store.log_event(person_id=sam.id, score=0.8, decision="granted", camera="front/out", model_sha256="f" * 64,
                        ts=t + timedelta(hours=8), door="front", direction="out", reason="granted")
    code, out, _ = run(capsys, "attendance", "--db", str(site), "--from", day.isoformat(), "--to", day.isoformat())
    assert code == 0, out
    rows = {ln.split()[1]: ln for ln in out.splitlines() if ln.startswith(day.isoformat())}
    assert "09:00:00  --:--:--" in rows["Ada"] and "--:--:--  17:00:00" in rows["Sam"]
