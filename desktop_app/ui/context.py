"""What every screen of the app shares: the core, the job pool, the camera worker, the admin lock,
and a hub of change notifications (so pages refresh when another page changed the data)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal

from desktop_app.core.accounts import Action
from desktop_app.core.service import FaceGate

from .capture import CaptureController
from .jobs import JobRunner
from .session import Session


class ChangeHub(QObject):
    """people_changed: people/samples added, edited or erased (the gallery changed with them);
    events_changed: new events logged; settings_changed: configuration saved; model_changed: another
    embedding model became active (retrain deployed, roll back), with its gallery and threshold."""

    people_changed = Signal()
    events_changed = Signal()
    settings_changed = Signal()
    model_changed = Signal()


@dataclass
class AppContext:
    """gate: the core; jobs: the QThreadPool runner; capture: the camera worker; lock: the session
    (account logged in, or the legacy PIN lock); require_admin(words): True when an admin may go on,
    asking to log in (or for the PIN) when needed; hub: change notifications;
    require(action, words): the same for one action of the permission matrix (None: admin only)."""

    gate: FaceGate
    jobs: JobRunner
    capture: CaptureController
    lock: Session
    require_admin: Callable[[str], bool]
    hub: ChangeHub
    require: Callable[[Action | None, str], bool]

    @property
    def actor(self) -> str:
        """The name the audit log gets for what this session does (the account's, or "admin")."""
        return self.lock.actor
