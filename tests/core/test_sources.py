"""Frame sources and the background latest-frame reader, on the real Hamilton clip."""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from desktop_app.core.errors import SourceError
from desktop_app.core.video.latest_frame import DEFAULT_BACKOFF, DOOR_BACKOFF, BackoffPolicy, LatestFrameReader
from desktop_app.core.video.sources import (
    Frame,
    FrameSource,
    ImageFolderSource,
    StreamSource,
    VideoFileSource,
    WebcamSource,
    list_cameras,
    open_source,
    to_bgr,
)

# /work/main/tests/core/<this file> -> /work/shared/data (beside the checkout).
DATA = Path(os.environ.get("FACEGATE_SHARED_DATA") or Path(__file__).resolve().parents[3] / "shared" / "data")
CLIP = DATA / "clips" / "short_hamilton_clip.mp4"
CLIP_FRAMES = 275

needs_clip = pytest.mark.skipif(not CLIP.is_file(), reason=f"shared test clip missing: {CLIP}")

FAST = BackoffPolicy(initial_s=0.01, factor=2.0, max_delay_s=0.04, max_attempts=3)


def _reference_frames(n: int) -> list[np.ndarray]:
    """The first n frames decoded directly with cv2.VideoCapture (naive reference)."""
    cap = cv2.VideoCapture(str(CLIP))
    frames = []
    for _ in range(n):
        ok, img = cap.read()
        assert ok
        frames.append(img)
    cap.release()
    return frames


class FailingAfter:
    """Test-only live source: the real clip, whose read() raises after ``k`` frames
    (a camera that gets unplugged)."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.inner = VideoFileSource(CLIP)
        self.name = "flaky camera"
        self.inner.name = self.name
        self.closed = False

    @property
    def is_live(self) -> bool:
        return True

    def open(self) -> None:
        self.inner.open()

    def read(self) -> Frame | None:
        frame = self.inner.read()
        assert frame is not None
        if frame.index >= self.k:
            raise SourceError("camera unplugged")
        return frame

    def close(self) -> None:
        self.closed = True
        self.inner.close()


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.events: dict[str, threading.Event] = {}

    def __call__(self, state: str, message: str) -> None:
        with self.lock:
            self.calls.append((state, message))
            self.events.setdefault(state, threading.Event()).set()

    @property
    def states(self) -> list[str]:
        with self.lock:
            return [s for s, _ in self.calls]

    def wait_for(self, state: str, timeout: float = 10.0) -> bool:
        with self.lock:
            event = self.events.setdefault(state, threading.Event())
        return event.wait(timeout)


def _factory_sequence(*makers: Callable[[], FrameSource]) -> tuple[Callable[[], FrameSource], list[int]]:
    """A factory returning makers[0](), makers[1](), ... (the last one repeated); counts calls."""
    calls = [0]

    def factory() -> FrameSource:
        i = min(calls[0], len(makers) - 1)
        calls[0] += 1
        return makers[i]()

    return factory, calls


# ----------------------------------------------------------------------------- plain sources


@needs_clip
def test_video_file_reads_every_frame_like_opencv() -> None:
    src = VideoFileSource(CLIP)
    assert isinstance(src, FrameSource)
    assert not src.is_live
    src.open()
    assert src.frame_count == CLIP_FRAMES
    assert src.fps == pytest.approx(29.97, abs=0.01)
    ref = _reference_frames(3)
    frames = []
    while (f := src.read()) is not None:
        frames.append(f)
    assert src.read() is None  # stays at the end
    src.close()
    src.close()  # idempotent
    assert len(frames) == CLIP_FRAMES
    assert [f.index for f in frames] == list(range(CLIP_FRAMES))
    assert all(f.image.shape == (360, 640, 3) and f.image.dtype == np.uint8 for f in frames)
    assert all(f.source == CLIP.name for f in frames)
    assert all(b.ts >= a.ts for a, b in itertools.pairwise(frames))
    for got, want in zip(frames, ref, strict=False):
        np.testing.assert_array_equal(got.image, want)


@needs_clip
def test_video_file_loop_restarts_at_first_frame() -> None:
    src = VideoFileSource(CLIP, loop=True)
    src.open()
    frames = [src.read() for _ in range(CLIP_FRAMES + 2)]
    src.close()
    assert all(f is not None for f in frames)
    first, wrapped = frames[0], frames[CLIP_FRAMES]
    assert first is not None and wrapped is not None
    assert wrapped.index == CLIP_FRAMES  # index keeps counting across loops
    np.testing.assert_array_equal(wrapped.image, first.image)


def test_video_file_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not found"):
        VideoFileSource(tmp_path / "missing.mp4").open()
    fake = tmp_path / "notes.mp4"
    fake.write_text("this is not a video")
    with pytest.raises(SourceError, match="Cannot play"):
        VideoFileSource(fake).open()
    with pytest.raises(SourceError, match="open"):
        VideoFileSource(tmp_path / "x.mp4").read()


def test_grayscale_video_comes_out_bgr(tmp_path: Path) -> None:
    path = tmp_path / "gray.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (64, 48), isColor=False)
    assert writer.isOpened()
    for v in (20, 120, 220):
        writer.write(np.full((48, 64), v, np.uint8))
    writer.release()
    src = VideoFileSource(path)
    src.open()
    frames = [f for f in iter(src.read, None)]
    src.close()
    assert len(frames) == 3
    for f, v in zip(frames, (20, 120, 220), strict=True):
        assert f.image.shape == (48, 64, 3) and f.image.dtype == np.uint8
        assert abs(float(f.image.mean()) - v) < 4


def test_to_bgr_shapes() -> None:
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    for img in (gray, gray[:, :, None]):
        out = to_bgr(img)
        assert out.shape == (3, 4, 3)
        for c in range(3):
            np.testing.assert_array_equal(out[:, :, c], gray)
    bgra = np.dstack([gray, gray + 1, gray + 2, np.full_like(gray, 7)])
    np.testing.assert_array_equal(to_bgr(bgra), bgra[:, :, :3])
    np.testing.assert_array_equal(to_bgr(gray.astype(np.uint16) << 8), to_bgr(gray))
    with pytest.raises(SourceError):
        to_bgr(np.zeros((3, 4, 2), np.uint8))
    with pytest.raises(SourceError):
        to_bgr(np.zeros((3, 4), np.float32))


def test_image_folder_sorted_skips_corrupt_files(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rng = np.random.default_rng(0)
    color = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    gray = rng.integers(0, 256, (20, 25), dtype=np.uint8)
    assert cv2.imwrite(str(tmp_path / "img10.png"), color)
    assert cv2.imwrite(str(tmp_path / "img2.png"), gray)
    (tmp_path / "img3.jpg").write_bytes(b"\xff\xd8\xff garbage, not a jpeg")
    (tmp_path / "img4.png").write_bytes(b"")
    (tmp_path / "readme.txt").write_text("not an image")
    (tmp_path / "sub.png").mkdir()
    src = ImageFolderSource(tmp_path)
    assert not src.is_live
    src.open()
    assert [p.name for p in src.files] == ["img2.png", "img3.jpg", "img4.png", "img10.png"]
    with caplog.at_level(logging.WARNING, logger="desktop_app.core.video.sources"):
        frames = [f for f in iter(src.read, None)]
    src.close()
    assert [f.source for f in frames] == ["img2.png", "img10.png"]
    assert [f.index for f in frames] == [0, 1]
    assert src.skipped == 2
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "img3.jpg" in warned and "img4.png" in warned
    assert frames[0].image.shape == (20, 25, 3)
    for c in range(3):
        np.testing.assert_array_equal(frames[0].image[:, :, c], gray)
    np.testing.assert_array_equal(frames[1].image, color)


def test_image_folder_uses_the_image_guards(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The folder source reads through imageio.read_image: a header claiming 60000 x 60000, a
    10000 x 1 strip and a FIFO named like a photo are skipped with a warning saying why (the FIFO
    is never opened, so it cannot hang the reader); the good photos around them still come."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    good = np.random.default_rng(1).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    assert cv2.imwrite(str(tmp_path / "a1.png"), good)
    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", 60000, 60000, 8, 0, 0, 0, 0))
    (tmp_path / "a2.png").write_bytes(b"\x89PNG\r\n\x1a\n" + ihdr + chunk(b"IEND", b""))
    assert cv2.imwrite(str(tmp_path / "a3.png"), np.zeros((1, 10000), np.uint8))
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "a4.jpg")
    assert cv2.imwrite(str(tmp_path / "a5.jpg"), good)
    src = ImageFolderSource(tmp_path)
    src.open()
    with caplog.at_level(logging.WARNING, logger="desktop_app.core.video.sources"):
        frames = [f for f in iter(src.read, None)]
    src.close()
    assert [f.source for f in frames] == ["a1.png", "a5.jpg"]
    np.testing.assert_array_equal(frames[0].image, good)
    warned = [r.getMessage() for r in caplog.records]
    assert any("a2.png" in w and "too large (60000 x 60000 pixels" in w for w in warned)
    assert any("a3.png" in w and "far too narrow" in w for w in warned)
    if hasattr(os, "mkfifo"):
        assert any("a4.jpg" in w and "not a regular file" in w for w in warned)
        assert src.skipped == 3
    # and through the reader, as `facegate run` plays a folder: it ends, never fails
    reader = LatestFrameReader.for_door(lambda: ImageFolderSource(tmp_path), live=False, drop_stale=False)
    reader.start()
    names = [f.source for f in iter(lambda: reader.get(timeout=10.0), None)]
    reader.stop()
    assert names == ["a1.png", "a5.jpg"] and reader.state == "ended"


def test_image_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not found"):
        ImageFolderSource(tmp_path / "nope").open()
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(SourceError, match="No images"):
        ImageFolderSource(tmp_path).open()


@needs_clip
def test_open_source_dispatch(tmp_path: Path) -> None:
    for spec in (0, "0", " 0 "):
        src = open_source(spec)
        assert isinstance(src, WebcamSource) and src.index == 0
    cam = open_source("2")
    assert isinstance(cam, WebcamSource) and cam.index == 2
    assert isinstance(open_source(tmp_path), ImageFolderSource)
    assert isinstance(open_source(str(tmp_path)), ImageFolderSource)
    assert isinstance(open_source(CLIP), VideoFileSource)
    assert isinstance(open_source(str(CLIP)), VideoFileSource)
    for url in ("rtsp://10.0.0.5:554/stream1", "http://cam.local/video.mjpg", "https://x/y.m3u8"):
        stream = open_source(url)
        assert isinstance(stream, StreamSource) and stream.is_live
    secret = open_source("rtsp://admin:hunter2@10.0.0.5:554/s")
    assert "hunter2" not in secret.name and "admin" in secret.name


def test_open_source_errors(tmp_path: Path) -> None:
    missing = tmp_path / "missing.mp4"
    with pytest.raises(SourceError, match="No such file or folder") as err:
        open_source(missing)
    assert str(missing) in str(err.value)
    with pytest.raises(SourceError, match="No such file or folder"):
        open_source(str(missing))
    with pytest.raises(SourceError, match=r"scheme 'ftp'.*rtsp://"):
        open_source("ftp://example.com/video.mp4")
    with pytest.raises(SourceError, match="scheme"):
        StreamSource("cam.local/video")
    with pytest.raises(SourceError, match="No source given"):
        open_source("  ")
    with pytest.raises(SourceError):
        open_source(-1)


def test_stream_refused_raises_source_error() -> None:
    # Port 9 (discard) on the loopback interface: nothing listens, the connection is refused.
    for url in ("rtsp://127.0.0.1:9/none", "http://127.0.0.1:9/video.mjpg"):
        with pytest.raises(SourceError, match="Cannot open the stream"):
            StreamSource(url, open_timeout_s=2.0, read_timeout_s=2.0).open()


def test_no_webcam_here_raises_clear_error_quietly(capfd: pytest.CaptureFixture[str]) -> None:
    if list_cameras(1):
        pytest.skip("this machine has a camera at index 0")
    cam = WebcamSource(0)
    assert cam.is_live
    with pytest.raises(SourceError, match=r"No camera at index 0.*video file or a stream URL"):
        cam.open()
    cam.close()
    assert list_cameras() == []
    out, errs = capfd.readouterr()
    assert "WARN" not in out + errs  # OpenCV's "can't open camera by index" is silenced


# ----------------------------------------------------------------------------- LatestFrameReader


@needs_clip
def test_reader_lock_step_delivers_every_frame_in_order() -> None:
    rec = Recorder()
    reader = LatestFrameReader(lambda: VideoFileSource(CLIP), drop_stale=False, on_state=rec)
    assert reader.state == "idle"
    reader.start()
    frames = []
    while (f := reader.get(timeout=10.0)) is not None:
        frames.append(f.index)
    reader.stop()
    assert frames == list(range(CLIP_FRAMES))
    assert reader.dropped == 0
    assert reader.frames_read == CLIP_FRAMES
    assert reader.state == "ended"
    assert rec.states == ["connecting", "live", "ended"]
    assert not reader.running
    assert reader.get(timeout=0.01) is None


@needs_clip
def test_reader_drop_stale_slow_consumer_gets_newest() -> None:
    reader = LatestFrameReader(lambda: VideoFileSource(CLIP), drop_stale=True)
    reader.start()
    got: list[int] = []
    while True:
        # Slow consumer: let the reader get at least two frames ahead before taking one.
        last = got[-1] if got else -1
        read_before = reader.frames_read
        while read_before < last + 3 and reader.state not in ("ended", "failed"):
            threading.Event().wait(0.002)
            read_before = reader.frames_read
        f = reader.get(timeout=10.0)
        if f is None:
            break
        # Newest: every frame counted before get() was already published, so none newer is skipped.
        assert f.index >= read_before - 1
        got.append(f.index)
    reader.stop()
    assert got == sorted(set(got))
    assert got[-1] == CLIP_FRAMES - 1  # the last frame is never dropped
    assert reader.frames_read == CLIP_FRAMES
    assert reader.dropped == CLIP_FRAMES - len(got)
    assert reader.dropped >= len(got) - 1  # at least one dropped between consecutive gets


@needs_clip
def test_reader_source_disappears_then_fails_after_max_attempts(tmp_path: Path) -> None:
    rec = Recorder()
    flaky: list[FailingAfter] = []

    def first() -> FrameSource:
        flaky.append(FailingAfter(10))
        return flaky[-1]

    factory, calls = _factory_sequence(first, lambda: VideoFileSource(tmp_path / "unplugged.mp4"))
    reader = LatestFrameReader(factory, drop_stale=False, on_state=rec, backoff=FAST)
    reader.start()
    got = []
    while (f := reader.get(timeout=10.0)) is not None:
        got.append(f.index)
    assert got == list(range(10))
    assert rec.wait_for("failed")
    assert rec.states == ["connecting", "live", "reconnecting", "reconnecting", "reconnecting", "failed"]
    messages = [m for _, m in rec.calls]
    assert "camera unplugged" in messages[2] and "(attempt 1)" in messages[2]
    assert "not found" in messages[3] and "(attempt 2)" in messages[3]
    assert not any(" of 3" in m for m in messages)
    assert "Gave up after 3" in messages[-1]
    assert calls[0] == 1 + FAST.max_attempts
    assert flaky[0].closed
    reader.stop(timeout=2.0)
    assert not reader.running
    assert reader.state == "failed"


@needs_clip
def test_reader_reconnects_and_resumes() -> None:
    rec = Recorder()
    factory, calls = _factory_sequence(lambda: FailingAfter(5), lambda: VideoFileSource(CLIP))
    reader = LatestFrameReader(factory, drop_stale=False, on_state=rec, backoff=FAST)
    reader.start()
    got = []
    while (f := reader.get(timeout=10.0)) is not None:
        got.append((f.source, f.index))
    reader.stop()
    assert got == [("flaky camera", i) for i in range(5)] + [(CLIP.name, i) for i in range(CLIP_FRAMES)]
    assert rec.states == ["connecting", "live", "reconnecting", "live", "ended"]
    assert calls[0] == 2


@needs_clip
def test_get_right_after_start_waits_for_the_thread() -> None:
    """get() called before the reader's thread has run at all (a loaded machine) waits for a frame;
    it used to raise "Call start() before get()" because the state was still IDLE."""

    class LateThread(LatestFrameReader):
        def _run(self) -> None:
            time.sleep(0.3)  # the thread is scheduled late
            super()._run()

    reader = LateThread(lambda: FailingAfter(3), drop_stale=False, backoff=FAST)
    with pytest.raises(RuntimeError, match="start"):
        reader.get(timeout=0.1)
    reader.start()
    try:
        frame = reader.get(timeout=10.0)
        assert frame is not None and frame.index == 0
    finally:
        reader.stop()


@needs_clip
def test_reader_stop_is_prompt_during_backoff_and_when_blocked() -> None:
    rec = Recorder()
    slow = BackoffPolicy(initial_s=60.0, max_delay_s=60.0, max_attempts=3)
    reader = LatestFrameReader(lambda: FailingAfter(0), on_state=rec, backoff=slow)
    reader.start()
    assert rec.wait_for("reconnecting")
    reader.stop(timeout=2.0)
    assert not reader.running
    assert reader.state == "stopped"
    assert rec.states[-1] == "stopped"
    assert reader.get() is None  # no wait once stopped

    # Lock-step producer blocked because nobody consumes.
    blocked = LatestFrameReader(lambda: VideoFileSource(CLIP), drop_stale=False)
    blocked.start()
    first = blocked.get(timeout=10.0)
    assert first is not None and first.index == 0
    while blocked.frames_read < 2:
        threading.Event().wait(0.005)
    blocked.stop(timeout=2.0)
    assert not blocked.running
    assert blocked.frames_read == 2


def test_reader_first_open_failure(tmp_path: Path) -> None:
    rec = Recorder()
    reader = LatestFrameReader(lambda: VideoFileSource(tmp_path / "nope.mp4"), on_state=rec, backoff=FAST)
    reader.start()
    assert reader.get(timeout=10.0) is None
    assert reader.state == "failed"
    assert "not found" in reader.message
    assert rec.states == ["connecting", "failed"]
    reader.stop()

    rec2 = Recorder()
    factory, calls = _factory_sequence(lambda: VideoFileSource(tmp_path / "nope.mp4"))
    retry = LatestFrameReader(factory, on_state=rec2, backoff=FAST, retry_first_open=True)
    retry.start()
    assert retry.get(timeout=10.0) is None
    retry.stop()
    assert rec2.states == ["connecting", "reconnecting", "reconnecting", "reconnecting", "failed"]
    assert calls[0] == 1 + FAST.max_attempts


@needs_clip
def test_reader_survives_callback_errors() -> None:
    def bad_callback(state: str, message: str) -> None:
        raise RuntimeError("UI bug")

    reader = LatestFrameReader(lambda: VideoFileSource(CLIP), drop_stale=False, on_state=bad_callback)
    reader.start()
    n = sum(1 for _ in iter(lambda: reader.get(timeout=10.0), None))
    reader.stop()
    assert n == CLIP_FRAMES
    assert reader.state == "ended"


class Unplugged:
    """Test-only live source that cannot be opened (a camera still booting, a network down)."""

    name = "door camera"
    is_live = True

    def open(self) -> None:
        raise SourceError("Cannot open the stream door camera: check the address.")

    def read(self) -> Frame | None:  # pragma: no cover - never opened
        raise AssertionError("read() on a source that did not open")

    def close(self) -> None:
        pass


@needs_clip
def test_door_reader_never_gives_up_on_a_live_source() -> None:
    """A door camera down at start for 15 attempts (far beyond the old budget of 6), then lost
    mid-stream for 15 more: the door reader keeps trying, says "Reconnecting in N s (attempt k)"
    and resumes each time; it never reports "failed"."""
    rec = Recorder()
    fast = BackoffPolicy(initial_s=0.002, factor=2.0, max_delay_s=0.01, max_attempts=None)
    makers: list[Callable[[], FrameSource]] = [Unplugged] * 15 + [lambda: FailingAfter(5)]
    makers += [Unplugged] * 15 + [lambda: FailingAfter(1_000)]
    factory, calls = _factory_sequence(*makers)
    reader = LatestFrameReader.for_door(factory, live=True, drop_stale=False, on_state=rec, backoff=fast)
    reader.start()
    got = [reader.get(timeout=10.0) for _ in range(10)]
    reader.stop()
    assert [f.index if f else None for f in got] == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4]
    assert calls[0] == 32
    assert "failed" not in rec.states
    assert rec.states[:2] == ["connecting", "reconnecting"]
    assert rec.states.count("live") == 2 and rec.states[-1] == "stopped"
    retries = [m for s, m in rec.calls if s == "reconnecting"]
    assert len(retries) == 31
    assert retries[14].endswith("Reconnecting in 0.0 s (attempt 15).")  # the counter went past 6
    assert "camera unplugged" in retries[15] and "(attempt 1)" in retries[15]  # reset by frames
    assert not any(" of " in m.split("Reconnecting")[-1] for m in retries)


def test_door_reader_on_a_file_fails_at_once(tmp_path: Path) -> None:
    """Files are not retried: a wrong file name is a configuration error, reported at once."""
    rec = Recorder()
    reader = LatestFrameReader.for_door(lambda: VideoFileSource(tmp_path / "nope.mp4"), live=False,
                                        on_state=rec)
    reader.start()
    assert reader.get(timeout=10.0) is None
    reader.stop()
    assert rec.states == ["connecting", "failed"]
    assert "Video file not found" in rec.calls[-1][1]


def test_backoff_policy_for_ever_is_capped_and_never_overflows() -> None:
    assert DOOR_BACKOFF.forever and DOOR_BACKOFF.max_attempts is None
    assert [DOOR_BACKOFF.delay(n) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    assert not any(DOOR_BACKOFF.gives_up(n) for n in (1, 6, 7, 10**6))
    # days of retries (an attempt every 5 s for a year is ~6 million): no OverflowError
    assert DOOR_BACKOFF.delay(10**7) == 5.0 and DOOR_BACKOFF.delay(10**18) == 5.0
    steep = BackoffPolicy(initial_s=1e-6, factor=1e9, max_delay_s=30.0, max_attempts=None)
    assert steep.delay(10_000) == 30.0
    assert not DEFAULT_BACKOFF.forever and DEFAULT_BACKOFF.gives_up(7) and not DEFAULT_BACKOFF.gives_up(6)
    assert BackoffPolicy(max_attempts=0).gives_up(1)
    with pytest.raises(ValueError, match="above 0"):
        BackoffPolicy(initial_s=0.0, max_attempts=None)  # a busy loop for ever
    with pytest.raises(ValueError, match="above 0"):
        BackoffPolicy(max_delay_s=0.0, max_attempts=None)
    with pytest.raises(ValueError):
        BackoffPolicy(max_attempts=-1)
    with pytest.raises(ValueError):
        BackoffPolicy(initial_s=float("inf"))
    with pytest.raises(ValueError):
        BackoffPolicy(factor=float("nan"))


def test_backoff_policy_delays() -> None:
    policy = BackoffPolicy(initial_s=0.5, factor=2.0, max_delay_s=10.0, max_attempts=8)
    assert [policy.delay(n) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    with pytest.raises(ValueError):
        BackoffPolicy(factor=0.5)
    with pytest.raises(ValueError):
        BackoffPolicy(initial_s=-1)
