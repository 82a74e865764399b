"""A running door picks up a central change within seconds (LISTEN/NOTIFY), and its sync thread
survives the server going away (health line, polling) without ever raising into the caller."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from service_fixtures import PostgresServer, wait_until

from desktop_app.core.access.model import Group
from desktop_app.core.central.client import CentralClient
from desktop_app.core.central.sitekey import SiteKey
from desktop_app.core.central.sync import SyncThread
from desktop_app.core.central.workspace import central_workspace
from desktop_app.core.service import FaceGate


@pytest.mark.slow
def test_notify_brings_a_change_within_seconds_and_a_cut_is_a_health_line(
        postgres_server: PostgresServer, tmp_path: Path) -> None:
    dsn = postgres_server.new_database()
    key = SiteKey.generate()
    with CentralClient(dsn) as client:
        client.init(key)
    door = FaceGate(tmp_path / "door" / "door.db", device="cpu")
    health: list[str] = []
    thread = SyncThread(door, dsn, key, name="door", poll_s=3600, on_health=health.append)  # no polling: notify only
    thread.start()
    try:
        assert wait_until(lambda: thread.health.startswith("central: in sync"), 30), thread.health
        with central_workspace(dsn, key, cache=tmp_path / "admin.db", device="cpu") as ws:
            ws.save_group(Group("night shift"))
        published = time.monotonic()
        assert wait_until(lambda: [g.name for g in door.groups()] == ["night shift"], 10)
        assert time.monotonic() - published < 5
        door.store.log_event(person_id=None, score=0.1, decision="unknown", camera="cam",
                             model_sha256=door.model.sha256)
        assert wait_until(lambda: door.store.outbox_count() == 0, 10)  # pushed within the push interval
        postgres_server.stop()
        try:
            door.store.log_event(person_id=None, score=0.1, decision="unknown", camera="cam",
                                 model_sha256=door.model.sha256)
            assert wait_until(lambda: "cannot be reached" in thread.health, 20), thread.health
            assert thread.is_alive() and door.store.outbox_count() == 1
        finally:
            postgres_server.start()
        assert wait_until(lambda: door.store.outbox_count() == 0, 20), thread.health
        assert wait_until(lambda: thread.health.startswith("central: in sync"), 20), thread.health
    finally:
        thread.stop()
        door.close()
    with CentralClient(dsn, key) as client:
        assert client.count_events() == 2
