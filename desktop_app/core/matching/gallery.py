"""Face gallery: enrolled templates and nearest-neighbour search at template and person level.

Two implementations share one interface (:class:`Gallery`):

- :class:`ExactGallery` -- brute force, a float32 matrix product; the reference, used for small
  galleries;
- :class:`HnswGallery` -- approximate search with hnswlib (HNSW graph, inner product space on
  L2-normalised vectors, so ``score = 1 - distance`` is the cosine similarity), for large ones.
  It can be saved to disk and loaded back (:meth:`HnswGallery.save` / :meth:`HnswGallery.load`).

Vocabulary and conventions:

- a *template* is one enrolled embedding (one sample), identified by a non-negative integer
  ``template_id`` (the database row id); a *person* owns one or more templates;
- vectors are float32 ``(N, D)``; they are L2-normalised on the way in (idempotent for vectors that
  already are), so scores are cosine similarities in [-1, 1];
- person-level scores use *max aggregation*: a person's score is the best score of any of its
  templates.

Person-level search with HNSW: the graph returns templates, so one person with many close templates
could fill all k slots and push the second-best person out. :meth:`HnswGallery.search` therefore
asks for ``k1 = min(live, max(min_candidates, 2 * k_persons))`` template neighbours (default
``min_candidates`` 50) and, for the queries where fewer than ``min(k_persons, person_count)``
distinct persons came back, asks again with ``k2 = min(live, k_persons * max_templates_per_person)``.
Any ``k2`` live templates span at least ``k_persons`` persons, and for exact neighbours the j-th
best person's best template ranks at most ``(j - 1) * max_templates_per_person + 1``, so the
second pass is complete (up to HNSW's own recall).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol, runtime_checkable

import hnswlib
import numpy as np

from desktop_app.core.errors import GalleryError, StorageError
from desktop_app.core.file_modes import make_private
from desktop_app.core.matching import gallery_pack
from desktop_app.core.types import PersonMatch
from desktop_app.core.vectors import as_vectors

SIDECAR_SUFFIX = ".meta.npz"
_SIDECAR_FORMAT = 1
_SPACE = "ip"
_QUERY_BLOCK_ELEMENTS = 1 << 23  # rows * templates per score block in exact search (32 MiB float32)


class FileSealer(Protocol):
    """Encrypts a whole saved gallery before it touches the disk, and decrypts it (the database's
    data key: ``Store.gallery_sealer``). ``name`` is the file's name, bound into the encryption:
    a file renamed or moved to another model's name does not open."""

    def write_sealed(self, out: BinaryIO, name: str, plain: bytes | memoryview) -> None:
        """Write ``plain`` encrypted to ``out``."""

    def read_sealed(self, data: bytes, name: str) -> bytes | bytearray:
        """The plain content of the encrypted ``data``; StorageError when it fails to authenticate."""

    def is_sealed(self, head: bytes) -> bool:
        """True when a file starting with ``head`` is encrypted."""


@runtime_checkable
class Gallery(Protocol):
    """What the recogniser needs from a gallery. ``dim`` is the embedding size D."""

    dim: int

    def add(self, template_ids: np.ndarray, person_ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add templates: ids (N,) int, owners (N,) int, vectors (N, D) float32."""
        ...

    def remove_templates(self, template_ids: Iterable[int]) -> int:
        """Remove these templates (unknown ids are ignored); returns how many were removed."""
        ...

    def remove_person(self, person_id: int) -> int:
        """Remove every template of a person; returns how many were removed."""
        ...

    def search_templates(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """k best templates per query: ids (Q, k) int64 (-1 pad), scores (Q, k) float32 (-inf pad)."""
        ...

    def search(self, queries: np.ndarray, k_persons: int = 2) -> list[list[tuple[int, float]]]:
        """Per query, up to k_persons (person_id, score) by descending best-template score."""
        ...

    def match(self, queries: np.ndarray) -> list[PersonMatch | None]:
        """Per query, the best person and the second-best person's score; None if empty."""
        ...

    def __len__(self) -> int:
        """Number of live templates."""
        ...

    @property
    def person_count(self) -> int:
        """Number of persons with at least one live template."""
        ...

    def person_ids(self) -> np.ndarray:
        """Sorted ids (P,) int64 of the persons with at least one live template."""
        ...


# --------------------------------------------------------------------------------------------
# input checking shared by both implementations


def _as_vectors(vectors: np.ndarray, dim: int, what: str) -> np.ndarray:
    """Validate and L2-normalise: (N, D) or (D,) -> C-contiguous float32 (N, D); GalleryError."""
    return as_vectors(vectors, what, dim=dim, error=GalleryError,
                      hint="Recompute them with the gallery's face model.")


def _as_ids(ids: np.ndarray | Iterable[int], what: str) -> np.ndarray:
    """Validate integer ids -> int64 (N,)."""
    arr = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.ndim != 1:
        raise GalleryError(f"{what} must be a flat list of integers, got shape {tuple(arr.shape)}.")
    if not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise GalleryError(f"{what} must be integers, got dtype {arr.dtype}.")
    return arr.astype(np.int64, copy=False)


def _check_add_args(
    template_ids: np.ndarray, person_ids: np.ndarray, vectors: np.ndarray, dim: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    tids = _as_ids(template_ids, "template ids")
    pids = _as_ids(person_ids, "person ids")
    vecs = _as_vectors(vectors, dim, "template vectors")
    if not (tids.shape[0] == pids.shape[0] == vecs.shape[0]):
        raise GalleryError(
            f"template ids ({tids.shape[0]}), person ids ({pids.shape[0]}) and vectors "
            f"({vecs.shape[0]}) must have the same length."
        )
    if tids.size and tids.min() < 0:
        raise GalleryError("template ids must be >= 0.")
    if np.unique(tids).size != tids.size:
        raise GalleryError("template ids must be unique within one add() call.")
    return tids, pids, vecs


def _check_k(k: int, what: str) -> int:
    k = int(k)
    if k < 1:
        raise GalleryError(f"{what} must be >= 1, got {k}.")
    return k


def _matches_from_search(results: list[list[tuple[int, float]]]) -> list[PersonMatch | None]:
    out: list[PersonMatch | None] = []
    for row in results:
        if not row:
            out.append(None)
        else:
            second = row[1][1] if len(row) > 1 else -1.0
            other = row[1][0] if len(row) > 1 else None
            out.append(PersonMatch(person_id=row[0][0], score=row[0][1], second_score=second,
                                   second_person_id=other))
    return out


def _topk_desc(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices (Q, k) of the k largest entries per row of (Q, N) scores, best first."""
    n = scores.shape[1]
    if k >= n:
        part = np.broadcast_to(np.arange(n), scores.shape).copy()
    else:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    result: np.ndarray = np.take_along_axis(part, order, axis=1)
    return result


def _exact_template_search(
    vecs: np.ndarray, tids: np.ndarray, queries: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force template search. vecs (N, D) float32, tids (N,) int64, queries (Q, D) float32."""
    q = queries.shape[0]
    ids = np.full((q, k), -1, dtype=np.int64)
    scores = np.full((q, k), -np.inf, dtype=np.float32)
    n = vecs.shape[0]
    if n == 0 or q == 0:
        return ids, scores
    kk = min(k, n)
    block = max(1, _QUERY_BLOCK_ELEMENTS // n)
    for s in range(0, q, block):
        sims = queries[s : s + block] @ vecs.T
        top = _topk_desc(sims, kk)
        ids[s : s + block, :kk] = tids[top]
        scores[s : s + block, :kk] = np.take_along_axis(sims, top, axis=1)
    return ids, scores


# --------------------------------------------------------------------------------------------
# exact gallery


@dataclass(frozen=True)
class _Grouping:
    """Templates sorted by person: vectors (N, D), start offset of each person (P,), their ids (P,)."""

    vectors: np.ndarray
    starts: np.ndarray
    persons: np.ndarray


class ExactGallery:
    """Reference gallery: all live templates in one float32 (N, D) matrix, brute-force search.

    Search cost is O(Q * N * D); fine up to tens of thousands of templates.
    """

    def __init__(self, dim: int, *, initial_capacity: int = 256) -> None:
        if int(dim) < 1:
            raise GalleryError(f"embedding size must be >= 1, got {dim}.")
        self.dim = int(dim)
        cap = max(1, int(initial_capacity))
        self._vecs = np.empty((cap, self.dim), dtype=np.float32)
        self._tids = np.empty(cap, dtype=np.int64)
        self._pids = np.empty(cap, dtype=np.int64)
        self._n = 0
        self._grouping: _Grouping | None = None

    # -- mutation --------------------------------------------------------------------------
    def add(self, template_ids: np.ndarray, person_ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add templates: ids (N,) int >= 0, owners (N,) int, vectors (N, D). Raises GalleryError
        (and changes nothing) on bad shapes, non-finite vectors or an id already present."""
        tids, pids, vecs = _check_add_args(template_ids, person_ids, vectors, self.dim)
        if tids.size == 0:
            return
        clash = np.isin(tids, self._tids[: self._n])
        if clash.any():
            raise GalleryError(f"template ids already in the gallery: {tids[clash][:10].tolist()}; remove them first.")
        need = self._n + tids.size
        if need > self._tids.shape[0]:
            cap = max(need, 2 * self._tids.shape[0])
            self._vecs = np.concatenate([self._vecs[: self._n], np.empty((cap - self._n, self.dim), np.float32)])
            self._tids = np.concatenate([self._tids[: self._n], np.empty(cap - self._n, np.int64)])
            self._pids = np.concatenate([self._pids[: self._n], np.empty(cap - self._n, np.int64)])
        self._vecs[self._n : need] = vecs
        self._tids[self._n : need] = tids
        self._pids[self._n : need] = pids
        self._n = need
        self._grouping = None

    def _remove_mask(self, mask: np.ndarray) -> int:
        removed = int(mask.sum())
        if removed:
            keep = ~mask
            m = self._n - removed
            self._vecs[:m] = self._vecs[: self._n][keep]
            self._tids[:m] = self._tids[: self._n][keep]
            self._pids[:m] = self._pids[: self._n][keep]
            self._vecs[m : self._n] = 0.0  # no erased embedding lingers in the spare rows
            self._n = m
            self._grouping = None
        return removed

    def remove_templates(self, template_ids: Iterable[int]) -> int:
        """Remove these templates; ids not in the gallery are ignored. Returns how many were removed."""
        ids = _as_ids(np.asarray(list(template_ids), dtype=np.int64), "template ids")
        if ids.size == 0 or self._n == 0:
            return 0
        return self._remove_mask(np.isin(self._tids[: self._n], ids))

    def remove_person(self, person_id: int) -> int:
        """Remove every template of ``person_id``. Returns how many were removed (0 if unknown)."""
        return self._remove_mask(self._pids[: self._n] == int(person_id))

    # -- queries ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._n

    @property
    def person_count(self) -> int:
        return int(np.unique(self._pids[: self._n]).size)

    def person_ids(self) -> np.ndarray:
        """Sorted person ids (P,) int64 with at least one template."""
        return np.unique(self._pids[: self._n]).astype(np.int64)

    def vectors(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Copies of the live (template ids (N,) int64, person ids (N,) int64, vectors (N, D) float32)."""
        n = self._n
        return self._tids[:n].copy(), self._pids[:n].copy(), self._vecs[:n].copy()

    def _groups(self) -> _Grouping:
        if self._grouping is None:
            pids = self._pids[: self._n]
            order = np.argsort(pids, kind="stable")
            sorted_pids = pids[order]
            if sorted_pids.size:
                starts = np.flatnonzero(np.r_[True, sorted_pids[1:] != sorted_pids[:-1]])
            else:
                starts = np.zeros(0, dtype=np.int64)
            self._grouping = _Grouping(
                vectors=np.ascontiguousarray(self._vecs[: self._n][order]),
                starts=starts,
                persons=sorted_pids[starts],
            )
        return self._grouping

    def search_templates(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """k best templates per query, best first.

        queries: (Q, D) or (D,). Returns ids (Q, k) int64 padded with -1 and cosine scores (Q, k)
        float32 padded with -inf when the gallery holds fewer than k templates.
        """
        k = _check_k(k, "k")
        q = _as_vectors(queries, self.dim, "queries")
        return _exact_template_search(self._vecs[: self._n], self._tids[: self._n], q, k)

    def person_scores(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every person's score for every query: (person ids (P,) int64, scores (Q, P) float32),
        the score being the best of that person's templates."""
        q = _as_vectors(queries, self.dim, "queries")
        g = self._groups()
        if g.persons.size == 0:
            return g.persons.copy(), np.zeros((q.shape[0], 0), dtype=np.float32)
        out = np.empty((q.shape[0], g.persons.size), dtype=np.float32)
        block = max(1, _QUERY_BLOCK_ELEMENTS // max(1, self._n))
        for s in range(0, q.shape[0], block):
            sims = q[s : s + block] @ g.vectors.T
            out[s : s + block] = np.maximum.reduceat(sims, g.starts, axis=1)
        return g.persons.copy(), out

    def search(self, queries: np.ndarray, k_persons: int = 2) -> list[list[tuple[int, float]]]:
        """Per query, up to ``k_persons`` (person_id, score) pairs sorted by descending score,
        a person's score being its best template's cosine. Empty lists for an empty gallery."""
        k_persons = _check_k(k_persons, "k_persons")
        persons, scores = self.person_scores(queries)
        if persons.size == 0:
            return [[] for _ in range(scores.shape[0])]
        kk = min(k_persons, persons.size)
        top = _topk_desc(scores, kk)
        top_scores = np.take_along_axis(scores, top, axis=1)
        return [
            [(int(p), float(s)) for p, s in zip(persons[row_top], row_scores, strict=True)]
            for row_top, row_scores in zip(top, top_scores, strict=True)
        ]

    def match(self, queries: np.ndarray) -> list[PersonMatch | None]:
        """Per query, the best person with the second-best person's score (-1.0 if only one
        person is enrolled); None for every query when the gallery is empty."""
        return _matches_from_search(self.search(queries, 2))


# --------------------------------------------------------------------------------------------
# HNSW gallery


def _sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + SIDECAR_SUFFIX)


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class HnswGallery:
    """Approximate gallery on an hnswlib HNSW graph (inner product of normalised vectors).

    hnswlib labels are the template ids. Bookkeeping arrays, sorted by label, map every label the
    graph holds (live or deleted) to its person id and a live flag. Removal overwrites the node's
    vector with random data, then uses hnswlib's ``mark_deleted`` (the node stays in the graph as a
    waypoint, never in results, and no erased embedding survives in memory or in a saved file);
    adding a removed template id again revives and updates its node; when deleted nodes outnumber
    live ones the graph is rebuilt (``auto_compact``). Capacity grows by doubling with
    ``resize_index``.

    Not thread-safe (a query sets ``ef``): callers serialise access, as the FaceGate service does.
    ``ef`` 200 by default: on 5,000 clustered 128-D templates (1,000 persons) the top person agreed
    with :class:`ExactGallery` for all queries, and the second-best person's score (the margin
    rule's input) was exact for 95 % of queries at ef 64, 99.2 % at 128 and 99.8 % at 256.

    Parameters: ``M`` graph degree (16), ``ef_construction`` (200), ``ef`` search breadth (200;
    raised to at least k for each query), ``min_candidates`` template neighbours fetched per
    person-level query (50), ``num_threads`` for hnswlib (1: deterministic builds, polite on
    shared CPUs; -1 uses all cores), ``model_sha256`` of the embedder, written to the sidecar.
    """

    def __init__(
        self,
        dim: int,
        *,
        M: int = 16,
        ef_construction: int = 200,
        ef: int = 200,
        initial_capacity: int = 1024,
        min_candidates: int = 50,
        num_threads: int = 1,
        model_sha256: str = "",
        seed: int = 100,
        auto_compact: bool = True,
    ) -> None:
        if int(dim) < 1:
            raise GalleryError(f"embedding size must be >= 1, got {dim}.")
        if M < 2 or ef_construction < 1 or ef < 1 or min_candidates < 1:
            raise GalleryError("HNSW parameters must be positive (M >= 2).")
        self.dim = int(dim)
        self.model_sha256 = model_sha256
        self.auto_compact = auto_compact
        self._M, self._ef_construction, self._seed = int(M), int(ef_construction), int(seed)
        self._num_threads = int(num_threads)
        self._rng = np.random.default_rng(seed)
        self._ef = int(ef)
        self._min_candidates = int(min_candidates)
        self._index = hnswlib.Index(space=_SPACE, dim=self.dim)
        self._index.init_index(
            max_elements=max(1, int(initial_capacity)),
            M=int(M),
            ef_construction=int(ef_construction),
            random_seed=int(seed),
        )
        self._index.set_ef(self._ef)
        self._index.set_num_threads(int(num_threads))
        self._labels = np.zeros(0, dtype=np.int64)  # sorted, every label in the graph
        self._label_pids = np.zeros(0, dtype=np.int64)
        self._alive = np.zeros(0, dtype=bool)
        self._person_counts: dict[int, int] = {}
        self._max_tpp_cache: int | None = None

    # -- properties ------------------------------------------------------------------------
    @property
    def ef(self) -> int:
        return self._ef

    @ef.setter
    def ef(self, value: int) -> None:
        if int(value) < 1:
            raise GalleryError(f"ef must be >= 1, got {value}.")
        self._ef = int(value)
        self._index.set_ef(self._ef)

    @property
    def capacity(self) -> int:
        """Nodes the graph can hold before it is resized (live + deleted)."""
        return int(self._index.max_elements)

    @property
    def deleted_count(self) -> int:
        """Deleted nodes still in the graph (they cost memory and a little search time)."""
        return int(self._alive.size - int(self._alive.sum()))

    def __len__(self) -> int:
        return int(self._alive.sum())

    @property
    def person_count(self) -> int:
        return len(self._person_counts)

    def person_ids(self) -> np.ndarray:
        """Sorted person ids (P,) int64 with at least one live template."""
        return np.array(sorted(self._person_counts), dtype=np.int64)

    def template_ids(self) -> np.ndarray:
        """Sorted ids (N,) int64 of the live templates."""
        return self._labels[self._alive].copy()

    def _max_templates_per_person(self) -> int:
        if self._max_tpp_cache is None:
            self._max_tpp_cache = max(self._person_counts.values(), default=0)
        return self._max_tpp_cache

    def _positions(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions of ``ids`` in the sorted label array and whether each is present."""
        pos = np.searchsorted(self._labels, ids)
        pos_c = np.minimum(pos, max(0, self._labels.size - 1))
        present = (
            (pos < self._labels.size) & (self._labels[pos_c] == ids)
            if self._labels.size
            else (np.zeros(ids.shape, dtype=bool))
        )
        return pos_c, present

    # -- mutation --------------------------------------------------------------------------
    def add(self, template_ids: np.ndarray, person_ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add templates: ids (N,) int >= 0, owners (N,) int, vectors (N, D). Raises GalleryError
        (and changes nothing) on bad shapes, non-finite vectors or an id that is already live."""
        tids, pids, vecs = _check_add_args(template_ids, person_ids, vectors, self.dim)
        if tids.size == 0:
            return
        pos, present = self._positions(tids)
        live_clash = present & self._alive[pos] if self._alive.size else np.zeros(tids.shape, dtype=bool)
        if live_clash.any():
            raise GalleryError(
                f"template ids already in the gallery: {tids[live_clash][:10].tolist()}; remove them first."
            )
        n_new = int((~present).sum())
        need = int(self._index.element_count) + n_new
        if need > self._index.max_elements:
            try:
                self._index.resize_index(max(need, 2 * int(self._index.max_elements)))
            except (RuntimeError, MemoryError) as exc:
                raise GalleryError(f"cannot grow the gallery index to {need} templates: {exc}") from exc
        try:
            self._index.add_items(vecs, tids.astype(np.uint64))
        except (RuntimeError, MemoryError) as exc:  # pragma: no cover - hnswlib internal failure
            raise GalleryError(f"cannot add templates to the gallery index: {exc}") from exc
        # bookkeeping: revive re-added labels, merge new ones
        if present.any():
            self._alive[pos[present]] = True
            self._label_pids[pos[present]] = pids[present]
        if n_new:
            labels = np.concatenate([self._labels, tids[~present]])
            lpids = np.concatenate([self._label_pids, pids[~present]])
            alive = np.concatenate([self._alive, np.ones(n_new, dtype=bool)])
            order = np.argsort(labels, kind="stable")
            self._labels, self._label_pids, self._alive = labels[order], lpids[order], alive[order]
        for p in pids.tolist():
            self._person_counts[p] = self._person_counts.get(p, 0) + 1
        self._max_tpp_cache = None

    def remove_templates(self, template_ids: Iterable[int]) -> int:
        """Remove templates; ids not live in the gallery are ignored. Returns the count.

        Each removed node's vector is first overwritten with a random unit vector (so the erased
        embedding is gone from memory and from later saves), then marked deleted. When deleted
        nodes outnumber live ones (and are at least 64), the graph is rebuilt (:meth:`compact`)."""
        ids = np.unique(_as_ids(np.asarray(list(template_ids), dtype=np.int64), "template ids"))
        if ids.size == 0 or self._labels.size == 0:
            return 0
        pos, present = self._positions(ids)
        live = present & self._alive[pos]
        labels, rows = ids[live], pos[live]
        if labels.size == 0:
            return 0
        junk = self._rng.standard_normal((labels.size, self.dim)).astype(np.float32)
        junk /= np.linalg.norm(junk, axis=1, keepdims=True)
        try:
            self._index.add_items(junk, labels.astype(np.uint64))  # overwrite the stored vectors
            for label in labels.tolist():
                self._index.mark_deleted(label)
        except RuntimeError as exc:  # pragma: no cover - bookkeeping and graph disagree
            raise GalleryError(f"gallery index is inconsistent while removing templates: {exc}") from exc
        self._alive[rows] = False
        for person in self._label_pids[rows].tolist():
            left = self._person_counts[person] - 1
            if left:
                self._person_counts[person] = left
            else:
                del self._person_counts[person]
        self._max_tpp_cache = None
        if self.auto_compact and self.deleted_count >= 64 and self.deleted_count > len(self):
            self.compact()
        return int(labels.size)

    def compact(self) -> None:
        """Rebuild the graph from the live templates only (drops deleted nodes, restores search
        quality after many removals). Cost: a fresh build, O(N log N)."""
        labels, vecs = self._live_vectors()
        index = hnswlib.Index(space=_SPACE, dim=self.dim)
        index.init_index(
            max_elements=max(1024, labels.size),
            M=self._M,
            ef_construction=self._ef_construction,
            random_seed=self._seed,
        )
        index.set_ef(self._ef)
        index.set_num_threads(self._num_threads)
        if labels.size:
            index.add_items(vecs, labels.astype(np.uint64))
        self._index = index
        self._label_pids = self._label_pids[self._alive]
        self._labels = labels
        self._alive = np.ones(labels.size, dtype=bool)

    def remove_person(self, person_id: int) -> int:
        """Mark every template of ``person_id`` deleted. Returns how many were removed."""
        mask = self._alive & (self._label_pids == int(person_id))
        return self.remove_templates(self._labels[mask])

    # -- search ----------------------------------------------------------------------------
    def _live_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        labels = self._labels[self._alive]
        if labels.size == 0:
            return labels, np.zeros((0, self.dim), dtype=np.float32)
        vecs = np.asarray(self._index.get_items(labels.astype(np.uint64).tolist()), dtype=np.float32)
        return labels, vecs.reshape(labels.size, self.dim)

    def _knn(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """k (<= live) nearest live templates: labels (Q, k) int64, cosine scores (Q, k) float32.

        ef is raised to max(ef, k) for the call. If hnswlib cannot return k results (a graph
        fragmented by many deletions), ef is doubled up to the node count, then brute force."""
        ef = max(self._ef, k)
        count = int(self._index.element_count)
        try:
            while True:
                self._index.set_ef(ef)
                try:
                    labels, dist = self._index.knn_query(queries, k=k)
                    break
                except RuntimeError:
                    if ef >= count:
                        live_labels, vecs = self._live_vectors()
                        return _exact_template_search(vecs, live_labels, queries, k)
                    ef = min(2 * ef, count)
        finally:
            self._index.set_ef(self._ef)
        scores = (1.0 - np.asarray(dist, dtype=np.float32)).astype(np.float32)
        return np.asarray(labels).astype(np.int64), scores

    def search_templates(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """k best templates per query, best first (approximate).

        queries: (Q, D) or (D,). Returns ids (Q, k) int64 padded with -1 and cosine scores (Q, k)
        float32 padded with -inf when the gallery holds fewer than k live templates.
        """
        k = _check_k(k, "k")
        q = _as_vectors(queries, self.dim, "queries")
        ids = np.full((q.shape[0], k), -1, dtype=np.int64)
        scores = np.full((q.shape[0], k), -np.inf, dtype=np.float32)
        live = len(self)
        if live == 0 or q.shape[0] == 0:
            return ids, scores
        kk = min(k, live)
        labels, sc = self._knn(q, kk)
        ids[:, :kk] = labels
        scores[:, :kk] = sc
        return ids, scores

    def _aggregate(self, labels: np.ndarray, scores: np.ndarray, k_persons: int) -> list[tuple[int, float]]:
        """One query's template hits (k,) sorted best first -> up to k_persons (person, best score)."""
        pos, _ = self._positions(labels)
        pids = self._label_pids[pos]
        _, first = np.unique(pids, return_index=True)
        first = np.sort(first)[:k_persons]
        return [(int(pids[i]), float(scores[i])) for i in first]

    def search(self, queries: np.ndarray, k_persons: int = 2) -> list[list[tuple[int, float]]]:
        """Per query, up to ``k_persons`` (person_id, score) by descending score (max aggregation
        over templates). Two-pass candidate gathering, see the module docstring."""
        k_persons = _check_k(k_persons, "k_persons")
        q = _as_vectors(queries, self.dim, "queries")
        live = len(self)
        if live == 0 or q.shape[0] == 0:
            return [[] for _ in range(q.shape[0])]
        need = min(k_persons, self.person_count)
        k1 = min(live, max(self._min_candidates, 2 * k_persons))
        labels, scores = self._knn(q, k1)
        results = [self._aggregate(labels[i], scores[i], k_persons) for i in range(q.shape[0])]
        short = [i for i, r in enumerate(results) if len(r) < need]
        k2 = min(live, k_persons * self._max_templates_per_person())
        if short and k2 > k1:
            labels2, scores2 = self._knn(q[short], k2)
            for j, i in enumerate(short):
                results[i] = self._aggregate(labels2[j], scores2[j], k_persons)
        return results

    def match(self, queries: np.ndarray) -> list[PersonMatch | None]:
        """Per query, the best person with the second-best person's score (-1.0 if only one
        person is enrolled); None for every query when the gallery is empty."""
        return _matches_from_search(self.search(queries, 2))

    # -- persistence -----------------------------------------------------------------------
    def _packed(self) -> bytes:
        """The whole gallery as one byte string (``gallery_pack``): hnswlib's index state (``hnsw.*``)
        with the labels, person ids, live flags and settings of this object."""
        state = self._index.__getstate__()[0]
        scalars: dict[str, gallery_pack.Scalar] = {
            f"hnsw.{k}": v for k, v in state.items() if not isinstance(v, np.ndarray)}
        arrays: dict[str, np.ndarray] = {f"hnsw.{k}": v for k, v in state.items() if isinstance(v, np.ndarray)}
        scalars.update(format=_SIDECAR_FORMAT, dim=self.dim, space=_SPACE, model_sha256=self.model_sha256,
                       ef=self._ef, min_candidates=self._min_candidates)
        arrays.update(labels=self._labels, person_ids=self._label_pids, alive=self._alive)
        return gallery_pack.pack(scalars, arrays)

    def save(self, path: str | os.PathLike[str], sealer: FileSealer | None = None) -> None:
        """Write the graph to ``path`` and the sidecar to ``path + '.meta.npz'``.

        With ``sealer`` (the database's data key), ``path`` holds the whole gallery packed
        (``_packed``: graph, vectors, labels, person ids) and encrypted before it is written, so no
        template reaches the disk in clear and the owner of each template is authenticated; the
        sidecar (ids, no vectors) is written as without it.

        Each file is written to a temporary name in the same folder (``<name>.tmp-<pid>-<id>``,
        deleted again when the save fails; those a killed process left are deleted by
        ``doctor.files.remove_stale_temps``), flushed, then renamed over the old one, so a crash
        leaves either the old or the new file. Removed templates were overwritten with random
        vectors (``remove_templates``), so no erased embedding is written. The sidecar records the
        sha256 of the graph file, so a graph and sidecar from different saves are detected by
        :meth:`load`. Raises GalleryError when the files cannot be written."""
        path = Path(path)
        side = _sidecar_path(path)
        tag = f".tmp-{os.getpid()}-{id(self)}"
        tmp_index = path.with_name(path.name + tag)
        tmp_side = side.with_name(side.name + tag)
        try:
            if sealer is None:
                self._index.save_index(str(tmp_index))
            else:
                fd = os.open(tmp_index, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o600)
                with os.fdopen(fd, "wb") as fh:
                    sealer.write_sealed(fh, path.name, self._packed())
                    fh.flush()
                    os.fsync(fh.fileno())
            digest = _file_sha256(tmp_index)
            with tmp_side.open("wb") as fh:
                np.savez(
                    fh,
                    format=np.int64(_SIDECAR_FORMAT),
                    dim=np.int64(self.dim),
                    space=np.str_(_SPACE),
                    model_sha256=np.str_(self.model_sha256),
                    count=np.int64(len(self)),
                    element_count=np.int64(self._index.element_count),
                    index_sha256=np.str_(digest),
                    labels=self._labels,
                    person_ids=self._label_pids,
                    alive=self._alive,
                    ef=np.int64(self._ef),
                    min_candidates=np.int64(self._min_candidates),
                )
                fh.flush()
                os.fsync(fh.fileno())
            for tmp in (tmp_index, tmp_side):  # biometric data: readable by this user only (file_modes)
                make_private(tmp)
            os.replace(tmp_index, path)
            os.replace(tmp_side, side)
        except BaseException as exc:  # no temporary file is left behind, whatever stopped the save
            for tmp in (tmp_index, tmp_side):
                with contextlib.suppress(OSError):
                    tmp.unlink(missing_ok=True)
            if isinstance(exc, (OSError, RuntimeError)):
                raise GalleryError(f"cannot save the gallery index to {path}: {exc}") from exc
            raise

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        model_sha256: str | None = None,
        dim: int | None = None,
        num_threads: int = 1,
        sealer: FileSealer | None = None,
    ) -> HnswGallery:
        """Load a gallery written by :meth:`save` (with the same ``sealer``, when it was encrypted).

        Raises GalleryError when either file is missing or unreadable, when the sidecar does not
        describe this graph file (sha256, node count, labels), or when ``model_sha256`` / ``dim``
        are given and differ from what the gallery was built with (rebuild it from the database).
        With ``sealer``: also when the file is not encrypted or fails its authentication check
        (altered, truncated, renamed); the labels, person ids and live flags then come from the
        authenticated file, not from the sidecar.
        """
        path = Path(path)
        side = _sidecar_path(path)
        if not path.is_file() or not side.is_file():
            raise GalleryError(f"gallery index {path} or its sidecar {side.name} is missing; rebuild it.")
        try:
            with np.load(side, allow_pickle=False) as meta:
                fmt = int(meta["format"])
                s_dim = int(meta["dim"])
                space = str(meta["space"])
                s_model = str(meta["model_sha256"])
                count = int(meta["count"])
                element_count = int(meta["element_count"])
                index_sha = str(meta["index_sha256"])
                labels = np.asarray(meta["labels"], dtype=np.int64)
                label_pids = np.asarray(meta["person_ids"], dtype=np.int64)
                alive = np.asarray(meta["alive"], dtype=bool)
                ef = int(meta["ef"])
                min_candidates = int(meta["min_candidates"])
        except (OSError, ValueError, KeyError, EOFError) as exc:
            raise GalleryError(f"gallery sidecar {side} is unreadable: {exc}; rebuild the gallery.") from exc
        if fmt != _SIDECAR_FORMAT or space != _SPACE:
            raise GalleryError(f"gallery sidecar {side} has an unknown format; rebuild the gallery.")
        if model_sha256 is not None and s_model != model_sha256:
            raise GalleryError(
                f"gallery {path} was built with another face model ({s_model[:12] or 'unknown'}, "
                f"expected {model_sha256[:12]}); rebuild it from the database."
            )
        if dim is not None and s_dim != int(dim):
            raise GalleryError(f"gallery {path} holds {s_dim}-D embeddings, expected {dim}-D; rebuild it.")
        if not (labels.shape == label_pids.shape == alive.shape) or labels.size != element_count:
            raise GalleryError(f"gallery sidecar {side} is inconsistent; rebuild the gallery.")
        if int(alive.sum()) != count or (labels.size > 1 and np.any(np.diff(labels) <= 0)):
            raise GalleryError(f"gallery sidecar {side} is inconsistent; rebuild the gallery.")
        try:
            data = path.read_bytes() if sealer is not None else None
            digest = hashlib.sha256(data).hexdigest() if data is not None else _file_sha256(path)
        except OSError as exc:
            raise GalleryError(f"cannot read gallery index {path}: {exc}") from exc
        if digest != index_sha:
            raise GalleryError(
                f"gallery index {path} does not match its sidecar (written by different saves); rebuild it."
            )
        index: Any = None
        if sealer is not None and data is not None:
            sealed = cls._unsealed_index(path, data, sealer, s_dim, s_model, count)
            if not all(np.array_equal(a, b) for a, b in zip(sealed[:3], (labels, label_pids, alive), strict=True)):
                raise GalleryError(f"gallery sidecar {side} does not match its encrypted index; rebuild the gallery.")
            index = sealed[3]
        gal = cls(
            s_dim,
            initial_capacity=1,
            ef=max(1, ef),
            min_candidates=max(1, min_candidates),
            num_threads=num_threads,
            model_sha256=s_model,
        )
        if sealer is None:
            try:
                index = hnswlib.Index(space=_SPACE, dim=s_dim)
                index.load_index(str(path))
            except (RuntimeError, MemoryError) as exc:
                raise GalleryError(f"cannot load gallery index {path}: {exc}; rebuild it.") from exc
        gal._index = index
        gal._index.set_ef(gal._ef)
        gal._index.set_num_threads(int(num_threads))
        gal._M, gal._ef_construction = int(gal._index.M), int(gal._index.ef_construction)
        if int(gal._index.element_count) != element_count or int(gal._index.dim) != s_dim:
            raise GalleryError(f"gallery index {path} does not match its sidecar; rebuild it.")
        graph_labels = np.sort(np.asarray(gal._index.get_ids_list(), dtype=np.int64))
        if not np.array_equal(graph_labels, labels):
            raise GalleryError(f"gallery index {path} does not match its sidecar labels; rebuild it.")
        gal._labels, gal._label_pids, gal._alive = labels, label_pids, alive
        counts: dict[int, int] = {}
        for p in label_pids[alive].tolist():
            counts[p] = counts.get(p, 0) + 1
        gal._person_counts = counts
        gal._max_tpp_cache = None
        return gal

    @staticmethod
    def _unsealed_index(path: Path, data: bytes, sealer: FileSealer, dim: int, model: str,
                        count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, Any]:
        """(labels, person ids, live flags, hnswlib index) of an encrypted gallery file's ``data``."""
        if not sealer.is_sealed(data[:16]):
            raise GalleryError(f"gallery index {path} is not encrypted; rebuild it from the database.")
        try:
            plain = sealer.read_sealed(data, path.name)
        except StorageError as exc:
            raise GalleryError(f"gallery index {path}: {exc}; rebuild it from the database.") from exc
        del data
        scalars, arrays = gallery_pack.unpack(plain)
        try:
            labels = np.asarray(arrays["labels"], dtype=np.int64)
            label_pids = np.asarray(arrays["person_ids"], dtype=np.int64)
            alive = np.asarray(arrays["alive"], dtype=bool)
            same = (int(scalars["dim"]) == dim and str(scalars["model_sha256"]) == model
                    and int(alive.sum()) == count and labels.shape == label_pids.shape == alive.shape)
            state = {k[5:]: v for k, v in {**scalars, **arrays}.items() if k.startswith("hnsw.")}
        except (KeyError, ValueError, TypeError) as exc:
            raise GalleryError(f"gallery index {path} is damaged ({exc}); rebuild it.") from exc
        if not same:
            raise GalleryError(f"gallery index {path} does not match its sidecar; rebuild it.")
        try:
            index = hnswlib.Index.__new__(hnswlib.Index)
            index.__setstate__((state,))
        except (RuntimeError, MemoryError, ValueError, TypeError) as exc:
            raise GalleryError(f"cannot load gallery index {path}: {exc}; rebuild it.") from exc
        return labels, label_pids, alive, index


# --------------------------------------------------------------------------------------------


def build_gallery(
    template_ids: np.ndarray,
    person_ids: np.ndarray,
    vectors: np.ndarray,
    *,
    kind: str = "auto",
    exact_below: int = 2000,
    dim: int | None = None,
    model_sha256: str = "",
    num_threads: int = 1,
) -> Gallery:
    """Build a gallery holding these templates (ids (N,), owners (N,), vectors (N, D) float32).

    kind: "exact", "hnsw", or "auto" = exact when N < ``exact_below`` templates, else HNSW.
    ``dim`` is needed only when ``vectors`` is empty and 1-D (nothing to read D from);
    ``num_threads`` is passed to hnswlib (-1: all cores, faster builds of large galleries).
    """
    arr = np.asarray(vectors)
    if dim is None:
        if arr.ndim != 2:
            raise GalleryError("cannot tell the embedding size: pass vectors of shape (N, D) or dim=.")
        dim = int(arr.shape[1])
    if arr.size == 0:
        arr = np.zeros((0, dim), dtype=np.float32)
    n = int(arr.shape[0])
    if kind == "auto":
        kind = "exact" if n < exact_below else "hnsw"
    gallery: Gallery
    if kind == "exact":
        gallery = ExactGallery(dim, initial_capacity=max(256, n))
    elif kind == "hnsw":
        gallery = HnswGallery(dim, initial_capacity=max(1024, n), model_sha256=model_sha256, num_threads=num_threads)
    else:
        raise GalleryError(f"unknown gallery kind {kind!r}; use 'auto', 'exact' or 'hnsw'.")
    gallery.add(np.asarray(template_ids), np.asarray(person_ids), arr)
    return gallery
