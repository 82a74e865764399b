"""The deployment gate: a fine-tuned model replaces the current one only if it is not worse.

Rules (each gives a reason, passed or failed):

* roster rank-1: candidate >= current - ``rank1_tolerance`` (default 0: not worse);
* roster open-set TPIR at each model's calibrated threshold: candidate >= current -
  ``tpir_tolerance`` (default 0); skipped when neither could be measured, failed when only the
  current model's could;
* LFW accuracy: candidate >= current - ``max_lfw_drop`` (default 0.002, i.e. 0.2 points);
  skipped when LFW was not evaluated, unless ``require_lfw``;
* no degenerate (zero / non-finite) embeddings beyond the current model's.
"""

from __future__ import annotations

from dataclasses import dataclass

from .evaluate import ModelReport


@dataclass(frozen=True)
class GateConfig:
    """Tolerances as fractions (0.005 = 0.5 percentage points)."""

    max_lfw_drop: float = 0.002
    rank1_tolerance: float = 0.0
    tpir_tolerance: float = 0.0
    require_lfw: bool = False

    def __post_init__(self) -> None:
        for name in ("max_lfw_drop", "rank1_tolerance", "tpir_tolerance"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a fraction in [0, 1], got {value}")


@dataclass(frozen=True)
class GateCheck:
    """One rule: its name, whether it passed, and a sentence saying why."""

    name: str
    passed: bool
    reason: str


@dataclass(frozen=True)
class GateDecision:
    """deploy: every check passed; checks: all rules; reasons: their sentences, failures first."""

    deploy: bool
    checks: tuple[GateCheck, ...]

    @property
    def reasons(self) -> tuple[str, ...]:
        failed = [c.reason for c in self.checks if not c.passed]
        return tuple(failed + [c.reason for c in self.checks if c.passed])

    @property
    def failures(self) -> tuple[str, ...]:
        return tuple(c.reason for c in self.checks if not c.passed)

    def to_dict(self) -> dict[str, object]:
        return {"deploy": self.deploy,
                "checks": [{"name": c.name, "passed": c.passed, "reason": c.reason} for c in self.checks]}


def _pct(x: float) -> str:
    return f"{100.0 * x:.2f}%"


_EPS = 1e-9


def decide(current: ModelReport, candidate: ModelReport, config: GateConfig | None = None) -> GateDecision:
    """Apply the rules of the module docstring to two reports on the same data."""
    cfg = config or GateConfig()
    checks: list[GateCheck] = []

    ok = candidate.rank1 >= current.rank1 - cfg.rank1_tolerance - _EPS
    checks.append(GateCheck(
        "rank1", ok,
        f"held-out rank-1 {_pct(current.rank1)} -> {_pct(candidate.rank1)}"
        + ("" if ok else f": worse than the current model (allowed drop {_pct(cfg.rank1_tolerance)})"),
    ))

    if current.tpir is None and candidate.tpir is None:
        checks.append(GateCheck("tpir", True, "open-set TPIR not measured for either model (no calibration)"))
    elif candidate.tpir is None:
        checks.append(GateCheck("tpir", False, "open-set TPIR of the candidate could not be measured"))
    else:
        cur_tpir = current.tpir if current.tpir is not None else 0.0
        ok = candidate.tpir >= cur_tpir - cfg.tpir_tolerance - _EPS
        checks.append(GateCheck(
            "tpir", ok,
            f"open-set TPIR at the calibrated threshold {_pct(cur_tpir)} -> {_pct(candidate.tpir)} "
            f"(FPIR {_pct(current.fpir or 0.0)} -> {_pct(candidate.fpir or 0.0)})"
            + ("" if ok else f": worse than the current model (allowed drop {_pct(cfg.tpir_tolerance)})"),
        ))

    if current.lfw is None or candidate.lfw is None:
        checks.append(GateCheck(
            "lfw", not cfg.require_lfw,
            "LFW verification not evaluated" + (": required by the gate" if cfg.require_lfw else " (check skipped)"),
        ))
    else:
        drop = current.lfw.accuracy - candidate.lfw.accuracy
        ok = drop <= cfg.max_lfw_drop + _EPS
        checks.append(GateCheck(
            "lfw", ok,
            f"LFW accuracy {_pct(current.lfw.accuracy)} -> {_pct(candidate.lfw.accuracy)} "
            f"({candidate.lfw.pairs} pairs, TAR@FAR1e-3 {_pct(current.lfw.tar_at_far_1e3)} -> "
            f"{_pct(candidate.lfw.tar_at_far_1e3)})"
            + ("" if ok else f": drops {100 * drop:.2f} points, more than the allowed {100 * cfg.max_lfw_drop:.2f}"),
        ))

    cur_bad = current.degenerate + (current.lfw.degenerate if current.lfw else 0)
    cand_bad = candidate.degenerate + (candidate.lfw.degenerate if candidate.lfw else 0)
    ok = cand_bad <= cur_bad
    checks.append(GateCheck(
        "embeddings", ok,
        "embeddings are finite and non-zero" if ok and cand_bad == 0
        else f"{cand_bad} zero or non-finite embeddings (current model: {cur_bad})",
    ))
    return GateDecision(deploy=all(c.passed for c in checks), checks=tuple(checks))
