"""Real fine-tune of SFace on LFW people, before/after, with center+arcface and center+softmax.

Protocol:

1. LFW people with at least ``--min-images`` (10) photos; each is enrolled with ``--shots`` (5)
   photos into a temporary FaceGate database through ``FaceGate.enrol_images`` (the app's own
   detection, alignment and checks; quality checks off, photos with several faces skipped and the
   next photo taken). Up to ``--max-held-out`` of each person's remaining photos are held out.
2. Fine-tuning uses only the database: ``trainer.train`` with the pipeline's split (one of the five
   shots per person held out for early stopping), starting from the database's active model.
3. Each model (the pretrained one and each fine-tuned export) is evaluated by
   ``trainer.evaluate.evaluate_model`` through the app's Embedder (flip TTA): held-out photos
   identified against the five enrolled shots (rank-1, open-set TPIR at the calibrated threshold,
   with LFW single-image strangers), Recall@1 and MAP@R, and LFW view-2 verification (all 10 folds,
   or ``--lfw-pairs-per-fold`` pairs of each fold), then gated against the pretrained model.

    .venv/bin/python bench/finetune_lfw.py [--people 0] [--epochs 4] [--lfw-pairs-per-fold 600]

Prints progress, one JSON line per model and a summary table; ``--out`` saves the JSON + plots.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from desktop_app.core.evaluation.lfw import lfw_people_with_min_images
from desktop_app.core.service import FaceGate
from trainer.data import CropCache, FaceCrops, crops_from_images, crops_from_store, split_held_out
from trainer.evaluate import Comparison, ModelReport, build_eval_data, evaluate_model, save_report
from trainer.gate import decide
from trainer.pipeline import epoch_line, export_candidate
from trainer.train import TrainConfig, train

DEFAULT_LFW = Path(__file__).resolve().parents[2] / "shared" / "data" / "lfw"


def log(t0: float, msg: str) -> None:
    print(f"[{time.perf_counter() - t0:7.1f}s] {msg}", flush=True)


def enrol(fg: FaceGate, people: dict[str, list[Path]], shots: int, t0: float) -> dict[str, list[Path]]:
    """Enrol ``shots`` photos of each person (one at a time, skipping rejected ones); returns the
    photos not tried, for holding out."""
    rest: dict[str, list[Path]] = {}
    for i, (name, photos) in enumerate(people.items()):
        added = 0
        used = 0
        for p in photos:
            if added >= shots:
                break
            used += 1
            added += len(fg.enrol_images(name, [p], check_quality=False, force=True).added)  # labelled data
        rest[name] = photos[used:]
        if (i + 1) % 25 == 0 or i + 1 == len(people):
            log(t0, f"enrolled {i + 1}/{len(people)} people")
    return rest


def relabel(crops: FaceCrops, like: FaceCrops) -> FaceCrops:
    """``crops`` with labels mapped onto the classes of ``like`` (by name)."""
    index = {n: i for i, n in enumerate(like.class_names)}
    labels = np.array([index[crops.class_names[int(c)]] for c in crops.labels], np.int64)
    return FaceCrops(crops.crops, labels, like.class_names, like.class_keys, crops.sources, crops.sample_ids,
                     crops.skipped)


def row(label: str, r: ModelReport, extra: str = "") -> str:
    lfw = r.lfw
    lfw_txt = "-"
    if lfw is not None:
        lfw_txt = f"{100 * lfw.accuracy:6.2f} ± {100 * lfw.accuracy_std:4.2f}  {100 * lfw.tar_at_far_1e3:6.2f}"
    tpir = f"{100 * r.tpir:6.2f}" if r.tpir is not None else "  -   "
    return (f"{label:16s} {100 * r.rank1:6.2f}  {tpir}  {100 * r.recall_at_k.get(1, float('nan')):6.2f}  "
            f"{r.map_at_r:6.4f}  {lfw_txt}  {extra}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lfw", type=Path, default=DEFAULT_LFW)
    ap.add_argument("--min-images", type=int, default=10)
    ap.add_argument("--people", type=int, default=0, help="use only the first N such people (0: all)")
    ap.add_argument("--shots", type=int, default=5)
    ap.add_argument("--max-held-out", type=int, default=5, help="held-out photos per person (at most)")
    ap.add_argument("--losses", nargs="+", default=["center+arcface", "center+softmax"])
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--unfreeze-blocks", type=int, default=2)
    ap.add_argument("--lfw-folds", type=int, default=10)
    ap.add_argument("--lfw-pairs-per-fold", type=int, default=None, help="subset of each fold (default: all 600)")
    ap.add_argument("--strangers", type=int, default=200)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path, default=None, help="folder for JSON results and plots")
    args = ap.parse_args()

    t0 = time.perf_counter()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)
    people = lfw_people_with_min_images(args.lfw, args.min_images)
    if args.people:
        people = dict(list(people.items())[: args.people])
    results: dict[str, object] = {"args": {k: str(v) for k, v in vars(args).items()}}
    with tempfile.TemporaryDirectory(prefix="facegate-bench-") as tmp:
        out_dir = args.out or Path(tmp) / "out"
        with FaceGate(Path(tmp) / "facegate.db", device="cpu") as fg:
            rest = enrol(fg, people, args.shots, t0)
            base = fg.model
            db = crops_from_store(fg.store)
            cache = CropCache(device="cpu")
            held_items = [(p, name) for name, photos in rest.items() for p in photos[: args.max_held_out]]
            probes = relabel(crops_from_images(held_items, cache), db)
            log(t0, f"{db.num_classes} people, {len(db)} enrolled crops, {len(probes)} held-out photos "
                    f"({len(probes.skipped)} without a face)")
            data = build_eval_data(db, probes, lfw_dir=args.lfw, lfw_folds=args.lfw_folds,
                                   lfw_pairs_per_fold=args.lfw_pairs_per_fold, n_strangers=args.strangers,
                                   target_fpir=fg.config.recognition.target_fpir, cache=cache)
            log(t0, f"evaluation data: {len(data.lfw_pairs)} LFW pairs, {len(data.strangers)} strangers")
            t = time.perf_counter()
            before, before_scores = evaluate_model(Path(base.path), data, name="pretrained")
            log(t0, f"pretrained evaluated in {time.perf_counter() - t:.0f} s")
            print(json.dumps({"model": "pretrained", **before.to_dict()}), flush=True)
            results["pretrained"] = before.to_dict()
            split = split_held_out(db, 0.2, seed=0)
            summary = [row("pretrained", before)]
            for loss in args.losses:
                cfg = TrainConfig(loss=loss, epochs=args.epochs, unfreeze_blocks=args.unfreeze_blocks,
                                  base_model=Path(base.path), device=args.device,
                                  checkpoint_dir=Path(tmp) / loss.replace("+", "-"))
                log(t0, f"training {loss}: {len(split.train)} crops, {len(split.held_out)} for early stopping")
                res = train(cfg, split, progress=lambda s, c=cfg: log(t0, epoch_line(s, c.epochs)))
                per_epoch = [s.seconds for s in res.history[1:]]
                path = Path(tmp) / f"{loss.replace('+', '-')}.onnx"
                parity = export_candidate(res.model, path, split.held_out.crops[:8])
                t = time.perf_counter()
                after, after_scores = evaluate_model(path, data, name=loss)
                log(t0, f"{loss} evaluated in {time.perf_counter() - t:.0f} s")
                decision = decide(before, after)
                save_report(Comparison(before, after, before_scores, after_scores), out_dir / loss.replace("+", "-"),
                            {"gate": decision.to_dict()})
                entry = {"model": loss, **after.to_dict(), "train_seconds": round(res.seconds, 1),
                         "seconds_per_epoch": [round(s, 1) for s in per_epoch], "best_epoch": res.best_epoch,
                         "parity": parity, "gate": decision.to_dict()}
                print(json.dumps(entry), flush=True)
                results[loss] = entry
                verdict = "deploy" if decision.deploy else "refuse: " + "; ".join(decision.failures)
                summary.append(row(loss, after, f"train {res.seconds:.0f} s ({np.mean(per_epoch):.0f} s/epoch, "
                                                f"best epoch {res.best_epoch}/{res.epochs_run}); gate: {verdict}"))
        print()
        print(f"{'model':16s} rank-1    TPIR     R@1    MAP@R   LFW acc (%)    TAR@1e-3")
        for line in summary:
            print(line)
        print(f"total {time.perf_counter() - t0:.0f} s")
        if args.out:
            (args.out / "results.json").write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
