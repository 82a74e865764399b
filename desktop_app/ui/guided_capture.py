"""Guided webcam enrolment, without widgets: which pose comes next, whether a frame is good for it,
and automatic capture once it stayed good for a few frames in a row.

Head pose comes from ``FaceQuality`` (degrees, 0 = frontal): yaw > 0 when the nose moves to the
image's right (the person turned to their left as the camera sees them), pitch < 0 when the head
is tilted up. Turned and tilted shots are judged relative to the person's frontal shot. The
quality limits of the core (``face.quality.reasons``) apply to every shot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from desktop_app.core.types import Face, FaceQuality


@dataclass(frozen=True)
class Pose:
    """One shot to take: key, instruction shown to the person, test on the head pose (degrees)."""

    key: str
    label: str
    instruction: str
    accepts: Callable[[float, float], bool]
    hint: Callable[[float, float], str]


def _frontal_hint(yaw: float, pitch: float) -> str:
    if abs(yaw) > 12:
        return "Turn your face towards the camera."
    return "Level your head: look straight into the camera."


POSES: tuple[Pose, ...] = (
    Pose("frontal", "Frontal", "Look straight at the camera.",
         lambda y, p: abs(y) <= 12 and abs(p) <= 18, _frontal_hint),
    Pose("left", "Slight left", "Turn your head slightly to your left.",
         lambda y, p: 8 <= y <= 30 and abs(p) <= 15,
         lambda y, p: "A little more to your left." if y < 8 else "Too far: turn back a little."),
    Pose("right", "Slight right", "Turn your head slightly to your right.",
         lambda y, p: -30 <= y <= -8 and abs(p) <= 15,
         lambda y, p: "A little more to your right." if y > -8 else "Too far: turn back a little."),
    Pose("up", "Up", "Tilt your head slightly up.",
         lambda y, p: -25 <= p <= -6 and abs(y) <= 15,
         lambda y, p: "Chin a little higher." if p > -6 else "Look straight ahead, then lift slightly."),
    Pose("down", "Down", "Tilt your head slightly down.",
         lambda y, p: 6 <= p <= 25 and abs(y) <= 15,
         lambda y, p: "Chin a little lower." if p < 6 else "Look straight ahead, then lower slightly."),
)
"""The shots of a guided enrolment. The frontal test is on the absolute pose; the others on the
pose relative to the frontal shot (the person's own "straight ahead", which depends on where the
camera sits), or to (0, 0) when the frontal shot was skipped."""


def friendly_reason(reason: str) -> str:
    """A short instruction for a quality reason of the core (e.g. 'blurred (sharpness 20 < 40)')."""
    r = reason.lower()
    if r.startswith("too far"):
        return "Too far: come closer to the camera."
    if r.startswith("blurred"):
        return "Blurred: hold still."
    if r.startswith("too dark"):
        return "Too dark: face the light."
    if r.startswith("too bright"):
        return "Too bright: move out of the glare."
    if r.startswith("not frontal") or r.startswith("head leaning"):
        return "Not frontal: face the camera and keep your head straight."
    return reason[:1].upper() + reason[1:]


@dataclass(frozen=True)
class Shot:
    """A captured enrolment shot: which pose, the face (crop + embedding), where it came from."""

    pose: str
    face: Face
    source: str


FeedbackLevel = Literal["bad", "adjust", "hold", "captured", "done"]
"""How the last frame was judged: unusable ("bad"), right face but wrong pose ("adjust"), good so far
("hold"), a shot was taken on it ("captured"), every pose is done ("done")."""


@dataclass(frozen=True)
class Feedback:
    """What to tell the person about the last frame: text, level, and the shot when one was
    captured on this frame."""

    text: str
    level: FeedbackLevel
    shot: Shot | None = None


class GuidedCapture:
    """State of a guided capture: ``feed`` each analysed frame; a shot is taken automatically after
    ``hold_frames`` good frames in a row for the current pose (the sharpest of them is kept)."""

    def __init__(self, poses: tuple[Pose, ...] = POSES, hold_frames: int = 3) -> None:
        self.poses = poses
        self.hold_frames = hold_frames
        self.shots: dict[str, Shot] = {}
        self.skipped: set[str] = set()
        self._streak: list[Face] = []
        self.current = 0

    @property
    def baseline(self) -> tuple[float, float]:
        """(yaw, pitch) of the frontal shot, degrees; (0, 0) without one."""
        shot = self.shots.get("frontal")
        return (shot.face.quality.yaw, shot.face.quality.pitch) if shot is not None else (0.0, 0.0)

    def relative_pose(self, q: FaceQuality, pose: Pose) -> tuple[float, float]:
        """The (yaw, pitch) that ``pose`` is judged on: absolute for frontal, else relative to the baseline."""
        if pose.key == "frontal":
            return q.yaw, q.pitch
        y0, p0 = self.baseline
        return q.yaw - y0, q.pitch - p0

    @property
    def pose(self) -> Pose | None:
        """The pose being captured, None when every pose is taken or skipped."""
        return self.poses[self.current] if self.current < len(self.poses) else None

    @property
    def done(self) -> bool:
        return self.pose is None

    def _advance(self) -> None:
        self._streak = []
        while self.current < len(self.poses) and (
            self.poses[self.current].key in self.shots or self.poses[self.current].key in self.skipped
        ):
            self.current += 1

    def skip(self) -> None:
        pose = self.pose
        if pose is not None:
            self.skipped.add(pose.key)
            self._advance()

    def retake(self, key: str) -> None:
        """Forget the shot of ``key`` and make it the current pose again."""
        self.shots.pop(key, None)
        self.skipped.discard(key)
        self.current = next(i for i, p in enumerate(self.poses) if p.key == key)
        self._streak = []

    def capture(self, face: Face, source: str) -> Shot | None:
        """Take ``face`` for the current pose now (the "Capture" button); None when its quality is poor."""
        pose = self.pose
        if pose is None or not face.quality.ok:
            return None
        shot = Shot(pose.key, face, f"{source} ({pose.key})" if source else pose.key)
        self.shots[pose.key] = shot
        self._advance()
        return shot

    def feed(self, face: Face | None, problem: str | None, source: str = "") -> Feedback:
        """Judge one analysed frame: ``face`` is its main face (None with a ``problem``)."""
        pose = self.pose
        if pose is None:
            return Feedback("All shots taken: review them and save.", "done")
        if face is None:
            self._streak = []
            return Feedback(problem or "No face: look at the camera.", "bad")
        q: FaceQuality = face.quality
        if not q.ok:
            self._streak = []
            return Feedback(friendly_reason(q.reasons[0]), "bad")
        yaw, pitch = self.relative_pose(q, pose)
        if not pose.accepts(yaw, pitch):
            self._streak = []
            return Feedback(pose.hint(yaw, pitch), "adjust")
        self._streak.append(face)
        if len(self._streak) < self.hold_frames:
            return Feedback("Good: hold still…", "hold")
        best = max(self._streak, key=lambda f: f.quality.sharpness)
        shot = self.capture(best, source)
        nxt = self.pose
        text = f"{pose.label} shot taken." + (f" Next: {nxt.instruction}" if nxt else " All shots taken.")
        return Feedback(text, "captured", shot)
