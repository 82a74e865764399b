"""One door's controller: what its lock does after each decision, fault and command.

States (:class:`~desktop_app.core.vocabulary.DoorState`):

- ``locked``: the output works and at least one camera sees;
- ``unlocked``: a grant or a remote open sent OPEN (``unlock_seconds``); the door locks again by
  itself when the time is up (the output's OPEN is a timed pulse; the controller only says so
  with a STATE message);
- ``out-of-service``: the output is DOWN, or every camera of the door is lost (reconnecting or
  failed). Fail-secure stays locked and sends no OPEN; fail-safe sends HOLD (release until told
  otherwise) as soon as the output can take it, and reports "released (fail-safe)". When the
  fault clears, a held door gets LOCK, and the door is ``locked`` again.

Every change of state is sent as a STATE message (MQTT keeps it retained). A refusal (denied,
unknown, ambiguous, spoof) sends DENY. Alerts (unknown face, denied, spoof suspected, fault, back in
service, door forced, held open) go through the :class:`~desktop_app.core.doors.alerts.Alerter`.

A door contact (optional) reports the door leaf open or closed (:meth:`DoorController.contact`):
opened while locked is "door forced"; open longer than ``held_open_s`` is "held open".

Thread-safe: decisions and ticks come from the runner's loop, remote commands and the contact
from other threads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from desktop_app.core.access.model import DoorSpec
from desktop_app.core.doors.alerts import Alerter, AlertKind
from desktop_app.core.outputs.base import DoorMessage, DoorOutput, MessageKind, OutputHealth, OutputStatus
from desktop_app.core.vocabulary import AccessReason, Decision, Direction, DoorState, FailMode

log = logging.getLogger("facegate.door")

FORCED_GRACE_S = 1.5
"""Seconds after the door locks again during which an opening is still the passage's (the leaf
pushed a little late), not "door forced"."""


@dataclass(frozen=True)
class DoorDecision:
    """A decision at a door, as its controller acts on it. decision/reason: what was decided and
    why; camera, direction: the camera that saw it and which way it faces; person, employee_id:
    who (None for unknown faces); event_id: the event's uid; score: best cosine; ts: aware UTC;
    flagged: let through but flagged (anti-passback "flag"); detail: for a spoof, the liveness
    check's reasons in words ("" otherwise)."""

    decision: Decision
    reason: AccessReason
    camera: str
    direction: Direction = Direction.IN
    person: str | None = None
    employee_id: str | None = None
    event_id: str | None = None
    score: float | None = None
    ts: datetime = field(default_factory=lambda: datetime.now(UTC))
    flagged: bool = False
    detail: str = ""


class DoorController:
    """The state machine of one door (see the module doc).

    spec: the door; output: its started output driver (the controller closes it); alerter: where
    alerts go (None: no alerts); clock: monotonic seconds (tests give a fake one); on_change:
    called (from whichever thread changed it) after the state, the last decision, the fault or
    an alarm changed, e.g. to refresh the app's door view."""

    def __init__(self, spec: DoorSpec, output: DoorOutput, *, alerter: Alerter | None = None,
                 clock: Callable[[], float] = time.monotonic, on_change: Callable[[], None] | None = None) -> None:
        self.spec = spec
        self.output = output
        self.alerter = alerter
        self._clock = clock
        self._on_change = on_change
        self._lock = threading.RLock()
        self._state = DoorState.LOCKED
        self._unlocked_until = 0.0
        self._relocked_at = -1e9
        self._camera_fault: str | None = None
        self._held = False  # fail-safe: HOLD sent for the current fault
        self._detail = ""
        self._last: DoorDecision | None = None
        self._contact_open: bool | None = None
        self._opened_at = 0.0
        self._held_open_raised = False
        self._alarm: str | None = None
        self._health = OutputHealth(OutputStatus.OK)
        #: counts of what was sent, by kind (for the status and the tests)
        self.sent: dict[MessageKind, int] = {k: 0 for k in MessageKind}

    # ------------------------------------------------------------------ reading
    @property
    def state(self) -> DoorState:
        with self._lock:
            return self._state

    @property
    def detail(self) -> str:
        """One readable line on the state: why the door is out of service and what its lock does."""
        with self._lock:
            return self._detail

    @property
    def last_decision(self) -> DoorDecision | None:
        with self._lock:
            return self._last

    @property
    def alarm(self) -> str | None:
        """The alarm in force ("door forced", "held open"), None when none."""
        with self._lock:
            return self._alarm

    @property
    def contact_open(self) -> bool | None:
        """The door leaf: True open, False closed, None without a contact (or nothing heard yet)."""
        with self._lock:
            return self._contact_open

    @property
    def output_health(self) -> OutputHealth:
        """The output's health as last read by :meth:`tick`."""
        with self._lock:
            return self._health

    def unlocked_for(self) -> float:
        """Seconds the door stays unlocked (0 when locked)."""
        with self._lock:
            return max(0.0, self._unlocked_until - self._clock()) if self._state == DoorState.UNLOCKED else 0.0

    # ------------------------------------------------------------------ acting
    def start(self) -> None:
        """Publish the initial state (locked), then read the output's health once."""
        with self._lock:
            self._send(DoorMessage(MessageKind.STATE, self.spec.name, state=self._state))
        self.tick()

    def decide(self, d: DoorDecision) -> MessageKind | None:
        """Act on a decision: OPEN for a grant (unless out of service), DENY for a refusal, and
        the alerts the settings ask for. Returns the message kind sent to the lock (None: none)."""
        name = self.spec.name
        with self._lock:
            self._last = d
            sent: MessageKind | None = None
            if d.decision == Decision.GRANTED:
                if self._state == DoorState.OUT_OF_SERVICE:
                    log.warning("Door %s: %s granted but not opened: the door is out of service (%s).",
                                name, d.person, self._detail)
                else:
                    self._send(_about(MessageKind.OPEN, name, d, unlock_seconds=self.spec.unlock_seconds))
                    sent = MessageKind.OPEN
                    self._unlock()
            else:
                self._send(_about(MessageKind.DENY, name, d))
                sent = MessageKind.DENY
        self._alert_decision(d)
        self._changed()
        return sent

    def remote_open(self, actor: str) -> bool:
        """Open the door for its unlock time on a command (``facegate door open``, the app, MQTT);
        False (logged) when the output is down. The command is audited by whoever took it."""
        with self._lock:
            if self.output.health().status == OutputStatus.DOWN:
                log.warning("Door %s: remote open by %s refused: the output is down.", self.spec.name, actor)
                return False
            self._send(DoorMessage(MessageKind.OPEN, self.spec.name, unlock_seconds=self.spec.unlock_seconds,
                                   reason=f"remote open ({actor})"))
            if self._state != DoorState.OUT_OF_SERVICE:
                self._unlock()
        log.info("Door %s opened remotely by %s.", self.spec.name, actor)
        self._changed()
        return True

    def cameras(self, fault: str | None) -> None:
        """What the door's cameras say: None while at least one sees, else why none does
        ("front/in: reconnecting: ..."). Takes effect at the next :meth:`tick`."""
        with self._lock:
            self._camera_fault = fault

    def contact(self, is_open: bool) -> None:
        """The door contact changed: ``is_open`` True when the leaf opened."""
        alarm: tuple[AlertKind, str] | None = None
        with self._lock:
            if is_open == self._contact_open:
                return
            self._contact_open = is_open
            now = self._clock()
            if is_open:
                self._opened_at = now
                self._held_open_raised = False
                released = self._state == DoorState.UNLOCKED or self._held
                if not released and now - self._relocked_at > FORCED_GRACE_S:
                    self._alarm = AlertKind.FORCED.value
                    alarm = (AlertKind.FORCED, f"Door {self.spec.name} was forced open (opened while locked).")
            else:
                self._alarm = None
        if alarm is not None:
            log.warning(alarm[1])
            self._alert(*alarm)
        self._changed()

    def tick(self) -> None:
        """Relock when the unlock time is up, read the output's health, apply the fail mode, and
        raise "held open". Call it often (the runner does, several times a second)."""
        health = self._read_health()
        changed = False
        alarms: list[tuple[AlertKind, str]] = []
        with self._lock:
            now = self._clock()
            self._health = health
            if self._state == DoorState.UNLOCKED and now >= self._unlocked_until:
                self._set_state(DoorState.LOCKED)
                self._relocked_at = self._unlocked_until  # when the lock closed, however late this tick
                changed = True
            faults = [f for f in (f"output {health.status.value}: {health.detail}".rstrip(": ")
                                  if health.status == OutputStatus.DOWN else None, self._camera_fault) if f]
            if faults:
                fault = "; ".join(faults)
                safe = self.spec.fail_mode == FailMode.SAFE
                if safe and not self._held and health.status != OutputStatus.DOWN:
                    self._send(DoorMessage(MessageKind.HOLD, self.spec.name, reason="fail-safe: " + fault))
                    self._held = True
                if safe:
                    what = "released (fail-safe)" if self._held else "fail-safe: released once the output is back"
                else:
                    what = "locked (fail-secure)"
                detail = f"{what}: {fault}"
                changed |= detail != self._detail
                self._detail = detail
                if self._state != DoorState.OUT_OF_SERVICE:
                    self._set_state(DoorState.OUT_OF_SERVICE)
                    alarms.append((AlertKind.FAULT, f"Door {self.spec.name} is out of service: {detail}."))
                    changed = True
            elif self._state == DoorState.OUT_OF_SERVICE:
                if self._held:
                    self._send(DoorMessage(MessageKind.LOCK, self.spec.name, reason="back in service"))
                    self._held = False
                self._detail = ""
                self._set_state(DoorState.LOCKED)
                self._relocked_at = now
                alarms.append((AlertKind.RECOVERED, f"Door {self.spec.name} is back in service."))
                changed = True
            if (self._contact_open and not self._held_open_raised and not self._held
                    and now - self._opened_at > self.spec.held_open_s):
                self._held_open_raised = True
                self._alarm = AlertKind.HELD_OPEN.value
                alarms.append((AlertKind.HELD_OPEN, f"Door {self.spec.name} has been held open for more than "
                                                    f"{self.spec.held_open_s:.0f} s."))
                changed = True
        for kind, text in alarms:
            (log.info if kind == AlertKind.RECOVERED else log.warning)(text)
            self._alert(kind, text)
        if changed:
            self._changed()

    def close(self, timeout_s: float = 2.0) -> None:
        """Deliver what the output holds (within ``timeout_s``) and close it."""
        try:
            self.output.close(timeout_s)
        except Exception:
            log.exception("Closing the output of door %s failed", self.spec.name)

    # ------------------------------------------------------------------ inside
    def _unlock(self) -> None:
        self._unlocked_until = self._clock() + self.spec.unlock_seconds
        self._set_state(DoorState.UNLOCKED)

    def _set_state(self, state: DoorState) -> None:
        if state == self._state:
            return
        log.info("Door %s: %s -> %s", self.spec.name, self._state.value, state.value)
        self._state = state
        self._send(DoorMessage(MessageKind.STATE, self.spec.name, state=state, text=self._detail))

    def _send(self, message: DoorMessage) -> None:
        self.sent[message.kind] += 1
        try:
            self.output.send(message)
        except Exception:  # the interface says send never raises; a broken driver must not stop the door
            log.exception("Door output %s failed to take a message", self.output.describe())

    def _read_health(self) -> OutputHealth:
        try:
            return self.output.health()
        except Exception as exc:
            log.exception("Door output %s failed to report its health", self.output.describe())
            return OutputHealth(OutputStatus.DOWN, f"health unknown: {exc}")

    def _alert(self, kind: AlertKind, text: str, d: DoorDecision | None = None) -> None:
        if self.alerter is None:
            return
        if d is None:
            self.alerter.alert(kind, self.spec.name, text, self.output)
        else:
            self.alerter.alert(kind, self.spec.name, text, self.output, person=d.person, employee_id=d.employee_id,
                               decision=d.decision.value, reason=d.reason.value, event_id=d.event_id,
                               camera=d.camera)

    def _alert_decision(self, d: DoorDecision) -> None:
        where = f"door {self.spec.name} ({d.camera})"
        if d.decision in (Decision.UNKNOWN, Decision.AMBIGUOUS):
            what = "An unknown face" if d.decision == Decision.UNKNOWN else "A face too close to two people"
            self._alert(AlertKind.UNKNOWN, f"{what} at {where}.", d)
        elif d.decision == Decision.DENIED:
            self._alert(AlertKind.DENIED, f"{d.person or 'Someone'} was refused at {where}: {d.reason.value}.", d)
        elif d.decision == Decision.SPOOF:
            looks = f" (it looks like {d.person})" if d.person else ""
            why = f": {d.detail}" if d.detail else ""
            self._alert(AlertKind.SPOOF, f"Spoof suspected at {where}: a photo, a screen or a cut-out was shown to "
                                         f"the camera{looks}{why}.", d)
        elif d.flagged:
            self._alert(AlertKind.PASSBACK, f"{d.person} passed {where} again without passing the other way "
                                            "(anti-passback, flagged).", d)

    def _changed(self) -> None:
        if self._on_change is None:
            return
        try:
            self._on_change()
        except Exception:
            log.exception("A door status listener failed")


def _about(kind: MessageKind, door: str, d: DoorDecision, unlock_seconds: float | None = None) -> DoorMessage:
    """The OPEN or DENY message of a decision."""
    return DoorMessage(kind, door, ts=d.ts, decision=d.decision.value, reason=d.reason.value, person=d.person,
                       employee_id=d.employee_id, event_id=d.event_id, score=d.score, camera=d.camera,
                       unlock_seconds=unlock_seconds)
