"""Threshold calibration: score sets against naive O(n^2) references, tail estimators against
known distributions, and the achieved FPIR of calibrated thresholds on fresh synthetic strangers."""

from __future__ import annotations

import math
from collections.abc import Callable
from statistics import NormalDist

import numpy as np
import pytest

from desktop_app.core.matching.calibration import (
    _empirical_threshold,
    _exp_tail_threshold,
    _norm_ppf,
    calibrate,
    mated_scores,
    nonmated_top_scores,
)

D = 128


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


class World:
    """Synthetic identities whose non-mated score tail has the shape measured with the shipped
    SFace model on LFW (standardised per-person quantiles at 1e-3 / 1e-4 / 1e-5 of about 3.1 / 3.8
    / 4.3, i.e. close to Gaussian): person centres from 30 loose 'demographic' groups, so people of
    one group look a little alike; samples are centre + noise, L2-normalised, in 128-D."""

    def __init__(self, seed: int, noise: float = 0.6) -> None:
        self.rng = np.random.default_rng(seed)
        self.groups = self.rng.standard_normal((30, D)) * 0.4
        self.noise = noise

    def persons(self, n: int) -> np.ndarray:
        return self.groups[self.rng.integers(0, 30, n)] + self.rng.standard_normal((n, D))

    def samples(self, centres: np.ndarray, per_person: int) -> np.ndarray:
        x = np.repeat(centres, per_person, axis=0)
        return _unit(x + self.noise * self.rng.standard_normal(x.shape))

    def gallery(self, n_persons: int, per_person: int = 3) -> tuple[np.ndarray, np.ndarray]:
        vecs = self.samples(self.persons(n_persons), per_person)
        return vecs, np.repeat(np.arange(n_persons) * 7 + 1, per_person)


def person_score_matrix(vecs: np.ndarray, pids: np.ndarray, probes: np.ndarray) -> np.ndarray:
    """(Q, P) best score of each person's templates for each probe (vectorised, for fresh sets)."""
    persons = np.unique(pids)
    sims = probes @ vecs.T
    return np.stack([sims[:, pids == p].max(axis=1) for p in persons], axis=1)


# ------------------------------------------------------------------------------------------
# score sets against naive references


def naive_mated(vecs: np.ndarray, pids: np.ndarray) -> list[float]:
    out = []
    for i in range(len(pids)):
        same = [float(np.dot(vecs[i], vecs[j])) for j in range(len(pids)) if j != i and pids[j] == pids[i]]
        if same:
            out.append(max(same))
    return out


def naive_nonmated(vecs: np.ndarray, pids: np.ndarray, strangers: np.ndarray) -> list[float]:
    out = [max(float(np.dot(s, v)) for v in vecs) for s in strangers]
    if len(set(pids.tolist())) >= 2:
        for i in range(len(pids)):
            out.append(max(float(np.dot(vecs[i], vecs[j])) for j in range(len(pids)) if pids[j] != pids[i]))
    return out


def test_mated_scores_match_naive_reference() -> None:
    rng = np.random.default_rng(0)
    pids = np.array([5, 3, 5, 9, 3, 3, 1, 5, 4, 4])  # 1 and 9 have a single template
    vecs = _unit(rng.standard_normal((pids.size, 8)))
    got = mated_scores(vecs, pids)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, naive_mated(vecs, pids), atol=1e-6)
    assert mated_scores(vecs[:1], pids[:1]).size == 0


@pytest.mark.parametrize("n_strangers", [0, 7])
def test_nonmated_top_scores_match_naive_reference(n_strangers: int) -> None:
    rng = np.random.default_rng(1)
    pids = np.array([2, 8, 2, 6, 8, 8, 6, 11])
    vecs = _unit(rng.standard_normal((pids.size, 8)))
    strangers = _unit(rng.standard_normal((n_strangers, 8)))
    got = nonmated_top_scores(vecs, pids, strangers)
    assert got.dtype == np.float32 and got.size == n_strangers + pids.size
    np.testing.assert_allclose(got, naive_nonmated(vecs, pids, strangers), atol=1e-6)
    # one person: only the strangers search
    one = nonmated_top_scores(vecs[pids == 2], pids[pids == 2], strangers)
    np.testing.assert_allclose(one, naive_nonmated(vecs[pids == 2], pids[pids == 2], strangers), atol=1e-6)
    assert one.size == n_strangers


def test_empirical_threshold_is_the_smallest_threshold_meeting_the_rate() -> None:
    rng = np.random.default_rng(2)
    for _ in range(50):
        x = np.round(rng.standard_normal(int(rng.integers(5, 60))), 1).astype(np.float32)  # with ties
        rate = float(rng.choice([0.0, 0.01, 0.05, 0.1, 0.3]))
        t = _empirical_threshold(np.sort(x)[::-1], x.size, rate)
        assert np.mean(x >= t) <= rate
        candidates = np.unique(np.concatenate([x, np.nextafter(x, np.float32(np.inf))]))
        valid = [c for c in candidates if np.mean(x >= c) <= rate]
        assert t == pytest.approx(float(min(valid)))


def test_exponential_tail_recovers_a_known_tail() -> None:
    rng = np.random.default_rng(3)
    n, scale, shift = 200_000, 0.05, 0.1
    x = (shift + rng.exponential(scale, n)).astype(np.float32)
    desc = np.sort(x)[::-1]
    for p in (1e-4, 1e-6):
        t, _, beta = _exp_tail_threshold(desc, n, 1000, p)
        assert beta == pytest.approx(scale, rel=0.1)
        assert t == pytest.approx(shift + scale * math.log(1 / p), abs=0.03)


def test_norm_ppf_matches_statistics() -> None:
    q = np.array([1e-12, 1e-7, 1e-3, 0.02, 0.024, 0.3, 0.5, 0.8, 0.99, 1 - 1e-6])
    ref = [NormalDist().inv_cdf(float(v)) for v in q]
    np.testing.assert_allclose(_norm_ppf(q), ref, atol=1e-7)


# ------------------------------------------------------------------------------------------
# calibrated thresholds on synthetic worlds


@pytest.mark.parametrize(
    ("target", "n_strangers", "per_person"),
    [
        (1e-2, 300, 3),
        # 20 strangers + 100 leave-one-person-out searches cannot resolve 1e-3: the empirical
        # threshold alone lets through about 1 stranger in 70 here; the tail model carries it
        (1e-3, 20, 1),
    ],
)
def test_achieved_fpir_on_fresh_strangers_stays_near_or_below_target(
    target: float, n_strangers: int, per_person: int
) -> None:
    world = World(seed=0)
    vecs, pids = world.gallery(100, per_person)
    strangers = world.samples(world.persons(n_strangers), 1)
    cal = calibrate(vecs, pids, strangers, target_fpir=target, model_sha256="m")
    assert (cal.gallery_persons, cal.gallery_templates, cal.model_sha256) == (100, 100 * per_person, "m")
    assert cal.method == "person-max+tail-exponential" and cal.notes

    # the reported rates are those of the calibration searches at the threshold
    nonmated = nonmated_top_scores(vecs, pids, strangers)
    mated = mated_scores(vecs, pids)
    assert (cal.n_impostor, cal.n_genuine) == (nonmated.size, mated.size)
    assert cal.est_fpir == pytest.approx(float(np.mean(nonmated >= cal.threshold)))
    if per_person > 1:
        assert cal.est_fnir == pytest.approx(float(np.mean(mated < cal.threshold)))
    else:
        assert math.isnan(cal.est_fnir)

    fresh = world.samples(world.persons(30_000), 1)
    scores = person_score_matrix(vecs, pids, fresh)
    top = scores.max(axis=1)
    achieved = float(np.mean(top >= cal.threshold))
    assert achieved <= 1.5 * target, (achieved, cal)
    # the test can tell: a per-comparison threshold (no correction for 100 persons) fails it badly
    naive = float(np.quantile(scores, 1 - target))
    assert float(np.mean(top >= naive)) > 10 * target
    # ... and the calibrated threshold is not absurdly strict
    oracle = float(np.quantile(top, 1 - target))
    assert oracle - 0.02 <= cal.threshold <= oracle + 0.1


def test_threshold_rises_with_the_number_of_enrolled_persons() -> None:
    world = World(seed=12)
    vecs, pids = world.gallery(1000)
    strangers = world.samples(world.persons(1000), 1)
    thresholds = []
    for n in (10, 100, 1000):
        keep = pids < pids[3 * n] if n < 1000 else np.ones(pids.size, bool)
        cal = calibrate(vecs[keep], pids[keep], strangers, target_fpir=1e-3)
        assert cal.gallery_persons == n
        thresholds.append(cal.threshold)
    assert thresholds[0] < thresholds[1] < thresholds[2], thresholds


def test_gaussian_tail_option_is_less_strict_than_the_exponential() -> None:
    world = World(seed=13)
    vecs, pids = world.gallery(100)
    strangers = world.samples(world.persons(300), 1)
    exp = calibrate(vecs, pids, strangers, target_fpir=1e-3)
    gau = calibrate(vecs, pids, strangers, target_fpir=1e-3, tail_model="gaussian")
    assert gau.method.endswith("tail-gaussian") and exp.method.endswith("tail-exponential")
    assert gau.threshold < exp.threshold
    again = calibrate(vecs, pids, strangers, target_fpir=1e-3)
    assert again == exp  # deterministic (seeded bootstrap)
    with pytest.raises(ValueError, match="tail_model"):
        calibrate(vecs, pids, strangers, tail_model="pareto")


# ------------------------------------------------------------------------------------------
# guard rails


def test_empty_or_single_person_inputs_need_a_fallback() -> None:
    world = World(seed=14)
    vecs, pids = world.gallery(1, per_person=4)
    empty = np.zeros((0, D), np.float32)
    with pytest.raises(ValueError, match="gallery is empty"):
        calibrate(empty, np.zeros(0, np.int64), None)
    with pytest.raises(ValueError, match="only one person"):
        calibrate(vecs, pids, None)
    cal = calibrate(vecs, pids, empty, fallback=0.363)
    assert (cal.threshold, cal.method, cal.n_impostor) == (0.363, "fallback", 0)
    assert math.isnan(cal.est_fpir) and "fallback" in cal.notes[0]
    assert calibrate(empty, np.zeros(0, np.int64), None, fallback=3.0).threshold == 0.95  # clipped
    # one person but real strangers: calibrated from the strangers alone
    strangers = world.samples(world.persons(200), 1)
    cal = calibrate(vecs, pids, strangers, target_fpir=1e-2)
    assert cal.method != "fallback" and cal.n_impostor == 200 and cal.n_genuine == 4
    assert cal.gallery_persons == 1


def test_no_mated_pairs_reports_nan_fnir() -> None:
    world = World(seed=15)
    vecs, pids = world.gallery(50, per_person=1)
    cal = calibrate(vecs, pids, world.samples(world.persons(100), 1))
    assert math.isnan(cal.est_fnir) and cal.n_genuine == 0
    assert any("FNIR cannot be estimated" in n for n in cal.notes)


def test_duplicate_enrolment_is_flagged_and_extreme_thresholds_are_clipped() -> None:
    world = World(seed=16)
    vecs, pids = world.gallery(60)
    strangers = world.samples(world.persons(300), 1)
    # person 1 enrolled a second time as person 9999 (near-identical templates)
    dup = _unit(vecs[pids == 1] + 0.01 * world.rng.standard_normal((3, D)))
    cal = calibrate(np.concatenate([vecs, dup]), np.concatenate([pids, [9999] * 3]), strangers)
    assert cal.method == "person-max+empirical"
    assert any("persons 1 and 9999" in n or "persons 9999 and 1" in n for n in cal.notes), cal.notes
    assert cal.threshold == 0.95 and any("clipped" in n for n in cal.notes)


@pytest.mark.parametrize(
    "call",
    [
        lambda v, p, s: calibrate(v, p, s, target_fpir=0.0),
        lambda v, p, s: calibrate(v, p, s, target_fpir=1.5),
        lambda v, p, s: calibrate(v, p[:-1], s),
        lambda v, p, s: calibrate(v, p, s[:, :-1]),
        lambda v, p, s: calibrate(v * np.nan, p, s),
        lambda v, p, s: calibrate(v, p, s, clip=(0.9, 0.2)),
    ],
)
def test_bad_arguments_raise_value_error(call: Callable[[np.ndarray, np.ndarray, np.ndarray], object]) -> None:
    world = World(seed=17)
    vecs, pids = world.gallery(5)
    with pytest.raises(ValueError):
        call(vecs, pids, world.samples(world.persons(10), 1))


# ------------------------------------------------------------------------------------------
# model prior floor


def test_prior_threshold_alone_for_a_single_person_without_strangers() -> None:
    world = World(seed=18)
    vecs, pids = world.gallery(1, per_person=3)
    cal = calibrate(vecs, pids, None, target_fpir=1e-3, prior_threshold=0.47)
    assert (cal.method, cal.threshold, cal.n_impostor, cal.n_genuine) == ("prior", 0.47, 0, 3)
    assert cal.est_fnir == pytest.approx(float(np.mean(mated_scores(vecs, pids) < 0.47)))
    assert calibrate(vecs, pids, None, prior_threshold=1.2).threshold == 0.95  # clipped


def test_prior_threshold_is_a_floor_under_the_site_estimate() -> None:
    world = World(seed=19)
    vecs, pids = world.gallery(50)
    strangers = world.samples(world.persons(300), 1)
    own = calibrate(vecs, pids, strangers, target_fpir=1e-2)
    low = calibrate(vecs, pids, strangers, target_fpir=1e-2, prior_threshold=own.threshold - 0.1, site_tail=True)
    assert (low.threshold, low.method) == (own.threshold, own.method)
    high = calibrate(vecs, pids, strangers, target_fpir=1e-2, prior_threshold=own.threshold + 0.1)
    assert high.method == "person-max+prior" and high.threshold == pytest.approx(own.threshold + 0.1)
    nonmated = nonmated_top_scores(vecs, pids, strangers)
    assert high.est_fpir == pytest.approx(float(np.mean(nonmated >= high.threshold)))


def test_with_a_prior_the_site_tail_is_only_fitted_on_request() -> None:
    """By default the prior stands in for the site's tail model; the empirical check stays."""
    world = World(seed=19)
    vecs, pids = world.gallery(50)
    strangers = world.samples(world.persons(300), 1)
    own = calibrate(vecs, pids, strangers, target_fpir=1e-2)
    floor = own.threshold - 0.1
    default = calibrate(vecs, pids, strangers, target_fpir=1e-2, prior_threshold=floor)
    assert not any("modelled threshold" in n for n in default.notes)
    nonmated = nonmated_top_scores(vecs, pids, strangers)
    emp = float(np.quantile(nonmated, 1 - 1e-2))
    assert default.threshold >= min(floor, emp) - 1e-6
    assert default.threshold <= own.threshold


def test_a_face_enrolled_twice_is_reported_not_allowed_to_lock_everyone_out() -> None:
    """Two names, one face: each is the other's best match. With a prior, the coarse empirical
    maximum (that pair's score) must not become the threshold; the pair is named in the notes."""
    rng = np.random.default_rng(3)
    d, persons = 64, 40
    centres = rng.standard_normal((persons, d))
    centres[1] = centres[0]  # person 1 is person 0 under another name
    vecs, pids = [], []
    for pid in range(persons):
        for _ in range(3):
            x = centres[pid] + 0.35 * rng.standard_normal(d) * np.linalg.norm(centres[pid]) / np.sqrt(d)
            vecs.append(x / np.linalg.norm(x))
            pids.append(pid)
    v, p = np.asarray(vecs, np.float32), np.asarray(pids)
    cal = calibrate(v, p, None, target_fpir=1e-3, prior_threshold=0.5)
    assert cal.threshold == pytest.approx(0.5)
    assert any("0 and 1" in n and "enrolled twice" in n for n in cal.notes), cal.notes
    plain = calibrate(v, p, None, target_fpir=1e-3, prior_threshold=None)
    assert plain.threshold > 0.8  # without a prior the duplicate pair sets the bar
