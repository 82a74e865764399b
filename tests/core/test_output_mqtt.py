"""The MQTT door output against a real Mosquitto broker started by the test
(tests/service_fixtures.py), watched by a real paho subscriber: events at QoS 1, the retained
state and availability, the last will when FaceGate dies, remote opens on the command topic, and
a broker that goes down and comes back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from service_fixtures import MqttBroker, MqttListener, wait_until

from desktop_app.core.outputs.base import DoorMessage, MessageKind, OutputStatus
from desktop_app.core.outputs.mqtt import MqttOutput, default_topic, parse_command
from desktop_app.core.outputs.registry import open_output
from desktop_app.core.vocabulary import DoorState

FAST = {"timeout_s": 2.0, "backoff_s": 0.05, "backoff_max_s": 0.3}
TOPIC = "facegate/front"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def make_mqtt() -> Iterator[Callable[..., MqttOutput]]:
    made: list[MqttOutput] = []

    def make(uri: str, **tuning: Any) -> MqttOutput:
        out = MqttOutput(uri, "front", None, **{**FAST, **tuning})
        out.start()
        made.append(out)
        return out

    yield make
    for out in made:
        out.close(0.5)


def connected(out: MqttOutput) -> bool:
    health = out.health()
    return health.ok and "connected" in health.detail and health.pending == 0


def test_open_deny_and_alert_reach_a_subscriber(mqtt_broker: MqttBroker) -> None:
    host, port = mqtt_broker
    with MqttListener(host, port, f"{TOPIC}/#") as sub:
        out = open_output(mqtt_broker.uri(TOPIC), door="front")
        try:
            assert isinstance(out, MqttOutput)
            sub.wait_for(f"{TOPIC}/availability", "online")
            grant = DoorMessage(MessageKind.OPEN, "front", decision="granted", reason="granted",
                                person="Lin-Manuel Miranda", employee_id="E-1", event_id="ev-1", unlock_seconds=5.0)
            out.send(grant)
            out.send(DoorMessage(MessageKind.DENY, "front", decision="denied", reason="outside schedule",
                                 person="Lin-Manuel Miranda", event_id="ev-2"))
            out.send(DoorMessage(MessageKind.ALERT, "front", decision="unknown", reason="unknown",
                                 text="Unknown face at door front", event_id="ev-3"))
            sub.wait_for(f"{TOPIC}/event", lambda m: m.json()["kind"] == "alert")
            events = sub.on(f"{TOPIC}/event")
            assert [e.json()["kind"] for e in events] == ["open", "deny", "alert"]
            assert events[0].json() == {**grant.payload(), "event_type": "open"}
            assert events[1].json()["reason"] == "outside schedule"
            assert events[2].json()["text"] == "Unknown face at door front"
            assert all(e.qos == 1 and not e.retain for e in events)
            assert wait_until(lambda: connected(out))
        finally:
            out.close()
        # a clean close says so, retained
        offline = sub.wait_for(f"{TOPIC}/availability", "offline")
        assert not offline.retain  # delivered live; a later subscriber gets it retained (below)
    with MqttListener(host, port, f"{TOPIC}/availability") as late:
        assert late.wait_for(f"{TOPIC}/availability", "offline").retain


def test_state_is_retained_for_late_subscribers(mqtt_broker: MqttBroker,
                                                make_mqtt: Callable[..., MqttOutput]) -> None:
    host, port = mqtt_broker
    out = make_mqtt(mqtt_broker.uri(TOPIC))
    out.send(DoorMessage(MessageKind.STATE, "front", state=DoorState.UNLOCKED))
    out.send(DoorMessage(MessageKind.STATE, "front", state=DoorState.LOCKED))
    assert wait_until(lambda: connected(out))
    with MqttListener(host, port, f"{TOPIC}/state", f"{TOPIC}/availability") as sub:
        state = sub.wait_for(f"{TOPIC}/state")
        assert (state.text, state.retain, state.qos) == ("locked", True, 1)
        assert sub.wait_for(f"{TOPIC}/availability").text == "online"
        out.send(DoorMessage(MessageKind.STATE, "front", state=DoorState.OUT_OF_SERVICE))
        assert sub.wait_for(f"{TOPIC}/state", "out-of-service").text == "out-of-service"
    assert len(sub.on(f"{TOPIC}/state")) == 2  # the retained one, then the live one


def test_last_will_says_offline_when_facegate_dies(mqtt_broker: MqttBroker, tmp_path: Path) -> None:
    host, port = mqtt_broker
    script = tmp_path / "door.py"
    script.write_text(textwrap.dedent("""
        import sys, time
        from desktop_app.core.outputs.base import DoorMessage, MessageKind
        from desktop_app.core.outputs.registry import open_output
        from desktop_app.core.vocabulary import DoorState
        out = open_output(sys.argv[1], door="front")
        out.send(DoorMessage(MessageKind.STATE, "front", state=DoorState.LOCKED))
        print("started", flush=True)
        time.sleep(120)
    """))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with MqttListener(host, port, f"{TOPIC}/#") as sub:
        proc = subprocess.Popen([sys.executable, str(script), mqtt_broker.uri(TOPIC)], env=env,
                                stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
            sub.wait_for(f"{TOPIC}/availability", "online")
            sub.wait_for(f"{TOPIC}/state", "locked")
            proc.send_signal(signal.SIGKILL)  # no DISCONNECT: the broker publishes the will
            proc.wait(10)
            after = len(sub.on(f"{TOPIC}/availability"))
            sub.wait_for(f"{TOPIC}/availability", "offline", after=after - 1)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    with MqttListener(host, port, f"{TOPIC}/availability") as late:
        will = late.wait_for(f"{TOPIC}/availability")
        assert (will.text, will.retain) == ("offline", True)


def test_command_topic_opens_and_ignores_retained_commands(mqtt_broker: MqttBroker,
                                                           make_mqtt: Callable[..., MqttOutput]) -> None:
    host, port = mqtt_broker
    calls: list[str] = []
    with MqttListener(host, port, f"{TOPIC}/availability") as sub:
        # a retained "open" left on the command topic must not open the door at every (re)connect
        sub.publish(f"{TOPIC}/command", "open", retain=True)
        out = make_mqtt(mqtt_broker.uri(TOPIC))
        out.on_command(calls.append)
        sub.wait_for(f"{TOPIC}/availability", "online")
        sub.publish(f"{TOPIC}/command", "", retain=True)  # clear it (delivered live, empty: ignored)
        for payload in ("lock", "OPEN", json.dumps({"command": "open"}), json.dumps({"cmd": "opendoor"}), "unlock"):
            sub.publish(f"{TOPIC}/command", payload)
        assert wait_until(lambda: len(calls) >= 4)
        sub.publish(f"{TOPIC}/command", "open")
        assert wait_until(lambda: len(calls) >= 5)
    assert calls == ["open"] * 5


def test_broker_down_then_back(mqtt_broker: MqttBroker, make_mqtt: Callable[..., MqttOutput]) -> None:
    host, port = mqtt_broker
    out = make_mqtt(mqtt_broker.uri(TOPIC), down_after=3, down_after_s=60)
    out.send(DoorMessage(MessageKind.STATE, "front", state=DoorState.LOCKED))
    assert wait_until(lambda: connected(out))
    mqtt_broker.stop()
    assert wait_until(lambda: out.health().status == OutputStatus.DOWN)
    assert "connection refused" in out.health().detail and "retry in" in out.health().detail
    for n in range(3):
        out.send(DoorMessage(MessageKind.DENY, "front", decision="denied", reason="expired", event_id=f"ev-{n}"))
    out.send(DoorMessage(MessageKind.OPEN, "front", person="Gone", unlock_seconds=0.5))
    assert out.health().pending == 4 and out.health().status == OutputStatus.DOWN
    # the open's unlock time passes during the outage: it is dropped, the denials wait
    assert wait_until(lambda: out.health().pending == 3, timeout=5)
    mqtt_broker.start()
    with MqttListener(host, port, f"{TOPIC}/#") as sub:
        sub.wait_for(f"{TOPIC}/event", lambda m: m.json().get("event_id") == "ev-2")
        # the broker kept nothing (no persistence): the driver published its state again
        assert sub.wait_for(f"{TOPIC}/state").text == "locked"
        assert sub.wait_for(f"{TOPIC}/availability").text == "online"
        assert wait_until(lambda: connected(out))
        kinds = [m.json()["kind"] for m in sub.on(f"{TOPIC}/event")]
    assert kinds == ["deny", "deny", "deny"]


def test_no_broker_at_start(make_mqtt: Callable[..., MqttOutput]) -> None:
    from service_fixtures import free_port

    out = make_mqtt(f"mqtt://127.0.0.1:{free_port()}/{TOPIC}", down_after=2)
    out.send(DoorMessage(MessageKind.DENY, "front"))
    assert wait_until(lambda: out.health().status == OutputStatus.DOWN)
    assert "connection refused" in out.health().detail and out.health().pending == 1


def test_uri_forms() -> None:
    out = MqttOutput("mqtt://door:pw@broker.local/site/front", "Front")
    assert (out.host, out.port, out.username, out.topic) == ("broker.local", 1883, "door", "site/front")
    assert out.describe() == "mqtt://door:***@broker.local/site/front"
    assert (out.state_topic, out.command_topic) == ("site/front/state", "site/front/command")
    tls = MqttOutput("mqtts://broker.local", "Front Door 2")
    assert (tls.port, tls.tls, tls.topic) == (8883, True, "facegate/front_door_2")
    assert default_topic("Back / Yard") == "facegate/back_yard"
    for bad in ("mqtt://", "mqtt://host/a/+/b", "mqtt://host:0x1/t"):
        with pytest.raises(ValueError, match="MQTT"):
            open_output(bad, door="front")


@pytest.mark.parametrize(("payload", "command"), [
    (b"open", "open"), (b" OPEN\n", "open"), (b"unlock", "open"), (b'{"command": "open"}', "open"),
    (b'{"cmd": "opendoor", "doorip": "10.0.0.5"}', "open"), (b"LOCK", "lock"), (b"", None), (b"{bad", None),
    (b"\xff\xfe", None), (b"[1]", None)])
def test_parse_command(payload: bytes, command: str | None) -> None:
    assert parse_command(payload) == command
