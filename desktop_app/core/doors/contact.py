"""Door-contact inputs: a sensor that says whether the door leaf is open or closed, for the
"door forced" and "held open" alarms (:meth:`DoorController.contact`).

One small interface (:class:`DoorContact`), one driver per URI scheme (:func:`open_contact`):

- ``mqtt://[user:password@]host[:port]/topic``: a topic that a contact sensor publishes to
  (ESPHome ``binary_sensor``, Zigbee2MQTT, Tasmota, esp-rfid). Payloads understood, any case:
  ``open``/``opened``/``on``/``1``/``true`` and ``closed``/``close``/``off``/``0``/``false``, or a
  JSON object whose ``state``, ``contact`` or ``door`` key holds one of them (Zigbee2MQTT's
  ``{"contact": false}`` means *open*: ``contact`` is true while the magnet touches).

A ``gpio:CHIP/LINE`` driver can be added beside it (see :data:`DRIVERS`).
"""

from __future__ import annotations

import json
import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

log = logging.getLogger("facegate.door")

#: Called from the driver's thread with True when the door opened, False when it closed.
ContactHandler = Callable[[bool], None]

_OPEN = {"open", "opened", "on", "1", "true"}
_CLOSED = {"closed", "close", "off", "0", "false"}


def parse_contact_payload(payload: bytes | str) -> bool | None:
    """True (open), False (closed) or None (not understood) for one sensor message (see the module doc)."""
    text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
    text = text.strip()
    if text.startswith("{"):
        try:
            obj: Any = json.loads(text)
        except ValueError:
            return None
        if not isinstance(obj, dict):
            return None
        if "contact" in obj and isinstance(obj["contact"], bool):
            return not obj["contact"]  # Zigbee2MQTT: contact true = closed
        for key in ("state", "contact", "door"):
            if key in obj:
                return parse_contact_payload(str(obj[key]))
        return None
    word = text.lower()
    if word in _OPEN:
        return True
    if word in _CLOSED:
        return False
    return None


class DoorContact(ABC):
    """One door's contact input. ``start`` begins listening; ``close`` stops. Thread-safe."""

    scheme: str = ""

    def __init__(self, uri: str) -> None:
        self.uri = uri

    @abstractmethod
    def start(self, on_change: ContactHandler) -> None:
        """Call ``on_change(is_open)`` for every state the sensor reports (repeats included)."""

    @abstractmethod
    def close(self) -> None:
        """Stop listening and release the connection."""

    @property
    @abstractmethod
    def connected(self) -> bool:
        """True while the input can hear the sensor."""


class MqttContact(DoorContact):
    """A contact sensor's MQTT topic (see the module doc). Reconnects by itself (1 to 10 s)."""

    scheme = "mqtt"

    def __init__(self, uri: str) -> None:
        super().__init__(uri)
        parts = urlsplit(uri)
        if parts.scheme != "mqtt" or not parts.hostname or not parts.path.strip("/"):
            raise ValueError(f"a door contact must be 'mqtt://host:port/topic', got {uri!r}")
        self.host = parts.hostname
        self.port = parts.port or 1883
        self.topic = unquote(parts.path.lstrip("/"))
        self._user = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        self._connected = threading.Event()
        self._client: Any = None

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self, on_change: ContactHandler) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="", clean_session=True)
        if self._user:
            client.username_pw_set(self._user, self._password)
        client.reconnect_delay_set(1, 10)

        def on_connect(c: Any, _userdata: Any, _flags: Any, reason: Any, _props: Any = None) -> None:
            if getattr(reason, "is_failure", False):
                log.warning("Door contact %s: the broker refused the connection: %s", self.topic, reason)
                return
            self._connected.set()
            c.subscribe(self.topic, qos=1)

        def on_disconnect(_c: Any, _userdata: Any, _flags: Any, _reason: Any, _props: Any = None) -> None:
            self._connected.clear()

        def on_message(_c: Any, _userdata: Any, msg: Any) -> None:
            state = parse_contact_payload(msg.payload)
            if state is None:
                log.warning("Door contact %s: payload %r not understood (open/closed expected)",
                            self.topic, bytes(msg.payload)[:40])
                return
            try:
                on_change(state)
            except Exception:
                log.exception("Door contact %s: the handler failed", self.topic)

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        client.on_message = on_message
        client.connect_async(self.host, self.port, keepalive=30)
        client.loop_start()
        self._client = client

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            client.loop_stop()
        self._connected.clear()


#: scheme -> driver class; a ``gpio`` driver would go here.
DRIVERS: dict[str, type[DoorContact]] = {"mqtt": MqttContact}


def open_contact(uri: str) -> DoorContact:
    """The (not yet started) contact driver for ``uri``; ValueError (readable) when unknown."""
    scheme = uri.split(":", 1)[0].strip().lower() if ":" in uri else ""
    driver = DRIVERS.get(scheme)
    if driver is None:
        raise ValueError(f"unknown door contact {uri!r}: use mqtt://host:port/topic")
    return driver(uri)
