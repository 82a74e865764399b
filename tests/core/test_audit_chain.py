"""The tamper-evident audit log (issue 12) on real SQLite files.

Tampering is done as another program would: a plain ``sqlite3`` connection that first drops the
triggers guarding the table (as anyone with write access can), then edits, deletes, inserts or
reorders rows. The chain is also recomputed here from its documented definition, independently
of the code under test, to check that the stored hashes are exactly what the docs promise.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import stat
import threading
from collections.abc import Iterator
from datetime import date, timedelta, timezone
from pathlib import Path

import pytest
from sqlite_utils import Database

from desktop_app.core.storage import audit_chain, schema
from desktop_app.core.storage.audit_filter import AuditFilter
from desktop_app.core.storage.store import Store

TZ = timezone(timedelta(hours=2))
GENESIS = "0" * 64


# ------------------------------------------------------------------ helpers
def reference_row_hash(row_id: int, ts: str, actor: str, action: str, digest: str, prev: str) -> str:
    """The row hash as docs/audit.md defines it, written from the docs, not from the code."""
    canon = json.dumps([row_id, ts, actor, action, digest, prev], ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(("facegate-audit-v1\n" + canon).encode("ascii")).hexdigest()


def raw(db: Path) -> sqlite3.Connection:
    """Another program's connection, with the guarding triggers dropped (an attacker's first step)."""
    conn = sqlite3.connect(db, isolation_level=None)
    for name in ("audit_no_delete", "audit_no_update", "audit_details_only_pseudonymised"):
        conn.execute(f"DROP TRIGGER IF EXISTS {name}")
    return conn


def rows(db: Path) -> list[tuple[int, str, str, str, str, str | None, str, str, str]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT id, ts, actor, action, details_json, details_salt, details_sha256, prev_hash,"
                            " row_hash FROM audit ORDER BY id").fetchall()
    finally:
        conn.close()


def verify(db: Path, expect: tuple[tuple[int, str], ...] = ()) -> audit_chain.AuditVerification:
    with Store(db, local_tz=TZ) as store:
        return store.verify_audit(expect)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A database with 8 audit rows by three actors, two of them about Ada."""
    path = tmp_path / "data" / "facegate.db"
    with Store(path, local_tz=TZ) as store:
        ada = store.add_person("Ada Lovelace", employee_id="E-1")
        store.audit("admin", "person.add", {"person_id": ada, "name": "Ada Lovelace"})
        store.audit("admin", "settings.update", {"threshold": 0.4})
        store.audit("cli", "events.export", {"rows": 3, "file": "e.csv"})
        store.audit("admin", "person.update", {"person_id": ada, "fields": ["department"]})
        store.audit("trainer", "model.register", {"sha256": "ab" * 32, "name": "m1"})
        store.audit("admin", "model.activate", {"sha256": "ab" * 32, "name": "m1"})
        store.audit("cli", "attendance.export", {"rows": 1})
        store.audit("admin", "settings.update", {"threshold": 0.45, "note": "Grüße, 東京"})
    return path


# ------------------------------------------------------------------ the chain as documented
def test_every_row_is_chained_as_the_docs_say(db: Path) -> None:
    prev = GENESIS
    stored = rows(db)
    assert len(stored) == 8
    for row_id, ts, actor, action, details, salt, digest, prev_hash, row_hash in stored:
        assert salt is not None and len(bytes.fromhex(salt)) == 16
        assert digest == hashlib.sha256(bytes.fromhex(salt) + details.encode("utf-8")).hexdigest()
        assert prev_hash == prev
        assert row_hash == reference_row_hash(row_id, ts, actor, action, digest, prev)
        prev = row_hash
    result = verify(db)
    assert result.intact and result.rows == result.checked == 8, result
    assert (result.head_id, result.head_hash) == (stored[-1][0], stored[-1][8])
    assert result.summary() == "intact: 8 rows" and result.warnings == ()
    head = json.loads(audit_chain.head_file(db).read_text())
    assert (head["rows"], head["last_id"], head["hash"]) == (8, stored[-1][0], stored[-1][8])
    assert stat.S_IMODE(audit_chain.head_file(db).stat().st_mode) == 0o600


def test_the_triggers_refuse_a_plain_edit_or_deletion(db: Path) -> None:
    conn = sqlite3.connect(db)
    try:
        for statement in ("UPDATE audit SET actor = 'mallory' WHERE id = 2",
                          "UPDATE audit SET details_json = '{}' WHERE id = 2",
                          "DELETE FROM audit WHERE id = 8"):
            with pytest.raises(sqlite3.IntegrityError, match="audit"):
                conn.execute(statement)
    finally:
        conn.close()
    assert verify(db).intact


# ------------------------------------------------------------------ tampering is detected
def test_an_edited_row_is_detected(db: Path) -> None:
    conn = raw(db)
    conn.execute("UPDATE audit SET details_json = '{\"threshold\":0.9}' WHERE id = 2")
    conn.close()
    result = verify(db)
    assert not result.intact and result.broken_id == 2 and result.checked == 1
    assert "details were changed" in (result.problem or "")
    assert result.summary().startswith("BROKEN at row 2: ")


@pytest.mark.parametrize(("column", "value"), [("actor", "mallory"), ("action", "settings.view"),
                                               ("ts", "2020-01-01T00:00:00.000000+00:00")])
def test_an_edited_actor_action_or_time_is_detected(db: Path, column: str, value: str) -> None:
    conn = raw(db)
    conn.execute(f"UPDATE audit SET {column} = ? WHERE id = 5", (value,))
    conn.close()
    result = verify(db)
    assert not result.intact and result.broken_id == 5 and "changed after it was written" in (result.problem or "")


def test_removing_a_salt_by_hand_is_not_a_lawful_erasure(db: Path) -> None:
    conn = raw(db)
    conn.execute("UPDATE audit SET details_json = '{\"person_ref\":\"erased-00000000\"}', details_salt = NULL"
                 " WHERE id = 3")
    conn.close()
    result = verify(db)
    assert not result.intact and result.broken_id == 3 and "without an erasure" in (result.problem or "")


def test_a_deleted_row_is_detected(db: Path) -> None:
    conn = raw(db)
    conn.execute("DELETE FROM audit WHERE id = 4")
    conn.close()
    result = verify(db)
    assert not result.intact and result.broken_id == 5 and "does not follow row 3" in (result.problem or "")


def test_a_deleted_first_row_is_detected(db: Path) -> None:
    conn = raw(db)
    conn.execute("DELETE FROM audit WHERE id = 1")
    conn.close()
    result = verify(db)
    assert not result.intact and result.broken_id == 2 and "not the first row" in (result.problem or "")


def test_an_inserted_row_is_detected(db: Path) -> None:
    conn = raw(db)  # a forged row slipped in where one was deleted, with the chain columns of its neighbour
    conn.execute("DELETE FROM audit WHERE id = 6")
    conn.execute("INSERT INTO audit (id, ts, actor, action, details_json, details_salt, details_sha256, prev_hash,"
                 " row_hash) SELECT 6, ts, 'admin', 'model.activate', '{}', details_salt, details_sha256, prev_hash,"
                 " row_hash FROM audit WHERE id = 5")
    conn.close()
    result = verify(db)
    assert not result.intact and result.broken_id == 6 and "does not follow row 5" in (result.problem or ""), result


def test_a_row_appended_without_hashes_is_detected(db: Path) -> None:
    conn = raw(db)
    conn.execute("INSERT INTO audit (ts, actor, action, details_json) VALUES ('2030-01-01', 'x', 'y', '{}')")
    conn.close()
    result = verify(db)
    assert not result.intact and result.broken_id == 9 and "no chain hash" in (result.problem or "")


def test_reordered_rows_are_detected(db: Path) -> None:
    conn = raw(db)  # swap rows 3 and 4 completely (every column but the id)
    cols = "ts, actor, action, details_json, details_salt, details_sha256, prev_hash, row_hash"
    three = conn.execute(f"SELECT {cols} FROM audit WHERE id = 3").fetchone()
    four = conn.execute(f"SELECT {cols} FROM audit WHERE id = 4").fetchone()
    sets = ", ".join(f"{c.strip()} = ?" for c in cols.split(","))
    conn.execute(f"UPDATE audit SET {sets} WHERE id = 3", four)
    conn.execute(f"UPDATE audit SET {sets} WHERE id = 4", three)
    conn.close()
    result = verify(db)
    assert not result.intact and result.broken_id == 3


def test_deleted_newest_rows_are_detected_by_the_head_record_then_the_head_file(db: Path) -> None:
    conn = raw(db)
    conn.execute("DELETE FROM audit WHERE id > 6")
    conn.close()
    result = verify(db)
    assert not result.intact and result.broken_id == 8 and "newest rows were deleted" in (result.problem or "")
    # a better informed attacker also rewinds the database's head record: the head file still knows
    last = rows(db)[-1]
    conn = raw(db)
    conn.execute("UPDATE audit_head SET rows = 6, last_id = 6, hash = ?", (last[8],))
    conn.close()
    result = verify(db)
    assert not result.intact and result.broken_id == 8 and "head file" in (result.problem or "")
    # writing new rows afterwards does not hide it (the file is kept as evidence, not rewritten)
    with Store(db) as store:
        store.audit("admin", "settings.update", {"threshold": 0.5})
        result = store.verify_audit()
    assert not result.intact and "head file" in (result.problem or ""), result


def test_deleting_the_head_file_too_leaves_a_warning_and_an_outside_copy_catches_it(db: Path) -> None:
    """The honest limit: with write access to everything, a consistent rewrite passes; only a head
    kept elsewhere (``expect``) tells."""
    kept = verify(db)
    assert kept.head_id is not None and kept.head_hash is not None
    conn = raw(db)
    conn.execute("DELETE FROM audit WHERE id > 6")
    last = conn.execute("SELECT row_hash FROM audit WHERE id = 6").fetchone()[0]
    conn.execute("UPDATE audit_head SET rows = 6, last_id = 6, hash = ?", (last,))
    conn.close()
    audit_chain.head_file(db).unlink()
    result = verify(db)
    assert result.intact and any("head file" in w and "missing" in w for w in result.warnings), result
    caught = verify(db, ((kept.head_id, kept.head_hash),))
    assert not caught.intact and caught.broken_id == kept.head_id


def test_a_full_rewrite_passes_the_chain_but_not_an_earlier_head_kept_elsewhere(db: Path) -> None:
    kept = verify(db)
    assert kept.head_id is not None and kept.head_hash is not None
    conn = raw(db)  # edit row 2 and recompute every hash after it, from the documented scheme
    conn.execute("UPDATE audit SET details_json = '{\"threshold\":0.9}' WHERE id = 2")
    prev = GENESIS
    for row_id, ts, actor, action, details, salt, _d, _p, _h in conn.execute(
            "SELECT id, ts, actor, action, details_json, details_salt, details_sha256, prev_hash, row_hash"
            " FROM audit ORDER BY id").fetchall():
        digest = hashlib.sha256(bytes.fromhex(salt) + details.encode("utf-8")).hexdigest()
        new = reference_row_hash(row_id, ts, actor, action, digest, prev)
        conn.execute("UPDATE audit SET details_sha256 = ?, prev_hash = ?, row_hash = ? WHERE id = ?",
                     (digest, prev, new, row_id))
        prev = new
    conn.execute("UPDATE audit_head SET hash = ?", (prev,))
    conn.close()
    audit_chain.head_file(db).write_text(json.dumps({"format": "facegate-audit-v1", "rows": 8, "last_id": 8,
                                                     "hash": prev}))
    assert verify(db).intact  # no secret key: a consistent forgery passes the chain itself
    caught = verify(db, ((kept.head_id, kept.head_hash),))
    assert not caught.intact and "not the row whose hash was recorded" in (caught.problem or "")


def test_a_head_file_that_lags_behind_is_consistent_and_catches_up(db: Path) -> None:
    stored = rows(db)
    audit_chain.head_file(db).write_text(json.dumps({"format": "facegate-audit-v1", "rows": 5, "last_id": 5,
                                                     "hash": stored[4][8]}))
    assert verify(db).intact
    with Store(db) as store:
        store.audit("admin", "settings.update", {"threshold": 0.5})
    head = json.loads(audit_chain.head_file(db).read_text())
    assert head["last_id"] == 9 and head["rows"] == 9


# ------------------------------------------------------------------ lawful erasure
def test_an_erasure_keeps_the_chain_valid_and_leaves_no_way_back_to_the_name(db: Path) -> None:
    with Store(db, local_tz=TZ) as store:
        ada = store.find_person("Ada Lovelace")
        assert ada is not None
        report = store.erase_person(ada.id, actor="dpo")
        assert report.audit_rows_scrubbed == 2
        result = store.verify_audit()
        assert result.intact and result.pseudonymised == 2, result
        scrub = next(r for r in store.audit_log() if r.action == "audit.scrub")
        assert scrub.actor == "dpo" and scrub.details["person_ref"] == report.person_ref
    scrubbed = [r for r in rows(db) if r[5] is None]
    assert [r[0] for r in scrubbed] == [1, 4]
    for r in scrubbed:
        assert "Ada" not in r[4] and "E-1" not in r[4] and report.person_ref in r[4]
    assert b"Ada Lovelace" not in db.read_bytes()


def test_after_an_erasure_other_edits_are_still_detected(db: Path) -> None:
    with Store(db) as store:
        ada = store.find_person("Ada Lovelace")
        assert ada is not None
        store.erase_person(ada.id)
    conn = raw(db)  # the pseudonymised text is vouched for: it cannot be changed either
    conn.execute("UPDATE audit SET details_json = '{\"person_ref\":\"erased-ffffffff\"}' WHERE id = 4")
    conn.close()
    result = verify(db)
    assert not result.intact and result.broken_id == 4 and "erasure recorded" in (result.problem or "")


def test_a_forged_scrub_row_is_detected(db: Path) -> None:
    with Store(db) as store:
        ada = store.find_person("Ada Lovelace")
        assert ada is not None
        store.erase_person(ada.id)
    scrub_id = next(r[0] for r in rows(db) if r[3] == "audit.scrub")
    conn = raw(db)  # vouch for one more row, and pseudonymise it by hand
    text = '{"person_ref":"erased-00000000"}'
    claims = json.loads(conn.execute("SELECT details_json FROM audit WHERE id = ?", (scrub_id,)).fetchone()[0])
    claims["rows"].append([2, hashlib.sha256(text.encode()).hexdigest()])
    conn.execute("UPDATE audit SET details_json = ? WHERE id = ?", (json.dumps(claims), scrub_id))
    conn.execute("UPDATE audit SET details_json = ?, details_salt = NULL WHERE id = 2", (text,))
    conn.close()
    result = verify(db)
    assert not result.intact and result.broken_id == scrub_id and "details were changed" in (result.problem or "")


# ------------------------------------------------------------------ migration of an existing database
def test_a_version_4_database_is_chained_at_migration(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    schema.migrate(Database(conn), schema.MIGRATIONS[:4])
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 4
    old = [(f"2025-01-0{i + 1}T08:00:00.000000+00:00", "admin", f"act{i}", json.dumps({"i": i}))
           for i in range(5)]
    conn.executemany("INSERT INTO audit (ts, actor, action, details_json) VALUES (?, ?, ?, ?)", old)
    conn.execute("DELETE FROM audit WHERE id = 3")  # an old gap: chained as it is found
    conn.close()
    with Store(path) as store:
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == len(schema.MIGRATIONS)
        result = store.verify_audit()
        assert result.intact and result.rows == 5, result  # 4 old rows and the chain-start row
        start = store.audit_log(1)[0]
        assert start.action == "audit.chain.start" and start.details == {"rows_chained": 4}
    stored = rows(path)
    assert [r[0] for r in stored] == [1, 2, 4, 5, 6]
    assert [json.loads(r[4]) for r in stored[:4]] == [{"i": 0}, {"i": 1}, {"i": 3}, {"i": 4}]  # untouched
    head = json.loads(audit_chain.head_file(path).read_text())
    assert head["last_id"] == 6 and head["hash"] == stored[-1][8]
    conn = raw(path)
    conn.execute("UPDATE audit SET actor = 'root' WHERE id = 2")  # and from now on an edit shows
    conn.close()
    assert verify(path).broken_id == 2


def test_a_fresh_database_has_an_empty_intact_chain(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    result = verify(path)
    assert result.intact and result.rows == 0 and result.head_id is None and result.warnings == ()
    assert json.loads(audit_chain.head_file(path).read_text())["rows"] == 0


# ------------------------------------------------------------------ concurrency
def test_two_writers_at_once_keep_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    Store(path).close()
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def write(who: str) -> None:
        try:
            with Store(path, timeout_s=30) as store:  # its own connection, as another process would have
                barrier.wait()
                for i in range(40):
                    store.audit(who, "settings.update", {"i": i})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(name,)) for name in ("gui", "cli")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    result = verify(path)
    assert result.intact and result.rows == 80, result
    assert json.loads(audit_chain.head_file(path).read_text())["last_id"] <= 80


# ------------------------------------------------------------------ filters
@pytest.fixture
def store(db: Path) -> Iterator[Store]:
    with Store(db, local_tz=TZ) as s:
        yield s


def test_filters_by_action_family_actor_person_and_days(store: Store) -> None:
    every = store.query_audit(AuditFilter())
    assert [r.id for r in every] == list(range(8, 0, -1))
    assert [r.action for r in store.query_audit(AuditFilter(action="model"))] == ["model.activate", "model.register"]
    assert [r.id for r in store.query_audit(AuditFilter(action="settings.update"))] == [8, 2]
    assert {r.actor for r in store.query_audit(AuditFilter(actor="CLI"))} == {"cli"}
    assert store.count_audit(AuditFilter(actor="cli")) == 2
    ada = store.find_person("Ada Lovelace")
    assert ada is not None
    by_name = store.query_audit(AuditFilter(person="ada lovelace"))
    assert [r.id for r in by_name] == [1]  # row 4 names her by id only
    assert [r.id for r in store.query_audit(AuditFilter(person="Ada Lovelace", person_ids=(ada.id,)))] == [4, 1]
    today = date.today()
    assert store.count_audit(AuditFilter(day_from=today - timedelta(days=1), day_to=today + timedelta(days=1))) == 8
    assert store.count_audit(AuditFilter(day_to=today - timedelta(days=2))) == 0
    assert [r.id for r in store.query_audit(AuditFilter(limit=3, offset=2))] == [6, 5, 4]
    report = store.erase_person(ada.id)
    by_ref = store.query_audit(AuditFilter(person=report.person_ref.upper()))
    assert {r.action for r in by_ref} >= {"person.add", "person.update", "audit.scrub", "erase_person"}
    actions, actors = store.audit_choices()
    assert "model.activate" in actions and actors == tuple(sorted(actors)) and "trainer" in actors
    with pytest.raises(ValueError, match="after"):
        AuditFilter(day_from=today, day_to=today - timedelta(days=1))
    with pytest.raises(ValueError, match="blank"):
        AuditFilter(actor="  ")
