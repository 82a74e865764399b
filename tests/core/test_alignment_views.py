"""The alignment views (``desktop_app.core.face.alignment_views``, ``FaceEngine.embed_views``) on
real LFW photos and real frames of the clip: the face is found again at other scales, near its
first landmarks but not on them, and the embedding is the mean of the alignments' embeddings."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from desktop_app.core.embedding.embedder import l2_normalise
from desktop_app.core.face.alignment import align_face
from desktop_app.core.face.alignment_views import (
    DEFAULT_VIEW_IODS,
    MAX_SHIFT_IODS,
    patch_transform,
    redetected_landmarks,
    view_landmarks,
)
from desktop_app.core.face.engine import FaceEngine
from desktop_app.core.types import Detection
from desktop_app.core.video.imageio import read_image

#: LFW people with several photos (a spread of pose, light and size)
PEOPLE = ("Colin_Powell", "Serena_Williams", "Junichiro_Koizumi", "Hugo_Chavez", "Gloria_Macapagal_Arroyo")


@pytest.fixture(scope="module")
def photos(lfw: Path) -> list[np.ndarray]:
    return [read_image(lfw / name / f"{name}_{k:04d}.jpg") for name in PEOPLE for k in (1, 2, 3)]


def test_the_patch_puts_the_eyes_at_the_asked_distance_around_the_patch_centre() -> None:
    lm = np.array([[100, 120], [140, 121], [120, 145], [104, 165], [137, 166]], np.float32)
    for iod in (55.0, 83.0, 111.0):
        m, side = patch_transform(lm, iod)
        mapped = lm @ m[:, :2].T + m[:, 2]
        assert float(np.linalg.norm(mapped[1] - mapped[0])) == pytest.approx(iod, rel=1e-6)
        assert side == round(5.8 * iod)
        # the eyes' midpoint sits a little above the centre (LFW's framing), the face inside the patch
        assert mapped[:, 0].mean() == pytest.approx(side / 2, abs=1e-3)
        assert 0 < mapped[:2, 1].mean() < side / 2 < mapped[3:, 1].mean() < side


def test_views_find_each_face_again_near_but_not_on_its_first_landmarks(engine: FaceEngine,
                                                                       photos: list[np.ndarray]) -> None:
    shifts = []
    for img in photos:
        face = engine.main_aligned_face(img)
        assert face is not None
        views = view_landmarks(engine.detector, img, face.detection)
        assert len(views) == 1 + len(DEFAULT_VIEW_IODS)  # every one found again on these clear photos
        np.testing.assert_array_equal(views[0], face.detection.landmarks)
        iod = face.detection.inter_ocular
        for lm in views[1:]:
            shift = float(np.abs(lm - views[0]).max())
            assert shift < MAX_SHIFT_IODS * iod
            shifts.append(shift / iod)
    # the other scales move the landmarks (that is the point): the farthest point by about a tenth of
    # the eye distance (measured: median 0.12 on these photos)
    assert 0.02 < float(np.median(shifts)) < 0.2, shifts


def test_a_view_with_no_face_there_is_skipped(engine: FaceEngine, photos: list[np.ndarray]) -> None:
    img = photos[0].copy()
    face = engine.main_aligned_face(img)
    assert face is not None
    blank = np.full_like(img, 128)  # the face is gone: nothing to find again
    assert redetected_landmarks(engine.detector, blank, face.detection, DEFAULT_VIEW_IODS[0]) is None
    # a face elsewhere is not taken for this one: landmarks moved well away from the face's
    moved = Detection(box=face.detection.box, landmarks=face.detection.landmarks + np.float32([0, 200]),
                      score=face.detection.score)
    tall = np.concatenate([img, np.full_like(img, 128), np.full_like(img, 128)])
    assert redetected_landmarks(engine.detector, tall, moved, DEFAULT_VIEW_IODS[0]) is None
    out = engine.embed_views([(blank, face)], flip=False)[0]
    assert out.views == 1 and out.views_tried and not out.flip_averaged
    np.testing.assert_allclose(out.embedding, engine.embed_faces([face], flip=False)[0].embedding, atol=1e-6)


@pytest.mark.parametrize("flip", [False, True])
def test_the_embedding_is_the_mean_of_the_alignments_unit_embeddings(engine: FaceEngine, photos: list[np.ndarray],
                                                                     flip: bool) -> None:
    items = []
    for img in photos[:6]:
        face = engine.main_aligned_face(img)
        assert face is not None
        items.append((img, face))
    out = engine.embed_views(items, flip=flip)
    for (img, face), got in zip(items, out, strict=True):
        crops = np.stack([align_face(img, lm) for lm in view_landmarks(engine.detector, img, face.detection)])
        want = l2_normalise(engine.embedder.embed(crops, flip=flip).sum(axis=0)[None])[0]
        np.testing.assert_allclose(got.embedding, want, atol=2e-5)
        assert got.views == len(crops) == 3 and got.views_tried and got.flip_averaged is flip
        np.testing.assert_array_equal(got.crop, face.crop)  # the crop kept is the detection's own alignment
        single = engine.embed_faces([face], flip=flip)[0].embedding
        assert 0.97 < float(np.dot(got.embedding, single)) < 1 - 1e-4  # close to, but not, one alignment's
    # a face embedded plain keeps its embedding for its own alignment: the same result, fewer passes
    plain = engine.embed_faces([f for _, f in items], flip=False)
    again = engine.embed_views([(img, f) for (img, _), f in zip(items, plain, strict=True)], flip=flip)
    for a, b in zip(again, out, strict=True):
        np.testing.assert_allclose(a.embedding, b.embedding, atol=2e-5)


def test_analyze_and_main_face_average_the_views_when_asked(engine: FaceEngine, clips: Path) -> None:
    cap = cv2.VideoCapture(str(clips / "short_hamilton_clip.mp4"))
    try:
        ok, frame = cap.read()
    finally:
        cap.release()
    assert ok
    plain = engine.analyze(frame, flip=False)
    viewed = engine.analyze(frame, flip=False, views=True)
    assert plain.faces and len(viewed.faces) == len(plain.faces)
    assert all(f.views == 1 and not f.views_tried for f in plain.faces)
    assert all(f.views_tried and f.views > 1 for f in viewed.faces)
    main = engine.main_face(frame, flip=False, views=True)
    assert main is not None and main.views > 1
    assert float(np.dot(main.embedding, viewed.faces[0].embedding)) > 1 - 1e-5
