"""Central PostgreSQL server (issue 13), on a real PostgreSQL 15 server (``postgres_server``):
init and status, the site key, exactly-once event push through a cut, the local migration."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest
from service_fixtures import PostgresServer
from sqlite_utils import Database

from desktop_app.core.central import schema
from desktop_app.core.central.client import CentralClient
from desktop_app.core.central.errors import CentralError, CentralUnavailable
from desktop_app.core.central.sitekey import SiteKey
from desktop_app.core.service import FaceGate
from desktop_app.core.storage.schema import MIGRATIONS, migrate, migration_12


@pytest.fixture
def central(central_site: tuple[str, SiteKey]) -> tuple[str, SiteKey]:
    """A central site (DSN, key; the key file is tmp_path / "site.key")."""
    return central_site


def log_events(gate: FaceGate, n: int, door: str = "front") -> None:
    for _ in range(n):
        gate.store.log_event(person_id=None, score=0.1, decision="unknown", camera="cam",
                             model_sha256=gate.model.sha256, door=door, direction="in", reason="unknown")


def test_init_is_idempotent_and_checks_the_site_key(central: tuple[str, SiteKey], tmp_path: Path) -> None:
    dsn, key = central
    assert (tmp_path / "site.key").stat().st_mode & 0o777 == 0o600
    assert SiteKey.load(tmp_path / "site.key") == key
    with CentralClient(dsn) as client:
        assert client.init(key) is False  # again: nothing new
        with pytest.raises(CentralError, match="site key is for site"):
            client.init(SiteKey.generate())
        status = client.status()
    assert status.schema_version == schema.SCHEMA_VERSION == 2 and status.site_id == key.site_id and status.events == 0
    other = SiteKey(key.site_id, bytes(32))
    with CentralClient(dsn, other) as client, pytest.raises(CentralError, match="wrong key file"):
        client.status()


def test_an_unreachable_server_is_one_line(tmp_path: Path) -> None:
    with CentralClient("postgresql://facegate@127.0.0.1:1/none") as client, \
            pytest.raises(CentralUnavailable, match="cannot be reached") as err:
        client.status()
    assert "\n" not in str(err.value)


def test_events_of_two_doors_arrive_exactly_once_through_a_cut(central: tuple[str, SiteKey], tmp_path: Path,
                                                               postgres_server: PostgresServer) -> None:
    dsn, key = central
    a, b = FaceGate(tmp_path / "a" / "door.db", device="cpu"), FaceGate(tmp_path / "b" / "door.db", device="cpu")
    try:
        log_events(a, 5, "front")
        a.store.audit("admin", "test.note", {"n": 1})
        log_events(b, 3, "back")
        with CentralClient(dsn, key) as client:
            assert a.central_sync(client, name="a").events_new == 5
            assert b.central_sync(client, name="b").events_new == 3
            assert a.central_sync(client, name="a").events_sent == 0  # nothing twice
        # a crash after the central commit, before the local mark: the resend is skipped centrally
        log_events(a, 2)
        with CentralClient(dsn, key) as client:
            batch = a.store.outbox_events()
            assert client.push_events(a.central_node(), batch) == 2
            report = a.central_sync(client, name="a")  # resends both: the server keeps one copy
            assert (report.events_sent, report.events_new, report.pending) == (2, 0, 0)
        # the cut: the door keeps logging, the sync fails with one line, nothing is lost
        postgres_server.stop()
        try:
            log_events(a, 4)
            with CentralClient(dsn, key) as client, pytest.raises(CentralUnavailable):
                a.central_sync(client, name="a")
            assert a.store.outbox_count() == 4
        finally:
            postgres_server.start()
        with CentralClient(dsn, key) as client:
            report = a.central_sync(client, name="a")
            assert (report.events_sent, report.events_new, report.pending) == (4, 4, 0)
            status = client.status()
        assert status.events == 5 + 3 + 2 + 4
        assert {n.name: n.pending_events for n in status.nodes} == {"a": 0, "b": 0}
        with psycopg.connect(dsn) as conn:
            uids = conn.execute("SELECT uid, node_uid, door FROM events").fetchall()
            audit = conn.execute("SELECT count(*) FROM audit").fetchone()
        assert len({u for u, _, _ in uids}) == len(uids) == 14
        assert {(n, d) for _, n, d in uids} == {(a.central_node(), "front"), (b.central_node(), "back")}
        assert audit is not None and audit[0] > 0
    finally:
        a.close()
        b.close()


def test_an_older_file_migrates_to_the_central_migration(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    db = Database(conn)
    before = MIGRATIONS.index(migration_12)  # the file as the FaceGate before the central sync left it
    migrate(db, MIGRATIONS[:before])
    conn.execute("INSERT INTO people (name, name_key, created_at, updated_at) VALUES ('Ann', 'ann', 'x', 'x')")
    conn.execute("INSERT INTO events (ts, score, decision, camera, model_sha256)"
                 " VALUES ('t', 0.1, 'unknown', 'c', 'm')")
    assert migrate(db) == before
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    uid, = conn.execute("SELECT uid FROM people").fetchone()
    assert len(uid) == 32
    assert conn.execute("SELECT uid IS NOT NULL, central_pushed FROM events").fetchone() == (1, None)
    conn.execute("INSERT INTO people (name, name_key, created_at, updated_at) VALUES ('Bo', 'bo', 'x', 'x')")
    assert len({r[0] for r in conn.execute("SELECT uid FROM people")}) == 2  # the trigger gives new rows one
    conn.close()


def test_a_door_holds_only_the_people_permitted_at_its_doors(central: tuple[str, SiteKey], tmp_path: Path) -> None:
    from desktop_app.core.access.model import DoorSpec, Group
    from desktop_app.core.central.workspace import central_workspace

    dsn, key = central
    cache = tmp_path / "admin" / "cache.db"
    with central_workspace(dsn, key, cache=cache, device="cpu") as ws:
        for door, group in (("front", "day"), ("back", "night")):
            ws.save_door(DoorSpec(door))
            ws.save_group(Group(group))
            ws.set_permissions(group, [door])
        for name, group in (("Ann", "day"), ("Bob", "night")):
            ws.set_person_access(ws.store.add_person(name), groups=[group])
    door = FaceGate(tmp_path / "door" / "door.db", device="cpu")
    try:
        with CentralClient(dsn, key) as client:
            door.central_sync(client, doors=["FRONT"])
            assert [p.name for p in door.people()] == ["Ann"] and len(door.doors()) == 2
            with central_workspace(dsn, key, cache=cache, device="cpu") as ws:
                ws.set_permissions("night", ["back", "front"])  # Bob may now pass at the front too
            door.central_sync(client)  # the doors given before are kept
            assert sorted(p.name for p in door.people()) == ["Ann", "Bob"]
            with central_workspace(dsn, key, cache=cache, device="cpu") as ws:
                ann = ws.find_person("Ann")
                assert ann is not None
                ws.set_person_access(ann.id, groups=[])  # in no group: no longer at this door
            assert door.central_sync(client).erased == 1
            assert [p.name for p in door.people()] == ["Bob"]
            assert [a.action for a in door.store.audit_log(20)].count("erase_person") == 1
    finally:
        door.close()


def test_event_uids_are_uuid7_in_time_order() -> None:
    import uuid

    from desktop_app.core.storage.event_spool import PendingEvent, uuid7_hex

    uid = uuid.UUID(PendingEvent.new_uid())
    assert uid.version == 7 and uid.variant == uuid.RFC_4122
    assert uuid7_hex(1_000) < uuid7_hex(1_001) and len({uuid7_hex(5) for _ in range(1000)}) == 1000


def test_door_secrets_reach_the_door_but_never_the_server_in_clear(central: tuple[str, SiteKey],
                                                                    tmp_path: Path) -> None:
    """A door's output URI (user:pass@), signing secret and camera URL (rtsp password) are sealed
    with the site key on the server and come back whole at the door (sealed there with its data key)."""
    from desktop_app.core.access.model import CameraSpec, DoorSpec
    from desktop_app.core.central.workspace import central_workspace

    dsn, key = central
    output, secret, camera = "mqtt://gate:Out9Pass7@broker:1883", "Hmac4Secret8Key", "rtsp://cam:Cam5Pass3@10.0.0.9/s"
    with central_workspace(dsn, key, cache=tmp_path / "admin" / "cache.db", device="cpu") as ws:
        ws.save_door(DoorSpec("front", cameras=(CameraSpec(camera),), output=output, secret=secret))
    with psycopg.connect(dsn) as conn:
        dump = "\n".join(str(row) for table in ("roster", "nodes", "events")
                         for row in conn.execute(f"SELECT * FROM {table}").fetchall())
    assert "front" in dump
    for clear in ("Out9Pass7", "Hmac4Secret8Key", "Cam5Pass3"):
        assert clear not in dump
    door = FaceGate(tmp_path / "door" / "door.db", device="cpu")
    try:
        with CentralClient(dsn, key) as client:
            door.central_sync(client)
        spec = door.door("front")
        assert spec is not None and spec.output == output and spec.secret == secret
        assert [c.source for c in spec.cameras] == [camera]
        raw = b"".join(p.read_bytes() for p in door.db_path.parent.glob("door.db*") if p.is_file())
        for clear in (b"Out9Pass7", b"Hmac4Secret8Key", b"Cam5Pass3"):
            assert clear not in raw
    finally:
        door.close()


def test_a_door_cut_off_past_its_retention_keeps_its_unpushed_events(central: tuple[str, SiteKey],
                                                                      tmp_path: Path) -> None:
    """Retention deletes an expired event only once the central server has it: a door offline for
    longer than its limit loses nothing; the purge after the push deletes them."""
    from datetime import UTC, datetime, timedelta

    from desktop_app.core.config import RetentionSettings

    dsn, key = central
    gate = FaceGate(tmp_path / "door.db", device="cpu")
    try:
        gate.central_node()  # this file is a node of the central server
        old = datetime.now(UTC) - timedelta(days=40)
        for _ in range(3):
            gate.store.log_event(person_id=None, score=0.1, decision="unknown", camera="cam",
                                 model_sha256=gate.model.sha256, ts=old, door="front", reason="unknown")
        rules = RetentionSettings(events_days=30)
        assert gate.purge_expired(settings=rules, dry_run=True).events_deleted == 0
        assert gate.purge_expired(settings=rules).events_deleted == 0 and gate.store.outbox_count() == 3
        with CentralClient(dsn, key) as client:
            assert gate.central_sync(client, name="door").events_new == 3
        assert gate.purge_expired(settings=rules).events_deleted == 3
        assert gate.count_events() == 0
    finally:
        gate.close()


def test_an_employee_id_held_by_a_local_person_does_not_stop_the_pull(central: tuple[str, SiteKey],
                                                                       tmp_path: Path) -> None:
    """A central person whose employee ID a person enrolled only at this door holds is kept here
    without it (reported), and the roster keeps coming."""
    from desktop_app.core.central.workspace import central_workspace
    from desktop_app.core.storage.records import Person

    dsn, key = central
    door = FaceGate(tmp_path / "door" / "door.db", device="cpu")
    try:
        local = door.store.add_person("Local Guard", employee_id="E-7")
        with central_workspace(dsn, key, cache=tmp_path / "cache.db", device="cpu") as ws:
            ws.store.add_person("Central Clerk", employee_id="E-7")
            ws.store.add_person("Central Porter", employee_id="E-8")
        with CentralClient(dsn, key) as client:
            report = door.central_sync(client, name="door")
            assert report.id_clashes == 1 and "without their employee ID" in report.line()
            people = {p.name: p for p in door.people()}
            assert isinstance(people["Central Clerk"], Person) and people["Central Clerk"].employee_id is None
            assert people["Central Porter"].employee_id == "E-8"
            assert door.get_person(local).employee_id == "E-7"  # type: ignore[union-attr]
            with central_workspace(dsn, key, cache=tmp_path / "cache.db", device="cpu") as ws:
                ws.store.add_person("Central Cook", employee_id="E-9")
            assert door.central_sync(client, name="door").id_clashes == 0
            assert "Central Cook" in {p.name for p in door.people()}
    finally:
        door.close()


def test_central_purge_deletes_only_the_events_past_the_servers_limit(central: tuple[str, SiteKey],
                                                                      tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                                      ) -> None:
    """`facegate central purge --events-days N`: the server's own retention (a dry run counts)."""
    from datetime import UTC, datetime, timedelta

    from desktop_app.cli import main as cli_main

    dsn, key = central
    door = FaceGate(tmp_path / "door.db", device="cpu")
    try:
        now = datetime.now(UTC)
        for days in (400, 200, 1):
            door.store.log_event(person_id=None, score=0.1, decision="unknown", camera="cam",
                                 model_sha256=door.model.sha256, ts=now - timedelta(days=days), door="front")
        with CentralClient(dsn, key) as client:
            assert door.central_sync(client, name="door").events_new == 3
        base = ["central", "purge", "--dsn", dsn, "--site-key", str(tmp_path / "site.key")]
        assert cli_main([*base, "--events-days", "300", "--dry-run"]) == 0
        assert "1 events before" in capsys.readouterr().out
        with CentralClient(dsn, key) as client:
            assert client.count_events() == 3  # a dry run deletes nothing
        assert cli_main([*base, "--events-days", "100"]) == 0
        out = capsys.readouterr().out
        assert "2 events before" in out and out.rstrip().endswith("deleted")
        with CentralClient(dsn, key) as client:
            assert client.count_events() == 1
        assert door.count_events() == 3  # the door's copy follows the door's own retention
        with pytest.raises(SystemExit):
            cli_main([*base, "--events-days", "0"])
    finally:
        door.close()
