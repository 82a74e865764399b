"""Candidate vs current model on the same data: identification, open-set, LFW verification, plots.

Both models run through the app's own inference path (:class:`desktop_app.core.embedding.embedder.Embedder`:
illumination normalisation, flip test-time augmentation, L2 normalisation) on the same aligned
crops, so the report says what the app would do with each model.

Per model (:class:`ModelReport`):

* closed-set rank-1 of the held-out crops ("probes") of enrolled people against their enrolled
  crops ("gallery"), person-level (best template per person);
* open-set: the threshold the core's :func:`~desktop_app.core.matching.calibration.calibrate` picks for
  ``target_fpir`` on this gallery (with half of the stranger faces when given), then TPIR (mated
  searches identified correctly at or above it) and the FPIR measured there on non-mated searches:
  the other half of the strangers (LFW single-image people), or, without strangers, each probe
  searched against the gallery without its own person;
* Recall@K and MAP@R over gallery + probes (each query excluded from its own references);
* LFW verification on the view-2 pairs (a fold subset or all 10 folds): k-fold accuracy and TAR
  at FAR 1e-3 / 1e-2.

:func:`save_report` writes ``report.json`` and ``report.png`` (ROC curves and genuine / impostor
score histograms, drawn with matplotlib's Agg canvas, no GUI).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from desktop_app.core.embedding.embedder import Embedder
from desktop_app.core.embedding.model_prior import measure_prior
from desktop_app.core.evaluation.lfw import LfwPair, evaluate_pairs, lfw_single_image_people, read_pairs
from desktop_app.core.evaluation.metrics import map_at_r, open_set_identification, rank1, recall_at_k, roc
from desktop_app.core.matching.calibration import CalibrationPolicy, calibrate
from desktop_app.core.progress import ProgressFn

from .data import CropCache, FaceCrops

RECALL_KS: tuple[int, ...] = (1, 2, 4, 8)
"""progress(done, total, message)"""


@dataclass(frozen=True)
class LfwReport:
    """LFW verification of one model: k-fold accuracy (mean, std over folds), TAR at FAR 1e-3 and
    1e-2, pairs and folds used, images without a face, degenerate (zero / non-finite) embeddings."""

    accuracy: float
    accuracy_std: float
    tar_at_far_1e3: float
    tar_at_far_1e2: float
    pairs: int
    folds: int
    no_face: int
    degenerate: int


@dataclass(frozen=True)
class ModelReport:
    """Evaluation of one model on the roster (and LFW when given). Rates are fractions in [0, 1].

    threshold: the calibrated cosine threshold (NaN when it cannot be calibrated); tpir / fpir at
    that threshold (None then); nonmated_source: "strangers" or "leave-one-person-out";
    degenerate: roster crops whose embedding is zero or not finite (a broken model).
    """

    name: str
    sha256: str
    path: str
    rank1: float
    tpir: float | None
    fpir: float | None
    threshold: float
    target_fpir: float
    recall_at_k: dict[int, float]
    map_at_r: float
    n_gallery: int
    n_probes: int
    n_people: int
    n_nonmated: int
    nonmated_source: str
    degenerate: int
    lfw: LfwReport | None = None

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["recall_at_k"] = {str(k): v for k, v in self.recall_at_k.items()}
        if isinstance(d["threshold"], float) and not math.isfinite(d["threshold"]):
            d["threshold"] = None
        return d


@dataclass(frozen=True, eq=False)
class Scores:
    """Similarity scores behind a report, for the plots: (G,) genuine and (I,) impostor cosines of
    roster probe-vs-gallery pairs, and of LFW pairs (empty without LFW)."""

    roster_genuine: np.ndarray
    roster_impostor: np.ndarray
    lfw_genuine: np.ndarray = field(default_factory=lambda: np.zeros(0))
    lfw_impostor: np.ndarray = field(default_factory=lambda: np.zeros(0))


@dataclass(frozen=True, eq=False)
class Comparison:
    """The current and the candidate model evaluated on the same data; paths of the saved files."""

    current: ModelReport
    candidate: ModelReport
    current_scores: Scores
    candidate_scores: Scores
    json_path: Path | None = None
    plot_path: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"current": self.current.to_dict(), "candidate": self.candidate.to_dict(),
                "plot": str(self.plot_path) if self.plot_path else None}


@dataclass(frozen=True, eq=False)
class EvalData:
    """What both models are evaluated on.

    gallery / probes: enrolled and held-out crops of the same classes; strangers: (S, 112, 112, 3)
    uint8 crops of people not enrolled (may be empty); lfw_pairs: LFW pairs (may be empty) whose
    image crops come from ``cache``; target_fpir: the open-set operating point.
    """

    gallery: FaceCrops
    probes: FaceCrops
    strangers: np.ndarray
    lfw_pairs: tuple[LfwPair, ...]
    cache: CropCache
    target_fpir: float = 1e-3


# --------------------------------------------------------------------------------------------------
# data


def lfw_pair_subset(lfw_dir: Path, folds: int = 10, pairs_per_fold: int | None = None) -> list[LfwPair]:
    """The view-2 pairs of the first ``folds`` folds; with ``pairs_per_fold`` only that many of each
    fold (half same-person, half different-person, the first ones in file order)."""
    if folds < 2:
        raise ValueError("LFW verification needs at least 2 folds (the threshold is fitted on the others)")
    pairs = [p for p in read_pairs(Path(lfw_dir) / "pairs.txt", Path(lfw_dir)) if p.fold < folds]
    if pairs_per_fold is None:
        return pairs
    half = max(1, pairs_per_fold // 2)
    out: list[LfwPair] = []
    for f in range(folds):
        fold = [p for p in pairs if p.fold == f]
        out += [p for p in fold if p.same][:half] + [p for p in fold if not p.same][:half]
    return out


def stranger_crops(lfw_dir: Path, count: int, cache: CropCache, seed: int = 0,
                   exclude: Sequence[str] = ()) -> np.ndarray:
    """Crops of ``count`` LFW single-image people (chosen at random, deterministic by ``seed``),
    skipping names in ``exclude`` and images without a face. (S, 112, 112, 3) uint8."""
    if count <= 0:
        return np.zeros((0, 112, 112, 3), np.uint8)
    paths = [p for p in lfw_single_image_people(Path(lfw_dir)) if p.parent.name not in set(exclude)]
    order = np.random.default_rng(seed).permutation(len(paths))
    crops: list[np.ndarray] = []
    for i in order.tolist():
        crop = cache.crop(paths[i])
        if crop is not None:
            crops.append(crop)
        if len(crops) >= count:
            break
    return np.stack(crops) if crops else np.zeros((0, 112, 112, 3), np.uint8)


def build_eval_data(gallery: FaceCrops, probes: FaceCrops, *, lfw_dir: Path | None = None,
                    lfw_folds: int = 10, lfw_pairs_per_fold: int | None = None, n_strangers: int = 600,
                    target_fpir: float = 1e-3, cache: CropCache | None = None,
                    progress: ProgressFn | None = None) -> EvalData:
    """Gather the evaluation data; with ``lfw_dir`` the LFW pairs' crops and the strangers are
    computed (detect + align) once here and kept in ``cache``."""
    cache = cache if cache is not None else CropCache()  # an empty cache is falsy (len 0)
    pairs: list[LfwPair] = []
    strangers = np.zeros((0, 112, 112, 3), np.uint8)
    if lfw_dir is not None:
        pairs = lfw_pair_subset(lfw_dir, lfw_folds, lfw_pairs_per_fold)
        paths = _distinct_paths(pairs)
        cache.crops(paths, None if progress is None else
                    (lambda d, t: progress(d, t, "aligning LFW pair images") if d % 100 == 0 or d == t else None))
        strangers = stranger_crops(lfw_dir, n_strangers, cache, exclude=gallery.class_names)
    return EvalData(gallery=gallery, probes=probes, strangers=strangers, lfw_pairs=tuple(pairs), cache=cache,
                    target_fpir=target_fpir)


def _distinct_paths(pairs: Sequence[LfwPair]) -> list[Path]:
    seen: dict[Path, None] = {}
    for p in pairs:
        seen.setdefault(p.left)
        seen.setdefault(p.right)
    return list(seen)


# --------------------------------------------------------------------------------------------------
# one model


def _embed(embedder: Embedder, crops: np.ndarray, chunk: int = 256) -> tuple[np.ndarray, int]:
    """App templates (N, D) float32 of (N, 112, 112, 3) uint8 crops; degenerate rows (zero or not
    finite) are set to 0 and counted."""
    if len(crops) == 0:
        return np.zeros((0, embedder.dim), np.float32), 0
    vecs = np.concatenate([embedder.embed(crops[i:i + chunk]) for i in range(0, len(crops), chunk)])
    bad = ~np.isfinite(vecs).all(axis=1) | (np.linalg.norm(np.nan_to_num(vecs), axis=1) < 1e-6)
    vecs[bad] = 0.0
    return vecs.astype(np.float32), int(bad.sum())


def _person_top(queries: np.ndarray, gallery: np.ndarray, labels: np.ndarray,
                exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Best person (by best template) and its score for each query: ((Q,) labels, (Q,) float64).

    exclude (Q,) optional: a label each query must not match (leave-one-person-out)."""
    classes = np.unique(labels)
    sims = queries.astype(np.float64) @ gallery.astype(np.float64).T
    per = np.full((queries.shape[0], classes.size), -np.inf)
    for j, c in enumerate(classes):
        per[:, j] = sims[:, labels == c].max(axis=1)
    if exclude is not None:
        per[classes[None, :] == exclude[:, None]] = -np.inf
    best = per.argmax(axis=1)
    return classes[best], per[np.arange(per.shape[0]), best]


def _prior_floor(strangers: np.ndarray, templates: int, target_fpir: float) -> float | None:
    """Threshold floor from this model's own impostor tail measured on the calibration strangers, as
    the app calibrates (desktop_app.core.embedding.model_prior): each model gets its own, so the comparison is
    fair; None when there are too few strangers (then the site-data tail model alone decides)."""
    try:
        prior = measure_prior(strangers, "", flip=True, source="evaluation strangers")
    except ValueError:
        return None
    return prior.threshold_for_gallery(target_fpir, templates)


def evaluate_model(model_path: Path, data: EvalData, *, name: str = "", device: str = "cpu",
                   flip: bool = True, progress: ProgressFn | None = None) -> tuple[ModelReport, Scores]:
    """Evaluate one ONNX embedder on ``data`` through the app's Embedder (see the module docstring)."""
    embedder = Embedder(Path(model_path), device=device, flip=flip)
    label = name or Path(model_path).stem
    g_vec, g_bad = _embed(embedder, data.gallery.crops)
    p_vec, p_bad = _embed(embedder, data.probes.crops)
    s_vec, _ = _embed(embedder, data.strangers)
    if progress:
        progress(1, 3, f"{label}: roster embedded")
    g_lab, p_lab = data.gallery.labels, data.probes.labels
    if len(g_lab) == 0 or len(p_lab) == 0:
        raise ValueError("The evaluation needs enrolled crops and held-out crops (enrol 2+ photos per person).")
    r1 = rank1(p_vec, p_lab, g_vec, g_lab)

    # open set: calibrate on half the strangers, measure FPIR on the other half (or LOO searches)
    half = len(s_vec) // 2
    cal_strangers, eval_strangers = s_vec[:half], s_vec[half:]
    threshold = float("nan")
    tpir: float | None = None
    fpir: float | None = None
    top_label, top_score = _person_top(p_vec, g_vec, g_lab)
    if len(eval_strangers):
        _, nonmated = _person_top(eval_strangers, g_vec, g_lab)
        source = "strangers"
    else:
        _, nonmated = _person_top(p_vec, g_vec, g_lab, exclude=p_lab)
        nonmated = nonmated[np.isfinite(nonmated)]
        source = "leave-one-person-out"
    try:
        cal = calibrate(g_vec, g_lab, cal_strangers if len(cal_strangers) else None,
                        CalibrationPolicy(target_fpir=data.target_fpir),
                        prior_threshold=_prior_floor(cal_strangers, len(g_lab), data.target_fpir))
        threshold = cal.threshold
    except ValueError:
        pass
    if math.isfinite(threshold) and nonmated.size:
        tpir, fpir = open_set_identification(top_score, top_label == p_lab, nonmated, threshold)

    all_vec = np.concatenate([g_vec, p_vec])
    all_lab = np.concatenate([g_lab, p_lab])
    ks = [k for k in RECALL_KS if k <= len(all_lab) - 1]
    rak = recall_at_k(all_vec, all_lab, all_vec, all_lab, ks, exclude_self=True) if ks else {}
    try:
        mapr = map_at_r(all_vec, all_lab, all_vec, all_lab, exclude_self=True)
    except ValueError:
        mapr = float("nan")
    sims = p_vec @ g_vec.T
    same = p_lab[:, None] == g_lab[None, :]
    scores = Scores(roster_genuine=sims[same].astype(np.float64), roster_impostor=sims[~same].astype(np.float64))

    lfw_report: LfwReport | None = None
    if data.lfw_pairs:
        lfw_report, lfw_scores = _evaluate_lfw(embedder, data)
        scores = dataclasses.replace(scores, lfw_genuine=lfw_scores[0], lfw_impostor=lfw_scores[1])
    if progress:
        progress(3, 3, f"{label}: evaluated")
    report = ModelReport(
        name=label, sha256=embedder.sha256, path=str(model_path), rank1=r1, tpir=tpir, fpir=fpir,
        threshold=threshold, target_fpir=data.target_fpir, recall_at_k=rak, map_at_r=mapr,
        n_gallery=len(g_lab), n_probes=len(p_lab), n_people=int(np.unique(g_lab).size),
        n_nonmated=int(nonmated.size), nonmated_source=source, degenerate=g_bad + p_bad,
        lfw=lfw_report,
    )
    return report, scores


def _evaluate_lfw(embedder: Embedder, data: EvalData) -> tuple[LfwReport, tuple[np.ndarray, np.ndarray]]:
    paths = _distinct_paths(data.lfw_pairs)
    found = [(p, c) for p in paths if (c := data.cache.crop(p)) is not None]
    vecs, _ = _embed(embedder, np.stack([c for _, c in found])) if found else (np.zeros((0, 128)), 0)
    emb: dict[Path, np.ndarray | None] = {p: None for p in paths}
    degenerate = 0
    for (p, _), v in zip(found, vecs, strict=True):
        if np.linalg.norm(v) < 1e-6:
            degenerate += 1
        else:
            emb[p] = v
    res = evaluate_pairs(list(data.lfw_pairs), lambda p: emb[p])
    tars: dict[str, float] = res["tar_at_far"]  # type: ignore[assignment]
    score = np.array([
        -1.0 if emb[p.left] is None or emb[p.right] is None
        else float(np.clip(np.dot(emb[p.left], emb[p.right]), -1.0, 1.0))  # type: ignore[arg-type]
        for p in data.lfw_pairs
    ])
    same = np.array([p.same for p in data.lfw_pairs])
    report = LfwReport(
        accuracy=float(res["accuracy"]), accuracy_std=float(res["accuracy_std"]),  # type: ignore[arg-type]
        tar_at_far_1e3=float(tars["0.001"]), tar_at_far_1e2=float(tars["0.01"]),
        pairs=len(data.lfw_pairs), folds=len({p.fold for p in data.lfw_pairs}),
        no_face=int(res["no_face"]) - degenerate, degenerate=degenerate,  # type: ignore[call-overload]
    )
    return report, (score[same], score[~same])


def compare_models(current_path: Path, candidate_path: Path, data: EvalData, *, device: str = "cpu",
                   flip: bool = True, out_dir: Path | None = None, current_name: str = "current",
                   candidate_name: str = "candidate", progress: ProgressFn | None = None) -> Comparison:
    """Evaluate the current and the candidate model on ``data``; with ``out_dir`` also
    :func:`save_report` there."""
    cur, cur_scores = evaluate_model(current_path, data, name=current_name, device=device, flip=flip,
                                     progress=progress)
    cand, cand_scores = evaluate_model(candidate_path, data, name=candidate_name, device=device, flip=flip,
                                       progress=progress)
    comparison = Comparison(cur, cand, cur_scores, cand_scores)
    if out_dir is not None:
        comparison = save_report(comparison, out_dir)
    return comparison


# --------------------------------------------------------------------------------------------------
# files


def save_report(comparison: Comparison, out_dir: Path, extra: dict[str, Any] | None = None) -> Comparison:
    """Write ``out_dir/report.json`` (both reports, plus ``extra``) and ``out_dir/report.png``;
    returns the comparison with the two paths set."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plot_path = plot_comparison(comparison, out / "report.png")
    comparison = dataclasses.replace(comparison, plot_path=plot_path, json_path=out / "report.json")
    body = comparison.to_dict() | (extra or {})
    tmp = out / "report.json.partial"
    tmp.write_text(json.dumps(body, indent=2, default=_json_default), encoding="utf-8")
    tmp.replace(out / "report.json")
    return comparison


def _json_default(obj: object) -> object:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")


def plot_comparison(comparison: Comparison, path: Path) -> Path:
    """PNG with, per score set (LFW pairs when evaluated, and the roster), the ROC curves (TAR vs
    FAR, log FAR axis) of both models and their genuine / impostor cosine histograms."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    sets: list[tuple[str, Scores, Scores, str]] = []
    cs, ns = comparison.current_scores, comparison.candidate_scores
    if cs.lfw_genuine.size and ns.lfw_genuine.size:
        sets.append(("LFW pairs", cs, ns, "lfw"))
    sets.append(("Roster: held-out vs enrolled", cs, ns, "roster"))
    fig = Figure(figsize=(11, 4.2 * len(sets)), dpi=90)
    FigureCanvasAgg(fig)
    styles = ((comparison.current.name, "tab:blue"), (comparison.candidate.name, "tab:orange"))
    for row, (title, cur, cand, kind) in enumerate(sets):
        ax_roc = fig.add_subplot(len(sets), 2, 2 * row + 1)
        ax_hist = fig.add_subplot(len(sets), 2, 2 * row + 2)
        for (label, color), sc in zip(styles, (cur, cand), strict=True):
            gen = getattr(sc, f"{kind}_genuine")
            imp = getattr(sc, f"{kind}_impostor")
            if gen.size == 0 or imp.size == 0:
                continue
            far, tar, _ = roc(gen, imp)
            floor = 1.0 / (10 * imp.size)
            ax_roc.plot(np.maximum(far, floor), tar, color=color, label=label)
            bins = np.linspace(-0.5, 1.0, 61).tolist()
            ax_hist.hist(gen, bins=bins, density=True, histtype="step", color=color, linestyle="-",
                         label=f"{label} genuine")
            ax_hist.hist(imp, bins=bins, density=True, histtype="step", color=color, linestyle="--",
                         label=f"{label} impostor")
        ax_roc.set_xscale("log")
        ax_roc.set_xlabel("false accept rate")
        ax_roc.set_ylabel("true accept rate")
        ax_roc.set_title(f"ROC — {title}")
        ax_roc.grid(True, alpha=0.3)
        ax_roc.legend(loc="lower right", fontsize=8)
        ax_hist.set_xlabel("cosine similarity")
        ax_hist.set_ylabel("density")
        ax_hist.set_title(f"Scores — {title}")
        ax_hist.legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    path = Path(path)
    tmp = path.with_name(path.stem + ".partial.png")
    fig.savefig(tmp, format="png")
    tmp.replace(path)
    return path
