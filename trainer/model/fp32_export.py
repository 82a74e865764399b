"""Build the dequantised fp32 SFace ONNX file from the PyTorch port.

The shipped int8 file dequantises its 9.6 M weights on every run; the fp32 file built here gives
the same embeddings (max abs difference about 5e-6 on faces) and runs about twice as fast on the
CPU, so the core can use it as its embedder. Same input ``data`` (N, 3, 112, 112) float32 BGR
0..255 and output ``fc1`` (N, 128) float32 as the shipped file, with a dynamic batch axis.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from desktop_app.core.embedding.model_files import EMBEDDER, shipped_model_path
from desktop_app.core.errors import ModelError

from .sface import INPUT_SIZE, export_onnx, load_pretrained_sface, run_onnx

PARITY_TOLERANCE = 1e-3
"""Largest max-abs embedding difference (embeddings are of order 1) accepted between the files."""

METADATA_SOURCE_KEY = "facegate_source_model"
METADATA_SOURCE_SHA256 = "facegate_source_sha256"


def _check_images(n: int = 2, seed: int = 0) -> np.ndarray:
    """(n, 3, 112, 112) float32 smooth pseudo-random BGR 0..255 images for a parity check."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0.0, 255.0, size=(n, 3, 14, 14)).astype(np.float32)
    return np.repeat(np.repeat(coarse, INPUT_SIZE // 14, axis=2), INPUT_SIZE // 14, axis=3)


def export_dequantized_sface(dst: Path, *, verify: bool = True) -> Path:
    """Write the fp32 version of the shipped SFace embedder to ``dst`` and return ``dst``.

    The weights are read from the sha256-verified shipped int8 file, loaded into the PyTorch port
    and exported (opset 17). The file's ``metadata_props`` name the source model and its sha256.
    With ``verify`` the new file is run in ONNX Runtime against the int8 file on two images, and a
    difference above ``PARITY_TOLERANCE`` raises ModelError (``dst`` is then removed).
    """
    src = shipped_model_path(EMBEDDER)
    model = load_pretrained_sface(src)
    dst = Path(dst)
    export_onnx(
        model,
        dst,
        metadata={METADATA_SOURCE_KEY: EMBEDDER.key, METADATA_SOURCE_SHA256: EMBEDDER.sha256},
    )
    if verify:
        images = _check_images()
        diff = float(np.max(np.abs(run_onnx(dst, images) - run_onnx(src, images))))
        if not diff <= PARITY_TOLERANCE:
            dst.unlink(missing_ok=True)
            raise ModelError(
                f"The fp32 SFace export differs from the shipped int8 model by {diff:.2e} "
                f"(limit {PARITY_TOLERANCE:.0e}); it was not kept. Check the torch/onnx versions."
            )
    return dst
