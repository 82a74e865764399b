"""The desktop app on the central server (``facegate gui --central DSN``), on a real PostgreSQL
server: the window opens on the site's cache pulled off the GUI thread; a person enrolled in the
app reaches the server; with the server stopped, an edit saved on the People page stays pending
(banner "Not yet on the central server", nothing lost); after the restart, Retry publishes it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import psycopg
import pytest
from service_fixtures import PostgresServer

from desktop_app.core.central.applink import CentralLink, LinkHealth, server_label
from desktop_app.core.central.client import CentralClient
from desktop_app.core.central.sitekey import SiteKey
from desktop_app.core.storage.replica import DocKind

pytestmark = pytest.mark.slow

LIN = "Lin-Manuel Miranda"
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def central_people(dsn: str, key: SiteKey) -> dict[str, dict[str, Any]]:
    """The people a second node pulling from revision 0 sees: {name: body}."""
    with CentralClient(dsn, key) as client:
        changes, _, _ = client.pull(0)
    return {str(c.doc.body["name"]): dict(c.doc.body) for c in changes if c.kind == DocKind.PERSON and c.doc}


def test_server_label() -> None:
    assert server_label("postgresql://fg:secret@db.example:5433/facegate?sslmode=require") == "db.example:5433/facegate"
    assert server_label("host=10.0.0.5 port=5432 dbname=fg user=x password=y") == "10.0.0.5:5432/fg"


def test_app_on_central_enrol_publish_offline_pending_retry(
        postgres_server: PostgresServer, tmp_path: Path, clips: Path, qtbot: Any, clicks: Any,
        open_admin_window: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from desktop_app.ui.app import GateLoader
    from desktop_app.ui.central_bar import attach_central

    monkeypatch.setenv("FACEGATE_HOME", str(tmp_path / "home"))  # the site cache goes under it
    dsn = postgres_server.new_database()
    key = SiteKey.generate()
    with CentralClient(dsn) as client:
        client.init(key)
    link = CentralLink(dsn, key, actor="test app")

    loader = GateLoader(tmp_path / "unused.db", link)  # the pull runs in a pool thread, as at app start
    with qtbot.waitSignal(loader.loaded, timeout=30_000) as loaded:
        loader.start()
    gate = loaded.args[0]
    ctl = None
    down = False
    try:
        assert "central" in str(gate.store.path) and not (tmp_path / "unused.db").exists()
        win = open_admin_window(gate, "246813")
        ctl = attach_central(win, win.hub, link, gate, check_s=0.2, pull_s=60.0, retry_s=60.0)
        assert ctl.status_label is not None and ctl.banner is not None
        assert ctl.status_label.text() == f"Central: {link.server} — in sync"

        # enrol as the Photos page of the enrol wizard does, then the page's change signal
        gate.enrol_images(LIN, [clips / "lin-manuel-miranda.png"])
        win.hub.people_changed.emit()
        # the link's thread sets its state, then the window shows it (a queued signal): wait for both
        qtbot.waitUntil(lambda: ctl.state.health == LinkHealth.IN_SYNC and ctl.rounds >= 1
                        and LIN in central_people(dsn, key) and ctl.banner.isHidden()
                        and ctl.status_label.text().endswith("in sync"), timeout=15_000)
        assert ctl.status_label.text().endswith("in sync") and ctl.banner.isHidden()

        # a door's event on the server reaches the app's Events page (copied into the cache)
        uid = "0190f0c0-0000-7000-8000-00000000abcd"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("INSERT INTO events (uid, node_uid, ts, person_uid, score, decision, camera, model_sha256,"
                         " door) VALUES (%s, 'door-x', now(), %s, 0.8, 'granted', 'cam', %s, 'front')",
                         (uid, gate.store.db.execute("SELECT uid FROM people WHERE name = ?", (LIN,)).fetchone()[0],
                          gate.model.sha256))
        with qtbot.waitSignal(win.hub.events_changed, timeout=15_000):
            ctl.sync_now()
        assert gate.store.db.execute("SELECT count(*) FROM events WHERE uid = ?", (uid,)).fetchone()[0] == 1

        # another admin deploys another face model from the command line: the app follows it (its
        # cache switches) and says so to the pages (the Models page lists it as active)
        from desktop_app.core.central.workspace import central_workspace
        from desktop_app.core.embedding.model_files import EMBEDDER, shipped_model_path

        with central_workspace(dsn, key, cache=tmp_path / "other" / "cache.db", device="cpu") as ws:
            other = ws.register_model(shipped_model_path(EMBEDDER), "sface-int8", actor="admin")
            ws.switch_model(other.sha256)
        with qtbot.waitSignal(win.hub.model_changed, timeout=30_000):
            ctl.sync_now()
        assert gate.model.sha256 == other.sha256 and "switched to the site's model sface-int8" in ctl.state.model

        # the server goes down; an edit saved on the People page stays here, pending
        postgres_server.stop()
        down = True
        clicks.nav(win, "people")
        page = win.people
        page.select_person(gate.find_person(LIN).id)
        page.department_edit.setText("Stage")
        clicks.click(page.save_btn)
        assert page.status.text() == "Saved."
        qtbot.waitUntil(lambda: ctl.banner.isVisible(), timeout=15_000)
        assert "Not yet on the central server: 1 change " in ctl.banner.label.text()
        assert "unreachable" in ctl.status_label.text() and "1 pending" in ctl.status_label.text()
        assert link.pending(gate) == 1 and gate.find_person(LIN).department == "Stage"  # nothing lost
        if os.environ.get("FACEGATE_SAVE_SCREENSHOTS"):
            win.resize(1280, 760)
            win.grab().save(str(SHOTS / "central_app.png"))

        # back up: Retry publishes it; a second node sees the edit
        postgres_server.start()
        down = False
        rounds = ctl.rounds
        clicks.click(ctl.banner.retry)
        # the round Retry starts, then its state shown (a queued signal). A loaded CI machine has
        # taken more than 15 s for it, so wait longer, and say what the link saw if it never syncs
        try:
            qtbot.waitUntil(lambda: ctl.state.health == LinkHealth.IN_SYNC and ctl.banner.isHidden()
                            and ctl.status_label.text().endswith("in sync"), timeout=60_000)
        except Exception as exc:
            raise AssertionError(f"not in sync after Retry: {ctl.rounds - rounds} round(s) since the click, "
                                 f"state {ctl.state}, status {ctl.status_label.text()!r}") from exc
        assert ctl.banner.isHidden() and ctl.status_label.text().endswith("in sync")
        assert central_people(dsn, key)[LIN].get("department") == "Stage"
    finally:
        if ctl is not None:
            ctl.stop()
        if down:
            postgres_server.start()
        gate.close()
