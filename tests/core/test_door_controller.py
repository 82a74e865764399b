"""The door controller's state machine, fail modes, door contact and alerts, on the real ``log:``
output (a dry run that keeps what it was sent) with a fake clock; an output whose health the test
sets isolates the fail modes here, and tests/core/test_door_outputs_live.py repeats them against a
real webhook server and a real MQTT broker that go down."""

from __future__ import annotations

import pytest

from desktop_app.core.access.model import DoorSpec
from desktop_app.core.config import AlertSettings
from desktop_app.core.doors.alerts import Alerter, AlertKind
from desktop_app.core.doors.controller import FORCED_GRACE_S, DoorController, DoorDecision
from desktop_app.core.outputs.base import DoorMessage, MessageKind, OutputHealth, OutputStatus
from desktop_app.core.outputs.log import LogOutput
from desktop_app.core.outputs.registry import open_output
from desktop_app.core.vocabulary import AccessReason, Decision, DoorState, FailMode


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


class FlakyLog(LogOutput):
    """The log: output with a health the test sets (the real drivers' DOWN is tested live)."""

    def __init__(self, uri: str, door: str, secret: str | None = None) -> None:
        super().__init__(uri, door, secret)
        self.status = OutputStatus.OK

    def health(self) -> OutputHealth:
        return OutputHealth(self.status, "connection refused" if self.status == OutputStatus.DOWN else "")


def kinds(out: LogOutput) -> list[str]:
    return [m.kind.value if m.kind != MessageKind.STATE else f"state:{m.state}" for m in out.recent]


GRANT = DoorDecision(Decision.GRANTED, AccessReason.GRANTED, "front/in", person="Ada", employee_id="E1",
                     event_id="uid-1", score=0.8)


def make(fail: FailMode = FailMode.SECURE, alerts: AlertSettings | None = None, **spec: object
         ) -> tuple[DoorController, FlakyLog, Clock, Alerter]:
    clock = Clock()
    out = FlakyLog("log:", "front")
    alerter = Alerter(alerts or AlertSettings(min_interval_s=0), clock=clock)
    door = DoorController(DoorSpec("front", fail_mode=fail, unlock_seconds=5, **spec),  # type: ignore[arg-type]
                          out, alerter=alerter, clock=clock)
    door.start()
    return door, out, clock, alerter


def test_open_output_gives_the_log_driver() -> None:
    out = open_output("log:", door="front")
    assert isinstance(out, LogOutput) and out.health().ok


def test_a_grant_opens_for_the_unlock_time_then_the_door_locks_again() -> None:
    door, out, clock, _ = make()
    assert kinds(out) == ["state:locked"]
    assert door.decide(GRANT) == MessageKind.OPEN
    assert door.state == DoorState.UNLOCKED and door.unlocked_for() == pytest.approx(5.0)
    opened = out.recent[-2]
    assert opened.kind == MessageKind.OPEN and opened.unlock_seconds == 5 and opened.person == "Ada"
    assert opened.payload()["event_id"] == "uid-1" and opened.payload()["reason"] == "granted"
    clock.t += 4.9
    door.tick()
    assert door.state == DoorState.UNLOCKED
    clock.t += 0.2
    door.tick()
    assert door.state == DoorState.LOCKED
    assert kinds(out) == ["state:locked", "open", "state:unlocked", "state:locked"]
    assert door.last_decision == GRANT


def test_refusals_send_deny_and_alerts_never_open() -> None:
    door, out, _clock, alerter = make()
    denied = DoorDecision(Decision.DENIED, AccessReason.OUTSIDE_SCHEDULE, "front/in", person="Bob")
    unknown = DoorDecision(Decision.UNKNOWN, AccessReason.UNKNOWN, "front/in")
    assert door.decide(denied) == MessageKind.DENY
    assert door.decide(unknown) == MessageKind.DENY
    assert door.state == DoorState.LOCKED and door.sent[MessageKind.OPEN] == 0
    assert [a[0] for a in alerter.recent] == [AlertKind.DENIED, AlertKind.UNKNOWN]
    assert "outside schedule" in alerter.recent[0][2]
    alert = [m for m in out.recent if m.kind == MessageKind.ALERT]
    assert [m.reason for m in alert] == ["outside schedule", "unknown"]


def test_alert_settings_choose_and_limit_floods() -> None:
    door, _out, clock, alerter = make(alerts=AlertSettings(on_denied=False, min_interval_s=30))
    unknown = DoorDecision(Decision.UNKNOWN, AccessReason.UNKNOWN, "front/in")
    door.decide(DoorDecision(Decision.DENIED, AccessReason.EXPIRED, "front/in", person="Bob"))
    door.decide(unknown)
    clock.t += 10
    door.decide(unknown)  # within 30 s: dropped
    clock.t += 25
    door.decide(unknown)
    assert [a[0] for a in alerter.recent] == [AlertKind.UNKNOWN, AlertKind.UNKNOWN]


def test_fail_secure_output_down_stays_locked_sends_no_open_and_recovers() -> None:
    door, out, _clock, alerter = make(FailMode.SECURE)
    out.status = OutputStatus.DOWN
    door.tick()
    assert door.state == DoorState.OUT_OF_SERVICE
    assert door.detail.startswith("locked (fail-secure)") and "connection refused" in door.detail
    assert door.decide(GRANT) is None  # granted, but the door cannot and does not open
    assert door.sent[MessageKind.OPEN] == 0 and door.sent[MessageKind.HOLD] == 0
    assert not door.remote_open("guard")
    out.status = OutputStatus.OK
    door.tick()
    assert door.state == DoorState.LOCKED and door.detail == ""
    assert [a[0] for a in alerter.recent] == [AlertKind.FAULT, AlertKind.RECOVERED]
    assert kinds(out).count("state:out-of-service") == 1 and kinds(out)[-2:] == ["state:locked", "alert"]


def test_fail_safe_releases_when_every_camera_is_lost_and_locks_when_one_is_back() -> None:
    door, out, _clock, _ = make(FailMode.SAFE)
    door.cameras("front/in: reconnecting: camera lost")
    door.tick()
    assert door.state == DoorState.OUT_OF_SERVICE
    assert door.detail == "released (fail-safe): front/in: reconnecting: camera lost"
    door.tick()
    assert door.sent[MessageKind.HOLD] == 1  # once per fault
    door.cameras(None)
    door.tick()
    assert door.state == DoorState.LOCKED and door.sent[MessageKind.LOCK] == 1
    seq = [k for k in kinds(out) if k != "alert"]
    assert seq == ["state:locked", "hold", "state:out-of-service", "lock", "state:locked"]


def test_fail_safe_with_its_output_down_holds_as_soon_as_the_output_is_back() -> None:
    door, out, _clock, _ = make(FailMode.SAFE)
    door.cameras("front/in: failed")
    out.status = OutputStatus.DOWN
    door.tick()
    assert door.sent[MessageKind.HOLD] == 0 and "released once the output is back" in door.detail
    out.status = OutputStatus.OK
    door.tick()  # the cameras are still lost: the door stays out of service, now released
    assert door.state == DoorState.OUT_OF_SERVICE and door.sent[MessageKind.HOLD] == 1
    assert door.detail.startswith("released (fail-safe)")


def test_remote_open_unlocks_and_says_who() -> None:
    door, out, clock, _ = make()
    assert door.remote_open("admin")
    assert door.state == DoorState.UNLOCKED
    opened = next(m for m in out.recent if m.kind == MessageKind.OPEN)
    assert opened.reason == "remote open by admin" and opened.unlock_seconds == 5
    clock.t += 6
    door.tick()
    assert door.state == DoorState.LOCKED


def test_door_contact_forced_and_held_open() -> None:
    door, _out, clock, alerter = make(held_open_s=20)
    door.decide(GRANT)
    door.contact(True)  # opened while unlocked: a passage
    assert door.alarm is None
    door.contact(False)
    clock.t += 5 + FORCED_GRACE_S + 1
    door.tick()
    assert door.state == DoorState.LOCKED
    door.contact(True)  # opened while locked
    assert door.alarm == AlertKind.FORCED.value
    clock.t += 21
    door.tick()
    assert door.alarm == AlertKind.HELD_OPEN.value
    door.tick()
    door.contact(False)
    assert door.alarm is None
    assert [a[0] for a in alerter.recent] == [AlertKind.FORCED, AlertKind.HELD_OPEN]


def test_a_broken_driver_never_stops_the_door() -> None:
    class Broken(LogOutput):
        def send(self, message: DoorMessage) -> None:
            raise RuntimeError("driver bug")

        def health(self) -> OutputHealth:
            raise RuntimeError("driver bug")

    door = DoorController(DoorSpec("front"), Broken("log:", "front"))
    door.start()  # health unknown counts as down
    assert door.state == DoorState.OUT_OF_SERVICE and "health unknown" in door.detail
    assert door.decide(GRANT) is None
