"""Decision policy and IoU tracker: pure tests on synthetic observations with a fake clock."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from desktop_app.core.decision.policy import (
    GRANTED,
    UNKNOWN,
    DecisionConfig,
    DecisionEvent,
    DecisionPolicy,
    FrameObservation,
)
from desktop_app.core.decision.tracking import Box, IouTracker, iou
from desktop_app.core.types import PersonMatch

LEFT: Box = (100.0, 100.0, 80.0, 80.0)
RIGHT: Box = (400.0, 120.0, 90.0, 90.0)
FPS = 10.0


def seen(person: int, score: float, second: float = 0.1, box: Box = LEFT, ok: bool = True) -> FrameObservation:
    return FrameObservation(box=box, match=PersonMatch(person, score, second), quality_ok=ok)


class Clock:
    """Fake clock: one tick per frame at FPS frames per second."""

    def __init__(self) -> None:
        self.t = 1000.0

    def tick(self, seconds: float = 1.0 / FPS) -> float:
        self.t += seconds
        return self.t


def run(policy: DecisionPolicy, clock: Clock, frames: list[list[FrameObservation]]) -> list[list[DecisionEvent]]:
    return [policy.update(clock.tick(), f)[1] for f in frames]


def flat(per_frame: list[list[DecisionEvent]]) -> list[DecisionEvent]:
    return [e for f in per_frame for e in f]


CFG = DecisionConfig(threshold=0.5, margin=0.05, votes_needed=3, window=5, cooldown_s=10.0, unknown_after=8)


@pytest.mark.parametrize("votes_needed", [1, 3, 5])
def test_single_person_grants_once_after_exactly_votes_needed_frames(votes_needed: int) -> None:
    cfg = DecisionConfig(threshold=0.5, votes_needed=votes_needed, window=5)
    policy, clock = DecisionPolicy(cfg), Clock()
    per_frame = run(policy, clock, [[seen(7, 0.8)] for _ in range(40)])
    firing = [i for i, evs in enumerate(per_frame) if evs]
    assert firing == [votes_needed - 1]
    (ev,) = per_frame[votes_needed - 1]
    assert (ev.person_id, ev.decision, ev.votes, ev.frames) == (7, GRANTED, votes_needed, votes_needed)
    assert ev.score == pytest.approx(0.8) and ev.box == LEFT
    assert ev.ts == pytest.approx(1000.0 + votes_needed / FPS)


def test_cooldown_suppresses_reentry_and_allows_it_after_cooldown() -> None:
    policy, clock = DecisionPolicy(CFG), Clock()
    gap = [[] for _ in range(CFG.max_missed + 2)]  # long enough for the track to expire
    events = flat(run(policy, clock, [[seen(7, 0.8)] for _ in range(5)]))
    assert [e.person_id for e in events] == [7]
    first_track, first_ts = events[0].track_id, events[0].ts

    run(policy, clock, gap)
    # re-entry 1.3 s later: new track, person recognised, but no second announcement
    ids, evs = policy.update(clock.tick(), [seen(7, 0.8)])
    assert ids[0][0] != first_track
    again = evs + flat(run(policy, clock, [[seen(7, 0.8)] for _ in range(10)]))
    assert again == []
    # meanwhile another person is announced normally
    other = flat(run(policy, clock, [[seen(8, 0.8, box=RIGHT)] for _ in range(3)]))
    assert [e.person_id for e in other] == [8]

    run(policy, clock, gap)
    clock.tick(first_ts + CFG.cooldown_s - clock.t + 0.5)  # past the cooldown
    later = flat(run(policy, clock, [[seen(7, 0.8)] for _ in range(6)]))
    assert [(e.person_id, e.decision) for e in later] == [(7, GRANTED)]
    assert later[0].ts - first_ts >= CFG.cooldown_s


def test_cooldown_holds_across_simultaneous_tracks() -> None:
    # the same person on two tracks at once (e.g. a photo held up): announced once
    policy, clock = DecisionPolicy(CFG), Clock()
    events = flat(run(policy, clock, [[seen(7, 0.8), seen(7, 0.75, box=RIGHT)] for _ in range(6)]))
    assert [e.person_id for e in events] == [7]


def test_stranger_yields_exactly_one_unknown_event() -> None:
    policy, clock = DecisionPolicy(CFG), Clock()
    per_frame = run(policy, clock, [[seen(3, 0.3 + 0.01 * (i % 5))] for i in range(50)])
    firing = [i for i, evs in enumerate(per_frame) if evs]
    assert firing == [CFG.unknown_after - 1]
    (ev,) = per_frame[CFG.unknown_after - 1]
    assert ev.decision == UNKNOWN and ev.person_id is None and ev.votes == 0
    assert ev.score == pytest.approx(0.34)  # the best score the track had
    # a stranger against an empty gallery (no match at all) is unknown too
    policy2 = DecisionPolicy(CFG)
    evs = flat(run(policy2, clock, [[FrameObservation(LEFT, None)] for _ in range(20)]))
    assert [(e.decision, e.score) for e in evs] == [(UNKNOWN, -1.0)]


def test_poor_quality_frames_neither_vote_nor_count_towards_unknown() -> None:
    policy, clock = DecisionPolicy(CFG), Clock()
    assert flat(run(policy, clock, [[seen(7, 0.9, ok=False)] for _ in range(30)])) == []
    evs = flat(run(policy, clock, [[seen(7, 0.9)] for _ in range(3)]))
    assert [(e.person_id, e.decision, e.frames) for e in evs] == [(7, GRANTED, 33)]


def test_score_above_threshold_but_margin_too_small_never_grants() -> None:
    policy, clock = DecisionPolicy(CFG), Clock()
    events = flat(run(policy, clock, [[seen(7, 0.90, second=0.87)] for _ in range(40)]))
    assert all(e.decision != GRANTED for e in events)
    assert [e.decision for e in events] == [UNKNOWN]
    # the same scores with a clear margin grant
    policy, clock = DecisionPolicy(CFG), Clock()
    events = flat(run(policy, clock, [[seen(7, 0.90, second=0.80)] for _ in range(40)]))
    assert [e.decision for e in events] == [GRANTED]


def test_alternating_identities_never_grant() -> None:
    policy, clock = DecisionPolicy(CFG), Clock()
    frames = [[seen(7 if i % 2 else 8, 0.8)] for i in range(60)]
    events = flat(run(policy, clock, frames))
    assert events == []


def test_a_stray_vote_delays_the_grant_until_it_leaves_the_window() -> None:
    policy, clock = DecisionPolicy(CFG), Clock()
    frames = [[seen(8, 0.8)]] + [[seen(7, 0.8)] for _ in range(10)]
    per_frame = run(policy, clock, frames)
    firing = [i for i, evs in enumerate(per_frame) if evs]
    # votes for 7 from frame 1; the vote for 8 (frame 0) leaves the 5-frame window at frame 5
    assert firing == [5]
    assert per_frame[5][0].person_id == 7 and per_frame[5][0].votes == 5


def test_two_faces_in_one_frame_are_tracked_separately() -> None:
    policy, clock = DecisionPolicy(CFG), Clock()
    all_events: list[DecisionEvent] = []
    track_of: dict[int, set[int]] = {7: set(), 8: set()}
    for i in range(12):
        dx = 2.0 * i  # both walk a little
        a = seen(7, 0.8, box=(LEFT[0] + dx, LEFT[1], LEFT[2], LEFT[3]))
        b = seen(8, 0.7, box=(RIGHT[0] - dx, RIGHT[1], RIGHT[2], RIGHT[3]))
        obs = [a, b] if i % 2 else [b, a]  # the detector's order is not stable
        ids, evs = policy.update(clock.tick(), obs)
        assert [o for _, o in ids] == obs
        for tid, o in ids:
            assert o.match is not None
            track_of[o.match.person_id].add(tid)
        all_events += evs
    assert len(track_of[7]) == 1 and len(track_of[8]) == 1 and track_of[7] != track_of[8]
    assert sorted((e.person_id, e.track_id) for e in all_events) == [
        (7, next(iter(track_of[7]))),
        (8, next(iter(track_of[8]))),
    ]
    assert all(e.frames == 3 for e in all_events)


def test_reset_forgets_tracks_and_cooldowns() -> None:
    policy, clock = DecisionPolicy(CFG), Clock()
    assert len(flat(run(policy, clock, [[seen(7, 0.8)] for _ in range(4)]))) == 1
    policy.reset()
    assert len(flat(run(policy, clock, [[seen(7, 0.8)] for _ in range(4)]))) == 1


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="votes_needed"):
        DecisionConfig(threshold=0.5, votes_needed=6, window=5)
    with pytest.raises(ValueError, match="threshold"):
        DecisionConfig(threshold=1.5)
    with pytest.raises(ValueError, match="unknown_after"):
        DecisionConfig(threshold=0.5, unknown_after=0)


# ------------------------------------------------------------------------------------------
# tracker


def pixel_iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Naive reference: rasterise both integer boxes on a grid and count pixels."""
    grid_a = np.zeros((60, 60), bool)
    grid_b = np.zeros((60, 60), bool)
    grid_a[a[1] : a[1] + a[3], a[0] : a[0] + a[2]] = True
    grid_b[b[1] : b[1] + b[3], b[0] : b[0] + b[2]] = True
    union = (grid_a | grid_b).sum()
    return float((grid_a & grid_b).sum() / union) if union else 0.0


def test_iou_matches_pixel_counting() -> None:
    rng = np.random.default_rng(0)
    for _ in range(300):
        a = tuple(int(v) for v in (*rng.integers(0, 30, 2), *rng.integers(0, 25, 2)))
        b = tuple(int(v) for v in (*rng.integers(0, 30, 2), *rng.integers(0, 25, 2)))
        fa = (float(a[0]), float(a[1]), float(a[2]), float(a[3]))
        fb = (float(b[0]), float(b[1]), float(b[2]), float(b[3]))
        assert iou(fa, fb) == pytest.approx(pixel_iou(a, b), abs=1e-12)  # type: ignore[arg-type]


def test_tracker_keeps_ids_expires_after_max_missed_and_never_reuses_ids() -> None:
    tr = IouTracker(iou_threshold=0.3, max_missed=2)
    (a,) = tr.update([LEFT])
    a2, b = tr.update([(105.0, 102.0, 80.0, 80.0), RIGHT])
    assert a2 == a and b != a
    for _ in range(2):  # LEFT missing for max_missed frames: still alive
        assert tr.update([RIGHT]) == [b]
    assert tr.pop_expired() == []
    assert tr.update([LEFT]) == [a]  # comes back in time
    for _ in range(3):
        tr.update([RIGHT])
    assert tr.pop_expired() == [a] and tr.pop_expired() == []
    (c,) = tr.update([LEFT])
    assert c not in (a, b)
    assert {t.track_id for t in tr.tracks} == {b, c}


def test_tracker_greedy_assignment_prefers_the_larger_overlap() -> None:
    tr = IouTracker(iou_threshold=0.1)
    ids = tr.update([(0.0, 0.0, 10.0, 10.0), (8.0, 0.0, 10.0, 10.0)])
    # both new boxes overlap both tracks; each goes to the track it overlaps most
    new = tr.update([(7.0, 0.0, 10.0, 10.0), (1.0, 0.0, 10.0, 10.0)])
    assert new == [ids[1], ids[0]]
    for perm in itertools.permutations([(0.0, 0.0, 10.0, 10.0), (8.0, 0.0, 10.0, 10.0)]):
        t2 = IouTracker(iou_threshold=0.1)
        first = t2.update(list(perm))
        assert t2.update(list(perm)) == first


def test_tracker_splits_a_track_when_the_face_changes_in_place() -> None:
    """A scene cut: the box stays, the face changes; the new face must not inherit the track."""
    from desktop_app.core.decision.tracking import IouTracker

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 128))
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    tr = IouTracker(min_similarity=0.4)
    box = (100.0, 100.0, 80.0, 100.0)
    first = tr.update([box], [a])
    assert tr.update([box], [a + 0.05 * b / np.linalg.norm(a + 0.05 * b)]) == first  # same face
    assert tr.update([box], [b]) != first  # another face in the same place
    assert tr.update([box]) == tr.update([box])  # without features: boxes only


# ------------------------------------------------------------------------------------------
# vocabulary


def test_decisions_are_one_vocabulary_that_reads_as_plain_strings() -> None:
    from desktop_app.core.storage.records import DECISIONS
    from desktop_app.core.vocabulary import Decision, FaceState, SourceState

    policy, clock = DecisionPolicy(CFG), Clock()
    events = flat(run(policy, clock, [[seen(7, 0.8)] for _ in range(3)]))
    assert [type(e.decision) for e in events] == [Decision] and events[0].decision == "granted"
    assert f"{events[0].decision}" == "granted" and GRANTED is Decision.GRANTED and UNKNOWN is Decision.UNKNOWN
    assert DECISIONS == {"granted", "unknown", "denied", "ambiguous", "spoof"} == {d.value for d in Decision}
    assert FaceState.TOO_SMALL == "too-small" and FaceState("poor-view") is FaceState.POOR_VIEW
    assert SourceState.FAILED.final and not SourceState.LIVE.final
