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
    one new cluster). O(N (K + N)) memory and time per merge, K the number of known clusters.
    """
    n = int(new.shape[0])
    if n == 0:
        return []
    uniq, where = np.unique(np.asarray(known_labels, np.int64), return_inverse=True)
    ids = [int(c) for c in uniq]
    k = len(ids)
    dim = int(new.shape[1])
    sums = np.zeros((k + n, dim), np.float64)
    sizes = np.zeros(k + n, np.float64)
    if k:
        np.add.at(sums, where, np.asarray(known, np.float64))
        sizes[:k] = np.bincount(where, minlength=k)
    sums[k:] = new.astype(np.float64)
    sizes[k:] = 1.0
    g_all = k + n
    owner = list(range(k, g_all))  # the group each new face is in now
    alive = np.ones(g_all, bool)
    new_alive = alive[k:]  # a view: rows of the new groups
    # only pairs with a new group can merge: rows are the new groups, columns all groups
    sim = (sums[k:] @ sums.T) / np.outer(sizes[k:], sizes)
    sim[np.arange(n), k + np.arange(n)] = -np.inf
    while True:
        flat = int(np.argmax(sim))
        r, j = divmod(flat, g_all)
        if not sim[r, j] >= threshold:
            break
        g = k + r
        if j < k:  # a new group joins an existing cluster: its id is kept
            into, gone = j, g
        else:  # two new groups merge
            into, gone = g, j
        sums[into] += sums[gone]
        sizes[into] += sizes[gone]
        alive[gone] = False
        owner = [into if x == gone else x for x in owner]
        if gone >= k:
            sim[gone - k, :] = -np.inf
        sim[:, gone] = -np.inf
        col = (sums[k:] @ sums[into]) / (sizes[k:] * sizes[into])
        col[~new_alive] = -np.inf
        if into >= k:
            col[into - k] = -np.inf
            row = (sums @ sums[into]) / (sizes * sizes[into])
            row[~alive] = -np.inf
            row[into] = -np.inf
            sim[into - k, :] = row
        sim[:, into] = col
    new_names: dict[int, int] = {}
    out: list[int] = []
    for g in owner:
        if g < k:
            out.append(ids[g])
        else:
            out.append(new_names.setdefault(g, -(len(new_names) + 1)))
    return out
