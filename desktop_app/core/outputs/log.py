"""``log:``: the dry-run output. It logs what a real output would do, and is the default."""

from __future__ import annotations

import logging
from collections import deque

from desktop_app.core.outputs.base import DoorMessage, DoorOutput, MessageKind, OutputHealth, OutputStatus

log = logging.getLogger("facegate.door")


class LogOutput(DoorOutput):
    """Writes one log line per message (logger ``facegate.door``, level INFO) and keeps the last
    100 messages (``recent``) for the app and the tests. Never fails."""

    scheme = "log"

    def __init__(self, uri: str, door: str, secret: str | None = None) -> None:
        super().__init__(uri, door, secret)
        self.recent: deque[DoorMessage] = deque(maxlen=100)

    def send(self, message: DoorMessage) -> None:
        with self._lock:
            self.recent.append(message)
        who = message.person or "unknown face"
        if message.kind == MessageKind.OPEN:
            log.info("Door %s: would unlock for %.0f s (%s, %s).", message.door, message.unlock_seconds or 0, who,
                     message.reason or message.decision)
        elif message.kind == MessageKind.DENY:
            log.info("Door %s: would signal a refusal (%s, %s).", message.door, who, message.reason)
        elif message.kind == MessageKind.STATE:
            log.info("Door %s: state %s.", message.door, message.state)
        elif message.kind == MessageKind.ALERT:
            log.warning("Door %s alert: %s", message.door, message.text)
        else:
            log.info("Door %s: would %s the lock.", message.door, message.kind.value)

    def health(self) -> OutputHealth:
        return OutputHealth(OutputStatus.OK, "dry run: logs what it would do")
