"""The score sets a calibration measures on this site's own data (cosine scores of L2-normalised
float32 embeddings; persons are integer ids).

- mated scores: leave-one-out, every template against the other templates of its own person;
- non-mated searches: each stranger probe against the whole gallery, and each enrolled template
  against the gallery minus its own person (leave-one-person-out): the best *person* score;
- per-person non-mated scores: the same probes against every person separately (own person
  excluded), of which only the upper tail is kept, for the tail model.

A search costs O(templates); :func:`search_rows` draws a seeded uniform sample of at most a cap of
probes of each kind, so the whole set costs O(cap * templates) instead of O(templates^2).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

_BLOCK_ELEMENTS = 1 << 22  # probes * templates per score block (16 MiB float32)


# --------------------------------------------------------------------------------------------
# inputs


def unit_rows(x: np.ndarray | None, what: str, dim: int | None = None) -> np.ndarray:
    """(N, D) float32 rows scaled to unit length; ValueError on a wrong shape, NaN/inf or a zero row.

    None or an empty array gives (0, dim) (dim 0 when unknown)."""
    if x is None:
        return np.zeros((0, dim or 0), np.float32)
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


@dataclass(frozen=True)
class SiteGallery:
    """Validated gallery: v (N, D) float32 unit rows and p (N,) int64 person ids in input order;
    persons (P,) the sorted distinct ids; order (N,) the rows sorted by person (stable);
    starts (P,) where each person's run begins in that order; column (N,) each row's person index."""

    v: np.ndarray
    p: np.ndarray
    persons: np.ndarray
    order: np.ndarray
    starts: np.ndarray
    column: np.ndarray

    @property
    def n_templates(self) -> int:
        return int(self.v.shape[0])

    @property
    def n_persons(self) -> int:
        return int(self.persons.size)


def site_gallery(vectors: np.ndarray, person_ids: np.ndarray) -> SiteGallery:
    """Check and index a gallery: vectors (N, D), person_ids (N,) integers (ValueError otherwise)."""
    v = unit_rows(vectors, "gallery vectors")
    p = np.asarray(person_ids).reshape(-1)
    if p.size and not np.issubdtype(p.dtype, np.integer):
        raise ValueError(f"person ids must be integers, got dtype {p.dtype}.")
    p = p.astype(np.int64)
    if p.shape[0] != v.shape[0]:
        raise ValueError(f"{v.shape[0]} gallery vectors but {p.shape[0]} person ids.")
    order = np.argsort(p, kind="stable")
    ps = p[order]
    new = np.r_[True, ps[1:] != ps[:-1]] if ps.size else np.zeros(0, bool)
    persons = ps[new]
    return SiteGallery(v, p, persons, order, np.flatnonzero(new), np.searchsorted(persons, p))


# --------------------------------------------------------------------------------------------
# mated


def mated_scores(vectors: np.ndarray, person_ids: np.ndarray) -> np.ndarray:
    """Leave-one-out mated scores.

    vectors (N, D) float32 (normalised here), person_ids (N,) int. For every template of a person
    with at least two templates: the best cosine against the *other* templates of the same
    person. Returns (M,) float32 in the order of the input rows (persons with one template
    skipped). Persons with the same number of templates are scored in one batched product, so
    the cost is O(sum of k^2 D) with few Python steps even for 100k persons.
    """
    g = site_gallery(vectors, person_ids)
    out = np.full(g.n_templates, np.nan, dtype=np.float32)
    if g.n_templates == 0:
        return out[:0]
    sizes = np.diff(np.r_[g.starts, g.n_templates])
    for k in np.unique(sizes):
        if k < 2:
            continue
        first = g.starts[sizes == k]
        rows = g.order[first[:, None] + np.arange(k)[None, :]]  # (m, k) input rows of each person
        x = g.v[rows]  # (m, k, D)
        sims = np.einsum("mid,mjd->mij", x, x)
        sims[:, np.arange(k), np.arange(k)] = -np.inf
        out[rows] = sims.max(axis=2)
    result: np.ndarray = out[~np.isnan(out)]
    return result


# --------------------------------------------------------------------------------------------
# non-mated


def search_rows(n: int, cap: int, rng: np.random.Generator) -> np.ndarray | None:
    """None (all n rows) when n <= cap, else a sorted uniform sample of ``cap`` of range(n)."""
    if n <= cap:
        return None
    return np.sort(rng.choice(n, size=cap, replace=False))


def person_score_blocks(
    g: SiteGallery, strangers: np.ndarray, enrolled_rows: np.ndarray
) -> Iterator[tuple[bool, np.ndarray, np.ndarray]]:
    """Per-person non-mated scores in blocks: yields (is_stranger, rows, scores (B, P) float32).

    Stranger blocks: rows index ``strangers``, every person is a column. Enrolled blocks: rows are
    gallery rows (input order) from ``enrolled_rows`` and the row's own person's column is -inf.
    Column j holds the best cosine of person j's templates.
    """
    n = g.n_templates
    if n == 0:
        return
    vs = g.v[g.order]
    block = max(1, _BLOCK_ELEMENTS // n)
    for a in range(0, strangers.shape[0], block):
        rows = np.arange(a, min(a + block, strangers.shape[0]))
        yield True, rows, np.maximum.reduceat(strangers[rows] @ vs.T, g.starts, axis=1)
    full = enrolled_rows.size == n and np.array_equal(enrolled_rows, g.order)
    for a in range(0, enrolled_rows.size, block):
        rows = enrolled_rows[a : a + block]
        probes = vs[a : a + block] if full else g.v[rows]  # slices when all search: bit-identical to before
        out = np.maximum.reduceat(probes @ vs.T, g.starts, axis=1)
        out[np.arange(out.shape[0]), g.column[rows]] = -np.inf
        yield False, rows, out


@dataclass(frozen=True)
class NonMated:
    """Non-mated searches and the upper tail of the per-person non-mated scores.

    stranger_rows (S,) int64: which strangers searched; stranger_top/stranger_best (S,): best
    score float32 / its person id int64. loo_rows (L,) int64: gallery rows (input order) that
    searched the other persons; loo_top/loo_best (L,) the same ((0,) with fewer than two persons).
    Probes are numbered strangers first (0..S-1), then enrolled searches (S..S+L-1):
    tail_values (K,) float32 the K largest per-person scores, sorted descending, tail_probes (K,)
    int64 their probe numbers; probe_entries (S + L,) per-person scores per probe.
    """

    stranger_rows: np.ndarray
    stranger_top: np.ndarray
    stranger_best: np.ndarray
    loo_rows: np.ndarray
    loo_top: np.ndarray
    loo_best: np.ndarray
    tail_values: np.ndarray
    tail_probes: np.ndarray
    probe_entries: np.ndarray

    @property
    def per_person_scores(self) -> int:
        return int(self.probe_entries.sum())


def nonmated_searches(
    g: SiteGallery,
    strangers: np.ndarray,
    keep: int,
    stranger_rows: np.ndarray | None = None,
    loo_rows: np.ndarray | None = None,
) -> NonMated:
    """Run the non-mated searches of the given strangers (all when None) and gallery rows
    (all when None; none with fewer than two persons), keeping the ``keep`` largest per-person
    scores. Enrolled rows are searched in person order so that ties resolve as in earlier runs."""
    multi = g.n_persons >= 2
    s_rows = np.arange(strangers.shape[0]) if stranger_rows is None else np.asarray(stranger_rows, np.int64)
    if keep <= 0:
        return _top_only(g, strangers, s_rows, loo_rows if multi else np.zeros(0, np.int64))
    if not multi:
        e_rows = np.zeros(0, np.int64)
    elif loo_rows is None:
        e_rows = g.order
    else:
        e_rows = g.order[np.isin(g.order, loo_rows)]
    sub = strangers[s_rows]
    n_s, n_e = s_rows.size, e_rows.size
    s_top, s_best = np.zeros(n_s, np.float32), np.zeros(n_s, np.int64)
    where = np.full(g.n_templates, -1, np.int64)
    where[e_rows] = np.arange(n_e)
    loo_top, loo_best = np.zeros(n_e, np.float32), np.zeros(n_e, np.int64)
    tail_v, tail_r = np.zeros(0, np.float32), np.zeros(0, np.int64)
    for is_stranger, rows, block in person_score_blocks(g, sub, e_rows):
        arg = block.argmax(axis=1)
        top = block[np.arange(block.shape[0]), arg]
        if is_stranger:
            s_top[rows], s_best[rows] = top, g.persons[arg]
            probes = rows
        else:
            slots = where[rows]
            loo_top[slots], loo_best[slots] = top, g.persons[arg]
            probes = slots + n_s
        if keep > 0:
            fin = np.isfinite(block)
            vals = np.concatenate([tail_v, block[fin].astype(np.float32)])
            prb = np.concatenate([tail_r, np.broadcast_to(probes[:, None], block.shape)[fin]])
            if vals.size > keep:
                sel = np.argpartition(vals, vals.size - keep)[vals.size - keep :]
                vals, prb = vals[sel], prb[sel]
            tail_v, tail_r = vals, prb
    # enrolled searches back in input-row order (the tail keeps its probe numbers: remap them)
    back = np.argsort(e_rows, kind="stable")
    remap = np.empty(n_e, np.int64)
    remap[back] = np.arange(n_e)
    if n_e:
        tail_r = np.where(tail_r >= n_s, remap[np.maximum(tail_r - n_s, 0)] + n_s, tail_r)
    desc = np.argsort(-tail_v, kind="stable")
    entries = np.concatenate([np.full(n_s, g.n_persons, np.int64), np.full(n_e, g.n_persons - 1, np.int64)])
    return NonMated(
        s_rows, s_top, s_best, e_rows[back], loo_top[back], loo_best[back], tail_v[desc], tail_r[desc], entries
    )


def _top_only(g: SiteGallery, strangers: np.ndarray, s_rows: np.ndarray, loo_rows: np.ndarray | None) -> NonMated:
    """The searches without the per-person tail (keep = 0): the best template other than the
    probe's own person's, i.e. the same top score and person as the per-person maximum (ties go to
    the first person either way), without the per-person reduction (about 2.5x faster). Blocks
    are formed as in :func:`person_score_blocks`, so the scores are bit-identical."""
    n = g.n_templates
    vs, ps = g.v[g.order], g.p[g.order]
    sizes = np.diff(np.r_[g.starts, n])
    block = max(1, _BLOCK_ELEMENTS // max(n, 1))
    full = loo_rows is None
    e_rows = g.order if full else g.order[np.isin(g.order, np.asarray(loo_rows, np.int64))]

    def search(probes: np.ndarray, own: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        sims = probes @ vs.T
        if own is not None:  # mask each probe's own person's templates (a contiguous run in vs)
            k = sizes[own]
            rows = np.repeat(np.arange(own.size), k)
            cols = np.repeat(g.starts[own], k) + (np.arange(int(k.sum())) - np.repeat(np.cumsum(k) - k, k))
            sims[rows, cols] = -np.inf
        arg = sims.argmax(axis=1)
        return sims[np.arange(sims.shape[0]), arg], ps[arg]

    sub = strangers[s_rows]
    s_top, s_best = np.zeros(s_rows.size, np.float32), np.zeros(s_rows.size, np.int64)
    for a in range(0, s_rows.size, block):
        rows = np.arange(a, min(a + block, s_rows.size))
        s_top[rows], s_best[rows] = search(sub[rows], None)
    loo_top, loo_best = np.zeros(e_rows.size, np.float32), np.zeros(e_rows.size, np.int64)
    for a in range(0, e_rows.size, block):
        rows = e_rows[a : a + block]
        probes = vs[a : a + block] if full else g.v[rows]
        loo_top[a : a + block], loo_best[a : a + block] = search(probes, g.column[rows])
    back = np.argsort(e_rows, kind="stable")  # input-row order
    entries = np.concatenate([np.full(s_rows.size, g.n_persons, np.int64), np.full(e_rows.size, g.n_persons - 1)])
    empty = np.zeros(0, np.int64)
    return NonMated(
        s_rows, s_top, s_best, e_rows[back], loo_top[back], loo_best[back], np.zeros(0, np.float32), empty, entries
    )


def nonmated_top_scores(vectors: np.ndarray, person_ids: np.ndarray, strangers: np.ndarray | None) -> np.ndarray:
    """Best person score of every non-mated search (all of them, no sampling).

    vectors (N, D), person_ids (N,), strangers (S, D) float32 (normalised here; None or empty for
    none). Returns (S + N',) float32: first each stranger's best score over the whole gallery, then
    for each enrolled template, in input-row order, its best score against every *other* person
    (leave-one-person-out); N' = N when there are at least two persons, else 0. Empty when the
    gallery is empty.
    """
    g = site_gallery(vectors, person_ids)
    nm = nonmated_searches(g, unit_rows(strangers, "stranger vectors", g.v.shape[1]), keep=0)
    return np.concatenate([nm.stranger_top, nm.loo_top])
