"""The Unknown faces page (issue 14), clicked: real FaceGate, real LFW faces logged as unknown door
events on different days, real widgets offscreen, dialogs answered.

Two visitors (three photos of Colin Powell, three of Tony Blair) show as two cards; "Enrol as new
person…" enrols Powell (he is then recognised), two later photos of him are a new card that "Add to
existing person…" adds to him, "Ignore" hides Blair's card (shown again with
"Show ignored"), "Delete…" deletes it and its faces; every action is in the audit log.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from desktop_app.core.service import FaceGate
from desktop_app.core.video.imageio import read_image

PIN = "582914"
VISITORS = {"Colin_Powell": (1, 2, 3), "Tony_Blair": (1, 2, 3)}


def log_unknown_photos(gate: FaceGate, lfw: Path, visitors: dict[str, tuple[int, ...]]) -> dict[str, list[int]]:
    """Each photo's face logged as an unknown door event (one day apart); event ids per visitor."""
    out: dict[str, list[int]] = {}
    day = 0
    for name, numbers in visitors.items():
        for n in numbers:
            face = gate.engine.main_face(read_image(lfw / name / f"{name}_{n:04d}.jpg"))
            assert face is not None
            day += 1
            rec = gate.record_event(person_id=None, score=-1.0, decision="unknown", camera="lobby",
                                    ts=datetime.now(UTC) - timedelta(days=7 - day), snapshot=face.crop, face=face)
            assert rec is not None and rec.event_id is not None
            out.setdefault(name, []).append(rec.event_id)
    return out


@pytest.fixture(scope="module")
def gate(tmp_path_factory: pytest.TempPathFactory, lfw: Path) -> Iterator[tuple[FaceGate, dict[str, list[int]]]]:
    g = FaceGate(tmp_path_factory.mktemp("unknowns-page") / "facegate.db", device="cpu")
    events = log_unknown_photos(g, lfw, VISITORS)
    yield g, events
    g.close()


def _card_of(page: Any, events: list[int]) -> int:
    return next(c.cluster.id for c in page.cards if set(c.cluster.sample_event_ids) & set(events))


def test_the_gallery_enrols_ignores_and_deletes_by_clicks(gate: tuple[FaceGate, dict[str, list[int]]], lfw: Path,
                                                          open_admin_window: Any, clicks: Any, qtbot: Any) -> None:
    g, events = gate
    win = open_admin_window(g, PIN)
    clicks.nav(win, "unknowns")
    page = win.unknowns
    qtbot.waitUntil(lambda: len(page.cards) == 2 and not page.loading, timeout=20000)
    assert {c.cluster.count for c in page.cards} == {3}
    assert all(len(c.crops) == 3 and c.crops[0].shape == (112, 112, 3) for c in page.cards)
    assert "3 faces" in page.gallery.item(0).text()

    # enrol Powell's cluster as a new person
    powell = _card_of(page, events["Colin_Powell"])
    assert page.select(powell)

    def fill(dialog: Any) -> None:
        dialog.name.setText("Colin Powell")
        clicks.click(dialog.buttons.button(dialog.buttons.StandardButton.Ok))

    answered = clicks.on_next_modal(fill)
    clicks.click(page.enrol_btn)
    assert answered, "the enrol dialog opened"
    qtbot.waitUntil(lambda: len(page.cards) == 1 and not page.loading, timeout=20000)
    person = g.find_person("Colin Powell")
    assert person is not None and person.n_samples == 3
    assert "Enrolled 3 face(s)" in page.status.text()
    names = {r.name for r in g.identify(read_image(lfw / "Colin_Powell" / "Colin_Powell_0004.jpg")) if r.accepted}
    assert names == {"Colin Powell"}, "another photo of him is recognised now"

    # he comes back (two new photos): a new card, added to the existing person
    more = log_unknown_photos(g, lfw, {"Colin_Powell": (5, 6)})["Colin_Powell"]
    clicks.click(page.refresh_btn)
    qtbot.waitUntil(lambda: len(page.cards) == 2 and not page.loading, timeout=20000)
    assert page.select(_card_of(page, more))

    def pick(dialog: Any) -> None:
        dialog.person.setCurrentIndex(dialog.person.findText("Colin Powell"))
        clicks.click(dialog.buttons.button(dialog.buttons.StandardButton.Ok))

    answered = clicks.on_next_modal(pick)
    clicks.click(page.add_btn)
    assert answered
    qtbot.waitUntil(lambda: len(page.cards) == 1 and not page.loading, timeout=20000)
    person = g.find_person("Colin Powell")
    assert person is not None and person.n_samples == 5

    # ignore Blair's cluster: it leaves the list, and comes back with "Show ignored"
    blair = page.cards[0].cluster.id
    assert page.select(blair)
    answered = clicks.on_next_modal(clicks.press("Yes", f"Ignore cluster #{blair}"))
    clicks.click(page.ignore_btn)
    assert answered
    qtbot.waitUntil(lambda: not page.cards and not page.loading, timeout=20000)
    clicks.click(page.show_ignored)
    qtbot.waitUntil(lambda: len(page.cards) == 1 and not page.loading, timeout=20000)
    assert "ignored" in page.gallery.item(0).text() and page.ignore_btn.text() == "List again"

    # delete it: asked first (Cancel keeps it), then deleted with its faces
    assert page.select(blair)
    answered = clicks.on_next_modal(clicks.press("Cancel", f"Delete cluster #{blair}"))
    clicks.click(page.delete_btn)
    assert answered and len(page.cards) == 1
    answered = clicks.on_next_modal(clicks.press("Delete", f"Delete cluster #{blair}"))
    clicks.click(page.delete_btn)
    assert answered
    qtbot.waitUntil(lambda: not page.cards and not page.loading, timeout=20000)
    assert all(g.event_face(e) is None for e in events["Tony_Blair"])
    actions = {(r.action, r.details.get("cluster_id")) for r in g.query_audit()}
    assert {("unknowns.assign", powell), ("unknowns.ignore", blair), ("unknowns.delete", blair)} <= actions
    win.close()
