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


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1e3


def interleaved(gates: dict[str, FaceGate], repeats: int,
                fn: Callable[[FaceGate, int], float]) -> dict[str, list[float]]:
    """``fn(gate, i)`` -> ms for both kinds, alternating the order every round."""
    out: dict[str, list[float]] = {k: [] for k in KINDS}
    for i in range(repeats):
        order = KINDS if i % 2 == 0 else KINDS[::-1]
        for kind in order:
            out[kind].append(fn(gates[kind], i))
    return out


def summary(samples: dict[str, list[float]], unit: str = "ms") -> dict[str, object]:
    med = {k: statistics.median(v) for k, v in samples.items()}
    return {"unit": unit, "n": len(samples["plain"]), "plain": round(med["plain"], 4),
            "encrypted": round(med["encrypted"], 4), "ratio": round(med["encrypted"] / med["plain"], 3)}


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

            def run_ms(g: FaceGate, _i: int) -> float:
                t = time.perf_counter()
                s = run_headless(g, clip)
                return (time.perf_counter() - t) * 1e3 / max(1, s.frames)

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
            saves: dict[str, list[float]] = {k: [] for k in KINDS}
            loads: dict[str, list[float]] = {k: [] for k in KINDS}
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
    out = {
        "what": "encryption at rest: encrypted / plain, same process, same data, interleaved",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpu_count": os.cpu_count(), "loadavg_at_start": [round(x, 2) for x in load],
                    "python": platform.python_version(), "platform": platform.platform()},
        "templates": args.templates, "repeats": args.repeats, **results,
        "decrypt_us_per_template": round((float(per_template["encrypted"]) - float(per_template["plain"]))
                                         / args.templates * 1e3, 2),
    }
    for key, value in results.items():
        if isinstance(value, dict) and "ratio" in value:
            print(f"{key:22s} plain {value['plain']:10.3f}  encrypted {value['encrypted']:10.3f} {value['unit']}  "
                  f"ratio {value['ratio']:.3f}  (n={value['n']})")
    print(f"decryption at start: {out['decrypt_us_per_template']} µs per template; HNSW file bytes "
          f"{results['hnsw_file_bytes']}; events {results['run_events']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
