"""What the offscreen screenshot scripts share (``screenshot_unknowns.py``, ``screenshot_models.py``):
the ``--out`` option, and a styled QApplication with a throw-away database whose machine key stays
in the temporary folder."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def out_folder(description: str) -> Path:
    """The ``--out`` folder of the command line (default ``docs/screenshots``), created."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    out: Path = ap.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    return out


@contextmanager
def offscreen_site() -> Iterator[tuple[Any, Path]]:
    """(the QApplication, offscreen and with the app's stylesheet as ``facegate gui`` applies it;
    the path of a database in a temporary folder, its machine key kept in a key file there)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from desktop_app.ui import theme

    app = QApplication.instance() or QApplication([])
    assert isinstance(app, QApplication)
    app.setStyleSheet(theme.STYLE_SHEET)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("FACEGATE_KEY_DIR", str(Path(tmp) / "keys"))
        os.environ.setdefault("FACEGATE_KEY_STORE", "file")
        yield app, Path(tmp) / "data" / "facegate.db"


def save_shot(widget: Any, path: Path, detail: str = "") -> Path:
    """Save what ``widget`` shows to ``path`` (PNG) and say so, with ``detail`` after a colon."""
    widget.grab().save(str(path))
    print(f"saved {path}" + (f": {detail}" if detail else ""))
    return path


def wait_until(app: Any, cond: Callable[[], bool], timeout: float) -> bool:
    """Run ``app``'s event loop until ``cond()`` or ``timeout`` seconds, then a little longer so
    the last repaints land; returns ``cond()``."""
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.05)
    for _ in range(10):
        app.processEvents()
        time.sleep(0.02)
    return cond()
