"""The secret parts of the settings, encrypted at rest: the camera source (an rtsp URL may hold
``user:password@``), the site-wide alert output URI and its HMAC key (``config.camera.source``,
``config.alerts.output``, ``config.alerts.secret``).

They are sealed here, at the storage boundary; ``AppConfig`` (``core.config``) stays the one
place of validation and never sees ciphertext. In an encrypted database ``set_setting("config",
…)`` stores the settings JSON with each secret replaced by the placeholder ``sealed:``, and the
secrets, as one JSON object encrypted with the data key (``SealedField.SETTINGS_SECRETS``, bound
to its row key ``config!sealed``), in the settings row ``config!sealed``; ``get_setting`` puts
them back. Rotation re-wraps the data key only; a re-key re-encrypts the row like any sealed
column (``keys.COLUMNS``). Values an earlier version stored in clear are sealed at the next
writable opening (audit ``keys.encrypt_settings_secrets``) and the old pages vacuumed.

When they cannot be decrypted here (locked: no machine key; or damaged) the camera source and the
alert output read as ``sealed:<why>``: the alert output's driver (``outputs.sealed``) is always
down saying why, and the camera source (``video.sources``) fails to open with the reason: a clear
fault, never a crash; the HMAC key reads as empty. Saving the settings then needs the data key
(``DataLockedError``), and a ``sealed:`` stand-in is never saved.
"""

from __future__ import annotations

import copy
import json
import logging
import sqlite3
from typing import Any, Final

from desktop_app.core.errors import StorageError
from desktop_app.core.outputs.sealed import SEALED_SCHEME, sealed_uri
from desktop_app.core.protection.errors import DataDamagedError, DataLockedError
from desktop_app.core.protection.fields import SealedField
from desktop_app.core.storage import times
from desktop_app.core.storage.base import api
from desktop_app.core.storage.sealing import SealingBase
from desktop_app.core.storage.settings import SettingsMixin
from desktop_app.core.storage.validate import required_text

log = logging.getLogger(__name__)

#: the settings keys with secret parts, and those parts (section, field); a URI falls back to
#: ``sealed:<why>`` when it cannot be decrypted, a key to ""
SECRET_PATHS: Final[dict[str, tuple[tuple[str, str, bool], ...]]] = {
    "config": (("camera", "source", True), ("alerts", "output", True), ("alerts", "secret", False)),
}
#: the row key suffix of a setting's sealed secrets (``<key>!sealed``; see ``keys.COLUMNS``)
SEALED_SUFFIX: Final[str] = "!sealed"
#: what stands in the settings JSON for a sealed value
PLACEHOLDER: Final[str] = f"{SEALED_SCHEME}:"


def _is_stand_in(value: object) -> bool:
    return isinstance(value, str) and value.strip().lower().startswith(PLACEHOLDER)


class SealedSettingsMixin(SettingsMixin, SealingBase):
    """``get_setting`` / ``set_setting`` / ``reset_setting`` of ``Store`` with the secrets sealed."""

    def _split_secrets(self, name: str, value: object) -> tuple[object, dict[str, str]]:
        """(the value with its secrets replaced by the placeholder, {"section.field": secret})."""
        if name not in SECRET_PATHS or not isinstance(value, dict):
            return value, {}
        clear: dict[str, Any] = copy.deepcopy(value)
        secrets: dict[str, str] = {}
        for section, field, _uri in SECRET_PATHS[name]:
            part = clear.get(section)
            if not isinstance(part, dict) or not isinstance(part.get(field), str) or not part[field]:
                continue
            if _is_stand_in(part[field]):
                raise ValueError(f"{section}.{field} is the stand-in of a value that cannot be decrypted here "
                                 f"({part[field]}): give the real value")
            secrets[f"{section}.{field}"] = part[field]
            part[field] = PLACEHOLDER
        return clear, secrets

    @api("saving a setting")
    def set_setting(self, key: str, value: object) -> None:
        """As ``SettingsMixin.set_setting``, the secret parts sealed in an encrypted database
        (DataLockedError while locked: saving them needs the data key)."""
        name = required_text(key, "setting key")
        if name not in SECRET_PATHS:
            super().set_setting(name, value)
            return
        keys = self._sealing_keys()
        clear: object = value
        secrets: dict[str, str] = {}
        if keys is not None:  # not encrypted: stored as before
            clear, secrets = self._split_secrets(name, value)
        row = name + SEALED_SUFFIX
        with self.transaction():
            super().set_setting(name, clear)
            if secrets and keys is not None:
                blob = keys.seal(SealedField.SETTINGS_SECRETS, row, json.dumps(secrets).encode("utf-8"))
                self.db.execute(
                    "INSERT INTO settings (key, value_json, updated_at) VALUES (?, ?, ?)"
                    " ON CONFLICT (key) DO UPDATE SET value_json = excluded.value_json,"
                    " updated_at = excluded.updated_at", (row, blob, times.now_db()))
            else:
                self.db.execute("DELETE FROM settings WHERE key = ?", (row,))

    @api("reading a setting")
    def get_setting(self, key: str, default: object = None) -> object:
        """As ``SettingsMixin.get_setting``, the secret parts decrypted (``sealed:<why>`` for a URI
        that cannot be: module docstring)."""
        name = required_text(key, "setting key")
        value = super().get_setting(name, default)
        if name not in SECRET_PATHS or not isinstance(value, dict):
            return value
        secrets: dict[str, str] = {}
        why = "its encrypted value is missing from the database"
        try:
            row = self.db.execute("SELECT value_json FROM settings WHERE key = ?",
                                  (name + SEALED_SUFFIX,)).fetchone()
            if row is not None:
                stored = row[0] if isinstance(row[0], bytes) else str(row[0]).encode("utf-8")
                plain = self._unseal(SealedField.SETTINGS_SECRETS, name + SEALED_SUFFIX, stored,
                                     f"the secrets of setting {name!r}")
                loaded = json.loads(plain.decode("utf-8"))
                if not isinstance(loaded, dict):
                    raise DataDamagedError(f"the secrets of setting {name!r} are not an object")
                secrets = {str(k): str(v) for k, v in loaded.items()}
        except (DataLockedError, DataDamagedError, ValueError) as exc:
            why = str(exc)
        for section, field, uri in SECRET_PATHS[name]:
            part = value.get(section)
            if not isinstance(part, dict):
                continue
            if f"{section}.{field}" in secrets:
                part[field] = secrets[f"{section}.{field}"]
            elif _is_stand_in(part.get(field)):
                part[field] = sealed_uri(why) if uri else ""
        return value

    @api("resetting a setting")
    def reset_setting(self, key: str, actor: str, reason: str) -> bool:
        """As ``SettingsMixin.reset_setting``; the sealed secrets go too."""
        name = required_text(key, "setting key")
        with self.transaction():
            self.db.execute("DELETE FROM settings WHERE key = ?", (name + SEALED_SUFFIX,))
            return super().reset_setting(name, actor, reason)

    def _seal_clear_values(self) -> None:
        """Also seal the settings' secrets an earlier version stored in clear, then vacuum."""
        super()._seal_clear_values()
        try:
            sealed = 0
            with self.transaction():
                for name, paths in SECRET_PATHS.items():
                    value = SettingsMixin.get_setting(self, name)
                    if not isinstance(value, dict):
                        continue
                    clear = [p for p in paths if isinstance(value.get(p[0]), dict)
                             and isinstance(value[p[0]].get(p[1]), str) and value[p[0]][p[1]]
                             and not _is_stand_in(value[p[0]][p[1]])]
                    if clear:
                        self.set_setting(name, self.get_setting(name))
                        sealed += len(clear)
                if sealed:
                    self._insert_audit("facegate", "keys.encrypt_settings_secrets", {"values": sealed})
            if sealed:
                with self._lock:
                    self._checkpoint()
                    self.db.conn.execute("VACUUM")
                    self._checkpoint()
        except (StorageError, sqlite3.Error, DataDamagedError, ValueError) as exc:  # retried at the next start
            log.warning("Encrypting the settings' secrets of %s is not finished (%s); FaceGate resumes at the next "
                        "start.", self.path, exc)
