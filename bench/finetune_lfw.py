"""Fine-tuning on a hard LFW roster, before/after: held-out rank-1, open-set TPIR, LFW accuracy and
TAR@FAR1e-3, all in one run.

Protocol:

1. **Roster.** From the LFW people with at least ``--min-images`` (10) photos, ``--people`` (20)
   are taken: ``--roster first`` the first ones by name; ``--roster hard`` (default) the ones the
   pretrained model confuses most *on their enrolment shots alone*: each of a person's first
   ``--shots`` crops is identified against everybody's other shots (no flip) and the people with
   the lowest mean identification margin are taken. Held-out photos play no part in the choice.
2. Each roster person is enrolled with ``--shots`` (5) photos through ``FaceGate.enrol_images``
   (the app's detection, alignment and checks; quality checks off). Up to ``--max-held-out`` of
   the remaining photos are held out: the evaluation's probes, never seen by training.
3. Training uses only the database (``trainer.train`` on ``split_held_out(db, 0.2)``: one of the
   five shots per person is the *validation* split for early stopping and the WiSE-FT alpha).
4. Roster figures per model through ``trainer.evaluate.evaluate_model`` (the app's Embedder on the
   exported ONNX file, flip TTA): rank-1 of the held-out photos against the enrolled shots, open-set
   TPIR at the calibrated threshold (LFW single-image strangers), MAP@R.
5. **LFW** view-2 verification (``--lfw-folds`` folds, ``--lfw-pairs-per-fold`` pairs of each): on
   all those pairs and on the pairs without a roster person ("LFW excl. roster", the figure that
   says whether the rest of the world got worse). The frozen-trunk recipe leaves every layer but the
   embedding layer as shipped, so the LFW embeddings of every model are computed from one pass of
   the frozen trunk (flip TTA as the app does) and each model's own embedding layer; the export's
   ONNX-vs-PyTorch parity is checked on roster crops. Models whose trunk moved (``partial``) are
   evaluated on LFW through their ONNX file instead, and so is the baseline then (without
   ``frozen_trunk`` in ``--recipes``, the frozen-trunk pass is skipped altogether).
6. ``--seeds``: each recipe is trained once per seed (a different validation shot per person, other
   batches and jitter); the roster, held-out photos, strangers and baseline stay the same, so the
   rows show how much of a gain is the draw.

    .venv/bin/python bench/finetune_lfw.py [--roster hard] [--people 20] [--recipes frozen_trunk]
        [--lfw-folds 10] [--lfw-pairs-per-fold 600] [--seeds 0 1 2] [--crop-cache /tmp/lfw_crops.npz]

``--probe-px N`` plays a door camera that sees faces from afar: every held-out probe and stranger
crop is shrunk to N x N pixels (area averaging) and enlarged back to 112 (bilinear), as the
alignment enlarges a small face; the enrolled shots and the training crops stay as they are.

``--crop-cache`` (an .npz of aligned crops by path, written by ``--save-crop-cache``) skips the
detection of images already aligned. Prints progress, one JSON line per model and a summary table.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from desktop_app.core.embedding.embedder import Embedder
from desktop_app.core.evaluation.lfw import LfwPair, evaluate_pairs, lfw_people_with_min_images
from desktop_app.core.service import FaceGate
from trainer.data import CropCache, FaceCrops, crops_from_facegate, crops_from_images, prepare_crops, split_held_out
from trainer.evaluate import EvalData, ModelReport, evaluate_model, lfw_pair_subset, stranger_crops
from trainer.head_tune import flip_tta, raw_embeddings, trunk_features
from trainer.model.sface import SFaceNet, load_pretrained_sface
from trainer.pipeline import epoch_line, export_candidate
from trainer.train import EpochStats, TrainConfig, embed_crops, train

DEFAULT_LFW = Path(__file__).resolve().parents[2] / "shared" / "data" / "lfw"


def log(t0: float, msg: str) -> None:
    print(f"[{time.perf_counter() - t0:7.1f}s] {msg}", flush=True)


def progress_line(t0: float, epochs: int, stats: EpochStats) -> None:
    log(t0, epoch_line(stats, epochs))


# --------------------------------------------------------------------------------------------------
# crops


def load_crop_cache(cache: CropCache, files: Sequence[Path]) -> int:
    """Fill ``cache`` from .npz files with ``keys`` (paths), ``crops`` and ``missing`` (no face)."""
    n = 0
    for f in files:
        if not Path(f).is_file():
            continue
        d = np.load(f)
        for k, c in zip(d["keys"].tolist(), d["crops"], strict=True):
            cache._crops[Path(k)] = np.ascontiguousarray(c)
            n += 1
        for k in d["missing"].tolist():
            cache._crops[Path(k)] = None
            n += 1
    return n


def save_crop_cache(cache: CropCache, path: Path) -> None:
    items = list(cache._crops.items())
    keys = [str(k) for k, v in items if v is not None]
    crops = [v for _, v in items if v is not None]
    np.savez(path, keys=np.array(keys), crops=np.stack(crops) if crops else np.zeros((0, 112, 112, 3), np.uint8),
             missing=np.array([str(k) for k, v in items if v is None]))


def first_crops(cache: CropCache, photos: Sequence[Path], n: int) -> list[np.ndarray]:
    out: list[np.ndarray] = []
    for p in photos:
        c = cache.crop(p)
        if c is not None:
            out.append(c)
        if len(out) >= n:
            break
    return out


def hard_roster(people: dict[str, list[Path]], count: int, shots: int, cache: CropCache, t0: float) -> list[str]:
    """The ``count`` people with the lowest mean leave-one-shot-out identification margin of their
    first ``shots`` crops under the pretrained model (no flip); see the module docstring."""
    model = load_pretrained_sface()
    names, crops, labels = [], [], []
    for i, (name, photos) in enumerate(people.items()):
        got = first_crops(cache, photos, shots)
        if len(got) < 2:
            continue
        names.append(name)
        crops += got
        labels += [len(names) - 1] * len(got)
        if (i + 1) % 40 == 0:
            log(t0, f"hard roster: aligned {i + 1}/{len(people)} people")
    _, unit = embed_crops(model, prepare_crops(np.stack(crops)), flip=False)
    lab = np.array(labels)
    sims = unit @ unit.T
    np.fill_diagonal(sims, -np.inf)
    margin = np.zeros(len(names))
    for c in range(len(names)):
        rows = np.flatnonzero(lab == c)
        own = sims[np.ix_(rows, rows)].max(axis=1)
        other = sims[np.ix_(rows, np.flatnonzero(lab != c))].max(axis=1)
        margin[c] = float(np.mean(own - other))
    return [names[i] for i in np.argsort(margin, kind="stable")[:count]]


def enrol(fg: FaceGate, people: dict[str, list[Path]], shots: int, t0: float) -> dict[str, list[Path]]:
    """Enrol ``shots`` photos of each person (one at a time, skipping rejected ones); returns the
    photos not tried, for holding out."""
    rest: dict[str, list[Path]] = {}
    for name, photos in people.items():
        added = used = 0
        for p in photos:
            if added >= shots:
                break
            used += 1
            added += len(fg.enrol_images(name, [p], check_quality=False, force=True).added)  # labelled data
        rest[name] = photos[used:]
    log(t0, f"enrolled {len(people)} people")
    return rest


def relabel(crops: FaceCrops, like: FaceCrops) -> FaceCrops:
    """``crops`` with labels mapped onto the classes of ``like`` (by name)."""
    index = {n: i for i, n in enumerate(like.class_names)}
    labels = np.array([index[crops.class_names[int(c)]] for c in crops.labels], np.int64)
    return FaceCrops(crops.crops, labels, like.class_names, like.class_keys, crops.sources, crops.sample_ids,
                     crops.skipped)


def at_resolution(crops: np.ndarray, px: int) -> np.ndarray:
    """(N, 112, 112, 3) uint8 crops as a camera sees them from afar: each shrunk to ``px`` square
    (INTER_AREA) and enlarged back (INTER_LINEAR); ``px`` 0 or >= 112 returns ``crops``."""
    if px <= 0 or px >= crops.shape[1] or len(crops) == 0:
        return crops
    size = crops.shape[1]
    return np.stack([cv2.resize(cv2.resize(c, (px, px), interpolation=cv2.INTER_AREA), (size, size),
                                interpolation=cv2.INTER_LINEAR) for c in crops])


def far_probes(probes: FaceCrops, px: int) -> FaceCrops:
    """:func:`at_resolution` of the probes' crops, labels and sources kept."""
    return FaceCrops(at_resolution(probes.crops, px), probes.labels, probes.class_names, probes.class_keys,
                     probes.sources, probes.sample_ids, probes.skipped)


# --------------------------------------------------------------------------------------------------
# LFW through the frozen trunk


def lfw_features(pairs: Sequence[LfwPair], cache: CropCache, model: SFaceNet, t0: float
                 ) -> tuple[list[Path], torch.Tensor]:
    """Distinct pair images with a face, and their frozen-trunk features (N, 2, 50176) float16
    (the crop and its mirror image), computed in chunks with progress lines."""
    paths = pair_images(pairs, cache)
    chunks = []
    step = 256
    for i in range(0, len(paths), step):
        crops = prepare_crops(np.stack([cache.crop(p) for p in paths[i:i + step]]))  # type: ignore[misc]
        tf = trunk_features(model, crops, 2, np.random.default_rng(0))
        assert tf is not None
        chunks.append(tf.feats)
        log(t0, f"LFW trunk features {min(i + step, len(paths))}/{len(paths)}")
    return paths, torch.cat(chunks) if chunks else torch.zeros((0, 2, 50176), dtype=torch.float16)


def pair_images(pairs: Sequence[LfwPair], cache: CropCache) -> list[Path]:
    """The distinct images of ``pairs`` in which a face was found, in pair order."""
    seen = dict.fromkeys(p for pair in pairs for p in (pair.left, pair.right))
    return [p for p in seen if cache.crop(p) is not None]


def pair_figures(emb: dict[Path, np.ndarray], pairs: Sequence[LfwPair]) -> dict[str, float | int]:
    """View-2 figures of ``pairs`` from unit embeddings by image path (a missing image: no face)."""
    res = evaluate_pairs(list(pairs), lambda p: emb.get(p))
    tars: dict[str, float] = res["tar_at_far"]  # type: ignore[assignment]
    return {"accuracy": float(res["accuracy"]), "accuracy_std": float(res["accuracy_std"]),  # type: ignore[arg-type]
            "tar_at_far_1e3": float(tars["0.001"]), "tar_at_far_1e2": float(tars["0.01"]), "pairs": len(pairs)}


def lfw_figures(model: SFaceNet, paths: list[Path], feats: torch.Tensor, pairs: Sequence[LfwPair]
                ) -> dict[str, float | int]:
    fc, bn = model.head.fc, model.head.features.eval()
    unit = flip_tta(raw_embeddings(fc, bn, feats[:, 0]), raw_embeddings(fc, bn, feats[:, 1])).numpy()
    return pair_figures(dict(zip(paths, unit, strict=True)), pairs)


def lfw_through_onnx(path: Path, paths: list[Path], cache: CropCache, *pair_sets: Sequence[LfwPair]
                     ) -> list[dict[str, float | int]]:
    """LFW figures of each of ``pair_sets`` through the app's Embedder on an ONNX file (a model whose
    trunk moved); ``paths``' crops (from ``cache``) are embedded once for all the sets."""
    embedder = Embedder(path, device="cpu", flip=True)
    vecs = np.concatenate([embedder.embed(np.stack([cache.crop(p) for p in paths[i:i + 256]]))  # type: ignore[misc]
                           for i in range(0, len(paths), 256)])
    emb = dict(zip(paths, vecs, strict=True))
    return [pair_figures(emb, pairs) for pairs in pair_sets]


def same_trunk(a: SFaceNet, b: SFaceNet) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return all(torch.equal(sa[k], sb[k]) for k in sa if not k.startswith("head.fc."))


# --------------------------------------------------------------------------------------------------


def row(label: str, r: ModelReport, lfw: dict[str, float | int] | None, lfw_ex: dict[str, float | int] | None,
        extra: str = "") -> str:
    def pct(x: float | int | None) -> str:
        return f"{100 * float(x):6.2f}" if x is not None else "   -  "

    hits = round(r.rank1 * r.n_probes)
    return (f"{label:16s} {hits:3d}/{r.n_probes:<3d} {pct(r.rank1)}  {pct(r.tpir)}  {r.map_at_r:6.4f}  "
            f"{pct(lfw['accuracy'] if lfw else None)}  {pct(lfw['tar_at_far_1e3'] if lfw else None)}  "
            f"{pct(lfw_ex['accuracy'] if lfw_ex else None)}  {pct(lfw_ex['tar_at_far_1e3'] if lfw_ex else None)}"
            f"  {extra}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lfw", type=Path, default=DEFAULT_LFW)
    ap.add_argument("--min-images", type=int, default=10)
    ap.add_argument("--roster", choices=["hard", "first"], default="hard")
    ap.add_argument("--people", type=int, default=20)
    ap.add_argument("--names", nargs="*", default=None, help="an explicit roster (LFW folder names); skips --roster")
    ap.add_argument("--shots", type=int, default=5)
    ap.add_argument("--max-held-out", type=int, default=5, help="held-out photos per person (at most)")
    ap.add_argument("--recipes", nargs="+", default=["frozen_trunk"], choices=["frozen_trunk", "partial"])
    ap.add_argument("--epochs", type=int, default=None, help="default: TrainConfig's")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0],
                    help="train once per seed (the validation split and every training draw); the roster, "
                         "the held-out photos and the baseline are the same for all")
    ap.add_argument("--lfw-folds", type=int, default=10)
    ap.add_argument("--lfw-pairs-per-fold", type=int, default=None, help="subset of each fold (default: all 600)")
    ap.add_argument("--strangers", type=int, default=200)
    ap.add_argument("--crop-cache", type=Path, nargs="*", default=[], help=".npz files of aligned crops to reuse")
    ap.add_argument("--save-crop-cache", type=Path, default=None)
    ap.add_argument("--probe-px", type=int, default=0,
                    help="held-out probes and strangers seen from afar: crops through N x N pixels (0: off)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--out", type=Path, default=None, help="JSON results file")
    args = ap.parse_args()
    args.seeds, args.recipes = list(dict.fromkeys(args.seeds)), list(dict.fromkeys(args.recipes))  # no repeats
    if args.threads:
        torch.set_num_threads(args.threads)

    t0 = time.perf_counter()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)
    cache = CropCache(device="cpu")
    log(t0, f"{load_crop_cache(cache, args.crop_cache)} crops from the cache files")
    pool = lfw_people_with_min_images(args.lfw, args.min_images)
    if args.names:
        chosen = list(args.names)
    elif args.roster == "hard":
        chosen = hard_roster(pool, args.people, args.shots, cache, t0)
    else:
        chosen = list(pool)[: args.people]
    people = {n: pool[n] for n in chosen}
    log(t0, f"{args.roster} roster: {', '.join(chosen)}")
    results: dict[str, object] = {"args": {k: str(v) for k, v in vars(args).items()}, "roster": chosen}
    summary: list[str] = []
    with tempfile.TemporaryDirectory(prefix="facegate-bench-") as tmp, \
            FaceGate(Path(tmp) / "facegate.db", device="cpu") as fg:
        rest = enrol(fg, people, args.shots, t0)
        base_path = Path(fg.model.path)
        db = crops_from_facegate(fg)
        held_items = [(p, name) for name, photos in rest.items() for p in photos[: args.max_held_out]]
        clean_probes = relabel(crops_from_images(held_items, cache), db)
        clean_strangers = stranger_crops(args.lfw, args.strangers, cache, exclude=list(pool))
        probes, strangers = far_probes(clean_probes, args.probe_px), at_resolution(clean_strangers, args.probe_px)
        data = EvalData(gallery=db, probes=probes, strangers=strangers, lfw_pairs=(), cache=cache,
                        target_fpir=fg.config.recognition.target_fpir)
        clean = EvalData(gallery=db, probes=clean_probes, strangers=clean_strangers, lfw_pairs=(), cache=cache,
                         target_fpir=fg.config.recognition.target_fpir) if args.probe_px else None

        def clean_figures(path: Path, name: str) -> dict[str, object] | None:
            """With --probe-px: the same model on the probes and strangers as photographed."""
            if clean is None:
                return None
            rep, _ = evaluate_model(path, clean, name=name)
            summary.append(row("  (clean)", rep, None, None, "probes and strangers at full resolution"))
            return rep.to_dict()
        log(t0, f"{db.num_classes} people, {len(db)} enrolled crops, {len(probes)} held-out photos, "
                f"{len(strangers)} strangers")
        pairs = lfw_pair_subset(args.lfw, args.lfw_folds, args.lfw_pairs_per_fold)
        roster_names = set(chosen)
        pairs_ex = [p for p in pairs if p.left.parent.name not in roster_names
                    and p.right.parent.name not in roster_names]
        base_model = load_pretrained_sface(base_path)
        base_onnx: dict[str, dict[str, float | int]] = {}  # LFW of the shipped model through its ONNX file
        if "frozen_trunk" in args.recipes:
            paths, feats = lfw_features(pairs, cache, base_model, t0)
        else:  # every model's trunk moves: LFW goes through the ONNX files only, the baseline's too
            paths, feats = pair_images(pairs, cache), None
        if args.save_crop_cache:
            save_crop_cache(cache, args.save_crop_cache)
        before, _ = evaluate_model(base_path, data, name="pretrained")
        if feats is not None:
            lfw_b, lfw_bx = lfw_figures(base_model, paths, feats, pairs), lfw_figures(base_model, paths, feats,
                                                                                      pairs_ex)
        else:
            lfw_b, lfw_bx = lfw_through_onnx(base_path, paths, cache, pairs, pairs_ex)
            base_onnx.update(all=lfw_b, excl_roster=lfw_bx)
        results["pretrained"] = {**before.to_dict(), "lfw_all": lfw_b, "lfw_excl_roster": lfw_bx}
        if base_onnx:
            results["pretrained"]["lfw_onnx"] = dict(base_onnx)  # type: ignore[index]
        print(json.dumps({"model": "pretrained", **results["pretrained"]}), flush=True)  # type: ignore[dict-item]
        summary.append(row("pretrained", before, lfw_b, lfw_bx, "LFW through its ONNX file" if base_onnx else ""))
        results["pretrained"]["clean_probes"] = clean_figures(base_path, "pretrained")  # type: ignore[index]
        for seed, recipe in itertools.product(args.seeds, args.recipes):
            name = recipe if len(args.seeds) == 1 else f"{recipe}@{seed}"
            split = split_held_out(db, 0.2, seed=seed)
            over: dict[str, object] = {"recipe": recipe, "base_model": base_path, "device": "cpu", "seed": seed}
            if args.epochs:
                over["epochs"] = args.epochs
            if recipe == "partial":
                over["checkpoint_dir"] = Path(tmp) / f"ck{seed}"
            cfg = TrainConfig(**over)  # type: ignore[arg-type]
            log(t0, f"training {name}: {len(split.train)} crops, {len(split.held_out)} for validation")
            res = train(cfg, split, progress=functools.partial(progress_line, t0, cfg.epochs))
            path = Path(tmp) / f"{recipe}-{seed}.onnx"
            parity = export_candidate(res.model, path, split.held_out.crops[:8])
            after, _ = evaluate_model(path, data, name=name)
            if feats is not None and same_trunk(res.model, base_model):
                lfw_a, lfw_ax = lfw_figures(res.model, paths, feats, pairs), lfw_figures(res.model, paths, feats,
                                                                                        pairs_ex)
            else:
                log(t0, f"{name}: the trunk moved; LFW through the ONNX file")
                lfw_a, lfw_ax = lfw_through_onnx(path, paths, cache, pairs, pairs_ex)
                if not base_onnx:  # the same path for the baseline, so the two compare like for like
                    base_all, base_ex = lfw_through_onnx(base_path, paths, cache, pairs, pairs_ex)
                    base_onnx.update(all=base_all, excl_roster=base_ex)
                    results["pretrained"]["lfw_onnx"] = dict(base_onnx)  # type: ignore[index]
                    summary.append(row("  (ONNX)", before, base_onnx["all"], base_onnx["excl_roster"],
                                       "pretrained LFW through its ONNX file"))
                log(t0, f"LFW through the ONNX files: pretrained {100 * base_onnx['all']['accuracy']:.2f} / excl. "
                        f"roster {100 * base_onnx['excl_roster']['accuracy']:.2f} %, {name} "
                        f"{100 * lfw_a['accuracy']:.2f} / {100 * lfw_ax['accuracy']:.2f} %")
            entry = {"model": name, "seed": seed, **after.to_dict(), "lfw_all": lfw_a, "lfw_excl_roster": lfw_ax,
                     "train_seconds": round(res.seconds, 1), "best_epoch": res.best_epoch,
                     "epochs_run": res.epochs_run, "wise_alpha": res.wise_alpha, "parity": parity}
            print(json.dumps(entry), flush=True)
            results[name] = entry
            summary.append(row(name, after, lfw_a, lfw_ax,
                               f"train {res.seconds:.0f} s, best epoch {res.best_epoch}/{res.epochs_run}, "
                               f"WiSE-FT alpha {res.wise_alpha}"))
            entry["clean_probes"] = clean_figures(path, name)
    print()
    print(f"LFW: {len(pairs)} view-2 pairs ({args.lfw_folds} folds); excl. roster: {len(pairs_ex)} pairs")
    print(f"{'model':16s} rank-1          TPIR    MAP@R   LFW acc TAR@1e-3  LFW-ex acc TAR@1e-3")
    for line in summary:
        print(line)
    print(f"total {time.perf_counter() - t0:.0f} s")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
