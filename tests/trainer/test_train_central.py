"""``facegate-train --central DSN`` (issue 13): the trainer runs in the central admin workspace on
a real PostgreSQL 15 server: it trains on the site's roster (the workspace cache), and what the
workspace holds is published after it; a dry run leaves the site's model as it was."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from service_fixtures import PostgresServer

from desktop_app.core.central.client import CentralClient
from desktop_app.core.central.sitekey import SiteKey
from desktop_app.core.central.workspace import cache_path
from desktop_app.core.service import FaceGate
from trainer.cli import main as train_main


def test_a_central_dry_run_trains_on_the_site_roster_and_keeps_the_sites_model(
        postgres_server: PostgresServer, enrolled_dir: Path, tmp_path: Path, capsys: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACEGATE_HOME", str(tmp_path / "home"))
    dsn = postgres_server.new_database()
    key = SiteKey.generate()
    key.save(tmp_path / "site.key")
    with CentralClient(dsn) as client:
        client.init(key)
    # this admin computer's cache of the site already holds the six people (enrolled here before)
    cache = cache_path(key.site_id)
    shutil.copytree(enrolled_dir, cache.parent)
    (cache.parent / "facegate.db").rename(cache)
    with FaceGate(cache, device="cpu") as fg:
        base = fg.model.sha256
        people = len(fg.people())

    code = train_main(["--central", dsn, "--site-key", str(tmp_path / "site.key"), "--recipe", "partial",
                       "--epochs", "1", "--dry-run", "--work-dir", str(tmp_path / "run")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"train: {people} people" in out and "result: dry-run" in out
    assert "central: published" in out and "every door now switches to the model" in out  # the first publish
    with CentralClient(dsn, key) as client:
        site = client.site_model()
        status = client.status()
    assert site is not None and site.sha256 == base and site.set_by == "trainer"
    assert status.roster.get("person") == people and any(n.name == "admin workspace trainer" for n in status.nodes)
    assert train_main(["--central", "postgresql://facegate@127.0.0.1:1/none", "--site-key",
                       str(tmp_path / "site.key"), "--dry-run"]) == 2  # a server that cannot be reached: one line
    assert "cannot be reached" in capsys.readouterr().err
