"""Named accounts with roles (issue 12): who may do what, in the app and on the command line.

- ``roles``: :class:`Role`, :class:`Action` and the permission matrix;
- ``policy``: what makes a new password or PIN acceptable;
- ``hashing``: argon2id hashes of passwords and recovery codes;
- ``lockout``: back-off and lock-out after wrong passwords (stored, so they survive restarts);
- ``records``: :class:`Account`, :class:`AccountsState`, :class:`NotAuthorisedError`...;
- ``book``: :class:`AccountBook`, the rules over one database (history in the audit log, failing
  closed when the table was altered, recovery).

No Qt here; ``FaceGate`` exposes the use-cases.
"""

from desktop_app.core.accounts.records import (
    Account,
    AccountsMode,
    AccountsState,
    NotAuthorisedError,
    PasswordChange,
    Refusal,
)
from desktop_app.core.accounts.roles import Action, Role, allows

__all__ = ["Account", "AccountsMode", "AccountsState", "Action", "NotAuthorisedError", "PasswordChange", "Refusal",
           "Role", "allows"]
