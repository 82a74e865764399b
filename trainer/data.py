"""Training data for fine-tuning: aligned face crops, held-out splits, augmentation, P-K batches.

Crops come either from a FaceGate database (the aligned crops it stored at enrolment) or from
image files, detected and aligned by the core's own engine (``FaceEngine.main_face``, i.e. YuNet
+ :func:`desktop_app.core.face.alignment.align_face`), so training sees exactly the crops inference
sees. Crops are (112, 112, 3) uint8 BGR throughout; the network input built from them is
(B, 3, 112, 112) float32 BGR 0..255 (the graph normalises internally).

Augmentation is plain numpy / OpenCV (no torchvision): horizontal flip, a small similarity jitter
(rotation, scale, shift) with ``cv2.warpAffine`` and the border mode of the alignment,
brightness / contrast, Gaussian blur. Every random draw comes from a ``numpy.random.Generator``
the caller seeds, so an epoch is reproducible from ``(seed, epoch)`` alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch

from desktop_app.core.errors import FaceGateError, ImageError
from desktop_app.core.face.engine import FaceEngine
from desktop_app.core.face.illumination import normalise_face_crop
from desktop_app.core.video.imageio import read_image

if TYPE_CHECKING:
    from desktop_app.core.service import FaceGate

log = logging.getLogger(__name__)

CROP_SIZE = 112
"""Side of the aligned crops, pixels."""


# --------------------------------------------------------------------------------------------------
# crops


@dataclass(frozen=True, eq=False)
class FaceCrops:
    """Labelled aligned face crops.

    crops: (N, 112, 112, 3) uint8 BGR aligned faces; labels: (N,) int64 class indices in
    0..C-1; class_names: (C,) person names; class_keys: (C,) the FaceGate person id of each class
    (-1 when the crops do not come from a database); sources: (N,) where each crop came from
    ("sample:<id>" or an image path); sample_ids: (N,) int64 database sample ids (-1 for files);
    skipped: image files in which no usable face was found (not part of the N crops).
    A subset keeps all C classes, so labels mean the same classes in every split.
    """

    crops: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    class_keys: tuple[int, ...]
    sources: tuple[str, ...]
    sample_ids: np.ndarray
    skipped: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.labels)
        if self.crops.ndim != 4 or self.crops.shape[1:] != (CROP_SIZE, CROP_SIZE, 3) or self.crops.dtype != np.uint8:
            raise ValueError(f"crops must be (N, {CROP_SIZE}, {CROP_SIZE}, 3) uint8, got {self.crops.shape} "
                             f"{self.crops.dtype}")
        if self.crops.shape[0] != n or len(self.sources) != n or len(self.sample_ids) != n:
            raise ValueError("crops, labels, sources and sample_ids must have the same length")
        if len(self.class_names) != len(self.class_keys):
            raise ValueError("class_names and class_keys must have the same length")
        if n and (int(self.labels.min()) < 0 or int(self.labels.max()) >= len(self.class_names)):
            raise ValueError(f"labels must be in 0..{len(self.class_names) - 1}")

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def num_classes(self) -> int:
        """C, the number of classes (people), including those without crops in this subset."""
        return len(self.class_names)

    def counts(self) -> np.ndarray:
        """(C,) int64 number of crops per class."""
        return np.bincount(self.labels, minlength=self.num_classes).astype(np.int64)

    def subset(self, index: np.ndarray | Sequence[int]) -> FaceCrops:
        """The crops at ``index`` (int array), with the same classes."""
        idx = np.asarray(index, dtype=np.int64)
        return FaceCrops(
            crops=self.crops[idx], labels=self.labels[idx], class_names=self.class_names,
            class_keys=self.class_keys, sources=tuple(self.sources[i] for i in idx.tolist()),
            sample_ids=self.sample_ids[idx], skipped=self.skipped,
        )


def _empty_crops() -> np.ndarray:
    return np.zeros((0, CROP_SIZE, CROP_SIZE, 3), np.uint8)


def crops_from_facegate(fg: FaceGate) -> FaceCrops:
    """All stored crops of the *active* people of a FaceGate database, one class per person
    (``FaceGate.training_crops``).

    Classes are the people with at least one sample, by name; crops of a person are in sample-id
    order. Raises ValueError when there is no sample at all.
    """
    people = fg.training_crops()
    if not people:
        raise ValueError("The database holds no face samples of active people: enrol people first.")
    sids = np.concatenate([ids for _, ids, _ in people]).astype(np.int64)
    return FaceCrops(
        crops=np.concatenate([crops for _, _, crops in people]),
        labels=np.concatenate([np.full(len(ids), cls, np.int64) for cls, (_, ids, _) in enumerate(people)]),
        class_names=tuple(p.name for p, _, _ in people),
        class_keys=tuple(p.id for p, _, _ in people),
        sources=tuple(f"sample:{s}" for s in sids.tolist()),
        sample_ids=sids,
    )


class CropCache:
    """Aligned crops of image files, computed once and kept in memory (path -> crop or None).

    Uses the core's engine (detector + ``align_face``) and its ``main_face`` choice (the face
    nearest the centre, weighted by size), exactly as the LFW evaluation and enrolment do. Build the
    engine with ``flip=False``: only the crop is kept, the embedding is not used.
    """

    def __init__(self, engine: FaceEngine | None = None, device: str = "cpu") -> None:
        self._engine = engine
        self._device = device
        self._crops: dict[Path, np.ndarray | None] = {}

    @property
    def engine(self) -> FaceEngine:
        if self._engine is None:
            from desktop_app.core.evaluation.models import build_engine

            self._engine = build_engine(None, flip=False, device=self._device)
        return self._engine

    def __len__(self) -> int:
        return len(self._crops)

    def crop(self, path: Path) -> np.ndarray | None:
        """(112, 112, 3) uint8 BGR aligned main face of the image, or None (unreadable / no face)."""
        key = Path(path)
        if key not in self._crops:
            try:
                face = self.engine.main_face(read_image(key))
            except ImageError as exc:
                log.warning("%s", exc)
                face = None
            self._crops[key] = None if face is None else np.ascontiguousarray(face.crop)
        return self._crops[key]

    def crops(self, paths: Sequence[Path], progress: Callable[[int, int], None] | None = None
              ) -> list[np.ndarray | None]:
        """:meth:`crop` of each path, in order; ``progress(done, total)`` after each image."""
        out = []
        for i, p in enumerate(paths):
            out.append(self.crop(p))
            if progress is not None:
                progress(i + 1, len(paths))
        return out


def crops_from_images(items: Sequence[tuple[Path, str]], cache: CropCache | None = None,
                      progress: Callable[[int, int], None] | None = None) -> FaceCrops:
    """Crops of ``(image path, person name)`` items, detected and aligned by the core's engine.

    Classes are the distinct names in order of first appearance; images without a usable face are
    listed in ``skipped``. Raises ValueError when no image gives a face.
    """
    cache = cache if cache is not None else CropCache()  # an empty cache is falsy (len 0)
    names: dict[str, int] = {}
    crops: list[np.ndarray] = []
    labels: list[int] = []
    sources: list[str] = []
    skipped: list[str] = []
    for (path, name), crop in zip(items, cache.crops([p for p, _ in items], progress), strict=True):
        if crop is None:
            skipped.append(str(path))
            continue
        labels.append(names.setdefault(name, len(names)))
        crops.append(crop)
        sources.append(str(path))
    if not crops:
        raise ValueError("No face was found in any of the images.")
    return FaceCrops(np.stack(crops), np.array(labels, np.int64), tuple(names), tuple(-1 for _ in names),
                     tuple(sources), np.full(len(crops), -1, np.int64), tuple(skipped))


# --------------------------------------------------------------------------------------------------
# held-out split


@dataclass(frozen=True, eq=False)
class TrainSplit:
    """A training set and a held-out set of the same classes (held_out may be empty)."""

    train: FaceCrops
    held_out: FaceCrops

    @property
    def num_classes(self) -> int:
        return self.train.num_classes


def split_held_out(data: FaceCrops, fraction: float = 0.2, seed: int = 0, min_train: int = 1) -> TrainSplit:
    """Hold out about ``fraction`` of each person's crops (at least one when the person has more than
    ``min_train``), chosen at random but deterministically from ``seed``; the rest is for training.

    Every class keeps at least ``min_train`` training crops. Indices inside each part stay sorted.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"the held-out fraction must be in [0, 1), got {fraction}")
    if min_train < 1:
        raise ValueError("min_train must be at least 1")
    rng = np.random.default_rng(seed)
    held: list[np.ndarray] = []
    for cls in range(data.num_classes):
        idx = np.flatnonzero(data.labels == cls)
        n = idx.size
        perm = rng.permutation(idx)
        if n <= min_train or fraction == 0.0:
            continue
        n_hold = min(max(1, int(np.floor(fraction * n + 0.5))), n - min_train)
        held.append(perm[:n_hold])
    held_idx = np.sort(np.concatenate(held)) if held else np.zeros(0, np.int64)
    mask = np.ones(len(data), bool)
    mask[held_idx] = False
    return TrainSplit(train=data.subset(np.flatnonzero(mask)), held_out=data.subset(held_idx))


# --------------------------------------------------------------------------------------------------
# augmentation


@dataclass(frozen=True)
class AugmentConfig:
    """Random photometric / geometric jitter of aligned crops (all magnitudes are maxima).

    flip_p: probability of a horizontal flip; rotate_deg: rotation, degrees; scale: relative zoom
    (0.05 = +-5 %); shift_px: translation, pixels; brightness: additive offset, grey levels
    (0..255); contrast: relative gain (0.2 = x0.8..x1.2); blur_p: probability of a Gaussian blur
    with sigma uniform in blur_sigma (pixels).
    """

    flip_p: float = 0.5
    rotate_deg: float = 6.0
    scale: float = 0.05
    shift_px: float = 3.0
    brightness: float = 20.0
    contrast: float = 0.2
    blur_p: float = 0.2
    blur_sigma: tuple[float, float] = (0.4, 1.2)


def augment(crops: np.ndarray, rng: np.random.Generator, config: AugmentConfig | None = None) -> np.ndarray:
    """Augmented copy of (B, 112, 112, 3) uint8 BGR crops -> (B, 112, 112, 3) float32 BGR 0..255."""
    cfg = config or AugmentConfig()
    arr = np.asarray(crops)
    out = np.empty(arr.shape, np.float32)
    size = arr.shape[1]
    centre = ((size - 1) / 2.0, (size - 1) / 2.0)
    for i in range(arr.shape[0]):
        img = arr[i]
        if rng.random() < cfg.flip_p:
            img = img[:, ::-1]
        angle = rng.uniform(-cfg.rotate_deg, cfg.rotate_deg)
        zoom = 1.0 + rng.uniform(-cfg.scale, cfg.scale)
        m = np.asarray(cv2.getRotationMatrix2D(centre, angle, zoom), np.float64)
        m[:, 2] = m[:, 2] + rng.uniform(-cfg.shift_px, cfg.shift_px, size=2)
        img = cv2.warpAffine(np.ascontiguousarray(img), m, (size, size), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REPLICATE)
        f: np.ndarray = img.astype(np.float32)
        gain = 1.0 + rng.uniform(-cfg.contrast, cfg.contrast)
        offset = rng.uniform(-cfg.brightness, cfg.brightness)
        mean = float(f.mean())
        f = (f - mean) * gain + mean + offset
        if rng.random() < cfg.blur_p:
            f = cv2.GaussianBlur(f, (0, 0), float(rng.uniform(*cfg.blur_sigma)))
        out[i] = np.clip(f, 0.0, 255.0)
    return out


def prepare_crops(crops: np.ndarray) -> np.ndarray:
    """The crops the embedder actually sees: the core's illumination normalisation
    (``normalise_face_crop``) of each (112, 112, 3) uint8 crop; (N, 112, 112, 3) uint8 out."""
    if len(crops) == 0:
        return _empty_crops()
    return np.stack([normalise_face_crop(c) for c in crops])


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """(B, 112, 112, 3) uint8 or float BGR 0..255 -> (B, 3, 112, 112) float32 tensor (network input)."""
    return torch.from_numpy(np.ascontiguousarray(np.asarray(images, np.float32).transpose(0, 3, 1, 2)))


# --------------------------------------------------------------------------------------------------
# P-K batches


class PKSampler:
    """Batches of P classes x K crops each (metric-learning style), reproducible per epoch.

    labels: (N,) class indices. Each epoch visits the classes in a random order, P at a time
    (the last group topped up from the start of the order), and draws K crops of each class
    without replacement (with replacement when the class has fewer than K). An epoch has
    ``ceil(N / (P * K))`` batches, at least one, so each crop is seen about once per epoch.
    ``batches(rng)`` yields (B,) int64 index arrays, B = P' * K with P' = min(P, classes present).
    """

    def __init__(self, labels: np.ndarray, p: int, k: int) -> None:
        if p < 1 or k < 1:
            raise ValueError(f"P and K must be at least 1, got P={p}, K={k}")
        self.labels = np.asarray(labels, np.int64)
        self.classes = np.unique(self.labels)
        if self.classes.size == 0:
            raise ValueError("no training crops")
        self.p = min(p, int(self.classes.size))
        self.k = k
        self._members = {int(c): np.flatnonzero(self.labels == c) for c in self.classes}

    def __len__(self) -> int:
        return max(1, -(-len(self.labels) // (self.p * self.k)))

    def batches(self, rng: np.random.Generator) -> Iterator[np.ndarray]:
        order = rng.permutation(self.classes)
        pos = 0
        for _ in range(len(self)):
            if pos + self.p > order.size:
                order = np.concatenate([order[pos:], rng.permutation(self.classes)])
                pos = 0
            chosen = order[pos:pos + self.p]
            pos += self.p
            idx = []
            for c in chosen.tolist():
                members = self._members[c]
                idx.append(rng.choice(members, self.k, replace=members.size < self.k))
            yield np.concatenate(idx).astype(np.int64)


def check_trainable(split: TrainSplit) -> None:
    """FaceGateError unless at least two people have training crops (a classifier needs two)."""
    present = int((split.train.counts() > 0).sum())
    if present < 2:
        raise FaceGateError(
            f"Fine-tuning needs at least 2 enrolled people with photos; found {present}. Enrol more people first."
        )
