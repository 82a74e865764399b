"""Read the shipped SFace ONNX file without torch: prune its stray inputs, dequantise its weights.

The shipped ``face_recognition_sface_2021dec_int8bq.onnx`` stores every conv / fully-connected weight
as int8 with block-wise ``DequantizeLinear`` nodes (``block_size`` 64, 32, 27 or 9 along ``axis`` 1),
followed by a ``Reshape`` to the conv kernel shape. It also lists 174 names besides ``data`` as graph
inputs (the initializers and the pre-quantisation weight names), and ONNX Runtime refuses to run it
with only ``data`` fed; :func:`load_sface_onnx` returns the model with those inputs removed.

:func:`graph_layers` walks the (plain-chain) graph in order and returns each compute node with its
constant operands already evaluated in float32, which is what the PyTorch port loads.

Only ``onnx`` and ``numpy`` are imported here, so this module is usable where torch is absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from desktop_app.core.embedding.model_convert import dequantize_tensor, make_batch_dynamic, prune_initializer_inputs
from desktop_app.core.embedding.model_files import EMBEDDER, shipped_model_path
from desktop_app.core.errors import ModelError

INPUT_NAME = "data"
"""Name of the image input of the shipped SFace graph: (N, 3, 112, 112) float32 BGR 0..255."""

OUTPUT_NAME = "fc1"
"""Name of the embedding output of the shipped SFace graph: (N, 128) float32, not L2-normalised."""

# Ops whose outputs are folded into constants when all their inputs are constant.
_FOLDABLE_OPS = frozenset({"DequantizeLinear", "Reshape", "Constant", "Identity", "Cast"})


@dataclass(frozen=True)
class OnnxLayer:
    """One compute node of a plain-chain graph, with its constant operands evaluated.

    ``params`` holds the node's constant inputs in input order (float32 arrays for weights, e.g. a
    Conv weight (C_out, C_in/groups, kH, kW), BatchNormalization scale/bias/mean/var each (C,),
    PRelu slope (C, 1, 1), Gemm weight (N_out, N_in) and bias (N_out,)); ``attrs`` the node
    attributes (Python values, e.g. ``strides`` as a list of ints).
    """

    op: str
    name: str
    params: tuple[np.ndarray, ...]
    attrs: Mapping[str, Any] = field(default_factory=dict)


#: One implementation of DequantizeLinear, graph-input pruning and dynamic batch for app and trainer.
dequantize_blockwise = dequantize_tensor
prune_graph_inputs = prune_initializer_inputs


def load_sface_onnx(path: Path | None = None, *, dynamic_batch: bool = False) -> onnx.ModelProto:
    """Load an SFace ONNX file, ready for ``onnxruntime.InferenceSession(model.SerializeToString())``.

    Args:
        path: the ONNX file; None means the shipped, sha256-verified int8 embedder
            (``shipped_model_path(EMBEDDER)``).
        dynamic_batch: also make the batch dimension of ``data`` / ``fc1`` symbolic (the shipped
            file fixes it to 1); the graph itself (Flatten + Gemm) works for any batch.

    Returns:
        The model with only its real input(s) (``data``, (1|N, 3, 112, 112) float32 BGR 0..255)
        kept as graph inputs. Raises ModelError when the file is missing or is not valid ONNX.
    """
    src = shipped_model_path(EMBEDDER) if path is None else Path(path)
    if not src.is_file():
        raise ModelError(f"ONNX model file not found: {src}")
    try:
        model = onnx.load(str(src))
    except Exception as exc:  # onnx raises DecodeError and others
        raise ModelError(f"Cannot read {src} as an ONNX model ({exc}). Restore or re-export the file.") from exc
    pruned = prune_graph_inputs(model)
    if dynamic_batch:
        make_batch_dynamic(pruned, "batch")
    return pruned


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _fold(node: onnx.NodeProto, const: Mapping[str, np.ndarray]) -> np.ndarray:
    """Evaluate a foldable node (all inputs constant) in numpy."""
    attrs = _attrs(node)
    if node.op_type == "DequantizeLinear":
        zp = const[node.input[2]] if len(node.input) > 2 and node.input[2] else None
        return dequantize_blockwise(
            const[node.input[0]],
            const[node.input[1]],
            zp,
            axis=int(attrs.get("axis", 1)),
            block_size=int(attrs.get("block_size", 0)),
        )
    if node.op_type == "Reshape":
        data, shape = const[node.input[0]], const[node.input[1]].astype(np.int64)
        target = [data.shape[i] if s == 0 else int(s) for i, s in enumerate(shape)]
        return data.reshape(target)
    if node.op_type == "Constant":
        return numpy_helper.to_array(attrs["value"]) if "value" in attrs else np.asarray(attrs["value_float"])
    if node.op_type == "Identity":
        return const[node.input[0]]
    if node.op_type == "Cast":
        return const[node.input[0]].astype(helper.tensor_dtype_to_np_dtype(int(attrs["to"])))
    raise ModelError(f"Cannot fold ONNX node {node.name!r} of type {node.op_type}.")


def graph_layers(model: onnx.ModelProto) -> list[OnnxLayer]:
    """The compute nodes of a plain-chain graph in execution order, constants evaluated.

    Constant sub-graphs (DequantizeLinear, Reshape, Constant, ... on initializers) are folded in
    numpy; every other node must take exactly one non-constant input, the previous node's output
    (the first one: the graph input). Raises ModelError when the graph is not such a chain.
    """
    graph = model.graph
    const: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    feeds = [inp.name for inp in graph.input if inp.name not in const]
    layers: list[OnnxLayer] = []
    current = feeds[0] if feeds else INPUT_NAME
    for node in graph.node:
        inputs = [name for name in node.input if name]
        if node.op_type in _FOLDABLE_OPS and all(name in const for name in inputs):
            const[node.output[0]] = _fold(node, const)
            continue
        dynamic = [name for name in inputs if name not in const]
        if dynamic != [current]:
            raise ModelError(
                f"ONNX node {node.name!r} ({node.op_type}) reads {dynamic}, expected only {current!r}: "
                f"the graph is not the plain chain of the SFace embedder."
            )
        params = tuple(const[name].astype(np.float32, copy=False) for name in inputs if name in const)
        layers.append(OnnxLayer(op=node.op_type, name=node.name, params=params, attrs=_attrs(node)))
        current = node.output[0]
    return layers
