"""What ``facegate keys status`` says: how a database's face data is protected, and where its keys are."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from desktop_app.core.protection.wraps import ProtectionState

#: The name of the recovery code's wrap of the data key (not an account name: those have no spaces).
RECOVERY_WRAP: Final[str] = "recovery code"


@dataclass(frozen=True)
class ProtectionStatus:
    """The protection of one database's face data.

    state: how far the data is encrypted; locked: the data key could not be unwrapped here (then
    ``message`` says why and how to unlock); message: also set when the data is not encrypted and
    why; key_store / key_location: where this computer keeps (or would keep) the machine key;
    machine_key_id: the id of the machine key that wraps the current data key (None: none here);
    password_accounts: accounts whose password also unwraps it; data_key_ids / current_key_id:
    the data keys in use (two while ``rekey_data`` runs); plain_values: stored values not
    encrypted yet (or not by the current key); recovery_code: the accounts' recovery code also
    unwraps it (its wrap is named :data:`RECOVERY_WRAP`).
    """

    state: ProtectionState
    database_uid: str
    locked: bool
    message: str | None
    key_store: str
    key_location: str
    machine_key_id: str | None
    password_accounts: tuple[str, ...]
    data_key_ids: tuple[int, ...]
    current_key_id: int | None
    plain_values: int
    recovery_code: bool = False

    @property
    def encrypted(self) -> bool:
        """True when new face data is written encrypted."""
        return self.current_key_id is not None

    def lines(self) -> list[str]:
        """The status in a few lines for people."""
        if self.locked:
            head = "locked: the face data cannot be decrypted on this computer"
        elif not self.encrypted:
            head = "NOT encrypted"
        elif self.state == ProtectionState.SEALED:
            head = "encrypted (AES-256-GCM)"
        else:
            head = f"encrypted (AES-256-GCM); finishing: {self.state.value}"
        out = [f"face data:     {head}"]
        if self.encrypted:
            out.append(f"data key:      {self.current_key_id}" + (
                f" (also {', '.join(str(k) for k in self.data_key_ids if k != self.current_key_id)}: re-keying)"
                if len(self.data_key_ids) > 1 else ""))
            mk = self.machine_key_id or "none on this computer"
            out.append(f"machine key:   {mk}, kept in {self.key_location}")
            out.append("password wrap: " + (", ".join(self.password_accounts) if self.password_accounts else
                                            "none (set one: facegate protect --db DB --password-stdin)"))
            if self.recovery_code:
                out.append("recovery code: also unwraps it (facegate account recover)")
        if self.plain_values:
            out.append(f"not yet encrypted: {self.plain_values} value(s)")
        if self.message:
            out.append(self.message)
        return out
