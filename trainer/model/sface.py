"""PyTorch port of the shipped SFace embedder (OpenCV Zoo ``face_recognition_sface_2021dec``).

Architecture, read from the ONNX graph (a MobileFaceNet-like plain chain, 9.64 M parameters):

* input (B, 3, 112, 112) float32 **BGR 0..255**; normalised inside as ``(x - 127.5) * 0.0078125``;
* ``blocks[0]``: 3x3 conv 3->32, stride 1, + BatchNorm(eps 1e-3) + PReLU;
* ``blocks[1..13]`` (ONNX ``conv_2`` .. ``conv_14``): depthwise 3x3 conv (stride 2 in ``conv_3``,
  ``conv_5``, ``conv_7``, ``conv_13``) + BN + PReLU, then pointwise 1x1 conv + BN + PReLU;
  channels 32 -> 64 -> 128 -> 128 -> 256 -> 256 -> 512 (x6) -> 1024 -> 1024; spatial 112 -> 7;
* ``head``: BatchNorm2d(1024, eps 2e-5) -> Dropout(0.4, training only) -> Flatten (50176)
  -> Linear(50176, 128) -> BatchNorm1d(128, eps 2e-5): the (B, 128) embedding, not L2-normalised
  (compare embeddings by cosine).

No conv has a bias and no BatchNorm is folded in the file, so the port has the same modules.
Weights come dequantised from the int8 file (see :mod:`trainer.model.onnx_weights`).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from desktop_app.core.errors import ModelError

from .onnx_weights import INPUT_NAME, OUTPUT_NAME, OnnxLayer, graph_layers, load_sface_onnx

INPUT_SIZE = 112
"""Side of the aligned face crop the embedder takes, in pixels."""
INPUT_MEAN = 127.5
"""Subtracted from the BGR 0..255 input inside the network."""
INPUT_SCALE = 0.0078125
"""Multiplies the centred input inside the network (1 / 128)."""
EMBED_DIM = 128
"""Length of the embedding vector."""


@dataclass(frozen=True)
class StageSpec:
    """One ``blocks`` entry: output channels and the stride of its (depthwise) 3x3 conv."""

    out_channels: int
    stride: int


# blocks[0] is a full 3x3 conv from 3 channels; the others are depthwise-separable.
SFACE_STAGES: tuple[StageSpec, ...] = (
    StageSpec(32, 1),
    StageSpec(64, 1),
    StageSpec(128, 2),
    StageSpec(128, 1),
    StageSpec(256, 2),
    StageSpec(256, 1),
    StageSpec(512, 2),
    StageSpec(512, 1),
    StageSpec(512, 1),
    StageSpec(512, 1),
    StageSpec(512, 1),
    StageSpec(512, 1),
    StageSpec(1024, 2),
    StageSpec(1024, 1),
)


class ConvBNPReLU(nn.Sequential):
    """Conv2d (no bias, 'same' padding) -> BatchNorm2d -> PReLU (one slope per channel).

    Input (B, C_in, H, W) float32; output (B, C_out, H / stride, W / stride).
    """

    def __init__(
        self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, groups: int = 1, eps: float = 1e-3
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, stride, padding=kernel // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_ch, eps=eps)
        self.prelu = nn.PReLU(out_ch)


class DepthwiseSeparable(nn.Sequential):
    """Depthwise 3x3 ``ConvBNPReLU`` (carrying the stride) then pointwise 1x1 ``ConvBNPReLU``."""

    def __init__(self, in_ch: int, out_ch: int, stride: int) -> None:
        super().__init__()
        self.dw = ConvBNPReLU(in_ch, in_ch, 3, stride, groups=in_ch)
        self.pw = ConvBNPReLU(in_ch, out_ch, 1)


class EmbeddingHead(nn.Module):
    """(B, C, 7, 7) feature map -> (B, embed_dim) embedding: BN2d, Dropout, Flatten, Linear, BN1d."""

    def __init__(self, in_ch: int = 1024, spatial: int = 7, embed_dim: int = EMBED_DIM, dropout: float = 0.4) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(in_ch, eps=2e-5)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_ch * spatial * spatial, embed_dim)
        self.features = nn.BatchNorm1d(embed_dim, eps=2e-5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, in_ch, spatial, spatial) float32 -> (B, embed_dim) float32."""
        x = self.dropout(self.bn(x))
        out: torch.Tensor = self.features(self.fc(torch.flatten(x, 1)))
        return out


class SFaceNet(nn.Module):
    """The SFace embedder as a PyTorch module.

    ``forward``: (B, 3, 112, 112) float32 BGR 0..255 -> (B, 128) float32 raw embedding (the same
    numbers the ONNX file outputs as ``fc1``; L2-normalise before comparing).

    Attributes:
        blocks: ``nn.Sequential`` of 14 stages (``blocks[0]`` the stem conv, then 13
            depthwise-separable stages); freeze all but the last few with :meth:`freeze`.
        head: :class:`EmbeddingHead` (BN, dropout, the 50176 -> 128 Linear, BN1d).
        embed_dim: 128.
    """

    def __init__(self, embed_dim: int = EMBED_DIM, dropout: float = 0.4) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        stages: list[nn.Module] = []
        in_ch = 3
        for i, spec in enumerate(SFACE_STAGES):
            if i == 0:
                stages.append(ConvBNPReLU(in_ch, spec.out_channels, 3, spec.stride))
            else:
                stages.append(DepthwiseSeparable(in_ch, spec.out_channels, spec.stride))
            in_ch = spec.out_channels
        self.blocks = nn.Sequential(*stages)
        spatial = INPUT_SIZE
        for spec in SFACE_STAGES:
            spatial //= spec.stride
        self.head = EmbeddingHead(in_ch, spatial, embed_dim, dropout)
        self._frozen_blocks = 0
        self._head_frozen = False

    @property
    def num_blocks(self) -> int:
        """Number of backbone stages in ``blocks`` (14)."""
        return len(self.blocks)

    @property
    def frozen_blocks(self) -> int:
        """How many leading ``blocks`` are frozen (no grad, BatchNorm statistics fixed)."""
        return self._frozen_blocks

    def normalize_input(self, x: torch.Tensor) -> torch.Tensor:
        """BGR 0..255 (B, 3, 112, 112) -> centred, scaled to about [-1, 1], as the ONNX graph does."""
        if x.ndim != 4 or tuple(x.shape[1:]) != (3, INPUT_SIZE, INPUT_SIZE):
            raise ValueError(f"SFaceNet takes (B, 3, {INPUT_SIZE}, {INPUT_SIZE}) BGR 0..255, got {tuple(x.shape)}")
        return (x - INPUT_MEAN) * INPUT_SCALE

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, 112, 112) BGR 0..255 -> (B, 1024, 7, 7) backbone feature map (before ``head``)."""
        out: torch.Tensor = self.blocks(self.normalize_input(x))
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, 112, 112) float32 BGR 0..255 -> (B, 128) float32 raw embedding."""
        out: torch.Tensor = self.head(self.forward_features(x))
        return out

    def freeze(self, trainable_blocks: int = 0, *, train_head: bool = True) -> None:
        """Freeze the backbone except its last ``trainable_blocks`` stages.

        Frozen stages get ``requires_grad=False`` and stay in eval mode (BatchNorm running statistics
        fixed, even after ``model.train()``). ``freeze(0)`` is the frozen-backbone warm-up (only
        ``head`` trains, unless ``train_head=False``); ``freeze(model.num_blocks)`` unfreezes all.
        """
        n = self.num_blocks
        if not 0 <= trainable_blocks <= n:
            raise ValueError(f"trainable_blocks must be in 0..{n}, got {trainable_blocks}")
        self._frozen_blocks = n - trainable_blocks
        self._head_frozen = not train_head
        for i, block in enumerate(self.blocks):
            block.requires_grad_(i >= self._frozen_blocks)
        self.head.requires_grad_(train_head)
        self.train(self.training)

    def unfreeze(self) -> None:
        """Make every parameter trainable again (undoes :meth:`freeze`)."""
        self.freeze(self.num_blocks, train_head=True)

    def train(self, mode: bool = True) -> SFaceNet:
        """As ``nn.Module.train``, but frozen stages (see :meth:`freeze`) always stay in eval mode."""
        super().train(mode)
        if mode:
            for i, block in enumerate(self.blocks):
                if i < self._frozen_blocks:
                    block.eval()
            if self._head_frozen:
                self.head.eval()
        return self


# --------------------------------------------------------------------------------------------------
# Loading the ONNX weights


def _expect(cond: bool, layer: OnnxLayer, what: str) -> None:
    if not cond:
        raise ModelError(
            f"The ONNX model does not match the SFace architecture at node {layer.name!r} "
            f"({layer.op}): {what}. Use the shipped face_recognition_sface_2021dec file or an export of "
            f"this trainer."
        )


def _copy(dst: torch.Tensor, src: np.ndarray, layer: OnnxLayer) -> None:
    _expect(dst.numel() == src.size, layer, f"weight of {src.shape} where {tuple(dst.shape)} is expected")
    with torch.no_grad():
        dst.copy_(torch.tensor(src.reshape(tuple(dst.shape)), dtype=dst.dtype))


def _load_conv(conv: nn.Conv2d, layer: OnnxLayer) -> None:
    _expect(layer.op == "Conv", layer, f"expected a Conv for {conv}")
    attrs = layer.attrs
    _expect(list(attrs.get("strides", [1, 1])) == list(conv.stride), layer, f"strides {attrs.get('strides')}")
    _expect(int(attrs.get("group", 1)) == conv.groups, layer, f"group {attrs.get('group')}")
    pad = conv.padding if isinstance(conv.padding, tuple) else (0, 0)
    _expect(list(attrs.get("pads", [0, 0, 0, 0])) == [*pad, *pad], layer, f"pads {attrs.get('pads')}")
    _expect(list(attrs.get("dilations", [1, 1])) == [1, 1], layer, "dilation other than 1")
    _expect(len(layer.params) in (1, 2), layer, "a Conv with weight and optional bias")
    _expect(layer.params[0].shape == tuple(conv.weight.shape), layer, f"kernel {layer.params[0].shape}")
    _copy(conv.weight, layer.params[0], layer)


def _load_bn(bn: nn.BatchNorm1d | nn.BatchNorm2d, layer: OnnxLayer) -> None:
    _expect(layer.op == "BatchNormalization", layer, "expected a BatchNormalization")
    scale, bias, mean, var = layer.params
    _copy(bn.weight, scale, layer)
    _copy(bn.bias, bias, layer)
    assert bn.running_mean is not None and bn.running_var is not None
    _copy(bn.running_mean, mean, layer)
    _copy(bn.running_var, var, layer)
    bn.eps = float(layer.attrs.get("epsilon", 1e-5))
    bn.momentum = 1.0 - float(layer.attrs.get("momentum", 0.9))  # ONNX/MXNet keep 0.9 of the old stats


def _load_prelu(prelu: nn.PReLU, layer: OnnxLayer) -> None:
    _expect(layer.op == "PRelu", layer, "expected a PRelu")
    _copy(prelu.weight, layer.params[0].reshape(-1), layer)


def _set_identity_bn(bn: nn.BatchNorm2d, bias: np.ndarray, layer: OnnxLayer) -> None:
    """Make ``bn`` compute ``x + bias`` exactly (unit scale, zero mean, var + eps = 1)."""
    assert bn.running_mean is not None and bn.running_var is not None
    with torch.no_grad():
        bn.weight.fill_(1.0)
        bn.running_mean.zero_()
        bn.running_var.fill_(1.0 - bn.eps)
    _copy(bn.bias, bias, layer)


def _load_unit(unit: ConvBNPReLU, layers: list[OnnxLayer]) -> None:
    """Load Conv [+ BatchNormalization] + PRelu; a Conv with a bias and no BN (an export of this
    trainer, where the exporter folded BN into the conv) loads as BN = identity plus that bias."""
    conv = layers.pop(0)
    _load_conv(unit.conv, conv)
    if layers and layers[0].op == "BatchNormalization":
        _expect(len(conv.params) == 1, conv, "a conv bias before a BatchNormalization")
        _load_bn(unit.bn, layers.pop(0))
    else:
        _expect(len(conv.params) == 2, conv, "a BatchNormalization or a folded conv bias after the conv")
        _set_identity_bn(unit.bn, conv.params[1], conv)
    _load_prelu(unit.prelu, layers.pop(0))


def load_onnx_weights(model: SFaceNet, onnx_model: onnx.ModelProto) -> SFaceNet:
    """Copy the (dequantised) weights of an SFace ONNX graph into ``model``, checking every shape.

    Accepts the shipped int8 file and this trainer's own fp32 exports (whose BatchNorms the exporter
    folded into conv biases; they load as identity BatchNorms carrying that bias, which computes
    the same function but no longer holds the original running statistics). Raises ModelError on
    any mismatch.
    """
    layers = [layer for layer in graph_layers(onnx_model) if layer.op not in {"Dropout", "Identity"}]
    if len(layers) < 2:
        raise ModelError("The ONNX model has too few nodes to be the SFace embedder.")
    sub, mul = layers.pop(0), layers.pop(0)
    _expect(sub.op == "Sub" and np.allclose(sub.params[0], INPUT_MEAN), sub, "input mean 127.5 expected")
    _expect(mul.op == "Mul" and np.allclose(mul.params[0], INPUT_SCALE), mul, "input scale 1/128 expected")
    for stage in model.blocks:
        if isinstance(stage, DepthwiseSeparable):
            _load_unit(stage.dw, layers)
            _load_unit(stage.pw, layers)
        else:
            assert isinstance(stage, ConvBNPReLU)
            _load_unit(stage, layers)
    _load_bn(model.head.bn, layers.pop(0))
    flatten = layers.pop(0)
    _expect(flatten.op == "Flatten" and int(flatten.attrs.get("axis", 1)) == 1, flatten, "Flatten(axis=1)")
    gemm = layers.pop(0)
    _expect(gemm.op == "Gemm" and int(gemm.attrs.get("transB", 0)) == 1, gemm, "Gemm with transB=1")
    _expect(
        float(gemm.attrs.get("alpha", 1.0)) == 1.0 and float(gemm.attrs.get("beta", 1.0)) == 1.0,
        gemm,
        "alpha = beta = 1",
    )
    _copy(model.head.fc.weight, gemm.params[0], gemm)
    _copy(model.head.fc.bias, gemm.params[1], gemm)
    _load_bn(model.head.features, layers.pop(0))
    if layers:
        raise ModelError(f"The ONNX model has {len(layers)} unexpected nodes after the embedding output.")
    return model


def load_pretrained_sface(path: Path | None = None) -> SFaceNet:
    """SFaceNet with the weights of an SFace ONNX file, in eval mode, on the CPU.

    Args:
        path: the ONNX file; None means the shipped, sha256-verified int8 embedder.
    """
    model = SFaceNet()
    load_onnx_weights(model, load_sface_onnx(path))
    return model.eval()


# --------------------------------------------------------------------------------------------------
# Export and parity


def export_onnx(model: SFaceNet, path: Path, opset: int = 17, *, metadata: Mapping[str, str] | None = None) -> Path:
    """Write ``model`` as an fp32 ONNX file, in eval mode (dropout off, BatchNorm running statistics).

    The graph has one input ``data`` (N, 3, 112, 112) float32 BGR 0..255 and one output ``fc1``
    (N, 128) float32 raw embedding, the same names and meaning as the shipped file, with a dynamic
    batch axis ``batch``. ``metadata`` goes into the file's ``metadata_props`` (e.g. the source
    model's sha256). The file is written next to ``path`` and renamed into place, so a failed
    export never leaves a partial file at ``path``. Returns ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    was_training = model.training
    device = next(model.parameters()).device
    model.eval()
    try:
        dummy = torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE, device=device)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter warns that it is deprecated
            torch.onnx.export(
                model,
                (dummy,),
                str(tmp),
                dynamo=False,  # the dynamo exporter needs onnxscript, not installed
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                opset_version=opset,
                do_constant_folding=True,
            )
        exported = onnx.load(str(tmp))
        onnx.checker.check_model(exported)
        exported.producer_name = "facegate-trainer"
        for key, value in (metadata or {}).items():
            exported.metadata_props.add(key=key, value=value)
        onnx.save(exported, str(tmp))
        tmp.replace(path)
    finally:
        model.train(was_training)
        tmp.unlink(missing_ok=True)
    return path


def _as_numpy_batch(images: np.ndarray | torch.Tensor | Sequence[np.ndarray]) -> np.ndarray:
    arr = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if arr.ndim != 4 or arr.shape[1:] != (3, INPUT_SIZE, INPUT_SIZE):
        raise ValueError(f"images must be (N, 3, {INPUT_SIZE}, {INPUT_SIZE}) BGR 0..255, got {arr.shape}")
    return arr


def run_onnx(onnx_path: Path | None, images: np.ndarray | torch.Tensor) -> np.ndarray:
    """Embeddings from ONNX Runtime (CPU) for ``images`` (N, 3, 112, 112) BGR 0..255 -> (N, 128) float32.

    ``onnx_path`` None means the shipped int8 file. Files with a fixed batch of 1 run image by image.
    """
    model = load_sface_onnx(onnx_path)
    options = ort.SessionOptions()
    options.log_severity_level = 3  # the int8 file has two unused initializers ORT warns about
    session = ort.InferenceSession(model.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]
    arr = _as_numpy_batch(images)
    if inp.shape[0] == 1:
        outs = [session.run(None, {inp.name: arr[i : i + 1]})[0] for i in range(len(arr))]
        return np.concatenate(outs, axis=0).astype(np.float32)
    return np.asarray(session.run(None, {inp.name: arr})[0], dtype=np.float32)


@contextmanager
def full_fp32() -> Iterator[None]:
    """Turn off TF32 for CUDA convolutions / matmuls inside the block (restored after).

    PyTorch lets cuDNN convolutions use TF32 by default; on an H100 that moves SFace embeddings by
    about 2e-3 from ONNX Runtime, against 2e-6 in full fp32. No effect on the CPU.
    """
    cudnn_before = torch.backends.cudnn.allow_tf32
    matmul_before = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32 = cudnn_before
        torch.backends.cuda.matmul.allow_tf32 = matmul_before


def embed(model: SFaceNet, images: np.ndarray | torch.Tensor) -> np.ndarray:
    """Embeddings from the PyTorch model in eval mode, no grad, full fp32 (no TF32), on its device.

    images (N, 3, 112, 112) float32 BGR 0..255 -> (N, 128) float32 raw embeddings.
    """
    was_training = model.training
    device = next(model.parameters()).device
    model.eval()
    try:
        with torch.no_grad(), full_fp32():
            out = model(torch.from_numpy(_as_numpy_batch(images)).to(device))
    finally:
        model.train(was_training)
    result: np.ndarray = out.cpu().numpy()
    return result


def onnx_parity(model: SFaceNet, onnx_path: Path | None, images: np.ndarray | torch.Tensor) -> float:
    """Max absolute difference between ``model`` and ONNX Runtime on ``onnx_path`` for ``images``.

    Args:
        model: the PyTorch embedder (evaluated in eval mode; its mode is restored).
        onnx_path: an SFace ONNX file (None: the shipped int8 file).
        images: (N, 3, 112, 112) float32 BGR 0..255 face crops.

    Returns:
        max |torch - onnx| over all N x 128 raw embedding values (the embeddings are of order 1).
    """
    return float(np.max(np.abs(embed(model, images) - run_onnx(onnx_path, images))))
