"""``webhook:http://…`` and ``webhook:https://…``: POST each message as JSON to a URL.

The body is ``DoorMessage.payload()`` as compact UTF-8 JSON. With a door secret, the header
``X-FaceGate-Signature: sha256=<hex>`` carries the HMAC-SHA256 of the raw body bytes under the
secret (no header without a secret). ``X-FaceGate-Delivery`` is one id per message, the same on
every retry, so that a receiver can ignore a repeat (a retry after a lost answer);
``X-FaceGate-Kind`` repeats the body's ``kind``. ``user:password@`` in the URL becomes HTTP Basic
authentication.

Answers: 2xx delivered; 408, 425, 429 and 5xx, timeouts and connection errors are retried with
back-off (see :mod:`desktop_app.core.outputs.delivery`); any other answer (4xx, a redirect) is a
refusal that no retry fixes: the message is dropped and the output is DOWN until a delivery works.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import socket
import ssl
import uuid
from typing import Any
from urllib.parse import unquote, urlsplit

from desktop_app import __version__
from desktop_app.core.outputs.base import DoorMessage
from desktop_app.core.outputs.delivery import Outcome, QueuedOutput

SIGNATURE_HEADER = "X-FaceGate-Signature"
DELIVERY_HEADER = "X-FaceGate-Delivery"
KIND_HEADER = "X-FaceGate-Kind"
RETRY_STATUSES = frozenset({408, 425, 429})


def sign(body: bytes, secret: str) -> str:
    """The ``X-FaceGate-Signature`` value of ``body``: ``"sha256=" + hex HMAC-SHA256``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def encode(message: DoorMessage) -> bytes:
    """The body POSTed for ``message``: its payload as compact UTF-8 JSON."""
    return json.dumps(message.payload(), separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class WebhookOutput(QueuedOutput):
    """POSTs each message to the URL after ``webhook:``; see the module. Tuning keywords as for
    :class:`~desktop_app.core.outputs.delivery.QueuedOutput` (``timeout_s`` bounds each request)."""

    scheme = "webhook"

    def __init__(self, uri: str, door: str, secret: str | None = None, **tuning: Any) -> None:
        super().__init__(uri, door, secret or None, **tuning)
        url = uri.split(":", 1)[1].strip() if ":" in uri else ""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"a webhook output is 'webhook:http://host[:port]/path' or 'webhook:https://…', "
                             f"got {self.describe()!r}")
        try:
            port = parts.port
        except ValueError as exc:
            raise ValueError(f"bad port in webhook output {self.describe()!r}") from exc
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = port or (443 if self.https else 80)
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._auth: str | None = None
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            self._auth = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
        self._current: tuple[DoorMessage, str] | None = None

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def _deliver(self, message: DoorMessage) -> Outcome:
        if self._current is None or self._current[0] is not message:
            self._current = (message, uuid.uuid4().hex)
        body = encode(message)
        headers = {"Content-Type": "application/json", "User-Agent": f"FaceGate/{__version__}",
                   DELIVERY_HEADER: self._current[1], KIND_HEADER: message.kind.value}
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(body, self.secret)
        if self._auth:
            headers["Authorization"] = self._auth
        conn: http.client.HTTPConnection
        if self.https:
            conn = http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout_s,
                                               context=ssl.create_default_context())
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
        try:
            conn.request("POST", self.path, body=body, headers=headers)
            response = conn.getresponse()
            response.read(65536)
            status, reason = response.status, response.reason
        except ConnectionRefusedError:
            return Outcome.failed(f"connection refused by {self.where}")
        except TimeoutError:
            return Outcome.failed(f"no answer from {self.where} within {self.timeout_s:g} s")
        except socket.gaierror:
            return Outcome.failed(f"cannot resolve host {self.host!r}")
        except ssl.SSLError as exc:
            return Outcome.failed(f"TLS error with {self.where}: {exc.reason or exc}")
        except (OSError, http.client.HTTPException) as exc:
            return Outcome.failed(f"{type(exc).__name__} with {self.where}: {exc}")
        finally:
            conn.close()
        if 200 <= status < 300:
            return Outcome.delivered(f"delivered {message.kind.value} (HTTP {status})")
        if status >= 500 or status in RETRY_STATUSES:
            return Outcome.failed(f"HTTP {status} {reason} from {self.where}")
        hint = " (check the door's secret)" if status in (401, 403) else ""
        if 300 <= status < 400:
            hint = " (a redirect: give the final URL)"
        return Outcome.failed(f"refused by {self.where}: HTTP {status} {reason}{hint}", retry=False)

    def _idle_check(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=self.timeout_s):
                return True
        except OSError:
            return False
