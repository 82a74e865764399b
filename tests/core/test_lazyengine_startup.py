"""Opening a FaceGate builds no ONNX Runtime session: the engine comes on first use, once, under the
lock."""

from __future__ import annotations

import threading
from pathlib import Path

from desktop_app.core.service import FaceGate


def test_open_builds_no_engine_and_first_use_builds_it_once(tmp_path: Path) -> None:
    with FaceGate(tmp_path / "f.db", device="cpu") as gate:
        assert gate._engine is None  # opened, gallery loaded, people listed: no session
        assert gate.people() == [] and len(gate.gallery) == 0 and gate.embedder_flip is True
        assert gate._engine is None
        engines: list[object] = []
        threads = [threading.Thread(target=lambda: engines.append(gate.engine)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(engines) == 4 and all(e is engines[0] for e in engines)  # one engine for every thread
        assert gate.engine.embedder.dim == gate.model.embedding_dim == 128 and gate.provider == "CPU"
