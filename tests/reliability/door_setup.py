"""Shared set-up of the door-loop reliability tests: the real clip as the camera, a LiveSession fed
frame by frame in the test process, and `facegate` commands run as real second processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from desktop_app.core.live.session import FrameResult, LiveSession
from desktop_app.core.service import FaceGate
from desktop_app.core.video.sources import Frame, VideoFileSource

LIN = "Lin-Manuel Miranda"
ALEX = "Alex Lacamoire"
REPO = Path(__file__).resolve().parents[2]


class Door:
    """A LiveSession reading the real clip one frame at a time (frames 0-19 show Lin's face)."""

    def __init__(self, gate: FaceGate, clip: Path) -> None:
        self.session = LiveSession(gate)
        self.source = VideoFileSource(clip)
        self.source.open()

    def step(self, n: int) -> list[FrameResult]:
        out = []
        for _ in range(n):
            frame = self.source.read()
            assert frame is not None, "the clip ended"
            out.append(self.session.process(frame))
        return out

    def close(self) -> None:
        self.source.close()


class FirstFrames:
    """The first ``n`` frames of a video file, as a (non-live) frame source for the capture worker."""

    def __init__(self, path: Path, n: int) -> None:
        self.inner = VideoFileSource(path)
        self.n = n
        self.name = f"{path.name}[:{n}]"
        self._left = n

    @property
    def is_live(self) -> bool:
        return False

    def open(self) -> None:
        self.inner.open()
        self._left = self.n

    def read(self) -> Frame | None:
        if self._left <= 0:
            return None
        self._left -= 1
        return self.inner.read()

    def close(self) -> None:
        self.inner.close()


def facegate(*args: str, home: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run `python -m desktop_app ARGS` as another process (this checkout's code)."""
    env = {**os.environ, "FACEGATE_HOME": str(home), "XDG_CACHE_HOME": str(home / "cache"),
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "desktop_app", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=home)


LOCK_HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("COMMIT")
print("released", flush=True)
"""


class WriteLock:
    """Another process holding the database's write lock (``BEGIN IMMEDIATE``) until released."""

    def __init__(self, db: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(db)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "locked"

    def release(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None and self.proc.stdout is not None
            self.proc.stdin.write("\n")
            self.proc.stdin.flush()
            assert self.proc.stdout.readline().strip() == "released"
        self.proc.wait(timeout=30)

    def __enter__(self) -> WriteLock:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
