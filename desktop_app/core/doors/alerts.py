"""Alerts: notices for people (unknown face, denied attempt, suspected spoof, door fault, door forced or held open),
sent as ALERT messages through the door's own output and/or one site-wide alert output, as the
``alerts`` settings say (:class:`~desktop_app.core.config.AlertSettings`). Floods are dropped: at
most one alert of a kind per door every ``min_interval_s`` seconds."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from enum import StrEnum, unique

from desktop_app.core.config import AlertSettings
from desktop_app.core.outputs.base import DoorMessage, DoorOutput, MessageKind, OutputHealth
from desktop_app.core.outputs.registry import open_output
from desktop_app.core.outputs.sealed import SEALED_SCHEME

log = logging.getLogger("facegate.door")

SITE = "site"
"""The door name a site-wide output is opened with (it serves every door)."""


@unique
class AlertKind(StrEnum):
    """What an alert is about; the ``reason`` of its ALERT message."""

    UNKNOWN = "unknown face"
    """A face matched nobody enrolled (or two people too closely to tell apart)."""
    DENIED = "denied"
    """A recognised person was refused (not permitted, schedule, validity, deactivated, anti-passback)."""
    PASSBACK = "anti-passback flagged"
    """A second entry without an exit was let through and flagged (anti-passback "flag")."""
    FAULT = "door fault"
    """The door went out of service (output down, every camera lost)."""
    RECOVERED = "back in service"
    """The door is back in service after a fault."""
    FORCED = "door forced"
    """The door contact opened while the door was locked."""
    HELD_OPEN = "held open"
    """The door stayed open longer than its held-open time."""
    SPOOF = "spoof suspected"
    """The liveness check judged a face a presentation attack (photo, screen, cut-out)."""


def _wanted(settings: AlertSettings, kind: AlertKind) -> bool:
    if kind == AlertKind.UNKNOWN:
        return settings.on_unknown
    if kind in (AlertKind.DENIED, AlertKind.PASSBACK):
        return settings.on_denied
    if kind in (AlertKind.FAULT, AlertKind.RECOVERED):
        return settings.on_fault
    if kind == AlertKind.SPOOF:
        return settings.on_spoof
    return settings.on_door_alarm


class Alerter:
    """Sends alerts as the settings say. Thread-safe.

    settings: the ``alerts`` section; site_output: the site-wide output (None: none; see
    :meth:`open`); clock: monotonic seconds, for the flood limit."""

    def __init__(self, settings: AlertSettings, site_output: DoorOutput | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.site_output = site_output
        self._clock = clock
        self._last: dict[tuple[str, AlertKind], float] = {}
        self._lock = threading.Lock()
        #: alerts sent (kind, door, text), newest last, at most 100: for the app and the tests
        self.recent: list[tuple[AlertKind, str, str]] = []

    @classmethod
    def open(cls, settings: AlertSettings) -> Alerter:
        """An alerter with its site-wide output opened (ValueError for a bad URI)."""
        site = open_output(settings.output, door=SITE, secret=settings.secret or None) if settings.output else None
        if site is not None and site.scheme == SEALED_SCHEME:  # its stored URI cannot be decrypted here
            log.warning("The site-wide alert output is down: %s", site.health().detail)
        return cls(settings, site)

    def site_health(self) -> OutputHealth | None:
        """The site-wide output's health (None: there is none); DOWN with the reason when its
        stored URI cannot be decrypted here (``outputs.sealed``)."""
        return None if self.site_output is None else self.site_output.health()

    def alert(self, kind: AlertKind, door: str, text: str, door_output: DoorOutput | None = None, *,
              person: str | None = None, employee_id: str | None = None, decision: str | None = None,
              reason: str | None = None, event_id: str | None = None, camera: str | None = None) -> bool:
        """Send one alert about ``door`` (``text``: one readable line) unless the settings leave
        this kind out or one of the same kind left this door less than ``min_interval_s`` ago.
        Returns True when it was sent to at least one output. Never raises."""
        if not _wanted(self.settings, kind):
            return False
        now = self._clock()
        with self._lock:
            last = self._last.get((door, kind))
            if last is not None and now - last < self.settings.min_interval_s:
                log.debug("Alert dropped (flood limit): %s at %s", kind, door)
                return False
            self._last[(door, kind)] = now
            self.recent = [*self.recent[-99:], (kind, door, text)]
        message = DoorMessage(MessageKind.ALERT, door, text=text, person=person, employee_id=employee_id,
                              decision=decision, reason=reason or kind.value, event_id=event_id, camera=camera)
        outputs = [o for o in ((door_output if self.settings.door_outputs else None), self.site_output)
                   if o is not None]
        for out in outputs:
            try:
                out.send(message)
            except Exception:  # a driver must not raise from send; a broken one must not stop the door
                log.exception("Door output %s failed to take an alert", out.describe())
        return bool(outputs)

    def close(self, timeout_s: float = 2.0) -> None:
        """Deliver what the site-wide output holds (within ``timeout_s``) and close it."""
        if self.site_output is not None:
            self.site_output.close(timeout_s)
