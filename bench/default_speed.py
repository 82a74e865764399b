"""The default settings against the plain int8 YuNet + SFace script, on the real clip, in one run.

Two methods, both on the real clip letterboxed into 640x480 frames (the frames of ``bench/pipeline.py``),
CPU, ONNX Runtime with as many threads as cores:

1. ``stages`` (the method of ``bench/pipeline.py`` and ``docs/bench/pipeline_cpu*.json``, kept so
   that the figures compare): per frame holding a face, detect + align + embed one face + search,
   for each embedder setup; ratios against int8 without flip, run ``--stage-repeats`` times. It
   has no tracks, so it cannot show what reusing an embedding or flipping only near the threshold
   saves.
2. ``clip``: every frame of the clip in order, as a door camera sees it, through
   - ``plain_int8``: the plain script: detect, align, embed every face with the shipped int8 SFace
     (no flip), search the gallery. The baseline of every ratio;
   - the live loop (``LiveSession.process``: detect, align, reuse or embed, search, decide, log)
     of a real database (the clip's two people and four others enrolled) for the settings
     ``always`` (flip on every face, every face embedded: the old default), ``never`` (no flip),
     ``near`` (flip near the threshold only, every face embedded) and ``default`` (the new defaults:
     flip near the threshold, embeddings reused along tracks).
   The configurations take turns every ``--chunk`` frames (each keeps its own tracks across its
   chunks), so a busy machine slows all of them alike; the clip is run ``--rounds`` times after a
   warm-up round. Figures: ms per frame and frames per second (median round), ratio = plain_int8
   time / configuration time in the same round (median over rounds; above 1: faster than the plain
   script), faces embedded and mirror passes, and the decisions (which must not change).

    nice .venv/bin/python bench/default_speed.py [--rounds 3] [--out docs/bench/default_speed_cpu.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from desktop_app.core.config import AppConfig
from desktop_app.core.embedding.embedder import Embedder
from desktop_app.core.evaluation.benchmark import DEFAULT_CLIP, _letterbox, stage_latency
from desktop_app.core.evaluation.models import eval_model_path
from desktop_app.core.face.detector import FaceDetector
from desktop_app.core.face.engine import FaceEngine
from desktop_app.core.live.session import LiveSession
from desktop_app.core.service import FaceGate
from desktop_app.core.video.sources import Frame, VideoFileSource

CLIPS = DEFAULT_CLIP.parent
FPS = 29.97
SESSIONS: dict[str, tuple[str, int]] = {  # name: (flip_tta, reuse_frames)
    "always": ("always", 1), "never": ("never", 1), "near": ("near-threshold", 1), "default": ("", 0),
}


def clip_frames(clip: Path) -> list[Frame]:
    src = VideoFileSource(clip)
    src.open()
    out = []
    try:
        while (f := src.read()) is not None:
            out.append(replace(f, image=_letterbox(f.image), ts=f.index / FPS))
    finally:
        src.close()
    return out


def enrolled_db(folder: Path) -> Path:
    train = CLIPS / "knn_examples" / "train"
    db = folder / "facegate.db"
    with FaceGate(db, device="cpu") as gate:
        for name, images in (("Lin-Manuel Miranda", [CLIPS / "lin-manuel-miranda.png"]),
                             ("Alex Lacamoire", [CLIPS / "alex-lacamoire.png"]),
                             ("obama", [train / "obama"]), ("biden", [train / "biden"]),
                             ("kit_harington", [train / "kit_harington"]), ("rose_leslie", [train / "rose_leslie"])):
            gate.enrol_images(name, images)
    return db


def open_copy(db: Path, dest: Path, flip: str, reuse: int) -> FaceGate:
    shutil.copytree(db.parent, dest)
    cfg = AppConfig().model_dump(mode="json")
    if flip:
        cfg["recognition"]["flip_tta"] = flip
    if reuse:
        cfg["decision"]["reuse_frames"] = reuse
    cfg["recognition"]["device"] = "cpu"
    return FaceGate(dest / db.name, device="cpu", config=AppConfig.model_validate(cfg))


def stages(frames: int, repeats: int) -> dict[str, object]:
    """``stage_latency`` (the method of bench/pipeline.py) ``repeats`` times: each run and the median
    of each setup's ratio (one run measures the setups one after another, so a load change between
    them skews its ratios)."""
    runs = [stage_latency(DEFAULT_CLIP, frames=frames, device="cpu") for _ in range(repeats)]
    ratios = [r["speedup_vs_int8_noflip"] for r in runs]
    setups = list(ratios[0])  # type: ignore[call-overload]
    return {"runs": runs, "speedup_vs_int8_noflip_median": {
        n: round(statistics.median(float(r[n]) for r in ratios), 3) for n in setups}}  # type: ignore[index]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--stage-frames", type=int, default=60)
    ap.add_argument("--stage-repeats", type=int, default=3)
    ap.add_argument("--chunk", type=int, default=25, help="frames each configuration runs before the next")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    load_before = os.getloadavg()
    frames = clip_frames(DEFAULT_CLIP)
    with tempfile.TemporaryDirectory() as tmp:
        db = enrolled_db(Path(tmp) / "enrolled")
        gates = {name: open_copy(db, Path(tmp) / name, *spec) for name, spec in SESSIONS.items()}
        plain_gate = gates["default"]  # the plain script searches the same gallery
        plain = FaceEngine(FaceDetector(), Embedder(eval_model_path(None, True), device="cpu", flip=False))

        counts: dict[str, dict[str, object]] = {}
        sessions: dict[str, LiveSession] = {}

        def run_plain(chunk: list[Frame]) -> None:
            c = counts.setdefault("plain_int8", {"faces": 0, "embedded": 0, "flipped": 0})
            for f in chunk:
                a = plain.analyze(f.image)
                if a.faces:
                    plain_gate.match(np.stack([x.embedding for x in a.faces]))
                c["faces"] = int(c["faces"]) + len(a.faces)  # type: ignore[call-overload]
                c["embedded"] = c["faces"]

        def session_runner(name: str) -> Callable[[list[Frame]], None]:
            def run(chunk: list[Frame]) -> None:
                c = counts.setdefault(name, {"faces": 0, "embedded": 0, "flipped": 0, "events": []})
                for f in chunk:
                    r = sessions[name].process(f)
                    c["faces"] = int(c["faces"]) + len([x for x in r.faces if x.track_id >= 0])  # type: ignore[call-overload]
                    c["embedded"] = int(c["embedded"]) + r.embedded  # type: ignore[call-overload]
                    c["flipped"] = int(c["flipped"]) + r.flipped  # type: ignore[call-overload]
                    c["events"] += [(r.index, str(e.decision), e.name) for e in r.events]  # type: ignore[operator]
            return run

        runners: dict[str, Callable[[list[Frame]], None]] = {"plain_int8": run_plain}
        runners.update({name: session_runner(name) for name in SESSIONS})
        names = list(runners)
        chunks = [frames[i:i + args.chunk] for i in range(0, len(frames), args.chunk)]
        seconds: dict[str, list[float]] = {name: [] for name in runners}
        for r in range(args.rounds + 1):  # round 0 warms up (models loaded, caches filled) and is dropped
            counts.clear()
            sessions.update({name: LiveSession(gates[name]) for name in SESSIONS})  # fresh tracks
            total = dict.fromkeys(names, 0.0)
            for k, chunk in enumerate(chunks):  # every configuration on each chunk in turn: load hits all alike
                for name in names[k % len(names):] + names[:k % len(names)]:
                    t = time.perf_counter()
                    runners[name](chunk)
                    total[name] += time.perf_counter() - t
            if r:
                for name in names:
                    seconds[name].append(total[name])
        for gate in gates.values():
            gate.close()
    configs: dict[str, dict[str, object]] = {}
    for name, secs in seconds.items():
        med = statistics.median(secs)
        ratios = [b / s for b, s in zip(seconds["plain_int8"], secs, strict=True)]
        configs[name] = {"ms_per_frame": round(1e3 * med / len(frames), 2), "fps": round(len(frames) / med, 1),
                         "ratio_vs_plain_int8": round(statistics.median(ratios), 3),
                         "ratio_per_round": [round(x, 3) for x in ratios], "rounds_s": [round(s, 1) for s in secs],
                         **counts[name]}
    out = {
        "clip": DEFAULT_CLIP.name, "frames": len(frames), "frame_size": "640x480", "provider": "CPU",
        "threads": os.cpu_count(), "rounds": args.rounds, "load_avg_before": load_before,
        "load_avg_after": os.getloadavg(), "clip_configs": configs,
        "stages": stages(args.stage_frames, args.stage_repeats),
    }
    text = json.dumps(out, indent=2)
    print(text)
    for name, c in configs.items():
        print(f"{name:11s} {c['ms_per_frame']:7.2f} ms/frame  {c['fps']:5.1f} fps  x{c['ratio_vs_plain_int8']:.2f} "
              f"vs plain int8  embedded {c['embedded']}/{c['faces']}  flipped {c['flipped']}")
    print("stages (one face per frame, median of runs):",
          out["stages"]["speedup_vs_int8_noflip_median"])  # type: ignore[index]
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
