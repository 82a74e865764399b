"""A small real site for the door tests: Lin-Manuel Miranda enrolled from his shared photo, a group
"cast" allowed at door "front" by a schedule, the real Hamilton clip as the door's camera."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path

from desktop_app.core.access.model import CameraSpec, DoorSpec, Group
from desktop_app.core.access.schedule import DAY_NAMES, Schedule
from desktop_app.core.service import FaceGate
from desktop_app.core.vocabulary import Direction

LIN = "Lin-Manuel Miranda"
ALWAYS_TEXT = "Mon-Sun 00:00-24:00"


def not_now() -> str:
    """A schedule that excludes the present moment: only a weekday three days away."""
    return f"{DAY_NAMES[(datetime.now().astimezone().weekday() + 3) % 7].title()} 00:00-24:00"


def clip(clips: Path) -> str:
    return str(clips / "short_hamilton_clip.mp4")


def build_site(db: Path, clips: Path, *, door: DoorSpec | None = None, schedule: str = ALWAYS_TEXT,
               enrol_lin: bool = True) -> FaceGate:
    """A FaceGate on ``db``: Lin enrolled (or Obama only, so that Lin is a stranger), in group
    "cast" allowed at ``door`` (default "front", the clip as its entry camera) by ``schedule``."""
    gate = FaceGate(db, device="cpu")
    if enrol_lin:
        gate.enrol_images(LIN, [clips / "lin-manuel-miranda.png"])
    else:
        gate.enrol_images("obama", sorted((clips / "knn_examples" / "train" / "obama").iterdir()))
    spec = door or DoorSpec("front", cameras=(CameraSpec(clip(clips), Direction.IN),), unlock_seconds=2)
    gate.save_door(spec)
    gate.save_schedule(Schedule("cast hours", schedule))
    gate.save_group(Group("cast"))
    gate.set_permissions("cast", [spec.name], "cast hours")
    person = gate.find_person(LIN if enrol_lin else "obama")
    assert person is not None
    gate.set_person_access(person.id, groups=["cast"])
    return gate


def front(clips: Path, **changes: object) -> DoorSpec:
    """Door "front" with the clip as its entry camera, 2 s unlock, changed as given."""
    return replace(DoorSpec("front", cameras=(CameraSpec(clip(clips), Direction.IN),), unlock_seconds=2),
                   **changes)  # type: ignore[arg-type]
