"""Validated, self-documenting settings of FaceGate (pydantic). Stored as JSON in the database's
``settings`` table under the key ``config``; every field says its unit and range.

This module is the one place where settings are checked: field ranges, and the rules that tie
fields together (``votes_needed <= window``, a capture width only with a height). Other parts build
their parameters from an :class:`AppConfig` (e.g. ``DecisionConfig.from_settings``) instead of
repeating defaults or bounds; a settings form reads its ranges from the fields
(:func:`field_bounds`). Stored settings that fail validation are read with
:meth:`AppConfig.from_stored`, which keeps the valid sections and says clearly what it replaced.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from desktop_app.core.liveness.settings import LivenessSettings
from desktop_app.core.privacy.display import DoorDisplay
from desktop_app.core.vocabulary import TtaMode

log = logging.getLogger(__name__)


class CameraSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str = Field("0", description="Webcam index ('0'), video file path, image folder or rtsp/http URL.")
    width: int | None = Field(None, ge=160, le=7680, description="Requested capture width, pixels (webcams).")
    height: int | None = Field(None, ge=120, le=4320, description="Requested capture height, pixels (webcams).")
    name: str = Field("door-1", min_length=1, max_length=64, description="Camera name written on events.")

    @field_validator("source", "name")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value

    @model_validator(mode="after")
    def _width_with_height(self) -> Self:
        if (self.width is None) != (self.height is None):
            raise ValueError(
                f"give both the capture width and height, or neither (got width={self.width}, height={self.height})"
            )
        return self


class RecognitionSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    device: Literal["auto", "cuda", "cpu"] = Field("auto", description="ONNX Runtime device: CUDA if present.")
    flip_tta: TtaMode = Field(
        TtaMode.NEAR_THRESHOLD,
        description="Average a face's embedding with its mirror image's (test-time flip): 'always'; "
        "'near-threshold' (enrolment, calibration, and door faces scoring within flip_band of a decision); "
        "'never'. Stored true/false read as 'always'/'never'.",
    )
    target_fpir: float = Field(
        1e-3, gt=0.0, le=0.1,
        description="Target open-set false-accept rate: share of strangers accepted as anyone (0.001 = 0.1%).",
    )
    fallback_threshold: float = Field(
        0.42, ge=0.0, le=1.0, description="Cosine threshold used until a calibration exists."
    )
    margin: float = Field(0.05, ge=0.0, le=1.0, description="Required cosine lead over the second-best person.")
    min_face_px: float = Field(
        12.0, ge=4.0, le=500.0, description="Faces with eyes closer than this (pixels) are ignored."
    )
    gallery: Literal["auto", "exact", "hnsw"] = Field("auto", description="Gallery search: exact or HNSW.")
    alignment_views: TtaMode = Field(
        TtaMode.NEVER,
        description="Average a face's embedding over its alignments from the landmarks found again at other "
        "scales (a face detection and an embedding per view, two views): 'always'; 'near-threshold' "
        "(enrolment, calibration, and door faces scoring within flip_band of a decision); 'never' (the "
        "default: on LFW it raised TAR at FAR 1e-3 but not accuracy on pairs it was not chosen on).",
    )
    flip_band: float = Field(
        0.05, ge=0.0, le=0.5,
        description="With flip_tta or alignment_views 'near-threshold': a door face is re-embedded with them "
        "when its score (or its lead over the second person) is within this cosine of the threshold (or the margin).",
    )

    @field_validator("flip_tta", mode="before")
    @classmethod
    def _stored_bool(cls, value: object) -> object:
        """Settings stored before the three modes held a bool. ``true`` was simply the old default, so
        it loads as today's default, 'near-threshold' (the same decisions: not one of LFW's 6,000
        pairs changes, docs/speed.md), at about twice the speed; ``false`` is 'never'."""
        if isinstance(value, bool):
            return TtaMode.NEAR_THRESHOLD if value else TtaMode.NEVER
        return value

    @property
    def flip_templates(self) -> bool:
        """True when templates and calibration embeddings are flip-averaged (every mode but 'never')."""
        return self.flip_tta is not TtaMode.NEVER

    @property
    def views_templates(self) -> bool:
        """True when templates and calibration embeddings average the alignment views (every mode but
        'never')."""
        return self.alignment_views is not TtaMode.NEVER


class DecisionSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    votes_needed: int = Field(3, ge=1, le=30, description="Frames that must agree on a person (N of N-of-M).")
    window: int = Field(5, ge=1, le=60, description="Frames considered for the vote (M of N-of-M).")
    cooldown_s: float = Field(10.0, ge=0.0, le=3600.0, description="Seconds before the same person is logged again.")
    unknown_after: int = Field(8, ge=1, le=300, description="Frames of an unmatched face before 'unknown' is logged.")
    reuse_frames: int = Field(
        10, ge=1, le=100,
        description="A face that stays in view, alone, with a settled decision keeps its track's embedding for up "
        "to this many frames, unless its view improves or it moves (1: embed every frame).",
    )

    @model_validator(mode="after")
    def _votes_fit_the_window(self) -> Self:
        if self.votes_needed > self.window:
            raise ValueError(
                f"the frames needed (votes_needed={self.votes_needed}) cannot exceed "
                f"the frames considered (window={self.window})"
            )
        return self


class AlertSettings(BaseModel):
    """Notices for people (unknown faces, denied attempts, door faults and alarms), sent as ALERT
    messages through the door outputs and/or one site-wide output."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    output: str = Field("", description="Site-wide alert output URI (e.g. 'webhook:https://…' or "
                                        "'mqtt://host:1883/facegate/alerts'); empty for none.")
    secret: str = Field("", max_length=256,
                        description="HMAC key of the site-wide alert output (webhook); empty: unsigned.")
    door_outputs: bool = Field(True, description="Also send each alert through the door's own output.")
    on_unknown: bool = Field(True, description="Alert when an unknown face is seen at a door.")
    on_denied: bool = Field(True, description="Alert when a recognised person is refused (schedule, validity, ...).")
    on_fault: bool = Field(True, description="Alert when a door goes out of service, and when it is back.")
    on_door_alarm: bool = Field(True, description="Alert when a door is forced or held open (door contact).")
    on_spoof: bool = Field(True, description="Alert when the liveness check suspects a photo, a screen or a "
                                             "cut-out at a door (a spoof event).")
    min_interval_s: float = Field(
        30.0, ge=0.0, le=86400.0,
        description="Seconds between two alerts of the same kind at the same door (floods are dropped).")

    @field_validator("output")
    @classmethod
    def _uri_or_empty(cls, value: str) -> str:
        value = value.strip()
        if value and ":" not in value:
            raise ValueError(f"must be an output URI such as 'webhook:https://…' or 'mqtt://host:1883/topic', "
                             f"got {value!r}")
        return value


class RetentionSettings(BaseModel):
    """How long door events and their face snapshots are kept (None: for ever). Attendance
    (first in / last out per day) is kept whatever these say."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    events_days: int | None = Field(
        None, ge=1, le=36500,
        description="Door events older than this many days are deleted (with their snapshots); None: kept.")
    snapshots_days: int | None = Field(
        None, ge=1, le=36500,
        description="Face snapshots of events older than this many days are deleted, the events kept; None: "
                    "kept as long as their event.")

    @model_validator(mode="after")
    def _snapshots_within_events(self) -> Self:
        if self.events_days is not None and self.snapshots_days is not None and self.snapshots_days > self.events_days:
            raise ValueError(
                f"snapshots cannot be kept longer than their events (snapshots_days={self.snapshots_days} > "
                f"events_days={self.events_days})")
        return self


class DoorScreenSettings(BaseModel):
    """What the door screen (door view, kiosk) shows of the person it decided about."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    display: DoorDisplay = Field(
        DoorDisplay.FULL,
        description="'full': the name and enrolled photo; 'initials': the initials only, no photo; 'none': only "
                    "granted or denied.")


class TemplateRefreshSettings(BaseModel):
    """Automatic templates from the door (issue 14, docs/corrections.md): a granted face of good
    quality, matched well above the threshold and clear of the runner-up, may become a template of
    the person once the holding period has passed without a correction. Off by default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(False, description="Add templates from door captures automatically (off: only "
                                             "enrolment adds templates).")
    min_eye_px: float = Field(
        24.0, ge=8.0, le=500.0,
        description="Eye distance, pixels, a capture needs to be taken as a template (enrolment photos need 28; "
        "a door camera sees faces smaller); it must also pass the door's pose and sharpness checks.")
    min_score_above: float = Field(
        0.10, ge=0.0, le=1.0,
        description="Cosine by which the face must beat the calibrated threshold to be taken as a template.")
    min_margin: float = Field(
        0.15, ge=0.0, le=1.0,
        description="Cosine lead over the second-best person the face must have (never less than the "
        "recognition margin): a face inside the ambiguity margin is never taken.")
    holding_hours: float = Field(
        24.0, ge=1.0, le=24.0 * 90,
        description="Hours a capture waits before it may become a template; a correction meanwhile rules it out.")
    max_age_days: float = Field(
        30.0, ge=1.0, le=365.0,
        description="Captures older than this many days are no longer taken as templates.")
    max_auto_per_person: int = Field(
        3, ge=1, le=20,
        description="Automatic templates kept per person; a new one replaces their oldest automatic one "
        "(enrolment templates are never replaced).")
    max_similarity: float = Field(
        0.85, ge=0.5, le=1.0,
        description="Diversity: a capture whose cosine to one of the person's templates exceeds this adds "
        "nothing new and is skipped.")


class AppConfig(BaseModel):
    """All settings of one FaceGate installation."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    camera: CameraSettings = Field(default_factory=CameraSettings)  # type: ignore[arg-type]
    recognition: RecognitionSettings = Field(default_factory=RecognitionSettings)  # type: ignore[arg-type]
    decision: DecisionSettings = Field(default_factory=DecisionSettings)  # type: ignore[arg-type]
    alerts: AlertSettings = Field(default_factory=AlertSettings)  # type: ignore[arg-type]
    liveness: LivenessSettings = Field(default_factory=LivenessSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)  # type: ignore[arg-type]
    door_screen: DoorScreenSettings = Field(default_factory=DoorScreenSettings)  # type: ignore[arg-type]
    template_refresh: TemplateRefreshSettings = Field(default_factory=TemplateRefreshSettings)  # type: ignore[arg-type]

    @classmethod
    def from_stored(cls, raw: object, warn: bool = True) -> tuple[AppConfig, tuple[str, ...]]:
        """Settings as stored (the JSON object under the ``config`` key), and what had to be fixed.

        A valid object is returned as is with no problems. Otherwise every section (camera,
        recognition, decision) that is valid is kept, an invalid or missing one is replaced by its
        defaults, unknown keys are dropped, and each problem is described in one line (also logged
        as a warning when ``warn``), e.g. ``"decision: the frames needed (votes_needed=6) cannot
        exceed the frames considered (window=5); using the defaults for decision"``.
        """
        try:
            return cls.model_validate(raw), ()
        except ValidationError:
            pass
        if not isinstance(raw, Mapping):
            problems = [f"the stored settings are not an object ({type(raw).__name__}); using the defaults"]
            return cls._warned(cls(), problems, warn)
        problems = []
        kept: dict[str, Any] = {}
        for key in raw:
            if key not in cls.model_fields:
                problems.append(f"unknown setting {key!r} ignored")
        for key, spec in cls.model_fields.items():
            if key not in raw:
                continue
            model = spec.annotation
            assert isinstance(model, type) and issubclass(model, BaseModel)
            try:
                kept[key] = model.model_validate(raw[key])
            except ValidationError as exc:
                problems.append(f"{key}: {describe_validation_error(exc)}; using the defaults for {key}")
        return cls._warned(cls(**kept), problems, warn)

    @staticmethod
    def _warned(config: AppConfig, problems: list[str], warn: bool) -> tuple[AppConfig, tuple[str, ...]]:
        if warn:
            for problem in problems:
                log.warning("Stored settings: %s.", problem)
        return config, tuple(problems)


def describe_validation_error(exc: ValidationError) -> str:
    """One readable line per problem of a pydantic error, joined with "; ": ``"decision.window:
    Input should be greater than or equal to 1"`` (location, then message; model-level rules give
    their message alone)."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()))
        msg = str(err.get("msg", "invalid"))
        msg = msg.removeprefix("Value error, ")
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts) or str(exc)


def field_bounds(model: type[BaseModel], name: str) -> tuple[float | None, float | None]:
    """(lowest, highest) allowed value of a numeric field, from its ``ge``/``gt``/``le``/``lt``
    constraints (None where unbounded; a ``gt``/``lt`` bound is itself excluded); for a settings
    form's spin-box range."""
    low: float | None = None
    high: float | None = None
    for meta in model.model_fields[name].metadata:
        for attr in ("ge", "gt"):
            if getattr(meta, attr, None) is not None:
                low = float(getattr(meta, attr))
        for attr in ("le", "lt"):
            if getattr(meta, attr, None) is not None:
                high = float(getattr(meta, attr))
    return low, high
