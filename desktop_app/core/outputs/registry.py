"""Choose a door output driver by the URI's scheme."""

from __future__ import annotations

import importlib

from desktop_app.core.outputs.base import DoorOutput

#: scheme -> "module:Class"; imported on first use, so that a driver's library (paho, pyserial,
#: gpiod) is needed only by the doors that use it.
DRIVERS: dict[str, str] = {
    "log": "desktop_app.core.outputs.log:LogOutput",
    "webhook": "desktop_app.core.outputs.webhook:WebhookOutput",
    "mqtt": "desktop_app.core.outputs.mqtt:MqttOutput",
    "mqtts": "desktop_app.core.outputs.mqtt:MqttOutput",
    "serial": "desktop_app.core.outputs.serial_relay:SerialRelayOutput",
    "hidrelay": "desktop_app.core.outputs.hid_relay:HidRelayOutput",
    "gpio": "desktop_app.core.outputs.gpio:GpioOutput",
    "sealed": "desktop_app.core.outputs.sealed:SealedOutput",  # the store's stand-in (never saved)
}


def scheme_of(uri: str) -> str:
    """The driver scheme of an output URI: ``"webhook"`` for ``webhook:https://…``, ``"mqtt"`` for
    ``mqtt://…``; ValueError when it has none."""
    if not isinstance(uri, str) or ":" not in uri:
        raise ValueError(f"a door output must be a URI such as 'log:' or 'mqtt://host:1883/door', got {uri!r}")
    return uri.split(":", 1)[0].strip().lower()


def open_output(uri: str, *, door: str, secret: str | None = None) -> DoorOutput:
    """A started driver for ``uri``. ValueError (readable) for an unknown scheme or a malformed
    URI; a driver whose library is missing raises ValueError saying what to install."""
    scheme = scheme_of(uri)
    target = DRIVERS.get(scheme)
    if target is None:
        raise ValueError(f"unknown door output {uri!r}: use one of {', '.join(s + ':' for s in sorted(DRIVERS))}")
    module, _, cls = target.partition(":")
    driver = getattr(importlib.import_module(module), cls)
    out: DoorOutput = driver(uri, door, secret)
    out.start()
    return out
