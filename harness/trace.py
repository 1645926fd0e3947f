"""`inventory trace KEY`: the journey of one uploaded file; `--since 10m`: what went wrong lately.

The steps are built by harness/journey.py (pure, unit-tested) from what `AwsTrail`, the small
adapter below, reads from the deployed stack: the receipts (IngestReceipts and its
RecentReceipts index), the object in S3, the functions' log lines in CloudWatch Logs
(found by the upload's correlation id), and the NoStock topic's delivery-status logs where
they exist (not on MiniStack). Nothing heavy is imported before the command runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from harness.journey import SinceError, parse_since

if TYPE_CHECKING:
    from rich.console import Console

    from harness.journey import Deliveries, Flagged, Journey, LogLine, S3Object, Upload
    from infra.outputs import StackOutputs
    from inventory.receipts import Receipt

DESCRIPTION = "The journey of one uploaded file through the pipeline, step by step."
EPILOG = """
KEY is the object's key in the upload bucket. The steps, with the time of each (UTC) and the
gap from the previous one: the upload, Load-Inventory's start and end (its log lines), the
receipt (rows written, rejected and stale, and why), and for each item that ran out: the
stream record reaching Check-Stock, the NoStock publish (with SNS's message id) and its
delivery, where the topic's delivery-status logs exist (MiniStack writes none).

examples:
  inventory trace stores/berlin.csv           # its newest upload
  inventory trace stores/berlin.csv --all     # every upload of that key
  inventory trace --since 10m                 # the slow or failed uploads of the last 10 min
  inventory trace --since 2h --slow-ms 250
  inventory trace stores/berlin.csv --aws     # the stack on AWS (your credentials)
"""
DEFAULT_SLOW_MS = 1000.0
PIPED_WIDTH = 400  # columns when the output is not a terminal
# Where to look for an upload's log lines: from a little before it (clocks differ) to an hour
# after (Check-Stock retries a failing batch for up to a minute; a re-drive may come later).
LOOK_BEFORE = timedelta(minutes=5)
LOOK_AFTER = timedelta(hours=1)


def _since(text: str) -> timedelta:
    try:
        return parse_since(text)
    except SinceError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `inventory trace`."""
    parser.description = DESCRIPTION
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("key", nargs="?", metavar="KEY", help="the uploaded object's key")
    parser.add_argument(
        "--all", action="store_true", help="every upload of KEY, not only the newest"
    )
    parser.add_argument(
        "--since",
        type=_since,
        metavar="DURATION",
        help="list the uploads of the last DURATION (30s, 10m, 2h, 1d) that were slow or failed",
    )
    parser.add_argument(
        "--slow-ms",
        type=float,
        default=DEFAULT_SLOW_MS,
        help="with --since: slower than this, in ms, from upload to receipt (default 1000)",
    )
    parser.add_argument(
        "--aws", action="store_true", help="the stack on AWS (your credentials), not the emulator"
    )


# --- the AWS reads -------------------------------------------------------------------------------


class Trail(Protocol):
    """What the command reads from the deployed stack (`AwsTrail`; a fake in the tests)."""

    outputs: StackOutputs

    def receipts(self, key: str) -> list[Receipt]: ...
    def head(self, key: str) -> S3Object | None: ...
    def objects_since(self, since: datetime) -> list[S3Object]: ...
    def receipts_since(self, since: datetime, now: datetime) -> list[Receipt]: ...
    def dead_lettered(self) -> set[str]: ...
    def function_lines(
        self, function_name: str, term: str, start: datetime, end: datetime
    ) -> list[LogLine]: ...
    def deliveries(
        self, message_ids: Sequence[str], start: datetime, end: datetime
    ) -> Deliveries: ...


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@dataclass
class AwsTrail:
    """Reads what the deployed stack kept of its uploads (S3, DynamoDB, CloudWatch Logs)."""

    outputs: StackOutputs
    on_emulator: bool

    def __post_init__(self) -> None:
        from harness import env
        from harness.observe import Observer

        self._observer = Observer(self.outputs)
        self._logs = env.client("logs")
        self._groups: dict[str, str] = {}

    def receipts(self, key: str) -> list[Receipt]:
        """Every receipt of the key, oldest first."""
        return self._observer.receipts(key)

    def head(self, key: str) -> S3Object | None:
        """The object as S3 holds it now, or None."""
        from botocore.exceptions import ClientError

        from harness import env
        from harness.journey import S3Object

        try:
            head = env.client("s3").head_object(Bucket=self.outputs.bucket_name, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise
        return S3Object(
            key, head["LastModified"].astimezone(UTC), head.get("ETag", ""), head["ContentLength"]
        )

    def objects_since(self, since: datetime) -> list[S3Object]:
        """The bucket's objects last modified since then."""
        from harness import env
        from harness.journey import S3Object

        pages = env.client("s3").get_paginator("list_objects_v2")
        return [
            S3Object(o["Key"], o["LastModified"].astimezone(UTC), o.get("ETag", ""), o["Size"])
            for page in pages.paginate(Bucket=self.outputs.bucket_name)
            for o in page.get("Contents", ())
            if o["LastModified"] >= since
        ]

    def receipts_since(self, since: datetime, now: datetime) -> list[Receipt]:
        """The receipts written since then (the RecentReceipts index, day by day)."""
        from harness import env
        from harness.journey import days_between
        from harness.observe import plain
        from inventory import config
        from inventory.receipts import from_item

        pages = env.client("dynamodb").get_paginator("query")
        found = []
        for day in days_between(since, now):
            for page in pages.paginate(
                TableName=self.outputs.receipts_table_name,
                IndexName=config.INDEX_RECENT_RECEIPTS,
                KeyConditionExpression="#d = :d AND #at >= :since",
                ExpressionAttributeNames={
                    "#d": config.ATTR_PROCESSED_DAY,
                    "#at": config.ATTR_PROCESSED_AT,
                },
                ExpressionAttributeValues={
                    ":d": {"S": day},
                    ":since": {"S": since.isoformat(timespec="milliseconds")},
                },
            ):
                found += [from_item(plain(item)) for item in page.get("Items", ())]
        return found

    def dead_lettered(self) -> set[str]:
        """The keys waiting in LoadInventoryFailures."""
        return self._observer.dead_lettered_keys()

    def log_group(self, function_name: str) -> str:
        """Where the function logs: its LoggingConfig's group, or /aws/lambda/<name>."""
        if function_name not in self._groups:
            from harness import env

            found = env.client("lambda").get_function_configuration(FunctionName=function_name)
            group = (found.get("LoggingConfig") or {}).get("LogGroup")
            self._groups[function_name] = group or f"/aws/lambda/{function_name}"
        return self._groups[function_name]

    def lines(self, group: str, term: str, start: datetime, end: datetime) -> list[LogLine]:
        """The group's JSON lines holding `term` between start and end (none: no group)."""
        from harness.journey import log_line

        pages = self._logs.get_paginator("filter_log_events")
        found = []
        try:
            for page in pages.paginate(
                logGroupName=group,
                filterPattern=f'"{term}"',
                startTime=_ms(start),
                endTime=_ms(end),
            ):
                for event in page.get("events", ()):
                    line = log_line(event.get("message", ""), int(event.get("timestamp", 0)))
                    if line is not None:
                        found.append(line)
        except self._logs.exceptions.ResourceNotFoundException:
            return []
        return found

    def function_lines(
        self, function_name: str, term: str, start: datetime, end: datetime
    ) -> list[LogLine]:
        return self.lines(self.log_group(function_name), term, start, end)

    def deliveries(self, message_ids: Sequence[str], start: datetime, end: datetime) -> Deliveries:
        """NoStock's delivery-status lines of these messages, or why there are none."""
        from harness.journey import MINISTACK_DELIVERY, Deliveries

        if self.on_emulator:
            return Deliveries(not_recorded=MINISTACK_DELIVERY)
        # The ARN is arn:aws:sns:<region>:<account>:<name>; the group sns/<region>/<account>/<name>
        _, _, _, region, account, name = self.outputs.topic_arn.split(":", 5)
        group = f"sns/{region}/{account}/{name}"
        listed = self._logs.describe_log_groups(logGroupNamePrefix=group).get("logGroups", [])
        if not listed:
            return Deliveries(
                not_recorded=f"delivery: not recorded (no delivery-status log group {group})"
            )
        by_message: dict[str, list[LogLine]] = {}
        for message_id in message_ids:
            for found in (group, f"{group}/Failure"):
                for line in self.lines(found, message_id, start, end):
                    if (line.get("notification") or {}).get("messageId") == message_id:
                        by_message.setdefault(message_id, []).append(line)
        return Deliveries(by_message=by_message)


# --- from reads to journeys ----------------------------------------------------------------------


def uploads_of(trail: Trail, key: str, every: bool) -> list[Upload]:
    """The key's uploads, newest first (only the newest unless `every`); [] if none."""
    from harness.journey import Upload

    bucket = trail.outputs.bucket_name
    receipts = trail.receipts(key)
    found = [Upload(bucket, key, receipt) for receipt in receipts]
    current = trail.head(key)
    if current is not None and current.etag.strip('"') not in {r.etag.strip('"') for r in receipts}:
        # The object S3 holds now has no receipt: loading, failed or dead-lettered.
        dead = key in trail.dead_lettered()
        found.append(Upload(bucket, key, None, current.last_modified, current.size, dead))
    found.sort(key=lambda u: u.uploaded_at or datetime.min.replace(tzinfo=UTC), reverse=True)
    return found if every else found[:1]


def journey_of(trail: Trail, upload: Upload, now: datetime, others: Iterable[str] = ()) -> Journey:
    """Find the upload's log lines and deliveries, and build its journey.

    `others` are the correlation ids of the key's other uploads: an upload with none of its
    own (no receipt yet) is given the lines about its key that belong to no other upload.
    """
    from harness.journey import build_journey

    outputs = trail.outputs
    at = upload.uploaded_at or now
    start, end = at - LOOK_BEFORE, min(now, at + LOOK_AFTER)
    cid = upload.correlation_id
    loader = trail.function_lines(
        outputs.load_inventory_function_name, cid or upload.key, start, end
    )
    if cid:
        loader = [line for line in loader if line.correlation_id == cid]
    else:
        known = set(others) - {""}
        loader = [
            line
            for line in loader
            if line.get("object_key") == upload.key and line.correlation_id not in known
        ]
    checker: list[LogLine] = []
    if cid:
        checker = [
            line
            for line in trail.function_lines(outputs.check_stock_function_name, cid, start, end)
            if line.correlation_id == cid
        ]
    published = [str(line.get("message_id")) for line in checker if line.message == "no stock"]
    deliveries = trail.deliveries(published, start, end) if published else None
    return build_journey(upload, loader, checker, deliveries)


# --- showing them --------------------------------------------------------------------------------


def _time(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def journey_table(journey: Journey) -> Any:
    """The journey as a rich table: time (UTC), gap from the previous step, step, detail."""
    from rich.markup import escape
    from rich.table import Table

    upload = journey.upload
    title = f"{escape(upload.key)}"
    if upload.correlation_id:
        title += f"  (correlation id {escape(upload.correlation_id)})"
    table = Table(title=title, title_justify="left")
    table.add_column("time (UTC)", no_wrap=True)
    table.add_column("+ms", justify="right", no_wrap=True)
    table.add_column("step", no_wrap=True)
    table.add_column("detail")
    for step, gap in zip(journey.steps, journey.gaps_ms(), strict=True):
        table.add_row(
            _time(step.at),
            "" if gap is None else f"{gap:,.0f}",
            escape(step.what),
            escape(step.detail),
        )
    return table


def flagged_table(found: Sequence[Flagged], window: str, slow_ms: float) -> Any:
    from rich.markup import escape
    from rich.table import Table

    table = Table(
        title=f"Uploads of the last {window} that were slow (> {slow_ms:.0f} ms) or failed",
        title_justify="left",
    )
    table.add_column("uploaded (UTC)", no_wrap=True)
    table.add_column("key")
    table.add_column("ms", justify="right", no_wrap=True)
    table.add_column("why")
    for f in found:
        latency = "" if f.latency_ms is None else f"{f.latency_ms:,.0f}"
        table.add_row(_time(f.uploaded_at), escape(f.key), latency, escape(f.reason))
    return table


def show_journeys(console: Console, journeys: Iterable[Journey]) -> None:
    for journey in journeys:
        console.print(journey_table(journey))
        for note in journey.notes:
            console.print(f"  [yellow]{note}[/]")
        console.print()


# --- the command ---------------------------------------------------------------------------------


def trace_key(
    trail: Trail, key: str, every: bool, console: Console, now: datetime | None = None
) -> int:
    """Show the key's journeys; 1 when the bucket never had it."""
    now = now or datetime.now(UTC)
    uploads = uploads_of(trail, key, every)
    if not uploads:
        console.print(f"[red]error:[/] no upload of {key} in {trail.outputs.bucket_name}")
        return 1
    ids = [u.correlation_id for u in uploads]
    show_journeys(console, (journey_of(trail, upload, now, ids) for upload in uploads))
    return 0


def trace_since(
    trail: Trail,
    window: timedelta,
    slow_ms: float,
    console: Console,
    now: datetime | None = None,
) -> int:
    """List the window's slow or failed uploads, newest first."""
    from harness.journey import describe_window, flagged

    label = describe_window(window)
    now = now or datetime.now(UTC)
    since = now - window
    found = flagged(
        trail.receipts_since(since, now),
        trail.objects_since(since),
        since,
        now,
        slow_ms,
        trail.dead_lettered(),
    )
    if not found:
        console.print(f"Nothing slow (> {slow_ms:.0f} ms) or failed in the last {label}.")
        return 0
    console.print(flagged_table(found, label, slow_ms))
    console.print("`inventory trace KEY` shows one file's journey.")
    return 0


def command(args: argparse.Namespace) -> int:
    """`inventory trace`: one key's journey, or the window's slow and failed uploads."""
    from rich.console import Console

    from harness import env, stack

    # Piped or captured: one line per step or file (a table as wide as its rows), so grep
    # finds a file's reason on its own line, however long the keys beside it are.
    console = Console(width=None if sys.stdout.isatty() else PIPED_WIDTH)
    if (args.key is None) == (args.since is None):
        console.print("[red]error:[/] give a KEY, or --since DURATION (e.g. --since 10m)")
        return 2
    outputs = stack.for_command(args.aws, console)
    if outputs is None:
        return 1
    trail = AwsTrail(outputs, on_emulator=not args.aws and env.on_emulator())
    if args.since is not None:
        return trace_since(trail, args.since, args.slow_ms, console)
    return trace_key(trail, args.key, args.all, console)
