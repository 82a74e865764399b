"""What the networked outputs (webhook, MQTT) share: a bounded outbox, back-off, the health they
report, and the delivery thread that ties them together (:class:`QueuedOutput`).

Rules every queued driver follows:

- ``send`` appends to the outbox and returns; the driver's own thread delivers, oldest first, one
  message at a time, and removes a message only once it is delivered or refused for good.
- A failed delivery is retried after an exponential back-off (``Backoff``: 0.5 s, 1 s, 2 s, …
  at most 15 s, with ±10 % jitter).
- An OPEN is stale once its unlock time has passed since it was decided (``ts + unlock_seconds``):
  it is dropped with a log line, never delivered late (a door must not open after the person left).
- A STATE replaces any older STATE still waiting (a state is a level: only the newest matters).
- The outbox holds at most ``capacity`` messages; when full, stale OPENs go first, then the
  oldest message, with one warning per outage saying how many were lost.
- Health: OK while deliveries work; RETRYING after a failure; DOWN once ``down_after`` attempts in
  a row failed or the failure lasted ``down_after_s`` seconds, or at once for a refusal that no
  retry can fix (an HTTP 4xx, a broker refusing the login). Retries go on while DOWN.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from abc import abstractmethod
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime

from desktop_app.core.outputs.base import DoorMessage, DoorOutput, MessageKind, OutputHealth, OutputStatus

log = logging.getLogger("facegate.door")

DEFAULT_UNLOCK_S = 5.0
"""How long an OPEN without ``unlock_seconds`` stays deliverable (the default unlock time)."""


def open_expired(message: DoorMessage, now: datetime | None = None) -> bool:
    """True for an OPEN whose unlock time has passed since it was decided (``ts``): delivering it
    now would release the lock after the person has gone. False for every other kind."""
    if message.kind != MessageKind.OPEN:
        return False
    now = now or datetime.now(UTC)
    age_s = (now - message.ts).total_seconds()
    return age_s > (message.unlock_seconds if message.unlock_seconds is not None else DEFAULT_UNLOCK_S)


def open_remaining_s(message: DoorMessage, now: datetime | None = None) -> float:
    """Seconds of an OPEN's unlock time still to run (0 when expired)."""
    now = now or datetime.now(UTC)
    unlock = message.unlock_seconds if message.unlock_seconds is not None else DEFAULT_UNLOCK_S
    return max(0.0, unlock - max(0.0, (now - message.ts).total_seconds()))


class Backoff:
    """Exponential back-off: ``initial_s``, doubled after each failure up to ``max_s``, ±10 %
    jitter (so that many doors do not retry in step). ``reset()`` after a success."""

    def __init__(self, initial_s: float = 0.5, max_s: float = 15.0) -> None:
        if not 0 < initial_s <= max_s:
            raise ValueError(f"back-off needs 0 < initial ({initial_s}) <= max ({max_s})")
        self.initial_s = initial_s
        self.max_s = max_s
        self._next = initial_s

    def next_delay(self) -> float:
        """The delay before the next attempt, seconds; doubles the one after."""
        delay = self._next
        self._next = min(self.max_s, self._next * 2)
        return delay * random.uniform(0.9, 1.1)

    def reset(self) -> None:
        self._next = self.initial_s


class HealthBook:
    """Keeps an output's health: what failed, since when, when the next attempt is due.
    Thread-safe. ``name``: the driver's prefix in details ("webhook", "mqtt")."""

    def __init__(self, name: str, *, down_after: int = 3, down_after_s: float = 10.0,
                 ok_detail: str = "ready") -> None:
        self.name = name
        self.down_after = down_after
        self.down_after_s = down_after_s
        self._lock = threading.Lock()
        self._status = OutputStatus.OK
        self._detail = ok_detail
        self._since = datetime.now(UTC)
        self._failures = 0
        self._first_failure = 0.0  # monotonic
        self._retry_at: float | None = None  # monotonic
        self._permanent = False

    def ok(self, detail: str) -> None:
        """A delivery (or connection) worked."""
        with self._lock:
            self._set(OutputStatus.OK)
            self._detail = detail
            self._failures, self._retry_at, self._permanent = 0, None, False

    def failed(self, detail: str, *, retry_in_s: float | None, permanent: bool = False) -> OutputStatus:
        """An attempt failed: ``detail`` says why (one line, without the driver's name);
        retry_in_s: when the next attempt is due, None when none is planned; permanent: no retry
        can fix it (DOWN at once). Returns the new status."""
        now = time.monotonic()
        with self._lock:
            if self._failures == 0:
                self._first_failure = now
            self._failures += 1
            self._permanent = permanent
            down = (permanent or self._failures >= self.down_after
                    or now - self._first_failure >= self.down_after_s)
            self._set(OutputStatus.DOWN if down else OutputStatus.RETRYING)
            self._detail = detail
            self._retry_at = None if retry_in_s is None else now + retry_in_s
            return self._status

    @property
    def status(self) -> OutputStatus:
        with self._lock:
            return self._status

    @property
    def detail(self) -> str:
        """The last detail given (without the driver's name or the retry time)."""
        with self._lock:
            return self._detail

    @property
    def permanent(self) -> bool:
        """True when the last failure was one that retrying cannot fix."""
        with self._lock:
            return self._permanent

    def snapshot(self, pending: int) -> OutputHealth:
        """The health now: ``"<name>: <detail>[; retry in N s][; N waiting]"``."""
        with self._lock:
            detail = f"{self.name}: {self._detail}"
            if self._status != OutputStatus.OK and self._retry_at is not None:
                detail += f"; retry in {max(0, math.ceil(self._retry_at - time.monotonic()))} s"
            if pending:
                detail += f"; {pending} waiting"
            return OutputHealth(self._status, detail, pending, self._since)

    def _set(self, status: OutputStatus) -> None:
        if status != self._status:
            self._status = status
            self._since = datetime.now(UTC)


class Outbox:
    """The messages waiting for delivery, oldest first; bounded (see the module's rules).
    Thread-safe; ``cond`` is notified on every put and by :meth:`wake`."""

    def __init__(self, name: str, capacity: int = 1000) -> None:
        if capacity < 1:
            raise ValueError("an outbox needs room for at least one message")
        self.name = name
        self.capacity = capacity
        self.cond = threading.Condition()
        self._items: deque[DoorMessage] = deque()
        self._lost = 0  # dropped for room since the last successful delivery

    def __len__(self) -> int:
        with self.cond:
            return len(self._items)

    def put(self, message: DoorMessage) -> None:
        with self.cond:
            if message.kind == MessageKind.STATE:
                self._items = deque(m for m in self._items if m.kind != MessageKind.STATE)
            if len(self._items) >= self.capacity:
                self._drop_stale_locked()
            while len(self._items) >= self.capacity:
                gone = self._items.popleft()
                self._lost += 1
                if self._lost == 1:
                    log.warning("%s: the outbox is full (%d messages): dropping the oldest (%s of %s); "
                                "more may follow while the output is down.", self.name, self.capacity,
                                gone.kind.value, gone.ts.isoformat(timespec="seconds"))
            self._items.append(message)
            self.cond.notify_all()

    def head(self) -> DoorMessage | None:
        """The next message to deliver, after dropping stale OPENs at the front; None when empty."""
        with self.cond:
            now = datetime.now(UTC)
            while self._items and open_expired(self._items[0], now):
                self._log_stale(self._items.popleft(), now)
            return self._items[0] if self._items else None

    def done(self, message: DoorMessage) -> None:
        """Remove ``message`` (delivered, or refused for good) if it is still at the front."""
        with self.cond:
            if self._items and self._items[0] is message:
                self._items.popleft()
            if self._lost:
                log.warning("%s: %d message(s) were dropped while the output was down (outbox full).",
                            self.name, self._lost)
                self._lost = 0

    def wake(self) -> None:
        with self.cond:
            self.cond.notify_all()

    def _drop_stale_locked(self) -> None:
        now = datetime.now(UTC)
        keep: deque[DoorMessage] = deque()
        for m in self._items:
            if open_expired(m, now):
                self._log_stale(m, now)
            else:
                keep.append(m)
        self._items = keep

    def _log_stale(self, message: DoorMessage, now: datetime) -> None:
        log.warning("%s: dropped a stale open for door %s (%s, decided %.0f s ago, unlock time %.0f s): "
                    "a door must not open after the person has left.", self.name, message.door,
                    message.person or "remote open", (now - message.ts).total_seconds(),
                    message.unlock_seconds if message.unlock_seconds is not None else DEFAULT_UNLOCK_S)


@dataclass(frozen=True)
class Outcome:
    """What one delivery attempt gave. ok: delivered; retry: worth trying again (False: refused
    for good, the message is dropped); detail: one readable line."""

    ok: bool
    detail: str = ""
    retry: bool = True

    @staticmethod
    def delivered(detail: str = "") -> Outcome:
        return Outcome(True, detail)

    @staticmethod
    def failed(detail: str, *, retry: bool = True) -> Outcome:
        return Outcome(False, detail, retry)


class QueuedOutput(DoorOutput):
    """A driver that delivers from its own thread through an :class:`Outbox`.

    Subclasses implement :meth:`_deliver` (one attempt, bounded by their timeouts, never raising),
    and, for a connection they keep open, ``persistent = True`` with :meth:`_connected` and
    :meth:`_connect`; :meth:`_idle_check` runs after a transient failure once nothing waits;
    :meth:`_shutdown` releases what they hold. Tuning (seconds): timeout_s bounds one attempt;
    backoff_s / backoff_max_s: first and longest wait between attempts; capacity: outbox size;
    down_after / down_after_s: when RETRYING becomes DOWN."""

    persistent = False

    def __init__(self, uri: str, door: str, secret: str | None = None, *, timeout_s: float = 5.0,
                 backoff_s: float = 0.5, backoff_max_s: float = 15.0, capacity: int = 1000,
                 down_after: int = 3, down_after_s: float = 10.0) -> None:
        super().__init__(uri, door, secret)
        self.timeout_s = timeout_s
        self._outbox = Outbox(f"{self.scheme} output of door {door}", capacity)
        self._backoff = Backoff(backoff_s, backoff_max_s)
        self._book = HealthBook(self.scheme, down_after=down_after, down_after_s=down_after_s)
        self._closing = False
        self._close_deadline = math.inf
        self._thread = threading.Thread(target=self._run, name=f"door-output-{self.scheme}-{door}", daemon=True)

    def start(self) -> None:
        """Start the delivery thread (the registry calls it; a driver's ``__init__`` does not)."""
        self._thread.start()

    # -- the interface ---------------------------------------------------------------------------
    def send(self, message: DoorMessage) -> None:
        try:
            if self._closing:
                log.warning("%s: closed; not sending %s.", self.describe(), message.kind.value)
                return
            self._outbox.put(message)
        except Exception:  # never raise into the caller's loop
            log.exception("%s: could not queue a message", self.describe())

    def health(self) -> OutputHealth:
        return self._book.snapshot(len(self._outbox))

    def close(self, timeout_s: float = 2.0) -> None:
        with self._outbox.cond:
            self._closing = True
            self._close_deadline = time.monotonic() + max(0.0, timeout_s)
            self._outbox.cond.notify_all()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(max(0.0, timeout_s) + 0.5)
        left = len(self._outbox)
        if left:
            log.warning("%s: closed with %d message(s) undelivered.", self.describe(), left)

    # -- for subclasses --------------------------------------------------------------------------
    @abstractmethod
    def _deliver(self, message: DoorMessage) -> Outcome:
        """Deliver one message; bounded by ``timeout_s``; never raises."""

    def _connected(self) -> bool:
        return True

    def _connect(self) -> Outcome:
        """Open the connection (persistent drivers); never raises."""
        return Outcome.delivered()

    def _idle_check(self) -> bool:
        """Nothing waits but the last attempt failed (transiently): is the receiver back? True
        turns the health OK again. Default: keep the last status until the next delivery."""
        return False

    def _shutdown(self) -> None:
        """Release the connection (called once, from the delivery thread, when closing)."""

    def _wait(self, seconds: float) -> None:
        """Wait ``seconds``, or less when closing or woken (a new message, a lost connection)."""
        with self._outbox.cond:
            if self._closing:
                seconds = min(seconds, self._close_deadline - time.monotonic())
            if seconds > 0:
                self._outbox.cond.wait(seconds)

    # -- the delivery thread ---------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while not self._finished():
                self._step()
        except Exception:  # a bug must not kill the door silently
            log.exception("%s: the delivery thread failed", self.describe())
            self._book.failed("internal error (see the log)", retry_in_s=None, permanent=True)
        finally:
            try:
                self._shutdown()
            except Exception:
                log.exception("%s: error while closing", self.describe())

    def _finished(self) -> bool:
        with self._outbox.cond:
            if not self._closing:
                return False
            return time.monotonic() >= self._close_deadline or not self._outbox._items

    def _step(self) -> None:
        if self.persistent and not self._connected():
            outcome = self._connect()
            if not outcome.ok:
                self._failed(outcome)
                return
            self._backoff.reset()
            self._book.ok(outcome.detail)
        message = self._outbox.head()
        if message is None:
            if self._book.status != OutputStatus.OK and not self._book.permanent and not self.persistent:
                if self._idle_check():
                    self._backoff.reset()
                    self._book.ok("reachable again (nothing waiting)")
                    return
                delay = self._backoff.next_delay()
                self._book.failed(self._book.detail, retry_in_s=delay)
                self._wait(delay)
                return
            with self._outbox.cond:
                if not self._closing and not self._outbox._items:
                    self._outbox.cond.wait(1.0)
            return
        outcome = self._deliver(message)
        if outcome.ok:
            self._outbox.done(message)
            self._backoff.reset()
            if self._book.status != OutputStatus.OK:
                log.info("%s: working again.", self.describe())
            self._book.ok(outcome.detail or f"delivered {message.kind.value}")
        elif not outcome.retry:
            self._outbox.done(message)
            log.error("%s: %s refused for good, dropped: %s", self.describe(), message.kind.value, outcome.detail)
            self._book.failed(outcome.detail, retry_in_s=None, permanent=True)
        else:
            self._failed(outcome)

    def _failed(self, outcome: Outcome) -> None:
        delay = self._backoff.next_delay()
        before = self._book.status
        status = self._book.failed(outcome.detail, retry_in_s=delay)
        if status != before:
            log.warning("%s: %s (%s)", self.describe(), outcome.detail, status.value)
        self._wait(delay)
