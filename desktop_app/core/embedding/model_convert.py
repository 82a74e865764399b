"""Conversions of the shipped ONNX embedder that ONNX Runtime needs or runs faster.

- ``prune_initializer_inputs``: the SFace int8bq file lists its 174 weight tensors as graph inputs
  so ONNX Runtime refuses to run it with only ``data`` fed. We drop every graph input that is also an
  initializer (they are constants), which leaves ``data`` as the only input.
- ``dequantize_blockwise``: replaces each ``DequantizeLinear`` node (int8 weights, block-wise scale
  and zero point along ``axis`` with the ``block_size`` attribute) by an fp32 initializer holding
  ``(q - zero_point) * scale``; ONNX Runtime then folds BatchNorm/Reshape into plain fp32 convolutions,
  which runs about twice as fast on CPU and gives the same embeddings (max abs diff ~1e-6).
- ``ensure_fp32_copy`` / ``save_onnx_atomic``: write the result safely (see ``model_files``), so
  that several processes converting at once, or a crash, never leave a damaged file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from desktop_app.core.embedding.model_files import (
    EMPTY_SHA256,
    folder_lock,
    remove_stale_temps,
    write_atomic,
)
from desktop_app.core.errors import ModelError

if TYPE_CHECKING:
    import onnx  # imported where used: ``import onnx`` costs ~1 s CPU (ml_dtypes), a CLI start need not pay it


def load_onnx(path: Path) -> onnx.ModelProto:
    """Load an ONNX file, turning any parse failure into a ModelError that names the file."""
    import onnx

    try:
        return onnx.load(str(path))
    except Exception as exc:  # onnx raises DecodeError, OSError, ValueError...
        raise ModelError(f"Model file {path} cannot be read as ONNX ({exc.__class__.__name__}: {exc}).") from exc


def prune_initializer_inputs(model: onnx.ModelProto) -> onnx.ModelProto:
    """Return a copy whose graph inputs are only the true inputs (for SFace: ``data``).

    A listed input is dropped when it is an initializer or when no node reads it: the SFace file
    lists its weights as graph inputs under names that nothing consumes (the convolutions read the
    ``*_reshaped`` outputs of DequantizeLinear -> Reshape), so ONNX Runtime would demand them.
    """
    import onnx

    out = onnx.ModelProto()
    out.CopyFrom(model)
    consumed = {i for n in out.graph.node for i in n.input}
    constants = {t.name for t in out.graph.initializer}
    keep = [i for i in out.graph.input if i.name in consumed and i.name not in constants]
    if not keep:
        raise ModelError("The ONNX model has no input left after pruning its constant inputs.")
    del out.graph.input[:]
    out.graph.input.extend(keep)
    return out


def make_batch_dynamic(model: onnx.ModelProto, name: str = "batch") -> onnx.ModelProto:
    """Set the first dimension of every graph input and output to the symbol ``name`` (in place)."""
    for value in [*model.graph.input, *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        if dims:
            dims[0].ClearField("dim_value")
            dims[0].dim_param = name
    return model


def dequantize_tensor(q: np.ndarray, scale: np.ndarray, zero_point: np.ndarray | None, axis: int = 1,
                      block_size: int = 0) -> np.ndarray:
    """ONNX ``DequantizeLinear`` in numpy: ``(q - zero_point) * scale`` as float32, any shape.

    scale: a scalar (per tensor), ``q.shape[axis]`` values (per axis, ``block_size`` 0), or for
    ``block_size`` B > 0 an array shaped like ``q`` except ``ceil(q.shape[axis] / B)`` along ``axis``
    (each value covers B consecutive elements); zero_point: like ``scale``, None means 0. The
    subtraction is done in int32 and the product in float32, the arithmetic of ONNX Runtime, so the
    results agree bit for bit. Used by the app's fp32 conversion and by the trainer's PyTorch port.
    """
    q32 = q.astype(np.int32)
    zp = np.zeros_like(scale, dtype=np.int32) if zero_point is None else zero_point.astype(np.int32)
    ax = axis % q.ndim if q.ndim else 0
    if scale.ndim == 0 or (scale.size == 1 and block_size == 0):
        out: np.ndarray = (q32 - zp.reshape(())).astype(np.float32) * scale.reshape(()).astype(np.float32)
        return out.astype(np.float32)
    if block_size == 0:
        shape = [1] * q.ndim
        shape[ax] = q.shape[ax]
        s = scale.astype(np.float32).reshape(shape)
        z = zp.reshape(shape)
    else:
        n = q.shape[ax]
        expected = -(-n // block_size)
        if scale.shape[ax] != expected:
            raise ModelError(
                f"Cannot dequantise a weight of shape {q.shape}: its scale has {scale.shape[ax]} blocks "
                f"along axis {ax}, expected {expected} for block_size {block_size}."
            )
        s = np.repeat(scale.astype(np.float32), block_size, axis=ax).take(np.arange(n), axis=ax)
        z = np.repeat(zp, block_size, axis=ax).take(np.arange(n), axis=ax)
    result: np.ndarray = ((q32 - z).astype(np.float32) * s).astype(np.float32)
    return result


def dequantize_blockwise(model: onnx.ModelProto) -> onnx.ModelProto:
    """Return an fp32 copy: every DequantizeLinear fed by initializers becomes an fp32 initializer."""
    import onnx
    from onnx import numpy_helper

    src = make_batch_dynamic(prune_initializer_inputs(model))
    inits = {t.name: numpy_helper.to_array(t) for t in src.graph.initializer}
    new_nodes = []
    new_inits: dict[str, np.ndarray] = {}
    for node in src.graph.node:
        if node.op_type != "DequantizeLinear" or not all(i in inits for i in node.input if i):
            new_nodes.append(node)
            continue
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        q = inits[node.input[0]]
        scale = inits[node.input[1]]
        zp = inits[node.input[2]] if len(node.input) > 2 and node.input[2] else None
        new_inits[node.output[0]] = dequantize_tensor(
            q, scale, zp, int(attrs.get("axis", 1)), int(attrs.get("block_size", 0))
        )
    used = {i for n in new_nodes for i in n.input}
    out = onnx.ModelProto()
    out.CopyFrom(src)
    del out.graph.node[:]
    out.graph.node.extend(new_nodes)
    kept = [t for t in src.graph.initializer if t.name in used]
    del out.graph.initializer[:]
    out.graph.initializer.extend(kept)
    out.graph.initializer.extend(numpy_helper.from_array(v, name=k) for k, v in new_inits.items())
    try:
        onnx.checker.check_model(out)
    except onnx.checker.ValidationError as exc:
        raise ModelError(f"Dequantised model failed the ONNX checker: {exc}") from exc
    return out


def save_onnx_atomic(model: onnx.ModelProto, dst: Path) -> Path:
    """Write ``model`` to ``dst`` atomically (``model_files.write_atomic``); ModelError when it fails."""
    write_atomic(Path(dst), model.SerializeToString(), what=f"the model file {Path(dst).name}")
    return Path(dst)


def check_onnx_file(path: Path, expected_sha256: str | None = None) -> str:
    """sha256 of an ONNX file after checking that it is a whole model; ModelError saying what is wrong.

    Checks, in about 0.1 s for the 39 MB SFace file: the file exists and is not empty, its sha256
    is ``expected_sha256`` when given, and its bytes parse as an ONNX model with a non-empty graph
    (a truncated or overwritten file fails the parse).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise ModelError(f"Model file not found: {path}") from exc
    except OSError as exc:
        raise ModelError(f"Model file {path} cannot be read: {exc.strerror or exc}.") from exc
    sha = hashlib.sha256(data).hexdigest()
    if sha == EMPTY_SHA256:
        raise ModelError(f"Model file {path} is empty.")
    if expected_sha256 is not None and sha != expected_sha256:
        raise ModelError(
            f"Model file {path} is altered or corrupted: sha256 {sha[:16]}… differs from the expected "
            f"{expected_sha256[:16]}…."
        )
    import onnx

    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as exc:  # protobuf DecodeError
        raise ModelError(f"Model file {path} is damaged: it does not parse as ONNX ({exc}).") from exc
    if not model.graph.node:
        raise ModelError(f"Model file {path} is damaged: it holds no network.")
    return sha


def ensure_fp32_copy(src: Path, dst: Path) -> Path:
    """The fp32 dequantised copy of ``src`` at ``dst``, converted once and re-made if damaged.

    Safe when several processes ask at once: the conversion runs under ``folder_lock`` of the
    destination folder, and the file appears atomically.
    """
    dst = Path(dst)
    if _whole(dst):
        return dst
    with folder_lock(dst.parent):
        remove_stale_temps(dst.parent)
        if not _whole(dst):  # another process may have made it while we waited
            save_onnx_atomic(dequantize_blockwise(load_onnx(src)), dst)
    return dst


def _whole(path: Path) -> bool:
    try:
        check_onnx_file(path)
    except ModelError:
        return False
    return True
