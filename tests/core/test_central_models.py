"""The site's face model lives on the central server (issue 13), on a real PostgreSQL 15 server
and the real models: an admin workspace that switches models publishes the model and its
templates, both doors follow it at their next sync (downloaded, checked, templates taken from the
server, the rest re-embedded) and recognise with it; a roll back reaches them too; a damaged
central copy is refused and the door keeps deciding on the model it runs."""

from __future__ import annotations

import io
from contextlib import redirect_stdout
from pathlib import Path

import psycopg
import pytest
from service_fixtures import PostgresServer

from desktop_app.cli import main as cli_main
from desktop_app.core.central import schema
from desktop_app.core.central.client import CentralClient
from desktop_app.core.central.model_client import ModelPackage
from desktop_app.core.central.sitekey import SiteKey
from desktop_app.core.central.workspace import PublishReport, central_workspace, publish
from desktop_app.core.embedding.model_files import EMBEDDER, shipped_model_path
from desktop_app.core.service import FaceGate
from desktop_app.core.storage.replica import DocKind

pytestmark = pytest.mark.data

LIN = "Lin-Manuel Miranda"


@pytest.fixture
def central(central_site: tuple[str, SiteKey]) -> tuple[str, SiteKey]:
    """A central site (DSN, key; the key file is tmp_path / "site.key")."""
    return central_site


def recognised(gate: FaceGate, photo: Path) -> str | None:
    found = [i for i in gate.identify(gate_image(photo)) if i.accepted]
    return found[0].name if found else None


def gate_image(photo: Path):  # type: ignore[no-untyped-def]
    import cv2

    image = cv2.imread(str(photo))
    assert image is not None
    return image


def template_models(gate: FaceGate) -> dict[str, int]:
    rows = gate.store.db.execute("SELECT model_sha256, count(*) FROM templates GROUP BY 1").fetchall()
    return {str(m): int(n) for m, n in rows}


def test_the_sites_model_reaches_both_doors_and_rolls_back(central: tuple[str, SiteKey], tmp_path: Path,
                                                           clips: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dsn, key = central
    monkeypatch.setenv("FACEGATE_HOME", str(tmp_path / "home"))
    cache = tmp_path / "admin" / "cache.db"
    lin_photo = clips / "lin-manuel-miranda.png"
    obama = clips / "knn_examples" / "train" / "obama" / "obama.jpg"
    reports: list[PublishReport] = []
    with central_workspace(dsn, key, cache=cache, device="cpu", reports=reports) as ws:
        assert ws.enrol_images(LIN, [lin_photo]).added
        base = ws.model
    assert reports[-1].model == f"{base.name} ({base.sha256[:12]})"  # the first publish names the site's model
    other_cache = tmp_path / "admin2" / "cache.db"
    with central_workspace(dsn, key, cache=other_cache, device="cpu"):
        pass  # a second admin computer, in step with the site at the base model
    a, b = FaceGate(tmp_path / "a" / "door.db", device="cpu"), FaceGate(tmp_path / "b" / "door.db", device="cpu")
    try:
        assert b.enrol_images("Local Visitor", [obama]).added  # enrolled only at door b
        with CentralClient(dsn, key) as client:
            for door, name in ((a, "a"), (b, "b")):
                report = door.central_sync(client, name=name)
                assert report.model is None and door.model.sha256 == base.sha256  # already the site's
                assert recognised(door, lin_photo) == LIN

            # the admin deploys another model (the shipped int8 file: another sha256, real weights)
            reports.clear()
            with central_workspace(dsn, key, cache=cache, device="cpu", reports=reports) as ws:
                new = ws.register_model(shipped_model_path(EMBEDDER), "sface-int8", actor="admin")
                ws.switch_model(new.sha256)
            assert new.sha256 != base.sha256
            assert reports[-1].upserted >= 1 and "sface-int8" in str(reports[-1].model)  # its templates, then it
            site = client.site_model()
            assert site is not None and site.sha256 == new.sha256 and site.set_by == "admin"
            # the second admin's cache, still on the base model, publishes before it syncs (as the app
            # does at start): it does not take the site back; its sync then follows the site
            with FaceGate(other_cache, device="cpu") as stale:
                assert publish(stale, client, "admin2").model is None
                assert client.site_model().sha256 == new.sha256  # type: ignore[union-attr]
                assert stale.central_sync(client, role="admin").model is not None
                assert stale.model.sha256 == new.sha256

            for door, name in ((a, "a"), (b, "b")):
                report = door.central_sync(client, name=name)
                assert report.model == f"switched to the site's model sface-int8 ({new.sha256[:12]})"
                assert door.model.sha256 == new.sha256 and door.store.active_model().sha256 == new.sha256  # type: ignore[union-attr]
                assert Path(door.model.path).is_file() and door.model.path.startswith(str(door.data_dir))
                assert recognised(door, lin_photo) == LIN
                assert door.central_sync(client, name=name).model is None  # nothing more to do
            # door a took Lin's template from the server; door b also re-embedded its own visitor
            assert template_models(a)[new.sha256] == 1
            assert template_models(b)[new.sha256] == 2
            assert recognised(b, obama) == "Local Visitor"
            held = {k for kind, k in a.store.held_documents() if kind == DocKind.TEMPLATE.value}
            assert any(k.endswith(":" + new.sha256) for k in held)
            status = client.status()
            assert {n.name: n.model_sha256 for n in status.nodes if n.role == "door"} == {"a": new.sha256,
                                                                                          "b": new.sha256}
            out = io.StringIO()
            with redirect_stdout(out):
                assert cli_main(["central", "status", "--dsn", dsn, "--site-key", str(tmp_path / "site.key")]) == 0
            assert f"site model: sface-int8 ({new.sha256[:12]})" in out.getvalue() and "*" not in out.getvalue()

            # roll back centrally with the command line (a new admin cache: it follows the site's
            # model first, downloading it, then rolls back): the doors go back without downloading
            out = io.StringIO()
            with redirect_stdout(out):
                assert cli_main(["models", "--rollback", "--central", dsn, "--site-key",
                                 str(tmp_path / "site.key")]) == 0
            assert f"Active model is now {base.name}" in out.getvalue()
            site = client.site_model()
            assert site is not None and site.sha256 == base.sha256
            for door, name in ((a, "a"), (b, "b")):
                assert door.central_sync(client, name=name).model is not None
                assert door.model.sha256 == base.sha256 and recognised(door, lin_photo) == LIN
            actions = [r[0] for r in a.store.db.execute("SELECT action FROM audit ORDER BY id")]
            assert actions.count("model.activate") == 2 and "model.register" in actions
    finally:
        a.close()
        b.close()


def test_a_damaged_central_model_is_refused_and_the_door_goes_on(central: tuple[str, SiteKey], tmp_path: Path,
                                                                 clips: Path) -> None:
    dsn, key = central
    lin_photo = clips / "lin-manuel-miranda.png"
    with central_workspace(dsn, key, cache=tmp_path / "cache.db", device="cpu") as ws:
        assert ws.enrol_images(LIN, [lin_photo]).added
    door = FaceGate(tmp_path / "door" / "door.db", device="cpu")
    try:
        with CentralClient(dsn, key) as client:
            door.central_sync(client, name="door")
            base = door.model.sha256
            onnx = shipped_model_path(EMBEDDER).read_bytes()
            import hashlib

            sha = hashlib.sha256(onnx).hexdigest()
            assert client.upload_model(ModelPackage("sface-int8", sha, onnx), "admin") is True
            assert client.upload_model(ModelPackage("sface-int8", sha, onnx), "admin") is False  # once
            with pytest.raises(Exception, match="does not match its sha256"):
                client.upload_model(ModelPackage("other", "0" * 64, onnx), "admin")
            client.set_site_model(sha, "admin")
            with psycopg.connect(dsn, autocommit=True) as conn:  # someone altered the stored file
                conn.execute("UPDATE models SET sealed = overlay(sealed placing '\\xff'::bytea from 200)"
                             " WHERE sha256 = %s", (sha,))
            report = door.central_sync(client, name="door")
            assert report.model is not None and "was refused here" in report.model
            assert door.model.sha256 == base and door.store.get_model(sha) is None
            assert recognised(door, lin_photo) == LIN  # still deciding on the model it runs
            node = next(n for n in client.status().nodes if n.name == "door")
            assert node.last_error is not None and "refused" in node.last_error and node.model_sha256 == base
            assert door.central_sync(client, name="door").model == report.model  # not downloaded again
            refusals = door.store.db.execute(
                "SELECT count(*) FROM audit WHERE action = 'central.model.refused'").fetchone()
            assert refusals[0] == 1
    finally:
        door.close()


def test_a_server_of_schema_1_is_migrated(postgres_server: PostgresServer) -> None:
    dsn = postgres_server.new_database()
    with psycopg.connect(dsn, autocommit=True) as conn:  # the server as the FaceGate before the site model left it
        conn.execute("CREATE TABLE facegate_schema (version integer PRIMARY KEY,"
                     " applied_at timestamptz NOT NULL DEFAULT now())")
        for statement in schema.MIGRATIONS[0]:
            conn.execute(statement)
        conn.execute("INSERT INTO facegate_schema (version) VALUES (1)")
    key = SiteKey.generate()
    with CentralClient(dsn) as client:
        assert client.init(key) is True
        assert schema.version(client.conn) == schema.SCHEMA_VERSION == 2
        assert client.site_model() is None and client.status().site_model is None
