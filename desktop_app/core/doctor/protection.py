"""The doctor's checks of how the data is protected: who may read FaceGate's files (modes),
whether the audit log's hash chain is intact, and whether the face data is encrypted and can be
decrypted here."""

from __future__ import annotations

from desktop_app.core.doctor.context import DoctorContext
from desktop_app.core.doctor.report import Check, Finding, Severity
from desktop_app.core.file_modes import fix_command, mode_problems
from desktop_app.core.protection.wraps import ProtectionState


def check_file_modes(ctx: DoctorContext) -> list[Finding]:
    """FaceGate's files and folders that group or other users may reach (``file_modes``): one
    warning each, with the chmod command. Repair: their group and other permissions are removed
    (files 0600, folders 0700 for the usual 0644 / 0755)."""
    db_path = ctx.store.path
    problems = mode_problems(db_path)
    if not problems:
        return [Finding(Check.FILE_MODES, Severity.INFO, str(ctx.data_dir),
                        "FaceGate's files are readable by this user only")]
    out: list[Finding] = []
    for p in problems:
        command = fix_command([p], db_path)
        what = "folder" if p.is_dir else "file"
        text = f"mode {p.mode:04o}: other users of this computer can reach this {what} of FaceGate's data (face data)"
        if command:
            ctx.plan.fix_modes.append(p)
            out.append(Finding(Check.FILE_MODES, Severity.WARNING, str(p.path),
                               f"{text}; --repair removes their access (or run: {command})", True))
        else:  # /tmp, the home folder: not ours to lock
            out.append(Finding(Check.FILE_MODES, Severity.WARNING, str(p.path),
                               f"{text}; it is a shared folder: keep the database in a folder of its own "
                               "(e.g. ~/.local/share/facegate)"))
    return out


def check_audit_chain(ctx: DoctorContext) -> list[Finding]:
    """The audit log's hash chain and its head (``Store.verify_audit``). Not repairable: a broken
    chain is evidence to keep (restore the database from a backup if it was damaged by accident)."""
    result = ctx.store.verify_audit()
    out = [Finding(Check.AUDIT, Severity.INFO, "audit log", line) for line in result.warnings]
    if result.intact:
        head = f"; head {result.head_id}:{result.head_hash}" if result.head_id is not None else ""
        out.append(Finding(Check.AUDIT, Severity.INFO, "audit log", f"{result.summary()}{head}"))
        return out
    where = f"row {result.broken_id}" if result.broken_id is not None else "audit log"
    out.append(Finding(Check.AUDIT, Severity.ERROR, where,
                       f"the audit log's hash chain is broken: {result.problem} ({result.checked} row(s) before it "
                       "are intact); keep a copy of the file as evidence, and run `facegate audit verify` for details"))
    return out


def check_encryption(ctx: DoctorContext) -> list[Finding]:
    """The face data is encrypted (``desktop_app.core.protection``) and its data key unwraps here.
    Locked (machine key missing): an error saying how to unlock. Not encrypted, or encryption not
    finished: a warning (FaceGate finishes it at its next start). Not repairable here."""
    status = ctx.store.protection_status()
    subject = "face data"
    if status.locked:
        return [Finding(Check.ENCRYPTION, Severity.ERROR, subject, status.message or "locked")]
    if not status.encrypted:
        return [Finding(Check.ENCRYPTION, Severity.WARNING, subject,
                        status.message or "not encrypted: FaceGate encrypts it at its next start")]
    if status.state != ProtectionState.SEALED or status.plain_values:
        return [Finding(Check.ENCRYPTION, Severity.WARNING, subject,
                        f"encryption not finished ({status.state.value}, {status.plain_values} value(s) not encrypted "
                        "with the current key): FaceGate finishes it at its next start")]
    where = f"machine key {status.machine_key_id} in {status.key_location}"
    pw = ", ".join(status.password_accounts) or "none (set one: facegate protect)"
    return [Finding(Check.ENCRYPTION, Severity.INFO, subject,
                    f"encrypted (AES-256-GCM, data key {status.current_key_id}; {where}; password wrap: {pw})")]
