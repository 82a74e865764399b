"""The cost of encryption at rest, as ratios measured in one run: the same process, the same photos
and clip, a plain database and an encrypted one side by side, their measurements interleaved (A, B,
B, A...) so that what else the machine runs weighs on both alike.

- enrol: ``enrol_images`` of one person from one photo (detection, quality, embedding, identity
  check, store, gallery), ms; and its storage part alone (``Store.add_sample``: PNG, encryption,
  INSERT, commit), ms;
- identify: ``identify`` of a test photo, ms (the gallery is in memory: no decryption per query);
- run: ``run_headless`` on the real clip (door events with encrypted snapshots), ms per frame;
- gallery load: ``Store.templates`` of ``--templates`` stored templates (decrypted into memory
  once, at start), ms, and µs per template;
- HNSW file: save and load of a ``--templates``-template HNSW gallery, plain file vs encrypted.

The plain database is made as FaceGate makes one where no machine key can be kept (a key folder
inside the data folder is refused: the data stays plain, with a warning). Prints a table and writes
JSON (default docs/bench/encryption_cpu.json) with the load average at the start.

    .venv/bin/python bench/encryption.py [--templates 5000] [--repeats 3] [--out docs/bench/encryption_cpu.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from desktop_app.core.live.session import run_headless  # noqa: E402
from desktop_app.core.matching.gallery import HnswGallery  # noqa: E402
from desktop_app.core.protection.machine_keys import KEY_DIR_ENV, KEY_STORE_ENV  # noqa: E402
from desktop_app.core.service import FaceGate  # noqa: E402
from desktop_app.core.video.imageio import read_image  # noqa: E402

DEFAULT_CLIPS = REPO.parent / "shared" / "data" / "clips"
KINDS = ("plain", "encrypted")


def open_gate(folder: Path, kind: str, keys: Path) -> FaceGate:
    """A FaceGate on ``folder``: encrypted with machine keys in ``keys``, or plain (a key folder
    inside the data folder is refused, so FaceGate keeps the data plain)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.environ[KEY_STORE_ENV] = "file"
    os.environ[KEY_DIR_ENV] = str(keys if kind == "encrypted" else folder / "keys")
    gate = FaceGate(folder / "facegate.db", device="cpu")
    assert gate.key_status().encrypted == (kind == "encrypted")
    return gate


Timing = tuple[float, float]  # (wall ms, CPU ms of this process, all threads)


def timed(fn: Callable[[], object], per: Callable[[], int] = lambda: 1) -> Timing:
    """Wall and process CPU time of ``fn()`` in ms, divided by ``per()`` (e.g. frames) after it."""
    t, c = time.perf_counter(), time.process_time()
    fn()
    wall, cpu = (time.perf_counter() - t) * 1e3, (time.process_time() - c) * 1e3
    n = max(1, per())
    return wall / n, cpu / n


def interleaved(gates: dict[str, FaceGate], repeats: int,
                fn: Callable[[FaceGate, int], Timing]) -> dict[str, list[Timing]]:
    """``fn(gate, i)`` -> (wall, CPU) ms for both kinds, alternating the order every round."""
    out: dict[str, list[Timing]] = {k: [] for k in KINDS}
    for i in range(repeats):
        order = KINDS if i % 2 == 0 else KINDS[::-1]
        for kind in order:
            out[kind].append(fn(gates[kind], i))
    return out


def summary(samples: dict[str, list[Timing]], unit: str = "ms") -> dict[str, object]:
    """Medians of wall and CPU time per kind, and the ratios encrypted / plain. CPU time is the
    steadier figure on a shared machine (other programs' load stretches wall time, not CPU time)."""
    out: dict[str, object] = {"unit": unit, "n": len(samples["plain"])}
    for i, what in enumerate(("wall", "cpu")):
        med = {k: statistics.median(t[i] for t in v) for k, v in samples.items()}
        out[what] = {"plain": round(med["plain"], 4), "encrypted": round(med["encrypted"], 4),
                     "ratio": round(med["encrypted"] / med["plain"], 3) if med["plain"] > 0 else None}
    return out


def enrolment_photos(clips: Path) -> list[tuple[str, Path]]:
    train = clips / "knn_examples" / "train"
    out = [("Lin-Manuel Miranda", clips / "lin-manuel-miranda.png"), ("Alex Lacamoire", clips / "alex-lacamoire.png")]
    for person in sorted(p for p in train.iterdir() if p.is_dir()):
        out += [(f"{person.name} {i}", photo) for i, photo in enumerate(sorted(person.iterdir()))]
    return out


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=Path, default=DEFAULT_CLIPS)
    ap.add_argument("--templates", type=int, default=5000, help="templates for the gallery load and HNSW file")
    ap.add_argument("--repeats", type=int, default=3, help="rounds of identify photos and clip runs")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "bench" / "encryption_cpu.json")
    args = ap.parse_args()
    clips: Path = args.clips
    load = os.getloadavg()
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        keys = base / "machine-keys"
        gates = {kind: open_gate(base / kind, kind, keys) for kind in KINDS}
        try:
            photos = enrolment_photos(clips)
            for g in gates.values():  # warm-up
                g.identify(read_image(photos[0][1]))
            enrol = interleaved(gates, len(photos), lambda g, i: timed(
                lambda: g.enrol_images(photos[i][0], [photos[i][1]], check_quality=False, force=True)))
            results["enrol_ms"] = summary(enrol)

            rng = np.random.default_rng(0)
            crops = rng.integers(0, 256, (60, 112, 112, 3), dtype=np.uint8)
            vecs = rng.standard_normal((60, 128)).astype(np.float32)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            people = {k: g.store.add_person(f"storage bench {k}") for k, g in gates.items()}
            store_write = interleaved(gates, len(crops), lambda g, i: timed(lambda: g.store.add_sample(
                people["encrypted" if g is gates["encrypted"] else "plain"], crops[i], {}, "bench", vecs[i],
                g.model.sha256)))
            results["store_add_sample_ms"] = summary(store_write)

            tests = sorted((clips / "knn_examples" / "test").iterdir())
            images = [read_image(p) for p in tests] * args.repeats
            ident = interleaved(gates, len(images), lambda g, i: timed(lambda: g.identify(images[i])))
            results["identify_ms"] = summary(ident)

            clip = str(clips / "short_hamilton_clip.mp4")

            def run_ms(g: FaceGate, _i: int) -> Timing:
                frames: list[int] = []
                return timed(lambda: frames.append(run_headless(g, clip).frames), lambda: frames[0])

            for g in gates.values():  # warm-up: the first run of a process pays for caches and threads
                run_headless(g, clip, max_frames=30)
            results["run_ms_per_frame"] = summary(interleaved(gates, 2 * args.repeats, run_ms))
            events = {k: len(g.query_events()) for k, g in gates.items()}
            results["run_events"] = events

            n = args.templates
            big = rng.standard_normal((n, 128)).astype(np.float32)
            big /= np.linalg.norm(big, axis=1, keepdims=True)
            small = np.zeros((112, 112, 3), np.uint8)  # a tiny PNG: the templates are what is measured
            for kind, g in gates.items():  # the same templates in both (one shot each, a small crop)
                pid = g.store.add_person(f"gallery bench {kind}")
                with g.store.transaction():
                    for v in big:
                        g.store.add_sample(pid, small, {}, "bench", v, g.model.sha256)
            load_ms = interleaved(gates, 2 * args.repeats, lambda g, _i: timed(
                lambda: g.store.templates(g.model.sha256, active_only=False)))
            results["gallery_load_ms"] = summary(load_ms)
            results["gallery_load_templates"] = len(gates["plain"].store.templates(gates["plain"].model.sha256)[0])

            hnsw = HnswGallery(128, initial_capacity=n)
            hnsw.add(np.arange(n), np.arange(n) // 5, big)
            sealer = gates["encrypted"].store.gallery_sealer()
            files = {"plain": base / "plain.hnsw", "encrypted": base / "encrypted.hnsw"}
            seal = {"plain": None, "encrypted": sealer}
            saves: dict[str, list[Timing]] = {k: [] for k in KINDS}
            loads: dict[str, list[Timing]] = {k: [] for k in KINDS}
            for i in range(2 * args.repeats):
                for kind in KINDS if i % 2 == 0 else KINDS[::-1]:
                    saves[kind].append(timed(lambda k=kind: hnsw.save(files[k], sealer=seal[k])))  # type: ignore[misc]
                    loads[kind].append(timed(lambda k=kind: HnswGallery.load(files[k], sealer=seal[k])))  # type: ignore[misc]
            results["hnsw_save_ms"] = summary(saves)
            results["hnsw_load_ms"] = summary(loads)
            results["hnsw_file_bytes"] = {k: files[k].stat().st_size for k in KINDS}
        finally:
            for g in gates.values():
                g.close()
    per_template = results["gallery_load_ms"]
    assert isinstance(per_template, dict)
    cpu_load = per_template["cpu"]
    assert isinstance(cpu_load, dict)
    out = {
        "what": "encryption at rest: encrypted / plain, same process, same data, interleaved",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpu_count": os.cpu_count(), "loadavg_at_start": [round(x, 2) for x in load],
                    "python": platform.python_version(), "platform": platform.platform()},
        "templates": args.templates, "repeats": args.repeats, **results,
        "decrypt_us_per_template_cpu": round((float(cpu_load["encrypted"]) - float(cpu_load["plain"]))
                                             / args.templates * 1e3, 2),
    }
    print(f"{'':22s} {'CPU ms plain':>13s} {'encrypted':>10s} {'ratio':>6s}   {'wall ms plain':>13s} "
          f"{'encrypted':>10s} {'ratio':>6s}")
    for key, value in results.items():
        if isinstance(value, dict) and "cpu" in value:
            c, w = value["cpu"], value["wall"]
            print(f"{key:22s} {c['plain']:13.3f} {c['encrypted']:10.3f} {c['ratio']:6.3f}   {w['plain']:13.3f} "
                  f"{w['encrypted']:10.3f} {w['ratio']:6.3f}  (n={value['n']})")
    print(f"decryption at start: {out['decrypt_us_per_template_cpu']} µs CPU per template; HNSW file bytes "
          f"{results['hnsw_file_bytes']}; events {results['run_events']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
