"""What `inventory deploy` and `inventory destroy` share: the target, said before acting, and
the question (or `--yes`).

Both go wherever the SDK is configured to go: AWS with your credentials and region (`cdk`), or
the emulator when AWS_ENDPOINT_URL is set (`cdklocal`, rehearsing the same commands).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from harness.identity import Identity
    from harness.stack import Deployment


WIDTH = 160  # of the output when it is not a terminal (a log, CI): names and commands stay whole


def wide_console(stderr: bool = False) -> Console:
    """A console as wide as the terminal, or WIDTH columns when the output is not one."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else WIDTH)


def add_stack_name(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stack-name",
        metavar="NAME",
        help="the CloudFormation stack (default InventoryStack); another name deploys, checks "
        "or destroys a second copy beside it, e.g. a rehearsal",
    )


def add_arguments(parser: argparse.ArgumentParser, verb: str) -> None:
    """`--stack-name` and `--yes`."""
    add_stack_name(parser)
    parser.add_argument(
        "--yes", "-y", action="store_true", help=f"{verb} without asking for confirmation"
    )


def describe(
    console: Console, action: str, who: Identity, deployment: Deployment, extra: dict[str, str]
) -> None:
    """Say what is about to happen, and where."""
    from rich.markup import escape
    from rich.table import Table

    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    rows = {
        "stack": deployment.stack,
        "account": f"{who.account} (as {who.arn})",
        "region": who.region,
        "endpoint": f"{who.endpoint} (an emulator)" if who.endpoint else "AWS",
        "tool": f"node_modules/.bin/{deployment.tool} {action}",
        **extra,
    }
    for name, value in rows.items():
        table.add_row(name, escape(value))
    console.print(f"[bold]About to {action}:[/]")
    console.print(table)


def confirmed(console: Console, question: str, yes: bool) -> bool:
    """True with `--yes`, or when the user answers yes; a terminal is needed to ask."""
    if yes:
        return True
    if not sys.stdin.isatty():
        console.print(
            "[red]error:[/] not confirmed: there is no terminal to ask on. Pass --yes to go "
            "ahead without asking."
        )
        return False
    from rich.prompt import Confirm

    if Confirm.ask(question, console=console, default=False):
        return True
    console.print("Nothing was done.")
    return False
