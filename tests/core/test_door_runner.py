"""The door runner on the real clip with the real engine and a real SQLite file: access decisions
with their reasons stored with the events, exactly one OPEN per passage, anti-passback rebuilt
from the events, alerts for strangers, several cameras in one batch, remote opens, the status API."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from door_site import LIN, build_site, front, not_now
from service_fixtures import MqttBroker, MqttListener, wait_until

from desktop_app.core.access.model import CameraSpec, DoorSpec
from desktop_app.core.config import AlertSettings
from desktop_app.core.doors.alerts import Alerter, AlertKind
from desktop_app.core.doors.runner import DoorRunner, select_doors
from desktop_app.core.doors.status import DoorStatus
from desktop_app.core.outputs.base import DoorMessage, MessageKind
from desktop_app.core.outputs.log import LogOutput
from desktop_app.core.service import EventFilter
from desktop_app.core.vocabulary import AccessReason, Decision, Direction, DoorState, SourceState

FRAMES = 60  # Lin is recognised within the first 20 frames of the clip; a stranger is reported by 40


def messages(runner: DoorRunner, door: str = "front") -> list[DoorMessage]:
    out = runner.controllers[door].output
    assert isinstance(out, LogOutput)
    return list(out.recent)


def sent(runner: DoorRunner, door: str = "front") -> list[MessageKind]:
    return [m.kind for m in messages(runner, door)]


def test_select_doors_names_what_is_wrong() -> None:
    a, b = DoorSpec("front", (CameraSpec("0"),)), DoorSpec("Back", (CameraSpec("1"),))
    assert select_doors([a, b]) == [a, b]
    assert select_doors([a, b], ["back", "FRONT", "back"]) == [b, a]
    with pytest.raises(ValueError, match="no doors are configured"):
        select_doors([])
    with pytest.raises(ValueError, match=r"no door named 'side': the doors are Back, front"):
        select_doors([a, b], ["side"])
    with pytest.raises(ValueError, match="door 'blind' has no camera"):
        select_doors([DoorSpec("blind")])


@pytest.mark.slow
def test_a_permitted_person_gets_exactly_one_open_and_the_event_says_why(tmp_path: Path, clips: Path) -> None:
    gate = build_site(tmp_path / "site.db", clips)
    statuses: list[DoorStatus] = []
    try:
        runner = DoorRunner(gate, gate.doors())
        runner.subscribe(statuses.append)
        summary = runner.run(max_frames=FRAMES)
        granted = [e for e in summary.events if e.decision == Decision.GRANTED]
        assert [(e.name, e.reason, e.door, e.direction, e.camera) for e in granted] == [
            (LIN, AccessReason.GRANTED, "front", Direction.IN, "front/in")]
        assert sent(runner).count(MessageKind.OPEN) == 1
        opened = next(m for m in messages(runner) if m.kind == MessageKind.OPEN)
        assert opened.person == LIN and opened.event_id == granted[0].uid and opened.unlock_seconds == 2
        stored = gate.query_events(EventFilter(decision="granted"))
        assert [(e.name, e.door, e.direction, e.reason) for e in stored] == [(LIN, "front", "in", "granted")]
        cam = summary.cameras[0]
        assert cam.frames == FRAMES and cam.name == "front/in" and cam.final_state == SourceState.STOPPED
        assert summary.doors[0].last_decision is not None and summary.doors[0].last_decision.person == LIN
        assert any(s.state == DoorState.UNLOCKED for s in statuses)  # the listener saw the door open
        assert statuses[-1].cameras[0].frames > 0
    finally:
        gate.close()


@pytest.mark.slow
def test_outside_schedule_is_denied_with_its_reason_and_no_open(tmp_path: Path, clips: Path) -> None:
    gate = build_site(tmp_path / "site.db", clips, schedule=not_now())
    try:
        runner = DoorRunner(gate, gate.doors(), alerter=Alerter(AlertSettings()))
        summary = runner.run(max_frames=FRAMES)
        decided = [(e.name, e.decision, e.reason) for e in summary.events if e.name]
        assert decided == [(LIN, Decision.DENIED, AccessReason.OUTSIDE_SCHEDULE)]
        kinds = sent(runner)
        assert MessageKind.OPEN not in kinds and kinds.count(MessageKind.DENY) >= 1
        assert runner.controllers["front"].state == DoorState.LOCKED
        stored = gate.query_events(EventFilter(decision="denied"))
        assert [(e.name, e.reason) for e in stored] == [(LIN, "outside schedule")]
    finally:
        gate.close()


@pytest.mark.slow
def test_expired_validity_is_denied(tmp_path: Path, clips: Path) -> None:
    gate = build_site(tmp_path / "site.db", clips)
    try:
        lin = gate.find_person(LIN)
        assert lin is not None
        gate.set_person_access(lin.id, valid_until=date.today() - timedelta(days=1))
        summary = DoorRunner(gate, gate.doors()).run(max_frames=FRAMES)
        assert [(e.decision, e.reason) for e in summary.events if e.name == LIN] == [
            (Decision.DENIED, AccessReason.EXPIRED)]
    finally:
        gate.close()


@pytest.mark.slow
def test_a_stranger_gets_no_open_and_an_alert(tmp_path: Path, clips: Path) -> None:
    gate = build_site(tmp_path / "site.db", clips, enrol_lin=False)
    try:
        alerter = Alerter(AlertSettings())
        runner = DoorRunner(gate, gate.doors(), alerter=alerter)
        summary = runner.run(max_frames=FRAMES)
        assert any(e.decision == Decision.UNKNOWN and e.reason == AccessReason.UNKNOWN for e in summary.events)
        assert MessageKind.OPEN not in sent(runner)
        assert MessageKind.ALERT in sent(runner)
        assert [a[0] for a in alerter.recent][:1] == [AlertKind.UNKNOWN]
    finally:
        gate.close()


@pytest.mark.slow
def test_anti_passback_remembers_the_passages_stored_before_the_start(tmp_path: Path, clips: Path) -> None:
    door = front(clips, passback_partner="front", passback="deny")
    gate = build_site(tmp_path / "site.db", clips, door=door)
    try:
        lin = gate.find_person(LIN)
        assert lin is not None
        # an entry an hour ago, written by an earlier run: a restart must not forget it
        gate.record_event(person_id=lin.id, score=0.7, decision="granted", camera="front/in",
                          ts=datetime.now(UTC) - timedelta(hours=1), door="front", direction=Direction.IN,
                          reason=AccessReason.GRANTED)
        runner = DoorRunner(gate, gate.doors())
        summary = runner.run(max_frames=FRAMES)
        assert [(e.decision, e.reason) for e in summary.events if e.name == LIN] == [
            (Decision.DENIED, AccessReason.ANTI_PASSBACK)]
        assert MessageKind.OPEN not in sent(runner)
        # the same door set to flag lets him through, flagged
        gate.save_door(replace(door, passback="flag"))
        summary = DoorRunner(gate, gate.doors()).run(max_frames=FRAMES)
        assert [(e.decision, e.reason) for e in summary.events if e.name == LIN] == [
            (Decision.GRANTED, AccessReason.ANTI_PASSBACK)]
    finally:
        gate.close()


@pytest.mark.slow
def test_two_doors_two_cameras_in_one_batch(tmp_path: Path, clips: Path) -> None:
    """Two doors each seeing the clip (one entry, one exit camera): each camera's events carry its
    door and direction, both cameras are processed frame for frame, each door opens once."""
    gate = build_site(tmp_path / "site.db", clips)
    try:
        back = DoorSpec("back", cameras=(CameraSpec(str(clips / "short_hamilton_clip.mp4"), Direction.OUT),),
                        unlock_seconds=2)
        gate.save_door(back)
        gate.set_permissions("cast", ["front", "back"], "cast hours")
        runner = DoorRunner(gate, gate.doors())
        summary = runner.run(max_frames=40)
        assert sorted((c.name, c.frames) for c in summary.cameras) == [("back/out", 40), ("front/in", 40)]
        granted = sorted((e.door, e.direction, e.camera) for e in summary.events if e.decision == Decision.GRANTED)
        assert granted == [("back", Direction.OUT, "back/out"), ("front", Direction.IN, "front/in")]
        assert sent(runner, "front").count(MessageKind.OPEN) == 1 and sent(runner, "back").count(MessageKind.OPEN) == 1
        assert {s.name: len(s.cameras) for s in runner.snapshot()} == {"back": 1, "front": 1}
    finally:
        gate.close()


@pytest.mark.slow
def test_a_remote_open_from_the_queue_opens_the_door(tmp_path: Path, clips: Path) -> None:
    gate = build_site(tmp_path / "site.db", clips, schedule=not_now())  # nobody is let in by face
    try:
        gate.request_door_open("front", actor="guard")
        runner = DoorRunner(gate, gate.doors())
        runner.run(max_frames=20)
        opens = [m for m in messages(runner) if m.kind == MessageKind.OPEN]
        assert len(opens) == 1 and opens[0].reason is not None and opens[0].reason.startswith("remote open (queue #")
        assert gate.take_door_commands(["front"]) == []  # served once
    finally:
        gate.close()


def test_every_camera_of_a_gate_follows_a_settings_change(tmp_path: Path) -> None:
    """Cameras share one FaceGate: when one camera's sync takes another program's new settings,
    the other cameras' sessions take them too (the gate reports the change only once)."""
    from desktop_app.core.live.session import LiveSession
    from desktop_app.core.service import FaceGate

    db = tmp_path / "site.db"
    with FaceGate(db, device="cpu") as gate, FaceGate(db, device="cpu") as other:
        a, b = LiveSession(gate, camera="a"), LiveSession(gate, camera="b")
        a.sync(now=1e9)
        b.sync(now=1e9)
        cfg = other.config
        other.update_config(cfg.model_copy(update={"decision": cfg.decision.model_copy(update={"votes_needed": 2})}))
        a.sync(now=2e9)  # takes the change from the database
        b.sync(now=2e9)  # sees that the gate's settings changed
        assert a.policy.config.votes_needed == b.policy.config.votes_needed == 2


@pytest.mark.slow
def test_the_runner_listens_to_the_door_contact(tmp_path: Path, clips: Path, mqtt_broker: MqttBroker) -> None:
    """A door's contact sensor (MQTT) is started with the door: the leaf reported open while the
    door is locked raises "door forced" (the sensor's retained state arrives on subscribing)."""
    host, port = mqtt_broker
    with MqttListener(host, port, "site/#") as sensor:
        sensor.publish("site/front/contact", "open", retain=True)
    door = front(clips, contact=f"mqtt://{host}:{port}/site/front/contact")
    gate = build_site(tmp_path / "site.db", clips, door=door, schedule=not_now())
    try:
        alerter = Alerter(AlertSettings())
        runner = DoorRunner(gate, gate.doors(), alerter=alerter)
        runner.start()
        assert wait_until(lambda: any(s.alarm for s in runner.snapshot()), 30)
        summary = runner.stop()
        assert summary is not None
        assert AlertKind.FORCED in [a[0] for a in alerter.recent]
        assert summary.doors[0].alarm == AlertKind.FORCED.value and summary.doors[0].contact_open is True
    finally:
        gate.close()
