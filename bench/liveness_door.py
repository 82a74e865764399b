"""What liveness adds at the door: per frame and per decision, on the real clip, passive vs off.

Lin-Manuel Miranda is enrolled from his photo (clips/lin-manuel-miranda.png) at a door "front";
the Hamilton clip is read frame by frame on its own clock (29.97 frames/s, every frame processed,
as ``run --door`` reads a file) by the door's live session (``LiveSession``: detection, embedding,
matching, decision, and the liveness check of every tracked face). Each mode runs ``--repeats``
times, alternately.

- Per frame: the liveness checks' milliseconds (``FrameResult.liveness_ms``), per frame and per
  face, and the whole frame's milliseconds in each mode.
- Per decision: for each face track that is granted (announced, or held back by the cooldown),
  the time from its first frame to its grant on the video's clock (what a person at the door
  waits), in frames and seconds, and the processing time those frames took; tracks are matched
  across modes by their first frame.
- A print attack of his photo (``attack_media``, 6 s at 15 fps): the time to the spoof event.

    nice /work/main/.venv/bin/python bench/liveness_door.py [--repeats 2] [--out docs/bench/liveness_door_cpu.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from desktop_app.core.access.model import CameraSpec, DoorSpec, Group
from desktop_app.core.doors.context import DoorContext
from desktop_app.core.evaluation.attack_media import AttackKind, AttackParams, generate
from desktop_app.core.face.detector import FaceDetector
from desktop_app.core.live.session import LiveSession
from desktop_app.core.service import FaceGate
from desktop_app.core.video.sources import Frame, VideoFileSource
from desktop_app.core.vocabulary import Decision, FaceState, LivenessMode

ROOT = Path(__file__).resolve().parents[1]
CLIPS = ROOT.parent / "shared" / "data" / "clips"
CLIP = CLIPS / "short_hamilton_clip.mp4"
PHOTO = CLIPS / "lin-manuel-miranda.png"
LIN = "Lin-Manuel Miranda"


def _stats(values: list[float]) -> dict[str, float]:
    arr = np.asarray(values or [0.0], np.float64)
    return {"mean": round(float(arr.mean()), 2), "p50": round(float(np.percentile(arr, 50)), 2),
            "p95": round(float(np.percentile(arr, 95)), 2), "n": len(values)}


def run_clip(gate: FaceGate, door: DoorSpec, mode: LivenessMode) -> dict[str, object]:
    """One pass over the clip in ``mode``: per-frame figures and the grant of every track."""
    session = LiveSession(gate, door=DoorContext(door, "front/in"), liveness=mode)
    src = VideoFileSource(CLIP)
    src.open()
    frame_ms: list[float] = []
    live_ms: list[float] = []
    live_ms_face: list[float] = []
    first: dict[int, tuple[int, float]] = {}  # track -> (frame index, ts) of its first frame
    granted: dict[int, tuple[int, float]] = {}
    spent: dict[int, float] = {}  # track -> processing ms from its first frame to its grant
    opens: list[tuple[int, float]] = []
    checking_frames = 0
    try:
        while True:
            frame = src.read()
            if frame is None:
                break
            t0 = time.perf_counter()
            result = session.process(frame)
            ms = (time.perf_counter() - t0) * 1e3
            frame_ms.append(ms)
            faces = [f for f in result.faces if f.track_id >= 0]
            if mode is not LivenessMode.OFF:
                live_ms.append(result.liveness_ms)
                if faces:
                    live_ms_face.append(result.liveness_ms / len(faces))
            checking_frames += any(f.status == FaceState.CHECKING for f in faces)
            for f in faces:
                first.setdefault(f.track_id, (frame.index, frame.ts))
                if f.track_id not in granted:
                    spent[f.track_id] = spent.get(f.track_id, 0.0) + ms
                    if session.policy.granted(f.track_id) is not None:
                        granted[f.track_id] = (frame.index, frame.ts)
            opens += [(frame.index, frame.ts) for e in result.events if e.decision == Decision.GRANTED]
    finally:
        src.close()
    tracks = [{"first_frame": first[t][0], "grant_frame": g[0], "frames_to_grant": g[0] - first[t][0] + 1,
               "seconds_to_grant": round(g[1] - first[t][1], 3), "processing_ms_to_grant": round(spent[t], 1)}
              for t, g in sorted(granted.items(), key=lambda kv: first[kv[0]][0])]
    t_start = first[min(first, key=lambda t: first[t][0])][1] if first else 0.0
    return {"mode": mode.value, "frames": len(frame_ms), "frame_ms": _stats(frame_ms),
            "liveness_ms_per_frame": _stats(live_ms), "liveness_ms_per_face": _stats(live_ms_face),
            "frames_checking": checking_frames, "granted_tracks": tracks,
            "opens": [{"frame": i, "clip_s": round(ts - t_start, 3)} for i, ts in opens]}


def run_print(gate: FaceGate, door: DoorSpec) -> dict[str, object]:
    """A print attack of his photo (seed 7, 6 s at 15 fps), passive: when the spoof event comes."""
    photo = cv2.imread(str(PHOTO))
    lm = FaceDetector().detect(photo)[0].landmarks
    clip = generate(photo, lm, AttackParams(kind=AttackKind.PRINT, frames=90, fps=15.0, seed=7))
    session = LiveSession(gate, door=DoorContext(door, "front/in"), liveness=LivenessMode.PASSIVE)
    first: float | None = None
    out: dict[str, object] = {"decision": None}
    for i, (image, ts) in enumerate(zip(clip.frames, clip.ts, strict=True)):
        result = session.process(Frame(image, i, ts, "print"))
        if first is None and any(f.track_id >= 0 for f in result.faces):
            first = ts
        for e in result.events:
            if e.decision in (Decision.SPOOF, Decision.GRANTED) and out["decision"] is None:
                out = {"decision": e.decision.value, "frames": i + 1, "seconds_after_first_face":
                       round(ts - (first or 0.0), 3), "reasons": list(e.liveness)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "bench" / "liveness_door_cpu.json")
    args = ap.parse_args()
    load0 = os.getloadavg()
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        gate = FaceGate(Path(tmp) / "bench.db", device="cpu")
        try:
            gate.enrol_images(LIN, [PHOTO])
            door = gate.save_door(DoorSpec("front", cameras=(CameraSpec(str(CLIP)),), unlock_seconds=2))
            gate.save_group(Group("cast"))
            gate.set_permissions("cast", ["front"], None)
            person = gate.find_person(LIN)
            assert person is not None
            gate.set_person_access(person.id, groups=["cast"])
            runs: dict[str, list[dict[str, object]]] = {m.value: [] for m in (LivenessMode.OFF, LivenessMode.PASSIVE)}
            for r in range(args.repeats):
                for mode in (LivenessMode.OFF, LivenessMode.PASSIVE) if r % 2 == 0 else (
                        LivenessMode.PASSIVE, LivenessMode.OFF):
                    res = run_clip(gate, door, mode)
                    runs[mode.value].append(res)
                    print(json.dumps({k: res[k] for k in ("mode", "frames", "frame_ms", "liveness_ms_per_frame",
                                                           "granted_tracks", "opens")}), flush=True)
            attack = run_print(gate, door)
            print(json.dumps({"print_attack": attack}), flush=True)
        finally:
            gate.close()
    off, passive = runs["off"][0], runs["passive"][0]
    by_first = {t["first_frame"]: t for t in off["granted_tracks"]}  # type: ignore[attr-defined]
    added = [{"first_frame": t["first_frame"], "off_s": by_first[t["first_frame"]]["seconds_to_grant"],
              "passive_s": t["seconds_to_grant"],
              "added_s": round(t["seconds_to_grant"] - by_first[t["first_frame"]]["seconds_to_grant"], 3),
              "added_frames": t["frames_to_grant"] - by_first[t["first_frame"]]["frames_to_grant"]}
             for t in passive["granted_tracks"] if t["first_frame"] in by_first]  # type: ignore[attr-defined]
    frame_off = [r["frame_ms"]["mean"] for r in runs["off"]]  # type: ignore[index]
    frame_pas = [r["frame_ms"]["mean"] for r in runs["passive"]]  # type: ignore[index]
    result = {
        "clip": CLIP.name, "runs": runs, "per_decision_added": added,
        "frame_ms_mean": {"off": frame_off, "passive": frame_pas,
                          "added": round(float(np.mean(frame_pas) - np.mean(frame_off)), 2)},
        "print_attack": attack,
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                    "python": platform.python_version(), "opencv": cv2.__version__,
                    "load_average_start": [round(x, 2) for x in load0],
                    "load_average_end": [round(x, 2) for x in os.getloadavg()]},
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "wall_s": round(time.time() - t0, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("per_decision_added", "frame_ms_mean", "print_attack")}, indent=2))


if __name__ == "__main__":
    main()
