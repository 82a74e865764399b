"""The LFW (Labeled Faces in the Wild) view-2 pairs protocol and helpers to list LFW people.

Layout expected: ``images_dir/<Name>/<Name>_<NNNN>.<ext>`` (e.g. ``Aaron_Eckhart/Aaron_Eckhart_0001.jpg``),
where ``<ext>`` is any of the image suffixes the app reads (``IMAGE_SUFFIXES``: jpg, jpeg, png, bmp,
webp, tif, ...; any case), and the official ``pairs.txt``: a header ``"<folds> <pairs per
half-fold>"`` (``10 300``), then for each fold the same-person lines ``name n1 n2`` followed by
as many different-person lines ``name1 n1 name2 n2`` (fields separated by tabs or spaces).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from desktop_app.core.evaluation.metrics import best_threshold, kfold_accuracy, tar_at_far
from desktop_app.core.vectors import as_vector
from desktop_app.core.video.imageio import IMAGE_SUFFIXES

FARS: tuple[str, ...] = ("0.01", "0.001")
"""False accept rates reported by :func:`evaluate_pairs`, as the keys of ``tar_at_far``."""


@dataclass(frozen=True)
class LfwPair:
    """One protocol pair: fold 0-based; same: True for a same-person pair; left/right: image paths."""

    fold: int
    same: bool
    left: Path
    right: Path


#: Tried first, in this order (LFW ships JPEG); then any other suffix of ``IMAGE_SUFFIXES``.
_PREFERRED_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png")


def lfw_image_path(images_dir: Path, name: str, number: int) -> Path:
    """Path of image ``number`` (1-based) of person ``name``: ``images_dir/name/name_%04d.<ext>``,
    the first existing file among the image suffixes (.jpg first, any case); the .jpg path when
    none exists (so a missing image is named as LFW names it)."""
    folder = Path(images_dir) / name
    stem = f"{name}_{number:04d}"
    for suffix in _PREFERRED_SUFFIXES:
        path = folder / f"{stem}{suffix}"
        if path.is_file():
            return path
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                base, dot, ext = entry.name.rpartition(".")
                if dot and base == stem and f".{ext.lower()}" in IMAGE_SUFFIXES and entry.is_file():
                    return Path(entry.path)
    except OSError:
        pass
    return folder / f"{stem}.jpg"


def _image_number(text: str, where: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise ValueError(f"{where}: image number {text!r} is not an integer.") from None
    if number < 1:
        raise ValueError(f"{where}: image number {number} must be 1 or more.")
    return number


def read_pairs(pairs_txt: Path, images_dir: Path) -> list[LfwPair]:
    """Parse an LFW ``pairs.txt`` (view 2). Returns the pairs in file order, fold by fold.

    Raises FileNotFoundError if the file is missing and ValueError naming the line for a malformed
    header or pair line, or a file with fewer/more pair lines than the header announces. Image
    files are not checked for existence here.
    """
    pairs_txt = Path(pairs_txt)
    if not pairs_txt.is_file():
        raise FileNotFoundError(f"LFW pairs file not found: {pairs_txt}")
    lines = pairs_txt.read_text(encoding="utf-8").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise ValueError(f"{pairs_txt} is empty; expected a header such as '10 300'.")
    header = lines[0].split()
    try:
        n_folds, per_half = (int(v) for v in header)
    except ValueError:
        raise ValueError(
            f"{pairs_txt}:1: expected a header '<folds> <pairs per half-fold>' such as '10 300', "
            f"got {lines[0]!r}."
        ) from None
    if n_folds < 1 or per_half < 1:
        raise ValueError(f"{pairs_txt}:1: folds and pairs per half-fold must be positive, got {lines[0]!r}.")
    expected = n_folds * 2 * per_half
    body = lines[1:]
    if len(body) != expected:
        raise ValueError(
            f"{pairs_txt}: the header announces {n_folds} folds x 2 x {per_half} = {expected} pair lines, "
            f"but the file has {len(body)}."
        )
    images_dir = Path(images_dir)
    pairs: list[LfwPair] = []
    for i, line in enumerate(body):
        where = f"{pairs_txt}:{i + 2}"
        fold, within = divmod(i, 2 * per_half)
        same = within < per_half
        fields = line.split()
        if same:
            if len(fields) != 3:
                raise ValueError(f"{where}: expected a same-person line 'name n1 n2', got {line!r}.")
            name, a, b = fields
            left = lfw_image_path(images_dir, name, _image_number(a, where))
            right = lfw_image_path(images_dir, name, _image_number(b, where))
        else:
            if len(fields) != 4:
                raise ValueError(
                    f"{where}: expected a different-person line 'name1 n1 name2 n2', got {line!r}."
                )
            name1, a, name2, b = fields
            left = lfw_image_path(images_dir, name1, _image_number(a, where))
            right = lfw_image_path(images_dir, name2, _image_number(b, where))
        pairs.append(LfwPair(fold=fold, same=same, left=left, right=right))
    return pairs


def _people(images_dir: Path) -> dict[str, list[Path]]:
    images_dir = Path(images_dir)
    if not images_dir.is_dir():
        raise FileNotFoundError(f"LFW image folder not found: {images_dir}")
    people: dict[str, list[Path]] = {}
    with os.scandir(images_dir) as entries:
        for entry in entries:
            if not entry.is_dir():
                continue
            with os.scandir(entry.path) as files:
                images = sorted(
                    Path(f.path) for f in files if f.is_file() and Path(f.name).suffix.lower() in IMAGE_SUFFIXES
                )
            if images:
                people[entry.name] = images
    return dict(sorted(people.items()))


def lfw_people_with_min_images(images_dir: Path, min_images: int) -> dict[str, list[Path]]:
    """People (folder names, sorted) with at least ``min_images`` images, each with the sorted
    list of their image paths."""
    return {name: imgs for name, imgs in _people(images_dir).items() if len(imgs) >= min_images}


def lfw_single_image_people(images_dir: Path) -> list[Path]:
    """The one image of each person who has exactly one image (sorted by person): strangers for
    open-set tests."""
    return [imgs[0] for imgs in _people(images_dir).values() if len(imgs) == 1]


def evaluate_pairs(pairs: Sequence[LfwPair], embed: Callable[[Path], np.ndarray | None]) -> dict[str, object]:
    """Run a verification benchmark on LFW-style pairs.

    embed: maps an image path to its (D,) embedding, or None when no face is found; it is called
    once per distinct image. The score of a pair is the cosine similarity of its two embeddings
    (normalised here); a pair with a missing embedding scores -1.0 (always wrong for a same pair,
    a conservative choice). Returns a dict with: ``accuracy`` / ``accuracy_std``: LFW k-fold
    accuracy (threshold fitted on the other folds) mean and std; ``fold_accuracies``: list of the
    per-fold accuracies; ``tar_at_far``: {"0.01": TAR, "0.001": TAR} over all pairs; ``no_face``:
    images without embedding; ``missing_files``: those of them whose file does not exist;
    ``images``: distinct images; ``pairs``: number of pairs;
    ``threshold``: the accuracy-maximising threshold over all pairs; ``seconds``: wall time.
    """
    if not pairs:
        raise ValueError("No pairs to evaluate.")
    start = time.perf_counter()
    embeddings: dict[Path, np.ndarray | None] = {}
    dim: int | None = None
    for pair in pairs:
        for path in (pair.left, pair.right):
            if path in embeddings:
                continue
            raw = embed(path)
            vec = None if raw is None else as_vector(raw, f"The embedding of {path}").astype(np.float64)
            if vec is not None:
                if dim is not None and vec.size != dim:
                    raise ValueError(f"The embedding of {path} has {vec.size} values, the others {dim}.")
                dim = vec.size
            embeddings[path] = vec
    scores = np.empty(len(pairs), dtype=np.float64)
    for i, pair in enumerate(pairs):
        a, b = embeddings[pair.left], embeddings[pair.right]
        scores[i] = -1.0 if a is None or b is None else float(np.clip(np.dot(a, b), -1.0, 1.0))
    labels = np.array([p.same for p in pairs], dtype=bool)
    folds = np.array([p.fold for p in pairs], dtype=np.int64)
    if labels.all() or not labels.any():
        raise ValueError("The pairs must include both same-person and different-person pairs.")
    mean, std, per_fold = kfold_accuracy(scores, labels, folds)
    tars = {far: tar_at_far(scores[labels], scores[~labels], float(far))[0] for far in FARS}
    return {
        "accuracy": mean,
        "accuracy_std": std,
        "fold_accuracies": [float(a) for a in per_fold],
        "tar_at_far": tars,
        "no_face": sum(1 for v in embeddings.values() if v is None),
        "missing_files": sum(1 for p in embeddings if not p.is_file()),
        "images": len(embeddings),
        "pairs": len(pairs),
        "threshold": best_threshold(scores, labels),
        "seconds": time.perf_counter() - start,
    }
