"""Real counterparts of the door outputs, for any test: an HTTP receiver that checks webhook
signatures, and a Mosquitto MQTT broker with a listening client.

``tests/conftest.py`` imports the fixtures, so every test can ask for them by name:

- ``webhook_server`` -> :class:`WebhookServer` on 127.0.0.1 (a free port), secret
  :data:`WEBHOOK_SECRET`. ``.uri`` is the door output URI (``webhook:http://127.0.0.1:PORT/hook``),
  ``.received`` the JSON bodies it accepted (signature verified), ``.requests`` every request with
  its answer. ``.fail_next(n, status=500)`` answers the next ``n`` requests with ``status``;
  ``.stop()`` / ``.start()`` take it down and bring it back on the same port; ``.delay_s`` delays
  every answer (timeouts); ``.wait_for(n)`` waits until ``n`` bodies were accepted.
- ``mqtt_broker`` -> :class:`MqttBroker`: Debian's ``mosquitto`` on 127.0.0.1 (a free port,
  anonymous, no persistence), started for the test and stopped after it. It unpacks as
  ``host, port = mqtt_broker``; ``.uri(topic)`` is a door output URI; ``.stop()`` / ``.start()``
  take it down and back on the same port. Tests using it skip, with the reason, when mosquitto is
  not installed (``make services`` installs it).
- :class:`MqttListener` (``with MqttListener(host, port, "facegate/#") as sub``): a paho client
  that records every message (``.messages``), with ``.wait_for(topic, payload)`` and ``.publish``.
- ``lctech_board`` -> :class:`LcTechBoard`: a CH340 "LCTech" USB relay board played on a
  pseudo-terminal behind a ``ttyUSB0`` link in a temporary folder. ``.uri(channel)`` is the door
  output URI; ``.relays`` the relay states, ``.changes`` every switch ``(time, channel, on)``,
  ``.bad`` the malformed frames; ``.wait_relay(channel, on)``; ``.unplug()`` / ``.plug()``.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import threading
import time
import tty
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

WEBHOOK_SECRET = "facegate-test-secret"
"""The secret the ``webhook_server`` fixture checks signatures with (give it to the door)."""

MOSQUITTO_MISSING = ("mosquitto (Debian package 'mosquitto') is not installed: `make services` installs it, "
                     "or run `apt-get install mosquitto`")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, every: float = 0.02) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds passed; returns its last value.
    For conditions nobody signals (a process listening, a thread's state)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(every)


# ---------------------------------------------------------------------------------------------
# webhook receiver
# ---------------------------------------------------------------------------------------------
@dataclass
class WebhookRequest:
    """One request the receiver got: status answered, headers, raw body, signature valid."""

    status: int
    headers: dict[str, str]
    body: bytes
    signed_ok: bool
    time: float = field(default_factory=time.monotonic)

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookServer:
    """An HTTP receiver on 127.0.0.1 that checks ``X-FaceGate-Signature`` like a real one would:
    ``sha256=`` + HMAC-SHA256 of the raw body under ``secret`` (no check when secret is None).
    A bad or missing signature gets 401 and is not counted as received."""

    def __init__(self, secret: str | None = WEBHOOK_SECRET, path: str = "/hook", port: int | None = None) -> None:
        self.secret = secret
        self.path = path
        self.port = port or free_port()
        self.received: list[dict[str, Any]] = []
        self.requests: list[WebhookRequest] = []
        self.delay_s = 0.0
        self._fail: list[int] = []
        self._cond = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    @property
    def uri(self) -> str:
        """The door output URI for this receiver."""
        return f"webhook:{self.url}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def fail_next(self, n: int, status: int = 500) -> None:
        """Answer the next ``n`` requests with ``status`` (before any signature check)."""
        with self._cond:
            self._fail.extend([status] * n)

    def start(self) -> None:
        """Listen (again) on ``port``."""
        if self._server is not None:
            return
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if owner.delay_s:
                    time.sleep(owner.delay_s)  # a slow receiver (the client's timeout is tested)
                owner._answer(self, body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="webhook-server", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening: clients get "connection refused" until :meth:`start`."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def wait_for(self, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until at least ``n`` bodies were accepted; returns them (fails the test on timeout)."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.received) >= n, timeout):
                raise AssertionError(f"the webhook receiver got {len(self.received)} of {n} message(s) "
                                     f"within {timeout} s; requests: {[r.status for r in self.requests]}")
            return list(self.received)

    def wait_requests(self, n: int, timeout: float = 10.0) -> list[WebhookRequest]:
        """Wait until at least ``n`` requests arrived (whatever the answer)."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.requests) >= n, timeout):
                raise AssertionError(f"the webhook receiver got {len(self.requests)} of {n} request(s) "
                                     f"within {timeout} s")
            return list(self.requests)

    def verify(self, body: bytes, signature: str | None) -> bool:
        """What a receiver does: compare the header with its own HMAC, in constant time."""
        if self.secret is None:
            return True
        expected = "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        return signature is not None and hmac.compare_digest(expected, signature)

    def _answer(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        signed_ok = self.verify(body, handler.headers.get("X-FaceGate-Signature"))
        with self._cond:
            status = self._fail.pop(0) if self._fail else (200 if signed_ok else 401)
            if status == 200:
                self.received.append(json.loads(body))
            self.requests.append(WebhookRequest(status, dict(handler.headers.items()), body, signed_ok))
            self._cond.notify_all()
        handler.send_response(status)
        handler.send_header("Content-Length", "0")
        handler.end_headers()


@pytest.fixture
def webhook_server() -> Iterator[WebhookServer]:
    """A running :class:`WebhookServer` (secret :data:`WEBHOOK_SECRET`), stopped after the test."""
    server = WebhookServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


# ---------------------------------------------------------------------------------------------
# MQTT broker
# ---------------------------------------------------------------------------------------------
def mosquitto_path() -> str | None:
    """The mosquitto binary (Debian puts it in /usr/sbin, often not on a user's PATH)."""
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.access(p, os.X_OK)), None)


class MqttBroker:
    """A Mosquitto broker on ``host:port`` with a config of its own in ``workdir``: one listener
    on 127.0.0.1, anonymous clients allowed, nothing persisted (a restart forgets retained
    messages, like a broker that lost its disk). Unpacks as ``(host, port)``."""

    def __init__(self, workdir: Path, binary: str, port: int | None = None) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.workdir = workdir
        self.binary = binary
        self.log_path = workdir / "mosquitto.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def __iter__(self) -> Iterator[Any]:
        return iter((self.host, self.port))

    def uri(self, topic: str = "facegate/test") -> str:
        """A door output URI on this broker."""
        return f"mqtt://{self.host}:{self.port}/{topic}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        """Start mosquitto (again, on the same port) and wait until it accepts connections."""
        if self.running:
            return
        conf = self.workdir / "mosquitto.conf"
        lines = [f"listener {self.port} {self.host}", "allow_anonymous true", "persistence false",
                 "log_dest stderr", "log_type error", "log_type warning", "log_type notice"]
        if os.geteuid() == 0:
            lines.append("user root")  # else it drops to user 'mosquitto', who may not read our files
        conf.write_text("\n".join(lines) + "\n")
        with self.log_path.open("ab") as logf:
            self._proc = subprocess.Popen([self.binary, "-c", str(conf)], stdout=logf, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL)
        if not wait_until(lambda: port_open(self.host, self.port) or not self.running, timeout) or not self.running:
            self.stop()
            raise RuntimeError(f"mosquitto did not start on port {self.port}: "
                               f"{self.log_path.read_text(errors='replace')[-800:]}")

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL after 5 s); clients lose their connection."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture
def mqtt_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MqttBroker]:
    """A running :class:`MqttBroker` of this test alone (skips when mosquitto is not installed)."""
    binary = mosquitto_path()
    if binary is None:
        pytest.skip(MOSQUITTO_MISSING)
    workdir = tmp_path_factory.mktemp("mosquitto")
    broker = MqttBroker(workdir, binary)
    for attempt in range(3):  # the free port may be taken between choosing and binding it
        try:
            broker.start()
            break
        except RuntimeError:
            if attempt == 2:
                raise
            broker.port = free_port()
    try:
        yield broker
    finally:
        broker.stop()


@dataclass(frozen=True)
class MqttMessage:
    topic: str
    payload: bytes
    retain: bool
    qos: int

    @property
    def text(self) -> str:
        return self.payload.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.payload)


class MqttListener:
    """A paho MQTT client subscribed to ``topics`` (QoS 1) that records every message; use as a
    context manager (connects on entry, waits for the subscription, disconnects on exit)."""

    def __init__(self, host: str, port: int, *topics: str, client_id: str = "") -> None:
        import paho.mqtt.client as mqtt

        self.messages: list[MqttMessage] = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self.topics = topics or ("#",)
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_args: self._subscribed.set()
        self.client.on_message = self._on_message
        self.host, self.port = host, port

    def __enter__(self) -> MqttListener:
        self.client.connect(self.host, self.port, keepalive=30)
        self.client.loop_start()
        if not self._subscribed.wait(5):
            raise AssertionError(f"could not subscribe to {self.topics} on {self.host}:{self.port}")
        return self

    def __exit__(self, *_exc: object) -> None:
        with contextlib.suppress(Exception):
            self.client.disconnect()
        self.client.loop_stop()

    def publish(self, topic: str, payload: str | bytes, *, retain: bool = False, qos: int = 1) -> None:
        self.client.publish(topic, payload, qos=qos, retain=retain).wait_for_publish(5)

    def on(self, topic: str) -> list[MqttMessage]:
        """The messages received on ``topic`` so far, in order."""
        with self._cond:
            return [m for m in self.messages if m.topic == topic]

    def wait_for(self, topic: str, payload: str | Callable[[MqttMessage], bool] | None = None,
                 timeout: float = 10.0, after: int = 0) -> MqttMessage:
        """Wait for a message on ``topic`` (the ``after``-th onwards of that topic) whose text is
        ``payload`` (or that ``payload(message)`` accepts; any when None); returns it."""
        def match() -> MqttMessage | None:
            for m in [m for m in self.messages if m.topic == topic][after:]:
                if payload is None or (m.text == payload if isinstance(payload, str) else payload(m)):
                    return m
            return None

        with self._cond:
            if not self._cond.wait_for(lambda: match() is not None, timeout):
                seen = [(m.topic, m.text[:80]) for m in self.messages]
                raise AssertionError(f"no message {payload!r} on {topic} within {timeout} s; got {seen}")
            found = match()
            assert found is not None
            return found

    def _on_connect(self, client: Any, _userdata: Any, _flags: Any, _reason: Any, _props: Any) -> None:
        client.subscribe([(t, 1) for t in self.topics])

    def _on_message(self, _client: Any, _userdata: Any, msg: Any) -> None:
        with self._cond:
            self.messages.append(MqttMessage(msg.topic, bytes(msg.payload), bool(msg.retain), int(msg.qos)))
            self._cond.notify_all()


# ---------------------------------------------------------------------------------------------
# USB-serial relay board
# ---------------------------------------------------------------------------------------------
class LcTechBoard:
    """A CH340 "LCTech" relay board of ``channels`` relays, played on a pseudo-terminal: it reads
    4-byte frames ``A0 <channel> <0|1> <(A0+channel+state) & 0xFF>`` from the port and switches its
    relays; anything else goes to ``.bad``. ``link`` (a symlink to the pty, like udev's
    /dev/serial/by-id names) is the port the driver opens. ``.unplug()`` cuts the board off (the
    link vanishes, the open port fails, the relays drop as when USB power goes), ``.plug()``
    brings it back behind the same link."""

    def __init__(self, link: Path, channels: int = 4) -> None:
        self.link = link
        self.channels = channels
        self.relays = dict.fromkeys(range(1, channels + 1), False)
        self.changes: list[tuple[float, int, bool]] = []
        self.frames: list[bytes] = []
        self.bad: list[bytes] = []
        self._cond = threading.Condition()
        self._fds: tuple[int, int] | None = None
        self._stop_r, self._stop_w = -1, -1
        self._thread: threading.Thread | None = None

    def uri(self, channel: int = 1) -> str:
        return f"serial://{self.link}?protocol=lctech&channel={channel}"

    @property
    def plugged(self) -> bool:
        return self._fds is not None

    def plug(self) -> None:
        if self._fds is not None:
            return
        master, slave = os.openpty()
        tty.setraw(slave)
        self._fds = (master, slave)
        self.link.unlink(missing_ok=True)
        self.link.symlink_to(os.ttyname(slave))
        self._stop_r, self._stop_w = os.pipe()
        self._thread = threading.Thread(target=self._read, args=(master, self._stop_r), name="lctech-board",
                                        daemon=True)
        self._thread.start()

    def unplug(self) -> None:
        if self._fds is None:
            return
        os.write(self._stop_w, b"x")
        if self._thread is not None:
            self._thread.join(5)
        for fd in (*self._fds, self._stop_r, self._stop_w):
            os.close(fd)
        self._fds = None
        self.link.unlink(missing_ok=True)
        with self._cond:
            self.relays = dict.fromkeys(self.relays, False)
            self._cond.notify_all()

    def wait_relay(self, channel: int, on: bool, timeout: float = 10.0) -> float:
        """Wait until relay ``channel`` is ``on``; returns when it switched (monotonic time)."""
        with self._cond:
            if not self._cond.wait_for(lambda: self.relays[channel] == on, timeout):
                raise AssertionError(f"relay {channel} not {'on' if on else 'off'} within {timeout} s; "
                                     f"changes {self.changes}, bad frames {self.bad}")
            times = [t for t, ch, state in self.changes if ch == channel and state == on]
            return times[-1] if times else time.monotonic()

    def wait_frames(self, n: int, timeout: float = 10.0) -> list[bytes]:
        """Wait until ``n`` well-formed frames arrived; returns them all."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.frames) >= n, timeout):
                raise AssertionError(f"{len(self.frames)} of {n} frames within {timeout} s")
            return list(self.frames)

    def _read(self, master: int, stop: int) -> None:
        buf = bytearray()
        while True:
            ready, _, _ = select.select([master, stop], [], [])
            if stop in ready:
                return
            try:
                buf += os.read(master, 256)
            except OSError:  # nobody holds the port open for a moment
                continue
            with self._cond:
                while len(buf) >= 4:
                    if buf[0] != 0xA0:
                        self.bad.append(bytes(buf[:1]))
                        del buf[0]
                        continue
                    frame, ch, state = bytes(buf[:4]), buf[1], buf[2]
                    del buf[:4]
                    if (frame[3] != (0xA0 + ch + state) & 0xFF or state not in (0, 1)
                            or not 1 <= ch <= self.channels):
                        self.bad.append(frame)
                        continue
                    self.frames.append(frame)
                    if self.relays[ch] != bool(state):
                        self.relays[ch] = bool(state)
                        self.changes.append((time.monotonic(), ch, bool(state)))
                self._cond.notify_all()


@pytest.fixture
def lctech_board(tmp_path: Path) -> Iterator[LcTechBoard]:
    """A plugged-in 4-relay :class:`LcTechBoard` behind ``tmp_path/ttyUSB0``."""
    board = LcTechBoard(tmp_path / "ttyUSB0")
    board.plug()
    try:
        yield board
    finally:
        board.unplug()


# --------------------------------------------------------------------------- PostgreSQL (issue 13)
PG_BIN = Path("/usr/lib/postgresql/15/bin")
POSTGRES_MISSING = ("PostgreSQL 15 (Debian package 'postgresql') is not installed: `make services` installs it, "
                    "or run `apt-get install postgresql`")


class PostgresServer:
    """Debian's PostgreSQL 15 in a temporary folder on 127.0.0.1 (a free port), trust login for
    user ``facegate``. initdb and postgres refuse root: as root they run as the ``postgres`` user.
    ``.dsn(db)``; ``.new_database()`` makes an empty database per test; ``.stop()`` / ``.start()``
    take the server down and back on the same port (a network cut, as seen from a door)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self._n = 0
        self._as_root = os.geteuid() == 0
        os.chmod(root, 0o755)  # the postgres user must reach its folder (root is directly in /tmp)
        self.data.mkdir()
        if self._as_root:
            shutil.chown(self.data, "postgres", "postgres")
        self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "facegate", "-E", "UTF8")

    def _run(self, *cmd: str) -> None:
        full = ["runuser", "-u", "postgres", "--", *cmd] if self._as_root else list(cmd)
        subprocess.run(full, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.data / "log"), "-w", "-o",
                  f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off", "start")

    def stop(self) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def dsn(self, db: str = "postgres") -> str:
        return f"postgresql://facegate@127.0.0.1:{self.port}/{db}"

    def new_database(self) -> str:
        """The DSN of a new, empty database."""
        import psycopg

        self._n += 1
        name = f"t{os.getpid()}_{self._n}"
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.dsn(name)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the test session (each test makes its own database with
    ``new_database()``); skips when PostgreSQL is not installed."""
    if not (PG_BIN / "initdb").is_file():
        pytest.skip(POSTGRES_MISSING)
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="facegate-pg-"))  # not under pytest's 0700 folder: postgres must enter it
    try:
        server = PostgresServer(root)
        server.start()
        try:
            yield server
        finally:
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                server.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def central_site(postgres_server: PostgresServer, tmp_path: Path) -> tuple[str, Any]:
    """A new database on the session's PostgreSQL server, initialised as a central site: (DSN,
    its ``SiteKey``), the key also saved as ``tmp_path / "site.key"`` (0600)."""
    from desktop_app.core.central.client import CentralClient
    from desktop_app.core.central.sitekey import SiteKey

    dsn = postgres_server.new_database()
    key = SiteKey.generate()
    key.save(tmp_path / "site.key")
    with CentralClient(dsn) as client:
        assert client.init(key) is True
    return dsn, key
