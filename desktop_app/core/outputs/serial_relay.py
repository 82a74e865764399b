"""``serial:///dev/ttyUSB0?protocol=lctech[&channel=1&baud=9600]``: a USB-serial relay board.

``lctech`` is the byte protocol of the common CH340 "LC Technology" USB relay boards (1, 2, 4 or
8 channels): 4-byte frames ``A0 <channel> <state> <checksum>``, state 1 = relay on, 0 = off,
checksum = (0xA0 + channel + state) & 0xFF; e.g. channel 1 on is ``A0 01 01 A2``. The board
answers nothing. On Windows the port is written ``serial://COM3?protocol=lctech``.

Relay behaviour (OPEN, HOLD, LOCK, refresh, reopen) is :class:`~desktop_app.core.outputs.relay.RelayOutput`'s.
"""

from __future__ import annotations

import contextlib
import errno
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from desktop_app.core.outputs.relay import RelayError, RelayOutput

try:
    import termios

    PORT_ERRORS: tuple[type[Exception], ...] = (OSError, termios.error)
    """What a failing port raises: pyserial's SerialException is an OSError; tcdrain() on an
    unplugged adapter raises termios.error, which is not."""
except ImportError:  # Windows
    PORT_ERRORS = (OSError,)

PROTOCOLS = ("lctech",)
"""Byte protocols this driver speaks."""


def lctech_frame(channel: int, on: bool) -> bytes:
    """The LCTech frame that sets relay ``channel`` (1-255) on or off."""
    if not 1 <= channel <= 255:
        raise ValueError(f"an LCTech relay channel is 1 to 255, got {channel}")
    state = 1 if on else 0
    return bytes((0xA0, channel, state, (0xA0 + channel + state) & 0xFF))


class SerialRelayOutput(RelayOutput):
    """Works one relay of a USB-serial relay board through pyserial; see the module."""

    scheme = "serial"

    def __init__(self, uri: str, door: str, secret: str | None = None, **tuning: Any) -> None:
        super().__init__(uri, door, secret, **tuning)
        parts = urlsplit(uri.strip())
        self.port = unquote(parts.path or parts.netloc)
        if parts.path and parts.netloc:  # serial://host/dev/… is not a local port
            raise ValueError(f"a serial output is 'serial:///dev/ttyUSB0?protocol=lctech', got {uri!r}")
        if not self.port:
            raise ValueError(f"a serial output needs the port: 'serial:///dev/ttyUSB0?protocol=lctech', got {uri!r}")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = set(query) - {"protocol", "channel", "baud"}
        if unknown:
            raise ValueError(f"unknown option(s) {', '.join(sorted(unknown))} in serial output {uri!r} "
                             f"(known: protocol, channel, baud)")
        self.protocol = query.get("protocol", "lctech").lower()
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"unknown relay protocol {self.protocol!r} in {uri!r}: use {', '.join(PROTOCOLS)}")
        try:
            self.channel = int(query.get("channel", "1"))
            self.baud = int(query.get("baud", "9600"))
        except ValueError as exc:
            raise ValueError(f"channel and baud must be whole numbers in {uri!r}") from exc
        if not 1 <= self.channel <= 8:
            raise ValueError(f"the relay channel must be 1 to 8, got {self.channel}")
        if self.baud <= 0:
            raise ValueError(f"the baud rate must be positive, got {self.baud}")
        self.where = f"{self.port} channel {self.channel}"
        self._serial: Any = None

    def _open_device(self) -> None:
        import serial

        try:
            self._serial = serial.Serial(self.port, self.baud, timeout=1, write_timeout=2)
        except serial.SerialException as exc:
            code = getattr(exc, "errno", None)
            if code == errno.ENOENT:
                raise RelayError(f"{self.port} not found (is the relay board plugged in?)") from exc
            if code == errno.EACCES:
                raise RelayError(f"no permission to open {self.port} (add the user to the 'dialout' group)") from exc
            if code == errno.EBUSY:
                raise RelayError(f"{self.port} is in use by another program") from exc
            raise RelayError(f"cannot open {self.port}: {exc}") from exc

    def _write(self, on: bool) -> None:
        port = self._serial
        if port is None:
            raise RelayError(f"{self.port} is not open")
        try:
            port.write(lctech_frame(self.channel, on))
            port.flush()
        except PORT_ERRORS as exc:
            raise RelayError(f"writing to {self.port} failed ({exc}); unplugged?") from exc

    def _close_device(self) -> None:
        port, self._serial = self._serial, None
        if port is not None:
            with contextlib.suppress(OSError, ValueError):
                port.close()
