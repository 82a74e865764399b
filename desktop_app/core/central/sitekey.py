"""The site key: face data (crops, templates) and door secrets are encrypted with it before they
leave a machine, so the central PostgreSQL server never holds them in clear.

``facegate central init`` makes a random 256-bit key and writes it to a key file (mode 0600)::

    facegate-site-key 1 <site id> <key, base64>

The server keeps only the site id and a *check value* (a known text sealed with the key), so a
node with a wrong or another site's key is told so at once. The key file is given to each door
and admin machine (``--site-key FILE`` or ``$FACEGATE_SITE_KEY``) like an SSH key. Values use the
encrypted-value format of ``protection.envelope`` (AES-256-GCM, random 96-bit nonce), bound to
``facegate-central|<site id>|<kind>|<key>``, so a value moved to another row fails to open.
"""

from __future__ import annotations

import base64
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from desktop_app.core.central.errors import CentralError
from desktop_app.core.file_modes import make_private_dirs, write_private_text
from desktop_app.core.protection import envelope
from desktop_app.core.protection.errors import DataDamagedError

ENV_VAR: Final[str] = "FACEGATE_SITE_KEY"
_MAGIC: Final[str] = "facegate-site-key"
_KEY_ID: Final[int] = 1
_CHECK: Final[bytes] = b"facegate site key check"


@dataclass(frozen=True)
class SiteKey:
    """The site id (hex) and its AES-256 key."""

    site_id: str
    key: bytes

    @classmethod
    def generate(cls) -> SiteKey:
        return cls(secrets.token_hex(16), os.urandom(envelope.KEY_BYTES))

    def _aead(self) -> AESGCM:
        return AESGCM(self.key)

    def _context(self, kind: str, key: str) -> bytes:
        return f"facegate-central|{self.site_id}|{kind}|{key}".encode()

    def seal(self, kind: str, key: str, plain: bytes) -> bytes:
        return envelope.seal_value(self._aead(), _KEY_ID, plain, self._context(kind, key))

    def open(self, kind: str, key: str, blob: bytes) -> bytes:
        """The plain bytes; CentralError when the value fails its check (altered, moved, other key)."""
        aead = self._aead()
        try:
            return envelope.open_value(lambda kid: aead if kid == _KEY_ID else None, bytes(blob),
                                       self._context(kind, key), f"the central {kind} {key[:12]}")
        except DataDamagedError as exc:
            raise CentralError(str(exc)) from None

    def check_value(self) -> bytes:
        return self.seal("check", "site", _CHECK)

    def verify(self, site_id: str, check: bytes) -> None:
        """CentralError unless this key is the one of the server's site."""
        if site_id != self.site_id:
            raise CentralError(f"The site key is for site {self.site_id[:8]}, but this central server holds site "
                               f"{site_id[:8]}: give the key file made by `facegate central init` for this server.")
        try:
            ok = self.open("check", "site", check) == _CHECK
        except CentralError:
            ok = False
        if not ok:
            raise CentralError("The site key does not open this central server's data (wrong key file).")

    def save(self, path: Path) -> None:
        """Write the key file (0600; its folder 0700 when created). CentralError when it exists."""
        path = Path(path)
        if path.exists():
            raise CentralError(f"The key file {path} exists already: choose another file (it is never overwritten).")
        make_private_dirs(path.parent)
        write_private_text(path, f"{_MAGIC} 1 {self.site_id} {base64.b64encode(self.key).decode()}\n")

    @classmethod
    def load(cls, path: Path) -> SiteKey:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise CentralError(f"Cannot read the site key file {path}: {exc.strerror or exc}") from None
        parts = text.split()
        try:
            if len(parts) != 4 or parts[0] != _MAGIC or parts[1] != "1":
                raise ValueError
            key = base64.b64decode(parts[3], validate=True)
            if len(key) != envelope.KEY_BYTES:
                raise ValueError
        except ValueError:
            raise CentralError(f"{path} is not a FaceGate site key file.") from None
        return cls(parts[2], key)


def key_path(given: str | Path | None) -> Path:
    """The key file named by an option, else by ``$FACEGATE_SITE_KEY``; CentralError when neither."""
    value = given or os.environ.get(ENV_VAR)
    if not value:
        raise CentralError(f"No site key: give --site-key FILE (made by `facegate central init`) or set ${ENV_VAR}.")
    return Path(value).expanduser()
