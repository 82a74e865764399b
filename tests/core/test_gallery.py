"""Gallery tests: the exact gallery against a naive Python reference, HNSW against exact,
removal, persistence and its integrity checks, growth, empty galleries and bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from desktop_app.core.errors import GalleryError
from desktop_app.core.matching.gallery import (
    SIDECAR_SUFFIX,
    ExactGallery,
    Gallery,
    HnswGallery,
    build_gallery,
)


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def clustered(
    n_persons: int, per_person: int, dim: int, noise: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Template ids (sparse, shuffled), person ids, unit vectors and the person centres."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_persons, dim))
    pids = np.repeat(np.arange(n_persons) * 10 + 3, per_person).astype(np.int64)
    vecs = _unit(np.repeat(centres, per_person, axis=0) + noise * rng.standard_normal((pids.size, dim)))
    tids = rng.permutation(pids.size * 4)[: pids.size].astype(np.int64)
    return tids, pids, vecs, centres


def naive_person_search(
    tids: np.ndarray, pids: np.ndarray, vecs: np.ndarray, query: np.ndarray, k: int
) -> list[tuple[int, float]]:
    best: dict[int, float] = {}
    for p, v in zip(pids.tolist(), vecs, strict=True):
        s = float(np.dot(v.astype(np.float64), query.astype(np.float64)))
        best[p] = max(best.get(p, -np.inf), s)
    return sorted(best.items(), key=lambda kv: -kv[1])[:k]


def naive_template_search(tids: np.ndarray, vecs: np.ndarray, query: np.ndarray, k: int) -> list[tuple[int, float]]:
    pairs = [(int(t), float(np.dot(v.astype(np.float64), query))) for t, v in zip(tids, vecs, strict=True)]
    return sorted(pairs, key=lambda kv: -kv[1])[:k]


def make(kind: str, dim: int, **kw: int) -> Gallery:
    if kind == "exact":
        return ExactGallery(dim)
    return HnswGallery(dim, **kw)


# ------------------------------------------------------------------------------------------


def test_exact_gallery_matches_naive_reference() -> None:
    tids, pids, vecs, centres = clustered(12, 3, 16, 0.7, seed=1)
    gal = ExactGallery(16, initial_capacity=4)  # also grows
    gal.add(tids[:20], pids[:20], vecs[:20])
    gal.add(tids[20:], pids[20:], vecs[20:])
    rng = np.random.default_rng(2)
    queries = _unit(centres[rng.integers(0, 12, 25)] + 0.7 * rng.standard_normal((25, 16)))
    ids, scores = gal.search_templates(queries, 5)
    persons = gal.search(queries, k_persons=3)
    matches = gal.match(queries)
    for i, q in enumerate(queries):
        ref_t = naive_template_search(tids, vecs, q, 5)
        assert ids[i].tolist() == [t for t, _ in ref_t]
        np.testing.assert_allclose(scores[i], [s for _, s in ref_t], atol=1e-5)
        ref_p = naive_person_search(tids, pids, vecs, q, 3)
        assert [p for p, _ in persons[i]] == [p for p, _ in ref_p]
        np.testing.assert_allclose([s for _, s in persons[i]], [s for _, s in ref_p], atol=1e-5)
        m = matches[i]
        assert m is not None
        assert m.person_id == ref_p[0][0]
        assert m.score == pytest.approx(ref_p[0][1], abs=1e-5)
        assert m.second_score == pytest.approx(ref_p[1][1], abs=1e-5)
    assert len(gal) == tids.size
    assert gal.person_count == 12
    np.testing.assert_array_equal(gal.person_ids(), np.unique(pids))


def test_hnsw_agrees_with_exact_on_5k_clustered_vectors() -> None:
    tids, pids, vecs, centres = clustered(1000, 5, 128, 0.8, seed=3)
    exact = ExactGallery(128)
    exact.add(tids, pids, vecs)
    hnsw = HnswGallery(128, initial_capacity=256)
    hnsw.add(tids, pids, vecs)
    rng = np.random.default_rng(4)
    mated = centres[rng.integers(0, 1000, 400)] + 0.8 * rng.standard_normal((400, 128))
    strangers = rng.standard_normal((200, 128))
    queries = _unit(np.concatenate([mated, strangers]))

    ids_h, sc_h = hnsw.search_templates(queries, 10)
    ids_e, sc_e = exact.search_templates(queries, 10)
    recall1 = float(np.mean(ids_h[:, 0] == ids_e[:, 0]))
    recall10 = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids_h, ids_e, strict=True)])
    assert recall1 >= 0.99, recall1
    assert recall10 >= 0.95, recall10
    same = ids_h[:, 0] == ids_e[:, 0]
    np.testing.assert_allclose(sc_h[same, 0], sc_e[same, 0], atol=1e-5)

    m_h, m_e = hnsw.match(queries), exact.match(queries)
    top_agree = np.mean(
        [a is not None and b is not None and a.person_id == b.person_id for a, b in zip(m_h, m_e, strict=True)]
    )
    assert top_agree >= 0.99, top_agree
    second_ok = np.mean(
        [
            abs(a.second_score - b.second_score) < 1e-5
            for a, b in zip(m_h, m_e, strict=True)
            if a is not None and b is not None
        ]
    )
    assert second_ok >= 0.97, second_ok


@pytest.mark.parametrize("kind", ["exact", "hnsw"])
def test_person_with_many_templates_does_not_hide_the_second_person(kind: str) -> None:
    rng = np.random.default_rng(5)
    dim = 32
    anchor = _unit(rng.standard_normal(dim))
    crowd = _unit(anchor + 0.05 * rng.standard_normal((300, dim)))  # person 1: 300 close templates
    other = _unit(anchor + 0.15 * rng.standard_normal((1, dim)))  # person 2: one farther template
    far = _unit(rng.standard_normal((40, dim)))  # persons 100..139: unrelated
    vecs = np.concatenate([crowd, other, far])
    pids = np.concatenate([np.ones(300), [2], 100 + np.arange(40)]).astype(np.int64)
    tids = np.arange(pids.size, dtype=np.int64)
    gal = make(kind, dim, min_candidates=20)
    gal.add(tids, pids, vecs)
    q = anchor[None, :]
    got = gal.search(q, k_persons=3)[0]
    ref = naive_person_search(tids, pids, vecs, anchor, 3)
    assert [p for p, _ in got] == [p for p, _ in ref]
    assert got[1][0] == 2
    np.testing.assert_allclose([s for _, s in got], [s for _, s in ref], atol=1e-5)
    m = gal.match(q)[0]
    assert m is not None and m.person_id == 1
    assert m.second_score == pytest.approx(ref[1][1], abs=1e-5)


@pytest.mark.parametrize("kind", ["exact", "hnsw"])
def test_remove_person_and_templates(kind: str) -> None:
    tids, pids, vecs, _ = clustered(30, 4, 24, 0.5, seed=6)
    gal = make(kind, 24)
    gal.add(tids, pids, vecs)
    victim = int(pids[0])
    victim_rows = pids == victim
    assert gal.remove_person(victim) == 4
    assert gal.remove_person(victim) == 0
    assert len(gal) == tids.size - 4 and gal.person_count == 29
    assert victim not in gal.person_ids().tolist()
    # the victim's own vectors as probes: the victim never comes back
    for row in gal.search(vecs[victim_rows], k_persons=29):
        assert victim not in [p for p, _ in row]
    ids, _ = gal.search_templates(vecs[victim_rows], len(gal))
    assert not np.isin(ids, tids[victim_rows]).any()

    # single templates; unknown ids are ignored
    drop = tids[~victim_rows][:3]
    assert gal.remove_templates([*drop.tolist(), 999_999]) == 3
    assert gal.remove_templates(drop) == 0
    ids, _ = gal.search_templates(vecs[~victim_rows][:3], 5)
    assert not np.isin(ids, drop).any()
    assert len(gal) == tids.size - 7

    # a removed template id can be enrolled again (possibly for someone else)
    gal.add(drop[:1], np.array([777]), vecs[victim_rows][:1])
    m = gal.match(vecs[victim_rows][:1])[0]
    assert m is not None and m.person_id == 777 and m.score == pytest.approx(1.0, abs=1e-5)
    assert 777 in gal.person_ids().tolist()


def test_hnsw_save_load_round_trip_keeps_removals(tmp_path: Path) -> None:
    tids, pids, vecs, centres = clustered(80, 3, 32, 0.6, seed=7)
    gal = HnswGallery(32, initial_capacity=64, model_sha256="abc123")
    gal.add(tids, pids, vecs)
    victim = int(pids[5])
    gal.remove_person(victim)
    gal.remove_templates(tids[-2:])
    path = tmp_path / "gallery.hnsw"
    gal.save(path)
    assert path.is_file() and (tmp_path / ("gallery.hnsw" + SIDECAR_SUFFIX)).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gallery.hnsw", "gallery.hnsw" + SIDECAR_SUFFIX]

    loaded = HnswGallery.load(path, model_sha256="abc123", dim=32)
    assert len(loaded) == len(gal) and loaded.person_count == gal.person_count
    np.testing.assert_array_equal(loaded.person_ids(), gal.person_ids())
    rng = np.random.default_rng(8)
    queries = _unit(centres[rng.integers(0, 80, 50)] + 0.6 * rng.standard_normal((50, 32)))
    assert loaded.search(queries, 3) == gal.search(queries, 3)
    ids_a, sc_a = loaded.search_templates(queries, 7)
    ids_b, sc_b = gal.search_templates(queries, 7)
    np.testing.assert_array_equal(ids_a, ids_b)
    np.testing.assert_array_equal(sc_a, sc_b)
    for row in loaded.search(vecs[pids == victim], k_persons=loaded.person_count):
        assert victim not in [p for p, _ in row]
    ids, _ = loaded.search_templates(vecs[-2:], len(loaded))
    assert not np.isin(ids, tids[-2:]).any()

    # the loaded gallery keeps working: grow it past its capacity and save over the old files
    extra_ids = np.arange(10_000, 10_300, dtype=np.int64)
    extra_vecs = _unit(rng.standard_normal((300, 32)))
    loaded.add(extra_ids, np.full(300, 5000), extra_vecs)
    loaded.save(path)
    again = HnswGallery.load(path)
    assert len(again) == len(gal) + 300
    ids, _ = again.search_templates(extra_vecs[:20], 1)
    np.testing.assert_array_equal(ids[:, 0], extra_ids[:20])


def test_hnsw_load_rejects_mismatched_or_broken_files(tmp_path: Path) -> None:
    tids, pids, vecs, _ = clustered(20, 2, 16, 0.5, seed=9)
    a = HnswGallery(16, model_sha256="model-a")
    a.add(tids, pids, vecs)
    path = tmp_path / "g.hnsw"
    side = tmp_path / ("g.hnsw" + SIDECAR_SUFFIX)
    a.save(path)
    HnswGallery.load(path, model_sha256="model-a", dim=16)  # sanity: loads

    with pytest.raises(GalleryError, match="another face model"):
        HnswGallery.load(path, model_sha256="model-b")
    with pytest.raises(GalleryError, match="16-D"):
        HnswGallery.load(path, dim=128)

    # graph and sidecar from different saves
    shutil.copy(side, tmp_path / "old_side")
    a.remove_person(int(pids[0]))
    a.save(path)
    shutil.copy(tmp_path / "old_side", side)
    with pytest.raises(GalleryError, match="does not match"):
        HnswGallery.load(path)

    # corrupt sidecar, missing sidecar, missing index
    side.write_bytes(b"not an npz file")
    with pytest.raises(GalleryError, match="unreadable"):
        HnswGallery.load(path)
    side.unlink()
    with pytest.raises(GalleryError, match="missing"):
        HnswGallery.load(path)
    with pytest.raises(GalleryError, match="missing"):
        HnswGallery.load(tmp_path / "nothing.hnsw")


@pytest.mark.parametrize("kind", ["exact", "hnsw"])
def test_empty_gallery(kind: str) -> None:
    gal = make(kind, 8)
    q = _unit(np.random.default_rng(10).standard_normal((3, 8)))
    ids, scores = gal.search_templates(q, 4)
    assert ids.shape == (3, 4) and ids.dtype == np.int64 and np.all(ids == -1)
    assert scores.dtype == np.float32 and np.all(np.isneginf(scores))
    assert gal.search(q) == [[], [], []]
    assert gal.match(q) == [None, None, None]
    assert len(gal) == 0 and gal.person_count == 0 and gal.person_ids().size == 0
    # one template: padding after the first hit, second_score -1 with a single person
    gal.add(np.array([5]), np.array([1]), q[:1])
    ids, scores = gal.search_templates(q[:1], 3)
    assert ids[0].tolist() == [5, -1, -1] and scores[0, 0] == pytest.approx(1.0, abs=1e-5)
    m = gal.match(q[0])[0]  # a single (D,) query is accepted
    assert m is not None and m.person_id == 1 and m.second_score == -1.0
    gal.remove_person(1)
    assert gal.match(q) == [None, None, None] and len(gal) == 0


def test_hnsw_grows_past_initial_capacity() -> None:
    tids, pids, vecs, _ = clustered(150, 2, 16, 0.4, seed=11)
    gal = HnswGallery(16, initial_capacity=4)
    for s in range(0, tids.size, 7):
        gal.add(tids[s : s + 7], pids[s : s + 7], vecs[s : s + 7])
    assert len(gal) == 300 and gal.capacity >= 300 and gal.person_count == 150
    ids, scores = gal.search_templates(vecs, 1)
    assert np.mean(ids[:, 0] == tids) >= 0.99
    assert np.all(scores[:, 0] > 0.999)


@pytest.mark.parametrize("kind", ["exact", "hnsw"])
def test_bad_input_is_rejected_and_changes_nothing(kind: str) -> None:
    tids, pids, vecs, _ = clustered(5, 2, 8, 0.5, seed=12)
    gal = make(kind, 8)
    gal.add(tids, pids, vecs)
    before = gal.search(vecs, 3)
    with pytest.raises(GalleryError, match="already in the gallery"):
        gal.add(tids[:1], pids[:1], vecs[:1])
    with pytest.raises(GalleryError, match="shape"):
        gal.add(np.array([100]), np.array([1]), np.ones((1, 9), np.float32))
    with pytest.raises(GalleryError, match="NaN"):
        gal.add(np.array([100]), np.array([1]), np.full((1, 8), np.nan, np.float32))
    with pytest.raises(GalleryError, match="zero"):
        gal.add(np.array([100]), np.array([1]), np.zeros((1, 8), np.float32))
    with pytest.raises(GalleryError, match="unique"):
        gal.add(np.array([100, 100]), np.array([1, 1]), vecs[:2])
    with pytest.raises(GalleryError, match=">= 0"):
        gal.add(np.array([-1]), np.array([1]), vecs[:1])
    with pytest.raises(GalleryError, match="same length"):
        gal.add(np.array([100, 101]), np.array([1]), vecs[:2])
    with pytest.raises(GalleryError, match="shape"):
        gal.search(np.ones((2, 7), np.float32))
    with pytest.raises(GalleryError, match="k"):
        gal.search_templates(vecs, 0)
    assert len(gal) == 10 and gal.search(vecs, 3) == before


def test_build_gallery_picks_the_implementation() -> None:
    tids, pids, vecs, _ = clustered(10, 3, 8, 0.5, seed=13)
    small = build_gallery(tids, pids, vecs)
    big = build_gallery(tids, pids, vecs, exact_below=10)
    assert isinstance(small, ExactGallery) and isinstance(big, HnswGallery)
    assert isinstance(small, Gallery) and isinstance(big, Gallery)
    for a, b in zip(small.search(vecs, 2), big.search(vecs, 2), strict=True):
        assert [p for p, _ in a] == [p for p, _ in b]
        np.testing.assert_allclose([s for _, s in a], [s for _, s in b], atol=1e-5)
    assert len(build_gallery(np.zeros(0), np.zeros(0), np.zeros((0, 8)), kind="hnsw")) == 0
    with pytest.raises(GalleryError, match="kind"):
        build_gallery(tids, pids, vecs, kind="faiss")


def test_hnsw_heavy_deletion_falls_back_to_exact_search() -> None:
    # a sparse graph (M=4) with 98 % of its nodes deleted and no compaction: hnswlib alone cannot
    # return k live results; the gallery widens ef and finally searches the live vectors exactly
    rng = np.random.default_rng(14)
    vecs = _unit(rng.standard_normal((2000, 16)))
    pids = np.arange(2000) // 2
    gal = HnswGallery(16, M=4, ef=10, min_candidates=5, auto_compact=False)
    gal.add(np.arange(2000), pids, vecs)
    assert gal.remove_templates(np.arange(40, 2000)) == 1960
    assert len(gal) == 40 and gal.deleted_count == 1960
    exact = ExactGallery(16)
    exact.add(np.arange(40), pids[:40], vecs[:40])
    ids_h, sc_h = gal.search_templates(vecs[:100], 40)
    ids_e, sc_e = exact.search_templates(vecs[:100], 40)
    np.testing.assert_array_equal(ids_h, ids_e)
    np.testing.assert_allclose(sc_h, sc_e, atol=1e-5)


def test_hnsw_compacts_after_many_removals_and_saves_no_erased_embedding(tmp_path: Path) -> None:
    tids, pids, vecs, centres = clustered(200, 5, 32, 0.5, seed=15)
    gal = HnswGallery(32)
    gal.add(tids, pids, vecs)
    victim = int(pids[0])
    stored = gal._index.get_items(tids[pids == victim].astype(np.uint64).tolist())
    victim_bytes = [np.asarray(v, dtype=np.float32).tobytes() for v in stored]
    gal.remove_person(victim)
    assert gal.deleted_count == 5  # few deletions: no rebuild yet
    path = tmp_path / "g.hnsw"
    gal.save(path)
    raw = path.read_bytes()
    assert raw.count(victim_bytes[0][:64]) == 0 and all(b not in raw for b in victim_bytes)
    # remove most persons: the graph is rebuilt from the live templates only
    gone = np.unique(pids)[1:150]
    for p in gone:
        gal.remove_person(int(p))
    assert len(gal) == 250 and gal.person_count == 50
    assert gal.deleted_count < len(gal) and gal._index.element_count < 500  # rebuilt at least once
    exact = ExactGallery(32)
    keep = ~np.isin(pids, [victim, *gone.tolist()])
    exact.add(tids[keep], pids[keep], vecs[keep])
    rng = np.random.default_rng(16)
    queries = _unit(centres[rng.integers(0, 200, 100)] + 0.5 * rng.standard_normal((100, 32)))
    got, ref = gal.match(queries), exact.match(queries)
    assert (
        np.mean([a is not None and b is not None and a.person_id == b.person_id for a, b in zip(got, ref, strict=True)])
        >= 0.99
    )
    gal.save(path)
    loaded = HnswGallery.load(path)
    assert len(loaded) == 250 and loaded.deleted_count == gal.deleted_count
    assert [m.person_id for m in loaded.match(queries) if m] == [m.person_id for m in got if m]


# ------------------------------------------------------------------------------------------
# the one embedding validator (core.vectors), shared by gallery, storage and evaluation


def test_one_validator_checks_every_embedding_array() -> None:
    from desktop_app.core.storage.codecs import as_matrix, as_vector
    from desktop_app.core.vectors import as_vectors

    rows = as_vectors(np.array([[3, 4], [0, 2]]), "rows")
    assert rows.dtype == np.float32 and rows.flags.c_contiguous
    np.testing.assert_allclose(rows, [[0.6, 0.8], [0.0, 1.0]], rtol=1e-6)
    assert as_vectors(np.array([3.0, 4.0]), dim=2).shape == (1, 2)  # one (D,) vector is one row
    assert as_vectors(np.zeros((0, 5)), dim=5).shape == (0, 5)
    original = np.array([[3.0, 4.0]])
    assert as_vectors(original, unit=False).tolist() == [[3.0, 4.0]] and original.tolist() == [[3.0, 4.0]]
    for bad, message in ((np.ones((2, 3)), r"shape \(N, 2\)"), (np.ones((2, 2, 2)), "shape"),
                         (np.array([["a", "b"]]), "numbers"), (np.array([[np.inf, 1.0]]), "NaN"),
                         (np.zeros((1, 2)), "all-zero")):
        with pytest.raises(ValueError, match=message):
            as_vectors(bad, dim=2)
    with pytest.raises(GalleryError, match=r"zero.*Recompute"):
        as_vectors(np.zeros((1, 2)), "queries", error=GalleryError, hint="Recompute them.")
    # the storage codecs are the same check without normalising (values are stored as given)
    assert as_vector(np.array([[3.0, 4.0]])).tolist() == [3.0, 4.0]
    assert as_matrix(np.array([3.0, 4.0])).tolist() == [[3.0, 4.0]]
    with pytest.raises(ValueError, match="finite"):
        as_vector(np.array([np.nan, 1.0]))
    with pytest.raises(ValueError, match="one vector"):
        as_vector(np.ones((2, 3)))
