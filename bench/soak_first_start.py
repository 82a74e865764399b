"""Soak: several FaceGate processes starting on a fresh data folder at the same moment.

Each trial makes an empty folder; ``--procs`` real processes (started once, imports done) wait
at a barrier, then all construct ``FaceGate(<folder>/facegate.db)`` at once. The first start of a
folder converts the shipped SFace model to fp32 (39 MB) and registers it, so the processes race
on the model file and the registry row. A trial passes when every process started without a
traceback and the folder ends with one verified active model (its file whole, sha256 as
registered, no temporary file left).

    .venv/bin/python bench/soak_first_start.py [--trials 10] [--procs 3]

``run_trials`` is also used by tests/core/test_robust_first_start.py (fewer trials).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Trial:
    """Outcome of one trial: per-process results and what the folder held afterwards."""

    index: int
    seconds: float
    results: list[dict[str, object]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _child(root: Path, trials: int) -> int:
    """One racing process: for each trial, wait at the barrier, then start FaceGate."""
    import traceback

    from desktop_app.core.service import FaceGate

    for t in range(trials):
        (root / f"ready-{t}-{os.getpid()}").touch()
        go = root / f"go-{t}"
        deadline = time.monotonic() + 600
        while not go.exists():
            if time.monotonic() > deadline:
                return 3
            time.sleep(0.002)
        out: dict[str, object] = {"trial": t, "pid": os.getpid()}
        try:
            with FaceGate(root / f"t{t}" / "facegate.db", device="cpu") as gate:
                out.update(ok=True, sha256=gate.model.sha256, path=gate.model.path)
        except BaseException:  # report everything: the point is to see any traceback
            out.update(ok=False, error=traceback.format_exc())
        print(json.dumps(out), flush=True)
    return 0


def check_folder(folder: Path) -> list[str]:
    """What is wrong with a data folder after the starts (empty list when it is sound)."""
    from desktop_app.core.embedding.model_convert import check_onnx_file
    from desktop_app.core.embedding.model_files import is_temp_name
    from desktop_app.core.errors import FaceGateError
    from desktop_app.core.storage.store import Store

    problems: list[str] = []
    temps = [p.name for p in (folder / "models").iterdir() if is_temp_name(p.name)]
    if temps:
        problems.append(f"temporary files left: {temps}")
    with Store(folder / "facegate.db") as store:
        active = store.active_model()
        models = store.list_models()
    if active is None:
        return [*problems, "no active model"]
    if len(models) != 1:
        problems.append(f"{len(models)} model rows registered, expected 1")
    try:
        check_onnx_file(Path(active.path), active.sha256)
    except FaceGateError as exc:
        problems.append(f"active model does not verify: {exc}")
    return problems


def run_trials(trials: int, procs: int = 3, root: Path | None = None, timeout_s: float = 600.0,
               code: Path = REPO) -> list[Trial]:
    """Run ``trials`` races of ``procs`` processes under ``root`` (a temporary folder by default);
    ``code``: the checkout whose FaceGate the racing processes run (an older one reproduces the bug)."""
    own = root is None
    base = Path(tempfile.mkdtemp(prefix="facegate-race-")) if root is None else Path(root)
    base.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(code), os.environ.get("PYTHONPATH", "")])}
    logs = [base / f"stderr-{i}.txt" for i in range(procs)]
    children = []
    for log in logs:
        with open(log, "w") as err:
            children.append(subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--child", str(base), "--trials", str(trials)],
                stdout=subprocess.PIPE, stderr=err, text=True, env=env, cwd=base,
            ))
    seen = [0] * procs
    out: list[Trial] = []
    try:
        for t in range(trials):
            deadline = time.monotonic() + timeout_s
            while len(list(base.glob(f"ready-{t}-*"))) < procs:
                if time.monotonic() > deadline or any(c.poll() is not None for c in children):
                    raise RuntimeError(f"trial {t}: the processes did not reach the barrier")
                time.sleep(0.005)
            start = time.monotonic()
            (base / f"go-{t}").touch()
            trial = Trial(index=t, seconds=0.0)
            for c in children:
                assert c.stdout is not None
                line = c.stdout.readline()
                if not line:
                    trial.problems.append(f"process {c.pid} ended without a result")
                    continue
                res = json.loads(line)
                trial.results.append(res)
                if not res.get("ok"):
                    trial.problems.append(f"process {res['pid']} failed:\n{res.get('error')}")
            trial.seconds = time.monotonic() - start
            shas = {r.get("sha256") for r in trial.results if r.get("ok")}
            if len(shas) > 1:
                trial.problems.append(f"processes use different models: {sorted(map(str, shas))}")
            for i, log in enumerate(logs):  # anything a process printed on stderr meanwhile
                text = log.read_text(errors="replace")
                if "Traceback" in text[seen[i]:]:
                    tail = text[seen[i]:][-3000:]
                    trial.problems.append(f"traceback on stderr of process {children[i].pid}:\n{tail}")
                seen[i] = len(text)
            if (base / f"t{t}" / "facegate.db").is_file():
                trial.problems += check_folder(base / f"t{t}")
            out.append(trial)
    finally:
        for c in children:
            try:
                c.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                c.kill()
                c.communicate()
        if own:
            import shutil

            shutil.rmtree(base, ignore_errors=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--procs", type=int, default=3)
    ap.add_argument("--code", type=Path, default=REPO,
                    help="checkout whose FaceGate the racing processes run (default: this one)")
    ap.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        return _child(args.child, args.trials)
    t0 = time.monotonic()
    trials = run_trials(args.trials, args.procs, code=args.code.resolve())
    for tr in trials:
        print(f"trial {tr.index}: {'ok' if tr.ok else 'FAILED'} in {tr.seconds:.1f} s")
        for p in tr.problems:
            print("   ", p.replace("\n", "\n    "))
    failed = sum(not tr.ok for tr in trials)
    print(f"{len(trials) - failed}/{len(trials)} trials passed with {args.procs} processes each, "
          f"{time.monotonic() - t0:.0f} s in all")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
