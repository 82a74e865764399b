"""Liveness settings (pydantic): the mode and the limits of the passive and challenge checks.

Every field says its unit and range. :class:`LivenessSettings` is meant to become a section of the
app's settings and a per-door setting; the checks take it as it is.
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from desktop_app.core.vocabulary import LivenessMode


class LivenessSettings(BaseModel):
    """How a door checks liveness. The defaults were measured with ``bench/liveness.py``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: LivenessMode = Field(default=LivenessMode.OFF, description="off, passive or challenge.")
    live_threshold: float = Field(
        default=0.5, ge=0.0, le=1.0, description="Passive score (0..1) at or above which a face is taken as live."
    )
    min_seconds: float = Field(
        default=0.8, ge=0.0, le=30.0, description="Seconds a face must be watched before a passive decision."
    )
    min_frames: int = Field(default=6, ge=2, le=600,
        description="Frames a face must be seen in before a passive decision.")
    window_s: float = Field(default=2.5, ge=0.5, le=30.0,
        description="Seconds of recent frames the passive cues look at.")
    still_seconds: float = Field(
        default=4.0, ge=1.0, le=60.0, description="A face that neither moves nor blinks for this long is not live."
    )
    max_seconds: float = Field(
        default=6.0, ge=1.0, le=120.0,
        description="Seconds after which a face with no sign of life is refused (passive mode).",
    )
    screen_frames: float = Field(
        default=0.3, gt=0.0, le=1.0,
        description="Share of the window's frames that must show a screen or print cue to refuse the face.",
    )
    challenge_steps: int = Field(default=2, ge=1, le=4, description="Actions asked in a row in challenge mode.")
    challenge_step_s: float = Field(default=4.0, ge=1.0, le=30.0, description="Seconds allowed for each action.")
    challenge_yaw_deg: float = Field(default=15.0, ge=5.0, le=40.0,
        description="Head turn (degrees) a turn must reach.")
    challenge_pitch_deg: float = Field(default=10.0, ge=4.0, le=35.0,
        description="Head tilt (degrees) a look up must reach.")

    @model_validator(mode="after")
    def _order(self) -> Self:
        if self.max_seconds < self.min_seconds:
            raise ValueError(f"max_seconds ({self.max_seconds}) cannot be below min_seconds ({self.min_seconds})")
        return self
