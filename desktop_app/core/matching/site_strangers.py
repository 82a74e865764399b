"""The door's own impostors: faces the door logged as *unknown* join the stranger pool.

A face the door reported as unknown (a track that never reached a grant) is, by definition, not
an enrolled person, and it was seen by *this* camera in *this* light: exactly the impostor scores
the model prior (measured on LFW's varied photos) underestimates. Calibration uses these faces as
non-mated searches; once about ``1 / target_fpir`` of them (with the enrolled people's
leave-one-person-out searches) are in the pool, the site's own data sets the threshold instead of
the safe side (see :mod:`desktop_app.core.matching.calibration`).

What is kept (privacy): only the face *embedding* (a float32 vector), never a crop or a frame; one
face per unknown track, and only when it was seen in good conditions (so that a dark or blurred
face does not skew the pool). The pool of ``door-unknown`` embeddings is capped per model
(:attr:`SiteStrangerPolicy.cap`, oldest dropped first), every save is audited with its counts
(``strangers.door-unknown``), and erasing a model's data or the whole database removes them.

Faces are buffered in memory and saved in batches: at most every ``flush_every`` new faces or
``flush_after_s`` seconds after the first buffered one, then the threshold is recalibrated once
(:meth:`FaceGate.note_unknown_faces`). The buffer itself is bounded (``max_buffer``): when the
database cannot take the faces (read-only folder, full disk) the oldest are forgotten, and the door
keeps working.

Known limits: strangers the door *let in* are logged as granted, not unknown, so they never reach
the pool (with a threshold that is too low, the pool sees fewer high-scoring strangers than there
are); and an enrolled person whose face was logged as unknown enters the pool and raises the
threshold for themselves (the calibration reports such a face as "is this stranger enrolled?").
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from desktop_app.core.decision.policy import DecisionEvent, FrameObservation
from desktop_app.core.face.quality import open_set_conditions, recognition_issues
from desktop_app.core.types import Face
from desktop_app.core.vocabulary import Decision

#: the stranger-pool ``source`` of faces the door logged as unknown
DOOR_UNKNOWN = "door-unknown"


@dataclass(frozen=True)
class SiteStrangerPolicy:
    """How the door's unknown faces are kept.

    cap: door-unknown embeddings kept per model (oldest dropped beyond; the retention limit);
    flush_every: buffered faces that trigger a save and a recalibration;
    flush_after_s: seconds after the first buffered face when they are saved anyway (if at least
    one is waiting); max_buffer: faces held in memory at most while they cannot be saved.
    """

    cap: int = 20_000
    flush_every: int = 50
    flush_after_s: float = 600.0
    max_buffer: int = 1_000

    def __post_init__(self) -> None:
        for name in ("cap", "flush_every", "max_buffer"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"site stranger {name} must be an integer >= 1, got {value!r}.")
        if not math.isfinite(self.flush_after_s) or self.flush_after_s <= 0:
            raise ValueError(f"site stranger flush_after_s must be a positive number, got {self.flush_after_s!r}.")
        if self.max_buffer < self.flush_every:
            raise ValueError("site stranger max_buffer must be at least flush_every.")


@dataclass(frozen=True)
class StrangerFlush:
    """One save of door-unknown faces: added to the pool, dropped (oldest, beyond the cap), the
    door-unknown pool size after it, and the threshold recalibrated afterwards (None: calibration
    not possible, e.g. an empty gallery)."""

    added: int
    dropped: int
    pool: int
    threshold: float | None


def usable_stranger(face: Face) -> bool:
    """True when ``face`` is good enough to stand for a stranger in calibration: it may be matched
    at all (pose, blur) and in good conditions, i.e. it is decided by the calibrated threshold itself
    (a dim, low-contrast or small face is judged by the quality rule instead, see
    :func:`~desktop_app.core.face.quality.open_set_conditions`)."""
    return not recognition_issues(face.quality) and not open_set_conditions(face.quality)


def unknown_event_faces(
    decisions: Sequence[DecisionEvent], faces: Sequence[Face], observations: Sequence[FrameObservation]
) -> list[Face]:
    """The faces of this frame behind its *unknown* decisions (one per track; matched by box),
    keeping only those :func:`usable_stranger` accepts. faces and observations are parallel."""
    boxes = [ev.box for ev in decisions if ev.decision == Decision.UNKNOWN]
    if not boxes:
        return []
    return [f for f, o in zip(faces, observations, strict=True) if o.box in boxes and usable_stranger(f)]


class StrangerBuffer:
    """Door-unknown embeddings waiting to be saved. Not thread-safe (FaceGate holds its lock).

    clock: seconds, monotonic (injectable for tests)."""

    def __init__(self, policy: SiteStrangerPolicy | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy or SiteStrangerPolicy()
        self._clock = clock
        self._rows: deque[np.ndarray] = deque(maxlen=self.policy.max_buffer)
        self._since: float | None = None
        self._retry_at = -math.inf
        self.forgotten = 0  # faces dropped from a full buffer (the database would not take them)

    def __len__(self) -> int:
        return len(self._rows)

    def add(self, embedding: np.ndarray) -> None:
        """Buffer one (D,) float32 embedding."""
        v = np.asarray(embedding, np.float32).reshape(-1)
        if not np.all(np.isfinite(v)) or float(np.linalg.norm(v)) < 1e-6:
            return  # never store a broken vector
        if len(self._rows) == self._rows.maxlen:
            self.forgotten += 1
        self._rows.append(v)
        if self._since is None:
            self._since = self._clock()

    def due(self) -> bool:
        """True when the buffer should be saved: enough faces, or the oldest waited long enough."""
        if not self._rows or self._clock() < self._retry_at:
            return False
        waited = self._clock() - (self._since if self._since is not None else self._clock())
        return len(self._rows) >= self.policy.flush_every or waited >= self.policy.flush_after_s

    def peek(self) -> np.ndarray:
        """The buffered embeddings, (N, D) float32 (N >= 1; call only when not empty)."""
        return np.stack(list(self._rows))

    def clear(self) -> None:
        """Forget the buffer (after a save)."""
        self._rows.clear()
        self._since = None
        self._retry_at = -math.inf

    def retry_later(self) -> None:
        """A save failed: keep the faces (bounded), wait another ``flush_after_s`` before retrying."""
        self._retry_at = self._clock() + self.policy.flush_after_s
