"""GUI responsiveness while the recognition pipeline runs: event-loop lateness of the GUI thread.

Opens the real main window (offscreen unless a display is set) on a fresh database in a temp folder,
enrols the two people of the Hamilton clip, then plays the clip as the camera and measures how late a
10 ms timer fires in the GUI thread (the lateness a click or a repaint would wait). Three runs:

- idle: window open, no camera (baseline of this machine);
- realtime: the clip paced at its frame rate, the pipeline keeping only the newest frame (the product);
- lock-step: every frame of the clip, as fast as the pipeline goes (the worst case for the GUI).

    .venv/bin/python bench/gui_latency.py [--clip FILE] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from desktop_app.core.service import FaceGate
from desktop_app.core.video.latest_frame import FINAL_STATES
from desktop_app.ui import theme
from desktop_app.ui.capture import CaptureStats, SourceRequest
from desktop_app.ui.latency_probe import LoopLatencyProbe
from desktop_app.ui.main_window import MainWindow

CLIPS = Path(__file__).resolve().parents[2] / "shared" / "data" / "clips"


def spin(seconds: float) -> None:
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def run_clip(win: MainWindow, clip: Path, realtime: bool, timeout_s: float = 300.0) -> dict[str, object]:
    states: list[str] = []
    stats: list[CaptureStats] = []
    frames = [0]
    worker = win.capture.worker
    on_state = lambda s, _m: states.append(s)  # noqa: E731
    on_stats = stats.append
    on_frame = lambda _f: frames.__setitem__(0, frames[0] + 1)  # noqa: E731
    worker.state_changed.connect(on_state)
    worker.stats_updated.connect(on_stats)
    worker.frame_ready.connect(on_frame)
    frames_before = worker._frames  # the worker counts frames over its life
    probe = LoopLatencyProbe(10)
    probe.start()
    t0 = time.perf_counter()
    win.open_request(SourceRequest(str(clip), realtime=realtime))
    loop = QEventLoop()
    check = QTimer()
    check.timeout.connect(lambda: loop.quit() if any(s in FINAL_STATES for s in states)
                          or time.perf_counter() - t0 > timeout_s else None)
    check.start(50)
    loop.exec()
    check.stop()
    probe.stop()
    wall = time.perf_counter() - t0
    for sig, slot in ((worker.state_changed, on_state), (worker.stats_updated, on_stats),
                      (worker.frame_ready, on_frame)):
        sig.disconnect(slot)
    last = stats[-1] if stats else None
    busy = [s.latency_ms for s in stats if s.latency_ms > 0]
    return {
        "mode": "realtime" if realtime else "lock-step",
        "wall_s": round(wall, 2),
        "frames_processed": (last.frames - frames_before) if last else 0,
        "frames_painted": frames[0],
        "pipeline_ms_mean": round(sum(busy) / len(busy), 1) if busy else None,
        "loop_lateness_ms": {k: round(v, 2) for k, v in probe.figures().items()},
        "final_state": states[-1] if states else None,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", type=Path, default=CLIPS / "short_hamilton_clip.mp4")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not args.clip.is_file():
        print(f"clip not found: {args.clip}", file=sys.stderr)
        return 1
    app = QApplication.instance() or QApplication([])
    app.setStyleSheet(theme.STYLE_SHEET)  # type: ignore[union-attr]
    results: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp, FaceGate(Path(tmp) / "facegate.db") as gate:
        for name, photo in (("Lin-Manuel Miranda", "lin-manuel-miranda.png"), ("Alex Lacamoire", "alex-lacamoire.png")):
            gate.enrol_images(name, [CLIPS / photo])
        win = MainWindow(gate, start_camera=False)
        win.show()
        probe = LoopLatencyProbe(10)
        probe.start()
        spin(3.0)
        probe.stop()
        results.append({"mode": "idle", "loop_lateness_ms": {k: round(v, 2) for k, v in probe.figures().items()}})
        for realtime in (True, False):
            results.append(run_clip(win, args.clip, realtime))
        results.append({"machine": {"cpus": os.cpu_count(), "load_avg": [round(x, 2) for x in os.getloadavg()],
                                    "provider": gate.provider, "qt_platform": app.platformName()}})  # type: ignore[union-attr]
        win.close()
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for r in results:
            if "machine" in r:
                print("machine:", r["machine"])
                continue
            lat = r["loop_lateness_ms"]
            assert isinstance(lat, dict)
            extra = (f"  {r['frames_processed']} frames processed in {r['wall_s']} s, "
                     f"pipeline {r['pipeline_ms_mean']} ms/frame" if "wall_s" in r else "")
            print(f"{r['mode']:>9}: event-loop lateness p50 {lat['p50']:.1f} ms, p95 {lat['p95']:.1f} ms, "
                  f"p99 {lat['p99']:.1f} ms, max {lat['max']:.1f} ms ({int(lat['ticks'])} ticks){extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
