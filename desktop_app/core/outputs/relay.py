"""What the lock-driving outputs share (serial relay boards, USB HID relays, GPIO lines): one relay
(or line) per door, on = lock released, driven from the driver's own thread.

The thread keeps the relay where the messages say it should be:

- OPEN: on for the message's unlock time, counted from when it was decided (``ts``), then off.
  An OPEN whose unlock time has already passed is dropped with a log line, so that a door never
  opens late (after the device was unplugged, for example).
- HOLD: on until LOCK (a fail-safe door out of service); LOCK: off now (also ends an OPEN).
- DENY, STATE, ALERT: nothing (a relay has no screen).

Every ``refresh_s`` seconds the thread writes the state again: a board that lost power comes back
right, and a device unplugged while idle is noticed. A device that is missing or fails is DOWN at
once, with a readable reason, and reopened with back-off; the relay is set again when it returns.
``close()`` turns the relay off (locks) unless a HOLD is in force, then releases the device.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import abstractmethod

from desktop_app.core.outputs.base import DoorMessage, DoorOutput, MessageKind, OutputHealth, OutputStatus
from desktop_app.core.outputs.delivery import Backoff, HealthBook, open_remaining_s

log = logging.getLogger("facegate.door")


class RelayError(Exception):
    """A device could not be opened or written; the message is one readable line."""


def _reason(exc: Exception) -> str:
    """The line shown for a device failure: a RelayError's own words, else the error's type too."""
    return str(exc) if isinstance(exc, RelayError) else f"{type(exc).__name__}: {exc}"


class RelayOutput(DoorOutput):
    """One relay that releases a door's lock; see the module. Subclasses implement
    :meth:`_open_device`, :meth:`_write` and :meth:`_close_device` (raising :class:`RelayError`),
    and set ``where`` (the device, for messages). Tuning: backoff_s / backoff_max_s between
    reopen attempts, refresh_s between re-writes of an unchanged state (seconds)."""

    where = "relay"

    def __init__(self, uri: str, door: str, secret: str | None = None, *, backoff_s: float = 0.5,
                 backoff_max_s: float = 15.0, refresh_s: float = 5.0) -> None:
        super().__init__(uri, door, secret)
        self.refresh_s = refresh_s
        self._cond = threading.Condition()
        self._hold = False
        self._open_until = 0.0  # monotonic
        self._closing = False
        self._device_open = False
        self._written: bool | None = None  # what the relay was last set to; None: unknown
        self._backoff = Backoff(backoff_s, backoff_max_s)
        self._book = HealthBook(self.scheme, down_after=1, detail="opening the device", status=OutputStatus.RETRYING)
        self._thread = threading.Thread(target=self._run, name=f"door-output-{self.scheme}-{door}", daemon=True)

    # -- the interface ---------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread.ident is None:  # once
            self._thread.start()

    def send(self, message: DoorMessage) -> None:
        try:
            with self._cond:
                if self._closing:
                    return
                if message.kind == MessageKind.OPEN:
                    remaining = open_remaining_s(message)
                    if remaining <= 0:
                        log.warning("%s: dropped a stale open for door %s (%s): its unlock time has passed.",
                                    self.describe(), message.door, message.person or "remote open")
                        return
                    self._open_until = max(self._open_until, time.monotonic() + remaining)
                elif message.kind == MessageKind.HOLD:
                    self._hold = True
                elif message.kind == MessageKind.LOCK:
                    self._hold, self._open_until = False, 0.0
                else:
                    return  # deny, state, alert: nothing for a relay to do
                self._cond.notify_all()
        except Exception:  # never raise into the caller's loop
            log.exception("%s: could not take a message", self.describe())

    def health(self) -> OutputHealth:
        with self._cond:
            pending = int(self._want(time.monotonic()) != self._written)
        return self._book.snapshot(pending)

    def close(self, timeout_s: float = 2.0) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(max(0.0, timeout_s) + 0.5)

    # -- for subclasses --------------------------------------------------------------------------
    @abstractmethod
    def _open_device(self) -> None:
        """Open the device; RelayError saying what is wrong (not found, no permission…)."""

    @abstractmethod
    def _write(self, on: bool) -> None:
        """Set the relay; RelayError when the device fails (unplugged)."""

    @abstractmethod
    def _close_device(self) -> None:
        """Release the device; never raises."""

    # -- the thread ------------------------------------------------------------------------------
    def _want(self, now: float) -> bool:
        if self._closing and not self._hold:
            return False
        return self._hold or now < self._open_until

    def _run(self) -> None:
        next_refresh = 0.0
        try:
            while True:
                with self._cond:
                    closing = self._closing
                    want = self._want(time.monotonic())
                if not self._device_open:
                    if not self._reopen(closing):
                        if closing:
                            return
                        continue
                    next_refresh = 0.0
                if want != self._written or time.monotonic() >= next_refresh:
                    try:
                        self._write(want)
                    except Exception as exc:  # any failure of the device: release it, reopen
                        self._lost(_reason(exc), closing)
                        if closing:
                            return
                        continue
                    self._backoff.reset()
                    if want != self._written:
                        log.info("%s: relay %s (door %s).", self.describe(), "on: unlocked" if want else "off: locked",
                                 self.door)
                    self._written = want
                    next_refresh = time.monotonic() + self.refresh_s
                    self._book.ok(f"{self.where}: relay {'on (unlocked)' if want else 'off (locked)'}")
                if closing:
                    return
                with self._cond:
                    now = time.monotonic()
                    if self._closing or self._want(now) != self._written:
                        continue
                    timeout = next_refresh - now
                    if self._written and not self._hold:
                        timeout = min(timeout, self._open_until - now)
                    if timeout > 0:
                        self._cond.wait(timeout)
        except Exception:  # a bug must not kill the door silently
            log.exception("%s: the relay thread failed", self.describe())
            self._book.failed("internal error (see the log)", retry_in_s=None, permanent=True)
        finally:
            self._release()

    def _reopen(self, closing: bool) -> bool:
        try:
            self._open_device()
        except Exception as exc:
            if closing:
                return False
            delay = self._backoff.next_delay()
            before = self._book.status
            self._book.failed(_reason(exc), retry_in_s=delay)
            if before != OutputStatus.DOWN:
                log.warning("%s: %s", self.describe(), _reason(exc))
            with self._cond:
                if not self._closing:
                    self._cond.wait(delay)
            return False
        self._device_open, self._written = True, None
        log.info("%s: %s opened.", self.describe(), self.where)
        return True

    def _lost(self, why: str, closing: bool) -> None:
        """The device failed while in use: release it, wait a back-off, reopen."""
        log.warning("%s: %s", self.describe(), why)
        self._release()
        delay = self._backoff.next_delay()
        self._book.failed(why, retry_in_s=delay)
        with self._cond:
            if not closing and not self._closing:
                self._cond.wait(delay)

    def _release(self) -> None:
        if self._device_open:
            self._device_open = False
            self._written = None
            try:
                self._close_device()
            except Exception:
                log.exception("%s: error while closing %s", self.describe(), self.where)
