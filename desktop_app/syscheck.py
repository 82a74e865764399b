"""Checks run before the window opens (by ``facegate``'s GUI entry point, before Qt is imported, and
by ``make run``): Qt's system libraries and a display.

PySide6's xcb platform plugin needs a few X11 libraries that a minimal Linux lacks; without them Qt
dies with a cryptic message. We look for them first and say which Debian/Ubuntu packages to install.
"""

from __future__ import annotations

import ctypes.util
import os
import sys

#: Library (as ctypes.util.find_library names it) -> Debian/Ubuntu package providing it.
XCB_LIBS = {
    "xcb-cursor": "libxcb-cursor0",
    "xcb-icccm": "libxcb-icccm4",
    "xcb-keysyms": "libxcb-keysyms1",
    "xcb-image": "libxcb-image0",
    "xcb-render-util": "libxcb-render-util0",
    "xcb-xkb": "libxcb-xkb1",
    "xkbcommon-x11": "libxkbcommon-x11-0",
    "xcb-shape": "libxcb-shape0",
    "xcb-randr": "libxcb-randr0",
    "xcb-xinerama": "libxcb-xinerama0",
    "EGL": "libegl1",
    "fontconfig": "libfontconfig1",
}


def missing_qt_packages() -> list[str]:
    """Debian packages whose libraries Qt's xcb plugin needs but that are not installed."""
    return [pkg for lib, pkg in XCB_LIBS.items() if ctypes.util.find_library(lib) is None]


def main() -> int:
    """0 when the desktop app can start here; else print why (and what to install) and return 1."""
    if not sys.platform.startswith("linux"):
        return 0
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform in ("offscreen", "minimal", "vnc"):
        return 0
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        print("facegate: no display found (DISPLAY/WAYLAND_DISPLAY unset). Run it on a desktop session, or "
              "try it headless: `.venv/bin/facegate run --headless --source FILE`.",
              file=sys.stderr)
        return 1
    wayland = platform == "wayland" or (not platform and not os.environ.get("DISPLAY"))
    missing = [] if wayland else missing_qt_packages()  # the xcb libraries matter only on X11
    if missing:
        print("facegate: Qt needs system libraries that are missing:\n"
              f"    sudo apt-get install {' '.join(missing)}\n"
              "then start FaceGate again (or run it without a window: "
              "`facegate run --headless --source FILE`).", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
