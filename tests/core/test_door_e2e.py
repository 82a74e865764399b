"""End to end on the real clip (issue 10, "What must be shown"): Lin-Manuel Miranda enrolled in a
group allowed at door "front" Monday to Sunday 00:00-24:00; the real ``facegate run --headless
--door front`` process drives a real local webhook receiver (signatures checked) and a real
Mosquitto broker.

- each passage gives exactly one signed webhook open, and one MQTT open;
- his group's schedule excluding now: denied "outside schedule", no open; validity expired:
  denied "expired";
- an unknown face: no open, and an alert;
- a failing output (server down, broker down) never stops the door loop; the door shows the
  fault; fail-secure and fail-safe behave as configured.

"Two passages" is a video made of the clip's first 60 frames (Lin, large and frontal), 12 s of
black (he has left: his track ends and the 10 s cooldown passes on the video's clock), then the
same 60 frames again.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from door_site import LIN, build_site, front, not_now
from service_fixtures import WEBHOOK_SECRET, MqttBroker, MqttListener, WebhookServer

from desktop_app.core.doors.runner import DoorRunner
from desktop_app.core.live.session import LoggedEvent
from desktop_app.core.service import EventFilter, FaceGate
from desktop_app.core.storage.store import Store
from desktop_app.core.vocabulary import Decision, FailMode

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PASSAGE_FRAMES = 60
GAP_FRAMES = 360  # 12 s at 29.97 fps: more than the 10 s cooldown


@pytest.fixture(scope="module")
def two_passages(tmp_path_factory: pytest.TempPathFactory, clips: Path) -> Path:
    """The clip's first 60 frames, 12 s of black, the same 60 frames (MJPG, 29.97 fps)."""
    cap = cv2.VideoCapture(str(clips / "short_hamilton_clip.mp4"))
    frames = []
    while len(frames) < PASSAGE_FRAMES:
        ok, image = cap.read()
        assert ok, "the clip ended early"
        frames.append(image)
    cap.release()
    h, w = frames[0].shape[:2]
    path = tmp_path_factory.mktemp("clip") / "two_passages.avi"
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 29.97, (w, h))
    for image in [*frames, *([np.zeros_like(frames[0])] * GAP_FRAMES), *frames]:
        out.write(image)
    out.release()
    return path


def facegate(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FACEGATE_HOME": str(home), "XDG_CACHE_HOME": str(home / "cache"),
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "desktop_app", *args], capture_output=True, text=True, env=env,
                          timeout=900, cwd=home)


def site(tmp_path: Path, clips: Path, source: Path | None, **door: object) -> Path:
    """The site database (closed again, for the CLI process to open)."""
    db = tmp_path / "site.db"
    schedule = str(door.pop("schedule", "Mon-Sun 00:00-24:00"))
    enrol = bool(door.pop("enrol_lin", True))
    spec = front(clips, **door)
    if source is not None:
        spec = replace(spec, cameras=(replace(spec.cameras[0], source=str(source)),))
    build_site(db, clips, door=spec, schedule=schedule, enrol_lin=enrol).close()
    return db


def test_each_passage_gives_exactly_one_signed_webhook_open(tmp_path: Path, clips: Path, two_passages: Path,
                                                             webhook_server: WebhookServer) -> None:
    db = site(tmp_path, clips, two_passages, output=webhook_server.uri, secret=WEBHOOK_SECRET)
    out = facegate("run", "--db", str(db), "--headless", "--door", "front", home=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count(f"[front front/in] granted {LIN} (granted)") == 2, out.stdout
    opens = [b for b in webhook_server.received if b["kind"] == "open"]  # only correctly signed bodies count
    assert len(opens) == 2 and all(r.signed_ok for r in webhook_server.requests)
    assert {(b["door"], b["person"], b["decision"], b["reason"], b["unlock_seconds"]) for b in opens} == {
        ("front", LIN, "granted", "granted", 2)}
    with Store(db) as store:
        stored = [e for e in store.query_events() if e.decision == "granted"]
    assert len(stored) == 2 and {e.door for e in stored} == {"front"} and {e.direction for e in stored} == {"in"}
    assert {b["state"] for b in webhook_server.received if b["kind"] == "state"} >= {"locked", "unlocked"}


def test_each_passage_gives_exactly_one_mqtt_open_and_an_mqtt_command_opens_audited(
        tmp_path: Path, clips: Path, two_passages: Path, mqtt_broker: MqttBroker) -> None:
    host, port = mqtt_broker
    db = tmp_path / "site.db"
    gate = build_site(db, clips, door=front(clips, output=mqtt_broker.uri("site/front")))
    spec = gate.door("front")
    assert spec is not None
    gate.save_door(replace(spec, cameras=(replace(spec.cameras[0], source=str(two_passages)),)))
    first = threading.Event()

    def on_event(ev: LoggedEvent) -> None:
        if ev.decision == Decision.GRANTED:
            first.set()

    try:
        with MqttListener(host, port, "site/front/#") as sub:
            runner = DoorRunner(gate, gate.doors(), on_event=on_event)
            runner.start()
            assert first.wait(600), "Lin was never granted"
            sub.publish("site/front/command", "open")  # a controller's button, or Home Assistant
            summary = runner.wait(900)  # to the end of the video
            assert summary is not None
            events = [m.json() for m in sub.on("site/front/event")]
        face_opens = [e for e in events if e["kind"] == "open" and e.get("decision") == "granted"]
        remote = [e for e in events if e["kind"] == "open" and str(e.get("reason", "")).startswith("remote open")]
        assert len(face_opens) == 2 and {e["person"] for e in face_opens} == {LIN}
        assert len(remote) == 1
        audit = [a for a in gate.store.audit_log(1000) if a.action == "door.open"]
        assert [(a.actor, a.details["door"]) for a in audit] == [("mqtt", "front")]
        assert len([e for e in summary.events if e.decision == Decision.GRANTED]) == 2
    finally:
        gate.close()


@pytest.mark.parametrize("case", ["outside schedule", "expired"])
def test_refused_passages_are_denied_with_their_reason_and_never_open(
        tmp_path: Path, clips: Path, webhook_server: WebhookServer, case: str) -> None:
    db = site(tmp_path, clips, None, output=webhook_server.uri, secret=WEBHOOK_SECRET,
              schedule=not_now() if case == "outside schedule" else "Mon-Sun 00:00-24:00")
    if case == "expired":
        with FaceGate(db, device="cpu") as gate:
            lin = gate.find_person(LIN)
            assert lin is not None
            gate.set_person_access(lin.id, valid_from=date.today() - timedelta(days=30),
                                   valid_until=date.today() - timedelta(days=1))
    out = facegate("run", "--db", str(db), "--headless", "--door", "front", "--max-frames", "60", home=tmp_path)
    assert out.returncode == 0, out.stderr
    assert f"[front front/in] denied {LIN} ({case})" in out.stdout
    webhook_server.wait_for(2)
    kinds = [b["kind"] for b in webhook_server.received]
    assert "open" not in kinds and "deny" in kinds
    deny = next(b for b in webhook_server.received if b["kind"] == "deny")
    assert (deny["person"], deny["decision"], deny["reason"]) == (LIN, "denied", case)
    with FaceGate(db, device="cpu") as gate:
        assert [(e.name, e.reason) for e in gate.query_events(EventFilter(door="front"))] == [(LIN, case)]


def test_an_unknown_face_gets_no_open_and_an_alert(tmp_path: Path, clips: Path, webhook_server: WebhookServer) -> None:
    db = site(tmp_path, clips, None, output=webhook_server.uri, secret=WEBHOOK_SECRET, enrol_lin=False)
    out = facegate("run", "--db", str(db), "--headless", "--door", "front", "--max-frames", "60", home=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "[front front/in] unknown face (unknown)" in out.stdout
    bodies = webhook_server.received
    assert "open" not in [b["kind"] for b in bodies]
    alerts = [b for b in bodies if b["kind"] == "alert"]
    assert alerts and alerts[0]["reason"] == "unknown" and "unknown face" in alerts[0]["text"]


@pytest.mark.parametrize("kind", ["webhook-secure", "mqtt-safe"])
def test_a_failing_output_never_stops_the_door_loop(tmp_path: Path, clips: Path, kind: str,
                                                    webhook_server: WebhookServer, mqtt_broker: MqttBroker) -> None:
    if kind == "webhook-secure":
        uri, fail = webhook_server.uri, FailMode.SECURE
        webhook_server.stop()
    else:
        uri, fail = mqtt_broker.uri("site/front"), FailMode.SAFE
        mqtt_broker.stop()
    db = site(tmp_path, clips, None, output=uri, secret=WEBHOOK_SECRET, fail_mode=fail)
    out = facegate("run", "--db", str(db), "--headless", "--door", "front", "--max-frames", "80", home=tmp_path)
    assert out.returncode == 0, out.stderr
    assert re.search(r"^front/in\s+front\s+80\s", out.stdout, re.M), out.stdout  # every frame processed
    what = "locked (fail-secure)" if fail == FailMode.SECURE else "fail-safe: released once the output is back"
    assert f"[door front] out-of-service: {what}: output down" in out.stderr, out.stderr
    assert f"door front: out-of-service: {what}" in out.stdout
    assert f"[front front/in] granted {LIN} (granted)" in out.stdout  # decided and stored, not opened


def test_clean_messages_for_no_doors_unknown_doors_and_both_modes(tmp_path: Path, clips: Path) -> None:
    empty = tmp_path / "empty.db"
    FaceGate(empty, device="cpu").close()
    out = facegate("run", "--db", str(empty), "--headless", home=tmp_path)
    assert out.returncode == 2 and "no doors are configured" in out.stderr and "Traceback" not in out.stderr
    db = site(tmp_path, clips, None)
    out = facegate("run", "--db", str(db), "--headless", "--door", "front", "side", home=tmp_path)
    assert out.returncode == 2 and "no door named 'side': the doors are front" in out.stderr
    out = facegate("run", "--db", str(db), "--headless", "--door", "front", "--source", "0", home=tmp_path)
    assert out.returncode == 2 and "not both" in out.stderr
