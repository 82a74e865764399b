"""Detection, alignment, illumination retry and quality on real faces."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from desktop_app.core.errors import ImageError
from desktop_app.core.face.alignment import ARCFACE_TEMPLATE, align_face, alignment_matrix, umeyama_similarity
from desktop_app.core.face.detector import DetectorConfig, FaceDetector
from desktop_app.core.face.illumination import gamma_correct, is_poorly_exposed
from desktop_app.core.face.quality import QualityConfig, assess, head_pose
from desktop_app.core.video.imageio import read_image


def test_umeyama_recovers_a_known_similarity() -> None:
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 200, (5, 2))
    ang, s, t = 0.3, 1.7, np.array([12.0, -5.0])
    rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    dst = (s * src @ rot.T) + t
    m = umeyama_similarity(src, dst)
    np.testing.assert_allclose(m[:, :2], s * rot, atol=1e-9)
    np.testing.assert_allclose(m[:, 2], t, atol=1e-7)


def test_umeyama_is_least_squares_against_brute_force() -> None:
    """With noisy points, no nearby similarity has a smaller squared error."""
    rng = np.random.default_rng(3)
    src = rng.uniform(0, 100, (5, 2))
    dst = ARCFACE_TEMPLATE.astype(np.float64) + rng.normal(0, 2, (5, 2))
    m = umeyama_similarity(src, dst)

    def err(mat: np.ndarray) -> float:
        return float((((src @ mat[:, :2].T) + mat[:, 2] - dst) ** 2).sum())

    a, b = m[0, 0], m[1, 0]
    best = err(m)
    for da in np.linspace(-0.01, 0.01, 5):
        for db in np.linspace(-0.01, 0.01, 5):
            for dt in ([0.3, 0], [0, 0.3], [-0.3, 0], [0, -0.3], [0, 0]):
                cand = np.array([[a + da, -(b + db), m[0, 2] + dt[0]], [b + db, a + da, m[1, 2] + dt[1]]])
                assert err(cand) >= best - 1e-9


def test_detects_and_aligns_a_real_face(engine, lfw: Path) -> None:  # type: ignore[no-untyped-def]
    img = read_image(lfw / "Colin_Powell" / "Colin_Powell_0001.jpg")
    dets = engine.detector.detect(img)
    assert len(dets) >= 1
    d = dets[0]
    assert d.score > 0.8 and 60 < d.box[2] < 200
    # the detected landmarks land on the template after alignment
    m = alignment_matrix(d.landmarks)
    mapped = d.landmarks @ m[:, :2].T + m[:, 2]
    assert float(np.abs(mapped - ARCFACE_TEMPLATE).max()) < 6.0
    crop = align_face(img, d.landmarks)
    assert crop.shape == (112, 112, 3) and crop.dtype == np.uint8


def test_clip_photo_faces(engine, clips: Path) -> None:  # type: ignore[no-untyped-def]
    """knn_examples test photo of Obama and Biden holds three faces (one unenrolled)."""
    img = read_image(clips / "knn_examples" / "test" / "obama_and_biden.jpg")
    assert len(engine.detector.detect(img)) == 3


def test_grayscale_and_low_resolution_inputs(engine, lfw: Path) -> None:  # type: ignore[no-untyped-def]
    img = read_image(lfw / "Tony_Blair" / "Tony_Blair_0001.jpg")
    ref = engine.main_face(img)
    grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    small = cv2.resize(img, (80, 80), interpolation=cv2.INTER_AREA)  # face about 35 px wide
    g, s = engine.main_face(grey), engine.main_face(small)
    assert ref is not None and g is not None and s is not None
    assert float(ref.embedding @ g.embedding) > 0.8
    assert float(ref.embedding @ s.embedding) > 0.6


def test_dark_frame_retry_finds_faces_that_plain_detection_misses(lfw: Path) -> None:
    plain = FaceDetector(config=DetectorConfig(retry_enhancers=()))
    retry = FaceDetector()
    names = ["Colin_Powell", "Tony_Blair", "Serena_Williams", "Gerhard_Schroeder", "Ariel_Sharon",
             "Hugo_Chavez", "Jean_Chretien", "John_Ashcroft", "Junichiro_Koizumi", "Laura_Bush"]
    plain_found = retry_found = 0
    enhanced = 0
    for name in names:
        img = read_image(lfw / name / f"{name}_0002.jpg")
        dark = (img.astype(np.float32) * 0.08).astype(np.uint8)  # a corridor at night: mean grey ~8
        assert is_poorly_exposed(dark)
        plain_found += bool(plain.detect(dark))
        dets = retry.detect(dark)
        retry_found += bool(dets)
        enhanced += any(d.enhancement for d in dets)
    assert retry_found >= 9, (plain_found, retry_found)
    assert retry_found > plain_found
    assert enhanced >= retry_found - plain_found


def test_gamma_brightens_dark_images() -> None:
    dark = np.full((50, 50, 3), 20, np.uint8)
    assert gamma_correct(dark).mean() > 80


def test_quality_reasons(engine, lfw: Path) -> None:  # type: ignore[no-untyped-def]
    img = read_image(lfw / "Colin_Powell" / "Colin_Powell_0001.jpg")
    d = engine.detector.detect(img)[0]
    crop = align_face(img, d.landmarks)
    good = assess(d, crop, QualityConfig(min_inter_ocular_px=20))
    assert good.ok, good.reasons
    blurred = cv2.GaussianBlur(crop, (0, 0), 4)
    assert any("blurred" in r for r in assess(d, blurred).reasons)
    dark = (crop * 0.1).astype(np.uint8)
    assert any("too dark" in r for r in assess(d, dark).reasons)
    assert any("too far" in r for r in assess(d, crop, QualityConfig(min_inter_ocular_px=500)).reasons)


def test_head_pose_signs() -> None:
    frontal = ARCFACE_TEMPLATE.copy()
    yaw, pitch, roll = head_pose(frontal)
    assert abs(yaw) < 3 and abs(pitch) < 3 and abs(roll) < 3
    turned = frontal.copy()
    turned[2, 0] += 15  # nose moved sideways
    assert abs(head_pose(turned)[0]) > 20
    c, s = np.cos(np.radians(20)), np.sin(np.radians(20))
    rolled = (frontal - 56) @ np.array([[c, -s], [s, c]]).T + 56
    assert abs(head_pose(rolled)[2] - 20) < 1


@pytest.mark.parametrize("content", [b"", b"this is not an image", b"\x89PNG\r\n\x1a\n broken"])
def test_unreadable_files_give_clear_errors(tmp_path: Path, content: bytes) -> None:
    f = tmp_path / "photo.jpg"
    f.write_bytes(content)
    with pytest.raises(ImageError, match=r"photo\.jpg"):
        read_image(f)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="no such file"):
        read_image(tmp_path / "nope.jpg")
    with pytest.raises(ImageError, match="folder"):
        read_image(tmp_path)
