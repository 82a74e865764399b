"""Screenshot of the Unknown faces page (issue 14): ``docs/screenshots/unknowns.png``.

    QT_QPA_PLATFORM=offscreen .venv/bin/python packaging/screenshot_unknowns.py [--out docs/screenshots]

A fresh database in a temporary folder: three photos each of two LFW people logged as unknown door
events on earlier days, then the Hamilton clip played through the door loop with nobody enrolled
(Lin-Manuel Miranda's faces become unknown events). The window is grabbed offscreen.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

from offscreen_shots import DATA, offscreen_site, out_folder, save_shot, wait_until


def main() -> int:
    out = out_folder(__doc__.splitlines()[0])
    from desktop_app.core.live.session import run_headless
    from desktop_app.core.service import FaceGate
    from desktop_app.core.video.imageio import read_image
    from desktop_app.ui.main_window import MainWindow

    with offscreen_site() as (app, db):
        gate = FaceGate(db, device="cpu")
        day = 0
        for name in ("Colin_Powell", "Tony_Blair"):
            for n in (1, 2, 3):
                face = gate.engine.main_face(read_image(DATA / "lfw" / name / f"{name}_{n:04d}.jpg"))
                assert face is not None
                day += 1
                gate.record_event(person_id=None, score=-1.0, decision="unknown", camera="lobby",
                                  ts=datetime.now(UTC) - timedelta(days=8 - day, hours=3 * n), face=face,
                                  snapshot=face.crop)
        run_headless(gate, str(DATA / "clips" / "short_hamilton_clip.mp4"))
        win = MainWindow(gate, start_camera=False, realtime=False)
        win.resize(1280, 720)
        win.show()
        win.lock.set_pin("582914")
        win.navigate("unknowns")
        page = win.unknowns
        wait_until(app, lambda: not page.loading and bool(page.cards), 60)
        save_shot(win, out / "unknowns.png", f"{len(page.cards)} clusters")
        win.close()
        gate.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
