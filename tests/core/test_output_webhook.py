"""The webhook door output against a real HTTP receiver on 127.0.0.1 that checks the signature
(tests/service_fixtures.py): signed JSON bodies, retries with back-off on 5xx, timeouts and a
server that is down, no retry on a refusal, stale opens never delivered late, a bounded outbox."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from service_fixtures import WEBHOOK_SECRET, WebhookServer, wait_until

from desktop_app.core.outputs.base import DoorMessage, MessageKind, OutputStatus
from desktop_app.core.outputs.registry import open_output
from desktop_app.core.outputs.webhook import WebhookOutput
from desktop_app.core.vocabulary import DoorState

FAST = {"timeout_s": 2.0, "backoff_s": 0.05, "backoff_max_s": 0.2}


@pytest.fixture
def make_hook() -> Iterator[Callable[..., WebhookOutput]]:
    made: list[WebhookOutput] = []

    def make(uri: str, secret: str | None = WEBHOOK_SECRET, **tuning: Any) -> WebhookOutput:
        out = WebhookOutput(uri, "front", secret, **{**FAST, **tuning})
        out.start()
        made.append(out)
        return out

    yield make
    for out in made:
        out.close(0.5)


def grant(**kw: Any) -> DoorMessage:
    fields: dict[str, Any] = {"kind": MessageKind.OPEN, "door": "front", "decision": "granted", "reason": "granted",
                              "person": "Lin-Manuel Miranda", "employee_id": "E-1", "event_id": "ev-1",
                              "unlock_seconds": 5.0, "score": 0.71, "camera": "front/in"}
    fields.update(kw)
    return DoorMessage(**fields)


def deny(n: int = 0) -> DoorMessage:
    return DoorMessage(MessageKind.DENY, "front", decision="denied", reason="outside schedule",
                       person=f"Person {n}", event_id=f"ev-deny-{n}")


def test_open_is_posted_as_signed_json(webhook_server: WebhookServer) -> None:
    out = open_output(webhook_server.uri, door="front", secret=WEBHOOK_SECRET)
    try:
        assert isinstance(out, WebhookOutput)
        message = grant()
        out.send(message)
        out.send(deny())
        bodies = webhook_server.wait_for(2)
        assert bodies[0] == message.payload()
        assert bodies[0]["kind"] == "open" and bodies[0]["person"] == "Lin-Manuel Miranda"
        assert bodies[0]["employee_id"] == "E-1" and bodies[0]["event_id"] == "ev-1"
        assert bodies[0]["time"].endswith("Z") and bodies[0]["unlock_seconds"] == 5.0
        assert bodies[1]["kind"] == "deny" and bodies[1]["reason"] == "outside schedule"
        first = webhook_server.requests[0]
        # the receiver's own check, redone here from the raw bytes
        expected = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), first.body, hashlib.sha256).hexdigest()
        assert first.headers["X-FaceGate-Signature"] == expected and first.signed_ok
        assert first.headers["Content-Type"] == "application/json"
        assert first.headers["X-FaceGate-Kind"] == "open"
        assert first.headers["X-FaceGate-Delivery"] != webhook_server.requests[1].headers["X-FaceGate-Delivery"]
        assert wait_until(lambda: out.health().status == OutputStatus.OK and out.health().pending == 0)
    finally:
        out.close()


def test_without_a_secret_no_signature_header(make_hook: Callable[..., WebhookOutput]) -> None:
    server = WebhookServer(secret=None)
    server.start()
    try:
        make_hook(server.uri, secret=None).send(deny())
        server.wait_for(1)
        assert "X-FaceGate-Signature" not in server.requests[0].headers
    finally:
        server.stop()


def test_a_wrong_secret_is_refused_not_retried(webhook_server: WebhookServer,
                                                make_hook: Callable[..., WebhookOutput]) -> None:
    out = make_hook(webhook_server.uri, secret="not-the-secret")
    out.send(deny(1))
    assert wait_until(lambda: out.health().status == OutputStatus.DOWN)
    health = out.health()
    assert "HTTP 401" in health.detail and "secret" in health.detail and health.pending == 0
    out.send(deny(2))  # the next message is tried once, again refused: one request each, no retries
    webhook_server.wait_requests(2)
    assert wait_until(lambda: out.health().pending == 0)
    assert [r.status for r in webhook_server.requests] == [401, 401]
    assert webhook_server.received == []


def test_server_errors_are_retried_with_the_same_signed_body(webhook_server: WebhookServer,
                                                             make_hook: Callable[..., WebhookOutput]) -> None:
    webhook_server.fail_next(3, status=500)
    out = make_hook(webhook_server.uri)
    out.send(grant())
    bodies = webhook_server.wait_for(1)
    assert [r.status for r in webhook_server.requests] == [500, 500, 500, 200]
    assert len({r.body for r in webhook_server.requests}) == 1
    assert len({r.headers["X-FaceGate-Delivery"] for r in webhook_server.requests}) == 1
    assert bodies[0]["kind"] == "open"
    assert wait_until(lambda: out.health().ok)


def test_server_down_then_up(webhook_server: WebhookServer, make_hook: Callable[..., WebhookOutput]) -> None:
    webhook_server.stop()
    out = make_hook(webhook_server.uri, down_after=3, down_after_s=60)
    out.send(deny(1))
    assert wait_until(lambda: out.health().status == OutputStatus.RETRYING)
    health = out.health()
    assert "connection refused" in health.detail and "retry in" in health.detail
    assert health.pending == 1 and "1 waiting" in health.detail
    assert wait_until(lambda: out.health().status == OutputStatus.DOWN)
    out.send(deny(2))
    assert out.health().pending == 2
    webhook_server.start()
    bodies = webhook_server.wait_for(2)
    assert [b["person"] for b in bodies] == ["Person 1", "Person 2"]
    assert wait_until(lambda: out.health().ok and out.health().pending == 0)


def test_send_never_waits_for_a_slow_receiver(webhook_server: WebhookServer,
                                              make_hook: Callable[..., WebhookOutput]) -> None:
    webhook_server.delay_s = 0.5
    out = make_hook(webhook_server.uri, timeout_s=5.0)
    for n in range(3):
        out.send(deny(n))
    # every send returned while the receiver had not answered a single request yet
    assert webhook_server.requests == []
    assert webhook_server.wait_for(3)


def test_a_timeout_is_retried(webhook_server: WebhookServer, make_hook: Callable[..., WebhookOutput]) -> None:
    webhook_server.delay_s = 0.6
    out = make_hook(webhook_server.uri, timeout_s=0.2, down_after=10)
    out.send(deny(1))
    assert wait_until(lambda: "no answer" in out.health().detail)
    assert out.health().status == OutputStatus.RETRYING and "within 0.2 s" in out.health().detail
    webhook_server.delay_s = 0.0
    assert wait_until(lambda: out.health().ok and out.health().pending == 0, timeout=10)
    # the receiver may have got the message more than once (it answered after the client gave up);
    # every copy carries the same delivery id, so that a receiver can ignore the repeats
    webhook_server.wait_for(1)
    assert len({r.headers["X-FaceGate-Delivery"] for r in webhook_server.requests}) == 1


def test_a_stale_open_is_never_delivered_late(webhook_server: WebhookServer,
                                              make_hook: Callable[..., WebhookOutput],
                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="facegate.door")
    webhook_server.stop()
    out = make_hook(webhook_server.uri)
    out.send(grant(unlock_seconds=0.5))
    # the outage outlasts the unlock time: the open is dropped, the queue empties
    assert wait_until(lambda: out.health().status != OutputStatus.OK and out.health().pending == 0, timeout=5)
    assert any("stale open" in r.getMessage() for r in caplog.records)
    webhook_server.start()
    # back up with nothing waiting: the receiver is found again without a message
    assert wait_until(lambda: out.health().ok, timeout=5)
    assert "reachable again" in out.health().detail
    out.send(deny(1))
    out.send(grant(ts=datetime.now(UTC) - timedelta(seconds=10)))  # decided 10 s ago, unlock 5 s: stale
    out.send(grant(event_id="ev-2"))
    bodies = webhook_server.wait_for(2)
    assert wait_until(lambda: out.health().pending == 0)
    assert [(b["kind"], b.get("event_id")) for b in webhook_server.received] == [("deny", "ev-deny-1"),
                                                                                 ("open", "ev-2")]
    assert bodies


def test_outbox_is_bounded_and_keeps_the_newest(webhook_server: WebhookServer,
                                                make_hook: Callable[..., WebhookOutput]) -> None:
    webhook_server.stop()
    out = make_hook(webhook_server.uri, capacity=3)
    for n in range(6):
        out.send(deny(n))
    assert out.health().pending == 3
    webhook_server.start()
    webhook_server.wait_for(3)
    assert wait_until(lambda: out.health().pending == 0)
    assert [b["person"] for b in webhook_server.received] == ["Person 3", "Person 4", "Person 5"]


def test_only_the_newest_state_waits(webhook_server: WebhookServer,
                                     make_hook: Callable[..., WebhookOutput]) -> None:
    webhook_server.stop()
    out = make_hook(webhook_server.uri)
    out.send(DoorMessage(MessageKind.STATE, "front", state=DoorState.UNLOCKED))
    out.send(deny(1))
    out.send(DoorMessage(MessageKind.STATE, "front", state=DoorState.OUT_OF_SERVICE))
    assert out.health().pending == 2
    webhook_server.start()
    webhook_server.wait_for(2)
    assert [(b["kind"], b.get("state")) for b in webhook_server.received] == [("deny", None),
                                                                              ("state", "out-of-service")]


def test_close_delivers_what_waits(webhook_server: WebhookServer) -> None:
    out = WebhookOutput(webhook_server.uri, "front", WEBHOOK_SECRET)
    out.start()
    for n in range(3):
        out.send(deny(n))
    out.close(5.0)
    assert len(webhook_server.received) == 3
    out.send(deny(9))  # after close: ignored, no error
    assert out.health().pending == 0


def test_basic_auth_from_the_url_and_redacted_description(webhook_server: WebhookServer,
                                                          make_hook: Callable[..., WebhookOutput]) -> None:
    uri = f"webhook:http://door:s3cret@127.0.0.1:{webhook_server.port}/hook?site=1"
    out = make_hook(uri)
    assert out.describe() == f"webhook:http://door:***@127.0.0.1:{webhook_server.port}/hook?site=1"
    out.send(deny())
    webhook_server.wait_for(1)
    assert webhook_server.requests[0].headers["Authorization"] == "Basic ZG9vcjpzM2NyZXQ="
    assert json.loads(webhook_server.requests[0].body)["door"] == "front"


@pytest.mark.parametrize("uri", ["webhook:", "webhook:ftp://host/x", "webhook:http:///path",
                                 "webhook:http://host:99999/x"])
def test_malformed_urls_are_refused(uri: str) -> None:
    with pytest.raises(ValueError, match="webhook"):
        open_output(uri, door="front")
