"""Run doors: several cameras at once, one shared face engine, each door driving its lock.

Threads: one capture thread per camera (:class:`~desktop_app.core.video.latest_frame.LatestFrameReader`,
retried for ever when a live camera is lost), and one processing loop (:meth:`DoorRunner.run`,
the caller's thread, or a thread of its own with :meth:`DoorRunner.start`). Each turn of the loop
takes the newest frame of every camera that has one and embeds the faces of all of them in one
call (``FaceEngine.analyze_many``); each camera keeps its own live session (tracks, votes,
cooldowns) whose events carry its door and direction. The doors' controllers act on the events
(OPEN, DENY, alerts), are ticked several times a second (relock, output health, fail mode, held
open), and take remote opens from the database queue (``facegate door open``, polled twice a
second) and from their output's command channel (MQTT).

The loop outlives what it can: an output that is down (the door is out of service, fail mode
applied), a camera that is lost (reconnected), a locked database (events wait in the spool). It
ends at the end of every file source, after ``max_frames`` per camera, ``duration_s``, on
:meth:`DoorRunner.stop`, or on Ctrl+C.

Status: :meth:`DoorRunner.snapshot` and :meth:`DoorRunner.subscribe` (see
:mod:`desktop_app.core.doors.status`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

from desktop_app.core.access.model import CameraSpec, DoorSpec
from desktop_app.core.doors.alerts import Alerter
from desktop_app.core.doors.contact import DoorContact, open_contact
from desktop_app.core.doors.context import DoorContext
from desktop_app.core.doors.controller import DoorController, DoorDecision
from desktop_app.core.doors.passback import Passage, Passback
from desktop_app.core.doors.status import CameraStatus, DoorStatus, LastDecision
from desktop_app.core.errors import FaceGateError
from desktop_app.core.live.session import FrameResult, LiveSession, LoggedEvent, process_frames
from desktop_app.core.outputs.base import redact_uri
from desktop_app.core.outputs.registry import open_output
from desktop_app.core.privacy.retention import RetentionScheduler
from desktop_app.core.service import FaceGate
from desktop_app.core.video.latest_frame import LatestFrameReader
from desktop_app.core.video.sources import Frame, FrameSource, VideoFileSource, open_source
from desktop_app.core.vocabulary import AccessReason, Decision, Direction, LivenessMode, SourceState

log = logging.getLogger("facegate.door")

TICK_S = 0.1
"""Seconds between two ticks of the door controllers (relock, health, fail mode)."""
COMMAND_POLL_S = 0.5
"""Seconds between two looks at the database's remote-open queue."""
STATUS_EVERY_S = 1.0
"""Seconds between two status notices of every door (camera figures), changes aside."""
_LOST = (SourceState.RECONNECTING, SourceState.FAILED)

SourceFactory = Callable[[CameraSpec], FrameSource]
"""Builds a new, unopened source for a camera (called again on every reconnection)."""


def select_doors(all_doors: Sequence[DoorSpec], names: Sequence[str] = ()) -> list[DoorSpec]:
    """The doors named (all when none is), in the order given; ValueError (readable) for a name
    that is no door, for no door configured, and for a door without a camera."""
    if not all_doors:
        raise ValueError("no doors are configured: add one with "
                         "`facegate door add --db DB --name NAME --source SRC`, or run a camera with --source")
    by_name = {d.name.casefold(): d for d in all_doors}
    chosen: list[DoorSpec] = []
    for name in names:
        door = by_name.get(name.strip().casefold())
        if door is None:
            known = ", ".join(sorted(d.name for d in all_doors))
            raise ValueError(f"no door named {name!r}: the doors are {known}")
        if door not in chosen:
            chosen.append(door)
    chosen = chosen or list(all_doors)
    blind = [d.name for d in chosen if not d.cameras]
    if blind:
        raise ValueError(f"door {blind[0]!r} has no camera: add one with "
                         f"`facegate door add --db DB --name {blind[0]} --source SRC`")
    return chosen


def default_source(realtime: bool) -> SourceFactory:
    """Sources as ``--source`` opens them; with ``realtime`` a video file is read at its frame rate."""
    def build(camera: CameraSpec) -> FrameSource:
        source = open_source(camera.source)
        if realtime and isinstance(source, VideoFileSource):
            source.realtime = True
        return source
    return build


@dataclass
class CameraStats:
    """A camera's figures for the run. frames: processed; wall_s: from its first to its last frame
    processed (seconds); latency_ms: for each OPEN this camera caused, milliseconds from the frame
    in which its face (track) first appeared to the OPEN handed to the output; events: decided;
    dropped: frames the camera gave that a newer one replaced before they were processed."""

    name: str
    door: str
    frames: int = 0
    dropped: int = 0
    events: int = 0
    #: faces embedded (the others reused their track's embedding), over all frames
    embedded: int = 0
    #: faces seen (too-small ones left out), over all frames
    faces: int = 0
    first_at: float | None = None
    last_at: float | None = None
    latency_ms: list[float] = field(default_factory=list)
    final_state: str = ""
    #: milliseconds the liveness checks took per processed frame (the last 4096 frames; empty with
    #: liveness off)
    liveness_ms: deque[float] = field(default_factory=lambda: deque(maxlen=4096))
    #: spoof events this camera logged
    spoofs: int = 0

    @property
    def wall_s(self) -> float:
        return (self.last_at - self.first_at) if self.first_at is not None and self.last_at is not None else 0.0

    @property
    def fps(self) -> float:
        """Frames processed per second (frames after the first, over the time they took)."""
        return (self.frames - 1) / self.wall_s if self.frames > 1 and self.wall_s > 0 else 0.0


@dataclass
class DoorRunSummary:
    """What a run did: per-camera figures, the events in order, each door's last status, the
    events still waiting for the database (kept in the spool), and the run's wall time (s)."""

    cameras: list[CameraStats]
    events: list[LoggedEvent]
    doors: tuple[DoorStatus, ...]
    pending_events: int
    wall_s: float


class _Camera:
    """One running camera: its spec, reader, session, figures."""

    def __init__(self, door: DoorSpec, spec: CameraSpec, name: str, reader: LatestFrameReader,
                 session: LiveSession) -> None:
        self.door = door
        self.spec = spec
        self.name = name
        self.reader = reader
        self.session = session
        self.stats = CameraStats(name, door.name)
        self.recent: deque[float] = deque(maxlen=32)  # monotonic times of the last frames processed
        self.first_seen: dict[int, float] = {}  # track id -> frame ts of its first appearance
        self.last_frame_at: datetime | None = None
        self.done = False  # max_frames reached

    def fps(self) -> float:
        if len(self.recent) < 2 or time.monotonic() - self.recent[-1] > 5.0:
            return 0.0
        return (len(self.recent) - 1) / max(self.recent[-1] - self.recent[0], 1e-6)

    def status(self) -> CameraStatus:
        return CameraStatus(self.name, self.door.name, self.spec.direction, redact_uri(self.spec.source),
                            self.reader.state, self.reader.message, round(self.fps(), 2), self.stats.frames,
                            self.reader.dropped, self.last_frame_at)


class DoorRunner:
    """Runs ``doors`` (each with its cameras and output) on one :class:`FaceGate`.

    gate: shared by every camera (one engine, one gallery, one database); doors: the doors to run
    (see :func:`select_doors`); site_doors: every door of the site, for anti-passback pairs
    (default: ``gate.doors()``); realtime: read video files at their frame rate, keeping only the
    newest frame as with a camera (else every frame, in order); alerter: where alerts go (default:
    from the ``alerts`` settings); sources: builds each camera's source (default: as ``--source``);
    on_event: called with every event decided, from the loop's thread; liveness: the liveness
    mode of every door for this run (``run --liveness``; None: each door's own, else the settings').

    Not reusable: one :meth:`run` (or :meth:`start`) per runner."""

    def __init__(self, gate: FaceGate, doors: Sequence[DoorSpec], *, site_doors: Sequence[DoorSpec] | None = None,
                 realtime: bool = False, alerter: Alerter | None = None, sources: SourceFactory | None = None,
                 on_event: Callable[[LoggedEvent], None] | None = None,
                 on_camera_state: Callable[[str, str, str], None] | None = None,
                 liveness: LivenessMode | None = None) -> None:
        self.gate = gate
        self.liveness = None if liveness is None else LivenessMode(liveness)
        self.doors = list(doors)
        self.realtime = realtime
        self._site_doors = list(site_doors) if site_doors is not None else None
        self._alerter = alerter
        self._sources = sources or default_source(realtime)
        self._on_event = on_event
        self._on_camera_state = on_camera_state
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listeners: list[Callable[[DoorStatus], None]] = []
        self._lock = threading.RLock()
        self._dirty: set[str] = set()
        self.controllers: dict[str, DoorController] = {}
        self.cameras: list[_Camera] = []
        self._contacts: list[DoorContact] = []
        self.passback: Passback | None = None
        self.events: list[LoggedEvent] = []
        self._summary: DoorRunSummary | None = None
        #: retention (events and snapshots past the site's limits): at start, then daily, on its own thread
        self.retention = RetentionScheduler(gate)

    # ------------------------------------------------------------------ the app's side
    def subscribe(self, listener: Callable[[DoorStatus], None]) -> Callable[[], None]:
        """Call ``listener(status)`` from the runner's thread when a door changes and about once a
        second; returns a function that unsubscribes. A listener that raises is logged, not removed."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)
        return unsubscribe

    def snapshot(self) -> tuple[DoorStatus, ...]:
        """Every door's status now (any thread); empty before the doors are open."""
        with self._lock:
            return tuple(self._door_status(name) for name in self.controllers)

    def start(self) -> None:
        """Run in a thread of its own (the app); :meth:`stop` ends it."""
        if self._thread is not None:
            raise RuntimeError("DoorRunner.start() can be called only once")
        self._thread = threading.Thread(target=self.run, name="DoorRunner", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> DoorRunSummary | None:
        """Stop the loop (from any thread) and wait for it (when started with :meth:`start`);
        returns the run's summary once it has ended."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        return self._summary

    def wait(self, timeout: float | None = None) -> DoorRunSummary | None:
        """Wait (at most ``timeout`` seconds) for a run started with :meth:`start` to end by itself
        (end of its files, ``max_frames``); returns its summary, None while it still runs."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self._summary

    @property
    def summary(self) -> DoorRunSummary | None:
        """The run's summary once it has ended."""
        return self._summary

    # ------------------------------------------------------------------ the loop
    def run(self, *, max_frames: int | None = None, duration_s: float | None = None) -> DoorRunSummary:
        """Open the doors and run until every camera ended (files), each processed ``max_frames``
        frames, ``duration_s`` seconds passed, :meth:`stop`, or Ctrl+C; then close everything and
        return the summary. Raises ValueError (readable) for a bad output or contact URI, before
        anything starts."""
        t_start = time.monotonic()
        self._max_frames = max_frames
        self._open()
        deadline = None if duration_s is None else t_start + duration_s
        next_tick = next_poll = next_status = 0.0
        try:
            while not self._stop.is_set() and (deadline is None or time.monotonic() < deadline):
                now = time.monotonic()
                if now >= next_tick:
                    next_tick = now + TICK_S
                    self._tick()
                if now >= next_poll:
                    next_poll = now + COMMAND_POLL_S
                    self._poll_commands()
                if now >= next_status:
                    next_status = now + STATUS_EVERY_S
                    self._notify(all_doors=True)
                else:
                    self._notify()
                batch = self._gather()
                if batch:
                    self._process(batch)
                    continue
                if all(c.done or c.reader.state in (SourceState.ENDED, SourceState.FAILED, SourceState.STOPPED)
                       for c in self.cameras):
                    break
                for cam in self.cameras:  # no picture: still follow the database and write what waits
                    cam.session.sync()
        except KeyboardInterrupt:  # Ctrl+C is how a door loop stops: end with the summary
            pass
        finally:
            self._summary = self._close(time.monotonic() - t_start)
        return self._summary

    def _open(self) -> None:
        gate = self.gate
        site = self._site_doors if self._site_doors is not None else list(gate.doors())
        for door in self.doors:  # the doors run here count, whatever the database holds now
            if all(d.name != door.name for d in site):
                site.append(door)
        if self._alerter is None:
            self._alerter = Alerter.open(gate.config.alerts)
        if any(d.passback != "off" for d in site):
            self.passback = Passback(site, lookup=self._last_passage)
        try:
            for door in self.doors:
                output = open_output(door.output, door=door.name, secret=door.secret)
                ctl = DoorController(door, output, alerter=self._alerter, on_change=partial(self._mark, door.name))
                output.on_command(partial(self._command, door.name))
                with self._lock:
                    self.controllers[door.name] = ctl
                ctl.start()
                if door.contact:
                    contact = open_contact(door.contact)
                    contact.start(ctl.contact)
                    self._contacts.append(contact)
            for door in self.doors:
                for spec, name in zip(door.cameras, door.camera_names(), strict=True):
                    self.cameras.append(self._camera(door, spec, name))
        except BaseException:
            self._close(0.0)
            raise
        for cam in self.cameras:
            cam.reader.start()
        self.retention.start()

    def _camera(self, door: DoorSpec, spec: CameraSpec, name: str) -> _Camera:
        build = self._sources
        live = build(spec).is_live
        on_state = None
        if self._on_camera_state is not None:
            report = self._on_camera_state

            def on_state(state: str, message: str) -> None:
                report(name, state, message)
        reader = LatestFrameReader.for_door(lambda: build(spec), live=live, drop_stale=live or self.realtime,
                                            on_state=on_state)
        context = DoorContext(door, name, spec.direction, self.passback)
        session = LiveSession(self.gate, camera=name, door=context, liveness=self.liveness)
        return _Camera(door, spec, name, reader, session)

    def _last_passage(self, person_id: int, doors: Sequence[str]) -> Passage | None:
        """Anti-passback's look at the stored events: the person's latest granted passage through
        ``doors`` before this run (FaceGateError when the database cannot say just now)."""
        found = self.gate.last_passage(person_id, doors)
        if found is None:
            return None
        direction, door, ts = found
        return Passage(person_id, door, Direction(direction), ts.timestamp())

    def _gather(self) -> list[tuple[_Camera, Frame]]:
        """The newest frame of every camera that has one; waits a little when none has."""
        for wait in (0.0, 0.02):
            batch: list[tuple[_Camera, Frame]] = []
            for cam in self.cameras:
                if cam.done:
                    continue
                frame = cam.reader.get(timeout=0.0) if cam.reader.state != SourceState.IDLE else None
                if frame is not None:
                    batch.append((cam, frame))
            if batch:
                return batch
            if wait:
                self._stop.wait(wait)
        return []

    def _process(self, batch: list[tuple[_Camera, Frame]]) -> None:
        """One frame of each camera in ``batch``: the faces that need an embedding, from all the
        frames, in one embedder call (``process_frames``); each camera's session decides."""
        results: list[FrameResult | None]
        try:
            results = list(process_frames([(cam.session, frame) for cam, frame in batch]))
        except (FaceGateError, OSError) as exc:  # the database or the disk: the door goes on, camera by camera
            log.warning("A batch of %d frame(s) failed (%s); processing them one by one.", len(batch), exc)
            results = []
            for cam, frame in batch:
                try:
                    results.append(cam.session.process(frame))
                except (FaceGateError, OSError) as one:
                    log.warning("Camera %s: frame %d skipped: %s", cam.name, frame.index, one)
                    results.append(None)
        for (cam, frame), result in zip(batch, results, strict=True):
            if result is not None:
                self._frame_done(cam, frame, result)

    def _frame_done(self, cam: _Camera, frame: Frame, result: FrameResult) -> None:
        now = time.monotonic()
        st = cam.stats
        st.frames += 1
        st.embedded += result.embedded
        if cam.session.liveness_mode is not LivenessMode.OFF:
            st.liveness_ms.append(result.liveness_ms)
        st.faces += sum(f.track_id >= 0 for f in result.faces)
        st.first_at = now if st.first_at is None else st.first_at
        st.last_at = now
        cam.recent.append(now)
        cam.last_frame_at = datetime.now(UTC)
        for face in result.faces:
            if face.track_id >= 0:
                cam.first_seen.setdefault(face.track_id, frame.ts)
        if len(cam.first_seen) > 512:  # old tracks: keep the newest half
            for tid in sorted(cam.first_seen)[:256]:
                del cam.first_seen[tid]
        for ev in result.events:
            self._act(cam, ev)
        if self._max_frames_reached(cam):
            cam.done = True
            cam.reader.stop()

    _max_frames: int | None = None

    def _max_frames_reached(self, cam: _Camera) -> bool:
        return self._max_frames is not None and cam.stats.frames >= self._max_frames

    def _act(self, cam: _Camera, ev: LoggedEvent) -> None:
        cam.stats.events += 1
        cam.stats.spoofs += ev.decision == Decision.SPOOF
        with self._lock:
            self.events.append(ev)
        ctl = self.controllers[cam.door.name]
        person = self.gate.door_person(ev.person_id) if ev.person_id is not None else None
        reason = ev.reason or (AccessReason.GRANTED if ev.decision == Decision.GRANTED else AccessReason.UNKNOWN)
        decision = DoorDecision(ev.decision, reason, cam.name, cam.spec.direction, person=ev.name,
                                employee_id=person.employee_id if person is not None else None,
                                event_id=ev.uid or None, score=ev.score, ts=ev.ts,
                                flagged=ev.decision == Decision.GRANTED and reason == AccessReason.ANTI_PASSBACK,
                                detail="; ".join(ev.liveness))
        sent = ctl.decide(decision)
        if sent is not None and decision.decision == Decision.GRANTED:
            first = cam.first_seen.get(ev.track_id)
            if first is not None:
                cam.stats.latency_ms.append((time.monotonic() - first) * 1e3)
        if self._on_event is not None:
            try:
                self._on_event(ev)
            except Exception:
                log.exception("An event listener failed")

    def _tick(self) -> None:
        for door in self.doors:
            cams = [c for c in self.cameras if c.door.name == door.name]
            states = [(c, c.reader.state) for c in cams]
            lost = cams and all(s in _LOST for _, s in states)
            fault = "; ".join(f"{c.name}: {c.reader.message or s.value}" for c, s in states) if lost else None
            self.controllers[door.name].cameras(fault)
        for ctl in self.controllers.values():
            ctl.tick()

    def _poll_commands(self) -> None:
        try:
            commands = self.gate.take_door_commands([d.name for d in self.doors])
        except FaceGateError as exc:
            log.warning("Cannot read the remote-open queue yet: %s", exc)
            return
        for command_id, door, command in commands:
            ctl = self.controllers.get(door)
            if ctl is None:
                continue
            if command == "open":
                ctl.remote_open(f"queue #{command_id}")  # who asked is in the audit ("door.open")
            else:
                log.warning("Door %s: unknown remote command %r ignored", door, command)

    def _command(self, door: str, command: str) -> None:
        """A command from the door's output (MQTT command topic), in the driver's thread: queued
        through the database (audited, opened at the next poll); opened at once when the
        database refuses it (logged)."""
        if command.strip().lower() != "open":
            log.warning("Door %s: unknown command %r from its output ignored", door, command)
            return
        try:
            self.gate.request_door_open(door, actor="mqtt")
        except FaceGateError as exc:
            log.warning("Door %s: the MQTT open cannot be audited (%s); opening anyway.", door, exc)
            ctl = self.controllers.get(door)
            if ctl is not None:
                ctl.remote_open("mqtt")

    # ------------------------------------------------------------------ status
    def _mark(self, door: str) -> None:
        with self._lock:
            self._dirty.add(door)

    def _notify(self, all_doors: bool = False) -> None:
        with self._lock:
            names = list(self.controllers) if all_doors else [n for n in self.controllers if n in self._dirty]
            self._dirty.clear()
            listeners = list(self._listeners)
            statuses = [self._door_status(n) for n in names] if listeners else []
        for status in statuses:
            for listener in listeners:
                try:
                    listener(status)
                except Exception:
                    log.exception("A door status listener failed")

    def _door_status(self, name: str) -> DoorStatus:
        ctl = self.controllers[name]
        last = ctl.last_decision
        return DoorStatus(
            name=name, state=ctl.state, detail=ctl.detail, fail_mode=ctl.spec.fail_mode,
            output=ctl.output.describe(), output_health=ctl.output_health,
            cameras=tuple(c.status() for c in self.cameras if c.door.name == name),
            last_decision=None if last is None else LastDecision(last.decision, last.reason, last.person,
                                                                 last.camera, last.ts),
            unlocked_for_s=round(ctl.unlocked_for(), 2), contact_open=ctl.contact_open, alarm=ctl.alarm,
            ts=datetime.now(UTC))

    # ------------------------------------------------------------------ closing
    def _close(self, wall_s: float) -> DoorRunSummary:
        self.retention.stop()
        for cam in self.cameras:
            cam.reader.stop()
            cam.stats.final_state = cam.reader.state.value
            cam.stats.dropped = cam.reader.dropped
        for contact in self._contacts:
            try:
                contact.close()
            except Exception:
                log.exception("Closing a door contact failed")
        try:  # a last try, so that a short lock does not leave events for the next start
            self.gate.flush_events()
        except FaceGateError as exc:
            log.warning("Events wait for the database: %s", exc)
        statuses = self.snapshot()
        for ctl in self.controllers.values():
            ctl.close()
        if self._alerter is not None:
            self._alerter.close()
        return DoorRunSummary([c.stats for c in self.cameras], list(self.events), statuses,
                              self.gate.pending_events, wall_s)
