"""The closed sets of words FaceGate uses across core, UI and CLI: decisions, face states, source
states and job states.

Each is a :class:`enum.StrEnum`: a member *is* its string value (``Decision.GRANTED == "granted"``,
``json.dumps`` and SQLite store it as ``"granted"``), so code and data written with the plain
strings keep working, while new code gets one spelling, type checking and a place to document
what each word means.
"""

from __future__ import annotations

from enum import StrEnum, unique


@unique
class Decision(StrEnum):
    """What was decided for a face at the door; the ``decision`` of a stored event."""

    GRANTED = "granted"
    """An enrolled, active person was recognised (threshold, margin and votes passed): let in."""
    UNKNOWN = "unknown"
    """A face was seen long enough without being recognised: a stranger (not let in)."""
    DENIED = "denied"
    """An enrolled but deactivated person was recognised: refused, and the guard sees who."""
    AMBIGUOUS = "ambiguous"
    """The face matched two enrolled people above the threshold, too close to tell apart (the
    margin failed over the vote window): not let in, no person linked; the event names both
    candidates ("ambiguous: A or B") so that staff can help."""
    SPOOF = "spoof"
    """The liveness check judged the face a presentation attack (a photo, a screen, a cut-out) or
    saw no sign of life in time: not let in, whoever it looks like; the event keeps its snapshot,
    the reason "spoof suspected" and the check's reasons, and an alert is raised. Only at a door
    (or camera) whose liveness mode is not off."""


@unique
class FaceState(StrEnum):
    """How one face of one frame is drawn in the door view (``TrackedFace.status``)."""

    RECOGNISED = "recognised"
    """A grant holds for this face's track: the person was let in."""
    DENIED = "denied"
    """Recognised as a deactivated person: not let in."""
    MATCH = "match"
    """This frame votes for a person, but the track has not reached the votes needed yet."""
    UNKNOWN = "unknown"
    """Matchable, but no enrolled person passed the threshold and margin in this frame."""
    POOR_VIEW = "poor-view"
    """Found and tracked, but too turned away or blurred to be matched."""
    TOO_SMALL = "too-small"
    """Found, but too small (eyes too close together in pixels) to be recognised."""
    CHECKING = "checking"
    """The liveness check has not decided yet for this face: the door waits (``TrackedFace.prompt``
    says what to show: "keep looking at the camera", or the challenge action)."""
    SPOOF = "spoof"
    """The liveness check judged this face a presentation attack: never let in."""


@unique
class SourceState(StrEnum):
    """State of a frame source read in the background (``LatestFrameReader``)."""

    IDLE = "idle"
    """Created; reading has not started."""
    CONNECTING = "connecting"
    """Opening the source for the first time."""
    LIVE = "live"
    """Frames are flowing (again)."""
    RECONNECTING = "reconnecting"
    """The source was lost or could not be reopened; another attempt follows after a delay."""
    ENDED = "ended"
    """A finite source (video file, image folder) reached its end. Final."""
    FAILED = "failed"
    """The source could not be opened, or every reconnection attempt failed. Final."""
    STOPPED = "stopped"
    """Reading was stopped on request. Final."""
    CLOSED = "closed"
    """The GUI's capture worker closed the source itself (switching source, shutting down). Final."""

    @property
    def final(self) -> bool:
        """True for the states after which no frame will come."""
        return self in FINAL_SOURCE_STATES


FINAL_SOURCE_STATES: frozenset[SourceState] = frozenset(
    {SourceState.ENDED, SourceState.FAILED, SourceState.STOPPED, SourceState.CLOSED}
)
"""Source states after which no frame will come."""


@unique
class JobState(StrEnum):
    """Life of a background job (bulk enrolment, re-embedding, export)."""

    QUEUED = "queued"
    """Created; not running yet."""
    RUNNING = "running"
    """Running in a pool thread."""
    SUCCEEDED = "succeeded"
    """Ended with a result. Final."""
    FAILED = "failed"
    """Ended with an error. Final."""
    CANCELLED = "cancelled"
    """Cancelled by the user; nothing of it was kept. Final."""

    @property
    def final(self) -> bool:
        """True once the job has ended, whichever way."""
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


@unique
class TtaMode(StrEnum):
    """When a test-time augmentation runs: ``RecognitionSettings.flip_tta`` (a face's embedding
    averaged with its mirror image's, twice the embedding compute) and
    ``RecognitionSettings.alignment_views`` (averaged over the alignments of the face found again at
    other scales, :mod:`~desktop_app.core.face.alignment_views`)."""

    ALWAYS = "always"
    """Every embedding: enrolment, calibration and every face at the door."""
    NEAR_THRESHOLD = "near-threshold"
    """Enrolment and calibration always; at the door only the faces whose plain score falls within
    ``flip_band`` of a decision (threshold or margin): nearly the decisions of ``always``, faster."""
    NEVER = "never"
    """No embedding gets it (templates included)."""


@unique
class Direction(StrEnum):
    """Which way a door camera faces: who it sees is coming in or going out."""

    IN = "in"
    """An entry camera: a grant here is an arrival (attendance's first in)."""
    OUT = "out"
    """An exit camera: a grant here is a departure (attendance's last out)."""


@unique
class FailMode(StrEnum):
    """What a door's lock does when FaceGate or the door output fails."""

    SECURE = "secure"
    """Fail-secure: the door stays locked (the default; offices, stores)."""
    SAFE = "safe"
    """Fail-safe: the door is released (fire exits, escape routes)."""


@unique
class AccessReason(StrEnum):
    """Why a door decided what it did; stored with every event, a column of ``events --csv``.

    ``GRANTED`` goes with the decision "granted"; ``NOT_PERMITTED``, ``OUTSIDE_SCHEDULE``,
    ``EXPIRED``, ``DEACTIVATED`` and ``ANTI_PASSBACK`` with "denied"; ``UNKNOWN`` with "unknown",
    ``AMBIGUOUS`` with "ambiguous" and ``SPOOF`` with "spoof"."""

    GRANTED = "granted"
    """A live, recognised, active person within their validity, permitted at this door now."""
    NOT_PERMITTED = "not permitted at this door"
    """Recognised, but none of the person's groups is permitted at this door."""
    OUTSIDE_SCHEDULE = "outside schedule"
    """Permitted at this door, but not at this time (weekly windows, holidays, in the schedule's zone)."""
    EXPIRED = "expired"
    """Outside the person's validity period (before ``valid_from`` or after ``valid_until``)."""
    DEACTIVATED = "deactivated"
    """The person is enrolled but deactivated."""
    ANTI_PASSBACK = "anti-passback"
    """A second entry without an exit (or exit without entry) through a paired door. With the
    decision "granted" (a door set to flag, not refuse): let through, and the event flagged."""
    UNKNOWN = "unknown"
    """The face matched nobody enrolled."""
    AMBIGUOUS = "ambiguous"
    """The face matched two people too closely to tell apart."""
    SPOOF = "spoof suspected"
    """The liveness check judged the face a photo, a screen or a cut-out (or saw no sign of life)."""


@unique
class DoorState(StrEnum):
    """What a door is doing now, as the app shows it and MQTT publishes it (retained)."""

    LOCKED = "locked"
    """Closed and locked; the output is working."""
    UNLOCKED = "unlocked"
    """Released for its unlock time after a grant or a remote open (or held open by fail-safe)."""
    OUT_OF_SERVICE = "out-of-service"
    """The output or every camera is failing: fail-secure keeps it locked, fail-safe releases it."""


@unique
class LivenessMode(StrEnum):
    """How a door checks that the face in front of it is a live person (presentation-attack
    detection, ``desktop_app.core.liveness``)."""

    OFF = "off"
    """No check: any recognised face may be granted (a photo or a phone showing one too)."""
    PASSIVE = "passive"
    """Watch the tracked face for a few frames: it must move like a head (not like a flat picture)
    and show no screen or print cue (border, moiré, banding, glare); nothing is asked of the person."""
    CHALLENGE = "challenge"
    """Ask for a short random sequence of head actions (:class:`ChallengeAction`) and check that
    it happened in order, each within its time."""


@unique
class ChallengeAction(StrEnum):
    """One action the challenge mode asks for, checked from the five landmarks' head pose."""

    TURN_LEFT = "turn left"
    """Turn the head to the person's left (the face moves to the image's right in a mirror view)."""
    TURN_RIGHT = "turn right"
    """Turn the head to the person's right."""
    LOOK_UP = "look up"
    """Tilt the head up."""
