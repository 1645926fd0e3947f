"""`inventory floor`: how much of one file's ingest latency is the emulator's, measured.

A *floor* function does the least any loader must: on each S3 event it makes one `PutItem`
(a receipt keyed by the object key) and nothing else: no parse, no rows, no logging. It is
created straight through the Lambda API beside the deployed stack, on a scratch bucket and
table, and fed files at the pace of `make load SPEEDUP=10` (the seed's rate ×10), one at a
time, alternating with 50-row files uploaded to the deployed stack. Both are observed the
same way (a consistent read every 10 ms until the receipt is there), so they share the
machine's noise and the observer's lag, and the report sets them side by side:

- the floor's percentiles are what S3's notification, MiniStack's worker dispatch, one
  DynamoDB call and the observer cost on this machine, with no code of ours in the way;
- ours minus the floor is what our loader adds (its parse, its conditional writes, its
  receipt, its logs and traces).

If the floor's own p99 is above a target, no loader can meet that target on this emulator
and machine. Scratch resources are removed afterwards; our files' rows stay in the
Inventory table (one fresh store per file, one item at 0 so Check-Stock runs as in a load
run).

`inventory floor [--files 120] [--rate 1.157] [--rows 50]`; writes
reports/<stamp>-floor/floor.json and floor.png.
"""

from __future__ import annotations

import argparse
import io
import json
import time
import uuid
import zipfile
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from harness.measure import SEED_FILES_PER_S, percentile

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

DEFAULT_RATE = SEED_FILES_PER_S * 10  # files/s, both kinds together: `make load SPEEDUP=10`
DEFAULT_FILES = 120
SEEN_TIMEOUT_S = 30.0
POLL_S = 0.005  # as load runs look for receipts (loadtests.tracker.RECEIPT_POLL_S)
RUNTIME = "python3.13"  # infra.functions.RUNTIME
FLOOR_KEY = "ObjectKey"
FLOOR_CODE = f'''
import os
import boto3

TABLE = os.environ["FLOOR_TABLE"]
DYNAMODB = boto3.client("dynamodb")


def handler(event, context):
    for record in event["Records"]:
        key = record["s3"]["object"]["key"]
        DYNAMODB.put_item(TableName=TABLE, Item={{"{FLOOR_KEY}": {{"S": key}}}})
'''
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def _zipped(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", source)
    return buffer.getvalue()


@contextmanager
def _role(name: str, table_arn: str) -> Iterator[str]:
    """A role that may put items into the floor's table (IAM is enforced under AUTH=true)."""
    from harness import env

    iam = env.client("iam")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": table_arn}],
    }
    iam.put_role_policy(RoleName=name, PolicyName="put", PolicyDocument=json.dumps(policy))
    try:
        yield arn
    finally:
        iam.delete_role_policy(RoleName=name, PolicyName="put")
        iam.delete_role(RoleName=name)


@contextmanager
def _function(name: str, role_arn: str, table: str, bucket: str) -> Iterator[str]:
    """The floor function, invoked by every object created in `bucket`."""
    from harness import env

    lam = env.client("lambda")
    arn = lam.create_function(
        FunctionName=name,
        Runtime=RUNTIME,
        Role=role_arn,
        Handler="index.handler",
        Code={"ZipFile": _zipped(FLOOR_CODE)},
        Environment={"Variables": {"FLOOR_TABLE": table}},
        Timeout=30,
        MemorySize=512,
    )["FunctionArn"]
    try:
        lam.get_waiter("function_active_v2").wait(FunctionName=name)
        lam.add_permission(
            FunctionName=name,
            StatementId="s3",
            Action="lambda:InvokeFunction",
            Principal="s3.amazonaws.com",
            SourceArn=f"arn:aws:s3:::{bucket}",
        )
        env.client("s3").put_bucket_notification_configuration(
            Bucket=bucket,
            NotificationConfiguration={
                "LambdaFunctionConfigurations": [
                    {"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]}
                ]
            },
        )
        yield arn
    finally:
        lam.delete_function(FunctionName=name)


def _seen_after(exists: Callable[[], bool], started: float) -> float | None:
    """Poll `exists` every POLL_S; ms from `started` until it holds, or None."""
    deadline = started + SEEN_TIMEOUT_S
    while time.perf_counter() < deadline:
        if exists():
            return (time.perf_counter() - started) * 1000
        time.sleep(POLL_S)
    return None


def ours_csv(store: str, rows: int) -> bytes:
    """`rows` items of one fresh store, the first at 0 (an alert is due, as in a load run)."""
    lines = ["store,item,count", *(f"{store},item-{i:04d},{i % 17}" for i in range(rows))]
    return ("\n".join(lines) + "\n").encode()


def stats(values: list[float]) -> dict[str, float | int]:
    return {
        "n": len(values),
        **{f"p{p}": round(percentile(values, p), 1) for p in (50, 95, 99)},
        "max": round(max(values), 1) if values else 0.0,
    }


def measure(files: int, rate: float, rows: int, console: Console) -> dict[str, Any]:
    """Alternate floor and ours files at `rate` files/s; their ingest latencies, in ms."""
    from harness import env, stack
    from harness.observe import Observer
    from loadtests.large_files import scratch_bucket
    from loadtests.raw_writes import scratch_table

    observer = Observer(stack.outputs())
    s3, dynamodb = env.client("s3"), env.client("dynamodb")
    run = uuid.uuid4().hex[:8]
    latencies: dict[str, list[float]] = {"floor": [], "ours": []}
    missing: dict[str, int] = {"floor": 0, "ours": 0}
    with ExitStack() as scratch:
        table = scratch.enter_context(scratch_table(keys=(FLOOR_KEY,), prefix="floor"))
        table_arn = dynamodb.describe_table(TableName=table)["Table"]["TableArn"]
        bucket = scratch.enter_context(scratch_bucket(s3, prefix="floor"))
        role = scratch.enter_context(_role(f"floor-{run}", table_arn))
        scratch.enter_context(_function(f"floor-{run}", role, table, bucket))

        def floor_file(n: int) -> float | None:
            key = f"floor/{run}/{n}.csv"
            started = time.perf_counter()
            s3.put_object(Bucket=bucket, Key=key, Body=b"store,item,count\nfloor,item,1\n")
            item = {FLOOR_KEY: {"S": key}}
            return _seen_after(
                lambda: "Item" in dynamodb.get_item(TableName=table, Key=item, ConsistentRead=True),
                started,
            )

        def ours_file(n: int) -> float | None:
            key = f"floor-ours/{run}/{n}.csv"
            started = time.perf_counter()
            s3.put_object(
                Bucket=observer.outputs.bucket_name,
                Key=key,
                Body=ours_csv(f"floor-{run}-{n}", rows),
            )
            return _seen_after(lambda: bool(observer.receipts(key)), started)

        kinds = {"floor": floor_file, "ours": ours_file}
        for n in range(4):  # warm both functions; not measured
            for upload in kinds.values():
                upload(-1 - n)
        interval = 1.0 / rate
        next_slot = time.perf_counter()
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("floor and ours, alternating", total=files)
            for n in range(files):
                kind = ("floor", "ours")[n % 2]
                time.sleep(max(0.0, next_slot - time.perf_counter()))
                next_slot += interval
                latency = kinds[kind](n)
                if latency is None:
                    missing[kind] += 1
                else:
                    latencies[kind].append(latency)
                progress.advance(task)
    floor, ours = stats(latencies["floor"]), stats(latencies["ours"])
    return {
        "endpoint": env.endpoint(),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "rate_files_per_s": round(rate, 3),
        "rows_per_ours_file": rows,
        "floor_ms": floor,
        "ours_ms": ours,
        "ours_minus_floor_ms": {
            p: round(float(ours[p]) - float(floor[p]), 1) for p in ("p50", "p95", "p99")
        },
        "not_seen_within_s": {"timeout_s": SEEN_TIMEOUT_S, **missing},
        "latencies_ms": latencies,
    }


def plot(result: dict[str, Any], path: Path) -> None:
    """Both latency distributions as empirical CDFs, the p99s marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.8), dpi=100)
    for kind, style in (("floor", "-"), ("ours", "--")):
        values = sorted(result["latencies_ms"][kind])
        if not values:
            continue
        shares = [(i + 1) / len(values) for i in range(len(values))]
        ax.step(
            values,
            shares,
            style,
            where="post",
            label=f"{kind} (p99 {percentile(values, 99):.0f} ms)",
        )
    ax.axhline(0.99, color="grey", linewidth=0.8, linestyle=":")
    ax.set_xscale("log")
    ax.set_xlabel("upload start to receipt seen (ms, log scale)")
    ax.set_ylabel("share of files")
    ax.set_title(
        f"Ingest latency at {result['rate_files_per_s']} files/s: the emulator's floor and ours"
    )
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def show(console: Console, result: dict[str, Any]) -> None:
    table = Table(title=f"ingest ms at {result['rate_files_per_s']} files/s, measured alternately")
    for column in ("", "n", "p50", "p95", "p99", "max"):
        table.add_column(column, justify="right")
    for kind in ("floor", "ours"):
        s = result[f"{kind}_ms"]
        table.add_row(kind, *(str(s[k]) for k in ("n", "p50", "p95", "p99", "max")))
    gap = result["ours_minus_floor_ms"]
    table.add_row("ours − floor", "", *(str(gap[p]) for p in ("p50", "p95", "p99")), "")
    console.print(table)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--files", type=int, default=DEFAULT_FILES,
        help=f"files in all, half floor and half ours (default {DEFAULT_FILES})",
    )  # fmt: skip
    parser.add_argument(
        "--rate", type=float, default=DEFAULT_RATE,
        help=f"files/s, both kinds together (default {DEFAULT_RATE:.3f}: the seed's rate x10)",
    )  # fmt: skip
    parser.add_argument("--rows", type=int, default=50, help="rows per file of ours (default 50)")
    parser.add_argument("--reports", type=Path, default=Path("reports"), help="reports folder")


def command(args: argparse.Namespace) -> int:
    """Measure the floor beside the deployed stack; print and keep the comparison."""
    if args.files < 2 or args.rate <= 0 or args.rows < 1:
        raise SystemExit("--files must be at least 2, --rate above 0 and --rows at least 1")
    from harness import env

    env.use_emulator_defaults()
    console = Console()
    result = measure(args.files, args.rate, args.rows, console)
    folder = args.reports / f"{time.strftime('%Y%m%d-%H%M%S')}-floor"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "floor.json").write_text(json.dumps(result, indent=2), "utf-8")
    plot(result, folder / "floor.png")
    show(console, result)
    console.print(f"report: {folder / 'floor.json'} and floor.png")
    return 0 if not any(result["not_seen_within_s"][k] for k in ("floor", "ours")) else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    raise SystemExit(command(parser.parse_args()))


if __name__ == "__main__":
    main()
