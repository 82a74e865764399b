"""Several cameras at once on this machine: copies of the real clip played as live cameras (each at
its own frame rate, looping, newest frame only), all run by one DoorRunner on one shared engine,
the faces of every camera embedded in one batch per turn.

For 1, 2, 4 and 8 cameras it reports, per camera count:

- frames per second each camera gets (frames processed / seconds, per camera; mean and lowest);
- decision latency: from the frame in which Lin-Manuel Miranda's face (its track) first appeared
  to the OPEN handed to the door's output (ms; p50, p95, max over every passage of every camera);
- CPU use: process CPU time (all threads: capture, ONNX, loop) over wall time, in cores and as a
  share of the machine's cores (``resource.getrusage``);
- CPU per processed frame (ms), the share of faces that had to be embedded (the others reused
  their track's embedding), and from these what each camera would get were the machine ours
  alone (its cores / CPU per frame / cameras: an estimate; the measured fps depend on what else
  runs, hence the load average kept in the JSON).

Each camera is its own door ("cam1" ...) with the dry-run output ``log:``, so that every passage
gives one OPEN per camera. Prints a table and writes JSON (default docs/bench/cameras_cpu.json).
The figures depend on what else the machine runs: the JSON keeps the load average at the start.

    .venv/bin/python bench/cameras.py [--counts 1 2 4 8] [--seconds 20] [--out docs/bench/cameras_cpu.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from desktop_app.core.access.model import CameraSpec, DoorSpec, Group  # noqa: E402
from desktop_app.core.config import AlertSettings  # noqa: E402
from desktop_app.core.doors.alerts import Alerter  # noqa: E402
from desktop_app.core.doors.runner import DoorRunner  # noqa: E402
from desktop_app.core.outputs.base import MessageKind  # noqa: E402
from desktop_app.core.service import FaceGate  # noqa: E402
from desktop_app.core.video.sources import FrameSource, VideoFileSource  # noqa: E402

LIN = "Lin-Manuel Miranda"
DEFAULT_CLIPS = REPO.parent / "shared" / "data" / "clips"


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def site(db: Path, clips: Path, cameras: int) -> FaceGate:
    gate = FaceGate(db, device="cpu")
    gate.enrol_images(LIN, [clips / "lin-manuel-miranda.png"])
    gate.save_group(Group("cast"))
    clip = str(clips / "short_hamilton_clip.mp4")
    names = [f"cam{i + 1}" for i in range(cameras)]
    for name in names:
        gate.save_door(DoorSpec(name, cameras=(CameraSpec(clip),), unlock_seconds=1))
    gate.set_permissions("cast", names)
    person = gate.find_person(LIN)
    assert person is not None
    gate.set_person_access(person.id, groups=["cast"])
    return gate


def looping_clip(camera: CameraSpec) -> FrameSource:
    """The clip as a live camera: at its frame rate, from the start again at its end."""
    return VideoFileSource(camera.source, loop=True, realtime=True)


def run(gate: FaceGate, cameras: int, seconds: float) -> dict[str, object]:
    doors = [d for d in gate.doors() if d.name in {f"cam{i + 1}" for i in range(cameras)}]
    runner = DoorRunner(gate, doors, realtime=True, sources=looping_clip,
                        alerter=Alerter(AlertSettings(on_unknown=False, on_denied=False)))
    wall0, cpu0 = time.monotonic(), cpu_seconds()
    summary = runner.run(duration_s=seconds)
    wall, cpu = time.monotonic() - wall0, cpu_seconds() - cpu0
    fps = [c.fps for c in summary.cameras]
    frames = sum(c.frames for c in summary.cameras)
    lat = np.asarray([v for c in summary.cameras for v in c.latency_ms] or [-1.0])  # -1: no passage decided
    opens = sum(ctl.sent[MessageKind.OPEN] for ctl in runner.controllers.values())
    return {
        "cameras": cameras, "seconds": round(wall, 1),
        "fps_per_camera_mean": round(float(np.mean(fps)), 2), "fps_per_camera_min": round(float(np.min(fps)), 2),
        "fps_per_camera": [round(f, 2) for f in fps],
        "frames": [c.frames for c in summary.cameras], "dropped": [c.dropped for c in summary.cameras],
        "decision_latency_ms": {"p50": round(float(np.percentile(lat, 50)), 1),
                                "p95": round(float(np.percentile(lat, 95)), 1),
                                "max": round(float(lat.max()), 1), "passages": int((lat >= 0).sum())},
        "opens": opens,
        "faces_embedded_share": round(sum(c.embedded for c in summary.cameras)
                                      / max(1, sum(c.faces for c in summary.cameras)), 3),
        "cpu_cores_used": round(cpu / wall, 2),
        "cpu_share_of_machine": round(cpu / wall / (os.cpu_count() or 1), 3),
        "cpu_ms_per_frame": round(1e3 * cpu / max(1, frames), 1),
        # what the whole machine would give, were it ours alone: its cores over the CPU each frame took
        "idle_machine_fps_per_camera_estimate": round((os.cpu_count() or 1) / max(cpu / max(1, frames), 1e-9)
                                                      / cameras, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--counts", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--seconds", type=float, default=20.0, help="run time per camera count")
    ap.add_argument("--clips", type=Path, default=DEFAULT_CLIPS)
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "bench" / "cameras_cpu.json")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        gate = site(Path(tmp) / "bench.db", args.clips, max(args.counts))
        try:
            run(gate, 1, 3.0)  # warm-up: models loaded, first inferences done
            rows = []
            for n in args.counts:
                row = run(gate, n, args.seconds)
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
            config = gate.config.recognition
            provider = gate.provider
        finally:
            gate.close()
    print("cameras  fps/camera (mean, lowest)  latency ms (p50, p95, max; passages)  CPU cores (share)"
          "  CPU ms/frame  embedded  idle-machine fps/camera (estimate)")
    for r in rows:
        lat = r["decision_latency_ms"]
        assert isinstance(lat, dict)
        print(f"{r['cameras']:7d}  {r['fps_per_camera_mean']:8.2f} {r['fps_per_camera_min']:8.2f}"
              f"            {lat['p50']:7.0f} {lat['p95']:7.0f} {lat['max']:7.0f} ({lat['passages']})"
              f"             {r['cpu_cores_used']:5.2f} ({r['cpu_share_of_machine']:.0%})"
              f"  {r['cpu_ms_per_frame']:12.1f}  {r['faces_embedded_share']:8.0%}"
              f"  {r['idle_machine_fps_per_camera_estimate']:8.2f}")
    report = {
        "what": "bench/cameras.py: copies of short_hamilton_clip.mp4 as live cameras (29.97 fps, looping), "
                "one DoorRunner, one engine, faces of all cameras embedded in one batch per turn",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_average_at_start": [round(x, 2) for x in load_start],
                    "load_average_at_end": [round(x, 2) for x in os.getloadavg()]},
        "settings": {"provider": provider, "flip_tta": config.flip_tta, "seconds_per_count": args.seconds},
        "results": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
