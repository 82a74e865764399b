"""What a retention purge costs the door, as ratios measured in one run.

A database holds ``--events`` door events, each with an encrypted face snapshot (a real photo's
face, JPEG), spread over 400 days. The door's one write, ``FaceGate.record_event`` (an event with a
snapshot), is timed ``--writes`` times with nothing else running (baseline), then the same number
of times while the scheduled purge (``RetentionScheduler``'s batches and pauses, ``events_days``
200, ``snapshots_days`` 30) deletes half the events and clears most snapshots on its own thread.
Prints: the purge's wall time and rows per second; the door's write latency (median, p99, max, ms)
in both phases and their ratios; the database size before and after (secure_delete zeroes, the
file does not shrink without VACUUM).

    .venv/bin/python bench/retention.py [--events 10000] [--writes 300]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from desktop_app.core.config import RetentionSettings
from desktop_app.core.privacy.retention import BATCH_ROWS, SCHEDULED_PAUSE_S
from desktop_app.core.service import FaceGate

PHOTO = Path(__file__).resolve().parents[2] / "shared" / "data" / "clips" / "lin-manuel-miranda.png"


def _writes(gate: FaceGate, n: int, pid: int, face: object, stop: threading.Event | None = None) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        gate.record_event(person_id=pid, score=0.7, decision="granted", camera="door-1", ts=datetime.now(UTC),
                          snapshot=face)  # type: ignore[arg-type]
        out.append((time.perf_counter() - t) * 1000)
        if stop is not None and stop.is_set():
            break
    return out


def _stats(ms: list[float]) -> tuple[float, float, float]:
    s = sorted(ms)
    return statistics.median(s), s[min(len(s) - 1, int(0.99 * len(s)))], s[-1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=10_000)
    ap.add_argument("--writes", type=int, default=300)
    args = ap.parse_args()
    os.environ.setdefault("FACEGATE_KEY_STORE", "file")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("FACEGATE_KEY_DIR", str(Path(tmp) / "keys"))
        db = Path(tmp) / "data" / "facegate.db"
        with FaceGate(db, device="cpu") as gate:
            image = cv2.imread(str(PHOTO))
            face = image[:200, :200].copy()
            pid = gate.store.add_person("Lin-Manuel Miranda")
            now = datetime.now(UTC)
            t0 = time.perf_counter()
            step = 400 * 86400 / args.events
            for start in range(0, args.events, 1000):
                with gate.store.transaction():
                    for i in range(start, min(args.events, start + 1000)):
                        gate.store.log_event(person_id=pid, score=0.7, decision="granted", camera="door-1",
                                             model_sha256=gate.model.sha256, snapshot=face,
                                             ts=now - timedelta(seconds=(i + 1) * step))
            gate.store.checkpoint_truncate(1.0)
            print(f"seeded {args.events} events with snapshots in {time.perf_counter() - t0:.1f} s; "
                  f"database {db.stat().st_size / 1e6:.1f} MB")
            base = _writes(gate, args.writes, pid, face)
            rules = RetentionSettings(events_days=200, snapshots_days=30)
            result: dict[str, object] = {}

            def purge() -> None:
                t = time.perf_counter()
                result["report"] = gate.purge_expired(actor="bench", settings=rules, batch_rows=BATCH_ROWS,
                                                      pause_s=SCHEDULED_PAUSE_S)
                result["wall_s"] = time.perf_counter() - t

            worker = threading.Thread(target=purge)
            worker.start()
            during: list[float] = []
            while worker.is_alive():
                during += _writes(gate, 20, pid, face)
            worker.join()
            rep = result["report"]
            wall = float(result["wall_s"])  # type: ignore[arg-type]
            rows = rep.events_deleted + rep.snapshots_deleted  # type: ignore[attr-defined]
            print(f"purge: {rep.events_deleted} events and {rep.snapshots_deleted} snapshots in {wall:.2f} s "  # type: ignore[attr-defined]
                  f"({rep.batches} batches of {BATCH_ROWS}, {SCHEDULED_PAUSE_S * 1000:.0f} ms pauses): "  # type: ignore[attr-defined]
                  f"{rows / wall:.0f} rows/s; WAL truncated: {rep.wal_pending is None}")  # type: ignore[attr-defined]
            b, d = _stats(base), _stats(during)
            print(f"door write (record_event with snapshot), ms: {'':>8}median    p99     max   (n)")
            print(f"  nothing else running          {b[0]:8.2f} {b[1]:7.2f} {b[2]:7.2f}  ({len(base)})")
            print(f"  during the purge              {d[0]:8.2f} {d[1]:7.2f} {d[2]:7.2f}  ({len(during)})")
            print(f"  ratio                         {d[0] / b[0]:8.2f} {d[1] / b[1]:7.2f} {d[2] / b[2]:7.2f}")
            print(f"database after: {db.stat().st_size / 1e6:.1f} MB (freed pages zeroed, reused; no VACUUM)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
