"""``sealed:<why>``: the stand-in output of a door whose output URI and secret cannot be decrypted
here (the data is locked on this computer, or the stored value is damaged; see
``storage.doors``). It is always down, with the reason as its detail, so the door shows a fault
(and holds its fail mode) instead of crashing or being driven without its credentials. The store
never saves it: ``storage.doors.check_output`` refuses the scheme."""

from __future__ import annotations

from typing import Final

from desktop_app.core.outputs.base import DoorMessage, DoorOutput, OutputHealth, OutputStatus

#: The scheme of the stand-in.
SEALED_SCHEME: Final[str] = "sealed"


def sealed_uri(why: str) -> str:
    """The stand-in output URI for a door whose values cannot be decrypted: ``sealed:<why>`` (one line)."""
    return f"{SEALED_SCHEME}:" + " ".join(why.split())


class SealedOutput(DoorOutput):
    """Sends nothing; always :attr:`OutputStatus.DOWN` with the reason the output is unavailable."""

    scheme = SEALED_SCHEME

    def send(self, message: DoorMessage) -> None:
        """Dropped: the real output cannot be opened here."""

    def health(self) -> OutputHealth:
        why = self.uri.split(":", 1)[1].strip() or "its stored value cannot be decrypted here"
        return OutputHealth(OutputStatus.DOWN, f"this output and its secret are encrypted and cannot be opened: "
                                               f"{why}")
