"""Shipped models: located offline, checksums verified, SFace pruned and dequantised without drift."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from desktop_app.core.embedding.embedder import Embedder
from desktop_app.core.embedding.model_convert import dequantize_tensor, load_onnx, prune_initializer_inputs
from desktop_app.core.embedding.model_files import DETECTOR, EMBEDDER, sha256_of, shipped_model_path, shipped_models_dir
from desktop_app.core.errors import ModelError
from desktop_app.core.face.detector import FaceDetector


def test_shipped_models_found_and_verified() -> None:
    for model in (DETECTOR, EMBEDDER):
        path = shipped_model_path(model)
        assert path.stat().st_size == model.size_bytes
        assert sha256_of(path) == model.sha256


def test_altered_model_is_refused(tmp_path: Path) -> None:
    for model in (DETECTOR, EMBEDDER):
        copy = tmp_path / model.filename
        shutil.copyfile(shipped_models_dir() / model.filename, copy)
        with open(copy, "r+b") as fh:  # flip one byte in the middle
            fh.seek(model.size_bytes // 2)
            b = fh.read(1)
            fh.seek(model.size_bytes // 2)
            fh.write(bytes([b[0] ^ 0xFF]))
        with pytest.raises(ModelError, match="altered or corrupted"):
            shipped_model_path(model, folder=tmp_path)


def test_missing_model_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        shipped_model_path(EMBEDDER, folder=tmp_path)


def test_truncated_onnx_gives_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(shipped_model_path(EMBEDDER).read_bytes()[:5000])
    with pytest.raises(ModelError, match=r"broken\.onnx"):
        Embedder(bad, device="cpu")
    with pytest.raises(ModelError):
        FaceDetector(model_path=bad)


def test_raw_sface_file_is_refused_by_ort_and_pruning_fixes_it() -> None:
    model = load_onnx(shipped_model_path(EMBEDDER))
    assert len(model.graph.input) > 100  # the trap: weights listed as graph inputs
    raw = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.zeros((1, 3, 112, 112), np.float32)
    with pytest.raises(ValueError, match="missing from input feed"):
        raw.run(None, {"data": x})
    pruned = prune_initializer_inputs(model)
    assert [i.name for i in pruned.graph.input] == ["data"]
    session = ort.InferenceSession(pruned.SerializeToString(), providers=["CPUExecutionProvider"])
    out = session.run(None, {"data": x})
    assert out[0].shape == (1, 128)


def test_blockwise_dequantisation_matches_naive_loop() -> None:
    rng = np.random.default_rng(1)
    q = rng.integers(-128, 127, (3, 10)).astype(np.int8)
    scale = rng.uniform(0.01, 0.1, (3, 3)).astype(np.float32)  # blocks of 4 along axis 1: 4 + 4 + 2
    zp = rng.integers(-3, 3, (3, 3)).astype(np.int8)
    got = dequantize_tensor(q, scale, zp, axis=1, block_size=4)
    ref = np.empty((3, 10), np.float32)
    for i in range(3):
        for j in range(10):
            ref[i, j] = (float(q[i, j]) - float(zp[i, j // 4])) * float(scale[i, j // 4])
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-6)


def test_fp32_export_keeps_embeddings_on_real_faces(engine, fp32_model: Path, lfw: Path) -> None:  # type: ignore[no-untyped-def]
    """Dequantised fp32 SFace vs the shipped int8 file in ONNX Runtime: max abs diff < 1e-4."""
    from desktop_app.core.face.alignment import align_face
    from desktop_app.core.video.imageio import read_image

    crops = []
    for name in ["Aaron_Peirsol", "Colin_Powell", "Serena_Williams", "Tony_Blair"]:
        img = read_image(lfw / name / f"{name}_0001.jpg")
        det = engine.detector.detect(img)[0]
        crops.append(align_face(img, det.landmarks))
    int8 = Embedder(shipped_model_path(EMBEDDER), device="cpu", flip=False, normalise_light=False)
    fp32 = Embedder(fp32_model, device="cpu", flip=False, normalise_light=False)
    a, b = int8.embed_raw(np.stack(crops)), fp32.embed_raw(np.stack(crops))
    assert a.shape == (4, 128)
    assert float(np.abs(a - b).max()) < 1e-4
