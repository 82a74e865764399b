"""What a calibration found, as data: which rule chose the threshold, on how much data, and what
looked wrong (the same face enrolled twice, a "stranger" who is enrolled).

:func:`describe` is the one place that turns findings into sentences for people (the CLI, the
app, the stored notes); tests and code read the fields. No NaN anywhere: absent values are None,
so two findings compare equal when they are equal. Stored as JSON (:meth:`CalibrationFindings.to_dict`
/ :func:`findings_from_dict`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class Resolution(StrEnum):
    """The rule whose threshold is in force (the strictest candidate wins)."""

    SITE_SEARCHES = "site-searches"  # empirical quantile of this site's non-mated searches
    SITE_TAIL = "site-tail"  # tail model fitted to this site's per-person non-mated scores
    MODEL_PRIOR = "model-prior"  # the model's impostor tail measured on public faces
    SAFE_SIDE = "safe-side"  # too few site searches to resolve the target: prior + safety margin
    FALLBACK = "fallback"  # nothing to calibrate with: the configured fallback, not calibrated


class TailKind(StrEnum):
    """How the per-person quantile was located."""

    EMPIRICAL = "empirical"  # enough scores above it: their own quantile
    EXPONENTIAL = "exponential"
    GAUSSIAN = "gaussian"


class TailSkipped(StrEnum):
    """Why no tail model was fitted to the site's per-person scores."""

    TOO_FEW_SCORES = "too-few-scores"
    PRIOR_STANDS_IN = "prior-stands-in"


class FallbackReason(StrEnum):
    """Why there was nothing to calibrate with."""

    EMPTY_GALLERY = "empty-gallery"
    ONE_PERSON_NO_STRANGERS = "one-person-no-strangers"


@dataclass(frozen=True)
class DoubleEnrolment:
    """Two enrolled persons whose templates match like one face: person_a < person_b (ids),
    score the highest cosine between them; excluded: their searches were left out of the site's
    non-mated searches (mutual best matches above the model prior), else only reported."""

    person_a: int
    person_b: int
    score: float
    excluded: bool


@dataclass(frozen=True)
class EnrolledStranger:
    """A stranger-pool face (index into the pool) that matches enrolled ``person`` at ``score``:
    most likely that person, wrongly in the pool."""

    stranger: int
    person: int
    score: float


@dataclass(frozen=True)
class SearchCounts:
    """How much site data was used. stranger_pool / enrolled_templates: available probes;
    stranger_searches / enrolled_searches: probes searched (fewer when sampled, see the policy's
    caps); excluded_searches: enrolled searches left out as double enrolments; mated: leave-one-out
    mated scores; per_person_scores: per-person non-mated scores behind the tail model."""

    stranger_pool: int
    stranger_searches: int
    enrolled_templates: int
    enrolled_searches: int
    excluded_searches: int
    mated: int
    per_person_scores: int

    @property
    def searches(self) -> int:
        """Non-mated searches that entered the empirical threshold."""
        return self.stranger_searches + self.enrolled_searches - self.excluded_searches

    @property
    def sampled(self) -> bool:
        return self.stranger_searches < self.stranger_pool or self.enrolled_searches < self.enrolled_templates


@dataclass(frozen=True)
class SiteCheck:
    """The site's searches against the model prior: ``above`` of ``searches`` reach the prior's
    threshold, ``allowed`` (max(2, e + 3 sqrt(e)), e = searches * target) are consistent with it."""

    prior_threshold: float
    above: int
    searches: int
    allowed: float

    @property
    def consistent(self) -> bool:
        return self.above <= self.allowed


@dataclass(frozen=True)
class TailEstimate:
    """The modelled threshold: the per-person quantile at ``far_person`` (the per-person false
    accept rate that gives the target FPIR over all persons), ``kind`` of estimate, fitted to the
    top ``tail_size`` of the per-person scores (``expected`` of them expected above the quantile).
    params: (u, beta) of the exponential, (mean, sd) of the Gaussian, () for the empirical one.
    point: the estimate; bound: its ``confidence`` bootstrap upper bound over ``probes`` probes
    (None without a bootstrap); threshold: the larger of the two."""

    kind: TailKind
    far_person: float
    tail_size: int
    expected: float
    params: tuple[float, ...]
    point: float
    bound: float | None
    confidence: float | None
    probes: int

    @property
    def threshold(self) -> float:
        return self.point if self.bound is None else max(self.point, self.bound)


@dataclass(frozen=True)
class CalibrationFindings:
    """Everything a calibration decided, as data.

    resolution: the rule in force; target_fpir; persons: enrolled persons; counts: data used;
    empirical_threshold: the searches' own quantile (None without searches); searches_resolve:
    n * target >= 1 (else the empirical threshold is just above the highest search);
    empirical_binding: whether it took part in the choice (False when the site check found the
    searches consistent with the prior); site_check: that check (None without a prior or when the
    searches resolve the target); tail / tail_skipped: the modelled threshold or why there is none;
    prior_threshold: the model prior's threshold for this gallery (None without one);
    safe_side_threshold: prior + safe margin when the site could not resolve the target;
    fallback_reason: set when resolution is FALLBACK; clipped_from: the threshold before clipping
    to ``clip`` (None when inside); threshold: the result.
    """

    resolution: Resolution
    threshold: float
    target_fpir: float
    persons: int
    counts: SearchCounts
    clip: tuple[float, float]
    empirical_threshold: float | None = None
    searches_resolve: bool = False
    empirical_binding: bool = False
    site_check: SiteCheck | None = None
    tail: TailEstimate | None = None
    tail_skipped: TailSkipped | None = None
    prior_threshold: float | None = None
    safe_margin: float | None = None
    safe_side_threshold: float | None = None
    fallback_reason: FallbackReason | None = None
    clipped_from: float | None = None
    suspected_double_enrolments: tuple[DoubleEnrolment, ...] = ()
    enrolled_strangers: tuple[EnrolledStranger, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (enums as their values, tuples as lists)."""
        out: dict[str, Any] = asdict(self)
        return out


def findings_from_dict(d: dict[str, Any]) -> CalibrationFindings:
    """Inverse of :meth:`CalibrationFindings.to_dict`; KeyError/TypeError/ValueError when malformed."""

    def opt(key: str, make: Any) -> Any:
        value = d.get(key)
        return None if value is None else make(value)

    tail = d.get("tail")
    return CalibrationFindings(
        resolution=Resolution(d["resolution"]),
        threshold=float(d["threshold"]),
        target_fpir=float(d["target_fpir"]),
        persons=int(d["persons"]),
        counts=SearchCounts(**{k: int(v) for k, v in d["counts"].items()}),
        clip=(float(d["clip"][0]), float(d["clip"][1])),
        empirical_threshold=opt("empirical_threshold", float),
        searches_resolve=bool(d.get("searches_resolve", False)),
        empirical_binding=bool(d.get("empirical_binding", False)),
        site_check=opt(
            "site_check",
            lambda c: SiteCheck(float(c["prior_threshold"]), int(c["above"]), int(c["searches"]), float(c["allowed"])),
        ),
        tail=None
        if tail is None
        else TailEstimate(
            kind=TailKind(tail["kind"]),
            far_person=float(tail["far_person"]),
            tail_size=int(tail["tail_size"]),
            expected=float(tail["expected"]),
            params=tuple(float(x) for x in tail["params"]),
            point=float(tail["point"]),
            bound=None if tail["bound"] is None else float(tail["bound"]),
            confidence=None if tail["confidence"] is None else float(tail["confidence"]),
            probes=int(tail["probes"]),
        ),
        tail_skipped=opt("tail_skipped", TailSkipped),
        prior_threshold=opt("prior_threshold", float),
        safe_margin=opt("safe_margin", float),
        safe_side_threshold=opt("safe_side_threshold", float),
        fallback_reason=opt("fallback_reason", FallbackReason),
        clipped_from=opt("clipped_from", float),
        suspected_double_enrolments=tuple(
            DoubleEnrolment(int(x["person_a"]), int(x["person_b"]), float(x["score"]), bool(x["excluded"]))
            for x in d.get("suspected_double_enrolments", ())
        ),
        enrolled_strangers=tuple(
            EnrolledStranger(int(x["stranger"]), int(x["person"]), float(x["score"]))
            for x in d.get("enrolled_strangers", ())
        ),
    )


FALLBACK_TEXT = {
    FallbackReason.EMPTY_GALLERY: "the gallery is empty",
    FallbackReason.ONE_PERSON_NO_STRANGERS: "only one person is enrolled and no stranger images were given",
}

_RULE = {
    Resolution.SITE_SEARCHES: "this site's non-mated searches (their empirical quantile)",
    Resolution.SITE_TAIL: "a tail model of this site's per-person non-mated scores",
    Resolution.MODEL_PRIOR: "the model prior (its impostor tail measured on public faces)",
    Resolution.SAFE_SIDE: "the safe side: this site's data cannot resolve the target yet, so the model "
    "prior's threshold plus a safety margin",
    Resolution.FALLBACK: "the fallback threshold (not calibrated)",
}


def describe(f: CalibrationFindings) -> tuple[str, ...]:
    """Sentences for people, one per finding, generated from the data only."""
    c = f.counts
    if f.resolution is Resolution.FALLBACK:
        why = FALLBACK_TEXT[f.fallback_reason] if f.fallback_reason is not None else "nothing to calibrate with"
        return (f"{why}; used the fallback threshold {f.threshold:.4f} (not calibrated)",)
    out = [
        f"threshold {f.threshold:.4f} for FPIR {f.target_fpir:g} over {f.persons} persons, "
        f"chosen by {_RULE[f.resolution]}"
    ]
    sample = f" (sampled from {c.stranger_pool} strangers and {c.enrolled_templates} templates)" if c.sampled else ""
    loo = c.enrolled_searches - c.excluded_searches
    out.append(
        f"{c.searches} non-mated searches ({c.stranger_searches} strangers, {loo} leave-one-person-out){sample}, "
        f"{c.mated} mated (leave-one-out); {c.per_person_scores} per-person non-mated scores"
    )
    doubles = [d for d in f.suspected_double_enrolments if d.excluded]
    if doubles:
        out.append(
            f"persons {', '.join(f'{d.person_a} and {d.person_b}' for d in doubles[:5])} are each other's best match "
            "above the prior threshold: likely the same face enrolled twice; check them (left out of the searches)"
        )
    if f.empirical_threshold is not None:
        coarse = "" if f.searches_resolve else f" (coarse: {c.searches} searches cannot resolve FPIR {f.target_fpir:g})"
        out.append(f"empirical threshold {f.empirical_threshold:.4f}{coarse}")
    if f.site_check is not None:
        s = f.site_check
        verdict = (
            f"consistent with FPIR {f.target_fpir:g}; the coarse empirical threshold is not binding"
            if s.consistent
            else f"more than FPIR {f.target_fpir:g} allows: the empirical threshold stands"
        )
        out.append(
            f"site check: {s.above} of {s.searches} searches at or above the prior threshold "
            f"{s.prior_threshold:.4f} ({verdict})"
        )
    if f.tail_skipped is TailSkipped.TOO_FEW_SCORES:
        out.append(f"only {c.per_person_scores} per-person scores: no tail model, empirical threshold only")
    elif f.tail_skipped is TailSkipped.PRIOR_STANDS_IN:
        out.append(
            "the model prior (its impostor tail measured on millions of comparisons) stands in for a tail "
            f"fitted to this site's {c.per_person_scores} per-person scores"
        )
    if f.tail is not None:
        t = f.tail
        if t.kind is TailKind.EMPIRICAL:
            how = f"empirical per-person quantile ({t.expected:.0f} scores expected above it)"
        elif t.kind is TailKind.GAUSSIAN:
            fit = f"mean {t.params[0]:.4f}, sd {t.params[1]:.4f}"
            how = f"Gaussian tail on the top {t.tail_size} per-person scores ({fit})"
        else:
            fit = f"u={t.params[0]:.4f}, beta={t.params[1]:.4f}"
            how = f"exponential tail on the top {t.tail_size} per-person scores ({fit})"
        if t.bound is not None and t.confidence is not None:
            how += f"; {t.confidence:.0%} bootstrap bound over {t.probes} probes (point estimate {t.point:.4f})"
        out.append(f"modelled threshold {t.threshold:.4f} at per-person far {t.far_person:.3g}: {how}")
    for d in f.suspected_double_enrolments:
        if not d.excluded:
            out.append(f"persons {d.person_a} and {d.person_b} score {d.score:.3f}: the same person enrolled twice?")
    for e in f.enrolled_strangers:
        out.append(f"stranger #{e.stranger} scores {e.score:.3f} against person {e.person}: is this stranger enrolled?")
    if f.prior_threshold is not None:
        out.append(f"model prior threshold {f.prior_threshold:.4f} (a floor)")
    if f.safe_side_threshold is not None and f.safe_margin is not None:
        out.append(
            f"safe side: prior {f.prior_threshold or 0.0:.4f} + margin {f.safe_margin:.2f} = "
            f"{f.safe_side_threshold:.4f}, until the site's strangers and enrolled people resolve "
            f"FPIR {f.target_fpir:g} (about {1.0 / f.target_fpir:.0f} searches)"
        )
    if f.clipped_from is not None:
        out.append(f"threshold {f.clipped_from:.4f} clipped to [{f.clip[0]}, {f.clip[1]}]")
    if c.mated == 0:
        out.append("no person has two templates: FNIR cannot be estimated")
    return tuple(out)
