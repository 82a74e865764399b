"""``facegate doctor`` (issue 9, item 8): finds damage in a real database and its data folder, and
``--repair`` fixes what it can, audited, with exit 0 only when healthy. The API and the CLI as a
real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from desktop_app.core.admin.lock import AdminPin
from desktop_app.core.doctor import Check, Severity, run_doctor
from desktop_app.core.embedding.embedder import Embedder
from desktop_app.core.errors import ModelError
from desktop_app.core.protection.fields import SealedField
from desktop_app.core.service import FaceGate
from desktop_app.core.storage.records import ModelRecord
from desktop_app.core.storage.store import Store
from desktop_app.core.video.imageio import read_image

from .damaged_db import (
    LIN,
    dead_pid,
    facegate_cli,
    flip_exponent_bit,
    sample_of,
    sealed,
    set_template,
    sql,
    template,
)

pytestmark = pytest.mark.slow


def _problems(report) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    return [(str(f.check), f.subject, f.message) for f in report.findings if f.problem]


def _audit(db: Path) -> list[tuple[str, str, dict[str, object]]]:
    rows = sql(db, "SELECT actor, action, details_json FROM audit ORDER BY id")
    return [(str(a), str(b), json.loads(str(c))) for a, b, c in rows]


def test_a_healthy_database_is_healthy(db: Path) -> None:
    report = run_doctor(db)
    assert report.healthy and report.exit_code == 0, report.lines()
    checks = {f.check for f in report.findings}
    assert {Check.INTEGRITY, Check.SETTINGS, Check.MODEL, Check.TEMPLATES, Check.STALE_FILES} <= checks
    assert any("5 of 5 sample template(s) match their face crops" in f.message for f in report.findings)


def test_a_plausible_but_wrong_template_is_caught_against_its_crop_and_re_embedded(db: Path, clips: Path) -> None:
    """Lin's template replaced by Obama's (unit length, so loading cannot tell): only the crop can."""
    lin, obama = sample_of(db, LIN), sample_of(db, "obama")
    set_template(db, lin, template(db, obama))
    with FaceGate(db, device="cpu") as gate:
        assert gate.storage_warnings == ()  # sound as far as loading can tell
        assert [r.name for r in gate.identify(read_image(clips / "lin-manuel-miranda.png"))] == [None]
    report = run_doctor(db)
    assert report.exit_code == 1
    ((check, subject, message),) = _problems(report)
    assert check == "templates" and f"sample {lin}" in subject and LIN in subject
    assert "differs from its face crop" in message

    fixed = run_doctor(db, repair=True)
    assert fixed.exit_code == 0 and fixed.healthy, fixed.lines()
    assert any("re-embedded 1 template(s)" in r and str(lin) in r for r in fixed.repairs)
    with Store(db) as store:
        model = store.active_model()
        assert model is not None
        emb = Embedder(Path(model.path), device="cpu", flip=True)
        again = emb.embed(store.sample_crop(lin)[None])[0]
    assert float(np.dot(template(db, lin), again)) > 0.999
    (actor, action, details) = _audit(db)[-1]
    assert (actor, action) == ("doctor", "doctor.repair") and details["reembedded_samples"] == [lin]
    with FaceGate(db, device="cpu") as gate:
        assert [r.name for r in gate.identify(read_image(clips / "lin-manuel-miranda.png"))] == [LIN]


def test_quarantined_and_missing_templates_are_re_embedded(db: Path, clips: Path) -> None:
    lin, biden = sample_of(db, LIN), sample_of(db, "biden")
    set_template(db, lin, flip_exponent_bit(template(db, lin)))
    sql(db, "DELETE FROM templates WHERE sample_id = ?", (biden,))
    report = run_doctor(db)
    found = {(f.check, f.subject.split(" of ")[0]) for f in report.findings if f.problem}
    assert found == {(Check.TEMPLATES, f"sample {lin}"), (Check.MISSING_TEMPLATES, f"sample {biden}")}
    assert all(f.repairable for f in report.findings if f.problem)
    assert run_doctor(db, repair=True).exit_code == 0
    with FaceGate(db, device="cpu") as gate:
        assert gate.storage_warnings == () and gate.gallery_stats().templates == 5
        assert [r.name for r in gate.identify(read_image(clips / "lin-manuel-miranda.png"))] == [LIN]


def test_damaged_settings_are_reset_and_audited(db: Path) -> None:
    with Store(db) as store:
        AdminPin(store).set_admin_pin("432187")
    sql(db, "UPDATE settings SET value_json = '{\"kdf\": \"scrypt\"}' WHERE key = 'admin_pin'")
    sql(db, "INSERT INTO settings (key, value_json, updated_at) VALUES ('config', '{\"camera\": 7}', 'x')")
    sql(db, "INSERT INTO settings (key, value_json, updated_at) VALUES ('door', '{oops', 'x')")
    sql(db, "UPDATE calibrations SET threshold = 'high'")
    report = run_doctor(db)
    subjects = sorted(f.subject for f in report.findings if f.problem)
    n_cal = int(sql(db, "SELECT count(*) FROM calibrations")[0][0])  # type: ignore[call-overload]
    assert [s for s in subjects if s.startswith("setting")] == ["setting 'admin_pin'", "setting 'config'",
                                                                 "setting 'door'"]
    assert len([s for s in subjects if s.startswith("calibration")]) == n_cal >= 1
    pin = next(f for f in report.findings if f.subject == "setting 'admin_pin'")
    assert "new admin PIN" in pin.message

    fixed = run_doctor(db, repair=True)
    assert fixed.healthy, fixed.lines()
    # what is left is sound: the crop preprocessing the templates were made under (core.accuracy)
    assert sql(db, "SELECT key FROM settings") == [("crop_preprocessing",)]
    assert sql(db, "SELECT count(*) FROM calibrations") == [(0,)]
    resets = [(a, d["key"]) for a, action, d in _audit(db) if action == "settings.reset"]
    assert sorted(resets) == [("doctor", "admin_pin"), ("doctor", "config"), ("doctor", "door")]
    with Store(db) as store:
        assert not AdminPin(store).has_admin_pin()  # the app asks for a new PIN


def test_stale_files_are_found_and_deleted_and_live_ones_kept(db: Path) -> None:
    data = db.parent
    gone = dead_pid()
    (data / "gallery").mkdir()
    stale = [
        data / "models" / f"sface-2021dec-fp32.onnx.tmp-{gone}",
        data / "gallery" / f"0123456789abcdef.hnsw.tmp-{gone}-140000",
        data / f"{db.name}.spool.tmp-{gone}-1",
        data / "gallery" / "0123456789abcdef.hnsw",  # a model that is not registered
        data / "gallery" / "0123456789abcdef.hnsw.meta.npz",
    ]
    old_tmp = data / "models" / "other.onnx.tmp"
    for path in [*stale, old_tmp]:
        path.write_bytes(b"x" * 100)
    os.utime(old_tmp, (1_000_000_000, 1_000_000_000))  # untouched for years: a crashed writer's
    stale.append(old_tmp)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        kept = [data / "models" / f"x.onnx.tmp-{live.pid}", data / "models" / "fresh.onnx.tmp",
                data / "notes.tmp", data / "other.db.tmp-1"]  # in use, or not FaceGate's
        for path in kept:
            path.write_bytes(b"y")
        report = run_doctor(db)
        flagged = {Path(f.subject) for f in report.findings if f.check == Check.STALE_FILES and f.problem}
        assert flagged == set(stale[:3] + stale[3:4] + [old_tmp])
        fixed = run_doctor(db, repair=True)
        assert fixed.healthy, fixed.lines()
        assert not any(p.exists() for p in stale)
        assert all(p.exists() for p in kept)
        assert (data / "models" / "sface-2021dec-fp32.onnx").is_file()
    finally:
        live.kill()
        live.wait()


def test_an_out_of_date_gallery_index_is_stale(db: Path) -> None:
    from desktop_app.core.matching.gallery import build_gallery

    with Store(db) as store:
        model = store.active_model()
        assert model is not None
        ids, persons, vecs = store.templates(model.sha256, active_only=False)
        hnsw = build_gallery(ids[:-1], persons[:-1], vecs[:-1], kind="hnsw", dim=128, model_sha256=model.sha256)
        path = db.parent / "gallery" / f"{model.sha256[:16]}.hnsw"
        path.parent.mkdir(mode=0o700, exist_ok=True)  # as FaceGate makes it (else a file-mode finding too)
        hnsw.save(path, sealer=store.gallery_sealer())  # encrypted, as FaceGate saves it
    report = run_doctor(db)
    (finding,) = [f for f in report.findings if f.problem]
    assert finding.subject == str(path) and "out of date" in finding.message
    assert run_doctor(db, repair=True).healthy and not path.exists()


def test_doctor_runs_when_facegate_cannot_open(db: Path) -> None:
    """A custom active model whose file is gone: FaceGate refuses to start, the doctor still reports."""
    custom = ModelRecord(name="custom", sha256="ab" * 32, path=str(db.parent / "models" / "custom.onnx"))
    with Store(db) as store:
        store.register_model(custom)
        store.set_active_model(custom.sha256)
    with pytest.raises(ModelError):
        FaceGate(db, device="cpu")
    report = run_doctor(db, repair=True)
    assert report.exit_code == 1 and report.repair_requested
    model = next(f for f in report.after if f.check == Check.MODEL)
    assert model.severity == Severity.ERROR and "missing" in model.message and "rollback" in model.message
    assert not model.repairable
    missing = [f for f in report.after if f.check == Check.MISSING_TEMPLATES]
    assert len(missing) == 5 and not any(f.repairable for f in missing)  # no embedder to make them


def test_missing_database_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "nope.db"
    report = run_doctor(path, repair=True)
    assert report.exit_code == 1 and "does not exist" in report.findings[0].message
    assert not path.exists()


def test_cli_doctor_reports_repairs_and_exits_by_health(db: Path) -> None:
    home = db.parent
    lin = sample_of(db, LIN)
    set_template(db, lin, np.zeros(128, np.float32))
    out = facegate_cli("doctor", "--db", str(db), home=home)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert f"sample {lin} of {LIN!r}" in out.stdout and "all zeros" in out.stdout and "--repair" in out.stdout
    out = facegate_cli("doctor", "--db", str(db), "--repair", home=home)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "re-embedded 1 template(s)" in out.stdout and "Healthy after the repairs." in out.stdout
    out = facegate_cli("doctor", "--db", str(db), "--json", home=home)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["healthy"] is True and report["db"] == str(db)
    assert {f["check"] for f in report["findings"]} >= {"integrity", "templates", "stale-files"}


def test_cli_doctor_on_a_page_of_garbage_and_an_empty_file(db: Path, tmp_path: Path) -> None:
    page_size = int(sql(db, "PRAGMA page_size")[0][0])  # type: ignore[call-overload]
    middle = db.stat().st_size // page_size // 2
    with db.open("r+b") as fh:
        fh.seek((middle - 1) * page_size)
        fh.write(np.random.default_rng(3).bytes(page_size))
    out = facegate_cli("doctor", "--db", str(db), "--repair", home=db.parent)
    assert out.returncode == 1 and "Traceback" not in out.stdout + out.stderr, out.stderr
    assert "ERROR   integrity" in out.stdout and "restore the file from a backup" in out.stdout

    empty = tmp_path / "empty" / "facegate.db"
    empty.parent.mkdir()
    empty.write_bytes(b"")
    out = facegate_cli("doctor", "--db", str(empty), home=empty.parent)
    assert out.returncode == 1 and "empty (0 bytes)" in out.stdout and empty.stat().st_size == 0
    out = facegate_cli("doctor", "--db", str(empty), "--repair", home=empty.parent)
    assert out.returncode == 0 and "started a new, empty database" in out.stdout, out.stdout + out.stderr
    assert empty.stat().st_size > 0


def test_undecodable_crops_and_damaged_stranger_vectors(db: Path) -> None:
    obama, biden = sample_of(db, "obama"), sample_of(db, "biden")
    with Store(db) as store:  # a stranger pool of real embeddings (the stored templates)
        model = store.active_model()
        assert model is not None
        _, _, vecs = store.templates(model.sha256)
        store.add_strangers(vecs, model.sha256, "test")
    first = int(sql(db, "SELECT min(id) FROM strangers")[0][0])  # type: ignore[call-overload]
    sql(db, "UPDATE strangers SET vector = ? WHERE id = ?",
        (sealed(db, SealedField.STRANGER_VECTOR, first, np.full(128, np.nan, "<f4").tobytes()), first))
    for sid in (obama, biden):
        sql(db, "UPDATE samples SET crop_png = ? WHERE id = ?",
            (sealed(db, SealedField.SAMPLE_CROP, sid, bytes.fromhex("89504e470d0a1a0a00")), sid))
    set_template(db, biden, np.zeros(128, np.float32))  # biden's shot: neither crop nor template usable
    report = run_doctor(db)
    by_subject = {f.subject.split(" of ")[0]: f for f in report.findings if f.problem}
    assert set(by_subject) == {f"sample {obama}", f"sample {biden}", f"stranger embedding {first} (model"
                                                                     f" {model.sha256[:12]})"}
    kept = by_subject[f"sample {obama}"]
    assert kept.check == Check.CROPS and kept.severity == Severity.WARNING and not kept.repairable
    assert "template still works" in kept.message
    dead = by_subject[f"sample {biden}"]
    assert dead.check == Check.CROPS and dead.severity == Severity.ERROR and dead.repairable

    fixed = run_doctor(db, repair=True)
    assert fixed.exit_code == 1  # obama's crop cannot be made again: re-enrol that shot
    assert [f.subject for f in fixed.problems] == [kept.subject]
    assert sql(db, "SELECT count(*) FROM samples WHERE id = ?", (biden,)) == [(0,)]
    assert sql(db, "SELECT count(*) FROM strangers WHERE id = ?", (first,)) == [(0,)]
    (actor, action, details) = _audit(db)[-1]
    assert (actor, action) == ("doctor", "doctor.repair")
    assert details["deleted_samples"] == [biden] and details["deleted_strangers"] == [first]
