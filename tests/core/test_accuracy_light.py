"""Side-light normalisation of the aligned crop (against naive references), its effect on real LFW
pairs, and the re-embedding of templates made under the earlier crop preprocessing."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from desktop_app.core.accuracy.facade import SETTING
from desktop_app.core.face.engine import FaceEngine
from desktop_app.core.face.illumination import (
    CROP_PREPROCESSING,
    SIDE_LIGHT_RATIO,
    even_side_light,
    normalise_face_crop,
    side_light_ratio,
)
from desktop_app.core.service import FaceGate
from desktop_app.core.video.imageio import read_image

#: Same-person LFW pairs (view 2, fold 1) used as template / probe.
PAIRS = (("Abel_Pacheco", 1, 4), ("Akhmed_Zakayev", 1, 3), ("Amber_Tamblyn", 1, 2), ("Anders_Fogh_Rasmussen", 1, 3))


def _naive_lightness(crop: np.ndarray) -> np.ndarray:
    """CIE L* scaled to 0..255 as OpenCV stores it, from the sRGB formulas, pixel by pixel maths."""
    rgb = crop[:, :, ::-1].astype(np.float64) / 255.0
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    y = 0.212671 * lin[:, :, 0] + 0.715160 * lin[:, :, 1] + 0.072169 * lin[:, :, 2]
    lstar = np.where(y > 0.008856, 116.0 * np.cbrt(y) - 16.0, 903.3 * y)
    return lstar * 255.0 / 100.0


def _naive_ratio(crop: np.ndarray) -> float:
    lum = _naive_lightness(crop)
    a = float(np.mean([lum[r, c] for r in range(30, 100) for c in range(18, 50)])) + 1.0
    b = float(np.mean([lum[r, c] for r in range(30, 100) for c in range(62, 94)])) + 1.0
    return max(a, b) / min(a, b)


def _shade(crop: np.ndarray, dark: float = 0.1, left_dark: bool = True, steps: int = 8) -> np.ndarray:
    """Extreme side light: a horizontal sigmoid gain from ``dark`` to 1.3 (width / ``steps`` pixels)."""
    x = (np.arange(crop.shape[1], dtype=np.float32) - crop.shape[1] / 2) / (crop.shape[1] / steps)
    gain = dark + (1.3 - dark) / (1.0 + np.exp(x if left_dark else -x))
    return np.clip(crop.astype(np.float32) * gain[None, :, None], 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def aligned(engine: FaceEngine, lfw: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """(template crop, probe crop) of each pair in PAIRS, aligned by the product's engine."""
    out = []
    for name, a, b in PAIRS:
        faces = [engine.main_aligned_face(read_image(lfw / name / f"{name}_{n:04d}.jpg")) for n in (a, b)]
        assert faces[0] is not None and faces[1] is not None
        out.append((faces[0].crop, faces[1].crop))
    return out


def test_side_light_ratio_matches_a_naive_lightness_reference(aligned: list[tuple[np.ndarray, np.ndarray]]) -> None:
    for crop in [aligned[0][0], _shade(aligned[0][0]), _shade(aligned[1][1], 0.2, left_dark=False)]:
        assert side_light_ratio(crop) == pytest.approx(_naive_ratio(crop), rel=0.01)
    assert side_light_ratio(aligned[0][0]) < SIDE_LIGHT_RATIO < side_light_ratio(_shade(aligned[0][0]))


def test_even_side_light_matches_a_naive_column_gain_reference(aligned: list[tuple[np.ndarray, np.ndarray]]) -> None:
    crop = _shade(aligned[0][0])
    lab = cv2.cvtColor(crop, cv2.COLOR_BGR2LAB)
    lum = lab[:, :, 0].astype(np.float64)
    profile = np.array([np.mean([lum[r, c] for r in range(20, 100)]) for c in range(112)]) + 1.0
    sigma, radius = 8.0, 32  # OpenCV's kernel for float images: 4 sigma each side
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    k /= k.sum()

    def at(i: int) -> float:  # BORDER_REFLECT_101
        while i < 0 or i > 111:
            i = -i if i < 0 else 222 - i
        return float(profile[i])

    smooth = np.array([sum(k[j] * at(c + j - radius) for j in range(len(k))) for c in range(112)])
    gain = np.clip(np.median(smooth) / smooth, 0.5, 6.0)
    want = np.clip(lum * gain[None, :], 0, 255)
    got = cv2.cvtColor(even_side_light(crop), cv2.COLOR_BGR2LAB)[:, :, 0].astype(np.float64)
    assert np.abs(got - want).mean() < 1.5  # the Lab round trip of 8-bit colour
    assert side_light_ratio(even_side_light(crop)) < 1.5 < SIDE_LIGHT_RATIO < side_light_ratio(crop)


def test_normalise_face_crop_leaves_even_light_alone_and_evens_side_light(
        aligned: list[tuple[np.ndarray, np.ndarray]]) -> None:
    clean = aligned[0][0]
    assert normalise_face_crop(clean) is clean
    shaded = _shade(clean)
    before = shaded.copy()
    out = normalise_face_crop(shaded)
    assert np.array_equal(shaded, before)  # the input is never modified
    assert np.array_equal(out, even_side_light(shaded))
    assert np.array_equal(normalise_face_crop(shaded, side_ratio=None), shaded)
    dark = (clean // 6).astype(np.uint8)
    assert normalise_face_crop(dark, side_ratio=None).mean() > 2 * dark.mean()


def test_side_lit_probes_score_higher_with_the_evened_crop(engine: FaceEngine,
                                                          aligned: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """Real LFW pairs: the clean template against the probe under extreme side light, with and
    without the side-light step (the embedder's own preprocessing bypassed for the 'without')."""
    emb = engine.embedder
    templates = emb.embed(np.stack([t for t, _ in aligned]), flip=True)
    shaded = np.stack([_shade(p, 0.1, left_dark=i % 2 == 0) for i, (_, p) in enumerate(aligned)])
    raw = emb.embed_raw(np.stack([normalise_face_crop(c, side_ratio=None) for c in shaded]))
    without = np.einsum("ij,ij->i", templates, raw / np.linalg.norm(raw, axis=1, keepdims=True))
    with_step = np.einsum("ij,ij->i", templates, emb.embed(shaded, flip=False))
    assert with_step.mean() > without.mean() + 0.03, (with_step, without)


@pytest.mark.slow
def test_templates_of_the_earlier_preprocessing_are_re_embedded_at_open(tmp_path: Path, clips: Path,
                                                                        lfw: Path) -> None:
    name = PAIRS[1][0]
    img = read_image(lfw / name / f"{name}_0001.jpg")
    side_lit = tmp_path / "side_lit.png"
    cv2.imwrite(str(side_lit), _shade(img, 0.08, left_dark=False, steps=16))
    db = tmp_path / "facegate.db"
    with FaceGate(db, device="cpu") as gate:
        assert gate.crop_preprocessing == CROP_PREPROCESSING  # a new database starts current
        for who, shot in (("Lin", clips / "lin-manuel-miranda.png"), (name, side_lit)):
            assert gate.enrol_images(who, [shot], check_quality=False).added
        samples = {s.id: gate.store.sample_crop(s.id) for s in gate.store.list_samples()}
        sha = gate.model.sha256
        assert [side_light_ratio(c) > SIDE_LIGHT_RATIO for c in samples.values()] == [False, True]
        current = dict(zip(*gate.store.templates(sha, active_only=False)[::2], strict=True))
        # the database as the earlier version left it: templates of the exposure-only crops, no name
        emb = gate.engine.embedder
        emb.normalise_light = False  # embed the earlier step's crops as they are
        old = emb.embed(np.stack([normalise_face_crop(c, side_ratio=None) for c in samples.values()]))
        emb.normalise_light = True
        for sid, vec in zip(samples, old, strict=True):
            gate.store.set_template(sid, sha, vec)
        gate.store.set_setting(SETTING, None)
    lit_id, side_id = list(samples)
    assert float(np.dot(old[1], current[side_id])) < 0.99  # the step does change this template
    with FaceGate(db, device="cpu") as gate:
        assert gate.crop_preprocessing == CROP_PREPROCESSING
        now = dict(zip(*gate.store.templates(sha, active_only=False)[::2], strict=True))
        assert np.array_equal(now[lit_id], old[0])  # untouched: the step leaves that crop alone
        assert float(np.dot(now[side_id], current[side_id])) > 0.9999
        rows = [r for r in gate.store.audit_log(20) if r.action == "templates.preprocessing"]
        assert len(rows) == 1 and rows[0].actor == "system" and rows[0].details["reembedded"] == 1
        assert len(gate.gallery) == 2
    with FaceGate(db, device="cpu") as gate:  # current now: nothing more to do
        assert len([r for r in gate.store.audit_log(20) if r.action == "templates.preprocessing"]) == 1
