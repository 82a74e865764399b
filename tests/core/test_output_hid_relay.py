"""The USB HID relay output through the real pyhid-usb-relay library, with the board emulated where
pyusb meets the hardware: USB control transfers (string descriptors, HID feature reports). No
libusb and no board here; a real board is tested only when FACEGATE_TEST_HIDRELAY names one (a
relay may drive a real lock, so never unasked)."""

from __future__ import annotations

import array
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from service_fixtures import wait_until

pytest.importorskip("pyhid_usb_relay", reason="the 'relays' extra is not installed: pip install 'facegate[relays]'")

import usb.core

from desktop_app.core.outputs.base import DoorMessage, MessageKind, OutputStatus
from desktop_app.core.outputs.hid_relay import HidRelayOutput
from desktop_app.core.outputs.registry import open_output


class FakeHidRelayBoard:
    """A "www.dcttech.com" USBRelayN board as pyusb sees it: a device object whose
    ``ctrl_transfer`` answers string descriptors and the HID feature reports the boards use
    (GET_REPORT: 5-byte serial + relay bit mask in byte 7; SET_REPORT: FF n = relay n on, FD n =
    off, FE / FC = all on / off). ``plugged = False`` makes every transfer fail like a board pulled out."""

    idVendor, idProduct, bcdDevice = 0x16C0, 0x05DF, 0x0100
    iManufacturer, iProduct = 1, 2
    bus, address = 1, 7
    langids = (0x0409,)

    def __init__(self, serial: str = "FGT01", relays: int = 2) -> None:
        self.serial, self.relays = serial, relays
        self.mask = 0
        self.plugged = True
        self.history: list[int] = []  # the mask after every SET_REPORT

    def on(self, channel: int) -> bool:
        return bool(self.mask & (1 << (channel - 1)))

    def ctrl_transfer(self, bmRequestType: int, bRequest: int, wValue: int = 0, wIndex: int = 0,
                      data_or_wLength: Any = None, timeout: Any = None) -> Any:
        if not self.plugged:
            raise usb.core.USBError("No such device (it may have been disconnected)", errno=19)
        if bRequest == 0x06 and wValue >> 8 == 3:  # GET_DESCRIPTOR, string
            text = {1: "www.dcttech.com", 2: f"USBRelay{self.relays}"}[wValue & 0xFF].encode("utf-16-le")
            return array.array("B", [2 + len(text), 3, *text])
        if bmRequestType == 0xA0 and bRequest == 0x01:  # HID GET_REPORT (feature)
            return array.array("B", [*self.serial.encode().ljust(5, b"\0"), 0, 0, self.mask])
        if bmRequestType == 0x20 and bRequest == 0x09:  # HID SET_REPORT (feature)
            cmd, arg = data_or_wLength[0], data_or_wLength[1]
            if cmd == 0xFF:
                self.mask |= 1 << (arg - 1)
            elif cmd == 0xFD:
                self.mask &= ~(1 << (arg - 1))
            elif cmd in (0xFE, 0xFC):
                self.mask = (1 << self.relays) - 1 if cmd == 0xFE else 0
            self.history.append(self.mask)
            return len(data_or_wLength)
        raise usb.core.USBError(f"unexpected control transfer {bmRequestType:#x} {bRequest:#x}", errno=32)


@pytest.fixture
def boards(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> list[FakeHidRelayBoard]:
    """The boards on the (emulated) USB bus; pyusb's enumeration is replaced, nothing else."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))  # no user relay aliases
    on_bus: list[FakeHidRelayBoard] = []

    def find(find_all: bool = False, backend: Any = None, custom_match: Any = None, **attrs: Any) -> Any:
        found = [b for b in on_bus if b.plugged and all(getattr(b, k) == v for k, v in attrs.items())
                 and (custom_match is None or custom_match(b))]
        return found if find_all else (found[0] if found else None)

    monkeypatch.setattr(usb.core, "find", find)
    return on_bus


@pytest.fixture
def make_hid() -> Iterator[Callable[[str], HidRelayOutput]]:
    made: list[HidRelayOutput] = []

    def make(uri: str) -> HidRelayOutput:
        out = HidRelayOutput(uri, "front", None, backoff_s=0.05, backoff_max_s=0.2, refresh_s=0.2)
        out.start()
        made.append(out)
        return out

    yield make
    for out in made:
        out.close(1.0)


def test_open_pulses_the_chosen_relay(boards: list[FakeHidRelayBoard],
                                      make_hid: Callable[[str], HidRelayOutput]) -> None:
    boards.extend([FakeHidRelayBoard("OTHER", 2), FakeHidRelayBoard("FGT01", 4)])
    out = make_hid("hidrelay:FGT01/3")
    assert wait_until(lambda: out.health().ok and "off (locked)" in out.health().detail)
    out.send(DoorMessage(MessageKind.OPEN, "front", person="Lin-Manuel Miranda", unlock_seconds=0.5))
    assert wait_until(lambda: boards[1].on(3))
    assert wait_until(lambda: not boards[1].on(3))
    assert 0b100 in boards[1].history and boards[0].history == []  # only relay 3 of board FGT01


def test_missing_board_then_plugged_and_pulled(boards: list[FakeHidRelayBoard],
                                               make_hid: Callable[[str], HidRelayOutput]) -> None:
    out = make_hid("hidrelay:*/1")
    assert wait_until(lambda: out.health().status == OutputStatus.DOWN)
    assert "no USB HID relay board found" in out.health().detail
    board = FakeHidRelayBoard("ABCDE", 1)
    boards.append(board)
    assert wait_until(lambda: out.health().ok)
    out.send(DoorMessage(MessageKind.HOLD, "front"))
    assert wait_until(lambda: board.on(1))
    board.plugged = False
    assert wait_until(lambda: out.health().status == OutputStatus.DOWN)
    board.plugged, board.mask = True, 0  # back, relays dropped while unpowered
    assert wait_until(lambda: board.on(1))  # the hold is applied again


def test_a_channel_the_board_lacks(boards: list[FakeHidRelayBoard],
                                   make_hid: Callable[[str], HidRelayOutput]) -> None:
    boards.append(FakeHidRelayBoard("TWO01", 2))
    out = make_hid("hidrelay:TWO01/4")
    assert wait_until(lambda: "has 2 relay(s): there is no channel 4" in out.health().detail)
    assert out.health().status == OutputStatus.DOWN


@pytest.mark.parametrize("uri", ["hidrelay:", "hidrelay:ABCDE", "hidrelay:ABCDE/0", "hidrelay:ABCDE/x"])
def test_malformed_hidrelay_uris(uri: str) -> None:
    with pytest.raises(ValueError, match="hidrelay:SERIAL/CHANNEL"):
        open_output(uri, door="front")


def test_missing_library_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyhid_usb_relay", None)
    with pytest.raises(ValueError, match=r"facegate\[relays\]"):
        open_output("hidrelay:ABCDE/1", door="front")


def _real_board_reason() -> str | None:
    if not os.environ.get("FACEGATE_TEST_HIDRELAY"):
        return ("no real USB HID relay is used unasked (it may drive a real lock): set "
                "FACEGATE_TEST_HIDRELAY=SERIAL/CHANNEL to test one")
    return None


@pytest.mark.skipif(_real_board_reason() is not None, reason=_real_board_reason() or "")
def test_a_real_board() -> None:
    out = open_output(f"hidrelay:{os.environ['FACEGATE_TEST_HIDRELAY']}", door="test")
    try:
        assert wait_until(lambda: out.health().ok, timeout=10), out.health().detail
        out.send(DoorMessage(MessageKind.OPEN, "test", unlock_seconds=1.0))
        assert wait_until(lambda: "on (unlocked)" in out.health().detail)
        assert wait_until(lambda: "off (locked)" in out.health().detail, timeout=10)
    finally:
        out.close()


def test_this_machine_without_a_board_says_why(monkeypatch: pytest.MonkeyPatch, tmp_path: Any,
                                               make_hid: Callable[[str], HidRelayOutput]) -> None:
    """Real USB enumeration (pyusb, libusb if installed): no board here, and the output says why."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    out = make_hid("hidrelay:NOSUCH/1")
    assert wait_until(lambda: out.health().status == OutputStatus.DOWN)
    detail = out.health().detail
    assert ("libusb is not installed" in detail or "no USB HID relay board with serial NOSUCH found" in detail
            or "permission" in detail), detail
