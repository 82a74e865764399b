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

Threshold: the larger (stricter) of

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
the model, those searches are listed in ``notes`` (on LFW this finds "Joseph_Blatter" and
"Sepp_Blatter", the same man under two names): the same person enrolled twice, or a "stranger"
who is enrolled, makes the threshold needlessly strict. The result is clipped to ``clip``
(default [0.1, 0.95]); every choice is written to ``notes``.

Optional floor (``prior_threshold=``): the threshold that the model's per-comparison impostor tail,
measured once on many public faces (``desktop_app.core.embedding.model_prior``), gives for this gallery. The
result is never below it, and it is the whole answer when the site has no non-mated data at all
(one person, no strangers: method "prior").
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from desktop_app.core.types import Calibration

DEFAULT_CLIP = (0.1, 0.95)
_BLOCK_ELEMENTS = 1 << 22  # probes * templates per score block (16 MiB float32)


# --------------------------------------------------------------------------------------------
# inputs


def _unit_rows(x: np.ndarray, what: str, dim: int | None = None) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float32)
    if arr.size == 0:
        return np.zeros((0, dim if dim is not None else (arr.shape[-1] if arr.ndim == 2 else 0)), np.float32)
    if arr.ndim != 2 or (dim is not None and arr.shape[1] != dim):
        want = f"(N, {dim})" if dim is not None else "(N, D)"
        raise ValueError(f"{what} must have shape {want}, got {tuple(arr.shape)}.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} contain NaN or infinite values.")
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    if np.any(norms < 1e-12):
        raise ValueError(f"{what} contain an all-zero vector.")
    out: np.ndarray = (arr / norms).astype(np.float32)
    return out


def _gallery_inputs(vectors: np.ndarray, person_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    v = _unit_rows(vectors, "gallery vectors")
    p = np.asarray(person_ids).reshape(-1)
    if p.size and not np.issubdtype(p.dtype, np.integer):
        raise ValueError(f"person ids must be integers, got dtype {p.dtype}.")
    p = p.astype(np.int64)
    if p.shape[0] != v.shape[0]:
        raise ValueError(f"{v.shape[0]} gallery vectors but {p.shape[0]} person ids.")
    return v, p


def _strangers(strangers: np.ndarray | None, dim: int) -> np.ndarray:
    if strangers is None:
        return np.zeros((0, dim), np.float32)
    return _unit_rows(strangers, "stranger vectors", dim)


def _person_scores(v: np.ndarray, p: np.ndarray, strangers: np.ndarray) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """Non-mated per-person scores in blocks: yields (kind, rows, scores (B, P) float32).

    kind "stranger": rows are stranger indices, every person is a column. kind "enrolled": rows
    are gallery row indices (input order) and the row's own person's column is -inf (excluded).
    Column j holds the best cosine of person j's templates (persons sorted by id).
    """
    n = v.shape[0]
    if n == 0:
        return
    order = np.argsort(p, kind="stable")
    vs, ps = v[order], p[order]
    new = np.r_[True, ps[1:] != ps[:-1]]
    starts = np.flatnonzero(new)
    pindex = np.cumsum(new) - 1  # person column of each sorted template
    block = max(1, _BLOCK_ELEMENTS // n)
    for a in range(0, strangers.shape[0], block):
        rows = np.arange(a, min(a + block, strangers.shape[0]))
        yield "stranger", rows, np.maximum.reduceat(strangers[rows] @ vs.T, starts, axis=1)
    for a in range(0, n, block):
        out = np.maximum.reduceat(vs[a : a + block] @ vs.T, starts, axis=1)
        out[np.arange(out.shape[0]), pindex[a : a + block]] = -np.inf
        yield "enrolled", order[a : a + block], out


@dataclass(frozen=True)
class _NonMated:
    """Non-mated searches and the upper tail of the per-person non-mated scores.

    Rows (probes) are numbered strangers first (0..S-1), then enrolled templates (S + input row).
    stranger_top/stranger_best: (S,) best score float32 / its person id int64; loo_top/loo_best:
    (N,) the same for each enrolled template against the other persons, input order ((0,) with
    fewer than two persons); tail_values: (K,) float32 the K largest per-person scores, sorted
    descending, tail_rows: (K,) int64 their rows; row_entries: (S + N,) per-person scores per row.
    """

    stranger_top: np.ndarray
    stranger_best: np.ndarray
    loo_top: np.ndarray
    loo_best: np.ndarray
    tail_values: np.ndarray
    tail_rows: np.ndarray
    row_entries: np.ndarray


def _nonmated(v: np.ndarray, p: np.ndarray, strangers: np.ndarray, keep: int) -> _NonMated:
    persons = np.unique(p)
    n_persons, n_s, n = int(persons.size), strangers.shape[0], v.shape[0]
    multi = n_persons >= 2
    s_top, s_best = np.zeros(n_s, np.float32), np.zeros(n_s, np.int64)
    loo_top = np.zeros(n if multi else 0, np.float32)
    loo_best = np.zeros(n if multi else 0, np.int64)
    tail_v, tail_r = np.zeros(0, np.float32), np.zeros(0, np.int64)
    for kind, rows, block in _person_scores(v, p, strangers):
        arg = block.argmax(axis=1)
        top = block[np.arange(block.shape[0]), arg]
        if kind == "stranger":
            s_top[rows], s_best[rows] = top, persons[arg]
            global_rows = rows
        else:
            if multi:
                loo_top[rows], loo_best[rows] = top, persons[arg]
            global_rows = rows + n_s
        if keep > 0:
            fin = np.isfinite(block)
            vals = np.concatenate([tail_v, block[fin].astype(np.float32)])
            rws = np.concatenate([tail_r, np.broadcast_to(global_rows[:, None], block.shape)[fin]])
            if vals.size > keep:
                sel = np.argpartition(vals, vals.size - keep)[vals.size - keep :]
                vals, rws = vals[sel], rws[sel]
            tail_v, tail_r = vals, rws
    order = np.argsort(-tail_v, kind="stable")
    entries = np.concatenate([np.full(n_s, n_persons, np.int64), np.full(n, n_persons - 1, np.int64)])
    return _NonMated(s_top, s_best, loo_top, loo_best, tail_v[order], tail_r[order], entries)


# --------------------------------------------------------------------------------------------
# score sets


def mated_scores(vectors: np.ndarray, person_ids: np.ndarray) -> np.ndarray:
    """Leave-one-out mated scores.

    vectors (N, D) float32 (normalised here), person_ids (N,) int. For every template of a person
    with at least two templates: the best cosine against the *other* templates of the same
    person. Returns (M,) float32 in the order of the input rows (persons with one template
    skipped).
    """
    v, p = _gallery_inputs(vectors, person_ids)
    out = np.full(p.shape[0], np.nan, dtype=np.float32)
    if p.size == 0:
        return out
    order = np.argsort(p, kind="stable")
    ps = p[order]
    bounds = np.flatnonzero(np.r_[True, ps[1:] != ps[:-1], True])
    for a, b in itertools.pairwise(bounds.tolist()):
        if b - a < 2:
            continue
        rows = order[a:b]
        sims = v[rows] @ v[rows].T
        np.fill_diagonal(sims, -np.inf)
        out[rows] = sims.max(axis=1)
    result: np.ndarray = out[~np.isnan(out)]
    return result


def nonmated_top_scores(vectors: np.ndarray, person_ids: np.ndarray, strangers: np.ndarray | None) -> np.ndarray:
    """Best person score of every non-mated search.

    vectors (N, D), person_ids (N,), strangers (S, D) float32 (normalised here; None or empty for
    none). Returns (S + N',) float32: first each stranger's best score over the whole gallery, then
    for each enrolled template, in input-row order, its best score against every *other* person
    (leave-one-person-out); N' = N when there are at least two persons, else 0. Empty when the
    gallery is empty.
    """
    v, p = _gallery_inputs(vectors, person_ids)
    nm = _nonmated(v, p, _strangers(strangers, v.shape[1]), keep=0)
    return np.concatenate([nm.stranger_top, nm.loo_top])


# --------------------------------------------------------------------------------------------
# thresholds


def _empirical_threshold(
    sorted_desc: np.ndarray, n_total: float, rate: float, weights: np.ndarray | None = None
) -> float:
    """Smallest t with (weighted) count(x >= t) / n_total <= rate.

    sorted_desc: the largest values (K,) sorted descending, weights: (K,) their multiplicities
    (None = 1 each), n_total: total weight of all values, also those not given. When the given
    values carry too little weight to locate t, the smallest given value is returned (stricter).
    """
    allowed = math.floor(rate * n_total + 1e-9)
    if allowed >= n_total:
        return -1.0
    if sorted_desc.size == 0:
        return 1.0
    cum = np.cumsum(weights) if weights is not None else np.arange(1, sorted_desc.size + 1)
    j = int(np.searchsorted(cum, allowed, side="right"))
    if j >= sorted_desc.size:
        return float(sorted_desc[-1])
    return float(np.nextafter(np.float32(sorted_desc[j]), np.float32(np.inf)))


def _exp_tail_threshold(
    sorted_desc: np.ndarray, n_total: float, k: int, rate: float, weights: np.ndarray | None = None
) -> tuple[float, float, float]:
    """Exponential peaks-over-threshold estimate of the (1 - rate) quantile.

    u = sorted_desc[k] (the (k+1)-th largest), beta = (weighted) mean excess of the top k over u;
    P(X >= t) ~= (k / n) exp(-(t - u) / beta)  =>  t = u + beta ln(k / (n rate)).
    Returns (t, u, beta)."""
    u = float(sorted_desc[k])
    w = np.ones(k) if weights is None else weights[:k].astype(np.float64)
    kw = float(w.sum())
    if kw <= 0.0:
        return u, u, 0.0
    beta = float(np.sum(w * (sorted_desc[:k].astype(np.float64) - u)) / kw)
    if beta <= 0.0:
        return float(np.nextafter(np.float32(u), np.float32(np.inf))), u, 0.0
    return u + beta * math.log(kw / (n_total * rate)), u, beta


def _norm_ppf(q: np.ndarray) -> np.ndarray:
    """Standard normal quantile function (Acklam's rational approximation, |rel. error| < 1.2e-9),
    for q in (0, 1), float64 array in and out."""
    a = (
        -3.969683028665376e01,
        2.209460984245205e02,
        -2.759285104469687e02,
        1.383577518672690e02,
        -3.066479806614716e01,
        2.506628277459239e00,
    )
    b = (
        -5.447609879822406e01,
        1.615858368580409e02,
        -1.556989798598866e02,
        6.680131188771972e01,
        -1.328068155288572e01,
    )
    c = (
        -7.784894002430293e-03,
        -3.223964580411365e-01,
        -2.400758277161838e00,
        -2.549732539343734e00,
        4.374664141464968e00,
        2.938163982698783e00,
    )
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)
    q = np.asarray(q, dtype=np.float64)
    out = np.empty_like(q)
    lo, hi = q < 0.02425, q > 1 - 0.02425
    mid = ~(lo | hi)
    r = q[mid] - 0.5
    r2 = r * r
    num = (((((a[0] * r2 + a[1]) * r2 + a[2]) * r2 + a[3]) * r2 + a[4]) * r2 + a[5]) * r
    den = ((((b[0] * r2 + b[1]) * r2 + b[2]) * r2 + b[3]) * r2 + b[4]) * r2 + 1.0
    out[mid] = num / den
    for mask, sign, qq in ((lo, 1.0, q[lo]), (hi, -1.0, 1.0 - q[hi])):
        t = np.sqrt(-2.0 * np.log(qq))
        num = ((((c[0] * t + c[1]) * t + c[2]) * t + c[3]) * t + c[4]) * t + c[5]
        den = (((d[0] * t + d[1]) * t + d[2]) * t + d[3]) * t + 1.0
        out[mask] = sign * num / den
    return out


def _gauss_tail_threshold(
    sorted_desc: np.ndarray, n_total: float, k: int, rate: float, weights: np.ndarray | None = None
) -> tuple[float, float, float]:
    """Gaussian tail fit: (weighted) least squares of the top k scores on their normal quantiles
    z_i = Phi^-1(1 - q_i), q_i the mid-rank exceedance share; extrapolated to z = Phi^-1(1 - rate).
    Returns (t, intercept, slope)."""
    w = np.ones(k) if weights is None else weights[:k].astype(np.float64)
    keep = w > 0
    if keep.sum() < 3:
        return float(sorted_desc[0]), float(sorted_desc[0]), 0.0
    q = (np.cumsum(w) - w / 2.0) / n_total
    z = _norm_ppf(np.clip(1.0 - q[keep], 1e-300, 1.0 - 1e-16))
    y = sorted_desc[:k][keep].astype(np.float64)
    ww = w[keep]
    zm, ym = np.average(z, weights=ww), np.average(y, weights=ww)
    var = float(np.sum(ww * (z - zm) ** 2))
    slope = float(np.sum(ww * (z - zm) * (y - ym)) / var) if var > 0 else 0.0
    icpt = float(ym - slope * zm)
    zt = float(_norm_ppf(np.array([1.0 - rate]))[0])
    return icpt + slope * zt, icpt, slope


def _fallback(
    fallback: float | None,
    reason: str,
    target_fpir: float,
    n_persons: int,
    n_templates: int,
    model_sha256: str,
    clip: tuple[float, float],
) -> Calibration:
    if fallback is None:
        raise ValueError(
            f"cannot calibrate a threshold: {reason}. Add stranger images (people who are not "
            "enrolled) or pass a model-default threshold as fallback."
        )
    t = float(np.clip(fallback, *clip))
    return Calibration(
        threshold=t,
        target_fpir=target_fpir,
        gallery_persons=n_persons,
        gallery_templates=n_templates,
        model_sha256=model_sha256,
        est_fpir=float("nan"),
        est_fnir=float("nan"),
        n_genuine=0,
        n_impostor=0,
        method="fallback",
        notes=(f"{reason}; used the fallback threshold {t:.4f} (not calibrated)",),
    )


def _suspects(nm: _NonMated, p: np.ndarray, above: float, limit: int = 3) -> list[str]:
    """Notes on non-mated searches scoring above ``above``: likely the same person enrolled twice
    under two ids, or a 'stranger' who is in fact enrolled."""
    out: list[str] = []
    pairs: set[tuple[int, int]] = set()
    for i in np.argsort(-nm.loo_top):
        if nm.loo_top[i] < above or len(pairs) >= limit:
            break
        a, b = int(p[i]), int(nm.loo_best[i])
        if (min(a, b), max(a, b)) in pairs:
            continue
        pairs.add((min(a, b), max(a, b)))
        out.append(f"persons {a} and {b} score {float(nm.loo_top[i]):.3f}: the same person enrolled twice?")
    for i in np.argsort(-nm.stranger_top)[:limit]:
        if nm.stranger_top[i] < above:
            break
        out.append(
            f"stranger #{int(i)} scores {float(nm.stranger_top[i]):.3f} against person "
            f"{int(nm.stranger_best[i])}: is this stranger enrolled?"
        )
    return out


def calibrate(
    vectors: np.ndarray,
    person_ids: np.ndarray,
    strangers: np.ndarray | None,
    *,
    target_fpir: float = 1e-3,
    model_sha256: str = "",
    fallback: float | None = None,
    clip: tuple[float, float] = DEFAULT_CLIP,
    min_exceedances: int = 25,
    tail_fraction: float = 0.005,
    min_tail: int = 100,
    confidence: float = 0.9,
    n_boot: int = 200,
    seed: int = 0,
    tail_model: str = "exponential",
    prior_threshold: float | None = None,
    site_tail: bool = False,
) -> Calibration:
    """Choose the person-level cosine threshold for ``target_fpir`` on this gallery.

    vectors (N, D) float32 enrolled templates, person_ids (N,) int, strangers (S, D) float32
    embeddings of people who are *not* enrolled (None/empty allowed when there are >= 2 persons:
    leave-one-person-out searches stand in). See the module docstring for the method;
    ``confidence``/``n_boot``/``seed`` set the probe bootstrap of the modelled threshold
    (``n_boot=0``: point estimate only). ``prior_threshold``: a floor from the model's
    per-comparison impostor tail measured on a large public set (e.g.
    ``ScorePrior.threshold_for_gallery(target_fpir, n_templates)``); the result is never below
    it, and it is the answer when this site has no non-mated data at all (method "prior").
    ``site_tail``: also fit a tail to this site's own per-person scores when a prior is given
    (without a prior the site's tail is always fitted). Off by default: on LFW (50 people, 141
    templates, 4,069 strangers) the site's exponential tail with its bootstrap bound chose 0.61,
    admitting no stranger but rejecting 14% of enrolled probes, while the prior's 0.49 held FPIR
    at 0.12% with every enrolled probe accepted (bench/open_set.py).

    Returns a :class:`Calibration`; ``est_fpir``/``est_fnir`` are measured on the calibration
    searches at the chosen threshold (``est_fnir`` is NaN without mated pairs, i.e. when no person
    has two templates). With no non-mated data at all (empty gallery, or one person and no
    strangers) it returns ``fallback`` (clipped, method "fallback", NaN rates) when given, else
    raises ValueError.
    """
    if not 0.0 < target_fpir < 1.0:
        raise ValueError(f"target_fpir must be between 0 and 1 (exclusive), got {target_fpir}.")
    if tail_model not in ("exponential", "gaussian"):
        raise ValueError(f"tail_model must be 'exponential' or 'gaussian', got {tail_model!r}.")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1 (exclusive), got {confidence}.")
    lo, hi = float(clip[0]), float(clip[1])
    if not -1.0 <= lo < hi <= 1.0:
        raise ValueError(f"clip must be an increasing pair within [-1, 1], got {clip}.")
    v, p = _gallery_inputs(vectors, person_ids)
    s = _strangers(strangers, v.shape[1])
    n_templates = int(v.shape[0])
    n_persons = int(np.unique(p).size)
    if n_templates == 0:
        return _fallback(fallback, "the gallery is empty", target_fpir, 0, 0, model_sha256, (lo, hi))
    if s.shape[0] == 0 and n_persons < 2 and prior_threshold is not None:
        t = float(np.clip(prior_threshold, lo, hi))
        mated0 = mated_scores(v, p)
        return Calibration(
            threshold=t,
            target_fpir=float(target_fpir),
            gallery_persons=n_persons,
            gallery_templates=n_templates,
            model_sha256=model_sha256,
            est_fpir=float("nan"),
            est_fnir=float(np.mean(mated0 < t)) if mated0.size else float("nan"),
            n_genuine=int(mated0.size),
            n_impostor=0,
            method="prior",
            notes=(f"one person enrolled and no stranger images: the model prior's threshold {t:.4f}",),
        )
    if s.shape[0] == 0 and n_persons < 2:
        return _fallback(
            fallback,
            "only one person is enrolled and no stranger images were given",
            target_fpir,
            n_persons,
            n_templates,
            model_sha256,
            (lo, hi),
        )

    # per-person non-mated scores: count them, keep the top of the tail, and the searches' maxima
    n_pp = s.shape[0] * n_persons + n_templates * (n_persons - 1)
    far_person = -math.expm1(math.log1p(-target_fpir) / n_persons)
    expected = n_pp * far_person
    k_tail = min(n_pp - 1, max(min_tail, math.ceil(tail_fraction * n_pp)))
    keep = max(k_tail + 1, 3 * (math.floor(expected + 1e-9) + 1))
    nm = _nonmated(v, p, s, keep)
    nonmated = np.concatenate([nm.stranger_top, nm.loo_top])
    mated = mated_scores(v, p)
    notes: list[str] = [
        f"{nonmated.size} non-mated searches ({s.shape[0]} strangers, "
        f"{nm.loo_top.size} leave-one-person-out), {mated.size} mated (leave-one-out); "
        f"{n_pp} per-person non-mated scores",
    ]
    if prior_threshold is not None:
        # Two enrolled persons who are each other's best match above the prior threshold are most
        # likely one face enrolled under two names (LFW has such pairs): no threshold separates them,
        # and letting them set the empirical quantile would lock everyone out. With the model prior
        # standing for the tail, they are reported and left out of the site's searches.
        hit_rows = np.flatnonzero(nm.loo_top >= prior_threshold)
        hit_pairs = {(int(p[i]), int(nm.loo_best[i])) for i in hit_rows}
        mutual = {(x, y) for x, y in hit_pairs if (y, x) in hit_pairs}
        dup = np.array([(int(p[i]), int(nm.loo_best[i])) in mutual for i in range(nm.loo_top.size)], dtype=bool)
        if dup.any():
            shown = sorted({(min(x, y), max(x, y)) for x, y in mutual})[:5]
            notes.append(
                f"persons {', '.join(f'{x} and {y}' for x, y in shown)} are each other's best match above the "
                "prior threshold: likely the same face enrolled twice; check them (left out of the searches)"
            )
            nonmated = np.concatenate([nm.stranger_top, nm.loo_top[~dup]])

    # 1. empirical threshold on the non-mated searches
    t_emp = _empirical_threshold(np.sort(nonmated)[::-1], nonmated.size, target_fpir)
    coarse = nonmated.size * target_fpir < 1.0
    notes.append(
        f"empirical threshold {t_emp:.4f}"
        + (f" (coarse: {nonmated.size} searches cannot resolve FPIR {target_fpir:g})" if coarse else "")
    )
    if coarse and prior_threshold is not None:
        # Too few searches to resolve the target: the "quantile" is just the single highest search,
        # one look-alike away from locking everyone out. The prior decides, unless the site's searches
        # contradict it (clearly more of them above the prior's threshold than the target allows).
        above = int(np.sum(nonmated >= prior_threshold))
        expected = nonmated.size * target_fpir
        allowed = max(2.0, expected + 3.0 * math.sqrt(expected))
        if above <= allowed:
            notes.append(
                f"site check: {above} of {nonmated.size} searches at or above the prior threshold "
                f"{prior_threshold:.4f} (consistent with FPIR {target_fpir:g}); the coarse empirical threshold is "
                "not binding"
            )
            t_emp = -1.0
        else:
            notes.append(
                f"site check: {above} of {nonmated.size} searches at or above the prior threshold "
                f"{prior_threshold:.4f}, more than FPIR {target_fpir:g} allows: the empirical threshold stands"
            )

    # 2. modelled threshold: per-person quantile at far_person, FPIR = 1 - (1 - far_person) ** P
    t_model, model_kind = -1.0, "none"
    vals = nm.tail_values
    if n_pp < 10:
        notes.append(f"only {n_pp} per-person scores: no tail model, empirical threshold only")
    elif prior_threshold is not None and not site_tail:
        notes.append(
            "the model prior (its impostor tail measured on millions of comparisons) stands in for a tail "
            f"fitted to this site's {n_pp} per-person scores; the site's searches are checked empirically"
        )
    else:
        use_emp = expected >= min_exceedances
        model_kind = "tail-empirical" if use_emp else f"tail-{tail_model}"

        def estimate(weights: np.ndarray | None, n_total: float) -> float:
            if use_emp:
                return _empirical_threshold(vals, n_total, far_person, weights)
            if tail_model == "gaussian":
                return _gauss_tail_threshold(vals, n_total, k_tail, far_person, weights)[0]
            return _exp_tail_threshold(vals, n_total, k_tail, far_person, weights)[0]

        point = estimate(None, float(n_pp))
        if use_emp:
            how = f"empirical per-person quantile ({expected:.0f} scores expected above it)"
        elif tail_model == "gaussian":
            _, icpt, slope = _gauss_tail_threshold(vals, float(n_pp), k_tail, far_person)
            how = f"Gaussian tail on the top {k_tail} per-person scores (mean {icpt:.4f}, sd {slope:.4f})"
        else:
            _, u, beta = _exp_tail_threshold(vals, float(n_pp), k_tail, far_person)
            how = f"exponential tail on the top {k_tail} per-person scores (u={u:.4f}, beta={beta:.4f})"
        t_model = point
        if n_boot > 0:
            # probes, not single scores, are the independent units: resample rows
            rng = np.random.default_rng(seed)
            rows = nm.row_entries.size
            boots = np.empty(n_boot)
            for b in range(n_boot):
                w = np.bincount(rng.integers(0, rows, rows), minlength=rows)
                boots[b] = estimate(w[nm.tail_rows].astype(np.float64), float(np.dot(w, nm.row_entries)))
            t_model = max(point, float(np.quantile(boots, confidence)))
            how += f"; {confidence:.0%} bootstrap bound over {rows} probes (point estimate {point:.4f})"
        notes.append(f"modelled threshold {t_model:.4f} at per-person far {far_person:.3g}: {how}")

    if t_model > t_emp:
        threshold, binding = t_model, model_kind
    else:
        threshold, binding = t_emp, "empirical"
        if t_model > -1.0:
            notes.extend(_suspects(nm, p, t_model))
    if prior_threshold is not None:
        notes.append(f"model prior threshold {prior_threshold:.4f} (a floor)")
        if prior_threshold > threshold:
            threshold, binding = float(prior_threshold), "prior"
    if threshold < lo or threshold > hi:
        notes.append(f"threshold {threshold:.4f} clipped to [{lo}, {hi}]")
        threshold = float(np.clip(threshold, lo, hi))
    est_fpir = float(np.mean(nonmated >= threshold)) if nonmated.size else float("nan")
    est_fnir = float(np.mean(mated < threshold)) if mated.size else float("nan")
    if not mated.size:
        notes.append("no person has two templates: FNIR cannot be estimated")
    return Calibration(
        threshold=float(threshold),
        target_fpir=float(target_fpir),
        gallery_persons=n_persons,
        gallery_templates=n_templates,
        model_sha256=model_sha256,
        est_fpir=est_fpir,
        est_fnir=est_fnir,
        n_genuine=int(mated.size),
        n_impostor=int(nonmated.size),
        method=f"person-max+{binding}",
        notes=tuple(notes),
    )
