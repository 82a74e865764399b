"""The PyTorch SFace port against ONNX Runtime on the shipped int8 file, on real LFW faces."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from desktop_app.core.embedding.model_files import DETECTOR, EMBEDDER, shipped_model_path
from desktop_app.core.errors import ModelError
from trainer.model.fp32_export import METADATA_SOURCE_SHA256, export_dequantized_sface
from trainer.model.onnx_weights import dequantize_blockwise, graph_layers, load_sface_onnx
from trainer.model.sface import SFaceNet, export_onnx, load_pretrained_sface, onnx_parity

PEOPLE = [
    "George_W_Bush",
    "Colin_Powell",
    "Tony_Blair",
    "Donald_Rumsfeld",
    "Gerhard_Schroeder",
    "Ariel_Sharon",
    "Hugo_Chavez",
    "Junichiro_Koizumi",
]


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _ort_embed(model: onnx.ModelProto, images: np.ndarray, batch: bool = False) -> np.ndarray:
    session = _session(model)
    if batch:
        return np.asarray(session.run(["fc1"], {"data": images})[0])
    return np.concatenate([session.run(["fc1"], {"data": images[i : i + 1]})[0] for i in range(len(images))])


def _torch_embed(model: SFaceNet, images: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model.eval()(torch.from_numpy(images)).numpy()


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.sum(a * b, axis=1)


@pytest.fixture(scope="module")
def faces(lfw: Path) -> np.ndarray:
    """(8, 3, 112, 112) float32 BGR 0..255: centre 150 px of 8 LFW photos, resized to 112.

    ``lfw`` comes from tests/conftest.py and skips when the shared data is absent.
    """
    crops = []
    for name in PEOPLE:
        img = cv2.imread(str(lfw / name / f"{name}_0001.jpg"))
        assert img is not None, name
        crop = cv2.resize(img[50:200, 50:200], (112, 112), interpolation=cv2.INTER_AREA)
        crops.append(crop.transpose(2, 0, 1))
    return np.ascontiguousarray(np.stack(crops), dtype=np.float32)


@pytest.fixture(scope="module")
def model() -> SFaceNet:
    return load_pretrained_sface()


@pytest.fixture(scope="module")
def torch_out(model: SFaceNet, faces: np.ndarray) -> np.ndarray:
    """The port's embeddings of ``faces``: (8, 128) float32."""
    return _torch_embed(model, faces)


@pytest.fixture(scope="module")
def int8_reference(faces: np.ndarray) -> np.ndarray:
    """ONNX Runtime embeddings of ``faces`` from the shipped int8 file (pruned inputs)."""
    return _ort_embed(load_sface_onnx(), faces)


def test_raw_int8_file_needs_pruning_and_pruned_has_only_data() -> None:
    raw = onnx.load(str(shipped_model_path(EMBEDDER)))
    assert len(raw.graph.input) == 175
    with pytest.raises(Exception, match=r"(?i)input"):
        _session(raw).run(None, {"data": np.zeros((1, 3, 112, 112), np.float32)})
    pruned = load_sface_onnx()
    assert [i.name for i in pruned.graph.input] == ["data"]
    assert len(raw.graph.input) == 175  # the loaded proto was copied, not modified


def test_dequantize_blockwise_is_bit_exact_with_onnx_runtime() -> None:
    rng = np.random.default_rng(1)
    for shape, axis, block in [((5, 10), 1, 4), ((6, 9), 1, 9), ((64, 3), 0, 32), ((4, 130), 1, 64)]:
        q = rng.integers(-128, 128, size=shape, dtype=np.int8)
        sshape = list(shape)
        sshape[axis] = -(-shape[axis] // block)
        scale = rng.uniform(1e-4, 1e-2, size=sshape).astype(np.float32)
        zp = rng.integers(-128, 128, size=sshape, dtype=np.int8)
        node = helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], axis=axis, block_size=block)
        graph = helper.make_graph(
            [node],
            "dq",
            [],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(shape))],
            [numpy_helper.from_array(q, "q"), numpy_helper.from_array(scale, "s"), numpy_helper.from_array(zp, "z")],
        )
        proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)], ir_version=10)
        expected = _session(proto).run(None, {})[0]
        got = dequantize_blockwise(q, scale, zp, axis=axis, block_size=block)
        # naive loop: each element uses the scale / zero point of its block
        naive = np.empty(shape, np.float32)
        for idx in np.ndindex(*shape):
            b = list(idx)
            b[axis] //= block
            naive[idx] = np.float32(int(q[idx]) - int(zp[tuple(b)])) * scale[tuple(b)]
        assert got.dtype == np.float32 and got.shape == shape
        np.testing.assert_array_equal(got, expected)
        np.testing.assert_array_equal(got, naive)


def test_parameter_count_matches_the_graph(model: SFaceNet) -> None:
    n_torch = sum(p.numel() for p in model.parameters())
    n_graph = 0
    for layer in graph_layers(load_sface_onnx()):
        if layer.op in {"Conv", "Gemm", "PRelu"}:
            n_graph += sum(p.size for p in layer.params)
        elif layer.op == "BatchNormalization":
            n_graph += layer.params[0].size + layer.params[1].size  # scale, bias (stats are buffers)
    assert n_torch == n_graph
    assert 9.60e6 < n_torch < 9.68e6
    assert model.embed_dim == 128 and model.num_blocks == 14


def test_port_matches_onnx_runtime_on_real_faces(
    model: SFaceNet, faces: np.ndarray, torch_out: np.ndarray, int8_reference: np.ndarray
) -> None:
    ours = torch_out
    assert ours.shape == (8, 128) and ours.dtype == np.float32
    assert np.abs(int8_reference).max() > 0.5  # non-degenerate reference
    assert float(np.max(np.abs(ours - int8_reference))) < 1e-4
    assert float(_cosines(ours, int8_reference).min()) > 0.99999
    # different people stay apart (the comparison is not between constant outputs)
    sims = _cosines(ours[:-1], ours[1:])
    assert float(sims.max()) < 0.8
    assert onnx_parity(model, None, faces[:2]) < 1e-4


def test_export_matches_the_port_with_a_dynamic_batch(
    model: SFaceNet, faces: np.ndarray, torch_out: np.ndarray, tmp_path: Path
) -> None:
    path = export_onnx(model, tmp_path / "sface_fp32.onnx")
    exported = onnx.load(str(path))
    assert [i.name for i in exported.graph.input] == ["data"]
    assert [o.name for o in exported.graph.output] == ["fc1"]
    assert exported.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert not any(n.op_type == "DequantizeLinear" for n in exported.graph.node)
    batch_out = _ort_embed(load_sface_onnx(path), faces, batch=True)
    assert float(np.max(np.abs(batch_out - torch_out))) < 1e-4
    assert onnx_parity(model, path, faces[:2]) < 1e-4
    assert not (tmp_path / "sface_fp32.onnx.partial").exists()
    # an export loads back into the port (folded BatchNorms become identity + bias)
    reloaded = load_pretrained_sface(path)
    assert float(np.max(np.abs(_torch_embed(reloaded, faces[:2]) - torch_out[:2]))) < 1e-4


def test_export_dequantized_sface_matches_the_int8_file(
    faces: np.ndarray, int8_reference: np.ndarray, tmp_path: Path
) -> None:
    path = export_dequantized_sface(tmp_path / "out" / "sface_fp32.onnx")
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert meta[METADATA_SOURCE_SHA256] == EMBEDDER.sha256
    fp32 = _ort_embed(load_sface_onnx(path), faces, batch=True)
    assert float(np.max(np.abs(fp32 - int8_reference))) < 1e-4
    assert float(_cosines(fp32, int8_reference).min()) > 0.99999


@pytest.mark.slow
def test_freeze_keeps_early_blocks_fixed(model: SFaceNet) -> None:
    net = SFaceNet()
    net.load_state_dict(model.state_dict())
    net.freeze(2)
    net.train()
    assert net.frozen_blocks == 12
    assert not any(p.requires_grad for p in net.blocks[:12].parameters())
    assert all(p.requires_grad for p in net.blocks[12:].parameters())
    assert all(p.requires_grad for p in net.head.parameters())
    assert not net.blocks[0].training and net.blocks[13].training and net.head.training
    stats_before = net.blocks[5].pw.bn.running_mean.clone()
    x = torch.rand(2, 3, 112, 112) * 255
    net(x).pow(2).sum().backward()
    assert torch.equal(net.blocks[5].pw.bn.running_mean, stats_before)  # frozen BN not updated
    assert all(p.grad is None for p in net.blocks[:12].parameters())
    grads = [p.grad for p in net.blocks[12:].parameters()]
    assert all(g is not None and bool(torch.isfinite(g).all()) for g in grads)
    assert net.forward_features(x[:1]).shape == (1, 1024, 7, 7)
    net.unfreeze()
    net.train()
    assert net.frozen_blocks == 0 and net.blocks[0].training
    assert all(p.requires_grad for p in net.parameters())
    with pytest.raises(ValueError):
        net.freeze(15)


def test_wrong_files_raise_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        load_pretrained_sface(tmp_path / "missing.onnx")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x00not an onnx file" * 10)
    with pytest.raises(ModelError):
        load_pretrained_sface(garbage)
    with pytest.raises(ModelError):  # the YuNet detector is not the SFace chain
        load_pretrained_sface(shipped_model_path(DETECTOR))
