"""The answer of a liveness check: live, not live, or not decided yet, with a score and reasons."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class LivenessVerdict:
    """What a liveness check concluded about one tracked face so far.

    live: True (a live person), False (a presentation attack is suspected, or no sign of life in
    time) or None (undecided: keep feeding frames); score: 0..1, how live the face looks (1 most);
    reasons: readable sentences, the ones that decided first ("a border moves with the face (phone,
    tablet or print edge)"); frames: frames of this face used; elapsed_s: seconds from its first to
    its last frame; cues: the measured cue values by name (for logs, benches and tuning).
    """

    live: bool | None
    score: float
    reasons: tuple[str, ...] = ()
    frames: int = 0
    elapsed_s: float = 0.0
    cues: dict[str, float] = field(default_factory=dict, compare=False)

    @property
    def decided(self) -> bool:
        """True once the check has concluded (live or not)."""
        return self.live is not None

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form: live, score (4 decimals), reasons (list), frames, elapsed_s, cues."""
        return {"live": self.live, "score": round(self.score, 4), "reasons": list(self.reasons),
                "frames": self.frames, "elapsed_s": round(self.elapsed_s, 3),
                "cues": {k: round(v, 4) for k, v in self.cues.items()}}
