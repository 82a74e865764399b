"""Start-up cost of FaceGate: CPU seconds of a few commands that never analyse a face.

Measures, each in a fresh Python process (median of --repeat runs, user+sys CPU of the child):
``facegate --help``, ``facegate people --db DB`` (existing database), and constructing+closing a
``FaceGate`` on a new database and on an existing one. The same measurements run against a
baseline revision (``git archive`` of --baseline-rev, default ``main``) and this working tree, and
the ratios (this / baseline) are printed.

    PYTHONPATH=$PWD python bench/startup.py [--baseline-rev main] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

OPEN = ("import sys; from pathlib import Path; from desktop_app.core.service import FaceGate; "
        "FaceGate(Path(sys.argv[1])).close()")


WARM = ("import sys, time; from pathlib import Path; from desktop_app.core.service import FaceGate; "
        "db = Path(sys.argv[1]); FaceGate(db).close(); t = time.process_time(); "
        "[FaceGate(db).close() for _ in range(5)]; print((time.process_time() - t) / 5)")


def warm_open(src: Path, db: Path, env_extra: dict[str, str]) -> float:
    """CPU seconds of one FaceGate open+close in a process that already imported everything (tests)."""
    env = {**os.environ, "PYTHONPATH": str(src), **env_extra}
    res = subprocess.run([sys.executable, "-c", WARM, str(db)], env=env, check=True, capture_output=True,
                         text=True, cwd=src)
    return float(res.stdout.strip().splitlines()[-1])


def cpu_of(cmd: list[str], src: Path, env_extra: dict[str, str]) -> float:
    """User+sys CPU seconds of one run of ``cmd`` importing the code in ``src``."""
    env = {**os.environ, "PYTHONPATH": str(src), **env_extra}
    before = os.times()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=src)
    after = os.times()
    return (after.children_user - before.children_user) + (after.children_system - before.children_system)


def measure(src: Path, work: Path, repeat: int) -> dict[str, float]:
    py = sys.executable
    env = {"XDG_CACHE_HOME": str(work / "cache")}
    existing = work / "existing" / "facegate.db"
    existing.parent.mkdir(parents=True, mode=0o700)
    subprocess.run([py, "-c", OPEN, str(existing)], env={**os.environ, "PYTHONPATH": str(src), **env},
                   check=True, cwd=src)
    out: dict[str, list[float]] = {k: [] for k in ("--help", "people", "open new DB", "open existing DB")}
    for i in range(repeat):
        out["--help"].append(cpu_of([py, "-m", "desktop_app.cli", "--help"], src, env))
        out["people"].append(cpu_of([py, "-m", "desktop_app.cli", "people", "--db", str(existing)], src, env))
        new = work / f"new{i}" / "facegate.db"
        new.parent.mkdir(mode=0o700)
        out["open new DB"].append(cpu_of([py, "-c", OPEN, str(new)], src, env))
        out["open existing DB"].append(cpu_of([py, "-c", OPEN, str(existing)], src, env))
    res = {k: statistics.median(v) for k, v in out.items()}
    res["warm open existing"] = warm_open(src, existing, env)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline-rev", default="main")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="fg-startup-") as tmp:
        base_src = Path(tmp) / "baseline"
        base_src.mkdir()
        blob = subprocess.run(["git", "archive", args.baseline_rev], cwd=ROOT, check=True, capture_output=True).stdout
        with tarfile.open(fileobj=BytesIO(blob)) as tar:
            tar.extractall(base_src, filter="data")
        t0 = time.perf_counter()
        base = measure(base_src, Path(tmp) / "wb", args.repeat)
        this = measure(ROOT, Path(tmp) / "wt", args.repeat)
        print(f"CPU seconds, median of {args.repeat} (baseline {args.baseline_rev} -> this tree)")
        for k in base:
            print(f"  {k:18s} {base[k]:6.2f} s -> {this[k]:6.2f} s   ratio {this[k] / base[k]:.2f}")
        print(f"(bench took {time.perf_counter() - t0:.0f} s wall)")


if __name__ == "__main__":
    main()
