"""The GPIO output through the real gpiod 2 library's API (LineSettings, Value, Direction), with
the kernel's line request replaced by a recording double: this machine has no /dev/gpiochip* and
no gpio-sim module. A real chip is tested only when FACEGATE_TEST_GPIO names a line (it may drive
a real lock, so never unasked)."""

from __future__ import annotations

import errno
import glob
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from service_fixtures import wait_until

gpiod = pytest.importorskip("gpiod", reason="the 'relays' extra is not installed: pip install 'facegate[relays]'")
from gpiod.line import Direction, Value  # noqa: E402

from desktop_app.core.outputs.base import DoorMessage, MessageKind, OutputStatus  # noqa: E402
from desktop_app.core.outputs.gpio import GpioOutput, chip_path  # noqa: E402
from desktop_app.core.outputs.registry import open_output  # noqa: E402


class FakeLineRequest:
    """What ``gpiod.request_lines`` returns, recording each value set: ``(time, line, Value)``."""

    def __init__(self, chip: FakeChip, lines: list[Any]) -> None:
        self.chip, self.lines = chip, lines
        self.released = False

    def set_value(self, line: Any, value: Value) -> None:
        if self.released:
            raise gpiod.RequestReleasedError()
        if not self.chip.present:
            raise OSError(errno.ENODEV, "No such device")
        assert line in self.lines
        self.chip.values.append((time.monotonic(), line, value))

    def release(self) -> None:
        self.released = True
        self.chip.requests_open -= 1


class FakeChip:
    """The kernel side of one GPIO chip: which requests were made, with which settings."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.present = True
        self.busy = False
        self.values: list[tuple[float, Any, Value]] = []
        self.settings: list[tuple[str | None, dict[Any, Any]]] = []
        self.requests_open = 0

    def request_lines(self, path: str, config: dict[Any, Any], consumer: str | None = None, **_kw: Any) -> Any:
        if path != str(self.path) or not self.present:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        if self.busy:
            raise OSError(errno.EBUSY, "Device or resource busy")
        self.settings.append((consumer, config))
        self.requests_open += 1
        return FakeLineRequest(self, list(config))

    def level(self) -> Value | None:
        return self.values[-1][2] if self.values else None


@pytest.fixture
def chip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeChip:
    path = tmp_path / "gpiochip0"
    path.touch()
    fake = FakeChip(path)
    monkeypatch.setattr(gpiod, "request_lines", fake.request_lines)
    return fake


@pytest.fixture
def make_gpio() -> Iterator[Callable[[str], GpioOutput]]:
    made: list[GpioOutput] = []

    def make(uri: str) -> GpioOutput:
        out = GpioOutput(uri, "front", None, backoff_s=0.05, backoff_max_s=0.2, refresh_s=0.2)
        out.start()
        made.append(out)
        return out

    yield make
    for out in made:
        out.close(1.0)


def test_open_drives_the_line_for_the_unlock_time(chip: FakeChip, make_gpio: Callable[[str], GpioOutput]) -> None:
    out = make_gpio(f"gpio:{chip.path}/17?active_low=1")
    assert wait_until(lambda: out.health().ok and chip.level() == Value.INACTIVE)
    consumer, config = chip.settings[0]
    settings = config[17]
    assert consumer == "facegate:front"
    assert (settings.direction, settings.output_value, settings.active_low) == (Direction.OUTPUT, Value.INACTIVE, True)
    sent = time.monotonic()
    out.send(DoorMessage(MessageKind.OPEN, "front", unlock_seconds=0.5))
    assert wait_until(lambda: chip.level() == Value.ACTIVE)
    assert wait_until(lambda: chip.level() == Value.INACTIVE)
    on_at = next(t for t, _line, v in chip.values if v == Value.ACTIVE)
    off_at = next(t for t, _line, v in chip.values if v == Value.INACTIVE and t > on_at)
    assert off_at - sent >= 0.45
    out.close(1.0)
    assert chip.requests_open == 0  # the line is given back


def test_chip_gone_busy_and_back(chip: FakeChip, make_gpio: Callable[[str], GpioOutput]) -> None:
    chip.busy = True
    out = make_gpio(f"gpio:{chip.path}/GPIO17")
    assert wait_until(lambda: "in use by another program" in out.health().detail)
    assert out.health().status == OutputStatus.DOWN
    chip.busy = False
    assert wait_until(lambda: out.health().ok)
    out.send(DoorMessage(MessageKind.HOLD, "front"))
    assert wait_until(lambda: chip.level() == Value.ACTIVE)
    chip.present = False
    assert wait_until(lambda: out.health().status == OutputStatus.DOWN)
    chip.present, chip.values = True, []
    assert wait_until(lambda: chip.level() == Value.ACTIVE)  # the hold is applied again
    assert chip.settings[-1][1].keys() == {"GPIO17"}  # a line given by name


def test_no_such_chip(tmp_path: Path, make_gpio: Callable[[str], GpioOutput]) -> None:
    out = make_gpio(f"gpio:{tmp_path}/gpiochip9/4")
    assert wait_until(lambda: out.health().status == OutputStatus.DOWN)
    assert f"no GPIO chip {tmp_path}/gpiochip9" in out.health().detail


def test_chip_names() -> None:
    assert chip_path("gpiochip0") == chip_path("0") == chip_path("/dev/gpiochip0") == "/dev/gpiochip0"
    out = GpioOutput("gpio:gpiochip1/GPIO5", "front")
    assert (out.chip, out.line, out.active_low) == ("/dev/gpiochip1", "GPIO5", False)


@pytest.mark.parametrize("uri", ["gpio:", "gpio:17", "gpio:gpiochip0/", "gpio:/17"])
def test_malformed_gpio_uris(uri: str) -> None:
    with pytest.raises(ValueError, match="gpio:CHIP/LINE"):
        open_output(uri, door="front")


def test_missing_library_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gpiod", None)
    with pytest.raises(ValueError, match=r"facegate\[relays\]"):
        open_output("gpio:gpiochip0/17", door="front")


def _real_chip_reason() -> str | None:
    if os.environ.get("FACEGATE_TEST_GPIO"):
        return None
    chips = glob.glob("/dev/gpiochip*")
    sim = "gpio-sim is available" if os.path.isdir("/sys/kernel/config/gpio-sim") else \
        "no gpio-sim (/sys/kernel/config/gpio-sim absent: module or configfs missing)"
    where = f"this machine has {', '.join(chips) or 'no /dev/gpiochip*'} and {sim}"
    return f"{where}; no real line is driven unasked (it may work a lock): set FACEGATE_TEST_GPIO=CHIP/LINE"


@pytest.mark.skipif(_real_chip_reason() is not None, reason=_real_chip_reason() or "")
def test_a_real_line() -> None:
    out = open_output(f"gpio:{os.environ['FACEGATE_TEST_GPIO']}", door="test")
    try:
        assert wait_until(lambda: out.health().ok, timeout=10), out.health().detail
        out.send(DoorMessage(MessageKind.OPEN, "test", unlock_seconds=1.0))
        assert wait_until(lambda: "on (unlocked)" in out.health().detail)
        assert wait_until(lambda: "off (locked)" in out.health().detail, timeout=10)
    finally:
        out.close()
