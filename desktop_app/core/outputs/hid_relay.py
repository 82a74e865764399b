"""``hidrelay:SERIAL/CHANNEL``: a USB HID relay board ("www.dcttech.com" USBRelay1/2/4/8, USB id
16c0:05df) through pyhid-usb-relay (the ``relays`` extra). SERIAL is the board's 5-character
serial (``pyhid-usb-relay enum`` lists it); ``*`` takes the first board found.
CHANNEL is the relay, from 1. Needs libusb and, for a user other than root, a udev rule
(docs/door-outputs.md). Relay behaviour is :class:`~desktop_app.core.outputs.relay.RelayOutput`'s.
"""

from __future__ import annotations

import contextlib
import errno
from typing import Any

from desktop_app.core.outputs.relay import RelayError, RelayOutput

EXTRA_HINT = "pip install 'facegate[relays]'"


class HidRelayOutput(RelayOutput):
    """Works one relay of a USB HID relay board; see the module."""

    scheme = "hidrelay"

    def __init__(self, uri: str, door: str, secret: str | None = None, **tuning: Any) -> None:
        super().__init__(uri, door, secret, **tuning)
        try:
            import pyhid_usb_relay  # noqa: F401 - checked here, used in the thread
        except ImportError as exc:
            raise ValueError(f"hidrelay: outputs need the pyhid-usb-relay library: {EXTRA_HINT}") from exc
        spec = uri.split(":", 1)[1].strip().strip("/")
        serial, sep, channel = spec.rpartition("/")
        if not sep or not channel.isdigit() or not 1 <= int(channel) <= 8:
            raise ValueError(f"a USB HID relay output is 'hidrelay:SERIAL/CHANNEL' (channel 1-8, SERIAL '*' for "
                             f"the first board), got {uri!r}")
        self.serial = None if serial in ("", "*") else serial
        self.channel = int(channel)
        self.where = f"USB HID relay {self.serial or '(first board)'} channel {self.channel}"
        self._board: Any = None

    def _open_device(self) -> None:
        import pyhid_usb_relay
        import usb.core

        try:
            board = pyhid_usb_relay.find(serial=self.serial)
        except pyhid_usb_relay.DeviceNotFoundError as exc:
            which = f"with serial {self.serial} " if self.serial else ""
            raise RelayError(f"no USB HID relay board {which}found (plugged in? allowed by a udev rule?)") from exc
        except usb.core.NoBackendError as exc:
            raise RelayError("libusb is not installed (Debian: apt-get install libusb-1.0-0)") from exc
        except usb.core.USBError as exc:
            if exc.errno == errno.EACCES:
                raise RelayError("no permission to use the USB HID relay (add the udev rule from "
                                 "docs/door-outputs.md)") from exc
            raise RelayError(f"USB error while looking for the relay board: {exc}") from exc
        if self.channel > board.num_relays:
            raise RelayError(f"the board {board.serial} has {board.num_relays} relay(s): there is no channel "
                             f"{self.channel}")
        self._board = board

    def _write(self, on: bool) -> None:
        import usb.core

        if self._board is None:
            raise RelayError(f"{self.where} is not open")
        try:
            self._board.set_state(self.channel, on)
        except usb.core.USBError as exc:
            raise RelayError(f"{self.where} failed ({exc}); unplugged?") from exc

    def _close_device(self) -> None:
        board, self._board = self._board, None
        if board is not None:
            import usb.util

            with contextlib.suppress(Exception):  # a fake or vanished device: nothing left to free
                usb.util.dispose_resources(board.device)
