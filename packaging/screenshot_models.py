"""Screenshots of the Models page after a dry-run retrain, and of the Retrain dialog:
``docs/screenshots/models.png`` and ``docs/screenshots/retrain_dialog.png``.

    .venv/bin/python packaging/screenshot_models.py [--out docs/screenshots]

A fresh database in a temporary folder with the people of ``../shared/data/clips/knn_examples``
enrolled (plus the two of the Hamilton clip), then a dry run of the default recipe (two epochs on
the CPU, nothing deployed) started from the page, as the Retrain button does. Offscreen; the app's
stylesheet applied as ``facegate gui`` does.
"""

from __future__ import annotations

import sys

from offscreen_shots import DATA, offscreen_site, out_folder, save_shot, wait_until

CLIPS = DATA / "clips"


def main() -> int:
    out = out_folder(__doc__.splitlines()[0])
    from desktop_app.core.service import FaceGate
    from desktop_app.ui.main_window import MainWindow
    from desktop_app.ui.retrain_dialog import RetrainDialog, RetrainOptions

    with offscreen_site() as (app, db):
        gate = FaceGate(db, device="cpu")
        train = CLIPS / "knn_examples" / "train"
        for name, photos in (("Lin-Manuel Miranda", [CLIPS / "lin-manuel-miranda.png"]),
                             ("Alex Lacamoire", [CLIPS / "alex-lacamoire.png", train / "alex_lacamoire"]),
                             ("Joe Biden", [train / "biden"]), ("Kit Harington", [train / "kit_harington"]),
                             ("Barack Obama", [train / "obama"]), ("Rose Leslie", [train / "rose_leslie"])):
            gate.enrol_images(name, photos, check_quality=False)
        win = MainWindow(gate, start_camera=False, realtime=False)
        win.resize(1400, 900)
        win.show()
        win.lock.set_pin("582914")
        win.navigate("models")
        page = win.models
        if not wait_until(app, lambda: page.tools is not None, 120) or page.tools is None or not page.tools.available:
            print(f"the training tools are missing: {page.tools}", file=sys.stderr)
            return 1
        dialog = RetrainDialog(page.tools, win)
        dialog.show()
        wait_until(app, lambda: dialog.isVisible(), 5)
        save_shot(dialog, out / "retrain_dialog.png")
        dialog.close()
        job = page.start_retrain(RetrainOptions(epochs=2, dry_run=True))
        if job is None or not wait_until(app, lambda: not page.running and page.outcome is not None, 600):
            print("the dry run did not finish", file=sys.stderr)
            return 1
        save_shot(win, out / "models.png", page.outcome_label.text().split("\n")[0])
        win.close()
        gate.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
