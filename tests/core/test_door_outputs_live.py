"""Door fail modes against real counterparts that go down and come back: a local webhook receiver
that checks signatures (and a Mosquitto broker, see the MQTT tests below). The controller is
ticked as the runner ticks it; waits are on conditions, never fixed sleeps."""

from __future__ import annotations

import pytest
from service_fixtures import WEBHOOK_SECRET, MqttBroker, MqttListener, WebhookServer, wait_until

from desktop_app.core.access.model import DoorSpec
from desktop_app.core.config import AlertSettings
from desktop_app.core.doors.alerts import Alerter, AlertKind
from desktop_app.core.doors.controller import DoorController, DoorDecision
from desktop_app.core.outputs.base import OutputStatus
from desktop_app.core.outputs.log import LogOutput
from desktop_app.core.outputs.mqtt import MqttOutput
from desktop_app.core.outputs.webhook import WebhookOutput
from desktop_app.core.vocabulary import AccessReason, Decision, DoorState, FailMode


def grant() -> DoorDecision:
    """A grant decided now (an OPEN decided longer ago than its unlock time is stale: never sent)."""
    return DoorDecision(Decision.GRANTED, AccessReason.GRANTED, "front/in", person="Ada", event_id="uid-7")


def webhook_door(server: WebhookServer, fail: FailMode) -> tuple[DoorController, Alerter]:
    out = WebhookOutput(server.uri, "front", WEBHOOK_SECRET, timeout_s=1.0, backoff_s=0.05, backoff_max_s=0.2,
                        down_after=2, down_after_s=1.0)
    out.start()
    alerter = Alerter(AlertSettings(min_interval_s=0))
    door = DoorController(DoorSpec("front", output=server.uri, secret=WEBHOOK_SECRET, unlock_seconds=3,
                                   fail_mode=fail), out, alerter=alerter)
    return door, alerter


def ticked_until(door: DoorController, state: DoorState, timeout: float = 15.0) -> bool:
    def check() -> bool:
        door.tick()
        return door.state == state
    return wait_until(check, timeout, every=0.05)


def test_webhook_fail_secure_down_then_back(webhook_server: WebhookServer) -> None:
    door, alerter = webhook_door(webhook_server, FailMode.SECURE)
    try:
        door.start()
        assert webhook_server.wait_for(1)[0]["state"] == "locked"
        assert door.decide(grant()) is not None
        bodies = webhook_server.wait_for(3)  # locked, open, unlocked: each signed (the server checked)
        assert [b["kind"] for b in bodies] == ["state", "open", "state"]
        assert bodies[1]["person"] == "Ada" and bodies[1]["event_id"] == "uid-7" and bodies[1]["door"] == "front"
        webhook_server.stop()
        assert ticked_until(door, DoorState.OUT_OF_SERVICE)  # the relock STATE fails: the output goes down
        assert door.output_health.status == OutputStatus.DOWN
        assert door.detail.startswith("locked (fail-secure): output down") and "refused" in door.detail
        assert door.decide(grant()) is None  # no open while out of service
        assert not door.remote_open("guard")
        webhook_server.start()
        assert ticked_until(door, DoorState.LOCKED)
        assert door.decide(grant()) is not None
        assert wait_until(lambda: [b["kind"] for b in webhook_server.received].count("open") == 2, 10)
        kinds = [b["kind"] for b in webhook_server.received]
        assert kinds.count("open") == 2 and kinds.count("hold") == 0  # the grant refused while down: never sent
        assert [a[0] for a in alerter.recent][-2:] == [AlertKind.FAULT, AlertKind.RECOVERED]
    finally:
        door.close(0.5)


def test_webhook_fail_safe_holds_when_the_cameras_are_lost(webhook_server: WebhookServer) -> None:
    door, _alerter = webhook_door(webhook_server, FailMode.SAFE)
    try:
        door.start()
        webhook_server.wait_for(1)
        door.cameras("front/in: reconnecting: camera lost")
        assert ticked_until(door, DoorState.OUT_OF_SERVICE)
        assert door.detail.startswith("released (fail-safe)")
        bodies = webhook_server.wait_for(3)
        assert [b["kind"] for b in bodies][:2] == ["state", "hold"]
        assert any(b["kind"] == "state" and b["state"] == "out-of-service" for b in bodies)
        door.cameras(None)
        assert ticked_until(door, DoorState.LOCKED)
        assert any(b["kind"] == "lock" for b in webhook_server.wait_for(5))
    finally:
        door.close(0.5)


@pytest.mark.parametrize("fail", [FailMode.SECURE, FailMode.SAFE])
def test_webhook_server_down_from_the_start(webhook_server: WebhookServer, fail: FailMode) -> None:
    webhook_server.stop()
    door, _alerter = webhook_door(webhook_server, fail)
    try:
        door.start()
        assert ticked_until(door, DoorState.OUT_OF_SERVICE)
        if fail == FailMode.SAFE:  # cannot reach the lock: released as soon as the output is back
            assert "released once the output is back" in door.detail
        else:
            assert door.detail.startswith("locked (fail-secure)")
        webhook_server.start()
        assert ticked_until(door, DoorState.LOCKED)
    finally:
        door.close(0.5)


# --------------------------------------------------------------------------------- MQTT broker
def mqtt_door(broker: MqttBroker, fail: FailMode) -> DoorController:
    out = MqttOutput(broker.uri("site/front"), "front", timeout_s=1.0, backoff_s=0.05, backoff_max_s=0.3,
                     down_after=2, down_after_s=1.0)
    out.start()
    return DoorController(DoorSpec("front", output=broker.uri("site/front"), unlock_seconds=3, fail_mode=fail),
                          out, alerter=Alerter(AlertSettings(min_interval_s=0)))


@pytest.mark.parametrize("fail", [FailMode.SECURE, FailMode.SAFE])
def test_mqtt_broker_down_then_back(mqtt_broker: MqttBroker, fail: FailMode) -> None:
    host, port = mqtt_broker
    door = mqtt_door(mqtt_broker, fail)
    try:
        with MqttListener(host, port, "site/front/#") as sub:
            door.start()
            sub.wait_for("site/front/state", "locked")
            door.decide(grant())
            opened = sub.wait_for("site/front/event", lambda m: m.json()["kind"] == "open")
            assert opened.json()["person"] == "Ada" and not opened.retain
        mqtt_broker.stop()
        assert ticked_until(door, DoorState.OUT_OF_SERVICE)
        assert door.detail.startswith("locked (fail-secure)" if fail == FailMode.SECURE
                                      else "fail-safe: released once the output is back")
        assert door.decide(grant()) is None
        mqtt_broker.start()
        assert ticked_until(door, DoorState.LOCKED)
        with MqttListener(host, port, "site/front/#") as sub:  # the state queued while down, then "locked"
            sub.wait_for("site/front/state", "locked")
            sub.wait_for("site/front/availability", "online")
        with MqttListener(host, port, "site/front/#") as late:  # a late subscriber gets it retained
            assert late.wait_for("site/front/state").retain and late.on("site/front/state")[-1].text == "locked"
    finally:
        door.close(0.5)


def test_site_wide_alert_output_gets_signed_alerts_and_door_outputs_can_be_left_out(
        webhook_server: WebhookServer) -> None:
    alerter = Alerter.open(AlertSettings(output=webhook_server.uri, secret=WEBHOOK_SECRET, door_outputs=False,
                                         min_interval_s=60))
    door_out = LogOutput("log:", "front")
    try:
        assert alerter.alert(AlertKind.UNKNOWN, "front", "An unknown face at door front.", door_out, camera="front/in")
        assert not alerter.alert(AlertKind.UNKNOWN, "front", "again", door_out)  # flood limit
        assert alerter.alert(AlertKind.UNKNOWN, "back", "An unknown face at door back.", None)  # other door
        bodies = webhook_server.wait_for(2)
        assert [(b["kind"], b["door"], b["reason"]) for b in bodies] == [
            ("alert", "front", "unknown face"), ("alert", "back", "unknown face")]
        assert all(r.signed_ok for r in webhook_server.requests)
        assert list(door_out.recent) == []  # door_outputs=False
    finally:
        alerter.close(1.0)
