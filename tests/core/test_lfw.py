"""LFW view-2 protocol on the real shared pairs.txt and images."""

from __future__ import annotations

import os
import zlib
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from desktop_app.core.evaluation.lfw import (
    LfwPair,
    evaluate_pairs,
    lfw_image_path,
    lfw_people_with_min_images,
    lfw_single_image_people,
    read_pairs,
)
from desktop_app.core.evaluation.metrics import kfold_accuracy, tar_at_far

# /work/main/tests/core/<this file> -> /work/shared/data (beside the checkout).
LFW = Path(os.environ.get("FACEGATE_SHARED_DATA") or Path(__file__).resolve().parents[3] / "shared" / "data") / "lfw"
PAIRS = LFW / "pairs.txt"

needs_lfw = pytest.mark.skipif(not PAIRS.is_file(), reason=f"shared LFW data missing: {LFW}")


@pytest.fixture(scope="module")
def real_pairs() -> list[LfwPair]:
    return read_pairs(PAIRS, LFW)


@needs_lfw
def test_read_pairs_real_file(real_pairs: list[LfwPair]) -> None:
    assert len(real_pairs) == 6000
    assert Counter(p.fold for p in real_pairs) == {f: 600 for f in range(10)}
    assert sum(p.same for p in real_pairs) == 3000
    for f in range(10):
        fold = real_pairs[600 * f : 600 * (f + 1)]
        assert all(p.fold == f for p in fold)
        assert [p.same for p in fold] == [True] * 300 + [False] * 300
    # First lines of the file, by hand: "Abel_Pacheco 1 4" and "Abdel_Madi_Shabneh 1 Dean_Barker 1".
    assert real_pairs[0] == LfwPair(
        0,
        True,
        LFW / "Abel_Pacheco" / "Abel_Pacheco_0001.jpg",
        LFW / "Abel_Pacheco" / "Abel_Pacheco_0004.jpg",
    )
    assert real_pairs[300] == LfwPair(
        0,
        False,
        LFW / "Abdel_Madi_Shabneh" / "Abdel_Madi_Shabneh_0001.jpg",
        LFW / "Dean_Barker" / "Dean_Barker_0001.jpg",
    )
    assert all((p.left.parent == p.right.parent) == p.same for p in real_pairs)
    assert all(p.left != p.right for p in real_pairs)
    images = {q for p in real_pairs for q in (p.left, p.right)}
    missing = [q for q in images if not q.is_file()]
    assert missing == []


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pairs.txt"
    path.write_text(text)
    return path


def test_read_pairs_small_and_malformed(tmp_path: Path) -> None:
    good = "2\t1\nA\t1\t2\nA\t1\tB\t3\nC 2 5\nC 1 D 1\n\n"
    pairs = read_pairs(_write(tmp_path, good), tmp_path / "img")
    assert pairs == [
        LfwPair(0, True, tmp_path / "img/A/A_0001.jpg", tmp_path / "img/A/A_0002.jpg"),
        LfwPair(0, False, tmp_path / "img/A/A_0001.jpg", tmp_path / "img/B/B_0003.jpg"),
        LfwPair(1, True, tmp_path / "img/C/C_0002.jpg", tmp_path / "img/C/C_0005.jpg"),
        LfwPair(1, False, tmp_path / "img/C/C_0001.jpg", tmp_path / "img/D/D_0001.jpg"),
    ]
    cases = {
        "ten three hundred\nA 1 2\nA 1 B 1\n": r"pairs\.txt:1: expected a header",
        "1 1\nA 1 2 3\nA 1 B 1\n": r"pairs\.txt:2: expected a same-person line",
        "1 1\nA 1 2\nA 1 B\n": r"pairs\.txt:3: expected a different-person line",
        "1 1\nA 1 x\nA 1 B 1\n": r"pairs\.txt:2: image number 'x'",
        "1 1\nA 1 0\nA 1 B 1\n": r"pairs\.txt:2: image number 0",
        "2 1\nA 1 2\nA 1 B 1\n": r"announces 2 folds x 2 x 1 = 4 pair lines, but the file has 2",
        "": "empty",
    }
    for text, message in cases.items():
        with pytest.raises(ValueError, match=message):
            read_pairs(_write(tmp_path, text), tmp_path)
    with pytest.raises(FileNotFoundError, match="pairs file not found"):
        read_pairs(tmp_path / "nope.txt", tmp_path)


def test_people_listing_small(tmp_path: Path) -> None:
    for name, n in (("Ann", 3), ("Bob", 1), ("Cid", 2), ("Dee", 1)):
        (tmp_path / name).mkdir()
        for i in range(n, 0, -1):
            (tmp_path / name / f"{name}_{i:04d}.jpg").write_bytes(b"x")
    (tmp_path / "Empty").mkdir()
    (tmp_path / "pairs.txt").write_text("x")
    (tmp_path / "Ann" / "notes.txt").write_text("x")
    two = lfw_people_with_min_images(tmp_path, 2)
    assert list(two) == ["Ann", "Cid"]
    assert [p.name for p in two["Ann"]] == ["Ann_0001.jpg", "Ann_0002.jpg", "Ann_0003.jpg"]
    assert list(lfw_people_with_min_images(tmp_path, 1)) == ["Ann", "Bob", "Cid", "Dee"]
    assert lfw_single_image_people(tmp_path) == [tmp_path / "Bob/Bob_0001.jpg", tmp_path / "Dee/Dee_0001.jpg"]
    with pytest.raises(FileNotFoundError):
        lfw_single_image_people(tmp_path / "missing")


def test_image_sets_in_any_common_format(tmp_path: Path) -> None:
    """An LFW-style set saved as PNG, WebP, BMP (any case) is found like the JPEG original."""
    for name, suffix in (("Ann", ".png"), ("Bob", ".WEBP"), ("Cid", ".bmp"), ("Dee", ".jpeg"), ("Eve", ".jpg")):
        (tmp_path / name).mkdir()
        (tmp_path / name / f"{name}_0001{suffix}").write_bytes(b"x")
        (tmp_path / name / f"{name}_0002{suffix}").write_bytes(b"x")
        assert lfw_image_path(tmp_path, name, 2) == tmp_path / name / f"{name}_0002{suffix}"
    (tmp_path / "Ann" / "Ann_0003.txt").write_text("not an image")
    assert lfw_image_path(tmp_path, "Ann", 3) == tmp_path / "Ann" / "Ann_0003.jpg"  # missing: named as LFW does
    assert lfw_image_path(tmp_path, "Zed", 1) == tmp_path / "Zed" / "Zed_0001.jpg"
    assert list(lfw_people_with_min_images(tmp_path, 2)) == ["Ann", "Bob", "Cid", "Dee", "Eve"]
    (tmp_path / "pairs.txt").write_text("1 1\nAnn 1 2\nBob 1 Cid 2\n")
    (same, diff) = read_pairs(tmp_path / "pairs.txt", tmp_path)
    assert (same.left.name, same.right.name, diff.left.name, diff.right.name) == (
        "Ann_0001.png", "Ann_0002.png", "Bob_0001.WEBP", "Cid_0002.bmp")


def test_missing_image_files_are_counted(tmp_path: Path) -> None:
    a, b = tmp_path / "A/A_0001.png", tmp_path / "B/B_0001.png"
    a.parent.mkdir()
    a.write_bytes(b"x")
    pairs = [LfwPair(0, True, a, a), LfwPair(0, False, a, b), LfwPair(1, True, a, a), LfwPair(1, False, a, b)]
    res = evaluate_pairs(pairs, lambda p: np.ones(4) if p.is_file() else None)
    assert (res["images"], res["no_face"], res["missing_files"]) == (2, 1, 1)


@needs_lfw
def test_people_listing_real() -> None:
    everyone = lfw_people_with_min_images(LFW, 1)
    assert len(everyone) == 5749
    assert sum(len(v) for v in everyone.values()) == 13233
    singles = lfw_single_image_people(LFW)
    assert len(singles) == 4069
    assert all(len(everyone[p.parent.name]) == 1 and p == everyone[p.parent.name][0] for p in singles)
    many = lfw_people_with_min_images(LFW, 20)
    assert all(len(v) >= 20 for v in many.values())
    assert len(many) == sum(1 for v in everyone.values() if len(v) >= 20)
    assert len(many["George_W_Bush"]) == 530


def _slice(pairs: list[LfwPair], folds: range, per_half: int) -> list[LfwPair]:
    out = []
    for f in folds:
        fold = pairs[600 * f : 600 * (f + 1)]
        out += fold[:per_half] + fold[300 : 300 + per_half]
    return out


@needs_lfw
def test_evaluate_pairs_identity_oracle_with_missing_faces(real_pairs: list[LfwPair]) -> None:
    """Fake embedder: the person's own random direction plus small per-image noise, so every pair
    is decided right except same-person pairs where an image has 'no face' (image number 3)."""
    pairs = _slice(real_pairs, range(5), 30)
    calls: Counter[Path] = Counter()

    def embed(path: Path) -> np.ndarray | None:
        calls[path] += 1
        assert path.is_file()
        if path.stem.endswith("_0003"):
            return None
        person = np.random.default_rng(zlib.crc32(path.parent.name.encode())).normal(size=64)
        noise = np.random.default_rng(zlib.crc32(path.name.encode())).normal(size=64)
        return (person / np.linalg.norm(person) + 0.02 * noise).astype(np.float32)

    result = evaluate_pairs(pairs, embed)
    distinct = {q for p in pairs for q in (p.left, p.right)}
    assert set(calls) == distinct and max(calls.values()) == 1
    no_face = {q for q in distinct if q.stem.endswith("_0003")}
    assert result["images"] == len(distinct)
    assert result["no_face"] == len(no_face) > 0
    assert result["pairs"] == len(pairs)
    lost = [p for p in pairs if p.same and (p.left in no_face or p.right in no_face)]
    assert lost, "the slice must contain same pairs with a missing face"
    want = [1 - sum(1 for p in lost if p.fold == f) / 60 for f in range(5)]
    assert result["fold_accuracies"] == pytest.approx(want)
    assert result["accuracy"] == pytest.approx(np.mean(want))
    assert result["accuracy_std"] == pytest.approx(np.std(want))
    n_same = sum(p.same for p in pairs)
    tars = result["tar_at_far"]
    assert isinstance(tars, dict)
    assert tars == pytest.approx({"0.01": 1 - len(lost) / n_same, "0.001": 1 - len(lost) / n_same})
    assert isinstance(result["threshold"], float) and 0.0 < result["threshold"] < 0.99
    assert isinstance(result["seconds"], float) and result["seconds"] >= 0.0


@needs_lfw
def test_evaluate_pairs_pixel_embedder_matches_naive(real_pairs: list[LfwPair]) -> None:
    """A cheap real embedder (centre crop, 16x16 grey thumbnail, mean removed) against a naive loop."""
    pairs = _slice(real_pairs, range(3), 15)

    def embed(path: Path) -> np.ndarray | None:
        img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        assert img is not None
        v = cv2.resize(img[70:180, 70:180], (16, 16), interpolation=cv2.INTER_AREA).astype(np.float32).ravel()
        return v - v.mean()

    result = evaluate_pairs(pairs, embed)
    scores = []
    for p in pairs:
        a, b = embed(p.left), embed(p.right)
        assert a is not None and b is not None
        scores.append(float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))))
    s = np.array(scores)
    labels = np.array([p.same for p in pairs])
    mean, std, per = kfold_accuracy(s, labels, np.array([p.fold for p in pairs]))
    assert result["accuracy"] == pytest.approx(mean)
    assert result["accuracy_std"] == pytest.approx(std)
    assert result["fold_accuracies"] == pytest.approx(per.tolist())
    assert result["tar_at_far"] == pytest.approx(
        {far: tar_at_far(s[labels], s[~labels], float(far))[0] for far in ("0.01", "0.001")}
    )
    assert result["no_face"] == 0
    assert 0.4 < float(mean) < 0.95  # pixels are a weak but not useless face descriptor


def test_evaluate_pairs_rejects_bad_input(tmp_path: Path) -> None:
    a, b = tmp_path / "A/A_0001.jpg", tmp_path / "B/B_0001.jpg"
    with pytest.raises(ValueError, match="No pairs"):
        evaluate_pairs([], lambda p: None)
    only_same = [LfwPair(0, True, a, b), LfwPair(1, True, a, b)]
    with pytest.raises(ValueError, match="both same-person and different-person"):
        evaluate_pairs(only_same, lambda p: np.ones(4))
    mixed = [LfwPair(0, True, a, a), LfwPair(1, False, a, b)]
    with pytest.raises(ValueError, match="zero"):
        evaluate_pairs(mixed, lambda p: np.zeros(4))
    with pytest.raises(ValueError, match="has 3 values"):
        evaluate_pairs(mixed, lambda p: np.ones(4) if p == a else np.ones(3))
