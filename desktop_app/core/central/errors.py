"""Errors of the central server; every message is meant to be shown as is (one line)."""

from __future__ import annotations

from desktop_app.core.errors import FaceGateError


class CentralError(FaceGateError):
    """The central server refused or failed a request (not initialised, wrong site key, ...)."""


class CentralUnavailable(CentralError):
    """The central server cannot be reached now (down, network cut, wrong address): a door keeps
    working on its local copy and retries."""
