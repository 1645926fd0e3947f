"""`inventory deploy` (`make deploy`): the gate, the deploy, then the smoke test.

1. **The gate** (`harness.gate`): lint, the unit tests, the property tests (hypothesis profile
   `ci`) and the infra tests (template assertions and cdk-nag) must pass on this tree. If one
   fails nothing is deployed, and the refusal names it and shows the end of its output.
2. **The deploy**: `cdk deploy` with your credentials and region (the SDK's defaults), after
   saying where and asking (`--yes` does not ask). With AWS_ENDPOINT_URL set it rehearses on
   the emulator instead: `cdklocal` and the parameters the harness always deploys there with
   (`harness.stack.Deployment`).
3. **The smoke test** (`harness.smoke`) of the deployed stack.

Your credentials and, on AWS, the account's CDK bootstrap are checked before the gate runs.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from harness.gate import Check, Outcome

DESCRIPTION = "Gate (lint, unit, property, infra), deploy the stack with the CDK, smoke-test it."
EPILOG = """
Without AWS_ENDPOINT_URL it deploys to AWS with your credentials and region (the SDK's
defaults: AWS_PROFILE or keys, AWS_REGION), with `cdk`; the account must be bootstrapped once
(`cdk bootstrap`; docs/deploying.md). With AWS_ENDPOINT_URL set it rehearses the same on that
emulator, with `cdklocal`.

examples:
  inventory deploy                        # gate, say where, ask, deploy to AWS, smoke test
  inventory deploy --yes                  # the same without asking
  AWS_ENDPOINT_URL=http://127.0.0.1:4566 inventory deploy --yes   # rehearse on the emulator
  inventory deploy --stack-name InventoryRehearsal    # a second copy beside InventoryStack
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `inventory deploy`."""
    from harness import promotion, smoke

    parser.description = DESCRIPTION
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    promotion.add_arguments(parser, "deploy")
    smoke.add_wait(parser)


def run_gate(console: Console) -> bool:
    """Run the gate with a line per check; on a failure say which and show its output's end."""
    from rich.markup import escape

    from harness import env, gate

    console.print(f"[bold]The gate[/] ({', '.join(gate.NAMES)}), on {env.ROOT}:")
    status = console.status("")

    def started(check: Check) -> None:
        status.update(f"Running {check.what} ...")
        status.start()

    def done(outcome: Outcome) -> None:
        status.stop()
        mark = "[green]passed[/]" if outcome.passed else "[red]FAILED[/]"
        console.print(f"  {outcome.check.name:<9} {mark} in {outcome.seconds:.1f} s")

    result = gate.run(on_start=started, on_done=done)
    failed = result.failed
    if failed is None:
        return True
    console.print(
        f"[red]The gate refused the deploy: {escape(failed.check.what)} failed.[/] Nothing was "
        f"deployed. `{escape(failed.command)}` ended with:",
        highlight=False,
    )
    console.out(failed.tail, highlight=False)
    return False


def command(args: argparse.Namespace) -> int:
    """Gate, deploy, smoke-test; the exit code says whether all three passed."""
    from harness import env, identity, promotion, smoke, stack

    console = promotion.wide_console(stderr=True)
    env.use_configured_target()
    deployment = stack.Deployment(name=args.stack_name)
    target = deployment.stack  # a bad name fails before anything runs
    who = identity.identify()
    if not deployment.local:
        stack.check_bootstrapped(who.account, who.region)
    if not run_gate(console):
        return 1
    parameters = " ".join(f"{k}={v}" for k, v in deployment.parameters().items())
    promotion.describe(
        console,
        "deploy",
        who,
        deployment,
        {"parameters": parameters or "(none)", "then": "inventory smoke (it leaves nothing)"},
    )
    if not promotion.confirmed(console, f"Deploy {target} there?", args.yes):
        return 1
    stack.deploy(name=args.stack_name, echo=console)
    out = promotion.wide_console()
    report = smoke.run(args.stack_name, out, args.wait)
    smoke.show(report, out)
    return 0 if report.passed else 1
