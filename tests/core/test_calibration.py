"""Threshold calibration: score sets against naive O(n^2) references, tail estimators against
known distributions, the achieved FPIR of calibrated thresholds on fresh synthetic strangers, the
policy's validation, the findings as data (and stored), the bounded (sampled) searches against the
exact ones, and one photo per person (no mated pairs)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from statistics import NormalDist

import numpy as np
import pytest

from desktop_app.core.matching.calibration import calibrate, mated_scores, nonmated_top_scores
from desktop_app.core.matching.calibration_findings import (
    FallbackReason,
    Resolution,
    TailKind,
    TailSkipped,
    describe,
    findings_from_dict,
)
from desktop_app.core.matching.calibration_policy import CalibrationPolicy, TailModel
from desktop_app.core.matching.site_scores import nonmated_searches, search_rows, site_gallery
from desktop_app.core.matching.tail_estimators import empirical_threshold, exp_tail_threshold, norm_ppf

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
        t = empirical_threshold(np.sort(x)[::-1], x.size, rate)
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
        t, _, beta = exp_tail_threshold(desc, n, 1000, p)
        assert beta == pytest.approx(scale, rel=0.1)
        assert t == pytest.approx(shift + scale * math.log(1 / p), abs=0.03)


def test_norm_ppf_matches_statistics() -> None:
    q = np.array([1e-12, 1e-7, 1e-3, 0.02, 0.024, 0.3, 0.5, 0.8, 0.99, 1 - 1e-6])
    ref = [NormalDist().inv_cdf(float(v)) for v in q]
    np.testing.assert_allclose(norm_ppf(q), ref, atol=1e-7)


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
    cal = calibrate(vecs, pids, strangers, CalibrationPolicy(target_fpir=target), model_sha256="m")
    assert (cal.gallery_persons, cal.gallery_templates, cal.model_sha256) == (100, 100 * per_person, "m")
    f = cal.findings
    assert f is not None and f.resolution is Resolution.SITE_TAIL and cal.method == "person-max+tail-exponential"
    assert f.tail is not None and f.tail.kind is TailKind.EXPONENTIAL and f.tail.threshold == cal.threshold
    assert f.tail.bound is not None and f.tail.bound >= f.tail.point and f.prior_threshold is None
    assert f.searches_resolve == (target * (n_strangers + 100 * per_person) >= 1)
    assert cal.notes == describe(f)  # the prose is made from the data, in one place

    # the reported rates are those of the calibration searches at the threshold
    nonmated = nonmated_top_scores(vecs, pids, strangers)
    mated = mated_scores(vecs, pids)
    assert (cal.n_impostor, cal.n_genuine) == (nonmated.size, mated.size)
    assert (f.counts.searches, f.counts.stranger_searches, f.counts.mated) == (nonmated.size, n_strangers, mated.size)
    assert not f.counts.sampled and f.counts.per_person_scores == n_strangers * 100 + 100 * per_person * 99
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
        cal = calibrate(vecs[keep], pids[keep], strangers)
        assert cal.gallery_persons == n and cal.findings is not None and cal.findings.persons == n
        thresholds.append(cal.threshold)
    assert thresholds[0] < thresholds[1] < thresholds[2], thresholds


def test_gaussian_tail_option_is_less_strict_than_the_exponential() -> None:
    world = World(seed=13)
    vecs, pids = world.gallery(100)
    strangers = world.samples(world.persons(300), 1)
    exp = calibrate(vecs, pids, strangers)
    gau = calibrate(vecs, pids, strangers, CalibrationPolicy(tail_model=TailModel.GAUSSIAN))
    assert gau.findings is not None and gau.findings.tail is not None and exp.findings is not None
    assert gau.findings.tail.kind is TailKind.GAUSSIAN and gau.method == "person-max+tail-gaussian"
    assert exp.findings.tail is not None and exp.findings.tail.kind is TailKind.EXPONENTIAL
    assert gau.threshold < exp.threshold
    again = calibrate(vecs, pids, strangers)
    assert again == exp  # deterministic (seeded bootstrap), findings included
    with pytest.raises(ValueError, match="tail_model"):
        CalibrationPolicy(tail_model="pareto")  # type: ignore[arg-type]


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
    assert cal.findings is not None and cal.findings.resolution is Resolution.FALLBACK
    assert cal.findings.fallback_reason is FallbackReason.ONE_PERSON_NO_STRANGERS and math.isnan(cal.est_fpir)
    clipped = calibrate(empty, np.zeros(0, np.int64), None, fallback=3.0)
    assert clipped.threshold == 0.95 and clipped.findings is not None
    assert clipped.findings.fallback_reason is FallbackReason.EMPTY_GALLERY
    # one person but real strangers: calibrated from the strangers alone
    strangers = world.samples(world.persons(200), 1)
    cal = calibrate(vecs, pids, strangers, CalibrationPolicy(target_fpir=1e-2))
    assert cal.findings is not None and cal.findings.resolution is Resolution.SITE_TAIL
    assert cal.n_impostor == 200 and cal.n_genuine == 4 and cal.gallery_persons == 1
    assert (cal.findings.counts.stranger_searches, cal.findings.counts.enrolled_searches) == (200, 0)


def test_no_mated_pairs_reports_nan_fnir() -> None:
    world = World(seed=15)
    vecs, pids = world.gallery(50, per_person=1)
    cal = calibrate(vecs, pids, world.samples(world.persons(100), 1))
    assert math.isnan(cal.est_fnir) and cal.n_genuine == 0
    assert cal.findings is not None and cal.findings.counts.mated == 0


def test_duplicate_enrolment_is_flagged_and_extreme_thresholds_are_clipped() -> None:
    world = World(seed=16)
    vecs, pids = world.gallery(60)
    strangers = world.samples(world.persons(300), 1)
    # person 1 enrolled a second time as person 9999 (near-identical templates)
    dup = _unit(vecs[pids == 1] + 0.01 * world.rng.standard_normal((3, D)))
    cal = calibrate(np.concatenate([vecs, dup]), np.concatenate([pids, [9999] * 3]), strangers)
    f = cal.findings
    assert f is not None and f.resolution is Resolution.SITE_SEARCHES and cal.method == "person-max+empirical"
    assert f.suspected_double_enrolments[0].person_a == 1 and f.suspected_double_enrolments[0].person_b == 9999
    assert f.suspected_double_enrolments[0].score > 0.99 and not f.suspected_double_enrolments[0].excluded
    assert cal.threshold == 0.95 and f.clipped_from is not None and f.clipped_from > 0.99


@pytest.mark.parametrize(
    "call",
    [
        lambda v, p, s: calibrate(v, p[:-1], s),
        lambda v, p, s: calibrate(v, p, s[:, :-1]),
        lambda v, p, s: calibrate(v * np.nan, p, s),
        lambda v, p, s: calibrate(v, p.astype(float), s),
        lambda v, p, s: calibrate(v, p, s, prior_threshold=float("nan")),
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
    cal = calibrate(vecs, pids, None, prior_threshold=0.47)
    # no non-mated data at all: the safe side, prior + margin, said so (never a silent fallback)
    f = cal.findings
    assert f is not None and f.resolution is Resolution.SAFE_SIDE and f.safe_margin == 0.05
    assert cal.threshold == pytest.approx(0.52) and f.safe_side_threshold == pytest.approx(0.52)
    assert (cal.n_impostor, cal.n_genuine) == (0, 3) and f.empirical_threshold is None
    assert cal.est_fnir == pytest.approx(float(np.mean(mated_scores(vecs, pids) < cal.threshold)))
    plain = calibrate(vecs, pids, None, CalibrationPolicy(safe_margin=0.0), prior_threshold=0.47)
    assert plain.threshold == pytest.approx(0.47)
    assert calibrate(vecs, pids, None, prior_threshold=1.2).threshold == 0.95  # clipped


def test_prior_threshold_is_a_floor_under_the_site_estimate() -> None:
    world = World(seed=19)
    vecs, pids = world.gallery(50)
    strangers = world.samples(world.persons(300), 1)
    policy = CalibrationPolicy(target_fpir=1e-2)
    own = calibrate(vecs, pids, strangers, policy)
    low = calibrate(
        vecs, pids, strangers, CalibrationPolicy(target_fpir=1e-2, site_tail=True), prior_threshold=own.threshold - 0.1
    )
    assert (low.threshold, low.method) == (own.threshold, own.method)
    high = calibrate(vecs, pids, strangers, policy, prior_threshold=own.threshold + 0.1)
    assert high.findings is not None and high.findings.searches_resolve  # 450 searches resolve 1e-2
    assert high.findings.resolution is Resolution.MODEL_PRIOR and high.findings.safe_side_threshold is None
    assert high.method == "person-max+prior" and high.threshold == pytest.approx(own.threshold + 0.1)
    nonmated = nonmated_top_scores(vecs, pids, strangers)
    assert high.est_fpir == pytest.approx(float(np.mean(nonmated >= high.threshold)))


def test_with_a_prior_the_site_tail_is_only_fitted_on_request() -> None:
    """By default the prior stands in for the site's tail model; the empirical check stays."""
    world = World(seed=19)
    vecs, pids = world.gallery(50)
    strangers = world.samples(world.persons(300), 1)
    policy = CalibrationPolicy(target_fpir=1e-2)
    own = calibrate(vecs, pids, strangers, policy)
    floor = own.threshold - 0.1
    default = calibrate(vecs, pids, strangers, policy, prior_threshold=floor)
    assert default.findings is not None and default.findings.tail is None
    assert default.findings.tail_skipped is TailSkipped.PRIOR_STANDS_IN
    nonmated = nonmated_top_scores(vecs, pids, strangers)
    emp = float(np.quantile(nonmated, 1 - 1e-2))
    assert default.threshold >= min(floor, emp) - 1e-6
    assert default.threshold <= own.threshold


def test_a_face_enrolled_twice_is_reported_not_allowed_to_lock_everyone_out() -> None:
    """Two names, one face: each is the other's best match. With a prior, the coarse empirical
    maximum (that pair's score) must not become the threshold; the pair is in the findings."""
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
    cal = calibrate(v, p, None, prior_threshold=0.5)
    f = cal.findings
    assert f is not None and [(d.person_a, d.person_b, d.excluded) for d in f.suspected_double_enrolments] == [
        (0, 1, True)
    ]
    assert f.suspected_double_enrolments[0].score > 0.5 and f.counts.excluded_searches == 6
    # 114 searches cannot resolve 1e-3: the safe side (prior + margin), not the pair's score
    assert f.resolution is Resolution.SAFE_SIDE and cal.threshold == pytest.approx(0.55)
    assert f.site_check is not None and f.site_check.consistent and not f.empirical_binding
    plain = calibrate(v, p, None, prior_threshold=None)
    assert plain.threshold > 0.8  # without a prior the duplicate pair sets the bar


# ------------------------------------------------------------------------------------------
# the policy, validated in one place


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("target_fpir", 0.0),
        ("target_fpir", 1.5),
        ("target_fpir", float("nan")),
        ("clip", (0.9, 0.2)),
        ("clip", (-2.0, 0.5)),
        ("confidence", 1.0),
        ("tail_fraction", 0.0),
        ("min_tail", 2),
        ("n_boot", -1),
        ("safe_margin", -0.01),
        ("max_stranger_searches", 10),
        ("max_enrolled_searches", 2.5),
        ("site_tail", "yes"),
    ],
)
def test_policy_rejects_nonsense_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        CalibrationPolicy(**{field: value})  # type: ignore[arg-type]


def test_policy_normalises_its_values() -> None:
    p = CalibrationPolicy(clip=(0, 1), tail_model="gaussian")  # type: ignore[arg-type]
    assert p.clip == (0.0, 1.0) and p.tail_model is TailModel.GAUSSIAN


# ------------------------------------------------------------------------------------------
# findings: data, stored with the calibration


def test_findings_round_trip_through_a_real_store(tmp_path: object) -> None:
    """Saved and read back with their findings; a calibration without mated pairs (NaN FNIR) and
    one without non-mated searches (NaN FPIR) can be stored (they raised "must be finite" before)."""
    from pathlib import Path

    from desktop_app.core.storage import Store

    world = World(seed=20)
    vecs, pids = world.gallery(30, per_person=1)
    one_photo = calibrate(vecs, pids, None, prior_threshold=0.4, model_sha256="m" * 64)
    one_person = calibrate(vecs[:1], pids[:1], None, prior_threshold=0.4, model_sha256="m" * 64)
    assert math.isnan(one_photo.est_fnir) and math.isnan(one_person.est_fpir)
    f = one_photo.findings
    assert f is not None and findings_from_dict(f.to_dict()) == f
    with Store(Path(str(tmp_path)) / "cal.db") as store:
        for cal in (one_photo, one_person):
            store.save_calibration(cal)
            back = store.latest_calibration(cal.model_sha256)
            assert back is not None and back.findings == cal.findings and back.notes == cal.notes
            assert back.threshold == cal.threshold and back.n_impostor == cal.n_impostor
            for rate in ("est_fpir", "est_fnir"):
                a, b = getattr(back, rate), getattr(cal, rate)
                assert (math.isnan(a) and math.isnan(b)) or a == b
        with pytest.raises(ValueError, match="est_fpir"):
            store.save_calibration(replace(one_photo, est_fpir=-0.5))  # -1 means "not measured" in the file
        # a row written before findings were kept (a plain list of notes) still reads
        store.db.execute("UPDATE calibrations SET notes_json = '[\"old note\"]'")
        old = store.latest_calibration("m" * 64)
        assert old is not None and old.findings is None and old.notes == ("old note",)


# ------------------------------------------------------------------------------------------
# bounded cost: sampled searches agree with the exact ones


def test_sampled_searches_agree_with_the_exact_calibration() -> None:
    world = World(seed=21)
    vecs, pids = world.gallery(400)  # 1,200 templates
    strangers = world.samples(world.persons(1500), 1)
    policy = CalibrationPolicy(target_fpir=1e-2)
    exact = calibrate(vecs, pids, strangers, policy)
    capped = CalibrationPolicy(target_fpir=1e-2, max_stranger_searches=600, max_enrolled_searches=500)
    bounded = calibrate(vecs, pids, strangers, capped)
    assert exact.findings is not None and bounded.findings is not None
    c = bounded.findings.counts
    assert (c.stranger_pool, c.stranger_searches, c.enrolled_templates, c.enrolled_searches) == (1500, 600, 1200, 500)
    assert c.sampled and not exact.findings.counts.sampled
    assert bounded.findings.resolution is exact.findings.resolution
    # 1,100 searches at 1e-2: the estimator resolves 1/1100; thresholds agree within a few hundredths
    assert abs(bounded.threshold - exact.threshold) < 0.03, (bounded.threshold, exact.threshold)
    assert bounded == calibrate(vecs, pids, strangers, capped)  # seeded: deterministic
    # caps at or above the data: the very same calibration
    wide = CalibrationPolicy(target_fpir=1e-2, max_stranger_searches=1500, max_enrolled_searches=1200)
    assert calibrate(vecs, pids, strangers, wide) == exact


def test_a_double_enrolment_is_found_when_only_one_side_was_sampled() -> None:
    """Mutual best matches need both directions: when only one twin's template was among the
    sampled searches, the other twin's searches are run for the check, so the pair is still found
    and left out; when neither was sampled, it cannot distort the searches."""
    world = World(seed=22)
    vecs, pids = world.gallery(300)
    twin = _unit(vecs[pids == 1] + 0.01 * world.rng.standard_normal((3, D)))
    v, p = np.concatenate([vecs, twin]), np.concatenate([pids, [9999] * 3])
    outcomes = set()
    for seed in range(8):
        policy = CalibrationPolicy(max_enrolled_searches=100, seed=seed)
        rows = search_rows(p.size, 100, np.random.default_rng((seed, 1)))  # the sample calibrate draws
        assert rows is not None
        one_side = set(p[rows].tolist()) & {1, 9999}
        cal = calibrate(v, p, None, policy, prior_threshold=0.6)
        assert cal.findings is not None
        pairs = [(d.person_a, d.person_b) for d in cal.findings.suspected_double_enrolments if d.excluded]
        assert ((1, 9999) in pairs) == bool(one_side), (seed, one_side, pairs)
        assert cal.findings.counts.excluded_searches == int(np.isin(p[rows], [1, 9999]).sum())
        outcomes.add(len(one_side))
    assert outcomes & {1}, outcomes  # the one-sided case did occur


# ------------------------------------------------------------------------------------------
# one photo per person


def test_one_photo_per_person_calibrates_on_the_safe_side() -> None:
    """No mated pairs: the enrolled people are impostors for each other, no crash, and while their
    few searches cannot resolve the target the threshold is the prior plus the safety margin."""
    world = World(seed=23)
    vecs, pids = world.gallery(20, per_person=1)
    cal = calibrate(vecs, pids, None, prior_threshold=0.45)
    f = cal.findings
    assert f is not None and f.counts.mated == 0 and math.isnan(cal.est_fnir)
    assert f.counts.enrolled_searches == 20 and not f.searches_resolve
    assert f.resolution is Resolution.SAFE_SIDE and cal.method == "person-max+safe-side"
    assert cal.threshold == pytest.approx(0.50) and cal.threshold >= 0.45
    # once the stranger pool resolves the target, the site's data decides (no margin)
    strangers = world.samples(world.persons(2000), 1)
    grown = calibrate(vecs, pids, strangers, prior_threshold=0.45)
    assert grown.findings is not None and grown.findings.searches_resolve
    assert grown.findings.resolution in (Resolution.MODEL_PRIOR, Resolution.SITE_SEARCHES)
    assert grown.findings.safe_side_threshold is None and grown.threshold >= 0.45


def test_top_only_searches_match_the_per_person_searches() -> None:
    """Without a tail to keep, the searches skip the per-person reduction: same tops, same persons."""
    world = World(seed=24)
    vecs, pids = world.gallery(80, per_person=3)
    vecs[5] = vecs[9]  # a tie between two persons' templates
    strangers = world.samples(world.persons(50), 1)
    g = site_gallery(vecs, pids[np.random.default_rng(0).permutation(pids.size)])
    rows = np.array([3, 7, 100, 239])
    for loo in (None, rows):
        fast = nonmated_searches(g, strangers, 0, None, loo)
        full = nonmated_searches(g, strangers, 10, None, loo)
        for name in ("stranger_top", "stranger_best", "loo_rows", "loo_top", "loo_best", "probe_entries"):
            np.testing.assert_array_equal(getattr(fast, name), getattr(full, name), err_msg=name)
