"""kill -9 at random points of ``run``, ``enroll`` and ``erase --yes`` (issue 9): a few trials of
bench/soak_kill9.py (30 and more there). After each kill the database passes its integrity
check, no event printed (committed) before the kill is lost, enrolment and erasure are all or
nothing, ``facegate doctor`` finds nothing but repairable stale files, and the gallery FaceGate
opens holds exactly the database's templates."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _soak() -> ModuleType:
    spec = importlib.util.spec_from_file_location("soak_kill9", REPO / "bench" / "soak_kill9.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def test_kill9_during_run_enroll_and_erase(clips: Path, tmp_path: Path) -> None:
    soak = _soak()
    trials, _ = soak.run_trials(6, seed=7, clips=clips, work=tmp_path)
    assert len(trials) == 6 and {t.op for t in trials} == {"run", "enroll", "erase"}
    assert sum(not t.finished for t in trials) >= 4, "most trials are kills, not commands that finished"
    failures = [f"trial {t.index} ({t.op}, killed at {t.kill_after_s} s): {p}" for t in trials for p in t.problems]
    assert not failures, "\n".join(failures)
