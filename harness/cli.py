"""`inventory`: the one command line of the project. `inventory --help` lists the commands.

Each command's options are declared by the module that does the work; this module only
wires them together and turns expected failures into a one-line error. Nothing heavy is
imported before a command runs, so `--help` is instant and locust's monkey-patching can
precede boto3 in `load` and `bench`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from importlib import import_module
from typing import Any

from rich.console import Console

EPILOG = """
The endpoint is AWS_ENDPOINT_URL (default http://127.0.0.1:4566). If something already
answers there (another MiniStack, LocalStack from docker-compose.yml), it is used as is;
otherwise MiniStack is started, with its log in .emulator/logs/ministack.log.

examples:
  inventory demo                      # emulator, stack, sample-data/, measured latencies
  inventory simulate generate --files 300 --rows 50 --seed 7 --out runs/x
  inventory load --shape ramp --duration 240
  inventory bench
"""
VARIANTS = ("ours", "baseline")
LOCUST_COMMANDS = ("load", "bench")  # they run under gevent

# Commands whose options live in another module: (name, module, help).
TOOLS = (
    ("load", "loadtests.cli", "a headless locust run with reports (`inventory load --help`)"),
    ("bench", "loadtests.bench", "ours vs the lab-style baseline vs raw writes vs csv.reader"),
    ("cost", "loadtests.cost", "what the pipeline would cost on AWS at a files/day rate"),
    ("bench-parser", "loadtests.parser_bench", "our CSV parser against bare csv.reader"),
    ("bench-writes", "loadtests.raw_writes", "the emulator's raw BatchWriteItem rate"),
    (
        "bench-large",
        "loadtests.large_files",
        "the loader's memory on 1-100 MB files; 100 MB end to end",
    ),
    ("redrive", "harness.redrive", "re-drive the failure queues into the functions again"),
)


def _up(args: argparse.Namespace) -> int:
    from harness import stack

    print(json.dumps(stack.running(args.variant, redeploy=True).as_outputs(), indent=2))
    return 0


def _down(args: argparse.Namespace) -> int:
    from harness import emulator

    stopped = emulator.stop()
    _stderr().print("MiniStack stopped." if stopped else "No emulator started by this project.")
    return 0


def _status(args: argparse.Namespace) -> int:
    from harness import emulator, env

    env.use_emulator_defaults()
    healthy = emulator.is_healthy()
    _stderr().print(f"{env.endpoint()}: {'healthy' if healthy else 'not answering'}")
    return 0 if healthy else 1


def _outputs(args: argparse.Namespace) -> int:
    from harness import env, stack

    if not args.aws:
        env.use_emulator_defaults()
    print(json.dumps(stack.outputs(args.variant).as_outputs(), indent=2))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from harness import stack
    from harness.demo import run_demo

    outputs = stack.running(redeploy=True)
    # Piped output (CI, a log file) gets rich's 80 columns by default: too narrow here.
    runs = run_demo(outputs, Console(width=None if sys.stdout.isatty() else 120))
    _stderr().print("The emulator is still running: explore it, then `make down`.")
    return 0 if all(r.receipt for r in runs) else 1


def _simulate(args: argparse.Namespace) -> int:
    from simulator.cli import run

    return run(args)


def _stderr() -> Console:
    return Console(stderr=True)


def _tool(module: str) -> Callable[[argparse.Namespace], int]:
    def command(args: argparse.Namespace) -> int:
        code: int = import_module(module).command(args)
        return code

    return command


def build_parser() -> argparse.ArgumentParser:
    """The whole command line, with `--help` at each level."""
    parser = argparse.ArgumentParser(
        prog="inventory",
        description="Run, feed, load and measure the inventory pipeline: offline on MiniStack, "
        "or against the same stack on AWS.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler: Callable[[argparse.Namespace], int], help: str) -> Any:
        sub = commands.add_parser(name, help=help, description=help)
        sub.set_defaults(handler=handler)
        return sub

    for sub in (
        add("up", _up, "start the emulator (unless one answers), deploy, print outputs as JSON"),
        add("outputs", _outputs, "print a deployed stack's outputs as JSON"),
    ):
        sub.add_argument(
            "--variant", choices=VARIANTS, default="ours",
            help="ours (InventoryStack, default) or the lab-style baseline",
        )  # fmt: skip
    commands.choices["outputs"].add_argument(
        "--aws", action="store_true", help="read them from AWS (your credentials), not the emulator"
    )
    add("down", _down, "stop the emulator this project started")
    add("status", _status, "say whether an emulator answers at the endpoint")
    add("demo", _demo, "up, then upload sample-data/ and show measured results")
    from simulator.cli import register

    register(add("simulate", _simulate, "generate, upload and verify simulated store uploads"))
    for name, module, help in TOOLS:
        # These modules import nothing heavy at the top: locust and boto3 load in `command`.
        import_module(module).add_arguments(add(name, _tool(module), help))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `inventory` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    if args.command in LOCUST_COMMANDS:
        import locust  # noqa: F401  (first: gevent's monkey-patching must precede boto3)
    from harness.emulator import EmulatorError
    from harness.stack import DeployError

    try:
        code: int = args.handler(args)
    except (EmulatorError, DeployError) as exc:
        _stderr().print(f"[red]error:[/] {exc}")
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
