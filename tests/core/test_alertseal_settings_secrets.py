"""Settings and camera secrets at rest, on a real SQLite file: the site alert output (with a
password), its HMAC key, the camera source of the settings and a door camera's rtsp password are
encrypted with the data key (neither the database nor its WAL holds them), come back whole, stay
readable after a machine-key rotation and a re-key, clear values of an earlier version are sealed
at the next opening, and a locked store gives a clear fault (alert output down, camera fails to
open with the reason), never a crash."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from desktop_app.core.access.model import CameraSpec, DoorSpec
from desktop_app.core.config import AlertSettings, AppConfig, CameraSettings
from desktop_app.core.doors.alerts import Alerter
from desktop_app.core.errors import SourceError
from desktop_app.core.outputs.base import OutputStatus
from desktop_app.core.protection.errors import DataLockedError
from desktop_app.core.protection.machine_keys import KEY_DIR_ENV
from desktop_app.core.storage.store import Store
from desktop_app.core.video.sources import open_source

ALERT_PW = "Al3rt-Pw-9qz"
ALERT_KEY = "alert-hmac-K3y-77"
CAM_PW = "Cam-Pw-41xk"
DOOR_CAM_PW = "D00r-Cam-Pw-8"
SECRETS = (ALERT_PW, ALERT_KEY, CAM_PW, DOOR_CAM_PW)
CONFIG = AppConfig(camera=CameraSettings(source=f"rtsp://admin:{CAM_PW}@cam.example/live"),  # type: ignore[call-arg]
                   alerts=AlertSettings(output=f"mqtt://site:{ALERT_PW}@broker.example:1883/alerts",  # type: ignore[call-arg]
                                        secret=ALERT_KEY))
DOOR = DoorSpec(name="front", cameras=(CameraSpec(source=f"rtsp://door:{DOOR_CAM_PW}@cam2.example/s1"),))


def holds_a_secret(db: Path) -> list[str]:
    data = b"".join(p.read_bytes() for p in (db, Path(f"{db}-wal")) if p.exists())
    return [s for s in SECRETS if s.encode() in data]


def saved(store: Store) -> None:
    store.set_setting("config", CONFIG.model_dump(mode="json"))
    store.save_door(DOOR)


def readable(store: Store) -> None:
    assert AppConfig.model_validate(store.get_setting("config")) == CONFIG
    door = store.get_door("front")
    assert door is not None and door.cameras == DOOR.cameras


@pytest.fixture()
def db(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir(mode=0o700)
    return folder / "facegate.db"


def test_settings_and_camera_secrets_are_sealed_and_survive_rotate_and_rekey(db: Path) -> None:
    with Store(db) as store:
        assert store.encrypted
        saved(store)
        assert holds_a_secret(db) == []
        readable(store)
        store.rotate_machine_key("admin")
        readable(store)
        report = store.rekey_data("admin")
        assert report.values >= 3  # door camera source, settings secrets (and the door output)
        readable(store)
        assert store.protection_status().plain_values == 0
    with Store(db) as store:  # the new keys from the key file
        readable(store)
    assert holds_a_secret(db) == []
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT typeof(source) FROM door_cameras").fetchone()[0] == "blob"
    conn.close()


def test_clear_values_of_an_earlier_version_are_sealed_at_start(db: Path) -> None:
    with Store(db) as store:
        store.save_door(DoorSpec(name="front"))
    conn = sqlite3.connect(db)  # as an earlier FaceGate wrote them
    conn.execute("INSERT INTO settings (key, value_json, updated_at) VALUES ('config', ?, '2026-01-01')",
                 (CONFIG.model_dump_json(),))
    conn.execute("INSERT INTO door_cameras (door_id, position, source) VALUES (1, 0, ?)", (DOOR.cameras[0].source,))
    conn.commit()
    conn.close()
    assert len(holds_a_secret(db)) == 4
    with Store(db) as store:
        readable(store)
        actions = [r["action"] for r in store.db.query("SELECT action FROM audit")]
        assert "keys.encrypt_settings_secrets" in actions and "keys.encrypt_door_secrets" in actions
    assert holds_a_secret(db) == [], "sealed, and the old pages vacuumed"


def test_a_locked_store_gives_clear_faults(db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Store(db) as store:
        saved(store)
    moved = tmp_path / "moved"
    shutil.copytree(db.parent, moved)
    monkeypatch.setenv(KEY_DIR_ENV, str(tmp_path / "new-machine-keys"))
    with Store(moved / db.name) as store:
        assert store.data_locked
        config = AppConfig.model_validate(store.get_setting("config"))  # still valid settings
        assert config.alerts.output.startswith("sealed:") and config.alerts.secret == ""
        assert config.camera.source.startswith("sealed:")
        alerter = Alerter.open(config.alerts)  # as the door runner opens it
        health = alerter.site_health()
        assert health is not None and health.status == OutputStatus.DOWN and "cannot be opened" in health.detail
        assert "machine key" in health.detail or "facegate unlock" in health.detail, health.detail
        alerter.close(0.1)
        (door,) = store.list_doors()
        source = open_source(door.cameras[0].source)
        with pytest.raises(SourceError, match="encrypted and cannot be opened"):
            source.open()
        assert not any(s in repr(config) + repr(door) for s in SECRETS)
        with pytest.raises(DataLockedError):
            store.set_setting("config", CONFIG.model_dump(mode="json"))
        with pytest.raises(ValueError, match="stand-in"):
            store.save_door(DoorSpec(name="front", cameras=door.cameras, output="log:"))
