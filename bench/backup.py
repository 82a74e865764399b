"""Backup and restore cost for a site of 1,000 people (synthetic), against a plain file copy of
the same database as the baseline, measured in the same run.

    PYTHONPATH=. .venv/bin/python bench/backup.py [--people 1000] [--shots 3] [--events 20000] [--repeats 3]

The database is a real encrypted FaceGate database: every person has ``--shots`` samples (a
112x112 crop stored as PNG and a 128-d template, both encrypted with the data key) and the door
log holds ``--events`` events. Printed (median of ``--repeats``, wall seconds): the plain copy
(``shutil.copyfile`` of the checkpointed file), ``backup_to`` (online backup API, argon2id at the
real cost, AES-256-GCM stream), ``restore_backup`` (verify, unpack, integrity check, swap, open
and migrate, audit), the argon2id derivation alone, sizes, and the ratios to the copy.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from desktop_app.core.protection.password_kdf import KdfParams, derive_key
from desktop_app.core.service import FaceGate

PASS = "bench passphrase, long enough"


def build(db: Path, people: int, shots: int, events: int) -> None:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:112, 0:112]
    with FaceGate(db, device="cpu") as gate:
        sha = gate.model.sha256
        with gate.store.transaction():
            for k in range(people):
                pid = gate.store.add_person(f"Person {k:05d}")
                for s in range(shots):  # a smooth face-like picture with a little noise: PNG ~ a real crop's size
                    base = (128 + 60 * np.sin((xx + 7 * k + s) / 9.0) * np.cos(yy / 11.0)).astype(np.int16)
                    crop = np.clip(base[..., None] + rng.integers(-6, 7, (112, 112, 3)), 0, 255).astype(np.uint8)
                    v = rng.standard_normal(128).astype(np.float32)
                    gate.store.add_sample(pid, crop, {}, "bench", v / np.linalg.norm(v), sha)
        with gate.store.transaction():
            for _i in range(events):
                gate.store.log_event(person_id=None, score=float(rng.random()), decision="unknown", camera="front",
                                     model_sha256=sha)
        gate.store.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--people", type=int, default=1000)
    ap.add_argument("--shots", type=int, default=3)
    ap.add_argument("--events", type=int, default=20000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="facegate-bench-backup-") as tmp:
        root = Path(tmp)
        os.environ.setdefault("FACEGATE_KEY_DIR", str(root / "keys"))
        db = root / "site" / "facegate.db"
        t0 = time.perf_counter()
        build(db, args.people, args.shots, args.events)
        print(f"built {args.people} people x {args.shots} shots, {args.events} events in "
              f"{time.perf_counter() - t0:.1f} s; database {db.stat().st_size / 1e6:.1f} MB")
        copy_s, backup_s, restore_s, kdf_s = [], [], [], []
        size = 0
        with FaceGate(db, device="cpu") as gate:
            for r in range(args.repeats):  # interleaved: copy, backup, restore
                t = time.perf_counter()
                shutil.copyfile(db, root / f"copy-{r}.db")
                copy_s.append(time.perf_counter() - t)
                out = root / f"site-{r}.fgbak"
                t = time.perf_counter()
                report = gate.backup_to(out, PASS, actor="bench")
                backup_s.append(time.perf_counter() - t)
                size = report.size
                t = time.perf_counter()
                derive_key(PASS, KdfParams.new())
                kdf_s.append(time.perf_counter() - t)
                t = time.perf_counter()
                FaceGate.restore_backup(root / f"restored-{r}" / "facegate.db", out, PASS, actor="bench")
                restore_s.append(time.perf_counter() - t)
        med = {k: statistics.median(v) for k, v in
               (("copy", copy_s), ("backup", backup_s), ("restore", restore_s), ("argon2id", kdf_s))}
        figures = {
            "people": args.people, "shots": args.shots, "events": args.events, "repeats": args.repeats,
            "db_mb": round(db.stat().st_size / 1e6, 2), "archive_mb": round(size / 1e6, 2),
            "copy_s": round(med["copy"], 3), "backup_s": round(med["backup"], 3),
            "restore_s": round(med["restore"], 3), "argon2id_s": round(med["argon2id"], 3),
            "backup_over_copy": round(med["backup"] / med["copy"], 1),
            "restore_over_copy": round(med["restore"] / med["copy"], 1),
            "backup_without_kdf_over_copy": round((med["backup"] - med["argon2id"]) / med["copy"], 1),
        }
    print(f"{'':28}{'seconds':>10}{'x copy':>10}")
    print(f"{'plain file copy':28}{med['copy']:10.3f}{1.0:10.1f}")
    print(f"{'backup (encrypted)':28}{med['backup']:10.3f}{figures['backup_over_copy']:10.1f}")
    print(f"{'  of which argon2id':28}{med['argon2id']:10.3f}")
    print(f"{'restore (verified, swapped)':28}{med['restore']:10.3f}{figures['restore_over_copy']:10.1f}")
    print(f"database {figures['db_mb']} MB, archive {figures['archive_mb']} MB "
          f"({figures['archive_mb'] / figures['db_mb']:.3f} of it)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
