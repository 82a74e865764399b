"""Execution provider choice: CUDA when ONNX Runtime offers it, CPU otherwise, reported as used."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop_app.core.embedding import providers
from desktop_app.core.embedding.embedder import Embedder


def test_cpu_requested_or_no_cuda_gives_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    assert providers.wanted_providers("cpu") == [providers.CPU]
    monkeypatch.setattr(providers, "available_providers", lambda: [providers.CPU])
    assert providers.wanted_providers("auto") == [providers.CPU]


def test_cuda_offered_is_asked_first_without_tf32(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(providers, "available_providers", lambda: [providers.CUDA, providers.CPU])
    want = providers.wanted_providers("auto")
    assert want[0] == (providers.CUDA, {"use_tf32": "0"}) and want[-1] == providers.CPU


def test_bad_device_name() -> None:
    with pytest.raises(ValueError, match="auto, cuda or cpu"):
        providers.wanted_providers("tpu")


def test_embedder_reports_the_provider_actually_used(fp32_model: Path) -> None:
    emb = Embedder(fp32_model, device="auto")
    assert emb.provider in {"CPU", "CUDA"}
    assert emb.on_gpu == (emb.provider == "CUDA")
