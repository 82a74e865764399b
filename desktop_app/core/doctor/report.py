"""What ``facegate doctor`` found and did: frozen records, with a text and a JSON form."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class Severity(StrEnum):
    """How bad a finding is: ``info`` is not a problem; ``warning`` and ``error`` are."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class Check(StrEnum):
    """The checks the doctor runs, in order."""

    FILE = "file"  # the database file exists, is not empty, opens
    INTEGRITY = "integrity"  # PRAGMA integrity_check
    SETTINGS = "settings"  # every settings row decodes and is valid for its key
    CALIBRATIONS = "calibrations"  # every calibration row decodes and holds finite numbers
    MODEL = "model"  # the active model's file exists and matches its sha256
    TEMPLATES = "templates"  # templates are sound and match a re-embedding of their face crop
    MISSING_TEMPLATES = "missing-templates"  # samples without a template for the active model
    CROPS = "crops"  # stored face crops decode
    STRANGERS = "strangers"  # stranger-pool vectors are sound
    STALE_FILES = "stale-files"  # temporary files of dead processes, out-of-date gallery indexes
    FILE_MODES = "file-modes"  # FaceGate's files and folders are this user's only (0600 / 0700)
    AUDIT = "audit"  # the audit log's hash chain is intact
    ENCRYPTION = "encryption"  # the face data is encrypted and its key can be unwrapped here


@dataclass(frozen=True)
class Finding:
    """One thing a check found.

    check: which check; severity: info / warning / error; subject: what it concerns, for a person
    ("sample 5 of 'Lin'", "setting 'config'", a file path); message: what is wrong and what to do;
    repairable: ``--repair`` can fix it.
    """

    check: Check
    severity: Severity
    subject: str
    message: str
    repairable: bool = False

    @property
    def problem(self) -> bool:
        return self.severity != Severity.INFO

    def line(self) -> str:
        fix = " [repairable]" if self.repairable and self.problem else ""
        return f"{self.severity.upper():7s} {self.check}: {self.subject}: {self.message}{fix}"

    def to_dict(self) -> dict[str, object]:
        return {"check": str(self.check), "severity": str(self.severity), "subject": self.subject,
                "message": self.message, "repairable": self.repairable}


@dataclass(frozen=True)
class DoctorReport:
    """The outcome of one doctor run.

    findings: what the checks found first; repairs: what ``--repair`` did, one sentence each (empty
    without it); remaining: what the checks found after the repairs (the same as ``findings`` when
    nothing was repaired). Healthy when nothing in ``remaining`` is a problem.
    """

    db_path: Path
    findings: tuple[Finding, ...]
    repairs: tuple[str, ...] = ()
    remaining: tuple[Finding, ...] | None = None
    repair_requested: bool = False

    @property
    def after(self) -> tuple[Finding, ...]:
        """Findings that still hold (after repairs, when any)."""
        return self.findings if self.remaining is None else self.remaining

    @property
    def problems(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.after if f.problem)

    @property
    def healthy(self) -> bool:
        return not self.problems

    @property
    def exit_code(self) -> int:
        """0 when healthy (or repaired), 1 when problems remain."""
        return 0 if self.healthy else 1

    def lines(self) -> list[str]:
        """The report as text lines for a person."""
        out = [f"FaceGate doctor: {self.db_path}"]
        shown = self.findings
        out += [f.line() for f in shown] or ["no findings"]
        if self.repair_requested:
            out.append("Repairs:" if self.repairs else "Repairs: nothing to repair")
            out += [f"  - {r}" for r in self.repairs]
            if self.remaining is not None:
                left = [f.line() for f in self.remaining if f.problem]
                if left:
                    out.append("Still wrong after the repairs:")
                    out += [f"  {line}" for line in left]
        if self.healthy:
            out.append("Healthy." if not self.repairs else "Healthy after the repairs.")
        else:
            n = len(self.problems)
            can = sum(1 for f in self.problems if f.repairable)
            hint = (f" ({can} repairable: run again with --repair)" if can and not self.repair_requested else "")
            out.append(f"{n} problem(s) remain{hint}.")
        return out

    def to_dict(self) -> dict[str, object]:
        """JSON-able form (``--json``)."""
        return {
            "db": str(self.db_path),
            "healthy": self.healthy,
            "findings": [f.to_dict() for f in self.findings],
            "repairs": list(self.repairs),
            "remaining": [f.to_dict() for f in self.after],
        }
