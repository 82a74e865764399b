"""Door contact over MQTT against a real Mosquitto broker: a sensor's messages reach the door
controller, which raises "door forced" and "held open"; payload forms of common sensors."""

from __future__ import annotations

import threading

import pytest
from service_fixtures import MqttBroker, MqttListener, wait_until

from desktop_app.core.access.model import DoorSpec
from desktop_app.core.config import AlertSettings
from desktop_app.core.doors.alerts import Alerter, AlertKind
from desktop_app.core.doors.contact import MqttContact, open_contact, parse_contact_payload
from desktop_app.core.doors.controller import DoorController
from desktop_app.core.outputs.base import MessageKind
from desktop_app.core.outputs.log import LogOutput


@pytest.mark.parametrize(("payload", "state"), [
    ("open", True), ("CLOSED", False), ("ON", True), ("off", False), ("1", True), ("0", False),
    ('{"contact": false}', True), ('{"contact": true}', False), ('{"state": "open"}', True),
    ('{"door": "closed"}', False), ("ajar", None), ("{not json", None), ("[1]", None),
])
def test_payloads_of_common_sensors(payload: str, state: bool | None) -> None:
    assert parse_contact_payload(payload.encode()) is state


def test_bad_contact_uris_are_refused_clearly() -> None:
    with pytest.raises(ValueError, match="mqtt://host:port/topic"):
        open_contact("gpio:chip0/4")
    with pytest.raises(ValueError, match="mqtt://host:port/topic"):
        MqttContact("mqtt://broker:1883/")


def test_forced_and_held_open_from_a_real_broker(mqtt_broker: MqttBroker) -> None:
    host, port = mqtt_broker
    clock = [100.0]
    out = LogOutput("log:", "front")
    alerter = Alerter(AlertSettings(min_interval_s=0))
    door = DoorController(DoorSpec("front", held_open_s=10, contact=f"mqtt://{host}:{port}/site/front/contact"),
                          out, alerter=alerter, clock=lambda: clock[0])
    door.start()
    heard = threading.Event()

    def on_change(is_open: bool) -> None:
        door.contact(is_open)
        heard.set()

    contact = open_contact(door.spec.contact or "")
    contact.start(on_change)
    try:
        assert wait_until(lambda: contact.connected, 10)
        with MqttListener(host, port, "site/#") as sensor:
            sensor.publish("site/front/contact", "open")
            assert heard.wait(10)
            assert door.alarm == AlertKind.FORCED.value  # opened while locked
            clock[0] += 11
            door.tick()
            assert door.alarm == AlertKind.HELD_OPEN.value
            heard.clear()
            sensor.publish("site/front/contact", "closed")
            assert heard.wait(10)
            assert door.alarm is None and door.contact_open is False
    finally:
        contact.close()
    assert [a[0] for a in alerter.recent] == [AlertKind.FORCED, AlertKind.HELD_OPEN]
    assert [m.reason for m in out.recent if m.kind == MessageKind.ALERT] == ["door forced", "held open"]
