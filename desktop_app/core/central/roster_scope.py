"""Which part of the central roster a door holds: the people in a group permitted at its doors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg


def permitted_groups(conn: psycopg.Connection[Any], doors: Sequence[str]) -> list[str]:
    """The names of the groups with a permission at one of ``doors`` (door names in any case), sorted."""
    return sorted(str(r[0]) for r in conn.execute(
        "SELECT body->>'name' FROM roster WHERE kind = 'group' AND NOT deleted AND EXISTS"
        " (SELECT 1 FROM jsonb_array_elements(body->'permissions') p"
        "  WHERE lower(p->>'door') = ANY(%s))", ([d.casefold() for d in doors],)))
