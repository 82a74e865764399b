"""Corrections and template refresh on real data (issue 14): Lin-Manuel Miranda and Alex Lacamoire
enrolled from their photos, the Hamilton clip run three times through the door loop (``run_headless``):

- the granted events' faces are refresh candidates, held during the holding period;
- after it, promotion adds automatic templates within the cap (the oldest automatic one replaced,
  the enrolment template never), audited; the dashboard counts the corrections;
- a corrected event's face is never promoted, and correcting a promoted event takes its template back.

The policy's rules (quality, ambiguity margin, diversity, cap) are checked one by one on real
embeddings too (``refresh.refusal``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from desktop_app.core.config import AppConfig, TemplateRefreshSettings
from desktop_app.core.corrections import refresh
from desktop_app.core.errors import InputError
from desktop_app.core.live.session import run_headless
from desktop_app.core.service import FaceGate
from desktop_app.core.storage.audit_filter import AuditFilter
from desktop_app.core.types import PersonMatch

LIN, ALEX = "Lin-Manuel Miranda", "Alex Lacamoire"
RUNS = 3


@pytest.fixture(scope="module")
def door_run(tmp_path_factory: pytest.TempPathFactory, clips: Path) -> Path:
    """A site with Lin and Alex enrolled from their photos and two door runs of the clip (built once)."""
    db = tmp_path_factory.mktemp("refresh") / "site.db"
    with FaceGate(db, device="cpu") as gate:
        for name, photo in ((LIN, "lin-manuel-miranda.png"), (ALEX, "alex-lacamoire.png")):
            assert gate.enrol_images(name, [clips / photo], check_quality=False).added
        for _ in range(RUNS):
            run_headless(gate, str(clips / "short_hamilton_clip.mp4"), max_frames=20)
    return db


@pytest.fixture()
def gate(door_run: Path, tmp_path: Path) -> FaceGate:
    import shutil

    shutil.copytree(door_run.parent, tmp_path / "site")
    return FaceGate(tmp_path / "site" / "site.db", device="cpu")


def _enable(gate: FaceGate, **kw: object) -> None:
    gate.update_config(gate.config.model_copy(update={"template_refresh": TemplateRefreshSettings(
        enabled=True, **kw)}), actor="test")  # type: ignore[arg-type]


@pytest.mark.slow
def test_promotion_after_holding_within_the_cap_and_never_a_corrected_face(gate: FaceGate) -> None:
    with gate:
        lin = gate.find_person(LIN)
        assert lin is not None
        granted = sorted((e for e in gate.query_events() if e.decision == "granted" and e.person_id == lin.id),
                         key=lambda e: e.id)
        assert len(granted) == RUNS, "each run grants Lin once"
        with pytest.raises(InputError, match="off"):
            gate.refresh_templates()  # off by default
        now = datetime.now(UTC)
        preview = gate.refresh_templates(dry_run=True, now=now)  # a run leaves candidates, held for now
        assert {c.event_id for c in preview.held} == {e.id for e in granted} and not preview.promoted

        # diversity off and a cap of 1, so that the cap is what limits (the clip's faces are 20 px
        # between the eyes: below the default 24 px, so 20 here); the first run's event is corrected
        _enable(gate, max_auto_per_person=1, max_similarity=1.0, min_eye_px=20.0)
        corrected = granted[0]
        gate.correct_event(corrected.id, not_person=True, actor="olga")
        assert gate.refresh_templates(now=now).promoted == ()  # still inside the holding period
        later = now + timedelta(hours=25)
        report = gate.refresh_templates(actor="nightly", now=later)
        promoted = [e for e, _p, _s, _r in report.promoted]
        assert sorted(promoted) == [e.id for e in granted[1:]]  # never the corrected one
        assert report.promoted[1][3] == report.promoted[0][2]  # the second replaced the first (cap 1)
        samples = gate.list_samples(lin.id)
        autos = [s for s in samples if s.source.startswith("auto:event:")]
        assert len(autos) == 1 and len(samples) == 2  # the enrolment photo (never replaced) + one automatic
        assert gate.gallery_stats().templates == 3  # Lin's two and Alex's one, in the live gallery
        adds = gate.query_audit(AuditFilter(action="template.auto.add"))
        assert len(adds) == 2 and {r.actor for r in adds} == {"nightly"}
        assert gate.refresh_templates(now=later).promoted == ()  # each event is promoted once only

        # a later correction of the promoted event takes its template back
        (event_id, _pid, sample_id, _old) = report.promoted[-1]
        gate.correct_event(event_id, was=gate.find_person(ALEX).id, actor="olga")  # type: ignore[union-attr]
        assert [s for s in gate.list_samples(lin.id) if s.source.startswith("auto:")] == []
        assert gate.query_audit(AuditFilter(action="template.auto.undo"))[0].details["sample_id"] == sample_id
        assert gate.gallery_stats().templates == 2

        board = {r.name: r for r in gate.correction_dashboard()}
        assert (board[LIN].false_accepts, board[LIN].granted) == (2, RUNS)
        assert board[ALEX].false_rejects == 1 and board[ALEX].fr_rate == 1.0


@pytest.mark.slow
def test_each_rule_of_the_policy_on_real_faces(gate: FaceGate) -> None:
    with gate:
        lin = gate.find_person(LIN)
        assert lin is not None
        ev = next(e for e in gate.query_events() if e.decision == "granted" and e.person_id == lin.id)
        face = gate.store.event_face(ev.id)
        assert face is not None
        m = gate.match(face.vector[None])[0]
        assert m is not None and m.person_id == lin.id
        _ids, persons, vectors = gate.store.templates(gate.model.sha256)
        mine = vectors[persons == lin.id]
        s = TemplateRefreshSettings(enabled=True, min_score_above=0.0, min_margin=0.0, max_similarity=1.0,
                                    min_eye_px=20.0)
        ok = {"threshold": gate.threshold, "recognition_margin": 0.0, "settings": s}
        assert refresh.refusal(lin.id, face.quality, m, face.vector, mine, **ok) is None  # type: ignore[arg-type]
        small = {**ok, "settings": s.model_copy(update={"min_eye_px": 24.0})}  # the default
        assert "too small" in str(refresh.refusal(lin.id, face.quality, m, face.vector, mine, **small))  # type: ignore[arg-type]
        turned = {**face.quality, "yaw": 50.0}
        assert "profile" in str(refresh.refusal(lin.id, turned, m, face.vector, mine, **ok))  # type: ignore[arg-type]
        assert "no longer" in str(refresh.refusal(lin.id + 99, face.quality, m, face.vector, mine, **ok))  # type: ignore[arg-type]
        high = {**ok, "settings": s.model_copy(update={"min_score_above": 1.0})}
        assert "below" in str(refresh.refusal(lin.id, face.quality, m, face.vector, mine, **high))  # type: ignore[arg-type]
        close = PersonMatch(m.person_id, m.score, second_score=m.score - 0.02, second_person_id=lin.id + 1)
        assert "ambiguity" in str(refresh.refusal(lin.id, face.quality, close, face.vector, mine,  # type: ignore[arg-type]
                                                  **{**ok, "recognition_margin": 0.05}))
        same = np.concatenate([mine, face.vector[None]])
        div = {**ok, "settings": s.model_copy(update={"max_similarity": 0.85})}
        assert "similar" in str(refresh.refusal(lin.id, face.quality, m, face.vector, same, **div))  # type: ignore[arg-type]
        assert refresh.to_replace([5, 9], 2) == 5 and refresh.to_replace([5], 2) is None


def test_template_refresh_settings_are_validated_and_off_by_default() -> None:
    assert AppConfig().template_refresh.enabled is False
    with pytest.raises(ValueError):
        TemplateRefreshSettings(holding_hours=0.5)
    with pytest.raises(ValueError):
        TemplateRefreshSettings(max_auto_per_person=0)
    config, problems = AppConfig.from_stored({"template_refresh": {"max_similarity": 2}})
    assert config.template_refresh == TemplateRefreshSettings() and problems
