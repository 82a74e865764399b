"""Application settings: JSON values by key."""

from __future__ import annotations

from desktop_app.core.storage import codecs, times
from desktop_app.core.storage.base import StoreBase, api
from desktop_app.core.storage.validate import required_text


class SettingsMixin(StoreBase):
    """Settings methods of ``Store``."""

    @api("reading a setting")
    def get_setting(self, key: str, default: object = None) -> object:
        """The value stored under ``key`` (as JSON gives it back: tuples become lists), or ``default``."""
        name = required_text(key, "setting key")
        row = self.db.execute("SELECT value_json FROM settings WHERE key = ?", (name,)).fetchone()
        return default if row is None else codecs.from_json(str(row[0]))

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
