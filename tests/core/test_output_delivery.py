"""The delivery rules every queued output follows (desktop_app/core/outputs/delivery.py): the
bounded outbox, stale opens, back-off and the health they report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from desktop_app.core.outputs.base import DoorMessage, MessageKind, OutputStatus
from desktop_app.core.outputs.delivery import Backoff, HealthBook, Outbox, open_expired, open_remaining_s
from desktop_app.core.vocabulary import DoorState


def ago(seconds: float) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=seconds)


def test_an_open_is_stale_once_its_unlock_time_has_passed() -> None:
    assert not open_expired(DoorMessage(MessageKind.OPEN, "d", ts=ago(4), unlock_seconds=5))
    assert open_expired(DoorMessage(MessageKind.OPEN, "d", ts=ago(6), unlock_seconds=5))
    assert open_expired(DoorMessage(MessageKind.OPEN, "d", ts=ago(6)))  # default unlock time: 5 s
    assert not open_expired(DoorMessage(MessageKind.DENY, "d", ts=ago(3600)))  # only opens go stale
    assert 0 < open_remaining_s(DoorMessage(MessageKind.OPEN, "d", ts=ago(4), unlock_seconds=5)) <= 1
    assert open_remaining_s(DoorMessage(MessageKind.OPEN, "d", ts=ago(9), unlock_seconds=5)) == 0


def test_a_full_outbox_drops_stale_opens_first_then_the_oldest() -> None:
    box = Outbox("test", capacity=3)
    stale = DoorMessage(MessageKind.OPEN, "d", ts=ago(60), unlock_seconds=5)
    first, second, third, fourth = (DoorMessage(MessageKind.DENY, "d", person=f"p{n}") for n in range(4))
    for m in (first, stale, second):
        box.put(m)
    box.put(third)  # full: the stale open goes, not the oldest denial
    assert len(box) == 3 and box.head() is first
    box.put(fourth)  # full, nothing stale: the oldest goes
    assert len(box) == 3 and box.head() is second
    box.done(second)
    assert box.head() is third


def test_only_the_newest_state_waits() -> None:
    box = Outbox("test")
    box.put(DoorMessage(MessageKind.STATE, "d", state=DoorState.UNLOCKED))
    deny = DoorMessage(MessageKind.DENY, "d")
    box.put(deny)
    newest = DoorMessage(MessageKind.STATE, "d", state=DoorState.LOCKED)
    box.put(newest)
    assert len(box) == 2 and box.head() is deny
    box.done(deny)
    assert box.head() is newest


def test_backoff_doubles_up_to_its_cap() -> None:
    backoff = Backoff(0.5, 4.0)
    delays = [backoff.next_delay() for _ in range(6)]
    for delay, nominal in zip(delays, (0.5, 1, 2, 4, 4, 4), strict=True):
        assert 0.9 * nominal <= delay <= 1.1 * nominal
    backoff.reset()
    assert backoff.next_delay() <= 0.55


def test_health_goes_down_after_repeated_failures_and_back_up() -> None:
    book = HealthBook("webhook", down_after=3, down_after_s=3600)
    assert book.failed("connection refused", retry_in_s=2) == OutputStatus.RETRYING
    health = book.snapshot(pending=2)
    assert health.detail == "webhook: connection refused; retry in 2 s; 2 waiting" and health.pending == 2
    assert book.failed("connection refused", retry_in_s=4) == OutputStatus.RETRYING
    assert book.failed("connection refused", retry_in_s=8) == OutputStatus.DOWN
    book.ok("delivered open")
    assert book.snapshot(0).ok and book.snapshot(0).detail == "webhook: delivered open"
    assert book.failed("HTTP 401", retry_in_s=None, permanent=True) == OutputStatus.DOWN  # at once
    assert book.permanent and "retry in" not in book.snapshot(0).detail
