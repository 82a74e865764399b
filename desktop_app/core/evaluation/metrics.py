"""Verification and identification metrics. Pure numpy, no I/O.

Conventions: scores are similarities (higher means "more likely the same person"), e.g. cosine
similarities in [-1, 1]; a pair/search is *accepted* at threshold ``t`` when ``score >= t``.
Vectors are (N, D) float arrays; they are L2-normalised here before cosine similarities are taken,
so raw embeddings work too. Labels are any 1-D array of hashable identity ids (ints or strings).
Ranking ties are broken by the lower reference index (a stable order).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from desktop_app.core.vectors import as_vectors

_CHUNK_ELEMENTS = 1 << 22  # similarity-matrix elements per block (~16 MB of float32)


def _scores(x: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64).reshape(-1)
    if arr.size == 0:
        raise ValueError(f"{name} is empty.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite scores.")
    return arr


def _labels_bool(labels: np.ndarray, n: int) -> np.ndarray:
    lab = np.asarray(labels).reshape(-1)
    if lab.shape[0] != n:
        raise ValueError(f"Got {n} scores but {lab.shape[0]} labels.")
    return lab.astype(bool)


def roc(genuine: np.ndarray, impostor: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Receiver operating characteristic of a verifier.

    genuine: (G,) scores of same-person pairs; impostor: (I,) scores of different-person pairs.
    Returns ``(far, tar, thresholds)``, each (T,) float64, ordered by decreasing threshold (so far
    and tar are non-decreasing): ``far[i]`` / ``tar[i]`` are the fractions of impostor / genuine
    scores ``>= thresholds[i]``. ``thresholds[0]`` lies just above every score (far = tar = 0); the
    others are the distinct scores, the last one the lowest score (far = tar = 1).
    """
    g = np.sort(_scores(genuine, "genuine"))
    imp = np.sort(_scores(impostor, "impostor"))
    values = np.unique(np.concatenate([g, imp]))[::-1]
    top = np.nextafter(values[0], np.inf)
    thresholds = np.concatenate([[top], values])
    tar = (g.size - np.searchsorted(g, thresholds, side="left")) / g.size
    far = (imp.size - np.searchsorted(imp, thresholds, side="left")) / imp.size
    return far.astype(np.float64), tar.astype(np.float64), thresholds.astype(np.float64)


def tar_at_far(genuine: np.ndarray, impostor: np.ndarray, far: float) -> tuple[float, float]:
    """True accept rate at a false accept rate of at most ``far``.

    Returns ``(tar, threshold)``: the lowest threshold among the :func:`roc` thresholds whose
    impostor acceptance rate is ``<= far``, and the fraction of genuine scores ``>= threshold``
    there (the best TAR reachable under that FAR). With fewer than ``1/far`` impostors this is
    the rate at zero false accepts.
    """
    if not 0.0 <= far <= 1.0:
        raise ValueError(f"far must be within [0, 1], got {far}.")
    far_curve, tar_curve, thresholds = roc(genuine, impostor)
    ok = np.nonzero(far_curve <= far)[0]
    i = int(ok[-1])  # far is non-decreasing; thresholds[0] always qualifies (far 0)
    return float(tar_curve[i]), float(thresholds[i])


def _candidate_accuracies(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Thresholds between consecutive distinct scores (plus one below all, one above all) and the
    number of correct decisions at each. Returns ``(thresholds (m+1,), correct (m+1,))``."""
    values, inverse = np.unique(scores, return_inverse=True)
    m = values.size
    same = np.bincount(inverse, weights=labels.astype(np.float64), minlength=m)
    diff = np.bincount(inverse, weights=(~labels).astype(np.float64), minlength=m)
    # Candidate k accepts the values with index >= k.
    accepted_same = np.concatenate([np.cumsum(same[::-1])[::-1], [0.0]])
    rejected_diff = np.concatenate([[0.0], np.cumsum(diff)])
    correct = accepted_same + rejected_diff
    span = float(values[-1] - values[0])
    pad = max(span, 1.0)
    thresholds = np.concatenate([[values[0] - pad], (values[:-1] + values[1:]) / 2.0, [values[-1] + pad]])
    return thresholds, correct


def best_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The threshold maximising verification accuracy ``mean((scores >= t) == labels)``.

    scores: (N,) similarities; labels: (N,) bool, True for same-person pairs. The threshold is
    taken halfway between two consecutive distinct scores (or below/above all of them); among
    equally accurate thresholds the lowest is returned.
    """
    s = _scores(scores, "scores")
    lab = _labels_bool(labels, s.size)
    thresholds, correct = _candidate_accuracies(s, lab)
    return float(thresholds[int(np.argmax(correct))])


def kfold_accuracy(
    scores: np.ndarray, labels: np.ndarray, folds: np.ndarray
) -> tuple[float, float, np.ndarray]:
    """Verification accuracy by the LFW protocol.

    scores: (N,) similarities; labels: (N,) bool same-person; folds: (N,) int fold id of each pair.
    For each fold, the threshold is fitted (:func:`best_threshold`) on the pairs of all other folds
    and the accuracy is measured on that fold. Returns ``(mean, std, per_fold)``: the mean and the
    population standard deviation (ddof=0, as in the usual LFW tables) of the per-fold accuracies,
    and those accuracies as (F,) float64 in increasing fold-id order.
    """
    s = _scores(scores, "scores")
    lab = _labels_bool(labels, s.size)
    fold = np.asarray(folds).reshape(-1)
    if fold.shape[0] != s.size:
        raise ValueError(f"Got {s.size} scores but {fold.shape[0]} fold ids.")
    ids = np.unique(fold)
    if ids.size < 2:
        raise ValueError("k-fold accuracy needs pairs from at least 2 folds.")
    accs = np.empty(ids.size, dtype=np.float64)
    for j, f in enumerate(ids):
        test = fold == f
        t = best_threshold(s[~test], lab[~test])
        accs[j] = float(np.mean((s[test] >= t) == lab[test]))
    return float(accs.mean()), float(accs.std()), accs


# ----------------------------------------------------------------------------- identification


def _unit_rows(x: np.ndarray, name: str) -> np.ndarray:
    arr = as_vectors(x, name)
    if arr.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty (N, D) array, got shape {arr.shape}.")
    return arr


def _check_pair(
    q: np.ndarray, q_labels: np.ndarray, r: np.ndarray, r_labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    ql = np.asarray(q_labels).reshape(-1)
    rl = np.asarray(r_labels).reshape(-1)
    if ql.shape[0] != q.shape[0]:
        raise ValueError(f"{q.shape[0]} query vectors but {ql.shape[0]} query labels.")
    if rl.shape[0] != r.shape[0]:
        raise ValueError(f"{r.shape[0]} reference vectors but {rl.shape[0]} reference labels.")
    if q.shape[1] != r.shape[1]:
        raise ValueError(f"Query vectors have {q.shape[1]} dimensions but references {r.shape[1]}.")
    return ql, rl


def _top_k_rows(neg: np.ndarray, k: int) -> np.ndarray:
    """Column indices (rows, k) of the k smallest values of each row of ``neg``, ascending, ties
    broken by the lower index."""
    if k >= neg.shape[1]:
        return np.argsort(neg, axis=1, kind="stable")[:, :k]
    part = np.argpartition(neg, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(neg, part, axis=1)
    block = np.take_along_axis(part, np.lexsort((part, vals), axis=1), axis=1)
    # Rows whose k-th value is tied with values left outside the partition: redo those exactly.
    kth = vals.max(axis=1, keepdims=True)
    for row in np.nonzero((neg <= kth).sum(axis=1) > k)[0]:
        block[row] = np.argsort(neg[row], kind="stable")[:k]
    return block


def _ranked_neighbours(q: np.ndarray, r: np.ndarray, k: int, self_index: np.ndarray | None) -> np.ndarray:
    """Indices (Nq, k) of the k most similar (cosine) references of each query, most similar first,
    ties broken by the lower index. With ``self_index`` (Nq,), reference ``self_index[i]`` is never
    a neighbour of query i. Works in blocks of rows to bound memory."""
    nq, nr = q.shape[0], r.shape[0]
    out = np.empty((nq, k), dtype=np.int64)
    rows = max(1, _CHUNK_ELEMENTS // max(nr, 1))
    for start in range(0, nq, rows):
        stop = min(nq, start + rows)
        neg = -(q[start:stop] @ r.T).astype(np.float64)
        if self_index is not None:
            neg[np.arange(stop - start), self_index[start:stop]] = np.inf
        out[start:stop] = _top_k_rows(neg, k)
    return out


def _self_check(exclude_self: bool, q: np.ndarray, r: np.ndarray) -> None:
    if exclude_self and q.shape[0] != r.shape[0]:
        raise ValueError("exclude_self needs the query set to be the reference set (same length).")


def rank1(
    probe_vectors: np.ndarray,
    probe_labels: np.ndarray,
    gallery_vectors: np.ndarray,
    gallery_labels: np.ndarray,
) -> float:
    """Closed-set rank-1 identification rate.

    probe_vectors: (P, D); gallery_vectors: (G, D) (several vectors per identity allowed).
    The fraction of probes whose most similar gallery vector (cosine) carries the probe's label;
    probes whose identity is not in the gallery count as misses.
    """
    q = _unit_rows(probe_vectors, "probe_vectors")
    r = _unit_rows(gallery_vectors, "gallery_vectors")
    ql, rl = _check_pair(q, probe_labels, r, gallery_labels)
    nn = _ranked_neighbours(q, r, 1, None)[:, 0]
    return float(np.mean(rl[nn] == ql))


def recall_at_k(
    query_vectors: np.ndarray,
    query_labels: np.ndarray,
    ref_vectors: np.ndarray,
    ref_labels: np.ndarray,
    ks: Sequence[int],
    exclude_self: bool,
) -> dict[int, float]:
    """Recall@K as used in deep metric learning: the fraction of queries with at least one
    same-label reference among their K nearest (cosine) references.

    query_vectors: (Q, D); ref_vectors: (R, D); ks: the K values (each 1..R, or 1..R-1 with
    exclude_self); exclude_self: the query set is the reference set and query i must not find
    itself (reference i). Returns {K: recall} for each K in ``ks``.
    """
    q = _unit_rows(query_vectors, "query_vectors")
    r = _unit_rows(ref_vectors, "ref_vectors")
    ql, rl = _check_pair(q, query_labels, r, ref_labels)
    _self_check(exclude_self, q, r)
    kmax_allowed = r.shape[0] - (1 if exclude_self else 0)
    ks_list = [int(k) for k in ks]
    if not ks_list or min(ks_list) < 1 or max(ks_list) > kmax_allowed:
        raise ValueError(f"Each K must be within 1..{kmax_allowed}, got {ks_list}.")
    self_index = np.arange(q.shape[0]) if exclude_self else None
    nn = _ranked_neighbours(q, r, max(ks_list), self_index)
    hits = rl[nn] == ql[:, None]
    first_hit = np.where(hits.any(axis=1), hits.argmax(axis=1), hits.shape[1])
    return {k: float(np.mean(first_hit < k)) for k in ks_list}


def map_at_r(
    query_vectors: np.ndarray,
    query_labels: np.ndarray,
    ref_vectors: np.ndarray,
    ref_labels: np.ndarray,
    exclude_self: bool,
) -> float:
    """MAP@R (Musgrave, Belongie & Lim, "A Metric Learning Reality Check", ECCV 2020).

    For a query with R same-label references (itself excluded when exclude_self), rank the
    references by cosine similarity and compute ``(1/R) * sum_{i=1..R} P(i) * rel(i)``, where
    rel(i) is 1 when the i-th neighbour has the query's label and P(i) is the precision among the
    first i neighbours. Returns the mean over queries; queries with R = 0 are left out (ValueError
    when every query has R = 0).
    """
    q = _unit_rows(query_vectors, "query_vectors")
    r = _unit_rows(ref_vectors, "ref_vectors")
    ql, rl = _check_pair(q, query_labels, r, ref_labels)
    _self_check(exclude_self, q, r)
    uniq, rl_codes = np.unique(rl, return_inverse=True)
    counts = np.bincount(rl_codes.reshape(-1), minlength=uniq.size)
    pos = np.searchsorted(uniq, ql)
    pos_clipped = np.minimum(pos, uniq.size - 1)
    present = (pos < uniq.size) & (uniq[pos_clipped] == ql)
    big_r = np.where(present, counts[pos_clipped], 0) - (1 if exclude_self else 0)
    big_r = np.maximum(big_r, 0)
    keep = np.nonzero(big_r > 0)[0]
    if keep.size == 0:
        raise ValueError("No query has a same-label reference; MAP@R is undefined.")
    q, ql, big_r = q[keep], ql[keep], big_r[keep]
    nn = _ranked_neighbours(q, r, int(big_r.max()), keep if exclude_self else None)
    rel = rl[nn] == ql[:, None]
    ranks = np.arange(1, nn.shape[1] + 1)
    precision = np.cumsum(rel, axis=1) / ranks
    within_r = ranks[None, :] <= big_r[:, None]
    ap = np.sum(precision * rel * within_r, axis=1) / big_r
    return float(np.mean(ap))


def open_set_identification(
    mated_top: np.ndarray,
    mated_correct: np.ndarray,
    nonmated_top: np.ndarray,
    threshold: float,
) -> tuple[float, float]:
    """Open-set identification rates at one threshold (ISO/IEC 19795-1, NIST FRVT terms).

    mated_top: (M,) top-1 score of each mated search (the probe's identity is enrolled);
    mated_correct: (M,) bool, whether that top-1 candidate is the right identity;
    nonmated_top: (N,) top-1 score of each non-mated search (identity not enrolled).
    Returns ``(tpir, fpir)``: TPIR = fraction of mated searches whose top-1 is correct and scores
    ``>= threshold`` (FNIR = 1 - TPIR); FPIR = fraction of non-mated searches whose top-1 scores
    ``>= threshold``.
    """
    m = _scores(mated_top, "mated_top")
    correct = _labels_bool(mated_correct, m.size)
    n = _scores(nonmated_top, "nonmated_top")
    tpir = float(np.mean(correct & (m >= threshold)))
    fpir = float(np.mean(n >= threshold))
    return tpir, fpir
