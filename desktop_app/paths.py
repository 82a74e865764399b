"""Where FaceGate keeps its data by default (XDG base directories on Linux)."""

from __future__ import annotations

import os
from pathlib import Path


def data_home() -> Path:
    """``$FACEGATE_HOME`` if set, else ``$XDG_DATA_HOME/facegate`` (``~/.local/share/facegate``)."""
    env = os.environ.get("FACEGATE_HOME")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "facegate"


def default_db() -> Path:
    return data_home() / "facegate.db"
