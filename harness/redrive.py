"""`inventory redrive`: process again what the functions gave up on, from their failure queues.

- **LoadInventoryFailures** holds asynchronous-invocation on-failure records: the original S3
  event is the record's `requestPayload`. Each is given to Load-Inventory again, synchronously;
  the message is deleted only when that invocation succeeds.
- **CheckStockFailures** holds stream on-failure records: `DDBStreamBatchInfo` names the shard
  and the first and last sequence numbers of the batch, not the records themselves (on AWS
  and on MiniStack alike). The records are read back from the table's stream
  (`GetShardIterator` AT_SEQUENCE_NUMBER, then `GetRecords` until past the last one) and
  given to Check-Stock synchronously as `{"Records": [...]}`, each record carrying the stream
  ARN as its `eventSourceARN`; the message is deleted only when every invocation succeeds.

Both are safe to repeat: the loader does not apply an upload twice (its receipt exists) and
never lets an older upload overwrite a newer one, and Check-Stock never sends an alert twice.
The records between the first and last sequence numbers include the changes the event
source's filter left out; Check-Stock applies the stock rule to each, so those send nothing.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from infra.outputs import StackOutputs

LOADER_QUEUE = "LoadInventoryFailures"
CHECKER_QUEUE = "CheckStockFailures"
QUEUES = {"load-inventory": LOADER_QUEUE, "check-stock": CHECKER_QUEUE}
# Check-Stock is given the records of a failed batch in invocations of at most this many
# (its event source's batch size), in stream order.
CHECK_STOCK_CHUNK = 100
MAX_STREAM_PAGES = 1000
EMPTY_PAGES_BEFORE_GIVING_UP = 5  # an open shard may answer empty pages before later records
DRY_RUN_VISIBILITY_S = 30
FAILING_SHOWN = 20
MAX_MESSAGES = 10_000  # per queue and run; run again for more
VISIBILITY_MARGIN_S = 60

DESCRIPTION = "Re-drive what the pipeline's functions gave up on, from their failure queues."
EPILOG = """
When to use it: when LoadInventoryFailures or CheckStockFailures hold messages: when
`inventory simulate verify` or a load run's accounting reports dead-lettered files or missing
alerts, or the queues' depth (`inventory redrive --dry-run`) is not 0. First fix what made the
functions fail (a bad deploy, a permission, a downstream outage, a poison record); then:

  - each LoadInventoryFailures message: its S3 event (requestPayload) is given again to
    Load-Inventory, synchronously;
  - each CheckStockFailures message: the stream records between its first and last sequence
    numbers are read back from the table's stream (within its 24 hours' retention) and given
    to Check-Stock, synchronously.

A message is deleted only when its re-drive succeeds; the rest stay queued (14 days), and the
final table says why each still fails. Re-driving twice is safe: an upload is never applied
twice, an older upload never overwrites a newer one, and no alert is sent twice.
Exit code 1 when anything still fails.

examples:
  inventory redrive --dry-run       # what is queued, without touching it
  inventory redrive                 # re-drive both queues
  inventory redrive --queue check-stock
  inventory redrive --aws           # the stack on AWS (your credentials)
"""


class UnrecognisedMessage(ValueError):
    """A queue message that is not the on-failure record this queue should hold."""


# --- the two record shapes ---------------------------------------------------------------------


@dataclass(frozen=True)
class LoaderFailure:
    """An asynchronous-invocation on-failure record of Load-Inventory."""

    payload: dict[str, Any]  # the original S3 event (requestPayload)
    keys: tuple[str, ...]  # the decoded object keys it names
    error: str | None  # why the last attempt failed, when the record says
    condition: str | None  # RetriesExhausted, EventAgeExceeded

    def describe(self) -> str:
        return ", ".join(self.keys) or "(an event naming no object)"


@dataclass(frozen=True)
class StreamBatch:
    """A stream on-failure record of Check-Stock: which records of which shard failed."""

    stream_arn: str
    shard_id: str
    start_sequence_number: str
    end_sequence_number: str
    batch_size: int | None
    condition: str | None  # RetryAttemptsExhausted, MaxRecordAgeExceeded

    def describe(self) -> str:
        size = ""
        if self.batch_size is not None:
            size = f"{self.batch_size} record{'' if self.batch_size == 1 else 's'}, "
        return f"{size}sequence {self.start_sequence_number}..{self.end_sequence_number}"


def _json_object(body: str) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise UnrecognisedMessage(f"not JSON: {body[:80]!r}") from exc
    if not isinstance(data, dict):
        raise UnrecognisedMessage("not a JSON object")
    return data


def parse_loader_failure(body: str) -> LoaderFailure:
    """Read a LoadInventoryFailures message body (raises UnrecognisedMessage)."""
    data = _json_object(body)
    payload = data.get("requestPayload")
    if not isinstance(payload, dict) or not isinstance(payload.get("Records"), list):
        raise UnrecognisedMessage("no requestPayload with Records: not an on-failure record")
    from harness.observe import event_object_keys  # boto3: not at import (see harness.cli)

    keys = tuple(event_object_keys(payload["Records"]))
    response = data.get("responsePayload")
    error = None
    if isinstance(response, dict):
        message = response.get("errorMessage")
        error = f"{response.get('errorType', 'Error')}: {message}" if message else None
    context = data.get("requestContext")
    condition = context.get("condition") if isinstance(context, dict) else None
    return LoaderFailure(payload=payload, keys=keys, error=error, condition=condition)


def parse_stream_failure(body: str) -> StreamBatch:
    """Read a CheckStockFailures message body (raises UnrecognisedMessage)."""
    data = _json_object(body)
    info = data.get("DDBStreamBatchInfo")
    if not isinstance(info, dict):
        raise UnrecognisedMessage("no DDBStreamBatchInfo: not a stream on-failure record")
    try:
        batch = StreamBatch(
            stream_arn=str(info["streamArn"]),
            shard_id=str(info["shardId"]),
            start_sequence_number=str(info["startSequenceNumber"]),
            end_sequence_number=str(info["endSequenceNumber"]),
            batch_size=int(info["batchSize"]) if info.get("batchSize") is not None else None,
            condition=(data.get("requestContext") or {}).get("condition"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise UnrecognisedMessage(f"DDBStreamBatchInfo lacks {exc}") from exc
    if not (batch.start_sequence_number.isdigit() and batch.end_sequence_number.isdigit()):
        raise UnrecognisedMessage("DDBStreamBatchInfo has no sequence numbers")
    return batch


# --- reading a failed batch back from the stream -----------------------------------------------


def _plain_json(value: Any) -> Any:
    """A GetRecords value as a Lambda event carries it: times as epoch seconds, bytes base64."""
    if isinstance(value, Mapping):
        return {k: _plain_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain_json(v) for v in value]
    if isinstance(value, datetime):
        return int(value.timestamp())
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def lambda_record(record: Mapping[str, Any], stream_arn: str) -> dict[str, Any]:
    """A `GetRecords` record as Lambda delivers it to a stream function (with eventSourceARN)."""
    result: dict[str, Any] = _plain_json(record)
    result["eventSourceARN"] = stream_arn
    return result


def read_batch(streams: Any, batch: StreamBatch) -> list[dict[str, Any]]:
    """The records from the batch's first sequence number to its last, in Lambda's shape.

    Raises ClientError when the stream cannot give them (TrimmedDataAccessException: the
    records are older than the stream's 24 hours) and LookupError when the last record
    never came.
    """
    end = int(batch.end_sequence_number)
    iterator: str | None = streams.get_shard_iterator(
        StreamArn=batch.stream_arn,
        ShardId=batch.shard_id,
        ShardIteratorType="AT_SEQUENCE_NUMBER",
        SequenceNumber=batch.start_sequence_number,
    )["ShardIterator"]
    records: list[dict[str, Any]] = []
    empty = 0
    for _ in range(MAX_STREAM_PAGES):
        if iterator is None:
            break  # the shard is closed and read to its end
        page = streams.get_records(ShardIterator=iterator, Limit=1000)
        for record in page.get("Records", []):
            sequence = int(record["dynamodb"]["SequenceNumber"])
            if sequence > end:
                return records
            records.append(lambda_record(record, batch.stream_arn))
            if sequence == end:
                return records
        empty = 0 if page.get("Records") else empty + 1
        if empty >= EMPTY_PAGES_BEFORE_GIVING_UP:
            break
        iterator = page.get("NextShardIterator")
    raise LookupError(
        f"the stream ended before sequence number {batch.end_sequence_number} "
        f"({len(records)} records read)"
    )


def chunks(records: Sequence[dict[str, Any]], size: int = CHECK_STOCK_CHUNK) -> Iterator[list[Any]]:
    for start in range(0, len(records), size):
        yield list(records[start : start + size])


# --- invoking the functions --------------------------------------------------------------------


class InvocationFailed(RuntimeError):
    """The function answered with an error (or reported failed records)."""


def invoke(client: Any, function_name: str, payload: Mapping[str, Any]) -> Any:
    """Invoke synchronously; the function's answer, or InvocationFailed with its reason."""
    response = client.invoke(
        FunctionName=function_name,
        InvocationType="RequestResponse",
        Payload=json.dumps(payload).encode(),
    )
    raw = response["Payload"].read()
    try:
        answer = json.loads(raw) if raw else None
    except ValueError:
        answer = raw.decode(errors="replace")
    if response.get("FunctionError"):
        if isinstance(answer, dict):
            reason = f"{answer.get('errorType', 'Error')}: {answer.get('errorMessage', answer)}"
        else:
            reason = str(answer)
        raise InvocationFailed(reason)
    if isinstance(answer, dict) and answer.get("batchItemFailures"):
        raise InvocationFailed(f"{len(answer['batchItemFailures'])} records reported failed")
    return answer


# --- the queues --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    message_id: str
    receipt_handle: str
    body: str


def receive_all(sqs: Any, queue_url: str, visibility_s: int) -> list[Message]:
    """Every message the queue will give now (up to MAX_MESSAGES), each hidden for
    `visibility_s` while we work."""
    found: dict[str, Message] = {}
    while len(found) < MAX_MESSAGES:
        batch = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=visibility_s,
            WaitTimeSeconds=0,
        ).get("Messages", [])
        new = [m for m in batch if m["MessageId"] not in found]
        for m in new:
            found[m["MessageId"]] = Message(m["MessageId"], m["ReceiptHandle"], m.get("Body", ""))
        if not new:
            break
    return list(found.values())


def release(sqs: Any, queue_url: str, messages: Sequence[Message]) -> None:
    """Make messages visible again at once (the ones left in the queue)."""
    for start in range(0, len(messages), 10):
        entries = [
            {"Id": str(i), "ReceiptHandle": m.receipt_handle, "VisibilityTimeout": 0}
            for i, m in enumerate(messages[start : start + 10])
        ]
        if entries:
            sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)


@dataclass
class QueueResult:
    """What re-driving one queue did."""

    queue: str
    found: int = 0
    redriven: int = 0
    planned: list[str] = field(default_factory=list)  # dry run: what would be re-driven
    failing: list[tuple[str, str]] = field(default_factory=list)  # (what, why)

    @property
    def ok(self) -> bool:
        return not self.failing


@dataclass(frozen=True)
class Targets:
    """Where to re-drive to: the functions, the queues, and the clients to use."""

    load_inventory_function: str
    check_stock_function: str
    queue_urls: Mapping[str, str]  # LOADER_QUEUE / CHECKER_QUEUE -> URL
    sqs: Any
    lambda_: Any
    streams: Any

    @classmethod
    def of(cls, outputs: StackOutputs) -> Targets:
        import boto3
        from botocore.config import Config

        from harness import env

        # A synchronous invocation may last up to the function's timeout (the loader's is 15
        # minutes); a retry would invoke again, which is safe but slow, so one attempt only.
        invoking = Config(read_timeout=960, connect_timeout=10, retries={"max_attempts": 1})
        return cls(
            load_inventory_function=outputs.load_inventory_function_name,
            check_stock_function=outputs.check_stock_function_name,
            queue_urls={
                LOADER_QUEUE: outputs.load_inventory_failures_queue_url,
                CHECKER_QUEUE: outputs.check_stock_failures_queue_url,
            },
            sqs=env.client("sqs"),
            lambda_=boto3.client("lambda", config=invoking),
            streams=env.client("dynamodbstreams"),
        )


def _visibility(lambda_client: Any, function_name: str) -> int:
    """Long enough for every message of the queue to be re-driven before it shows again."""
    try:
        configuration = lambda_client.get_function_configuration(FunctionName=function_name)
        timeout = int(configuration["Timeout"])
    except Exception:
        timeout = 900
    return min(43_200, timeout + VISIBILITY_MARGIN_S)


def _redrive_loader(targets: Targets, message: Message) -> str:
    failure = parse_loader_failure(message.body)
    invoke(targets.lambda_, targets.load_inventory_function, failure.payload)
    return failure.describe()


def _redrive_checker(targets: Targets, message: Message) -> str:
    batch = parse_stream_failure(message.body)
    records = read_batch(targets.streams, batch)
    for part in chunks(records):
        invoke(targets.lambda_, targets.check_stock_function, {"Records": part})
    return f"{batch.describe()} ({len(records)} stream records)"


def _describe(queue: str, body: str) -> str:
    try:
        if queue == LOADER_QUEUE:
            failure = parse_loader_failure(body)
            return failure.describe() + (f" (last error: {failure.error})" if failure.error else "")
        return parse_stream_failure(body).describe()
    except UnrecognisedMessage as exc:
        return f"unrecognised message: {exc}"


REDRIVERS: dict[str, Callable[[Targets, Message], str]] = {
    LOADER_QUEUE: _redrive_loader,
    CHECKER_QUEUE: _redrive_checker,
}


def _function_of(targets: Targets, queue: str) -> str:
    if queue == LOADER_QUEUE:
        return targets.load_inventory_function
    return targets.check_stock_function


def redrive_queue(
    targets: Targets,
    queue: str,
    *,
    dry_run: bool = False,
    on_found: Callable[[int], None] = lambda n: None,
    on_done: Callable[[], None] = lambda: None,
) -> QueueResult:
    """Re-drive every message of one queue; delete each one that succeeds."""
    url = targets.queue_urls[queue]
    result = QueueResult(queue)
    visibility = (
        DRY_RUN_VISIBILITY_S
        if dry_run
        else _visibility(targets.lambda_, _function_of(targets, queue))
    )
    messages = receive_all(targets.sqs, url, visibility)
    result.found = len(messages)
    on_found(len(messages))
    if dry_run:
        result.planned = [_describe(queue, m.body) for m in messages]
        release(targets.sqs, url, messages)
        return result
    left: list[Message] = []
    try:
        for index, message in enumerate(messages):
            try:
                REDRIVERS[queue](targets, message)
            except KeyboardInterrupt:
                left += messages[index:]
                raise
            except Exception as exc:
                result.failing.append((_describe(queue, message.body), _reason(exc)))
                left.append(message)
            else:
                targets.sqs.delete_message(QueueUrl=url, ReceiptHandle=message.receipt_handle)
                result.redriven += 1
            on_done()
    finally:
        release(targets.sqs, url, left)  # still queued, and visible again for the next try
    return result


def _reason(exc: BaseException) -> str:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code, text = error.get("Code", "?"), error.get("Message", "")
        if code == "TrimmedDataAccessException":
            return f"{code}: the records have left the stream (24 hours' retention)"
        return f"{code}: {text}"
    if isinstance(exc, UnrecognisedMessage):
        return f"unrecognised message ({exc}); left in the queue"
    return str(exc) or type(exc).__name__


def redrive(
    targets: Targets, queues: Sequence[str], console: Console, dry_run: bool = False
) -> list[QueueResult]:
    """Re-drive the queues, with a progress bar; return what happened per queue."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    results = []
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console, transient=dry_run) as progress:
        for queue in queues:
            task = progress.add_task(queue, total=None)
            result = redrive_queue(
                targets,
                queue,
                dry_run=dry_run,
                on_found=partial(_set_total, progress, task),
                on_done=partial(progress.advance, task),
            )
            if dry_run:
                progress.update(task, completed=result.found)
            results.append(result)
    return results


def _set_total(progress: Any, task: Any, total: int) -> None:
    progress.update(task, total=total)


# --- the command -------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `inventory redrive`."""
    parser.description = DESCRIPTION
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="list what each queue holds and what would be re-driven; change nothing",
    )
    parser.add_argument(
        "--queue",
        choices=[*QUEUES, "all"],
        default="all",
        help="which function's queue (default: both)",
    )
    parser.add_argument(
        "--aws", action="store_true", help="the stack on AWS (your credentials), not the emulator"
    )


def results_table(results: Sequence[QueueResult], dry_run: bool) -> Any:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="Re-drive" + (" (dry run: nothing changed)" if dry_run else ""))
    table.add_column("queue")
    table.add_column("found", justify="right")
    if dry_run:
        table.add_column("would re-drive")
    else:
        table.add_column("re-driven", justify="right")
        table.add_column("still failing", justify="right")
        table.add_column("why")
    for result in results:
        if dry_run:
            shown = "\n".join(result.planned[:10])
            if len(result.planned) > 10:
                shown += f"\n... and {len(result.planned) - 10} more"
            table.add_row(result.queue, str(result.found), escape(shown) or "-")
            continue
        reasons = Counter(why for _, why in result.failing)
        shown = "\n".join(
            f"{n} x {why}" if n > 1 else why for why, n in reasons.most_common(FAILING_SHOWN)
        )
        if len(reasons) > FAILING_SHOWN:
            shown += f"\n... and {len(reasons) - FAILING_SHOWN} other reasons"
        table.add_row(
            result.queue,
            str(result.found),
            str(result.redriven),
            str(len(result.failing)),
            escape(shown) or "-",
        )
    return table


def failing_table(results: Sequence[QueueResult]) -> Any:
    """Each message still failing: what it is about, and why (the first FAILING_SHOWN a queue)."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="Still failing (left in their queues)")
    for column in ("queue", "message", "why"):
        table.add_column(column)
    for result in results:
        for what, why in result.failing[:FAILING_SHOWN]:
            table.add_row(result.queue, escape(what), escape(why))
        if len(result.failing) > FAILING_SHOWN:
            table.add_row(result.queue, f"... and {len(result.failing) - FAILING_SHOWN} more", "")
    return table


def command(args: argparse.Namespace) -> int:
    """Re-drive; exit 1 when anything still fails after its re-drive."""
    from rich.console import Console

    from harness import stack

    console = Console(width=None if sys.stdout.isatty() else 120)
    outputs = stack.for_command(args.aws, console)
    if outputs is None:
        return 1
    queues = list(QUEUES.values()) if args.queue == "all" else [QUEUES[args.queue]]
    results = redrive(Targets.of(outputs), queues, console, dry_run=args.dry_run)
    console.print(results_table(results, args.dry_run))
    if args.dry_run:
        return 0
    failing = sum(len(r.failing) for r in results)
    if failing:
        console.print(failing_table(results))
        console.print(
            f"[red]{failing} still failing[/]: they stay queued; fix the cause and re-run"
        )
        return 1
    redriven = sum(r.redriven for r in results)
    console.print(f"[green]{redriven} re-driven[/], nothing left failing")
    return 0
