"""The serial relay output (CH340 "LCTech" boards) against a board played on a real
pseudo-terminal (tests/service_fixtures.py: LcTechBoard): frames and checksums, an open that
pulses the relay for the unlock time, hold and lock, unplugging and plugging back."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from service_fixtures import LcTechBoard, wait_until

from desktop_app.core.outputs.base import DoorMessage, MessageKind, OutputStatus
from desktop_app.core.outputs.registry import open_output
from desktop_app.core.outputs.serial_relay import SerialRelayOutput, lctech_frame
from desktop_app.core.vocabulary import DoorState


@pytest.fixture
def make_relay() -> Iterator[Callable[..., SerialRelayOutput]]:
    made: list[SerialRelayOutput] = []

    def make(uri: str, **tuning: Any) -> SerialRelayOutput:
        out = SerialRelayOutput(uri, "front", None, **{"backoff_s": 0.05, "backoff_max_s": 0.2, **tuning})
        out.start()
        made.append(out)
        return out

    yield make
    for out in made:
        out.close(1.0)


def opening(unlock_s: float, **kw: Any) -> DoorMessage:
    fields: dict[str, Any] = {"decision": "granted", "person": "Lin-Manuel Miranda", "unlock_seconds": unlock_s}
    return DoorMessage(MessageKind.OPEN, "front", **{**fields, **kw})


def test_lctech_frames() -> None:
    assert lctech_frame(1, True) == bytes.fromhex("a00101a2")
    assert lctech_frame(1, False) == bytes.fromhex("a00100a1")
    assert lctech_frame(2, True) == bytes.fromhex("a00201a3")
    assert lctech_frame(8, False) == bytes.fromhex("a00800a8")


def test_open_pulses_the_relay_for_the_unlock_time(lctech_board: LcTechBoard) -> None:
    out = open_output(lctech_board.uri(2), door="front")
    try:
        assert isinstance(out, SerialRelayOutput)
        lctech_board.wait_frames(1)  # the driver sets the relay off (locked) when it opens the port
        assert wait_until(lambda: out.health().ok and "off (locked)" in out.health().detail)
        sent = time.monotonic()
        out.send(opening(0.8))
        on_at = lctech_board.wait_relay(2, True)
        assert wait_until(lambda: "on (unlocked)" in out.health().detail)
        off_at = lctech_board.wait_relay(2, False)
        assert off_at - sent >= 0.75 and off_at > on_at  # released for the unlock time, then locked
        assert lctech_board.frames[:3] == [bytes.fromhex(h) for h in ("a00200a2", "a00201a3", "a00200a2")]
        assert [(ch, on) for _t, ch, on in lctech_board.changes] == [(2, True), (2, False)]
        assert lctech_board.relays == {1: False, 2: False, 3: False, 4: False}
        assert lctech_board.bad == []
    finally:
        out.close()


def test_hold_and_lock_and_nothing_for_the_rest(lctech_board: LcTechBoard,
                                                make_relay: Callable[..., SerialRelayOutput]) -> None:
    out = make_relay(lctech_board.uri(1))
    lctech_board.wait_frames(1)
    out.send(DoorMessage(MessageKind.DENY, "front", reason="expired"))
    out.send(DoorMessage(MessageKind.STATE, "front", state=DoorState.OUT_OF_SERVICE))
    out.send(DoorMessage(MessageKind.ALERT, "front", text="door forced"))
    out.send(DoorMessage(MessageKind.HOLD, "front"))
    lctech_board.wait_relay(1, True)
    out.send(opening(0.3))  # an open during a hold ends with the hold, not before
    out.send(DoorMessage(MessageKind.LOCK, "front"))
    lctech_board.wait_relay(1, False)
    assert [(ch, on) for _t, ch, on in lctech_board.changes] == [(1, True), (1, False)]
    assert lctech_board.bad == []


def test_close_locks_an_open_door(lctech_board: LcTechBoard, make_relay: Callable[..., SerialRelayOutput]) -> None:
    out = make_relay(lctech_board.uri(3))
    out.send(opening(30))
    lctech_board.wait_relay(3, True)
    out.close(2.0)
    lctech_board.wait_relay(3, False, timeout=5)  # long before the 30 s unlock time ends


def test_unplugged_board_is_down_then_comes_back(lctech_board: LcTechBoard,
                                                 make_relay: Callable[..., SerialRelayOutput]) -> None:
    out = make_relay(lctech_board.uri(1), refresh_s=0.2)
    lctech_board.wait_frames(1)
    lctech_board.unplug()  # idle: the next refresh notices
    assert wait_until(lambda: out.health().status == OutputStatus.DOWN)
    assert wait_until(lambda: "not found (is the relay board plugged in?)" in out.health().detail)
    out.send(opening(0.3))  # this one's unlock time passes while unplugged: never applied late
    out.send(opening(30, person="Still Here"))  # this one is still wanted when the board is back
    assert out.health().pending == 1
    lctech_board.plug()
    lctech_board.wait_relay(1, True)
    assert wait_until(lambda: out.health().ok and out.health().pending == 0)
    out.send(DoorMessage(MessageKind.LOCK, "front"))
    lctech_board.wait_relay(1, False)
    out.send(opening(5, ts=datetime.now(UTC) - timedelta(seconds=10)))  # decided 10 s ago: stale
    out.send(DoorMessage(MessageKind.HOLD, "front"))
    lctech_board.wait_relay(1, True)
    assert [on for _t, _ch, on in lctech_board.changes] == [True, False, True]


def test_missing_board_at_start(tmp_path: Any, make_relay: Callable[..., SerialRelayOutput]) -> None:
    board = LcTechBoard(tmp_path / "ttyUSB7")
    out = make_relay(board.uri(1))
    assert wait_until(lambda: out.health().status == OutputStatus.DOWN)
    health = out.health()
    assert f"{tmp_path}/ttyUSB7 not found (is the relay board plugged in?)" in health.detail
    assert "retry in" in health.detail
    board.plug()
    try:
        board.wait_frames(1)
        assert wait_until(lambda: out.health().ok)
    finally:
        out.close()
        board.unplug()


@pytest.mark.parametrize(("uri", "match"), [
    ("serial://", "needs the port"), ("serial:///dev/ttyUSB0?protocol=modbus", "unknown relay protocol"),
    ("serial:///dev/ttyUSB0?channel=0", "1 to 8"), ("serial:///dev/ttyUSB0?channel=x", "whole numbers"),
    ("serial:///dev/ttyUSB0?speed=9600", "unknown option"), ("serial://host/dev/ttyUSB0", "serial:///dev/ttyUSB0")])
def test_malformed_serial_uris(uri: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        open_output(uri, door="front")


def test_uri_forms() -> None:
    out = SerialRelayOutput("serial:///dev/ttyUSB1?protocol=LCTech&channel=4&baud=115200", "front")
    assert (out.port, out.channel, out.baud, out.protocol) == ("/dev/ttyUSB1", 4, 115200, "lctech")
    assert SerialRelayOutput("serial://COM3?protocol=lctech", "front").port == "COM3"
