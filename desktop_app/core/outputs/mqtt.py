"""``mqtt://[user:password@]host[:port][/topic]`` (and ``mqtts://`` over TLS): publish a door's
messages to an MQTT broker and take remote opens from it, with paho-mqtt (v2 callback API).

Topics, under the base ``topic`` of the URI (``facegate/<door>`` when the URI has none):

=============================  ======  ========  =============================================
topic                          QoS     retained  payload
=============================  ======  ========  =============================================
``<topic>/availability``       1       yes       ``online`` on connect; ``offline`` on close,
                                                 and as the last will when FaceGate dies
``<topic>/state``              1       yes       ``locked`` / ``unlocked`` / ``out-of-service``
``<topic>/event``              1       no        JSON: ``DoorMessage.payload()`` plus
                                                 ``event_type`` (= ``kind``: open, deny,
                                                 alert, hold, lock), for Home Assistant
``<topic>/command``            (sub)   -         ``open`` / ``unlock`` / ``{"command": "open"}``
                                                 / ``{"cmd": "opendoor"}`` -> remote open
=============================  ======  ========  =============================================

These are the shapes Home Assistant's MQTT lock, event and availability expect, and what an
ESPHome or esp-rfid style controller can subscribe to (docs/door-outputs.md). A retained message
on the command topic is ignored (it would open the door again at every reconnect).

Each connection is a fresh paho client (clean session, client id ``facegate-<topic>``, paho's own
reconnection off) started by the driver's thread, which reconnects with back-off; messages wait
in the driver's own outbox and leave it only on the broker's PUBACK. An OPEN that was not
acknowledged before the connection dropped goes back through the stale check: never published
late (see :mod:`desktop_app.core.outputs.delivery`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import ssl
import threading
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from desktop_app.core.outputs.base import DoorMessage, MessageKind
from desktop_app.core.outputs.delivery import Outcome, QueuedOutput
from desktop_app.core.vocabulary import DoorState

log = logging.getLogger("facegate.door")

ONLINE, OFFLINE = "online", "offline"
OPEN_COMMANDS = frozenset({"open", "unlock", "opendoor"})


def parse_command(payload: bytes) -> str | None:
    """The command in a command-topic payload: ``"open"`` for ``open``, ``unlock``, ``OPEN``,
    ``{"command": "open"}`` or esp-rfid's ``{"cmd": "opendoor"}``; the lower-cased word for any
    other command; None when unreadable."""
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        return None
    word: object = text
    if text.startswith(("{", "[")):
        try:
            data = json.loads(text)
        except ValueError:
            return None
        word = data.get("command", data.get("cmd")) if isinstance(data, dict) else None
    if not isinstance(word, str) or not word.strip():
        return None
    word = word.strip().lower()
    return "open" if word in OPEN_COMMANDS else word


def default_topic(door: str) -> str:
    """``facegate/<door>``, the door's name lower-cased with anything but letters, digits, ``-``
    and ``_`` replaced by ``_``."""
    return "facegate/" + (re.sub(r"[^a-z0-9_-]+", "_", door.strip().lower()).strip("_") or "door")


class MqttOutput(QueuedOutput):
    """Publishes a door's messages to MQTT and calls the command handler on a remote open; see the
    module. Tuning keywords as for :class:`~desktop_app.core.outputs.delivery.QueuedOutput`
    (``timeout_s`` bounds connecting and each PUBACK), plus ``keepalive_s``."""

    scheme = "mqtt"
    persistent = True

    def __init__(self, uri: str, door: str, secret: str | None = None, *, keepalive_s: int = 30,
                 **tuning: Any) -> None:
        super().__init__(uri, door, secret, **tuning)
        parts = urlsplit(uri.strip())
        if parts.scheme.lower() not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError(f"an MQTT output is 'mqtt://[user:password@]host[:port]/topic', got {self.describe()!r}")
        try:
            port = parts.port
        except ValueError as exc:
            raise ValueError(f"bad port in MQTT output {self.describe()!r}") from exc
        self.tls = parts.scheme.lower() == "mqtts"
        self.host = parts.hostname
        self.port = port or (8883 if self.tls else 1883)
        self.username = unquote(parts.username) if parts.username is not None else None
        self._password = unquote(parts.password) if parts.password is not None else None
        base = unquote(parts.path).strip("/") or default_topic(door)
        if any(c in base for c in "+#\0") or "//" in base:
            raise ValueError(f"the MQTT topic {base!r} may not hold '+', '#' or empty levels")
        self.topic = base
        self.keepalive_s = keepalive_s
        self.client_id = "facegate-" + base.replace("/", "-")
        self._client: mqtt.Client | None = None
        self._up = False
        self._connack = threading.Event()
        self._connack_reason: Any = None
        self._last_state: DoorState | None = None

    # topics -------------------------------------------------------------------------------------
    @property
    def availability_topic(self) -> str:
        return f"{self.topic}/availability"

    @property
    def state_topic(self) -> str:
        return f"{self.topic}/state"

    @property
    def event_topic(self) -> str:
        return f"{self.topic}/event"

    @property
    def command_topic(self) -> str:
        return f"{self.topic}/command"

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    # QueuedOutput hooks ---------------------------------------------------------------------------
    def _connected(self) -> bool:
        return self._up

    def _connect(self) -> Outcome:
        self._teardown(clean=True)
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, clean_session=True,
                             protocol=mqtt.MQTTv311, reconnect_on_failure=False)
        client.connect_timeout = self.timeout_s
        if self.username is not None:
            client.username_pw_set(self.username, self._password)
        if self.tls:
            client.tls_set()
        client.will_set(self.availability_topic, OFFLINE, qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self._connack.clear()
        self._connack_reason = None
        try:
            client.connect(self.host, self.port, keepalive=self.keepalive_s)
        except ConnectionRefusedError:
            return Outcome.failed(f"connection refused by {self.where} (is the broker running?)")
        except TimeoutError:
            return Outcome.failed(f"no answer from {self.where} within {self.timeout_s:g} s")
        except socket.gaierror:
            return Outcome.failed(f"cannot resolve host {self.host!r}")
        except ssl.SSLError as exc:
            return Outcome.failed(f"TLS error with {self.where}: {exc.reason or exc}")
        except OSError as exc:
            return Outcome.failed(f"cannot connect to {self.where}: {exc}")
        self._client = client
        client.loop_start()
        if not self._connack.wait(self.timeout_s):
            self._teardown(clean=False)
            return Outcome.failed(f"{self.where} accepted the connection but did not answer the MQTT login "
                                  f"within {self.timeout_s:g} s")
        reason = self._connack_reason
        if reason is None or getattr(reason, "is_failure", True):
            self._teardown(clean=False)
            hint = " (check the user and password in the URI)" if "auth" in str(reason).lower() else ""
            return Outcome.failed(f"the broker {self.where} refused the login: {reason}{hint}", retry=False)
        client.subscribe(self.command_topic, qos=1)
        client.publish(self.availability_topic, ONLINE, qos=1, retain=True)
        if self._last_state is not None:
            client.publish(self.state_topic, self._last_state.value, qos=1, retain=True)
        log.info("%s: connected (topics %s/…).", self.describe(), self.topic)
        return Outcome.delivered(f"connected to {self.where} ({self.topic})")

    def _deliver(self, message: DoorMessage) -> Outcome:
        client = self._client
        if client is None or not self._up:
            return Outcome.failed(f"not connected to {self.where}")
        if message.kind == MessageKind.STATE:
            if message.state is None:
                return Outcome.failed("a state message without a state", retry=False)
            topic, payload, retain = self.state_topic, message.state.value, True
        else:
            body = {**message.payload(), "event_type": message.kind.value}
            topic, retain = self.event_topic, False
            payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
        info = client.publish(topic, payload, qos=1, retain=retain)
        try:
            info.wait_for_publish(self.timeout_s)
        except (RuntimeError, ValueError) as exc:
            self._up = False
            return Outcome.failed(f"publish to {self.where} failed: {exc}")
        if not info.is_published():
            self._up = False  # a connection that does not acknowledge: start a fresh one
            return Outcome.failed(f"no acknowledgement from {self.where} within {self.timeout_s:g} s")
        if message.kind == MessageKind.STATE:
            self._last_state = message.state
        return Outcome.delivered(f"connected to {self.where} ({self.topic})")

    def _shutdown(self) -> None:
        client = self._client
        if client is not None and self._up:
            with contextlib.suppress(RuntimeError, ValueError):
                client.publish(self.availability_topic, OFFLINE, qos=1, retain=True).wait_for_publish(
                    min(self.timeout_s, 2.0))
        self._teardown(clean=True)

    def _teardown(self, *, clean: bool) -> None:
        client, self._client = self._client, None
        self._up = False
        if client is None:
            return
        client.on_disconnect = None
        if clean:
            client.disconnect()
        client.loop_stop()
        if not clean:
            client.disconnect()

    # paho callbacks (paho's thread) --------------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if client is not self._client:
            return
        self._connack_reason = reason
        self._up = not getattr(reason, "is_failure", True)
        self._connack.set()

    def _on_disconnect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if client is not self._client:
            return
        self._up = False
        log.warning("%s: connection lost (%s); reconnecting.", self.describe(), reason)
        self._outbox.wake()

    def _on_message(self, _client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.topic != self.command_topic:
            return
        if msg.retain:
            log.warning("%s: ignored a retained command on %s (clear it with an empty retained message).",
                        self.describe(), msg.topic)
            return
        command = parse_command(bytes(msg.payload))
        handler = self._on_command
        if command != "open":
            log.info("%s: ignored the command %r on %s (only 'open' is understood).", self.describe(),
                     command, msg.topic)
            return
        log.info("%s: remote open requested on %s.", self.describe(), msg.topic)
        if handler is None:
            log.warning("%s: no command handler: the remote open is ignored.", self.describe())
            return
        try:
            handler(command)
        except Exception:
            log.exception("%s: the command handler failed", self.describe())
