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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

if TYPE_CHECKING:
    from harness.emulator import InFlight
    from infra.outputs import StackOutputs

EPILOG = """
The endpoint is AWS_ENDPOINT_URL (default http://127.0.0.1:4566). If something already
answers there (another MiniStack, LocalStack from docker-compose.yml), it is used as is;
otherwise MiniStack is started, with its log in .emulator/<port>/logs/ministack.log.

examples:
  inventory demo                      # emulator, stack, sample-data/, measured latencies
  inventory simulate generate --files 300 --rows 50 --seed 7 --out runs/x
  inventory load --shape ramp --duration 240
  inventory bench
"""
VARIANTS = ("ours", "baseline")
DOWN_WAIT_S = 60.0  # how long `inventory down` waits for what is in flight, by default
LISTED = 20  # files and alerts listed by name; the rest are counted
LOCUST_COMMANDS = ("load", "bench", "scale")  # they run under gevent
DEMO_USER = "demo@example.com"  # `make demo` gives it a new password each run, and prints it

# Commands whose options live in another module: (name, module, help).
TOOLS = (
    ("load", "loadtests.cli", "a headless locust run with reports (`inventory load --help`)"),
    ("bench", "loadtests.bench", "ours vs the lab-style baseline vs raw writes vs csv.reader"),
    ("scale", "loadtests.scale", "scaling curves against file size or arrival rate, with plots"),
    ("cost", "loadtests.cost", "what the pipeline would cost on AWS at a files/day rate"),
    ("bench-parser", "loadtests.parser_bench", "our CSV parser against bare csv.reader"),
    ("bench-writes", "loadtests.raw_writes", "the emulator's raw BatchWriteItem rate"),
    ("floor", "loadtests.floor", "ingest latency: the emulator's floor beside ours, alternately"),
    (
        "bench-large",
        "loadtests.large_files",
        "the loader's memory on 1-100 MB files; 100 MB end to end",
    ),
    ("redrive", "harness.redrive", "re-drive the failure queues into the functions again"),
    ("openapi", "harness.openapi", "print the query API's OpenAPI document (docs/openapi.json)"),
    ("user", "harness.users", "dashboard users: `inventory user add EMAIL`"),
    ("trace", "harness.trace", "one uploaded file's journey, or what was slow or failed lately"),
    ("deploy", "harness.deploy", "gate (lint, unit, property, infra), cdk deploy, smoke test"),
    ("smoke", "harness.smoke", "a short end-to-end check of a deployed stack (AWS or emulator)"),
    ("destroy", "harness.destroy", "cdk destroy; list the retained resources and how to delete"),
)


def _up(args: argparse.Namespace) -> int:
    from harness import emulator, env, stack

    env.use_emulator_defaults()
    # Started now from its saved state: what was in flight at the last stop is looked for.
    restarting = not emulator.running() and emulator.persisting()
    outputs = stack.running(args.variant, redeploy=True)
    code = 0
    if args.variant == "ours":
        code = _finish_unfinished(outputs, restarting)
        stack.serve_dashboard(outputs)
        _warn_if_tokens_refused()
    print(json.dumps(outputs.as_outputs(), indent=2))
    return code


def _warn_if_tokens_refused() -> None:
    from harness import env

    if env.on_emulator() and env.endpoint().startswith("https:"):
        _stderr().print(
            "[yellow]note:[/] on this https emulator (AUTH=true) MiniStack 1.5.33's JWT "
            "authorizer refuses every token (it fetches the pool's keys over plain http), so "
            "the dashboard signs in but cannot read the API. Use an http emulator for the "
            'dashboard (`make up` without AUTH=true); docs/design.md, "The dashboard".'
        )


def _shown(path: Path) -> str:
    """A path as the user typed it from the project folder."""
    from harness import env

    return str(path.relative_to(env.ROOT) if path.is_relative_to(env.ROOT) else path)


def _listed(console: Console, lines: list[str], at_most: int = LISTED) -> None:
    for line in lines[:at_most]:
        console.print(f"  {line}", highlight=False)
    if len(lines) > at_most:
        console.print(f"  ... and {len(lines) - at_most} more")


def _finish_unfinished(outputs: StackOutputs, restarting: bool) -> int:
    """Deliver again what was in flight when the emulator last stopped (`inventory down`)."""
    from harness import emulator, env

    port = env.endpoint_port()
    console = _stderr()
    saved = emulator.unfinished_file(port)
    if emulator.keeps_state(port) is False:
        if saved.exists():
            console.print(
                f"{_shown(saved)} lists what was in flight at an earlier stop, but this emulator "
                f"started without that state ({emulator.PERSIST_VARIABLE}=0): left alone."
            )
        return 0
    with console.status("Looking for uploads and alerts left in flight at the last stop..."):
        finished = emulator.finish(outputs, port, scan=restarting)
    if not finished:
        return 0
    console.print("What was in flight when the emulator last stopped:")
    _listed(console, [f"{key}: re-delivered to Load-Inventory" for key in finished.uploads])
    _listed(console, [f"{key}: its receipt came after all" for key in finished.loaded_meanwhile])
    if finished.records:
        console.print(
            f"  {finished.records} stream record(s) given to Check-Stock: "
            f"{finished.alerts_sent} NoStock alert(s) sent, "
            f"{finished.alerts_repeated} already sent before"
        )
    _listed(console, [f"[red]failed:[/] {what}: {why}" for what, why in finished.failing])
    if finished.failing:
        console.print(
            f"Still saved in {_shown(saved)}: the next `inventory up` tries again (fix the "
            "cause first)."
        )
        return 1
    return 0


def _down(args: argparse.Namespace) -> int:
    from harness import dashboard, emulator, env

    env.use_emulator_defaults()
    port = env.endpoint_port()
    console = _stderr()
    if dashboard.stop(dashboard.dashboard_port(port)):
        console.print("The dashboard's local server stopped.")
    if args.forget:
        stopped = emulator.stop(port)
        console.print("MiniStack stopped." if stopped else "No emulator started by this project.")
        removed = emulator.forget(port)
        console.print(
            "Deleted " + ", ".join(_shown(p) for p in removed) + ": the next start is empty."
            if removed
            else f"No state kept for port {port}."
        )
        return 0
    if not emulator.running(port):
        emulator.stop(port)  # tidies the records of one that died
        console.print("No emulator started by this project.")
        return 0
    if not emulator.keeps_state(port):
        emulator.stop(port)
        console.print(
            f"MiniStack stopped. Its state was not kept ({emulator.PERSIST_VARIABLE}=0, or "
            "started by an older version): the stack and its data are gone."
        )
        return 0
    outputs = _deployed()
    if outputs and (failures := emulator.check_stock_failures(outputs)):
        console.print(
            f"[yellow]CheckStockFailures holds {failures} message(s).[/] They name records of "
            "the table's stream, which MiniStack does not keep across a restart: after it they "
            "can no longer be re-driven. To re-drive them first, press Ctrl-C now (the emulator "
            "keeps running) and run `inventory redrive --queue check-stock`. Otherwise their "
            "alerts still unsent are saved with the rest, `inventory up` sends them, and the "
            "messages can then be deleted."
        )
    try:
        found = _settle(outputs, 0.0 if args.now else args.wait) if outputs else None
    except KeyboardInterrupt:
        console.print("Interrupted: the emulator is still running.")
        return 130
    # Stopped right after the last check: the stream, which the stop discards, is as checked.
    stopped = emulator.stop(port)
    console.print(
        f"MiniStack stopped; its state is saved in {_shown(emulator.saved_state_dir(port))}/ "
        "(`inventory up` loads it)."
        if stopped
        else "MiniStack had already exited."
    )
    if found:
        emulator.keep_unfinished(found, port)
        _report_unfinished(found, port)
    return 0


def _deployed() -> StackOutputs | None:
    """The stack's outputs when the emulator answers and the stack is deployed, else None."""
    from harness import emulator, stack

    console = _stderr()
    if emulator.health(timeout=5.0) is None:
        console.print(
            "[yellow]What is in flight cannot be checked:[/] the emulator does not answer."
        )
        return None
    try:
        return stack.outputs()
    except stack.DeployError as exc:
        console.print(f"Nothing in flight to wait for ({exc}).")
    except Exception as exc:  # an emulator that answers its health check but not the API
        console.print(f"[yellow]What is in flight cannot be checked:[/] {exc}")
    return None


def _settle(outputs: StackOutputs, wait_s: float) -> InFlight:
    """Wait (with a spinner) until nothing is in flight, at most `wait_s`; what still is."""
    from harness import emulator

    console = _stderr()
    with console.status("Checking what is in flight...") as spinner:

        def progress(found: InFlight, left: float) -> None:
            if found:
                failing = (
                    "; Check-Stock's event source reports a failed batch"
                    if found.check_stock_failing
                    else ""
                )
                spinner.update(
                    f"Waiting for {found.summary()}{failing} (at most {left:.0f} s more)..."
                )

        found = emulator.settle(outputs, wait_s, progress)
    for note in found.notes:
        console.print(f"[yellow]note:[/] {note}")
    return found


def _report_unfinished(found: InFlight, port: int) -> None:
    from harness import emulator

    console = _stderr()
    console.print(
        f"[bold red]Still in flight when it stopped[/] ({found.summary()}); "
        f"saved in {_shown(emulator.unfinished_file(port))}:"
    )
    _listed(console, [f"upload {u.key} ({u.last_modified}): no receipt" for u in found.uploads])
    _listed(
        console,
        [f"NoStock alert for {emulator.describe_alert(r)}: not sent" for r in found.alerts],
    )
    console.print(
        "`inventory up` (make up) delivers them again after the restart: each upload's S3 "
        "event to Load-Inventory, the alerts' stream records to Check-Stock."
    )


def _status(args: argparse.Namespace) -> int:
    from harness import emulator, env

    env.use_emulator_defaults()
    port = env.endpoint_port()
    healthy = emulator.is_healthy()
    console = _stderr()
    console.print(f"{env.endpoint()}: {'healthy' if healthy else 'not answering'}")
    kept = _shown(emulator.saved_state_dir(port))
    ours = emulator.running(port)
    if ours:
        persist = emulator.keeps_state(port)
        if persist:
            console.print(f"state: kept in {kept}/ (saved when `inventory down` stops it)")
        elif persist is False:
            console.print(f"state: not kept ({emulator.PERSIST_VARIABLE}=0): lost when it stops")
        else:
            console.print("state: not known (started by an older version of this project)")
    elif healthy:
        console.print("state: not managed here (this project did not start that emulator)")
    else:
        saved = emulator.saved_at(port)
        console.print(
            f"saved state: {kept}/, saved {saved:%Y-%m-%d %H:%M:%S} UTC (`inventory up` loads it)"
            if saved
            else f"saved state: none for port {port}"
        )
    unfinished = emulator.saved_unfinished(port)
    if unfinished:
        console.print(
            f"in flight at the last stop: {unfinished.summary()}; `inventory up` delivers them"
        )
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
    from harness.users import dashboard_user, print_credentials

    outputs = stack.running(redeploy=True)
    # Piped output (CI, a log file) gets rich's 80 columns by default: too narrow here.
    console = Console(width=None if sys.stdout.isatty() else 120)
    runs = run_demo(outputs, console)
    url = stack.serve_dashboard(outputs)
    _warn_if_tokens_refused()
    console.print()
    console.print("[bold]The dashboard[/] shows these stores live; sign in as the demo user:")
    print_credentials(dashboard_user(outputs, DEMO_USER), url, console)
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
    down = add(
        "down",
        _down,
        "stop the emulator this project started: after what is in flight, keeping its state",
    )
    timing = down.add_mutually_exclusive_group()
    timing.add_argument(
        "--wait", type=float, default=DOWN_WAIT_S, metavar="SECONDS",
        help="wait at most this long for uploads with no receipt and NoStock alerts not sent "
        f"(default {DOWN_WAIT_S:.0f}); what is still in flight is listed, and `inventory up` "
        "delivers it again",
    )  # fmt: skip
    timing.add_argument(
        "--now", action="store_true",
        help="do not wait (what is in flight is still listed and delivered again by `up`)",
    )  # fmt: skip
    timing.add_argument(
        "--forget", action="store_true",
        help="stop without waiting and delete the kept state: the next `up` starts from nothing",
    )  # fmt: skip
    add("status", _status, "say whether an emulator answers, and whether its state is kept")
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
    from harness.dashboard import DashboardError
    from harness.emulator import EmulatorError
    from harness.identity import explain
    from harness.stack import DeployError

    try:
        code: int = args.handler(args)
    except (EmulatorError, DeployError, DashboardError) as exc:
        _stderr().print(f"[red]error:[/] {exc}")
        return 1
    except Exception as exc:
        # Missing or expired credentials, no region, an endpoint that does not answer: one
        # paragraph saying what to do, never a traceback.
        problem = explain(exc)
        if problem is None:
            raise
        _stderr().print(f"[red]error:[/] {problem}")
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
