"""Who may run which ``facegate`` command once the database has accounts (issue 12), in one table.

:data:`RULES` maps every sub-command (``"enroll"``, ``"door open"``...) to the
:class:`~desktop_app.core.accounts.Action` it needs, to a function of the parsed arguments giving
it (``events`` lists for a viewer, but ``events --csv`` exports: admin), to None (no account
needed: the door loop, the GUI, which logs in itself, offline tools) or to :data:`OWN` (the
``account`` commands, which check credentials themselves). ``check_rules(parser)`` lists the
sub-commands missing from the table (a test keeps it empty), and one missing at run time needs an
admin: a new command is never left open by mistake.

:func:`run_authorised` wraps every command (``cli.main``):

- no account was ever created (OPEN): the command runs as before accounts, audited as "cli";
- accounts exist (ACTIVE): credentials are read, the account must exist, be enabled, not be locked
  and have a role allowing the action; the command then runs with the account's name as the actor
  written to the audit log (see :func:`actor_of`);
- the accounts were altered outside FaceGate (TAMPERED): every protected command is refused.

Credentials: ``--account NAME`` (default ``admin``) and the password asked on the terminal
(getpass), or read from standard input with ``--password-stdin``: one line per secret, the
account's password first (``account add``, ``account passwd`` and ``account recover`` read the
further lines they need). Refusals are one line on stderr and exit status
:data:`EXIT_NOT_AUTHORISED` (4); a weak new password or another bad value is exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

from desktop_app.core.accounts import Account, AccountsMode, Action, NotAuthorisedError, Refusal
from desktop_app.core.accounts.book import AccountBook

from .paths import default_db

#: Exit status of a command refused for want of valid credentials or rights.
EXIT_NOT_AUTHORISED: Final[int] = 4
#: Where the account logged in is kept in the parsed arguments (not ``actor``: ``audit list --actor`` is a filter).
ACTOR_ATTR: Final[str] = "authorised_actor"
#: The ``--account`` used when none is given.
DEFAULT_ACCOUNT: Final[str] = "admin"
#: Where the password of the account logged in is kept for the run (``keys rekey`` wraps the new data key with it).
PASSWORD_ATTR: Final[str] = "authorised_password"


class _Own:
    """Marker of the commands that check credentials themselves (``account ...``)."""

    def __repr__(self) -> str:
        return "OWN"


OWN: Final = _Own()
Rule = Action | _Own | Callable[[argparse.Namespace], Action | None] | None


def _export_or(view: Action) -> Callable[[argparse.Namespace], Action | None]:
    return lambda a: Action.EXPORT if getattr(a, "csv", None) else view


def _person_set(a: argparse.Namespace) -> Action:
    changes = (a.groups is not None or a.valid_from is not ... or a.valid_until is not ... or a.active is not None
               or a.employee_id is not None)
    return Action.EDIT_PEOPLE if changes else Action.VIEW_PEOPLE


#: What each sub-command needs once the database has accounts (module docstring).
RULES: Final[dict[str, Rule]] = {
    "gui": None,  # the app asks for a login itself
    "run": None,  # the door loop: it must start by itself after a reboot
    "eval": None, "bench": None,  # no database
    "liveness": None,  # checks the media given; reads no one's data
    "audit verify": None,  # reads only, reveals nothing
    "enroll": Action.ENROL,
    "identify": Action.IDENTIFY,
    "calibrate": Action.SETTINGS,
    "people": Action.VIEW_PEOPLE,
    "erase": Action.ERASE,
    "events": _export_or(Action.VIEW_EVENTS),
    "attendance": _export_or(Action.VIEW_EVENTS),
    "models": lambda a: Action.MODELS if a.rollback else Action.VIEW_DOORS,
    "train": Action.MODELS,  # facegate-train (trainer/cli.py): it deploys the model it trains
    "doctor": lambda a: Action.MAINTAIN if a.repair else None,
    "door add": Action.ACCESS_RULES, "door list": Action.VIEW_DOORS, "door open": Action.OPEN_DOOR,
    "door remove": Action.ACCESS_RULES,
    "group add": Action.ACCESS_RULES, "group list": Action.VIEW_DOORS, "group remove": Action.ACCESS_RULES,
    "schedule add": Action.ACCESS_RULES, "schedule list": Action.VIEW_DOORS, "schedule remove": Action.ACCESS_RULES,
    "person set": _person_set,
    "audit list": _export_or(Action.VIEW_AUDIT),
    "account add": OWN, "account list": OWN, "account remove": OWN, "account passwd": OWN, "account set": OWN,
    "account recover": OWN, "account recovery-code": OWN,
    # The data-key commands (cli_keys.py). unlock needs no account: the password it reads is the
    # credential (only admins' passwords wrap the data key) and it must work on a moved data folder.
    # The status is a viewer's (it names the admins whose password wraps the key; no secret); the
    # changes are the admin's (Action.KEYS), whose password rekey reuses to wrap the new key.
    "unlock": None, "keys status": Action.VIEW_DOORS,
    "protect": Action.KEYS, "keys rotate": Action.KEYS, "keys rekey": Action.KEYS,
    "unknowns": lambda a: (Action.ERASE if a.delete is not None else Action.ENROL  # cli_unknowns.py
                           if a.ignore is not None or a.unignore is not None else Action.VIEW_PEOPLE),
    "assign": Action.ENROL,
    # privacy (cli_privacy.py): deleting events and exporting one person's data are the admin's
    "purge": Action.ERASE, "export-person": Action.EXPORT,
    "privacy": lambda a: (Action.SETTINGS if a.events_days is not ... or a.snapshots_days is not ...
                          or a.door_display is not None else Action.VIEW_DOORS),
    # Backups hold everything (encrypted), and a restore replaces everything: admins only.
    "backup": Action.MAINTAIN, "restore": Action.MAINTAIN,
    # Corrections label a face as a person for training: the enrol right (cli_corrections.py).
    "correct": Action.ENROL, "corrections": Action.VIEW_EVENTS,
    "refresh-templates": lambda a: Action.VIEW_EVENTS if a.dry_run else Action.SETTINGS if a.enable or a.disable
    else Action.ENROL,
    # The central server (cli_central.py): its own login (the DSN's PostgreSQL role and password) and
    # the site key file guard it; `sync` runs unattended like the door loop.
    "central init": None, "central status": None, "central purge": None, "sync": None,
}
#: The attribute each command group keeps its sub-command in.
SUBCOMMAND_DESTS: Final[tuple[str, ...]] = ("access_command", "audit_command", "account_command", "keys_command",
                                            "central_command")

HELP_EPILOG: Final[str] = (
    "Accounts: once a database has accounts (facegate account add), commands that read or change its data need "
    "credentials: --account NAME (default admin) and the password, asked on the terminal or read from standard "
    "input with --password-stdin (one line). Exit status: 0 done, 1 nothing done or found, 2 bad input, 3 internal "
    f"error (a log file is named), {EXIT_NOT_AUTHORISED} not authorised (no or wrong credentials, account locked "
    "or disabled, a role that may not, or accounts altered outside FaceGate).")


def command_key(args: argparse.Namespace) -> str:
    """``"door open"``, ``"enroll"``...: the sub-command the parsed ``args`` run."""
    command = args.command or "gui"
    for dest in SUBCOMMAND_DESTS:
        sub = getattr(args, dest, None)
        if sub:
            return f"{command} {sub}"
    return str(command)


def _leaves(parser: argparse.ArgumentParser, prefix: str = "") -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """(command key, parser) of every runnable sub-command."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        if prefix:
            yield prefix, parser
        return
    for name, child in subs[0].choices.items():
        yield from _leaves(child, f"{prefix} {name}".strip())


def check_rules(parser: argparse.ArgumentParser) -> list[str]:
    """The sub-commands of ``parser`` that :data:`RULES` does not cover."""
    return [key for key, _p in _leaves(parser) if key not in RULES]


def add_credential_args(parser: argparse.ArgumentParser) -> None:
    """Give every sub-command that may need credentials ``--account`` and ``--password-stdin``,
    and the top-level help the exit statuses."""
    parser.epilog = HELP_EPILOG
    for key, sub in _leaves(parser):
        if (key in RULES and RULES[key] is None) or "--account" in sub._option_string_actions:
            continue  # protect and keys rekey have their own (the same meaning)
        sub.add_argument("--account", default=DEFAULT_ACCOUNT, metavar="NAME",
                         help=f"the account to act as, once the database has accounts (default {DEFAULT_ACCOUNT})")
        sub.add_argument("--password-stdin", action="store_true",
                         help="read the password from standard input (one line; further secrets on further lines) "
                              "instead of asking on the terminal; exit status "
                              f"{EXIT_NOT_AUTHORISED} when refused")


def actor_of(args: argparse.Namespace) -> str:
    """The name written to the audit log for this run: the account logged in, else "cli"."""
    actor = getattr(args, ACTOR_ATTR, None)
    return actor if isinstance(actor, str) and actor else "cli"


def needed_action(args: argparse.Namespace) -> Action | _Own | None:
    """What the parsed command needs (an unknown command needs an admin: fail closed)."""
    rule = RULES.get(command_key(args), Action.MAINTAIN)
    if rule is None or isinstance(rule, (Action, _Own)):
        return rule
    return rule(args)


# ---------------------------------------------------------------------- secrets
class SecretReader:
    """Reads secrets for one run: lines of standard input with ``--password-stdin``, else the
    terminal (getpass); NotAuthorisedError when neither is possible."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.from_stdin = bool(getattr(args, "password_stdin", False))

    def read(self, prompt: str, what: str = "password") -> str:
        if self.from_stdin:
            line = sys.stdin.readline() if sys.stdin is not None else ""
            if not line:
                raise NotAuthorisedError(f"--password-stdin: no {what} on standard input (one line each).",
                                         Refusal.NO_CREDENTIALS)
            return line.removesuffix("\n").removesuffix("\r")
        if sys.stdin is None or not sys.stdin.isatty():
            raise NotAuthorisedError(
                f"this database has accounts, so a {what} is needed: give --password-stdin (one line on standard "
                "input) or run the command in a terminal.", Refusal.NO_CREDENTIALS)
        return getpass.getpass(prompt)

    def new_password(self, account: str) -> str:
        """A new password: one line on stdin, or typed twice on the terminal."""
        first = self.read(f"New password for {account}: ", "new password")
        if not self.from_stdin and self.read("Repeat it: ", "new password") != first:
            raise ValueError("The two passwords differ.")
        return first


@contextlib.contextmanager
def open_book(args: argparse.Namespace, read_only: bool | None = None) -> Iterator[AccountBook]:
    """The accounts of ``--db`` (a store opened for the check alone; its open warnings are left to
    the command's own opening, so that they are not said twice)."""
    from desktop_app.core.protection.facade import connect_book
    from desktop_app.core.storage.store import Store

    quiet = logging.getLogger("desktop_app.core.storage")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        store = Store(Path(args.db or default_db()), read_only=read_only or None)
    finally:
        quiet.setLevel(level)
    try:
        book = AccountBook(store)
        connect_book(book, store)  # as FaceGate's own book
        yield book
    finally:
        store.close()


def login(book: AccountBook, args: argparse.Namespace, action: Action | None,
          secrets: SecretReader | None = None) -> Account:
    """The account of ``--account`` once its password (read by ``secrets``) is right and its role
    allows ``action``; NotAuthorisedError otherwise."""
    name = getattr(args, "account", None) or DEFAULT_ACCOUNT
    reader = secrets or SecretReader(args)
    wait = book.retry_in(name)
    if wait > 0:  # say so before asking for a password that would be refused unread
        return book.authenticate(name, "", action)
    password = reader.read(f"Password for {name}: ")
    account = book.authenticate(name, password, action)
    setattr(args, PASSWORD_ATTR, password)
    return account


def refuse(args: argparse.Namespace, exc: NotAuthorisedError) -> int:
    """Print a refusal as one line and return :data:`EXIT_NOT_AUTHORISED`."""
    text = " ".join(str(exc).split())
    print(f"facegate {command_key(args)}: not authorised: {text}", file=sys.stderr)
    return EXIT_NOT_AUTHORISED


def run_authorised(args: argparse.Namespace, command: Callable[[argparse.Namespace], int]) -> int:
    """Run ``command`` if the credentials allow it (module docstring); its exit status, or
    :data:`EXIT_NOT_AUTHORISED` after a one-line refusal."""
    need = needed_action(args)
    setattr(args, ACTOR_ATTR, "cli")
    try:
        path = Path(args.db or default_db())
        # A new or empty file has no account (and is left for the command to start: it says so).
        if isinstance(need, Action) and path.is_file() and path.stat().st_size > 0:
            # Read first, writing nothing, so that a full disk or a read-only folder does not stop a
            # command that needs no login (erase on a full disk); a login writes (back-off).
            with open_book(args, read_only=True) as book:
                state = book.state()
            if state.mode == AccountsMode.TAMPERED:
                raise NotAuthorisedError(state.summary(), Refusal.TAMPERED)
            if state.mode == AccountsMode.ACTIVE:
                with open_book(args) as book:
                    setattr(args, ACTOR_ATTR, login(book, args, need).name)
        return command(args)
    except NotAuthorisedError as exc:
        return refuse(args, exc)
