"""Entry script of the PyInstaller bundle: the ``facegate`` command (GUI by default)."""

from __future__ import annotations

import sys

from desktop_app.cli import main

if __name__ == "__main__":
    sys.exit(main())
