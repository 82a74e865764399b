"""Open-set threshold calibration: pick the cosine threshold for a target FPIR on *this* gallery.

Definitions (open-set identification, ISO/IEC 19795-1 vocabulary):

- a *mated* search is a probe of an enrolled person; a *non-mated* search is a probe of someone
  who is not enrolled;
- FPIR(t) = share of non-mated searches whose best *person* score is >= t (a stranger would be
  let in as somebody); FNIR(t) = share of mated searches whose own person scores below t.

FPIR grows with the number of enrolled persons P: a stranger gets P chances, so
FPIR(t) ~= 1 - (1 - far_person(t)) ** P, where far_person(t) is the chance that one person's
score (best of that person's templates) against a stranger reaches t. The threshold must therefore
be chosen for this gallery, at person level.

Data used (all cosine scores of L2-normalised float32 embeddings):

- mated scores: leave-one-out, every template against the other templates of its own person;
- non-mated top scores: every stranger probe against the whole gallery, plus every enrolled
  template against the gallery minus its own person (leave-one-person-out). This is the
  empirical non-mated search set, n_impostor = S + N searches;
- per-person non-mated scores: the same probes against every person separately, own person
  excluded: S * P + N * (P - 1) samples, far more than there are searches, used for the tail model.

Threshold: the larger (stricter) of (policy fields in ``CalibrationPolicy``)

1. the *empirical* threshold: the smallest t with (non-mated top scores >= t) / n <= target;
   with few searches (300 strangers at a target of 1e-3) this is just above the largest observed
   score and cannot say how rare that score is;
2. the *modelled* threshold: the per-person false accept rate that gives the target FPIR,
   far* = 1 - (1 - target) ** (1 / P), located on the per-person scores: the empirical quantile
   when at least ``min_exceedances`` (25) samples are expected above it; otherwise a tail model
   fitted to the top ``tail_fraction`` (0.5 %, at least ``min_tail`` = 100) samples.
   Default ``tail_model="exponential"``: peaks over threshold, P(X >= t) ~= (k / n) *
   exp(-(t - u) / beta), u the (k+1)-th largest score, beta the mean excess over u (its
   maximum-likelihood estimate), i.e. a generalised Pareto tail with shape 0 (Gumbel domain).
   ``tail_model="gaussian"`` instead regresses the top scores on their normal quantiles.
   We chose the exponential because it needs only the tail, not the shape of the bulk, and
   because it decays more slowly than a Gaussian-like tail, so its extrapolation errs on the
   strict side (lower FPIR, higher FNIR), the safe side for a door. Measured with the shipped
   SFace model on LFW (3 templates per person, 300 single-image people as strangers, the other
   ~4,400-7,700 non-enrolled LFW images as fresh strangers, 4 draws, P = 20..1000, targets 1e-2
   and 1e-3): achieved FPIR 0.1x to 1.2x target with the exponential (FNIR of the held-out
   images of enrolled people 0-6 %), except 1.6x-1.8x at P = 1000 and 1e-3, where the ~4,400
   fresh probes expect only 4.4 false matches; up to 2.4x with the Gaussian. On synthetic Gaussian-like
   data the exponential is far stricter than needed (achieved FPIR 0.1x-0.5x target at 1e-2).
   Probes, not single scores, are the independent units (one stranger scores high against many
   similar persons), so the modelled threshold is the ``confidence`` (90 %) upper bound of a
   bootstrap over probes (``n_boot`` = 200 resamples, weights on the kept tail), never below the
   point estimate.

When the empirical threshold is the binding one because a few non-mated searches score far above
the model, those searches are reported (on LFW this finds "Joseph_Blatter" and "Sepp_Blatter",
the same man under two names): the same person enrolled twice, or a "stranger" who is enrolled,
makes the threshold needlessly strict. With a model prior, two persons who are each other's best
match above the prior's threshold are reported as a double enrolment and left out of the
searches. The result is clipped to the policy's ``clip`` (default [0.1, 0.95]).

Optional floor (``prior_threshold=``): the threshold that the model's per-comparison impostor tail,
measured once on many public faces (``desktop_app.core.embedding.model_prior``), gives for this
gallery. The result is never below it.

Safe side: when the site's non-mated searches are too few to resolve the target (n * target < 1:
e.g. 20 people enrolled from one photo each and no strangers yet), the floor is the prior's
threshold plus ``safe_margin`` (0.05): the prior was measured on LFW's varied photos and
underestimates the impostor scores of one homogeneous camera, and the site cannot yet show
otherwise. As the stranger pool (the door's unknown faces) and the enrolled people grow past
about 1 / target searches, the site's own data takes over. This is also the answer for one
person and no strangers. Without a prior the site's own tail model and empirical threshold
decide, and with no non-mated data at all the caller's fallback is returned, marked as such.

Bounded cost: at most ``max_stranger_searches`` strangers and ``max_enrolled_searches`` enrolled
templates search (a seeded uniform sample beyond that; the person-level scores of each sampled
probe are exact), so a calibration costs O(cap * templates * D). The sampled searches estimate
FPIR with resolution 1 / n and relative standard error about 1 / sqrt(n * target) at the target
(n = 10,000 searches at 1e-3: 0.32); bench/calibration_scale.py measures time and threshold.

Every decision is returned as data in :class:`~desktop_app.core.matching.calibration_findings.CalibrationFindings`
(``Calibration.findings``); ``Calibration.notes`` are its sentences, made by ``describe``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from desktop_app.core.matching.calibration_findings import (
    FALLBACK_TEXT,
    CalibrationFindings,
    DoubleEnrolment,
    EnrolledStranger,
    FallbackReason,
    Resolution,
    SearchCounts,
    SiteCheck,
    TailEstimate,
    TailKind,
    TailSkipped,
    describe,
)
from desktop_app.core.matching.calibration_policy import DEFAULT_CLIP, CalibrationPolicy, TailModel
from desktop_app.core.matching.site_scores import (
    NonMated,
    SiteGallery,
    mated_scores,
    nonmated_searches,
    nonmated_top_scores,
    search_rows,
    site_gallery,
    unit_rows,
)
from desktop_app.core.matching.tail_estimators import empirical_threshold, exp_tail_threshold, gauss_tail_threshold
from desktop_app.core.types import Calibration

__all__ = [
    "DEFAULT_CLIP",
    "CalibrationPolicy",
    "TailModel",
    "calibrate",
    "mated_scores",
    "nonmated_top_scores",
]


# --------------------------------------------------------------------------------------------
# steps


@dataclass(frozen=True)
class _TailPlan:
    """Sizes of the tail model: n_pp per-person scores, far_person the per-person false accept
    rate giving the target over P persons, expected = n_pp * far_person, k the tail size, keep
    how many of the largest per-person scores to keep."""

    n_pp: int
    far_person: float
    expected: float
    k: int
    keep: int


def _tail_plan(policy: CalibrationPolicy, n_persons: int, n_strangers: int, n_enrolled: int) -> _TailPlan:
    n_pp = n_strangers * n_persons + n_enrolled * (n_persons - 1)
    far_person = -math.expm1(math.log1p(-policy.target_fpir) / n_persons)
    expected = n_pp * far_person
    k = min(n_pp - 1, max(policy.min_tail, min(policy.max_tail, math.ceil(policy.tail_fraction * n_pp))))
    keep = max(k + 1, 3 * (math.floor(expected + 1e-9) + 1))
    return _TailPlan(n_pp, far_person, expected, k, keep)


def _uncalibrated(
    reason: FallbackReason,
    fallback: float | None,
    policy: CalibrationPolicy,
    persons: int,
    templates: int,
    model_sha256: str,
) -> Calibration:
    """No non-mated data at all: the caller's fallback threshold, marked as such (or ValueError)."""
    findings = CalibrationFindings(
        resolution=Resolution.FALLBACK,
        threshold=0.0,
        target_fpir=policy.target_fpir,
        persons=persons,
        counts=SearchCounts(0, 0, 0, 0, 0, 0, 0),
        clip=policy.clip,
        fallback_reason=reason,
    )
    if fallback is None:
        raise ValueError(
            f"cannot calibrate a threshold: {FALLBACK_TEXT[reason]}. Add stranger images (people who "
            "are not enrolled) or pass a model-default threshold as fallback."
        )
    t = float(np.clip(fallback, *policy.clip))
    findings = replace(findings, threshold=t)
    return Calibration(
        threshold=t,
        target_fpir=policy.target_fpir,
        gallery_persons=persons,
        gallery_templates=templates,
        model_sha256=model_sha256,
        est_fpir=float("nan"),
        est_fnir=float("nan"),
        n_genuine=0,
        n_impostor=0,
        method="fallback",
        notes=describe(findings),
        findings=findings,
    )


def _searches(g: SiteGallery, strangers: np.ndarray, policy: CalibrationPolicy, keep: int) -> NonMated:
    """The non-mated searches, each kind capped by the policy (seeded sample beyond the cap)."""
    rng = np.random.default_rng((policy.seed, 1))
    s_rows = search_rows(strangers.shape[0], policy.max_stranger_searches, rng)
    e_rows = search_rows(g.n_templates, policy.max_enrolled_searches, rng) if g.n_persons >= 2 else None
    return nonmated_searches(g, strangers, keep, s_rows, e_rows)


def _double_enrolments(
    g: SiteGallery, nm: NonMated, prior_threshold: float | None
) -> tuple[tuple[DoubleEnrolment, ...], np.ndarray]:
    """Persons who are each other's best match above the prior threshold: most likely one face
    enrolled under two names (LFW has such pairs). No threshold separates them, and letting them
    set the empirical quantile would lock everyone out. Returns the pairs and a (L,) mask of the
    enrolled searches to leave out. When the searches were sampled, the partners' own searches are
    run as well (only for this check), so the rule sees both directions."""
    dup = np.zeros(nm.loo_top.size, bool)
    if prior_threshold is None or nm.loo_top.size == 0:
        return (), dup
    hits: dict[tuple[int, int], float] = {}

    def collect(rows: np.ndarray, top: np.ndarray, best: np.ndarray) -> None:
        for i in np.flatnonzero(top >= prior_threshold):
            key = (int(g.p[rows[i]]), int(best[i]))
            hits[key] = max(hits.get(key, -1.0), float(top[i]))

    collect(nm.loo_rows, nm.loo_top, nm.loo_best)
    searched = np.zeros(g.n_templates, bool)
    searched[nm.loo_rows] = True
    partners = np.array(sorted({b for _, b in hits}), np.int64)
    extra = np.flatnonzero(np.isin(g.p, partners) & ~searched)
    if extra.size:
        more = nonmated_searches(g, np.zeros((0, g.v.shape[1]), np.float32), 0, None, extra)
        collect(more.loo_rows, more.loo_top, more.loo_best)
    mutual = {(a, b) for a, b in hits if (b, a) in hits}
    if not mutual:
        return (), dup
    dup = np.array([(int(g.p[r]), int(b)) in mutual for r, b in zip(nm.loo_rows, nm.loo_best, strict=True)], bool)
    pairs = sorted({(min(a, b), max(a, b)) for a, b in mutual})
    return tuple(DoubleEnrolment(a, b, max(hits[(a, b)], hits[(b, a)]), True) for a, b in pairs), dup


@dataclass(frozen=True)
class _Empirical:
    threshold: float | None
    resolves: bool
    binding: bool
    site_check: SiteCheck | None


def _empirical_step(nonmated: np.ndarray, target: float, prior_threshold: float | None) -> _Empirical:
    """The searches' own threshold. With too few searches to resolve the target, it is just above
    the single highest search, one look-alike away from locking everyone out: then the prior
    decides unless the site's searches contradict it (clearly more of them above the prior's
    threshold than the target allows)."""
    if nonmated.size == 0:
        return _Empirical(None, False, False, None)
    t = empirical_threshold(np.sort(nonmated)[::-1], nonmated.size, target)
    resolves = nonmated.size * target >= 1.0
    if resolves or prior_threshold is None:
        return _Empirical(t, resolves, True, None)
    expected = nonmated.size * target
    check = SiteCheck(
        float(prior_threshold),
        int(np.sum(nonmated >= prior_threshold)),
        int(nonmated.size),
        max(2.0, expected + 3.0 * math.sqrt(expected)),
    )
    return _Empirical(t, False, not check.consistent, check)


def _tail_step(
    nm: NonMated, plan: _TailPlan, policy: CalibrationPolicy, prior_threshold: float | None
) -> tuple[TailEstimate | None, TailSkipped | None]:
    """The modelled threshold: the per-person quantile at far_person, FPIR = 1 - (1 - far) ** P;
    the bootstrap resamples probes (not single scores: one stranger scores high against many
    similar persons)."""
    if plan.n_pp < 10:
        return None, TailSkipped.TOO_FEW_SCORES
    if prior_threshold is not None and not policy.site_tail:
        return None, TailSkipped.PRIOR_STANDS_IN
    vals, k, far = nm.tail_values, plan.k, plan.far_person
    use_emp = plan.expected >= policy.min_exceedances
    kind = TailKind.EMPIRICAL if use_emp else TailKind(policy.tail_model.value)

    def estimate(weights: np.ndarray | None, n_total: float) -> tuple[float, tuple[float, ...]]:
        if kind is TailKind.EMPIRICAL:
            return empirical_threshold(vals, n_total, far, weights), ()
        fit = gauss_tail_threshold if kind is TailKind.GAUSSIAN else exp_tail_threshold
        t, a, b = fit(vals, n_total, k, far, weights)
        return t, (a, b)

    point, params = estimate(None, float(plan.n_pp))
    bound: float | None = None
    if policy.n_boot > 0:
        rng = np.random.default_rng(policy.seed)
        rows = nm.probe_entries.size
        boots = np.empty(policy.n_boot)
        for b in range(policy.n_boot):
            w = np.bincount(rng.integers(0, rows, rows), minlength=rows)
            boots[b] = estimate(w[nm.tail_probes].astype(np.float64), float(np.dot(w, nm.probe_entries)))[0]
        bound = float(np.quantile(boots, policy.confidence))
    return TailEstimate(
        kind=kind,
        far_person=far,
        tail_size=k,
        expected=plan.expected,
        params=params,
        point=point,
        bound=bound,
        confidence=policy.confidence if bound is not None else None,
        probes=int(nm.probe_entries.size),
    ), None


def _look_alikes(
    g: SiteGallery, nm: NonMated, above: float, limit: int = 3
) -> tuple[tuple[DoubleEnrolment, ...], tuple[EnrolledStranger, ...]]:
    """Non-mated searches scoring above ``above`` (the model): likely the same person enrolled
    twice under two ids, or a 'stranger' who is in fact enrolled (reported, not excluded)."""
    pairs: list[DoubleEnrolment] = []
    for i in np.argsort(-nm.loo_top):
        if nm.loo_top[i] < above or len(pairs) >= limit:
            break
        a, b = int(g.p[nm.loo_rows[i]]), int(nm.loo_best[i])
        if any({d.person_a, d.person_b} == {a, b} for d in pairs):
            continue
        pairs.append(DoubleEnrolment(min(a, b), max(a, b), float(nm.loo_top[i]), False))
    strangers: list[EnrolledStranger] = []
    for i in np.argsort(-nm.stranger_top)[:limit]:
        if nm.stranger_top[i] < above:
            break
        strangers.append(
            EnrolledStranger(int(nm.stranger_rows[i]), int(nm.stranger_best[i]), float(nm.stranger_top[i]))
        )
    return tuple(pairs), tuple(strangers)


def _choose(
    emp: _Empirical, tail: TailEstimate | None, prior_threshold: float | None, policy: CalibrationPolicy
) -> tuple[float, Resolution, str, float | None]:
    """The strictest of the candidates: (threshold, resolution, method suffix, safe-side threshold)."""
    t_emp = emp.threshold if emp.binding and emp.threshold is not None else -1.0
    t_model = tail.threshold if tail is not None else -1.0
    if t_model > t_emp:
        threshold, resolution = t_model, Resolution.SITE_TAIL
        method = (
            "tail-empirical" if tail is not None and tail.kind is TailKind.EMPIRICAL else f"tail-{policy.tail_model}"
        )
    else:
        threshold, resolution, method = t_emp, Resolution.SITE_SEARCHES, "empirical"
    safe: float | None = None
    if prior_threshold is not None:
        floor, rule, name = float(prior_threshold), Resolution.MODEL_PRIOR, "prior"
        if not emp.resolves:
            safe = float(prior_threshold) + policy.safe_margin
            floor, rule, name = safe, Resolution.SAFE_SIDE, "safe-side"
        if floor > threshold:
            threshold, resolution, method = floor, rule, name
    return threshold, resolution, method, safe


# --------------------------------------------------------------------------------------------
# the calibration


def calibrate(
    vectors: np.ndarray,
    person_ids: np.ndarray,
    strangers: np.ndarray | None,
    policy: CalibrationPolicy | None = None,
    *,
    model_sha256: str = "",
    prior_threshold: float | None = None,
    fallback: float | None = None,
) -> Calibration:
    """Choose the person-level cosine threshold for ``policy.target_fpir`` on this gallery.

    vectors (N, D) float32 enrolled templates, person_ids (N,) int, strangers (S, D) float32
    embeddings of people who are *not* enrolled (None/empty allowed when there are >= 2 persons:
    leave-one-person-out searches stand in). policy: :class:`CalibrationPolicy` (default one when
    None). prior_threshold: a floor from the model's per-comparison impostor tail measured on a
    large public set (e.g. ``ScorePrior.threshold_for_gallery(target_fpir, n_templates)``);
    raised by the safety margin while the site cannot resolve the target (see the module docstring).
    fallback: returned (clipped, marked FALLBACK, NaN rates) when there is no non-mated data at all
    (empty gallery, or one person, no strangers and no prior); without it that is a ValueError.

    Returns a :class:`Calibration` whose ``findings`` say which rule decided and on what data;
    ``est_fpir``/``est_fnir`` are measured on the calibration searches at the chosen threshold
    (``est_fnir`` is NaN without mated pairs, i.e. when no person has two templates).
    """
    policy = policy if policy is not None else CalibrationPolicy()
    if prior_threshold is not None and not math.isfinite(prior_threshold):
        raise ValueError(f"prior_threshold must be finite, got {prior_threshold}.")
    g = site_gallery(vectors, person_ids)
    s = unit_rows(strangers, "stranger vectors", g.v.shape[1])
    target, (lo, hi) = policy.target_fpir, policy.clip
    if g.n_templates == 0:
        return _uncalibrated(FallbackReason.EMPTY_GALLERY, fallback, policy, 0, 0, model_sha256)
    if s.shape[0] == 0 and g.n_persons < 2 and prior_threshold is None:
        return _uncalibrated(
            FallbackReason.ONE_PERSON_NO_STRANGERS, fallback, policy, g.n_persons, g.n_templates, model_sha256
        )

    n_enrolled = min(g.n_templates, policy.max_enrolled_searches) if g.n_persons >= 2 else 0
    plan = _tail_plan(policy, g.n_persons, min(s.shape[0], policy.max_stranger_searches), n_enrolled)
    fit_tail = plan.n_pp >= 10 and (prior_threshold is None or policy.site_tail)
    nm = _searches(g, s, policy, plan.keep if fit_tail else 0)
    mated = mated_scores(g.v, g.p)
    doubles, dup = _double_enrolments(g, nm, prior_threshold)
    nonmated = np.concatenate([nm.stranger_top, nm.loo_top[~dup]])
    emp = _empirical_step(nonmated, target, prior_threshold)
    tail, skipped = _tail_step(nm, plan, policy, prior_threshold)
    threshold, resolution, method, safe = _choose(emp, tail, prior_threshold, policy)
    look_alikes: tuple[tuple[DoubleEnrolment, ...], tuple[EnrolledStranger, ...]] = ((), ())
    if resolution is Resolution.SITE_SEARCHES and tail is not None:
        look_alikes = _look_alikes(g, nm, tail.threshold)
    clipped_from = threshold if not lo <= threshold <= hi else None
    threshold = float(np.clip(threshold, lo, hi))
    findings = CalibrationFindings(
        resolution=resolution,
        threshold=threshold,
        target_fpir=target,
        persons=g.n_persons,
        counts=SearchCounts(
            stranger_pool=int(s.shape[0]),
            stranger_searches=int(nm.stranger_top.size),
            enrolled_templates=g.n_templates if g.n_persons >= 2 else 0,
            enrolled_searches=int(nm.loo_top.size),
            excluded_searches=int(dup.sum()),
            mated=int(mated.size),
            per_person_scores=plan.n_pp,
        ),
        clip=(lo, hi),
        empirical_threshold=emp.threshold,
        searches_resolve=emp.resolves,
        empirical_binding=emp.binding,
        site_check=emp.site_check,
        tail=tail,
        tail_skipped=skipped,
        prior_threshold=None if prior_threshold is None else float(prior_threshold),
        safe_margin=policy.safe_margin if safe is not None else None,
        safe_side_threshold=safe,
        clipped_from=clipped_from,
        suspected_double_enrolments=doubles + look_alikes[0],
        enrolled_strangers=look_alikes[1],
    )
    return Calibration(
        threshold=threshold,
        target_fpir=float(target),
        gallery_persons=g.n_persons,
        gallery_templates=g.n_templates,
        model_sha256=model_sha256,
        est_fpir=float(np.mean(nonmated >= threshold)) if nonmated.size else float("nan"),
        est_fnir=float(np.mean(mated < threshold)) if mated.size else float("nan"),
        n_genuine=int(mated.size),
        n_impostor=int(nonmated.size),
        method=f"person-max+{method}",
        notes=describe(findings),
        findings=findings,
    )
