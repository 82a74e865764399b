"""Door secrets at rest (issue 12), on a real SQLite file: a door's HMAC secret and the password in
its output URI are encrypted with the data key (the raw database and WAL hold neither), come back
whole through the store, are shown masked, values an earlier version left in clear are encrypted at
the next opening, and a locked store (no machine key here) gives the door a clear fault (an output
that is down and says why), never a crash."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from desktop_app.core.access.model import DoorSpec
from desktop_app.core.outputs.base import OutputStatus, redact_uri
from desktop_app.core.outputs.registry import open_output
from desktop_app.core.protection.errors import DataLockedError
from desktop_app.core.protection.machine_keys import KEY_DIR_ENV
from desktop_app.core.storage.store import Store

SECRET = "hmac-Secret-7Q9zK2"
PASSWORD = "Br0ker-Pw-55xv"
OUTPUT = f"mqtt://door:{PASSWORD}@broker.example:1883/site/front"


def raw_bytes(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in (db, Path(f"{db}-wal")) if p.exists())


def holds_a_secret(db: Path) -> bool:
    data = raw_bytes(db)
    return any(s.encode() in data for s in (SECRET, PASSWORD))


@pytest.fixture()
def db(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir(mode=0o700)
    return folder / "facegate.db"


def test_door_secrets_are_encrypted_and_come_back(db: Path) -> None:
    with Store(db) as store:
        assert store.encrypted
        store.save_door(DoorSpec(name="front", output=OUTPUT, secret=SECRET))
        store.save_door(DoorSpec(name="back", output="log:"))
        assert not holds_a_secret(db), "neither the secret nor the output's password in the database or WAL"
        front = store.get_door("front")
        assert front is not None and front.output == OUTPUT and front.secret == SECRET
        assert redact_uri(front.output) == "mqtt://door:***@broker.example:1883/site/front"
        store.save_door(DoorSpec(name="front", output=OUTPUT, secret=SECRET, unlock_seconds=3))  # replaced in place
        assert [d.output for d in store.list_doors()] == ["log:", OUTPUT]
        assert store.get_door("front").secret == SECRET  # type: ignore[union-attr]
    conn = sqlite3.connect(db)
    assert {r[0] for r in conn.execute("SELECT typeof(output) FROM doors")} == {"blob"}
    conn.execute("UPDATE doors SET secret = (SELECT secret FROM doors WHERE name = 'front') WHERE name = 'back'")
    conn.commit()
    conn.close()
    with Store(db) as store:
        back = store.get_door("back")
        assert back is not None and back.output.startswith("sealed:") and back.secret is None, \
            "a secret copied to another door does not decrypt: the door is out of service"
    assert not holds_a_secret(db)


def test_secrets_stored_in_clear_by_an_earlier_version_are_encrypted(db: Path) -> None:
    with Store(db) as store:
        store.save_door(DoorSpec(name="front"))
    conn = sqlite3.connect(db)  # as an earlier FaceGate wrote them
    conn.execute("UPDATE doors SET output = ?, secret = ?", (OUTPUT, SECRET))
    conn.commit()
    conn.close()
    assert holds_a_secret(db), "the test's clear values are there"
    with Store(db) as store:
        front = store.get_door("front")
        assert front is not None and front.output == OUTPUT and front.secret == SECRET
        assert [r["action"] for r in store.db.query("SELECT action FROM audit")][-1] == "keys.encrypt_door_secrets"
    assert not holds_a_secret(db), "encrypted, and the old pages vacuumed"


def test_a_locked_store_gives_the_door_a_fault(db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Store(db) as store:
        store.save_door(DoorSpec(name="front", output=OUTPUT, secret=SECRET))
    moved = tmp_path / "moved"
    shutil.copytree(db.parent, moved)
    monkeypatch.setenv(KEY_DIR_ENV, str(tmp_path / "new-machine-keys"))
    with Store(moved / db.name) as store:
        assert store.data_locked
        (door,) = store.list_doors()
        assert door.name == "front" and door.secret is None and door.output.startswith("sealed:")
        assert PASSWORD not in door.output
        output = open_output(door.output, door=door.name, secret=door.secret)
        health = output.health()
        assert health.status == OutputStatus.DOWN and "cannot be opened" in health.detail, health
        assert "facegate unlock" in health.detail or "machine key" in health.detail, health.detail
        with pytest.raises(DataLockedError):
            store.save_door(DoorSpec(name="front", output=OUTPUT, secret=SECRET))
        with pytest.raises(ValueError, match="unknown door output"):
            store.save_door(door)  # the stand-in is never saved
