"""Issue 9, item 4: the door camera never gives up.

Before the fix an http/rtsp camera that was unreachable when the door started failed at once, and
one lost mid-stream was given up after 6 attempts (about 25 s). Here a real HTTP MJPEG camera on
127.0.0.1 (``mjpeg_server.MjpegCamera``: Python's http.server streaming JPEG frames of the real
clip, read by OpenCV's FFmpeg exactly like a network camera) is down at start, then killed
mid-stream and restarted after longer than the old budget: the door reader comes back each time.
The reader tests use a fast schedule (0.05 s, capped at 0.2 s, no limit); ``facegate run
--headless`` is run as a process with the real door schedule and stopped with Ctrl+C (SIGINT).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from desktop_app.core.video.latest_frame import DEFAULT_BACKOFF, BackoffPolicy, LatestFrameReader
from desktop_app.core.video.sources import FrameSource, StreamSource

from .mjpeg_server import MjpegCamera, camera_frames

CLIP = Path(os.environ.get("FACEGATE_SHARED_DATA") or Path(__file__).resolve().parents[3] / "shared" / "data") \
    / "clips" / "short_hamilton_clip.mp4"
FAST_FOREVER = BackoffPolicy(initial_s=0.05, factor=2.0, max_delay_s=0.2, max_attempts=None)
OLD_LIMIT = 6
"""Reconnection attempts before the reader gave up, before the fix (still the non-door default)."""
assert DEFAULT_BACKOFF.max_attempts == OLD_LIMIT
OLD_BUDGET_S = sum(FAST_FOREVER.delay(n) for n in range(1, OLD_LIMIT + 1))
"""How long the old limit of 6 attempts lasts on the fast schedule (about 0.95 s)."""


class States:
    """Records a reader's (state, message) calls, thread-safe."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def __call__(self, state: str, message: str) -> None:
        with self._lock:
            self.calls.append((state, message))

    def of(self, state: str) -> list[str]:
        with self._lock:
            return [m for s, m in self.calls if s == state]

    def wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.01)
        return False


@pytest.fixture(scope="module")
def frames() -> list[bytes]:
    return camera_frames(CLIP if CLIP.is_file() else None)


@pytest.fixture()
def camera(frames: list[bytes]) -> Iterator[MjpegCamera]:
    cam = MjpegCamera(frames)
    yield cam
    cam.kill()


def stream_factory(url: str) -> Callable[[], FrameSource]:
    def factory() -> FrameSource:
        return StreamSource(url, open_timeout_s=2.0, read_timeout_s=2.0)

    return factory


def test_opencv_reads_the_local_mjpeg_camera(camera: MjpegCamera) -> None:
    """The test camera is a real stream: StreamSource opens and decodes it."""
    camera.start()
    src = StreamSource(camera.url, open_timeout_s=2.0, read_timeout_s=2.0)
    src.open()
    try:
        frames = [src.read() for _ in range(3)]
    finally:
        src.close()
    assert all(f is not None and f.image.shape == (180, 320, 3) for f in frames)
    assert camera.connections == 1


def test_a_camera_down_at_start_is_waited_for(camera: MjpegCamera) -> None:
    # The reproduction: a reader built as before (no retry of the first open) fails at once.
    before = States()
    old = LatestFrameReader(stream_factory(camera.url), on_state=before)
    old.start()
    assert old.get(timeout=10.0) is None
    old.stop()
    assert [s for s, _ in before.calls] == ["connecting", "failed"]

    rec = States()
    reader = LatestFrameReader.for_door(stream_factory(camera.url), live=True,
                                        on_state=rec, backoff=FAST_FOREVER)
    t0 = time.monotonic()
    reader.start()
    camera.start_after(2.0)
    try:
        frame = reader.get(timeout=20.0)
        waited = time.monotonic() - t0
        assert frame is not None and frame.image.shape == (180, 320, 3)
    finally:
        reader.stop()
    assert waited >= 1.9
    retries = rec.of("reconnecting")
    assert len(retries) > OLD_LIMIT
    assert not rec.of("failed")
    assert "Cannot open the stream" in retries[0] and retries[0].endswith("(attempt 1).")
    assert f"(attempt {len(retries)})." in retries[-1] and " of " not in retries[-1].split("Reconnecting")[-1]
    assert [s for s, _ in rec.calls][:2] == ["connecting", "reconnecting"]
    assert rec.of("live")


def test_a_camera_lost_mid_stream_comes_back_after_the_old_budget(camera: MjpegCamera) -> None:
    camera.start()
    rec = States()
    reader = LatestFrameReader.for_door(stream_factory(camera.url), live=True,
                                        on_state=rec, backoff=FAST_FOREVER)
    reader.start()
    try:
        assert all(reader.get(timeout=10.0) is not None for _ in range(5))
        camera.kill()
        lost_at = time.monotonic()
        # Keep it down well past the old budget: at least 12 failed attempts (the old limit was 6).
        assert rec.wait(lambda: len(rec.of("reconnecting")) >= 12, timeout=30.0), rec.calls
        down_s = time.monotonic() - lost_at
        assert down_s > OLD_BUDGET_S
        assert reader.state == "reconnecting" and not rec.of("failed")
        camera.start()
        assert rec.wait(lambda: len(rec.of("live")) == 2, timeout=20.0), rec.calls
        first_back = reader.get(timeout=10.0)
        again = [reader.get(timeout=10.0) for _ in range(5)]
    finally:
        reader.stop()
    assert first_back is not None and all(f is not None for f in again)
    assert camera.connections == 2  # one stream before the cut, one after
    retries = rec.of("reconnecting")
    assert "stopped delivering frames" in retries[0] or "Lost" in retries[0]
    assert retries[0].endswith("(attempt 1).") and retries[11].endswith("(attempt 12).")
    assert not rec.of("failed")


def facegate_process(*args: str, home: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "FACEGATE_HOME": str(home), "XDG_CACHE_HOME": str(home / "cache")}
    return subprocess.Popen([sys.executable, "-m", "desktop_app", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


@pytest.mark.slow
def test_run_headless_waits_for_the_camera_and_stops_cleanly_on_ctrl_c(camera: MjpegCamera, tmp_path: Path) -> None:
    """`facegate run --headless` on a network camera that is down: it keeps retrying with the door
    schedule (before the fix it ended with "failed" and exit 2), picks the camera up when it comes,
    and Ctrl+C ends it with the summary and exit 0, no traceback."""
    proc = facegate_process("run", "--headless", "--db", str(tmp_path / "door.db"), "--source", camera.url,
                            home=tmp_path)
    err_lines: list[str] = []
    assert proc.stderr is not None
    stderr = proc.stderr
    reader = threading.Thread(target=lambda: err_lines.extend(iter(stderr.readline, "")), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 180.0
        while not any("attempt 2)" in line for line in err_lines):  # down at start: retried, not failed
            assert proc.poll() is None, "".join(err_lines)
            assert time.monotonic() < deadline, "".join(err_lines)
            time.sleep(0.05)
        camera.start()
        while camera.frames_sent < 30:  # the door reads the stream
            assert proc.poll() is None, "".join(err_lines)
            assert time.monotonic() < deadline, "".join(err_lines)
            time.sleep(0.05)
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(5.0)
    err = "".join(err_lines)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "Traceback" not in out
    assert "[camera] reconnecting:" in err and "Reconnecting in 0.5 s (attempt 1)." in err
    assert "[camera] live:" in err and "[camera] failed" not in err
    assert " frames, " in out and "detect" in out and "total" in out  # the summary and its latency table


@pytest.mark.slow
def test_run_headless_on_a_wrong_file_name_says_so_at_once(tmp_path: Path) -> None:
    """A file is not a camera: a wrong name is a configuration error, reported at once."""
    t0 = time.monotonic()
    proc = facegate_process("run", "--headless", "--db", str(tmp_path / "door.db"), "--source",
                            str(tmp_path / "entrance.mp4"), home=tmp_path)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 2
    assert "No such file or folder" in err and "entrance.mp4" in err and "Traceback" not in err
    assert time.monotonic() - t0 < 120
