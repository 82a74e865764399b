"""``gpio:CHIP/LINE[?active_low=1]``: a GPIO line driving a relay module (Raspberry Pi and other
Linux boards) through libgpiod 2 (the ``gpiod`` package, ``relays`` extra). CHIP is ``gpiochip0``,
``0`` or ``/dev/gpiochip0``; LINE is the line's offset (``17``) or name (``GPIO17``).
``active_low=1`` for relay modules that switch on a low level. Needs read-write access to
/dev/gpiochipN (group ``gpio`` on Raspberry Pi OS). Relay behaviour is
:class:`~desktop_app.core.outputs.relay.RelayOutput`'s.
"""

from __future__ import annotations

import contextlib
import errno
import os
from typing import Any
from urllib.parse import parse_qs

from desktop_app.core.outputs.relay import RelayError, RelayOutput

EXTRA_HINT = "pip install 'facegate[relays]'"


def chip_path(chip: str) -> str:
    """``/dev/gpiochipN`` for ``gpiochipN``, ``N`` or the path itself."""
    if chip.startswith("/"):
        return chip
    return f"/dev/gpiochip{chip}" if chip.isdigit() else f"/dev/{chip}"


class GpioOutput(RelayOutput):
    """Drives one GPIO output line; see the module."""

    scheme = "gpio"

    def __init__(self, uri: str, door: str, secret: str | None = None, **tuning: Any) -> None:
        super().__init__(uri, door, secret, **tuning)
        try:
            import gpiod  # noqa: F401 - checked here, used in the thread
        except ImportError as exc:
            raise ValueError(f"gpio: outputs need the gpiod library (libgpiod 2): {EXTRA_HINT}") from exc
        spec, _, query = uri.split(":", 1)[1].strip().partition("?")
        chip, sep, line = spec.rstrip("/").rpartition("/")
        if not sep or not chip.strip("/") or not line:
            raise ValueError(f"a GPIO output is 'gpio:CHIP/LINE' (e.g. gpio:gpiochip0/17), got {uri!r}")
        options = {k: v[-1] for k, v in parse_qs(query).items()}
        if set(options) - {"active_low"}:
            raise ValueError(f"unknown option(s) in {uri!r}: only active_low=1 is known")
        self.chip = chip_path(chip)
        self.line: int | str = int(line) if line.isdigit() else line
        self.active_low = options.get("active_low", "0").lower() in ("1", "true", "yes")
        self.where = f"GPIO {self.chip} line {self.line}"
        self._request: Any = None

    def _open_device(self) -> None:
        import gpiod
        from gpiod.line import Direction, Value

        settings = gpiod.LineSettings(direction=Direction.OUTPUT, output_value=Value.INACTIVE,
                                      active_low=self.active_low)
        if not os.path.exists(self.chip):
            raise RelayError(f"no GPIO chip {self.chip}")
        try:
            self._request = gpiod.request_lines(self.chip, consumer=f"facegate:{self.door}",
                                                config={self.line: settings})
        except PermissionError as exc:
            raise RelayError(f"no permission to use {self.chip} (add the user to the 'gpio' group)") from exc
        except (FileNotFoundError, ValueError) as exc:  # a name the chip does not have, an offset too high
            raise RelayError(f"no line {self.line!r} on {self.chip}") from exc
        except OSError as exc:
            if exc.errno == errno.EBUSY:
                raise RelayError(f"line {self.line} of {self.chip} is in use by another program") from exc
            if exc.errno == errno.ENODEV:
                raise RelayError(f"{self.chip} is not a GPIO chip") from exc
            raise RelayError(f"cannot use {self.where}: {exc}") from exc

    def _write(self, on: bool) -> None:
        from gpiod.line import Value

        if self._request is None:
            raise RelayError(f"{self.where} is not open")
        try:
            self._request.set_value(self.line, Value.ACTIVE if on else Value.INACTIVE)
        except OSError as exc:
            raise RelayError(f"setting {self.where} failed: {exc}") from exc

    def _close_device(self) -> None:
        request, self._request = self._request, None
        if request is not None:
            with contextlib.suppress(Exception):  # already released, chip gone
                request.release()
