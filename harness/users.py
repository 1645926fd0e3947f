"""`inventory user add EMAIL`: a dashboard user in the stack's Cognito user pool.

The pool allows no self sign-up, so users are made here with admin calls: `AdminCreateUser`
(no invitation mail, the email marked verified) and `AdminSetUserPassword` with a permanent
password, so the user signs in at once without a forced change. Without `--password` a
strong one is generated and printed; it is shown once and stored nowhere else.
"""

from __future__ import annotations

import argparse
import re
import secrets
import string
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from infra.outputs import StackOutputs

DESCRIPTION = "Manage the dashboard's users (the stack's Cognito user pool)."
EPILOG = """
examples:
  inventory user add ana@example.com                  # a generated password, printed once
  inventory user add ana@example.com --password '...' # your own (12+ characters: upper and
                                                      # lower case, a digit and a symbol)
  inventory user add ana@example.com --reset          # a new password for an existing user
  inventory user add ana@example.com --aws            # the stack on AWS (your credentials)
"""
GENERATED_LENGTH = 20
_SYMBOLS = "!#%+-.:=?@^_~"
# Good enough to catch typos before a round trip; Cognito has the last word.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class UserError(ValueError):
    """A user that cannot be added as asked; the message says why and what to do."""


@dataclass(frozen=True)
class Credentials:
    """What a person needs to sign in to the dashboard."""

    email: str
    password: str
    created: bool  # False: the user existed and got a new password


def generate_password(length: int = GENERATED_LENGTH) -> str:
    """A random password that meets the pool's policy: every character class at least once."""
    classes = (string.ascii_lowercase, string.ascii_uppercase, string.digits, _SYMBOLS)
    alphabet = "".join(classes)
    while True:
        password = "".join(secrets.choice(alphabet) for _ in range(length))
        if all(any(c in cls for c in password) for cls in classes):
            return password


def check_email(email: str) -> str:
    """The email, trimmed; UserError when it is not an address."""
    email = email.strip()
    if not _EMAIL.match(email):
        raise UserError(f"{email!r} is not an email address (the user signs in with it)")
    return email


def _code(exc: Exception) -> str:
    response: dict[str, Any] = getattr(exc, "response", {})
    return str(response.get("Error", {}).get("Code", ""))


def _message(exc: Exception) -> str:
    response: dict[str, Any] = getattr(exc, "response", {})
    return str(response.get("Error", {}).get("Message", exc))


def add_user(
    cognito: Any, user_pool_id: str, email: str, password: str | None = None, reset: bool = False
) -> Credentials:
    """Create `email` in the pool with a permanent password (generated unless given).

    An existing user is an error unless `reset`, which sets a new password instead.
    """
    from botocore.exceptions import ClientError

    email = check_email(email)
    password = password or generate_password()
    created = True
    try:
        cognito.admin_create_user(
            UserPoolId=user_pool_id,
            Username=email,
            UserAttributes=[
                {"Name": "email", "Value": email},
                {"Name": "email_verified", "Value": "true"},
            ],
            MessageAction="SUPPRESS",
        )
    except ClientError as exc:
        if _code(exc) != "UsernameExistsException":
            raise UserError(f"could not create {email}: {_message(exc)}") from exc
        if not reset:
            raise UserError(
                f"{email} already exists; `inventory user add {email} --reset` gives it a new "
                "password"
            ) from exc
        created = False
    try:
        cognito.admin_set_user_password(
            UserPoolId=user_pool_id, Username=email, Password=password, Permanent=True
        )
    except ClientError as exc:
        if created:  # nothing half-made is left behind: a user without a usable password
            cognito.admin_delete_user(UserPoolId=user_pool_id, Username=email)
        if _code(exc) == "InvalidPasswordException":
            raise UserError(
                f"the password was refused: {_message(exc)}. Use 12 or more characters with "
                "upper and lower case letters, a digit and a symbol, or leave out --password "
                "to have one generated"
            ) from exc
        raise UserError(f"could not set the password of {email}: {_message(exc)}") from exc
    return Credentials(email=email, password=password, created=created)


def dashboard_user(outputs: StackOutputs, email: str, password: str | None = None) -> Credentials:
    """`email` as a user of the deployed stack's pool, with a fresh password (made if missing)."""
    from harness import env

    if not outputs.user_pool_id:
        raise UserError("this stack has no dashboard (no UserPoolId output); deploy InventoryStack")
    return add_user(env.client("cognito-idp"), outputs.user_pool_id, email, password, reset=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `inventory user`."""
    parser.description = DESCRIPTION
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser(
        "add",
        help="create a user who can sign in to the dashboard",
        description="Create a dashboard user with a permanent password; print the credentials.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add.add_argument("email", metavar="EMAIL", help="the user's email address (their user name)")
    add.add_argument(
        "--password",
        help="the password to set (default: a generated one, printed once); 12+ characters "
        "with upper and lower case, a digit and a symbol",
    )
    add.add_argument(
        "--reset", action="store_true", help="if the user exists, give it a new password"
    )
    add.add_argument(
        "--aws", action="store_true", help="the stack on AWS (your credentials), not the emulator"
    )


def command(args: argparse.Namespace) -> int:
    """Add the user; print how to sign in. Exit 1 with a one-line reason when it cannot."""
    from rich.console import Console

    from harness import env, stack

    console = Console(stderr=True)
    outputs = stack.for_command(args.aws, console)
    if outputs is None:
        return 1
    if not outputs.user_pool_id:
        console.print("[red]error:[/] this stack has no user pool; redeploy it (`make up`)")
        return 1
    try:
        found = add_user(
            env.client("cognito-idp"), outputs.user_pool_id, args.email, args.password, args.reset
        )
    except UserError as exc:
        console.print(f"[red]error:[/] {exc}")
        return 1
    print_credentials(found, outputs.dashboard_url, Console())
    return 0


def print_credentials(found: Credentials, dashboard_url: str | None, console: Any) -> None:
    """The sign-in details, ready to copy (the password is shown only here)."""
    verb = "Created" if found.created else "New password for"
    console.print(f"{verb} dashboard user [bold]{found.email}[/]", highlight=False)
    if dashboard_url:
        console.print(f"  Dashboard: {dashboard_url}", highlight=False)
    console.print(f"  Email:     {found.email}", highlight=False)
    console.print(f"  Password:  {found.password}", highlight=False, markup=False)
