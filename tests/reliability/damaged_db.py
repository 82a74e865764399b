"""Real FaceGate databases to damage: people enrolled from the shared photos with the real models,
then cloned per test and altered with plain SQLite, as a crash, a bad disk or a stray tool would."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np

from desktop_app.core.protection.fields import SealedField
from desktop_app.core.service import FaceGate
from desktop_app.core.storage.store import Store

LIN = "Lin-Manuel Miranda"


def build_real_db(folder: Path, clips: Path) -> Path:
    """A database with obama (2 shots), biden (2 shots) and Lin (1 shot), the real default model."""
    db = folder / "facegate.db"
    train = clips / "knn_examples" / "train"
    with FaceGate(db, device="cpu") as gate:
        for name, images in (("obama", [train / "obama"]), ("biden", [train / "biden"]),
                             (LIN, [clips / "lin-manuel-miranda.png"])):
            rep = gate.enrol_images(name, images)
            assert rep.added and not rep.rejected, rep
    return db


def copy_real_db(template: Path, folder: Path) -> Path:
    """A full copy (no links: a test may damage any file) of the data folder of ``template`` (the
    session's ``real_db_template``) at ``folder``, modes kept: the same as a fresh
    ``build_real_db(folder, clips)`` (the store keeps paths relative to the data folder) without
    enrolling again. Returns the database file."""
    shutil.copytree(template.parent, folder)
    return folder / template.name


def clone(db: Path, dest: Path) -> Path:
    """A copy of the database in ``dest`` with its model files hard-linked (cheap; same paths relative
    to the data folder)."""
    dest.mkdir(mode=0o700, parents=True, exist_ok=True)  # FaceGate's own modes: no file-mode warning
    out = dest / db.name
    shutil.copyfile(db, out)
    out.chmod(0o600)
    models = dest / "models"
    models.mkdir(mode=0o700, exist_ok=True)
    for f in (db.parent / "models").iterdir():
        if f.is_file() and not (models / f.name).exists():
            os.link(f, models / f.name)
    return out


def sql(db: Path, statement: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Run one statement on the file directly (another program's connection) and commit."""
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(statement, params).fetchall()
        conn.commit()
        return rows
    finally:
        conn.close()


def sample_of(db: Path, name: str) -> int:
    """The first sample id of the person called ``name``."""
    rows = sql(db, "SELECT s.id FROM samples s JOIN people p ON p.id = s.person_id WHERE p.name = ? ORDER BY s.id",
               (name,))
    return int(rows[0][0])  # type: ignore[call-overload]


def sealed(db: Path, where: SealedField, row_key: str | int, plain: bytes) -> bytes:
    """``plain`` encrypted with the database's data key for that row, as FaceGate itself would
    store it: the damage these tests make is then in the value (a bug, bad RAM before the write),
    not a broken encryption (tests/core/test_encryption_at_rest.py covers that)."""
    with Store(db) as store:
        return store._seal(where, row_key, plain)


def template(db: Path, sample_id: int) -> np.ndarray:
    model, blob = sql(db, "SELECT model_sha256, vector FROM templates WHERE sample_id = ?", (sample_id,))[0]
    assert isinstance(blob, bytes)
    with Store(db) as store:
        plain = store.decrypt_value(SealedField.TEMPLATE_VECTOR, f"{sample_id}:{model}", blob, "it")
    return np.frombuffer(plain, dtype="<f4").copy()


def set_template(db: Path, sample_id: int, vector: np.ndarray, dim: int | None = None) -> None:
    vec = np.asarray(vector, dtype="<f4")
    model = sql(db, "SELECT model_sha256 FROM templates WHERE sample_id = ?", (sample_id,))[0][0]
    blob = sealed(db, SealedField.TEMPLATE_VECTOR, f"{sample_id}:{model}", vec.tobytes())
    sql(db, "UPDATE templates SET dim = ?, vector = ? WHERE sample_id = ?",
        (dim if dim is not None else len(vec), blob, sample_id))


def flip_exponent_bit(vector: np.ndarray, bit: int = 30) -> np.ndarray:
    """The vector with one exponent bit flipped in its largest component (a bad disk sector or RAM)."""
    out = np.asarray(vector, dtype="<f4").copy()
    words = out.view("<u4")
    i = int(np.argmax(np.abs(out)))
    words[i] ^= np.uint32(1 << bit)
    return out


def facegate_cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    """``python -m desktop_app ARGS`` as a real process."""
    env = {**os.environ, "FACEGATE_HOME": str(home), "XDG_CACHE_HOME": str(home / "cache")}
    return subprocess.run([sys.executable, "-m", "desktop_app", *args], capture_output=True, text=True,
                          env=env, timeout=600)


def dead_pid() -> int:
    """The id of a process that has exited."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid
