"""A real network camera for the tests: an HTTP MJPEG stream on 127.0.0.1.

:class:`MjpegCamera` serves ``multipart/x-mixed-replace`` JPEG frames (what most IP cameras offer
besides RTSP) from Python's ``http.server`` in a thread. OpenCV's FFmpeg backend reads it as an
``http://`` stream, so :class:`~desktop_app.core.video.sources.StreamSource` talks to it exactly as to
a camera on the network. :meth:`MjpegCamera.kill` drops every open connection and stops listening
(a camera switched off or a cable pulled: the client sees the stream end, then "connection
refused"); :meth:`MjpegCamera.start` brings it back on the same port.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np

BOUNDARY = b"facegateframe"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def camera_frames(clip: Path | None, n: int = 24, size: tuple[int, int] = (320, 180)) -> list[bytes]:
    """``n`` JPEG frames of ``size`` (width, height): the first frames of ``clip`` when it is a
    readable video, else synthetic pictures (a moving disc on a gradient)."""
    images: list[np.ndarray] = []
    if clip is not None and clip.is_file():
        cap = cv2.VideoCapture(str(clip))
        while len(images) < n:
            ok, image = cap.read()
            if not ok:
                break
            images.append(cv2.resize(image, size, interpolation=cv2.INTER_AREA))
        cap.release()
    w, h = size
    while len(images) < n:
        i = len(images)
        image = np.zeros((h, w, 3), np.uint8)
        image[:, :, 0] = np.linspace(40, 200, w, dtype=np.uint8)[None, :]
        image[:, :, 1] = 90
        cv2.circle(image, (20 + (i * 11) % (w - 40), h // 2), h // 5, (230, 230, 230), -1)
        images.append(image)
    out = []
    for image in images:
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
        assert ok
        out.append(buf.tobytes())
    return out


class MjpegCamera:
    """An HTTP MJPEG camera at ``url`` (``http://127.0.0.1:<port>/video.mjpg``), created down.

    frames: JPEG files served in a loop at ``fps`` frames per second. ``frames_sent`` counts the
    frames written to clients; ``connections`` the GET requests answered.
    """

    def __init__(self, frames: list[bytes], fps: float = 25.0, port: int | None = None) -> None:
        if not frames:
            raise ValueError("an MJPEG camera needs at least one frame")
        self.frames = frames
        self.fps = fps
        self.port = port if port is not None else free_port()
        self.url = f"http://127.0.0.1:{self.port}/video.mjpg"
        self.frames_sent = 0
        self.connections = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._down = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()

    @property
    def up(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        """Listen on the port and serve (again); a no-op when already up."""
        if self._server is not None:
            return
        camera = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with camera._lock:
                    camera.connections += 1
                    camera._sockets.add(self.connection)
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY.decode()}")
                    self.send_header("Cache-Control", "no-cache")
                    self.end_headers()
                    i = 0
                    while not camera._down.is_set():
                        jpeg = camera.frames[i % len(camera.frames)]
                        self.wfile.write(b"--" + BOUNDARY + b"\r\nContent-Type: image/jpeg\r\n"
                                         + f"Content-Length: {len(jpeg)}\r\n\r\n".encode() + jpeg + b"\r\n")
                        self.wfile.flush()
                        with camera._lock:
                            camera.frames_sent += 1
                        i += 1
                        camera._down.wait(1.0 / camera.fps)
                except OSError:
                    pass  # the client went away, or kill() cut the connection
                finally:
                    with camera._lock:
                        camera._sockets.discard(self.connection)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._down.clear()
        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="MjpegCamera", daemon=True)
        self._thread.start()

    def start_after(self, seconds: float) -> threading.Timer:
        """Bring the camera up ``seconds`` from now (in a timer thread)."""
        timer = threading.Timer(seconds, self.start)
        timer.daemon = True
        timer.start()
        return timer

    def kill(self) -> None:
        """Switch the camera off: cut every open stream and stop listening."""
        server, self._server = self._server, None
        self._down.set()
        with self._lock:
            sockets = list(self._sockets)
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            with self._lock:
                if not self._sockets:
                    return
            time.sleep(0.01)
