"""Command line for the embedded environment: `python -m harness up|down|demo|outputs|status`."""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console

from harness import emulator, env, stack

EPILOG = """
The endpoint is AWS_ENDPOINT_URL (default http://127.0.0.1:4566). If something already
answers there (another MiniStack, LocalStack from docker-compose.yml), it is used as is;
otherwise MiniStack is started, with its log in .emulator/logs/ministack.log.
"""


def up() -> dict[str, str]:
    """Emulator plus deployed stack, left running."""
    env.use_emulator_defaults()
    emulator.start()
    return stack.deploy_local()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness",
        description="Run the inventory pipeline offline: MiniStack + InventoryStack via cdklocal.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("up", help="start the emulator, deploy the stack, print outputs as JSON")
    commands.add_parser("down", help="stop the emulator this project started")
    commands.add_parser("demo", help="up, then upload sample-data/ and show measured results")
    commands.add_parser("outputs", help="print the deployed stack's outputs as JSON")
    commands.add_parser("status", help="say whether an emulator answers at the endpoint")
    args = parser.parse_args(argv)
    console = Console(stderr=True)
    try:
        if args.command == "up":
            print(json.dumps(up(), indent=2))
        elif args.command == "down":
            stopped = emulator.stop()
            console.print(
                "MiniStack stopped." if stopped else "No emulator started by this project."
            )
        elif args.command == "demo":
            from harness.demo import run_demo

            outputs = up()
            # Piped output (CI, a log file) gets rich's 80 columns by default: too narrow here.
            runs = run_demo(outputs, Console(width=None if sys.stdout.isatty() else 120))
            console.print("The emulator is still running: explore it, then `make down`.")
            return 0 if all(r.receipt for r in runs) else 1
        elif args.command == "outputs":
            env.use_emulator_defaults()
            print(json.dumps(stack.outputs(), indent=2))
        elif args.command == "status":
            env.use_emulator_defaults()
            healthy = emulator.is_healthy()
            console.print(f"{env.endpoint()}: {'healthy' if healthy else 'not answering'}")
            return 0 if healthy else 1
    except (emulator.EmulatorError, stack.DeployError) as exc:
        console.print(f"[red]error:[/] {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
