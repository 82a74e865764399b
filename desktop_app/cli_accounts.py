"""``facegate account``: named accounts with roles (issue 12; rules in ``core.accounts``).

    facegate account add --db DB --name NAME --role admin|operator|viewer [--password-stdin]
    facegate account list --db DB
    facegate account set --db DB --name NAME [--role R] [--disable | --enable]
    facegate account passwd --db DB [--name NAME]      your own password, or (admin) reset another's
    facegate account remove --db DB --name NAME
    facegate account recover --db DB [--name NAME]     with the recovery code: a new admin password
    facegate account recovery-code --db DB             issue a new recovery code (the old one stops)

The first account needs no credentials and must be an admin; it prints the recovery code once.
Every other command needs an admin's credentials (``--account``, default ``admin``), except
``passwd`` of one's own account (the current password) and ``recover`` (the code). With
``--password-stdin`` each secret is one line of standard input, in this order: the acting
account's password (or the current one, or the recovery code), then the new password.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from desktop_app.core.accounts import Account, AccountsMode, Action, NotAuthorisedError, Refusal, Role
from desktop_app.core.accounts.book import AccountBook, name_key
from desktop_app.core.errors import InputError

from .cli_auth import SecretReader, login, open_book
from .paths import default_db

EXAMPLES = """\
examples:
  facegate account add --db site.db --name alice --role admin          (first account: prints the recovery code)
  printf '%s\\n%s\\n' "$ALICE_PW" "$BOB_PW" | \\
      facegate account add --db site.db --account alice --password-stdin --name bob --role operator
  printf '%s\\n' "$ALICE_PW" | facegate enroll --db site.db --account alice --password-stdin --name Ada a.jpg
  printf '%s\\n%s\\n' "$CODE" "$NEW_PW" | facegate account recover --db site.db --password-stdin
"""


def _db_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", type=Path, default=None, help=f"database file (default {default_db()})")


def _name_arg(p: argparse.ArgumentParser, required: bool = True, help: str = "the account's login name") -> None:
    p.add_argument("--name", required=required, default=None, metavar="NAME", help=help)


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``facegate account ...`` to the ``facegate`` parser."""
    account = sub.add_parser("account", help="named accounts with roles: add, list, change, remove, recover",
                             epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    s = account.add_subparsers(dest="account_command", required=True,
                               metavar="{add,list,set,passwd,remove,recover,recovery-code}")
    roles = [r.value for r in Role]
    p = s.add_parser("add", help="add an account (the first one: an admin, no credentials, prints the recovery code)")
    _db_arg(p)
    _name_arg(p)
    p.add_argument("--role", required=True, choices=roles, help="admin: everything; operator: runs the doors "
                   "(people, identify, open doors); viewer: events, attendance and doors, read only")
    p = s.add_parser("list", help="list the accounts: role, state, last login")
    _db_arg(p)
    p = s.add_parser("set", help="change an account's role, or disable / enable it")
    _db_arg(p)
    _name_arg(p)
    p.add_argument("--role", default=None, choices=roles)
    state = p.add_mutually_exclusive_group()
    state.add_argument("--disable", dest="disabled", action="store_true", default=None,
                       help="the account can no longer log in (kept, with its history)")
    state.add_argument("--enable", dest="disabled", action="store_false", help="let it log in again (clears a lock)")
    p = s.add_parser("passwd", help="change your password (--account), or as an admin reset another's (--name)")
    _db_arg(p)
    _name_arg(p, required=False, help="whose password (default: the --account's own)")
    p = s.add_parser("remove", help="remove an account (not the last enabled admin)")
    _db_arg(p)
    _name_arg(p)
    p = s.add_parser("recover", help="set a new admin password with the recovery code (also repairs altered accounts)",
                     description="Reads the recovery code, then the new password (terminal, or two lines with "
                                 "--password-stdin). The accounts are put back in line with their audited history "
                                 "and a NEW recovery code is printed: the old one works only once.")
    _db_arg(p)
    _name_arg(p, required=False, help="the admin account to set (default: the one the code was issued for)")
    p = s.add_parser("recovery-code", help="issue a new recovery code (admin); the previous one stops working")
    _db_arg(p)


def _print_code(code: str, db: str) -> None:
    print(f"Recovery code (shown once; keep it offline, e.g. printed in a safe): {code}")
    print(f"  With it, `facegate account recover --db {db}` sets a new admin password.")


def cmd_account(args: argparse.Namespace) -> int:
    secrets = SecretReader(args)
    db = str(args.db or default_db())
    with open_book(args) as book:
        state = book.state()
        command = args.account_command
        if command == "recover":
            return _recover(book, args, secrets, db)
        if state.mode == AccountsMode.TAMPERED:
            raise NotAuthorisedError(state.summary(), Refusal.TAMPERED)
        if state.mode == AccountsMode.OPEN:
            return _open(book, args, secrets, db)
        if command == "passwd" and name_key(args.name or args.account) == name_key(args.account):
            return _own_password(book, args, secrets)
        by = login(book, args, Action.ACCOUNTS, secrets)
        if command == "add":
            added = book.add(by, args.name, args.role, secrets.new_password(args.name))
            print(f"Account {added.name!r} ({added.role.value}) added.")
        elif command == "list":
            _list(book)
        elif command == "set":
            if args.role is None and args.disabled is None:
                raise InputError("Nothing to change: give --role, --disable or --enable.")
            done = book.update(by, args.name, role=args.role, disabled=args.disabled)
            print(f"Account {done.name!r}: {done.role.value}, {'disabled' if done.disabled else 'enabled'}.")
        elif command == "passwd":
            book.set_password(by, args.name, secrets.new_password(args.name))
            print(f"Password of {args.name!r} reset (its back-off and lock are cleared).")
        elif command == "remove":
            book.remove(by, args.name)
            print(f"Account {args.name!r} removed.")
        elif command == "recovery-code":
            _print_code(book.new_recovery_code(by), db)
        return 0


def _open(book: AccountBook, args: argparse.Namespace, secrets: SecretReader, db: str) -> int:
    """A database without accounts: only the first admin may be added."""
    if args.account_command == "list":
        print("No account yet: the first one is an admin, added without credentials: "
              "facegate account add --name NAME --role admin")
        return 0
    if args.account_command != "add":
        raise InputError("This database has no accounts yet: add the first one (an admin) with "
                         "facegate account add --name NAME --role admin.")
    if args.role != Role.ADMIN:
        raise InputError("The first account must be an admin (--role admin): it is the one that adds the others.")
    code = book.setup(args.name, secrets.new_password(args.name))
    print(f"Account {args.name!r} (admin) created: from now on, commands that read or change the data need "
          "an account's credentials.")
    _print_code(code, db)
    return 0


def _own_password(book: AccountBook, args: argparse.Namespace, secrets: SecretReader) -> int:
    current = secrets.read(f"Current password for {args.account}: ")
    by = book.authenticate(args.account, current)
    book.set_password(by, by.name, secrets.new_password(by.name), current)
    print(f"Password of {by.name!r} changed.")
    return 0


def _recover(book: AccountBook, args: argparse.Namespace, secrets: SecretReader, db: str) -> int:
    code = secrets.read("Recovery code: ", "recovery code")
    before = book.state()
    account, fresh = book.recover(code, secrets.new_password(args.name or "the admin"), args.name)
    print(f"Password of {account.name!r} (admin) set.")
    if before.mode == AccountsMode.TAMPERED:
        print("The accounts were put back in line with their audited history: " + "; ".join(before.problems) + ".")
        print("Accounts whose password hash was altered need a new password: facegate account passwd --name NAME")
    _print_code(fresh, db)
    print("The code you used no longer works.", file=sys.stderr)
    return 0


def _list(book: AccountBook) -> None:
    accounts = book.accounts()
    print(f"{'account':24s} {'role':9s} {'state':28s} last login")
    for a in accounts:
        last = f"{a.last_login_at.astimezone():%Y-%m-%d %H:%M}" if a.last_login_at else "never"
        print(f"{a.name:24s} {a.role.value:9s} {_state_words(book, a):28s} {last}")
    print(f"{len(accounts)} account{'s' if len(accounts) != 1 else ''}.")


def _state_words(book: AccountBook, a: Account) -> str:
    if a.disabled:
        return "disabled"
    if not a.has_password:
        return "needs a password reset"
    wait = book.retry_in(a.name)
    return f"locked ({wait / 60:.0f} min left)" if wait >= 60 else ("waiting" if wait > 0 else "enabled")


__all__ = ["add_parsers", "cmd_account"]
