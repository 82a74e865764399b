"""Two doors and a central server on this machine (issue 13, "What must be shown"): a person
enrolled centrally (admin workspace) is recognised at both doors after one sync; erased
centrally, they are gone from both doors' files. Real PostgreSQL, real models, the real clip."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import psycopg
import pytest
from door_site import LIN, front
from service_fixtures import PostgresServer

from desktop_app.core.access.model import Group
from desktop_app.core.access.schedule import Schedule
from desktop_app.core.central.client import CentralClient
from desktop_app.core.central.sitekey import SiteKey
from desktop_app.core.central.workspace import central_workspace
from desktop_app.core.service import FaceGate

pytestmark = pytest.mark.slow


def clip_frames(clips: Path, n: int = 30, every: int = 3) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(clips / "short_hamilton_clip.mp4"))
    frames = []
    i = 0
    while len(frames) < n // every:
        ok, image = cap.read()
        assert ok
        if i % every == 0:
            frames.append(image)
        i += 1
    cap.release()
    return frames


def recognised(gate: FaceGate, frames: list[np.ndarray]) -> set[str]:
    return {i.name for f in frames for i in gate.identify(f) if i.accepted and i.name}


def file_bytes(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*") if p.is_file())


def test_enrolled_centrally_recognised_at_both_doors_then_erased_everywhere(
        postgres_server: PostgresServer, tmp_path: Path, clips: Path) -> None:
    dsn = postgres_server.new_database()
    key = SiteKey.generate()
    with CentralClient(dsn) as client:
        client.init(key)
    cache = tmp_path / "admin" / "cache.db"
    with central_workspace(dsn, key, cache=cache, device="cpu") as ws:
        ws.enrol_images(LIN, [clips / "lin-manuel-miranda.png"])
        ws.save_door(front(clips))
        ws.save_schedule(Schedule("cast hours", "Mon-Sun 00:00-24:00"))
        ws.save_group(Group("cast"))
        ws.set_permissions("cast", ["front"], "cast hours")
        lin = ws.find_person(LIN)
        assert lin is not None
        ws.set_person_access(lin.id, groups=["cast"])
    # the server holds no face data in clear: every crop and template is sealed with the site key
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT kind, body::text, sealed FROM roster WHERE kind IN ('sample', 'template')"
                            ).fetchall()
    with FaceGate(cache, device="cpu") as ws:
        sample = ws.list_samples(ws.find_person(LIN).id)[0]  # type: ignore[union-attr]
        crop_png = cv2.imencode(".png", ws.sample_crop(sample.id))[1].tobytes()
        _, _, vectors = ws.store.templates(ws.model.sha256)
    assert {k for k, _, _ in rows} == {"sample", "template"}
    for _, body, sealed in rows:
        blob = bytes(sealed)
        assert blob[:3] == b"FGE" and vectors[0].tobytes() not in blob and crop_png[8:64] not in blob
        assert "vector" not in body and "crop" not in body
    frames = clip_frames(clips)
    doors = [FaceGate(tmp_path / n / "door.db", device="cpu") for n in ("a", "b")]
    try:
        with CentralClient(dsn, key) as client:
            for gate, name in zip(doors, ("a", "b"), strict=True):
                assert recognised(gate, frames[:3]) == set()
                report = gate.central_sync(client, name=name)
                assert report.applied >= 6 and report.erased == 0
                assert recognised(gate, frames) == {LIN}
                assert gate.access_reason(gate.find_person(LIN).id, "front", __import__("datetime").datetime.now()
                                          ).value == "granted"  # type: ignore[union-attr]
                assert gate.central_sync(client, name=name).applied == 0  # nothing new: nothing applied
        # erase centrally: gone from both doors' files (rows, crops, templates, gallery, name)
        with central_workspace(dsn, key, cache=cache, device="cpu") as ws:
            lin = ws.find_person(LIN)
            assert lin is not None
            ws.erase_person(lin.id)
        with CentralClient(dsn, key) as client:
            for gate, name in zip(doors, ("a", "b"), strict=True):
                assert gate.central_sync(client, name=name).erased == 1
                assert gate.find_person(LIN) is None and recognised(gate, frames[:6]) == set()
                assert gate.store.db.execute("SELECT count(*) FROM samples").fetchone()[0] == 0
                assert gate.store.db.execute("SELECT count(*) FROM templates").fetchone()[0] == 0
        for gate in doors:
            gate.close()
        for n in ("a", "b"):
            data = file_bytes(tmp_path / n / "door.db")
            assert b"Miranda" not in data and b"lin-manuel" not in data.lower()
        with psycopg.connect(dsn) as conn:
            left = conn.execute("SELECT count(*) FROM roster WHERE NOT deleted AND kind IN ('person', 'sample',"
                                " 'template')").fetchone()
            names = conn.execute("SELECT count(*) FROM roster WHERE body::text LIKE '%Miranda%'").fetchone()
        assert left == (0,) and names == (0,)
    finally:
        for gate in doors:
            gate.close()
