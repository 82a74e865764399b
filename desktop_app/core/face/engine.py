"""The face engine: detect -> align -> assess quality -> embed, with per-stage timings."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from desktop_app.core.embedding.embedder import Embedder, l2_normalise
from desktop_app.core.face.alignment import align_face
from desktop_app.core.face.alignment_views import DEFAULT_VIEW_IODS, view_landmarks
from desktop_app.core.face.detector import FaceDetector
from desktop_app.core.face.quality import QualityConfig, assess
from desktop_app.core.types import Detection, Face, FaceQuality, StageTimes
from desktop_app.core.video.imageio import as_bgr


@dataclass(frozen=True)
class EngineConfig:
    """min_recognition_iod_px: faces whose eyes are closer than this (pixels) are reported as too
    small and not embedded (their embeddings are unreliable); max_faces: at most this many faces per
    frame are embedded, largest first; quality: enrolment limits (assessed for every face);
    alignment_views: :meth:`FaceEngine.analyze` and :meth:`FaceEngine.main_face` average each
    embedding over the face's alignments at other scales by default (templates, calibration);
    view_iods: the eye distances (pixels) the face is detected again at for those alignments."""

    min_recognition_iod_px: float = 12.0
    max_faces: int = 8
    quality: QualityConfig = field(default_factory=QualityConfig)
    alignment_views: bool = False
    view_iods: tuple[float, ...] = DEFAULT_VIEW_IODS


@dataclass(frozen=True)
class Analysis:
    """Result of one image: embedded faces (largest first), faces too small to recognise, timings."""

    faces: list[Face]
    too_small: list[Detection]
    times: StageTimes
    image_shape: tuple[int, int]


@dataclass(frozen=True, eq=False)
class AlignedFace:
    """A detected face, aligned and assessed but not embedded: detection (boxes and landmarks in the
    image's pixels), crop (112, 112, 3) uint8 BGR aligned to the ArcFace template, quality."""

    detection: Detection
    crop: np.ndarray
    quality: FaceQuality


@dataclass(frozen=True)
class FrameFaces:
    """The faces of one image before embedding (see :meth:`FaceEngine.detect_and_align`).

    faces: the faces large enough to recognise, largest first, at most ``max_faces``; too_small:
    faces whose eyes are closer than ``min_recognition_iod_px`` (never embedded); image_shape:
    (height, width) pixels; detect_ms / align_ms: time spent detecting, and aligning + assessing.
    """

    faces: list[AlignedFace]
    too_small: list[Detection]
    image_shape: tuple[int, int]
    detect_ms: float
    align_ms: float


class FaceEngine:
    """Headless face pipeline shared by the CLI, the GUI, the evaluator and the trainer.

    Two ways to use it:

    - one call per image: :meth:`analyze` (detect, align, assess, embed), or :meth:`analyze_many`
      for several images (several cameras) with all their faces embedded in one embedder call;
    - in stages, to embed only some faces (a live loop that reuses the embedding of a face it
      already knows, or batches the faces of several cameras): :meth:`detect_and_align` per image,
      then :meth:`embed_faces` on the faces that need an embedding (from any number of images, in
      one call), then optionally :meth:`mirror_refine` on the plain embeddings that need the
      test-time flip, or :meth:`embed_views` on the faces that need the alignment views.
      ``analyze(image)`` is exactly ``embed_faces(detect_and_align(image).faces)`` (without views).

    Thread-safe as far as its detector and embedder are (each holds a lock): cameras may share one.
    """

    def __init__(self, detector: FaceDetector, embedder: Embedder, config: EngineConfig | None = None) -> None:
        self.detector = detector
        self.embedder = embedder
        self.config = config or EngineConfig()

    @property
    def model_sha256(self) -> str:
        return self.embedder.sha256

    def detect_and_align(self, image: np.ndarray, *, max_faces: int | None = None) -> FrameFaces:
        """Detect, align and assess (no embedding) the faces of a (H, W, 3) BGR (or grey) uint8 image.

        max_faces: at most this many faces are kept (largest first); None: ``config.max_faces``.
        """
        image = as_bgr(image)
        t0 = time.perf_counter()
        dets = self.detector.detect(image)
        t1 = time.perf_counter()
        limit = self.config.max_faces if max_faces is None else max_faces
        usable = [d for d in dets if d.inter_ocular >= self.config.min_recognition_iod_px][:limit]
        too_small = [d for d in dets if d.inter_ocular < self.config.min_recognition_iod_px]
        crops = [align_face(image, d.landmarks) for d in usable]
        faces = [AlignedFace(d, c, assess(d, c, self.config.quality)) for d, c in zip(usable, crops, strict=True)]
        t2 = time.perf_counter()
        return FrameFaces(faces=faces, too_small=too_small, image_shape=(image.shape[0], image.shape[1]),
                          detect_ms=(t1 - t0) * 1e3, align_ms=(t2 - t1) * 1e3)

    def embed_faces(self, faces: Sequence[AlignedFace | Face], *, flip: bool | None = None) -> list[Face]:
        """Embed aligned faces, from one image or many, in ONE embedder call; same order out.

        faces: :class:`AlignedFace` (or :class:`Face`, re-embedded from its crop); flip: average each
        embedding with its mirror image's (twice the compute), None: the embedder's setting
        (``embedder.flip``). Returns :class:`Face` with (D,) unit embeddings and ``flip_averaged`` set.
        """
        use_flip = self.embedder.flip if flip is None else flip
        if not faces:
            return []
        vecs = self.embedder.embed(np.stack([f.crop for f in faces]), flip=use_flip)
        return [Face(detection=f.detection, crop=f.crop, embedding=v, quality=f.quality, flip_averaged=use_flip)
                for f, v in zip(faces, vecs, strict=True)]

    def mirror_refine(self, faces: Sequence[Face]) -> list[Face]:
        """The flip-averaged version of faces embedded without flip, in one embedder call on their
        mirror images only (half the cost of ``embed_faces(faces, flip=True)``, same result to float
        rounding). Faces already ``flip_averaged`` come back unchanged; same order out."""
        todo = [i for i, f in enumerate(faces) if not f.flip_averaged]
        out = list(faces)
        if not todo:
            return out
        crops = np.stack([faces[i].crop for i in todo])
        vecs = self.embedder.mirror_average(crops, np.stack([faces[i].embedding for i in todo]))
        for i, v in zip(todo, vecs, strict=True):
            out[i] = replace(faces[i], embedding=v, flip_averaged=True)
        return out

    def embed_views(self, items: Sequence[tuple[np.ndarray, AlignedFace | Face]], *,
                    flip: bool | None = None) -> list[Face]:
        """Embed faces averaged over their alignments: the detection's own, and one per
        ``config.view_iods`` entry where the detector finds the face again on a patch scaled to that
        eye distance (:mod:`~desktop_app.core.face.alignment_views`). Same order out.

        items: (image the face was found in, (H, W, 3) BGR uint8; the face); flip: each alignment's
        embedding flip-averaged (None: the embedder's setting). A :class:`Face` embedded plain (one
        view) keeps its embedding for its own alignment (only its mirror image is embedded when
        ``flip``). All crops go through the embedder in at most two calls. Returns :class:`Face` with
        the (D,) unit mean of the alignments' unit embeddings, ``views`` (1 to 1 + len(view_iods))
        and ``views_tried`` set; ``crop`` stays the detection's own alignment."""
        use_flip = self.embedder.flip if flip is None else flip
        if not items:
            return []
        extra: list[list[np.ndarray]] = []
        for image, face in items:
            bgr = as_bgr(image)
            lms = view_landmarks(self.detector, bgr, face.detection, self.config.view_iods)[1:]
            extra.append([align_face(bgr, lm) for lm in lms])
        own: list[np.ndarray | None] = [None] * len(items)
        to_mirror: list[tuple[int, Face]] = []
        for k, (_, face) in enumerate(items):
            if isinstance(face, Face) and face.views == 1:
                if face.flip_averaged == use_flip:
                    own[k] = face.embedding
                elif use_flip:
                    to_mirror.append((k, face))
        if to_mirror:
            mirrored = self.embedder.mirror_average(np.stack([f.crop for _, f in to_mirror]),
                                                    np.stack([f.embedding for _, f in to_mirror]))
            for (k, _), v in zip(to_mirror, mirrored, strict=True):
                own[k] = v
        crops = [items[k][1].crop for k in range(len(items)) if own[k] is None]
        crops += [c for views in extra for c in views]
        vecs = iter(self.embedder.embed(np.stack(crops), flip=use_flip) if crops else [])
        own = [next(vecs) if v is None else v for v in own]
        out: list[Face] = []
        for (_, face), first, views in zip(items, own, extra, strict=True):
            total = np.asarray(first, np.float32) + sum((next(vecs) for _ in views), np.zeros_like(first))
            out.append(Face(detection=face.detection, crop=face.crop, embedding=l2_normalise(total[None])[0],
                            quality=face.quality, flip_averaged=use_flip, views=1 + len(views), views_tried=True))
        return out

    def analyze(self, image: np.ndarray, *, max_faces: int | None = None, flip: bool | None = None,
                views: bool | None = None) -> Analysis:
        """Detect, align, assess and embed the faces of a (H, W, 3) BGR (or grey) uint8 image.

        flip: as in :meth:`embed_faces` (None: the embedder's setting); views: average over the
        alignment views (:meth:`embed_views`; None: ``config.alignment_views``)."""
        return self.analyze_many([image], max_faces=max_faces, flip=flip, views=views)[0]

    def analyze_many(self, images: Sequence[np.ndarray], *, max_faces: int | None = None,
                     flip: bool | None = None, views: bool | None = None) -> list[Analysis]:
        """:meth:`analyze` for several images (e.g. the latest frame of each camera), their faces
        embedded together in ONE embedder call. Results equal (to float rounding, about 1e-6 in
        cosine) those of ``analyze`` on each image; same order as ``images``.

        Each :class:`Analysis` has its own detect and align times; its ``embed_ms`` is the time of
        the shared embedder call (every image waited for all of it; with views, their detections too)."""
        staged = [self.detect_and_align(image, max_faces=max_faces) for image in images]
        t0 = time.perf_counter()
        if self.config.alignment_views if views is None else views:
            embedded = self.embed_views([(image, f) for image, s in zip(images, staged, strict=True)
                                         for f in s.faces], flip=flip)
        else:
            embedded = self.embed_faces([f for s in staged for f in s.faces], flip=flip)
        embed_ms = (time.perf_counter() - t0) * 1e3
        out: list[Analysis] = []
        k = 0
        for s in staged:
            n = len(s.faces)
            out.append(Analysis(faces=embedded[k:k + n], too_small=s.too_small, image_shape=s.image_shape,
                                times=StageTimes(detect_ms=s.detect_ms, align_ms=s.align_ms, embed_ms=embed_ms)))
            k += n
        return out

    def main_face(self, image: np.ndarray, *, flip: bool | None = None, views: bool | None = None) -> Face | None:
        """The face nearest the centre, weighted by size (the subject of a portrait or LFW image),
        embedded (flip, views: as in :meth:`analyze`); None when no face is large enough. Only that
        face is embedded."""
        found = self.main_aligned_face(image)
        if found is None:
            return None
        if self.config.alignment_views if views is None else views:
            return self.embed_views([(image, found)], flip=flip)[0]
        return self.embed_faces([found], flip=flip)[0]

    def main_aligned_face(self, image: np.ndarray) -> AlignedFace | None:
        """:meth:`main_face` before embedding."""
        staged = self.detect_and_align(image)
        if not staged.faces:
            return None
        h, w = staged.image_shape
        diag = float(np.hypot(h, w))

        def rank(face: AlignedFace) -> float:
            cx, cy = face.detection.center
            off = float(np.hypot(cx - w / 2.0, cy - h / 2.0)) / diag
            return float(np.sqrt(face.detection.area)) * (1.0 - 1.5 * off)

        return max(staged.faces, key=rank)
