"""Anti-passback: pure tests on passages with explicit times."""

from __future__ import annotations

from desktop_app.core.access.model import CameraSpec, DoorSpec
from desktop_app.core.doors.passback import FORGET_AFTER_S, Passage, Passback, PassbackVerdict, zones
from desktop_app.core.vocabulary import Direction

IN, OUT = Direction.IN, Direction.OUT


def lobby(mode: str = "deny") -> list[DoorSpec]:
    """Entry through "front", exit through "back"; "side" is unpaired."""
    return [DoorSpec("front", (CameraSpec("0", IN),), passback_partner="back", passback=mode),  # type: ignore[arg-type]
            DoorSpec("back", (CameraSpec("1", OUT),)),
            DoorSpec("side", (CameraSpec("2", IN),))]


def test_zones_join_partner_links_both_ways() -> None:
    z = zones([DoorSpec("a", passback_partner="b", passback="deny"), DoorSpec("b", passback_partner="c",
                                                                             passback="flag"),
               DoorSpec("c"), DoorSpec("alone")])
    assert z["a"] == z["b"] == z["c"] == frozenset({"a", "b", "c"})
    assert "alone" not in z
    assert zones([DoorSpec("x", passback_partner="x", passback="deny")]) == {"x": frozenset({"x"})}


def test_second_entry_without_exit_is_denied_then_an_exit_clears_it() -> None:
    pb = Passback(lobby("deny"))
    assert pb.check(1, "front", IN, 100.0) == PassbackVerdict.OK
    pb.passed(Passage(1, "front", IN, 100.0))
    assert pb.check(1, "front", IN, 200.0) == PassbackVerdict.DENY
    assert pb.check(2, "front", IN, 200.0) == PassbackVerdict.OK  # someone else
    # the exit goes through the partner door, which checks nothing itself but moves the side
    assert pb.check(1, "back", OUT, 300.0) == PassbackVerdict.OFF
    pb.passed(Passage(1, "back", OUT, 300.0))
    assert pb.check(1, "front", IN, 400.0) == PassbackVerdict.OK


def test_flag_mode_flags_and_unpaired_doors_are_off() -> None:
    pb = Passback(lobby("flag"))
    pb.passed(Passage(7, "front", IN, 10.0))
    assert pb.check(7, "front", IN, 20.0) == PassbackVerdict.FLAG
    assert pb.check(7, "side", IN, 20.0) == PassbackVerdict.OFF
    pb.passed(Passage(7, "side", IN, 30.0))  # no zone: ignored
    assert pb.last(7, "side") is None and pb.last(7, "front") == Passage(7, "front", IN, 10.0)


def test_a_passage_is_forgotten_after_a_day() -> None:
    pb = Passback(lobby("deny"))
    pb.passed(Passage(1, "front", IN, 0.0))
    assert pb.check(1, "front", IN, FORGET_AFTER_S - 1) == PassbackVerdict.DENY
    assert pb.check(1, "front", IN, FORGET_AFTER_S + 1) == PassbackVerdict.OK


def test_rebuild_keeps_the_latest_passage_whatever_the_order() -> None:
    pb = Passback(lobby("deny"))
    known = pb.rebuild([Passage(1, "back", OUT, 50.0), Passage(1, "front", IN, 40.0), Passage(2, "front", IN, 45.0),
                        Passage(3, "side", IN, 45.0)])
    assert known == 2
    assert pb.check(1, "front", IN, 60.0) == PassbackVerdict.OK  # left last
    assert pb.check(2, "front", IN, 60.0) == PassbackVerdict.DENY  # entered, never left


def test_one_door_with_entry_and_exit_cameras() -> None:
    door = DoorSpec("gate", (CameraSpec("0", IN), CameraSpec("1", OUT)), passback_partner="gate", passback="deny")
    pb = Passback([door])
    pb.passed(Passage(5, "gate", IN, 1.0))
    assert pb.check(5, "gate", IN, 2.0) == PassbackVerdict.DENY
    assert pb.check(5, "gate", OUT, 2.0) == PassbackVerdict.OK
    pb.passed(Passage(5, "gate", OUT, 3.0))
    assert pb.check(5, "gate", OUT, 4.0) == PassbackVerdict.DENY  # a second exit without an entry
