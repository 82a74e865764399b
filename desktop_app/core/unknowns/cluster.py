"""Incremental average-linkage clustering of face embeddings (the unknown-faces library).

Average linkage between two groups A and B is the mean cosine over all pairs,
``(sum A) . (sum B) / (|A| |B|)`` for unit vectors, so each group is carried as the sum of its
vectors and its size. New faces start as groups of one; existing clusters are groups that keep
their ids. The two most similar groups are merged while their average linkage is at least the
threshold, except that two existing clusters are never merged (their ids stay stable: what a
user saw as cluster 7 stays cluster 7). A new face thus joins the existing cluster whose faces
it resembles on average, or forms new clusters with other new faces.
"""

from __future__ import annotations

import numpy as np


def assign_clusters(known: np.ndarray, known_labels: np.ndarray, new: np.ndarray, threshold: float) -> list[int]:
    """Cluster labels for the rows of ``new``.

    known: (M, D) float32 unit embeddings already clustered, with ``known_labels`` (M,) int64
    cluster ids (>= 1); new: (N, D) float32 unit embeddings; threshold: the cosine that the
    average linkage of two groups must reach for them to merge. Returns N labels: an existing
    cluster id, or a negative number naming a new cluster (-1, -2, ...: the faces sharing it form
    one new cluster). O((K + N)^2) memory, K the number of known clusters.
    """
    n = int(new.shape[0])
    if n == 0:
        return []
    ids = sorted({int(x) for x in known_labels}) if len(known_labels) else []
    dim = int(new.shape[1])
    sums = np.zeros((len(ids) + n, dim), np.float64)
    sizes = np.zeros(len(ids) + n, np.float64)
    for j, cid in enumerate(ids):
        rows = known[known_labels == cid]
        sums[j] = rows.sum(axis=0)
        sizes[j] = len(rows)
    k = len(ids)
    sums[k:] = new.astype(np.float64)
    sizes[k:] = 1.0
    owner = list(range(k, k + n))  # the group each new face is in now
    alive = np.ones(k + n, bool)
    fixed = np.zeros(k + n, bool)
    fixed[:k] = True
    sim = (sums @ sums.T) / np.outer(sizes, sizes)
    np.fill_diagonal(sim, -np.inf)
    sim[np.ix_(fixed, fixed)] = -np.inf
    while True:
        flat = int(np.argmax(sim))
        a, b = divmod(flat, sim.shape[1])
        if not sim[a, b] >= threshold:
            break
        if fixed[b] and not fixed[a]:
            a, b = b, a
        # merge b into a (a keeps its id when it is an existing cluster)
        sums[a] += sums[b]
        sizes[a] += sizes[b]
        fixed[a] = fixed[a] or fixed[b]
        alive[b] = False
        owner = [a if g == b else g for g in owner]
        row = (sums @ sums[a]) / (sizes * sizes[a])
        row[~alive] = -np.inf
        row[a] = -np.inf
        if fixed[a]:
            row[fixed] = -np.inf
        sim[a, :] = row
        sim[:, a] = row
        sim[b, :] = -np.inf
        sim[:, b] = -np.inf
    new_names: dict[int, int] = {}
    out: list[int] = []
    for g in owner:
        if g < k:
            out.append(ids[g])
        else:
            out.append(new_names.setdefault(g, -(len(new_names) + 1)))
    return out
