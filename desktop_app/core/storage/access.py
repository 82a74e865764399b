"""Access rules as stored: schedules, groups and their members, permissions (group x door x
schedule), and each person's validity period.

Names of schedules and groups are unique ignoring case (ASCII). A permission without a schedule
allows always (:data:`~desktop_app.core.access.schedule.ALWAYS`). A schedule in use by a
permission cannot be deleted; deleting a group or a door deletes its permissions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from types import EllipsisType
from typing import Any

from desktop_app.core.access.model import Group, Permission, PersonAccess
from desktop_app.core.access.schedule import ALWAYS, Schedule
from desktop_app.core.errors import InputError
from desktop_app.core.storage import times
from desktop_app.core.storage.base import api
from desktop_app.core.storage.people import PeopleMixin
from desktop_app.core.storage.validate import as_int, clean_text, required_text


def _schedule_from_row(row: Mapping[str, Any]) -> Schedule:
    days = json.loads(str(row["holidays"] or "[]"))
    return Schedule(name=str(row["name"]), text=str(row["text"]),
                    holidays=frozenset(date.fromisoformat(str(d)) for d in days),
                    timezone=str(row["timezone"] or "local"))


def _day_or_none(value: object, what: str) -> date | None:
    """A validity day: a ``date`` (not a datetime), or None for no limit; ValueError otherwise."""
    if value is None:
        return None
    if isinstance(value, datetime) or not isinstance(value, date):
        raise ValueError(f"{what} must be a date (YYYY-MM-DD) or None, got {value!r}")
    return value


def _stored_day(text: object) -> date | None:
    return None if text is None else date.fromisoformat(str(text))


class AccessMixin(PeopleMixin):
    """Schedule, group, permission and person-access methods of ``Store``."""

    # ------------------------------------------------------------------ look-ups
    def _named_id(self, table: str, name: str, what: str) -> int:
        """Id of the row of ``table`` called ``name`` (any case); InputError listing the names."""
        row = self.db.execute(f"SELECT id FROM {table} WHERE name = ? COLLATE NOCASE",
                              (required_text(name, f"{what} name"),)).fetchone()
        if row is not None:
            return int(row[0])
        names = [str(r[0]) for r in self.db.execute(f"SELECT name FROM {table} ORDER BY name COLLATE NOCASE")]
        known = f"{what}s: {', '.join(names)}" if names else f"no {what} exists yet"
        raise InputError(f"There is no {what} named {name!r}; {known}.")

    # ------------------------------------------------------------------ schedules
    @api("saving a schedule")
    def save_schedule(self, schedule: Schedule) -> Schedule:
        """Insert the schedule, or replace the one of the same name (any case); returns it as
        stored. Permissions that use it follow the new windows at once."""
        if not isinstance(schedule, Schedule):
            raise ValueError(f"expected a Schedule, got {type(schedule).__name__}")
        name = required_text(schedule.name, "schedule name")
        holidays = json.dumps(sorted(d.isoformat() for d in schedule.holidays))
        with self.transaction():
            self.db.execute(
                "INSERT INTO schedules (name, text, holidays, timezone, updated_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET name = excluded.name, text = excluded.text,"
                " holidays = excluded.holidays, timezone = excluded.timezone, updated_at = excluded.updated_at",
                (name, schedule.text.strip(), holidays, schedule.timezone.strip() or "local", times.now_db()))
            got = self.get_schedule(name)
            assert got is not None
            return got

    @api("reading schedules")
    def list_schedules(self) -> list[Schedule]:
        """Every stored schedule, by name."""
        return [_schedule_from_row(r) for r in self.db.query("SELECT * FROM schedules ORDER BY name COLLATE NOCASE")]

    @api("reading a schedule")
    def get_schedule(self, name: str) -> Schedule | None:
        """The schedule of this name (any case), or None."""
        rows = list(self.db.query("SELECT * FROM schedules WHERE name = ? COLLATE NOCASE",
                                  [required_text(name, "schedule name")]))
        return _schedule_from_row(rows[0]) if rows else None

    @api("deleting a schedule")
    def delete_schedule(self, name: str) -> None:
        """Delete a schedule. InputError when there is none of that name, or while a permission uses
        it (the message says which group at which door)."""
        with self.transaction():
            sid = self._named_id("schedules", name, "schedule")
            users = self.db.execute(
                "SELECT g.name, d.name FROM permissions p JOIN groups g ON g.id = p.group_id"
                " JOIN doors d ON d.id = p.door_id WHERE p.schedule_id = ? ORDER BY g.name, d.name", (sid,)).fetchall()
            if users:
                used = ", ".join(f"group {g!r} at door {d!r}" for g, d in users)
                raise InputError(f"The schedule {name!r} is in use ({used}): give those permissions another "
                                 "schedule, or remove them, first.")
            self.db.execute("DELETE FROM schedules WHERE id = ?", (sid,))

    # ------------------------------------------------------------------ groups
    @api("saving a group")
    def save_group(self, group: Group) -> Group:
        """Insert the group, or update the description of the one of the same name (any case)."""
        if not isinstance(group, Group):
            raise ValueError(f"expected a Group, got {type(group).__name__}")
        description = clean_text(group.description, "group description", required=False) or ""
        with self.transaction():
            self.db.execute(
                "INSERT INTO groups (name, description, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET name = excluded.name, description = excluded.description,"
                " updated_at = excluded.updated_at",
                (group.name, description, times.now_db()))
            return Group(group.name, description)

    @api("reading groups")
    def list_groups(self) -> list[Group]:
        """Every group, by name."""
        return [Group(str(r[0]), str(r[1] or "")) for r in
                self.db.execute("SELECT name, description FROM groups ORDER BY name COLLATE NOCASE")]

    @api("deleting a group")
    def delete_group(self, name: str) -> None:
        """Delete a group, its memberships and its permissions; InputError when there is none."""
        with self.transaction():
            gid = self._named_id("groups", name, "group")
            self.db.execute("DELETE FROM groups WHERE id = ?", (gid,))

    # ------------------------------------------------------------------ permissions
    @api("setting permissions")
    def set_permissions(self, group: str, doors: Sequence[str], schedule: str | None = None) -> list[Permission]:
        """Make ``doors`` (names) the doors ``group`` may pass, when ``schedule`` (a stored
        schedule's name; None: always) allows; the group's other permissions are removed. Returns
        the group's permissions now. InputError for an unknown group, door or schedule."""
        if isinstance(doors, str):
            raise ValueError("doors must be a list of door names, not one string")
        with self.transaction():
            gid = self._named_id("groups", group, "group")
            sid = None if schedule is None else self._named_id("schedules", schedule, "schedule")
            door_ids = sorted({self._named_id("doors", d, "door") for d in doors})
            self.db.execute("DELETE FROM permissions WHERE group_id = ?", (gid,))
            for did in door_ids:
                self.db.execute("INSERT INTO permissions (group_id, door_id, schedule_id) VALUES (?, ?, ?)",
                                (gid, did, sid))
            return self._permissions("WHERE p.group_id = ?", [gid])

    def _permissions(self, where: str = "", params: Sequence[object] = ()) -> list[Permission]:
        rows = self.db.query(
            "SELECT g.name AS group_name, d.name AS door_name, s.name, s.text, s.holidays, s.timezone"
            " FROM permissions p JOIN groups g ON g.id = p.group_id JOIN doors d ON d.id = p.door_id"
            f" LEFT JOIN schedules s ON s.id = p.schedule_id {where}"
            " ORDER BY g.name COLLATE NOCASE, d.name COLLATE NOCASE", list(params))
        return [Permission(group=str(r["group_name"]), door=str(r["door_name"]),
                           schedule=ALWAYS if r["name"] is None else _schedule_from_row(r)) for r in rows]

    @api("reading permissions")
    def list_permissions(self) -> list[Permission]:
        """Every permission (group x door x schedule), by group then door."""
        return self._permissions()

    # ------------------------------------------------------------------ people's access
    @api("setting a person's access")
    def set_person_access(
        self,
        person_id: int,
        *,
        groups: Sequence[str] | EllipsisType = ...,
        valid_from: date | EllipsisType | None = ...,
        valid_until: date | EllipsisType | None = ...,
        active: bool | EllipsisType = ...,
        employee_id: str | EllipsisType | None = ...,
    ) -> PersonAccess:
        """Change what the access rules know of a person (``...`` leaves a field as is): the
        groups they belong to (replaced; names, any case), the first and last day of their
        validity (None: no limit), active, employee ID. Returns the person's access now.
        StorageError when the person does not exist or the employee ID is taken; InputError for
        an unknown group; ValueError when the validity would end before it starts."""
        pid = as_int(person_id, "person_id")
        if isinstance(groups, str):
            raise ValueError("groups must be a list of group names, not one string")
        dates: dict[str, date | None] = {}
        if not isinstance(valid_from, EllipsisType):
            dates["valid_from"] = _day_or_none(valid_from, "valid_from")
        if not isinstance(valid_until, EllipsisType):
            dates["valid_until"] = _day_or_none(valid_until, "valid_until")
        with self.transaction():
            self._require_person(pid)
            if not isinstance(active, EllipsisType) or not isinstance(employee_id, EllipsisType):
                self.update_person(pid, active=active, employee_id=employee_id)
            if dates:
                self.db.execute(
                    "UPDATE people SET " + ", ".join(f"{k} = ?" for k in dates) + ", updated_at = ? WHERE id = ?",
                    (*[None if d is None else d.isoformat() for d in dates.values()], times.now_db(), pid))
            if not isinstance(groups, EllipsisType):
                ids = sorted({self._named_id("groups", g, "group") for g in groups})
                self.db.execute("DELETE FROM person_groups WHERE person_id = ?", (pid,))
                for gid in ids:
                    self.db.execute("INSERT INTO person_groups (person_id, group_id) VALUES (?, ?)", (pid, gid))
            found = self._people_access("WHERE p.id = ?", [pid])  # checks the validity order
            return found[0]

    def _people_access(self, where: str = "", params: Sequence[object] = ()) -> list[PersonAccess]:
        members: dict[int, set[str]] = {}
        for person, group in self.db.execute(
                "SELECT pg.person_id, g.name FROM person_groups pg JOIN groups g ON g.id = pg.group_id"):
            members.setdefault(int(person), set()).add(str(group))
        rows = self.db.query("SELECT p.id, p.name, p.active, p.employee_id, p.valid_from, p.valid_until"
                             f" FROM people p {where} ORDER BY p.name_key, p.id", list(params))
        return [PersonAccess(person_id=int(r["id"]), name=str(r["name"]), active=bool(r["active"]),
                             employee_id=r["employee_id"], valid_from=_stored_day(r["valid_from"]),
                             valid_until=_stored_day(r["valid_until"]),
                             groups=frozenset(members.get(int(r["id"]), ()))) for r in rows]

    @api("reading a person's access")
    def person_access(self, person_id: int) -> PersonAccess | None:
        """What the access rules know of a person (groups, validity, active), or None."""
        found = self._people_access("WHERE p.id = ?", [as_int(person_id, "person_id")])
        return found[0] if found else None

    @api("reading people's access")
    def people_access(self) -> list[PersonAccess]:
        """What the access rules know of every person, by name."""
        return self._people_access()
