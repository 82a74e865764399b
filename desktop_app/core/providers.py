"""Choice of ONNX Runtime execution providers: CUDA when a GPU is usable, else CPU."""

from __future__ import annotations

import os

import onnxruntime as ort

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


def available_providers() -> list[str]:
    """Providers this ONNX Runtime build offers (a GPU build lists CUDA even on a machine without GPU)."""
    return list(ort.get_available_providers())


def wanted_providers(device: str = "auto") -> list[str]:
    """Ordered providers to ask for. device: "auto" (CUDA if offered, then CPU), "cuda" or "cpu"."""
    device = device.lower()
    if device not in {"auto", "cuda", "gpu", "cpu"}:
        raise ValueError(f"device must be auto, cuda or cpu, not {device!r}")
    if device == "cpu" or CUDA not in available_providers():
        return [CPU]
    return [CUDA, CPU]


def session_options(threads: int | None = None) -> ort.SessionOptions:
    """Session options: full graph optimisation, ``threads`` intra-op threads (default: CPU count), quiet log."""
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads or (os.cpu_count() or 1)
    opts.log_severity_level = 3
    return opts


def short_name(provider: str) -> str:
    """"CUDAExecutionProvider" -> "CUDA"."""
    return provider.replace("ExecutionProvider", "")
