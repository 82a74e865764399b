"""Face embedding with ONNX Runtime.

Input to the network: (N, 3, 112, 112) float32 BGR 0..255 (the SFace graph normalises internally).
Output: (N, D) embeddings, which we L2-normalise; compare with cosine (dot product).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from desktop_app.core.embedding.model_convert import load_onnx, make_batch_dynamic, prune_initializer_inputs
from desktop_app.core.embedding.model_files import sha256_of
from desktop_app.core.embedding.providers import CPU, session_options, short_name, wanted_providers
from desktop_app.core.errors import ModelError
from desktop_app.core.face.illumination import normalise_face_crop


def l2_normalise(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows of (N, D) scaled to unit length (float32)."""
    x = np.asarray(x, dtype=np.float32)
    out: np.ndarray = (x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), eps)).astype(np.float32)
    return out


class Embedder:
    """Runs an ONNX face embedder.

    model_path: ONNX file (the shipped int8 file works too: its stray graph inputs are pruned);
    device: "auto" | "cuda" | "cpu"; flip: average the embedding of the crop and of its mirror image
    (test-time augmentation; about +0.1..0.2 points on LFW, twice the compute); expected_sha256: when
    given, the file must match it; batch_size: crops per ONNX Runtime call.
    """

    def __init__(self, model_path: Path, *, device: str = "auto", flip: bool = True,
                 threads: int | None = None, expected_sha256: str | None = None,
                 batch_size: int = 16, normalise_light: bool = True) -> None:
        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise ModelError(f"Embedding model not found: {self.model_path}")
        self.sha256 = sha256_of(self.model_path)
        if expected_sha256 is not None and self.sha256 != expected_sha256:
            raise ModelError(
                f"Embedding model {self.model_path} is altered or corrupted (sha256 {self.sha256[:16]}… "
                f"expected {expected_sha256[:16]}…)."
            )
        model = make_batch_dynamic(prune_initializer_inputs(load_onnx(self.model_path)))
        try:
            self._session = ort.InferenceSession(
                model.SerializeToString(), session_options(threads), providers=wanted_providers(device)
            )
        except Exception as exc:  # ORT raises its own Fail/InvalidGraph/RuntimeException types
            raise ModelError(f"ONNX Runtime cannot load {self.model_path}: {exc}") from exc
        inp = self._session.get_inputs()[0]
        self.input_name: str = inp.name
        shape = inp.shape
        self.input_size = int(shape[2]) if isinstance(shape[2], int) else 112
        out_shape = self._session.get_outputs()[0].shape
        self.dim = int(out_shape[-1]) if isinstance(out_shape[-1], int) else int(self._probe_dim())
        self.flip = flip
        self.batch_size = max(1, batch_size)
        self.normalise_light = normalise_light
        self._lock = threading.Lock()

    @property
    def provider(self) -> str:
        """Short name of the provider actually running the model ("CUDA" or "CPU")."""
        return short_name(self._session.get_providers()[0])

    @property
    def on_gpu(self) -> bool:
        return bool(self._session.get_providers()[0] != CPU)

    def _probe_dim(self) -> int:
        x = np.zeros((1, 3, 112, 112), np.float32)
        return int(self._session.run(None, {self.input_name: x})[0].shape[-1])

    def _run(self, batch: np.ndarray) -> np.ndarray:
        with self._lock:
            out = self._session.run(None, {self.input_name: batch})[0]
        return np.asarray(out, dtype=np.float32).reshape(batch.shape[0], -1)

    def embed_raw(self, crops: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """Un-normalised network output (N, D) float32 for (N, S, S, 3) uint8 BGR crops, no flip."""
        arr = np.asarray(crops)
        if arr.ndim == 3:
            arr = arr[None]
        if arr.ndim != 4 or arr.shape[1:] != (self.input_size, self.input_size, 3):
            raise ValueError(f"crops must be (N, {self.input_size}, {self.input_size}, 3), got {arr.shape}")
        x = arr.astype(np.float32).transpose(0, 3, 1, 2)
        outs = [self._run(np.ascontiguousarray(x[i:i + self.batch_size])) for i in range(0, len(x), self.batch_size)]
        return np.concatenate(outs) if outs else np.zeros((0, self.dim), np.float32)

    def _prepare(self, crops: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        arr = np.asarray(crops)
        if arr.ndim == 3:
            arr = arr[None]
        if len(arr) and self.normalise_light:
            arr = np.stack([normalise_face_crop(c) for c in arr])
        return arr

    def embed(self, crops: np.ndarray | Sequence[np.ndarray], *, flip: bool | None = None) -> np.ndarray:
        """L2-normalised embeddings (N, D) float32 of aligned (N, S, S, 3) uint8 BGR crops.

        flip: average with the mirror images' embeddings (twice the compute); None: ``self.flip``.
        All crops (and their mirror images) go through ONNX Runtime together, ``batch_size`` at a time.
        """
        arr = self._prepare(crops)
        if len(arr) == 0:
            return np.zeros((0, self.dim), np.float32)
        if not (self.flip if flip is None else flip):
            return l2_normalise(self.embed_raw(arr))
        both = self.embed_raw(np.concatenate([arr, arr[:, :, ::-1, :]]))
        n = len(arr)
        return l2_normalise(l2_normalise(both[:n]) + l2_normalise(both[n:]))

    def mirror_average(self, crops: np.ndarray | Sequence[np.ndarray], plain: np.ndarray) -> np.ndarray:
        """Flip-averaged embeddings (N, D) of ``crops`` from their plain ones, in one pass on the mirror
        images only: equal (to float rounding) to ``embed(crops, flip=True)`` when ``plain`` is
        ``embed(crops, flip=False)`` (N, D), at half its cost."""
        arr = self._prepare(crops)
        plain = np.asarray(plain, np.float32).reshape(len(arr), -1) if len(arr) else np.zeros((0, self.dim), np.float32)
        if len(arr) == 0:
            return plain
        return l2_normalise(plain + l2_normalise(self.embed_raw(arr[:, :, ::-1, :])))
