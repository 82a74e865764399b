"""The staged and batched engine API on real frames of the real clip: ``analyze_many`` and
``detect_and_align`` + ``embed_faces`` + ``mirror_refine`` give what one image at a time gives."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from desktop_app.core.face.alignment import align_face
from desktop_app.core.face.engine import FaceEngine

#: frames of the clip: Lin large and frontal (0, 40), two faces (Alex small at the piano), no face
FRAMES = (0, 40, 90, 130, 170, 210, 250, 270)


@pytest.fixture(scope="module")
def clip_frames(clips: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(clips / "short_hamilton_clip.mp4"))
    out: list[np.ndarray] = []
    i = 0
    try:
        while len(out) < len(FRAMES):
            ok, img = cap.read()
            if not ok:
                break
            if i in FRAMES:
                out.append(img)
            i += 1
    finally:
        cap.release()
    assert len(out) == len(FRAMES)
    return out


def _one_by_one(engine: FaceEngine, image: np.ndarray, flip: bool) -> list[tuple[tuple[float, ...], np.ndarray]]:
    """The reference: detect, then align and embed each face alone (batch of one)."""
    cfg = engine.config
    dets = [d for d in engine.detector.detect(image) if d.inter_ocular >= cfg.min_recognition_iod_px][:cfg.max_faces]
    return [(d.box, engine.embedder.embed(align_face(image, d.landmarks)[None], flip=flip)[0]) for d in dets]


@pytest.mark.parametrize("flip", [True, False])
def test_analyze_many_equals_one_image_at_a_time(engine: FaceEngine, clip_frames: list[np.ndarray],
                                                 flip: bool) -> None:
    batched = engine.analyze_many(clip_frames, flip=flip)
    assert len(batched) == len(clip_frames)
    faces_seen = 0
    for image, analysis in zip(clip_frames, batched, strict=True):
        ref = _one_by_one(engine, image, flip)
        single = engine.analyze(image, flip=flip)
        assert [f.detection.box for f in analysis.faces] == [b for b, _ in ref] == [f.detection.box for f in single.faces]
        assert [d.box for d in analysis.too_small] == [d.box for d in single.too_small]
        for face, (_, vec), one in zip(analysis.faces, ref, single.faces, strict=True):
            assert face.flip_averaged is flip
            assert float(np.dot(face.embedding, vec)) > 1 - 1e-5
            np.testing.assert_allclose(face.embedding, vec, atol=2e-5)
            np.testing.assert_allclose(face.embedding, one.embedding, atol=2e-5)
            assert face.quality == one.quality
            np.testing.assert_array_equal(face.crop, one.crop)
        faces_seen += len(analysis.faces)
    assert faces_seen >= 6  # the frames do hold faces: the comparison is not vacuous


def test_staged_api_and_mirror_refine(engine: FaceEngine, clip_frames: list[np.ndarray]) -> None:
    staged = [engine.detect_and_align(img) for img in clip_frames]
    aligned = [f for s in staged for f in s.faces]
    assert aligned
    flipped = engine.embed_faces(aligned, flip=True)
    plain = engine.embed_faces(aligned, flip=False)
    refined = engine.mirror_refine(plain)
    assert all(f.flip_averaged for f in refined) and not any(f.flip_averaged for f in plain)
    for a, b, p in zip(flipped, refined, plain, strict=True):
        np.testing.assert_allclose(a.embedding, b.embedding, atol=2e-5)
        assert float(np.dot(a.embedding, p.embedding)) < 1 - 1e-4  # the flip does change the embedding
    assert engine.mirror_refine(refined) == refined  # already flipped: unchanged, no work
    assert engine.embed_faces([]) == [] and engine.analyze_many([]) == []
