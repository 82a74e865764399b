"""Cost of the tamper-evident audit log: time to append one audited action (chain, head record,
head file with fsync) and to verify the whole chain, on a real SQLite file.

    python bench/audit_chain.py [--rows 20000] [--json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def main() -> None:
    from desktop_app.core.storage.store import Store

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=20000, help="audit rows in the log to verify")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "bench.db") as store:
        n_single = 200
        t = time.perf_counter()
        for i in range(n_single):  # one transaction each, as the app writes them
            store.audit("admin", "settings.update", {"threshold": 0.4, "i": i})
        append_ms = (time.perf_counter() - t) / n_single * 1e3
        with store.transaction():  # the rest in one go: only the verify time matters for them
            for i in range(args.rows - n_single):
                store.audit("bench", "person.update", {"person_id": i % 500, "fields": ["department"]})
        t = time.perf_counter()
        result = store.verify_audit()
        verify_s = time.perf_counter() - t
        assert result.intact, result
    out = {"rows": result.rows, "append_ms_per_row": round(append_ms, 2), "verify_s": round(verify_s, 3),
           "verify_us_per_row": round(verify_s / result.rows * 1e6, 1)}
    print(json.dumps(out) if args.json else "\n".join(f"{k}: {v}" for k, v in out.items()))


if __name__ == "__main__":
    main()
