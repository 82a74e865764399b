"""Access rules: who may pass which door, and when (groups, schedules, validity, permissions)."""
