"""Metrics against naive loop references on random data, plus hand-computed tiny cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from desktop_app.core.evaluation import metrics
from desktop_app.core.evaluation.metrics import (
    best_threshold,
    kfold_accuracy,
    map_at_r,
    open_set_identification,
    rank1,
    recall_at_k,
    roc,
    tar_at_far,
)

# ----------------------------------------------------------------------------- naive references


def naive_rates(genuine: list[float], impostor: list[float], t: float) -> tuple[float, float]:
    far = sum(1 for s in impostor if s >= t) / len(impostor)
    tar = sum(1 for s in genuine if s >= t) / len(genuine)
    return far, tar


def naive_tar_at_far(genuine: list[float], impostor: list[float], target: float) -> tuple[float, float]:
    best: tuple[float, float] | None = None  # (tar, -threshold): highest tar, then lowest threshold
    for t in sorted(set(genuine) | set(impostor)):
        far, tar = naive_rates(genuine, impostor, t)
        if far <= target and (best is None or (tar, -t) > best):
            best = (tar, -t)
    if best is None:
        return 0.0, math.inf
    return best[0], -best[1]


def naive_accuracy(scores: list[float], labels: list[bool], t: float) -> float:
    return sum(1 for s, y in zip(scores, labels, strict=True) if (s >= t) == y) / len(scores)


def naive_best_accuracy(scores: list[float], labels: list[bool]) -> tuple[float, float]:
    """(best accuracy, the lowest score value reaching it used as '>=' threshold; inf = reject all)."""
    best_acc, best_t = -1.0, math.inf
    for t in [*sorted(set(scores)), math.inf]:
        acc = naive_accuracy(scores, labels, t)
        if acc > best_acc:
            best_acc, best_t = acc, t
    return best_acc, best_t


def unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def naive_ranking(q: np.ndarray, r: np.ndarray, i: int, skip: int | None) -> list[int]:
    sims = [float(np.dot(q[i].astype(np.float64), r[j].astype(np.float64))) for j in range(len(r))]
    order = sorted(range(len(r)), key=lambda j: (-sims[j], j))
    return [j for j in order if j != skip]


def naive_rank1(q: np.ndarray, ql: np.ndarray, r: np.ndarray, rl: np.ndarray) -> float:
    q, r = unit(q), unit(r)
    return sum(1 for i in range(len(q)) if rl[naive_ranking(q, r, i, None)[0]] == ql[i]) / len(q)


def naive_recall(q, ql, r, rl, ks, exclude_self) -> dict[int, float]:  # type: ignore[no-untyped-def]
    q, r = unit(q), unit(r)
    out = {}
    for k in ks:
        hits = 0
        for i in range(len(q)):
            ranked = naive_ranking(q, r, i, i if exclude_self else None)
            hits += any(rl[j] == ql[i] for j in ranked[:k])
        out[k] = hits / len(q)
    return out


def naive_map_at_r(q, ql, r, rl, exclude_self) -> float:  # type: ignore[no-untyped-def]
    q, r = unit(q), unit(r)
    aps = []
    for i in range(len(q)):
        ranked = naive_ranking(q, r, i, i if exclude_self else None)
        big_r = sum(1 for j in ranked if rl[j] == ql[i])
        if big_r == 0:
            continue
        total, hits = 0.0, 0
        for pos, j in enumerate(ranked[:big_r], start=1):
            if rl[j] == ql[i]:
                hits += 1
                total += hits / pos
        aps.append(total / big_r)
    return sum(aps) / len(aps)


def clustered(rng: np.random.Generator, n_ids: int, per_id: int, dim: int, noise: float):  # type: ignore[no-untyped-def]
    centres = rng.normal(size=(n_ids, dim))
    return around(rng, centres, per_id, noise)


def around(rng: np.random.Generator, centres: np.ndarray, per_id: int, noise: float):  # type: ignore[no-untyped-def]
    labels = np.repeat(np.arange(len(centres)), per_id)
    vectors = centres[labels] + noise * rng.normal(size=(labels.size, centres.shape[1]))
    return vectors.astype(np.float32), labels


# ----------------------------------------------------------------------------- verification


def test_roc_matches_naive() -> None:
    rng = np.random.default_rng(1)
    genuine = np.round(rng.normal(0.6, 0.2, 150), 2)  # rounding creates ties
    impostor = np.round(rng.normal(0.1, 0.2, 400), 2)
    far, tar, thr = roc(genuine, impostor)
    assert far[0] == 0.0 and tar[0] == 0.0 and thr[0] > max(genuine.max(), impostor.max())
    assert far[-1] == 1.0 and tar[-1] == 1.0
    assert np.all(np.diff(thr) < 0) and np.all(np.diff(far) >= 0) and np.all(np.diff(tar) >= 0)
    np.testing.assert_array_equal(thr[1:], np.unique(np.concatenate([genuine, impostor]))[::-1])
    g, imp = genuine.tolist(), impostor.tolist()
    for i in range(0, thr.size, 7):
        assert (far[i], tar[i]) == pytest.approx(naive_rates(g, imp, float(thr[i])))


def test_roc_tiny_by_hand() -> None:
    far, tar, thr = roc(np.array([0.9, 0.5]), np.array([0.7, 0.1]))
    np.testing.assert_allclose(thr[1:], [0.9, 0.7, 0.5, 0.1])
    np.testing.assert_allclose(far, [0, 0, 0.5, 0.5, 1.0])
    np.testing.assert_allclose(tar, [0, 0.5, 0.5, 1.0, 1.0])


def test_tar_at_far_matches_naive() -> None:
    rng = np.random.default_rng(2)
    genuine = rng.normal(0.5, 0.2, 300)
    impostor = rng.normal(0.0, 0.2, 1000)
    g, imp = genuine.tolist(), impostor.tolist()
    for target in (0.0, 0.001, 0.01, 0.1, 0.5, 1.0):
        tar, t = tar_at_far(genuine, impostor, target)
        want_tar, want_t = naive_tar_at_far(g, imp, target)
        assert tar == pytest.approx(want_tar)
        if math.isfinite(want_t):
            assert t == want_t
        assert np.mean(impostor >= t) <= target
        assert np.mean(genuine >= t) == pytest.approx(tar)


def test_tar_at_far_tiny_by_hand() -> None:
    genuine = np.array([0.9, 0.8, 0.3])
    impostor = np.array([0.85, 0.2, 0.1, 0.0])
    assert tar_at_far(genuine, impostor, 0.0) == pytest.approx((1 / 3, 0.9))
    assert tar_at_far(genuine, impostor, 0.25) == pytest.approx((1.0, 0.3))
    assert tar_at_far(genuine, impostor, 0.5) == pytest.approx((1.0, 0.2))
    tar, t = tar_at_far(np.array([0.1]), np.array([0.5]), 0.0)  # nothing reachable: accept nobody
    assert tar == 0.0 and t > 0.5
    with pytest.raises(ValueError):
        tar_at_far(genuine, impostor, 1.5)
    with pytest.raises(ValueError, match="empty"):
        tar_at_far(np.array([]), impostor, 0.1)


def test_best_threshold_matches_naive() -> None:
    rng = np.random.default_rng(3)
    for trial in range(5):
        n = 200
        labels = rng.random(n) < 0.5
        scores = np.round(np.where(labels, rng.normal(0.5, 0.25, n), rng.normal(0.1, 0.25, n)), 2)
        t = best_threshold(scores, labels)
        want_acc, _ = naive_best_accuracy(scores.tolist(), labels.tolist())
        assert naive_accuracy(scores.tolist(), labels.tolist(), t) == pytest.approx(want_acc), trial
        assert t not in set(scores.tolist())  # halfway between scores, robust on held-out folds


def test_best_threshold_tiny_by_hand() -> None:
    scores = np.array([0.1, 0.4, 0.35, 0.8])
    labels = np.array([False, True, False, True])
    assert best_threshold(scores, labels) == pytest.approx(0.375)
    assert best_threshold(np.array([0.2, 0.3]), np.array([True, True])) < 0.2  # accept all
    assert best_threshold(np.array([0.2, 0.3]), np.array([False, False])) > 0.3  # reject all
    with pytest.raises(ValueError, match="labels"):
        best_threshold(scores, labels[:3])


def test_kfold_accuracy_matches_naive() -> None:
    rng = np.random.default_rng(4)
    n_folds, per_fold = 10, 60
    folds = np.repeat(np.arange(n_folds), per_fold)
    labels = np.tile(np.repeat([True, False], per_fold // 2), n_folds)
    scores = np.round(
        np.where(labels, rng.normal(0.45, 0.2, folds.size), rng.normal(0.1, 0.2, folds.size)), 2
    )
    mean, std, per = kfold_accuracy(scores, labels, folds)
    want = []
    for f in range(n_folds):
        train = folds != f
        _, t = naive_best_accuracy(scores[train].tolist(), labels[train].tolist())
        want.append(naive_accuracy(scores[~train].tolist(), labels[~train].tolist(), t))
    np.testing.assert_allclose(per, want)
    assert mean == pytest.approx(sum(want) / n_folds)
    assert std == pytest.approx(math.sqrt(sum((a - mean) ** 2 for a in want) / n_folds))
    assert 0.7 < mean < 0.95  # overlapping distributions: not a degenerate test


def test_kfold_accuracy_tiny_by_hand() -> None:
    scores = np.array([0.6, 0.4, 0.7, 0.55, 0.3])
    labels = np.array([True, False, True, False, False])
    folds = np.array([0, 0, 1, 1, 1])
    mean, std, per = kfold_accuracy(scores, labels, folds)
    # fold 0: fitted on {0.7 T, 0.55 F, 0.3 F} -> t = 0.625 -> 0.6 T rejected (wrong), 0.4 F ok -> 1/2
    # fold 1: fitted on {0.6 T, 0.4 F} -> t = 0.5 -> 0.7 T ok, 0.55 F accepted (wrong), 0.3 F ok -> 2/3
    np.testing.assert_allclose(per, [0.5, 2 / 3])
    assert mean == pytest.approx((0.5 + 2 / 3) / 2)
    assert std == pytest.approx((2 / 3 - 0.5) / 2)
    # A held-out score exactly on the fitted threshold is accepted (score >= t): t = (0.3 + 0.5) / 2.
    _, _, per = kfold_accuracy(
        np.array([0.4, 0.4, 0.3, 0.5]), np.array([True, True, False, True]), np.array([0, 0, 1, 1])
    )
    assert per[0] == 1.0
    with pytest.raises(ValueError, match="2 folds"):
        kfold_accuracy(scores, labels, np.zeros(5, int))


# ----------------------------------------------------------------------------- identification


def test_rank1_matches_naive() -> None:
    rng = np.random.default_rng(5)
    centres = rng.normal(size=(20, 16))
    gallery, glab = around(rng, centres, 2, 0.9)
    probes, plab = around(rng, centres, 3, 0.9)
    plab[:4] = 99  # unknown identities count as misses
    got = rank1(probes, plab, gallery, glab)
    assert got == pytest.approx(naive_rank1(probes, plab, gallery, glab))
    assert 0.3 < got < 0.95


def test_rank1_tiny_by_hand() -> None:
    gallery = np.array([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]])
    glab = np.array(["a", "b", "c"])
    probes = np.array([[5.0, 0.1], [0.1, 2.0], [1.0, 1.2], [1.0, -1.0]])
    plab = np.array(["a", "b", "b", "a"])
    # nearest: a, b, c (wrong), a
    assert rank1(probes, plab, gallery, glab) == pytest.approx(0.75)


@pytest.mark.parametrize("exclude_self", [True, False])
def test_recall_and_map_match_naive(exclude_self: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics, "_CHUNK_ELEMENTS", 500)  # force several blocks
    rng = np.random.default_rng(6)
    refs, rlab = clustered(rng, 15, 5, 12, 1.0)
    keep = np.ones(rlab.size, bool)
    keep[[0, 1, 5, 10, 11, 12, 20]] = False  # identities of 3, 4, 2 and 4 vectors: R varies per query
    refs, rlab = refs[keep], rlab[keep]
    if exclude_self:
        queries, qlab = refs, rlab
    else:
        queries, qlab = refs[::3] + 1.2 * rng.normal(size=refs[::3].shape).astype(np.float32), rlab[::3]
        rlab = rlab.copy()
        rlab[rlab == 3] = 42  # identity 3 absent from the references: R = 0 queries are left out
    ks = [1, 2, 4, 8]
    got = recall_at_k(queries, qlab, refs, rlab, ks, exclude_self)
    assert got == pytest.approx(naive_recall(queries, qlab, refs, rlab, ks, exclude_self))
    assert 0.0 < got[1] < got[8] <= 1.0
    got_map = map_at_r(queries, qlab, refs, rlab, exclude_self)
    assert got_map == pytest.approx(naive_map_at_r(queries, qlab, refs, rlab, exclude_self))
    assert 0.05 < got_map < 0.95


def test_recall_and_map_tiny_by_hand() -> None:
    # Query at angle 0; references at 10, 20, 30, 40 degrees; labels a, b, a, a; plus a far 'b'.
    ang = np.radians([10, 20, 30, 40, 180])
    refs = np.stack([np.cos(ang), np.sin(ang)], axis=1)
    rlab = np.array(["a", "b", "a", "a", "b"])
    query = np.array([[1.0, 0.0]])
    assert recall_at_k(query, np.array(["a"]), refs, rlab, [1], False) == {1: 1.0}
    assert recall_at_k(query, np.array(["b"]), refs, rlab, [1, 2], False) == {1: 0.0, 2: 1.0}
    # R = 3 for 'a': neighbours a, b, a -> (1/1 + 2/3) / 3
    assert map_at_r(query, np.array(["a"]), refs, rlab, False) == pytest.approx(5 / 9)
    # R = 2 for 'b': neighbours a, b -> (1/2) / 2
    assert map_at_r(query, np.array(["b"]), refs, rlab, False) == pytest.approx(1 / 4)
    with pytest.raises(ValueError, match="undefined"):
        map_at_r(query, np.array(["z"]), refs, rlab, False)
    with pytest.raises(ValueError, match="K must be"):
        recall_at_k(refs, rlab, refs, rlab, [5], True)
    with pytest.raises(ValueError, match="same length"):
        recall_at_k(query, np.array(["a"]), refs, rlab, [1], True)


def test_top_k_ties_broken_by_lower_index() -> None:
    rng = np.random.default_rng(7)
    neg = rng.integers(0, 4, size=(30, 25)).astype(np.float64)  # many exact ties
    for k in (1, 3, 10, 25):
        want = np.argsort(neg, axis=1, kind="stable")[:, :k]
        np.testing.assert_array_equal(metrics._top_k_rows(neg, k), want)


def test_open_set_identification_matches_naive() -> None:
    rng = np.random.default_rng(8)
    mated = rng.normal(0.6, 0.2, 500)
    correct = rng.random(500) < 0.9
    nonmated = rng.normal(0.2, 0.15, 700)
    for t in (0.0, 0.3, 0.45, 0.7):
        tpir, fpir = open_set_identification(mated, correct, nonmated, t)
        want_tpir = sum(1 for s, c in zip(mated, correct, strict=True) if c and s >= t) / len(mated)
        want_fpir = sum(1 for s in nonmated if s >= t) / len(nonmated)
        assert (tpir, fpir) == pytest.approx((want_tpir, want_fpir))


def test_open_set_identification_tiny_by_hand() -> None:
    tpir, fpir = open_set_identification(
        np.array([0.9, 0.8, 0.4]), np.array([True, False, True]), np.array([0.7, 0.3]), 0.5
    )
    assert tpir == pytest.approx(1 / 3) and fpir == pytest.approx(0.5)
