"""Load figures of the central PostgreSQL server (issue 13), measured in one run on this machine.

- ingest: events per second committed centrally from ``--doors`` simulated doors, each a separate
  process with its own SQLite outbox (``--events`` events logged beforehand) pushing it through
  the real path (``outbox_events`` -> ``push_events``: COPY into a temporary table, then
  ``INSERT ... ON CONFLICT (uid) DO NOTHING`` -> ``mark_pushed``), against one door alone (the
  baseline of the same run); then every door pushes its whole outbox again (a resend after a
  cut: nothing may be added) and the count is checked;
- roster: ``--people`` synthetic people (one sample each: a small crop and a 512-value template of
  the door's active model) published in one transaction, then a new door's first full sync
  (pull, decrypt with the site key, apply with this door's own encryption, gallery and
  calibration rebuilt), a sync with nothing new, and a sync after one person changed.

Starts its own PostgreSQL 15 server in a temporary folder (as root, as the ``postgres`` user)
unless ``--dsn`` names one (an empty database). Prints a table and the machine's load average.

    .venv/bin/python bench/central.py [--doors 10] [--events 5000] [--people 10000] [--dsn DSN]
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PG_BIN = Path("/usr/lib/postgresql/15/bin")


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    root = Path(tempfile.mkdtemp(prefix="facegate-pg-bench-"))
    os.chmod(root, 0o755)
    data = root / "data"
    data.mkdir()
    as_root = os.geteuid() == 0
    if as_root:
        shutil.chown(data, "postgres", "postgres")

    def run(*cmd: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *cmd] if as_root else list(cmd), check=True,
                       capture_output=True, timeout=120)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run(str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "facegate", "-E", "UTF8")
    run(str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(data / "log"), "-w", "-o",
        f"-p {port} -k {data} -c listen_addresses=127.0.0.1", "start")
    try:
        yield f"postgresql://facegate@127.0.0.1:{port}/postgres"
    finally:
        with contextlib.suppress(subprocess.SubprocessError):
            run(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


def make_door(path: Path, n: int) -> None:
    """A door database with ``n`` events in its outbox (no model needed: Store only)."""
    from desktop_app.core.storage.event_spool import PendingEvent
    from desktop_app.core.storage.store import Store

    with Store(path) as store, store.transaction():
        for i in range(n):
            store.log_event(person_id=None, score=0.2, decision="unknown", camera="cam", model_sha256="m" * 64,
                            door=f"door-{path.parent.name}", direction="in", reason="unknown",
                            uid=PendingEvent.new_uid(), track_id=i)


def _warm() -> None:
    import desktop_app.core.central.client
    import desktop_app.core.storage.store  # noqa: F401


def push_all(args: tuple[str, str, str, bool]) -> tuple[int, float]:
    """One door process: push its whole outbox (``again``: reset the marks first, a resend)."""
    path, dsn, node, again = args
    from desktop_app.core.central.client import CentralClient
    from desktop_app.core.storage.store import Store

    with Store(Path(path)) as store, CentralClient(dsn) as client:
        if again:
            with store.transaction():
                store.db.execute("UPDATE events SET central_pushed = NULL")
        start = time.perf_counter()
        new = 0
        while batch := store.outbox_events(1000):
            new += client.push_events(node, batch)
            store.mark_pushed([e.local_id for e in batch])
        return new, time.perf_counter() - start


def ingest(dsn: str, folder: Path, doors: int, events: int) -> dict[str, float]:
    paths = []  # door 0 pushes alone (the baseline), then doors 1..N all at once
    for i in range(doors + 1):
        p = folder / f"d{i}" / "door.db"
        make_door(p, events)
        paths.append(str(p))
    ctx = mp.get_context("spawn")
    with ctx.Pool(doors, initializer=_warm) as pool:
        pool.map(time.sleep, [0.5] * doors)  # every process started and imported before the clock starts
        start = time.perf_counter()
        one = pool.map(push_all, [(paths[0], dsn, "door-0", False)])
        t_one = time.perf_counter() - start
        start = time.perf_counter()
        rest = pool.map(push_all, [(p, dsn, f"door-{i}", False) for i, p in enumerate(paths) if i])
        t_rest = time.perf_counter() - start
        start = time.perf_counter()
        again = pool.map(push_all, [(p, dsn, f"door-{i}", True) for i, p in enumerate(paths)])
        t_again = time.perf_counter() - start
    from desktop_app.core.central.client import CentralClient

    with CentralClient(dsn) as client:
        total = client.count_events()
    assert total == (doors + 1) * events and sum(n for n, _ in again) == 0, (total, again)
    return {"one door ev/s": one[0][0] / t_one, f"{doors} doors at once ev/s": sum(n for n, _ in rest) / t_rest,
            "resend of all (0 added) ev/s": (doors + 1) * events / t_again, "events stored": float(total)}


def roster(dsn: str, folder: Path, people: int) -> dict[str, float]:
    import cv2

    from desktop_app.core.central.client import CentralClient
    from desktop_app.core.service import FaceGate
    from desktop_app.core.storage.replica import Doc, DocKind

    door = FaceGate(folder / "door" / "door.db", device="cpu")
    model, dim = door.model.sha256, door.engine.embedder.dim
    from desktop_app.core.central.sitekey import SiteKey

    site = SiteKey.generate()
    rng = np.random.default_rng(0)
    crop = np.full((112, 112, 3), 128, np.uint8)
    png = cv2.imencode(".png", crop)[1].tobytes()
    docs: list[Doc] = []
    for i in range(people):
        uid, suid = secrets.token_hex(16), secrets.token_hex(16)
        v = rng.standard_normal(dim).astype(np.float32)
        v /= np.linalg.norm(v)
        docs.append(Doc(DocKind.PERSON, uid, {"name": f"Person {i:05d}", "employee_id": f"E{i:05d}",
                                             "department": None, "active": 1, "created_at": "2026-01-01T00:00:00+00:00",
                                             "updated_at": "2026-01-01T00:00:00+00:00", "valid_from": None,
                                             "valid_until": None, "groups": []}))
        docs.append(Doc(DocKind.SAMPLE, suid, {"quality": {}, "source": "bench", "created_at": "2026-01-01"},
                        png, uid))
        docs.append(Doc(DocKind.TEMPLATE, f"{suid}:{model}", {"sample": suid, "model_sha256": model, "dim": dim},
                        v.tobytes(), uid, model))
    with CentralClient(dsn) as client:
        client.init(site)
    out: dict[str, float] = {}
    with CentralClient(dsn, site) as client:
        start = time.perf_counter()
        client.publish(docs, [], "bench")
        out[f"publish {people} people (3 docs each) s"] = time.perf_counter() - start
        waits: list[float] = []
        syncing = threading.Event()
        syncing.set()

        def door_loop() -> None:  # what the door loop feels: how long it waits for the gate's lock
            while syncing.is_set():
                t0 = time.perf_counter()
                with door._lock:
                    waits.append(time.perf_counter() - t0)
                time.sleep(0.005)

        watcher = threading.Thread(target=door_loop)
        watcher.start()
        start = time.perf_counter()
        try:
            report = door.central_sync(client, name="bench door")
        finally:
            out["door first full sync s"] = time.perf_counter() - start
            syncing.clear()
            watcher.join()
        out["door loop's longest wait for the lock during it s"] = max(waits, default=0.0)
        assert report.applied == 3 * people and door.gallery_stats().persons == people, report
        start = time.perf_counter()
        door.central_sync(client)
        out["sync, nothing new s"] = time.perf_counter() - start
        changed = Doc(DocKind.PERSON, docs[0].key, {**docs[0].body, "name": "Renamed"})
        client.publish([changed], [], "bench")
        start = time.perf_counter()
        report = door.central_sync(client)
        out["sync, one person changed s"] = time.perf_counter() - start
        assert report.applied == 1
    door.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--doors", type=int, default=10)
    ap.add_argument("--events", type=int, default=5000, help="events in each door's outbox")
    ap.add_argument("--people", type=int, default=10_000)
    ap.add_argument("--dsn", default=None)
    a = ap.parse_args()
    os.environ.setdefault("FACEGATE_HOME", tempfile.mkdtemp(prefix="facegate-bench-home-"))
    load = os.getloadavg()
    with contextlib.ExitStack() as stack:
        dsn = a.dsn or stack.enter_context(postgres())
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="facegate-bench-")))
        import psycopg

        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench_ingest")
            conn.execute("CREATE DATABASE bench_roster")
        base = dsn.rsplit("/", 1)[0]
        from desktop_app.core.central.client import CentralClient
        from desktop_app.core.central.sitekey import SiteKey

        with CentralClient(f"{base}/bench_ingest") as client:
            client.init(SiteKey.generate())
        figures = ingest(f"{base}/bench_ingest", folder, a.doors, a.events)
        figures.update(roster(f"{base}/bench_roster", folder, a.people))
    print(f"central bench: {a.doors} doors x {a.events} events, {a.people} people; cpus {os.cpu_count()}, "
          f"load average at start {load[0]:.2f}")
    for name, value in figures.items():
        print(f"  {name:40s} {value:12.1f}" if value >= 10 else f"  {name:40s} {value:12.3f}")
    ratio = figures[f"{a.doors} doors at once ev/s"] / figures["one door ev/s"]
    print(f"  {a.doors} doors at once / one door: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
