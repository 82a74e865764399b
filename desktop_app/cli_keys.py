"""``facegate unlock | protect | keys``: the keys that encrypt the face data at rest.

    facegate keys status --db DB [--json]       is the face data encrypted, where is the machine key
    facegate protect --db DB --password-stdin [--account NAME]
                                                the admin password also unwraps the data key
    facegate unlock --db DB --password-stdin    on a new computer: unlock with that password; the
                                                door starts by itself again afterwards
    facegate keys rotate --db DB                a new machine key (nothing re-encrypted)
    facegate keys rekey --db DB [--password-stdin] [--account NAME]
                                                a new data key: every value re-encrypted

Passwords are read from the first line of standard input with ``--password-stdin`` (never from
the command line, where other users could see them); without it, from the terminal when there
is one. Every change goes through the ``FaceGate`` facade and is audited with the actor: the
account logged in, else "cli". Once the database has accounts (``cli_auth.RULES``): ``keys status``
needs an account (a viewer's right), ``protect``, ``keys rotate`` and ``keys rekey`` an admin's
(``--account``, its password the first line of ``--password-stdin``; rekey wraps the new data key
with that same password); ``unlock`` needs none: the password it reads is the credential.
User errors (wrong password, no database, a password too short) are one line on stderr and exit
status 2 (see ``cli.main``); ``keys status`` exits 1 when the face data is locked or not encrypted.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from desktop_app.core.errors import InputError
from desktop_app.core.protection.status import RECOVERY_WRAP

from .cli_auth import PASSWORD_ATTR, actor_of
from .paths import default_db

if TYPE_CHECKING:
    from desktop_app.core.service import FaceGate

EXAMPLES = """\
examples:
  printf '%s\\n' "$ADMIN_PASSWORD" | facegate protect --db site.db --password-stdin
  facegate keys status --db site.db
  printf '%s\\n' "$ADMIN_PASSWORD" | facegate unlock --db /mnt/moved/site.db --password-stdin
  facegate keys rotate --db site.db
"""


def _db_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", type=Path, default=None, help=f"database file (default {default_db()})")


def _stdin_arg(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--password-stdin", action="store_true", help=f"read {what} from the first line of standard input")


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the unlock, protect and keys commands to the ``facegate`` parser."""
    p = sub.add_parser("unlock", help="unlock encrypted face data whose machine key is missing (moved here)",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    _db_arg(p)
    _stdin_arg(p, "the password")
    p = sub.add_parser("protect", help="let a password also unlock the face data (on another computer)",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    _db_arg(p)
    _stdin_arg(p, "the password")
    p.add_argument("--account", default="admin", help="whose password it is (default admin); replaces theirs")
    keys = sub.add_parser("keys", help="the keys that encrypt the face data: status, rotate, rekey",
                          epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    ks = keys.add_subparsers(dest="keys_command", required=True, metavar="{status,rotate,rekey}")
    p = ks.add_parser("status", help="is the face data encrypted, and where is its machine key",
                      epilog="Exit status 0: encrypted and unlocked; 1: locked or not encrypted.")
    _db_arg(p)
    p.add_argument("--json", action="store_true", help="print the status as JSON")
    p = ks.add_parser("rotate", help="replace the machine key (the data key is re-wrapped, nothing re-encrypted)")
    _db_arg(p)
    p = ks.add_parser("rekey", help="replace the data key and re-encrypt every value with it")
    _db_arg(p)
    _stdin_arg(p, "the account's password (it then wraps the new key too)")
    p.add_argument("--account", default="admin", help="whose password --password-stdin gives (default admin)")


def _open(args: argparse.Namespace) -> FaceGate:
    """The FaceGate of ``--db``, opened even when its face data is locked; InputError when the
    database does not exist (these commands never create one)."""
    from desktop_app.core.service import FaceGate

    db = Path(args.db or default_db())
    if not db.is_file():
        raise InputError(f"There is no database at {db}.")
    return FaceGate(db, allow_locked=True)


def read_password(args: argparse.Namespace, prompt: str = "Password: ", confirm: bool = False) -> str:
    """The password: the first line of standard input with ``--password-stdin``, else asked on
    the terminal (twice with ``confirm``); InputError when neither is possible or it is empty."""
    if getattr(args, "password_stdin", False):
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        password = password[:-1] if password.endswith("\r") else password
    elif sys.stdin.isatty():
        password = getpass.getpass(prompt)
        if confirm and getpass.getpass("Again: ") != password:
            raise InputError("The two passwords differ; nothing was changed.")
    else:
        raise InputError("Give the password on standard input with --password-stdin.")
    if not password:
        raise InputError("The password is empty.")
    return password


def cmd_unlock(args: argparse.Namespace) -> int:
    password = read_password(args)
    with _open(args) as gate:
        if gate.unlock_with_password(password, actor=actor_of(args)):
            status = gate.key_status()
            print(f"Unlocked: the face data of {gate.db_path} opens on this computer; a new machine key is kept in "
                  f"{status.key_location}, so the door starts by itself from now on.")
        else:
            print(f"The face data of {gate.db_path} is not locked on this computer; nothing to do.")
    return 0


def cmd_protect(args: argparse.Namespace) -> int:
    from desktop_app.core.accounts import AccountsMode

    with _open(args) as gate:
        if gate.accounts_state().mode != AccountsMode.OPEN:
            raise InputError("This database has accounts: each admin's password already unlocks the face data, and "
                             "changes with it (facegate account passwd).")
        password = read_password(args, "New password: ", confirm=True)
        gate.protect_with_password(password, actor=actor_of(args), account=args.account)
        print(f"The password of {args.account!r} now also unlocks the face data of {gate.db_path} (keep it: it is "
              f"the way to open the data on another computer: facegate unlock --db DB --password-stdin).")
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    actions: dict[str, Callable[[FaceGate, argparse.Namespace], int]] = {
        "status": _keys_status, "rotate": _keys_rotate, "rekey": _keys_rekey}
    password: str | None = None
    if args.keys_command == "rekey":  # the password the login read (accounts), else the one given here
        password = getattr(args, PASSWORD_ATTR, None) or (read_password(args) if args.password_stdin else None)
    args.password = password
    with _open(args) as gate:
        return actions[args.keys_command](gate, args)


def _keys_status(gate: FaceGate, args: argparse.Namespace) -> int:
    status = gate.key_status()
    if args.json:
        d = asdict(status)
        d["state"] = status.state.value
        d["encrypted"] = status.encrypted
        print(json.dumps(d, indent=2))
    else:
        print(f"database:      {gate.db_path}")
        for line in status.lines():
            print(line)
    return 1 if status.locked or not status.encrypted else 0


def _keys_rotate(gate: FaceGate, args: argparse.Namespace) -> int:
    kid = gate.rotate_machine_key(actor=actor_of(args))
    status = gate.key_status()
    print(f"New machine key {kid}, kept in {status.key_location}; the data key was re-wrapped (no data re-encrypted) "
          "and the old machine key deleted. Older copies of this database now open only with the password.")
    return 0


def _keys_rekey(gate: FaceGate, args: argparse.Namespace) -> int:
    report = gate.rekey_data(actor=actor_of(args), password=args.password, account=args.account)
    print(f"Data key {report.old_key_id} replaced by {report.new_key_id}: {report.values} value(s) re-encrypted.")
    dropped = [a for a in report.dropped_password_accounts if a != RECOVERY_WRAP]
    if dropped:
        print("Password protection dropped for: " + ", ".join(dropped)
              + ": set it again with facegate protect --db DB --password-stdin.", file=sys.stderr)
    if RECOVERY_WRAP in report.dropped_password_accounts:
        print("The recovery code no longer unlocks the face data (it still recovers the accounts): issue a new one "
              "with facegate account recovery-code.", file=sys.stderr)
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "unlock": cmd_unlock, "protect": cmd_protect, "keys": cmd_keys}
