"""Application settings: JSON values by key."""

from __future__ import annotations

from desktop_app.core.errors import StorageError
from desktop_app.core.storage import codecs, times
from desktop_app.core.storage.base import api
from desktop_app.core.storage.quarantine import QuarantinedRow, QuarantineMixin
from desktop_app.core.storage.validate import required_text


class SettingsMixin(QuarantineMixin):
    """Settings methods of ``Store``."""

    @api("reading a setting")
    def get_setting(self, key: str, default: object = None) -> object:
        """The value stored under ``key`` (as JSON gives it back: tuples become lists), or ``default``.

        A stored value that is not valid JSON gives ``default`` too, with a warning, and the key is
        listed in ``quarantine`` (``has_setting`` still says True: a damaged PIN record must not
        read as "no PIN set").
        """
        name = required_text(key, "setting key")
        row = self.db.execute("SELECT value_json FROM settings WHERE key = ?", (name,)).fetchone()
        if row is None:
            return default
        try:
            value = codecs.from_json(str(row[0]))
        except StorageError as exc:
            self._add_quarantine([QuarantinedRow(table="settings", row_id=name, scope="", reason=str(exc),
                                                 subject=f"setting {name!r}")])
            return default
        self._release_quarantine("settings", "", name)
        return value

    @api("reading a setting")
    def has_setting(self, key: str) -> bool:
        """True when a row is stored under ``key``, even a damaged one."""
        name = required_text(key, "setting key")
        return self.db.execute("SELECT 1 FROM settings WHERE key = ?", (name,)).fetchone() is not None

    @api("saving a setting")
    def set_setting(self, key: str, value: object) -> None:
        """Store a JSON-able value (numpy numbers allowed) under ``key``; ValueError otherwise."""
        name = required_text(key, "setting key")
        text = codecs.to_json(value, f"setting {name!r}")
        with self.transaction():
            self.db.execute(
                "INSERT INTO settings (key, value_json, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value_json = excluded.value_json,"
                " updated_at = excluded.updated_at",
                (name, text, times.now_db()),
            )
        self._release_quarantine("settings", "", name)

    @api("resetting a setting")
    def reset_setting(self, key: str, actor: str, reason: str) -> bool:
        """Delete the row of ``key`` so that its default applies again, audited as "settings.reset"
        by ``actor`` with ``reason``; False when there was no such row."""
        name = required_text(key, "setting key")
        who = required_text(actor, "actor")
        with self.transaction():
            gone = self.db.execute("DELETE FROM settings WHERE key = ?", (name,)).rowcount == 1
            if gone:
                self._insert_audit(who, "settings.reset", {"key": name, "reason": str(reason)})
        self._release_quarantine("settings", "", name)
        return gone
