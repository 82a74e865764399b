"""Corrections in the store (issue 14): the migration from an older file, the verdict rules, one
correction per event (replace, withdraw), the audit trail, the dashboard's counts and rates, and
erasure (a person's corrections and the faces behind them go with them). Real SQLite files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from sqlite_utils import Database

from desktop_app.core.corrections import CorrectionKind
from desktop_app.core.errors import InputError
from desktop_app.core.storage import schema
from desktop_app.core.storage.audit_filter import AuditFilter
from desktop_app.core.storage.event_faces import pack_face
from desktop_app.core.storage.store import Store

MODEL = "c" * 64


def _face(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    vec = rng.standard_normal(128).astype(np.float32)
    crop = rng.integers(0, 255, (112, 112, 3), dtype=np.uint8)
    return pack_face(vec / np.linalg.norm(vec), crop, {"reasons": []})


def _event(store: Store, person: int | None, decision: str, seed: int, score: float = 0.6) -> int:
    return store.log_event(person_id=person, score=score, decision=decision, camera="front/in", model_sha256=MODEL,
                           face=_face(seed))


def test_an_older_database_is_migrated_and_its_events_can_be_corrected(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    before = schema.MIGRATIONS.index(schema.migration_11)
    schema.migrate(Database(conn), schema.MIGRATIONS[:before])
    conn.execute("INSERT INTO people (name, name_key, created_at, updated_at) VALUES ('Ann', 'ann', ?, ?)",
                 ("2026-11-30T07:00:00.000000+00:00",) * 2)
    conn.execute("INSERT INTO events (ts, person_id, person_ref, score, decision, camera, model_sha256)"
                 " VALUES ('2026-11-30T07:58:00.000000+00:00', 1, 'person-1', 0.61, 'granted', 'front/in', ?)",
                 (MODEL,))
    conn.close()
    with Store(path) as store:
        assert schema.user_version(store.db) == schema.SCHEMA_VERSION  # every later migration applied too
        made = store.add_correction(1, CorrectionKind.NOT_PERSON, "olga")
        assert (made.kind, made.wrong_name, made.event_decision, made.event_score) == (
            CorrectionKind.NOT_PERSON, "Ann", "granted", pytest.approx(0.61))
        assert made.event_ts.isoformat().startswith("2026-11-30T07:58")


def test_verdict_rules_replace_withdraw_audit_and_dashboard(tmp_path: Path) -> None:
    with Store(tmp_path / "c.db") as store:
        ann, ben = store.add_person("Ann"), store.add_person("Ben")
        granted_ann = [_event(store, ann, "granted", i) for i in range(4)]
        unknown = _event(store, None, "unknown", 10, 0.2)
        granted_ben = _event(store, ben, "granted", 11)
        with pytest.raises(InputError, match="named nobody"):
            store.add_correction(unknown, "not_person", "olga")
        with pytest.raises(InputError, match="already named"):
            store.add_correction(granted_ann[0], "was_person", "olga", person_id=ann)
        with pytest.raises(InputError, match="no event"):
            store.add_correction(99_999, "not_person", "olga")
        with pytest.raises(InputError, match="not_person"):
            store.add_correction(unknown, "maybe", "olga")
        assert store.list_corrections() == []  # nothing was stored by the refusals

        store.add_correction(granted_ann[0], "not_person", "olga", note="a visitor")
        store.add_correction(unknown, "was_person", "olga", person_id=ann)
        store.add_correction(granted_ben, "was_person", "olga", person_id=ann)  # Ben's event was Ann
        # correcting again replaces: one correction per event
        store.add_correction(granted_ann[1], "not_person", "olga")
        store.add_correction(granted_ann[1], "was_person", "olga", person_id=ben)
        assert len(store.list_corrections()) == 4
        assert store.correction_of(granted_ann[1]).kind is CorrectionKind.WAS_PERSON  # type: ignore[union-attr]
        assert store.withdraw_correction(granted_ann[1], "olga") and not store.withdraw_correction(granted_ann[1], "x")

        board = {r.name: r for r in store.correction_counts()}
        a, b = board["Ann"], board["Ben"]
        assert (a.granted, a.false_accepts, a.false_rejects) == (4, 1, 2)
        assert a.fa_rate == pytest.approx(1 / 4) and a.fr_rate == pytest.approx(2 / 6)
        assert (b.granted, b.false_accepts, b.false_rejects) == (1, 1, 0) and b.fr_rate == 0.0
        assert a.last_false_accept is not None and a.last_false_reject is not None and b.last_false_reject is None
        assert list(board) == ["Ann", "Ben"]  # most corrections first
        assert store.corrected_event_ids() == {granted_ann[0], unknown, granted_ben}

        actions = [(r.actor, r.action, r.details.get("event_id")) for r in store.query_audit(AuditFilter(
            action="correction"))]
        assert ("olga", "correction.add", granted_ann[0]) in actions
        assert ("olga", "correction.replace", granted_ann[1]) in actions
        assert ("olga", "correction.withdraw", granted_ann[1]) in actions


def test_erasing_a_person_removes_their_corrections_and_the_faces_behind_them(tmp_path: Path) -> None:
    with Store(tmp_path / "e.db") as store:
        ann, ben = store.add_person("Ann"), store.add_person("Ben")
        unknown = _event(store, None, "unknown", 1, 0.2)   # was Ann: her face, on no event of hers
        wrong = _event(store, ben, "granted", 2)           # Ben's event, not Ben
        kept = _event(store, None, "unknown", 3, 0.2)
        store.add_correction(unknown, "was_person", "olga", person_id=ann)
        store.add_correction(wrong, "not_person", "olga")
        store.add_correction(kept, "was_person", "olga", person_id=ben)
        assert store.event_face(unknown) is not None
        store.erase_person(ann, "admin")
        assert store.event_face(unknown) is None  # the face of the event corrected as hers
        assert [c.event_id for c in store.list_corrections()] == [kept, wrong]
        assert store.event_face(kept) is not None and store.query_events()  # the events themselves stay
        store.erase_person(ben, "admin")
        assert store.list_corrections() == [] and store.event_face(kept) is None
        assert store.correction_counts(everyone=True) == []
