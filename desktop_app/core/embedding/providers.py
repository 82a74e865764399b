"""Choice of ONNX Runtime execution providers: CUDA when a GPU is usable, else CPU."""

from __future__ import annotations

import contextlib
import os

import onnxruntime as ort

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


def available_providers() -> list[str]:
    """Providers this ONNX Runtime build offers (a GPU build lists CUDA even on a machine without GPU)."""
    return list(ort.get_available_providers())


_preloaded = False


def preload_cuda_libraries() -> None:
    """Load CUDA/cuDNN from the nvidia-* pip packages (onnxruntime-gpu[cuda,cudnn]) if present, so the
    CUDA provider finds them without LD_LIBRARY_PATH. Harmless when they are absent."""
    global _preloaded
    if _preloaded:
        return
    _preloaded = True
    preload = getattr(ort, "preload_dlls", None)
    if preload is not None:
        # missing libraries only mean CUDA falls back to CPU, which the embedder reports
        with contextlib.suppress(Exception):
            preload()


#: CUDA provider options: no TF32 in convolutions, so GPU embeddings equal CPU ones to ~1e-6
#: (with TF32 they differ by ~5e-4 on an H100); the embedder is small, the cost is negligible.
CUDA_OPTIONS: dict[str, str] = {"use_tf32": "0"}


def wanted_providers(device: str = "auto") -> list[str | tuple[str, dict[str, str]]]:
    """Ordered providers to ask for. device: "auto" (CUDA if offered, then CPU), "cuda" or "cpu"."""
    device = device.lower()
    if device not in {"auto", "cuda", "gpu", "cpu"}:
        raise ValueError(f"device must be auto, cuda or cpu, not {device!r}")
    if device == "cpu" or CUDA not in available_providers():
        return [CPU]
    preload_cuda_libraries()
    return [(CUDA, CUDA_OPTIONS), CPU]


def session_options(threads: int | None = None) -> ort.SessionOptions:
    """Session options: full graph optimisation, ``threads`` intra-op threads (default: CPU count), quiet log.

    The intra-op threads sleep between runs instead of spinning: a door shares its cores with the
    detector, the video decoder and the app, and spinning threads burned that CPU for nothing.
    Measured on the 2-core machine (SFace fp32, one run every 10 ms): batch of 1, median 9.05 ms
    spinning vs 9.17 ms not; batch of 4, 27.6 vs 30.4 ms; the test suite's clip and CLI tests
    then need 9% less CPU run one at a time and 21% less two at a time (wall -20%)."""
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads or (os.cpu_count() or 1)
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    return opts


def short_name(provider: str) -> str:
    """"CUDAExecutionProvider" -> "CUDA"."""
    return provider.replace("ExecutionProvider", "")
