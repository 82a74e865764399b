"""Settings: one place for the rules (ranges and cross-field checks), stored settings that no longer
validate are recovered section by section with a clear warning, and the decision policy is built
from the settings, not from copied defaults."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import ValidationError

from desktop_app.core.config import (
    AppConfig,
    CameraSettings,
    DecisionSettings,
    RecognitionSettings,
    describe_validation_error,
    field_bounds,
)
from desktop_app.core.decision.policy import DecisionConfig
from desktop_app.core.storage.store import Store


def test_votes_needed_cannot_exceed_the_window() -> None:
    with pytest.raises(ValidationError, match="cannot exceed"):
        DecisionSettings.model_validate({"votes_needed": 6, "window": 5})
    assert DecisionSettings.model_validate({"votes_needed": 5, "window": 5}).votes_needed == 5
    with pytest.raises(ValidationError, match="cannot exceed"):
        AppConfig.model_validate({"decision": {"votes_needed": 4, "window": 3}})


def test_camera_width_needs_a_height_and_a_source() -> None:
    with pytest.raises(ValidationError, match="both the capture width and height"):
        CameraSettings.model_validate({"width": 640})
    assert CameraSettings.model_validate({"width": 640, "height": 480}).height == 480
    with pytest.raises(ValidationError, match="blank"):
        CameraSettings.model_validate({"source": "   "})


def test_minimum_face_size_is_positive_and_bounded() -> None:
    for bad in (0.0, -3.0, 1e6):
        with pytest.raises(ValidationError, match="min_face_px"):
            RecognitionSettings.model_validate({"min_face_px": bad})


def test_errors_read_as_one_line_per_problem() -> None:
    with pytest.raises(ValidationError) as info:
        AppConfig.model_validate({"decision": {"window": 0}, "recognition": {"margin": 2}})
    text = describe_validation_error(info.value)
    assert "decision.window: Input should be greater than or equal to 1" in text
    assert "recognition.margin: Input should be less than or equal to 1" in text
    assert "Value error" not in text and "\n" not in text


def test_stored_settings_keep_the_valid_sections_and_warn(caplog: pytest.LogCaptureFixture) -> None:
    raw = {
        "camera": {"source": "rtsp://door/stream", "name": "front"},
        "recognition": {"target_fpir": 0.01},
        "decision": {"votes_needed": 9, "window": 4},  # stored before the cross-field rule existed
        "retired": True,
    }
    with caplog.at_level(logging.WARNING, logger="desktop_app.core.config"):
        cfg, problems = AppConfig.from_stored(raw)
    assert cfg.camera.source == "rtsp://door/stream" and cfg.recognition.target_fpir == 0.01
    assert cfg.decision == DecisionSettings()
    assert len(problems) == 2
    assert any("'retired' ignored" in p for p in problems)
    assert any(p.startswith("decision: the frames needed (votes_needed=9) cannot exceed the frames considered "
                            "(window=4); using the defaults for decision") for p in problems)
    assert [r.getMessage() for r in caplog.records] == [f"Stored settings: {p}." for p in problems]


def test_stored_settings_that_are_fine_or_garbage() -> None:
    good = AppConfig(decision=DecisionSettings.model_validate({"votes_needed": 2, "window": 4}))
    assert AppConfig.from_stored(good.model_dump(mode="json")) == (good, ())
    cfg, problems = AppConfig.from_stored(["not", "an", "object"], warn=False)
    assert cfg == AppConfig() and "not an object" in problems[0]


def test_decision_config_is_built_from_the_settings() -> None:
    cfg = AppConfig.model_validate({"recognition": {"margin": 0.08},
                                    "decision": {"votes_needed": 4, "window": 7, "cooldown_s": 3.0,
                                                 "unknown_after": 11}})
    dc = DecisionConfig.from_settings(cfg, threshold=0.37)
    assert (dc.threshold, dc.margin, dc.votes_needed, dc.window, dc.cooldown_s, dc.unknown_after) == (
        0.37, 0.08, 4, 7, 3.0, 11)
    default = DecisionConfig(threshold=0.5)  # its defaults are the settings' own
    d = AppConfig()
    assert (default.margin, default.votes_needed, default.window, default.cooldown_s, default.unknown_after) == (
        d.recognition.margin, d.decision.votes_needed, d.decision.window, d.decision.cooldown_s,
        d.decision.unknown_after)


def test_decision_config_applies_the_settings_rules() -> None:
    with pytest.raises(ValueError, match="cannot exceed"):
        DecisionConfig(threshold=0.5, votes_needed=6, window=5)
    high = field_bounds(DecisionSettings, "cooldown_s")[1]
    assert high is not None
    with pytest.raises(ValueError, match="cooldown_s"):
        DecisionConfig(threshold=0.5, cooldown_s=high + 1)
    with pytest.raises(ValueError, match="margin"):
        DecisionConfig(threshold=0.5, margin=-0.1)


def test_field_bounds_come_from_the_models() -> None:
    assert field_bounds(DecisionSettings, "votes_needed") == (1.0, 30.0)
    assert field_bounds(DecisionSettings, "window") == (1.0, 60.0)
    assert field_bounds(RecognitionSettings, "target_fpir") == (0.0, 0.1)
    assert field_bounds(RecognitionSettings, "min_face_px") == (4.0, 500.0)


def test_a_gate_over_invalid_stored_settings_warns_and_starts(tmp_path: Path,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    from desktop_app.core.service import FaceGate

    db = tmp_path / "gate.db"
    with Store(db) as store:
        store.set_setting("config", {"camera": {"name": "back-door"}, "decision": {"votes_needed": 8, "window": 2}})
    with caplog.at_level(logging.WARNING), FaceGate(db, device="cpu") as gate:
        assert gate.config.camera.name == "back-door" and gate.config.decision == DecisionSettings()
    assert any("using the defaults for decision" in r.getMessage() for r in caplog.records)
