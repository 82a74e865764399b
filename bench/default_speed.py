"""The default settings against the plain int8 YuNet + SFace script, on the real clip, in one run.

Two methods, both on the real clip letterboxed into 640x480 frames (the frames of ``bench/pipeline.py``),
CPU, ONNX Runtime with as many threads as cores:

1. ``stages`` (the method of ``bench/pipeline.py`` and ``docs/bench/pipeline_cpu*.json``, kept so
   that the figures compare): per frame holding a face, detect + align + embed one face + search,
   for each embedder setup; ratios against int8 without flip. It has no tracks, so it cannot show
   what reusing an embedding or flipping only near the threshold saves.
2. ``clip``: every frame of the clip in order, as a door camera sees it, through
   - ``plain_int8``: the plain script: detect, align, embed every face with the shipped int8 SFace
     (no flip), search the gallery. The baseline of every ratio;
   - the live loop (``LiveSession.process``: detect, align, reuse or embed, search, decide, log)
     of a real database (the clip's two people and four others enrolled) for the settings
     ``always`` (flip on every face, every face embedded: the old default), ``never`` (no flip),
     ``near`` (flip near the threshold only, every face embedded) and ``default`` (the new defaults:
     flip near the threshold, embeddings reused along tracks).
   Each configuration runs the whole clip ``--rounds`` times, in turn with the others (so a busy
   machine slows all of them alike); the median round is kept. Figures: ms per frame, frames per
   second, ratio = plain_int8 time / configuration time (above 1: faster than the plain script),
   faces embedded and flip passes, and the decisions (which must not change).

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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--stage-frames", type=int, default=60)
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

        def run_plain() -> None:
            faces = 0
            for f in frames:
                a = plain.analyze(f.image)
                if a.faces:
                    plain_gate.match(np.stack([x.embedding for x in a.faces]))
                faces += len(a.faces)
            counts["plain_int8"] = {"faces": faces, "embedded": faces, "flipped": 0}

        def session_runner(name: str) -> Callable[[], None]:
            def run() -> None:
                session = LiveSession(gates[name], log_unknown=True)
                faces = embedded = flipped = 0
                events: list[tuple[int, str, str | None]] = []
                for f in frames:
                    r = session.process(f)
                    faces += len([x for x in r.faces if x.track_id >= 0])
                    embedded += r.embedded
                    flipped += r.flipped
                    events += [(r.index, str(e.decision), e.name) for e in r.events]
                counts[name] = {"faces": faces, "embedded": embedded, "flipped": flipped, "events": events}
            return run

        runners: dict[str, Callable[[], None]] = {"plain_int8": run_plain}
        runners.update({name: session_runner(name) for name in SESSIONS})
        for run in runners.values():  # warm-up: models loaded, caches filled
            run()
        seconds: dict[str, list[float]] = {name: [] for name in runners}
        names = list(runners)
        for r in range(args.rounds):
            for name in names[r % len(names):] + names[:r % len(names)]:  # a different order each round
                t = time.perf_counter()
                runners[name]()
                seconds[name].append(time.perf_counter() - t)
        for gate in gates.values():
            gate.close()
    base = statistics.median(seconds["plain_int8"])
    configs: dict[str, dict[str, object]] = {}
    for name, secs in seconds.items():
        med = statistics.median(secs)
        configs[name] = {"ms_per_frame": round(1e3 * med / len(frames), 2), "fps": round(len(frames) / med, 1),
                         "ratio_vs_plain_int8": round(base / med, 3), "rounds_s": [round(s, 1) for s in secs],
                         **counts[name]}
    out = {
        "clip": DEFAULT_CLIP.name, "frames": len(frames), "frame_size": "640x480", "provider": "CPU",
        "threads": os.cpu_count(), "rounds": args.rounds, "load_avg_before": load_before,
        "load_avg_after": os.getloadavg(), "clip_configs": configs,
        "stages": stage_latency(DEFAULT_CLIP, frames=args.stage_frames, device="cpu"),
    }
    text = json.dumps(out, indent=2)
    print(text)
    for name, c in configs.items():
        print(f"{name:11s} {c['ms_per_frame']:7.2f} ms/frame  {c['fps']:5.1f} fps  x{c['ratio_vs_plain_int8']:.2f} "
              f"vs plain int8  embedded {c['embedded']}/{c['faces']}  flipped {c['flipped']}")
    print("stages (one face per frame):", out["stages"]["speedup_vs_int8_noflip"])  # type: ignore[index]
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
