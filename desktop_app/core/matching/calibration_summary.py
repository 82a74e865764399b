"""The threshold in force, in words for the people who run the door (the app's settings page and
``facegate calibrate``): which rule chose it, and, on the safe side, what the site still lacks.

Made from :class:`~desktop_app.core.matching.calibration_findings.CalibrationFindings` only; a rate
that could not be measured (one photo per person: no mated pairs) is said so, never shown as NaN.
"""

from __future__ import annotations

import math

from desktop_app.core.matching.calibration_findings import FALLBACK_TEXT, CalibrationFindings, Resolution
from desktop_app.core.types import Calibration


def one_in(target: float) -> str:
    """0.001 -> "1 in 1,000" (the target FPIR as a count of strangers)."""
    return f"1 in {round(1.0 / target):,}" if target > 0 else "none"


def searches_needed(f: CalibrationFindings) -> int:
    """Non-mated searches still missing before this site's data resolves the target (0 when it does)."""
    return max(0, math.ceil(1.0 / f.target_fpir - 1e-9) - f.counts.searches)


def _rate(value: float, what: str) -> str:
    return f"{what} {value:.2%}" if math.isfinite(value) else f"{what}: not measurable"


def summarise(cal: Calibration | None, fallback: float, target: float) -> str:
    """One paragraph on the threshold in force. ``fallback``: the default threshold used without a
    calibration; ``target``: the configured FPIR."""
    if cal is None:
        return (f"Threshold {fallback:.2f} (default, not calibrated): calibration needs at least two enrolled "
                f"people, or photos of strangers (`facegate calibrate --strangers DIR`), for {one_in(target)} "
                "strangers let in.")
    f = cal.findings
    if f is None:  # a calibration stored before findings existed
        return f"Threshold {cal.threshold:.2f} for {one_in(cal.target_fpir)} strangers let in ({cal.method})."
    goal = f"{one_in(f.target_fpir)} strangers let in"
    c = f.counts
    data = (f"{c.searches:,} stranger searches ({c.stranger_searches:,} of the {c.stranger_pool:,} faces in the "
            f"stranger pool, {c.enrolled_searches - c.excluded_searches:,} by enrolled people against the others)")
    if f.resolution is Resolution.FALLBACK:
        why = FALLBACK_TEXT[f.fallback_reason] if f.fallback_reason is not None else "nothing to calibrate with"
        head = (f"Threshold {f.threshold:.2f} (default, not calibrated): {why}, so it is not checked "
                f"against {goal}.")
    elif f.resolution is Resolution.SAFE_SIDE:
        more = searches_needed(f)
        raised = (f"the model prior {f.prior_threshold:.2f} + {f.safe_margin:.2f}"
                  if f.prior_threshold is not None and f.safe_margin is not None else "stricter than the model prior")
        head = (f"Threshold {f.threshold:.2f} (safe side): not enough site data to confirm {goal}, so the "
                f"threshold is raised to {f.threshold:.2f} ({raised}) until about {more:,} more strangers "
                f"are seen at the door.")
    elif f.resolution is Resolution.MODEL_PRIOR:
        head = (f"Threshold {f.threshold:.2f} (model prior) for {f.persons} people and {goal}: this site's "
                f"{c.searches:,} stranger searches agree with it.")
    elif f.resolution is Resolution.SITE_SEARCHES:
        head = f"Threshold {f.threshold:.2f} (this site's own data): {goal} on {data}."
    else:
        head = f"Threshold {f.threshold:.2f} (tail model of this site's own data): {goal} on {data}."
    if f.resolution is Resolution.FALLBACK:
        return head
    if cal.n_impostor and math.isfinite(cal.est_fpir):
        rates = [f"{round(cal.est_fpir * cal.n_impostor):,} of {cal.n_impostor:,} stranger searches on the "
                 "calibration data reach it"]
    else:
        rates = ["strangers accepted: not measurable (no stranger searches yet)"]
    if cal.n_genuine:
        rates.append(_rate(cal.est_fnir, "enrolled people missed"))
    else:
        rates.append("enrolled people missed: not measurable (one photo per person)")
    said = "; ".join(rates)
    return f"{head} {said[:1].upper()}{said[1:]}."
