"""`inventory smoke`: a short end-to-end check of a deployed stack, which leaves nothing behind.

It goes wherever the SDK is configured to go: AWS with your credentials and region, or the
emulator when AWS_ENDPOINT_URL is set. Each step is timed:

1. the stack's outputs, from CloudFormation;
2. a temporary SQS queue subscribed to NoStock, with the queue policy that lets the topic
   send to it (`harness.observe.AlertInbox`);
3. a small CSV uploaded under `smoke/`, for a store of its own: one item at 0 (a NoStock
   alert is due) and one above 0;
4. its receipt (Load-Inventory loaded both rows);
5. its NoStock alert, through the queue;
6. the query API refuses a request without a token (401);
7. a temporary Cognito user (admin calls, `harness.users`) signs in (`InitiateAuth`);
8. the API reads the store back with that token.

Then, however it went, it deletes what it made: the queue and its subscription, the user, the
object, and the items it caused in the tables (the store's rows, the file's receipts and the
store's summary), by key. Check-Stock's record of the alert in AlertsSent is left to expire
(its TTL is 15 days). Exit code 1, with the failing step and its likely cause, on any failure.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.promotion import add_stack_name, wide_console

if TYPE_CHECKING:
    from rich.console import Console
    from rich.status import Status

    from harness.observe import AlertInbox
    from infra.outputs import StackOutputs

DESCRIPTION = "A short end-to-end check of a deployed stack, on AWS or the emulator."
EPILOG = """
It uses the SDK's configuration: your credentials and region reach the stack on AWS; with
AWS_ENDPOINT_URL set, the emulator there. Everything it makes is deleted afterwards, even when
a step fails: the queue and its subscription, the user, the uploaded object and the store's
items in the tables.

examples:
  inventory smoke                                  # InventoryStack on AWS (your credentials)
  AWS_ENDPOINT_URL=http://127.0.0.1:4566 inventory smoke     # the stack on the emulator
  inventory smoke --stack-name InventoryRehearsal --wait 60
"""
WAIT_S = 30.0  # for the receipt, and again for the alert
PREFIX = "smoke"
EMPTY, STOCKED = "smoke-empty", "smoke-stocked"  # the CSV's two items: at 0 and above it
COUNTS = {EMPTY: 0, STOCKED: 3}


class StepFailed(Exception):
    """A step did not do what it should; the message says what, and the likely cause."""


@dataclass
class Step:
    """One step as it went: its name, how long it took, and what was seen."""

    name: str
    ms: float = 0.0
    ok: bool = True
    detail: str = ""


@dataclass
class Report:
    """The steps of one smoke run, in order; the first failure is the one reported."""

    stack: str
    steps: list[Step] = field(default_factory=list)
    failure: Step | None = None
    status: Status | None = None  # a spinner that names the step under way

    @contextmanager
    def step(self, name: str, cause: str = "") -> Iterator[Step]:
        """Time a step. An unexpected error fails it with `cause` (what probably went wrong)
        before the error; credential errors and a missing stack say what they are."""
        from harness import identity
        from harness.stack import DeployError

        if self.status is not None:
            self.status.update(f"Smoke test of {self.stack}: {name} ...")
        found = Step(name)
        started = time.perf_counter()
        try:
            yield found
        except Exception as exc:
            found.ok = False
            if isinstance(exc, StepFailed | DeployError):
                found.detail = str(exc)
            elif (problem := identity.explain(exc)) is not None:
                found.detail = str(problem)
            else:
                found.detail = f"{cause}: {type(exc).__name__}: {exc}" if cause else repr(exc)
            self.failure = self.failure or found
            raise StepFailed(found.detail) from exc
        finally:
            found.ms = (time.perf_counter() - started) * 1000
            self.steps.append(found)

    @property
    def passed(self) -> bool:
        return self.failure is None


@dataclass(frozen=True)
class Names:
    """The names of everything one run makes, known before it makes them (so that cleaning
    up after a step that failed half-way finds them)."""

    store: str
    key: str  # of the uploaded object
    queue: str
    email: str  # the temporary user's

    @classmethod
    def new(cls, run: str | None = None) -> Names:
        """Every name from one random id (or `run`)."""
        run = run or uuid.uuid4().hex[:12]
        store = f"{PREFIX}-{run}"
        return cls(store, f"{PREFIX}/{store}.csv", f"inventory-{store}", f"{store}@example.com")

    def csv(self) -> bytes:
        rows = "".join(f"{self.store},{item},{count}\n" for item, count in COUNTS.items())
        return f"store,item,count\n{rows}".encode()


def _trace_hint(key: str, stack_name: str) -> str:
    from harness import env, stack

    if stack_name != stack.STACK_NAME:
        return "see the functions' logs (CloudWatch Logs) for that key"
    return f"see `inventory trace {key}{'' if env.endpoint_configured() else ' --aws'}`"


def _check_receipt(
    names: Names, outputs: StackOutputs, uploaded: float, wait_s: float, hint: str
) -> str:
    from harness.observe import Observer

    receipt = Observer(outputs).wait_for_receipt(names.key, timeout_s=wait_s, poll_s=0.1)
    if receipt is None:
        raise StepFailed(
            f"no receipt for {names.key} within {wait_s:.0f} s: Load-Inventory may not be "
            f"invoked by the bucket's notification, or be failing; {hint} and the "
            "LoadInventoryFailures queue"
        )
    if receipt.status != "loaded" or receipt.rows_written != len(COUNTS):
        raise StepFailed(
            f"the receipt says {receipt.status}, {receipt.rows_written} of {len(COUNTS)} rows "
            f"written, {receipt.rows_rejected} rejected ({receipt.reason or 'no reason'}); {hint}"
        )
    after = (time.perf_counter() - uploaded) * 1000
    return f"{receipt.rows_written} rows loaded, {after:,.0f} ms after the upload"


def _check_alert(names: Names, inbox: AlertInbox, uploaded: float, wait_s: float, hint: str) -> str:
    found = inbox.wait_for(names.key, 1, timeout_s=wait_s)
    if not found:
        errors = f" (the queue: {inbox.errors[-1]})" if inbox.errors else ""
        raise StepFailed(
            f"no NoStock alert within {wait_s:.0f} s{errors}: Check-Stock may be unable to "
            f"publish (its role, the topic's policy, TOPIC_ARN), or its stream trigger may be "
            f"off; {hint} and the CheckStockFailures queue"
        )
    alert = found[0]
    if (alert.body.get("store"), alert.body.get("item")) != (names.store, EMPTY):
        raise StepFailed(f"the alert is not for {names.store} / {EMPTY}: {alert.body}")
    if alert.store_attribute != names.store:
        raise StepFailed(f"the alert's `store` attribute is {alert.store_attribute!r}")
    after = (alert.received_at - uploaded) * 1000
    return f"{alert.body['store']} / {alert.body['item']}, {after:,.0f} ms after the upload"


def _api_refusal_hint() -> str:
    from harness import env

    if env.on_emulator() and env.endpoint().startswith("https:"):
        return (
            ": on an https emulator (AUTH=true) MiniStack 1.5.33's JWT authorizer refuses every "
            "token (it fetches the pool's keys over plain http); run the smoke against an http "
            'emulator (docs/design.md, "What differs on the emulator")'
        )
    return ": the JWT authorizer's issuer or audience may not match the user pool and its client"


def run(
    stack_name: str | None, console: Console, wait_s: float = WAIT_S, names: Names | None = None
) -> Report:
    """Smoke-test the stack; the report of its steps. Cleans up whatever happens."""
    from harness import env, stack

    env.use_configured_target()
    target = stack.stack_name(name=stack_name)
    names = names or Names.new()
    with console.status(f"Smoke test of {target} ...") as status:
        return _run(Report(target, status=status), names, wait_s)


def _run(report: Report, names: Names, wait_s: float) -> Report:
    from harness import api, env, stack, users
    from harness.observe import AlertInbox

    target = report.stack
    hint = _trace_hint(names.key, target)
    made: dict[str, Any] = {}  # what may exist to be deleted: outputs, queue, inbox, user
    try:
        with report.step("stack outputs", f"could not read {target}'s outputs") as step:
            outputs = made["outputs"] = stack.outputs(name=target)
            if not (outputs.api_url and outputs.user_pool_id and outputs.user_pool_client_id):
                raise StepFailed(f"{target} has no dashboard outputs: redeploy it")
            step.detail = env.endpoint() if env.endpoint_configured() else "AWS"
        with report.step(
            "NoStock subscription",
            "could not make a queue subscribed to NoStock (sqs:CreateQueue, "
            "sqs:SetQueueAttributes, sns:Subscribe)",
        ) as step:
            made["queue"] = names.queue  # from here on there may be a queue to delete
            made["inbox"] = AlertInbox.open(outputs.topic_arn, names.queue).start()
            step.detail = names.queue
        with report.step("upload", f"could not upload to s3://{outputs.bucket_name}") as step:
            uploaded = time.perf_counter()  # what the receipt and the alert are timed from
            env.client("s3").put_object(Bucket=outputs.bucket_name, Key=names.key, Body=names.csv())
            step.detail = f"s3://{outputs.bucket_name}/{names.key}"
        with report.step("receipt", "could not read IngestReceipts") as step:
            step.detail = _check_receipt(names, outputs, uploaded, wait_s, hint)
        with report.step("NoStock alert", "could not read the queue") as step:
            step.detail = _check_alert(names, made["inbox"], uploaded, wait_s, hint)
        with report.step("API refuses no token", f"could not reach {outputs.api_url}") as step:
            answer = api.QueryApi(outputs.api_url, None).get("/stores")
            if answer.status != 401:
                raise StepFailed(
                    f"GET /stores without a token answered {answer.status}, not 401: the "
                    "query API's JWT authorizer is missing or open"
                )
            step.detail = "401"
        with report.step("sign in", "could not make a user and sign in") as step:
            cognito = env.client("cognito-idp")
            made["user"] = outputs.user_pool_id
            found = users.add_user(cognito, outputs.user_pool_id, names.email)
            token = api.sign_in(outputs, found.email, found.password)
            step.detail = names.email
        with report.step("API reads the store", f"could not reach {outputs.api_url}") as step:
            answer = api.QueryApi(outputs.api_url, token).get("/items", {"store": names.store})
            if answer.status != 200:
                raise StepFailed(
                    f"GET /items?store={names.store} with a valid token answered "
                    f"{answer.status} ({answer.body}){_api_refusal_hint()}"
                )
            counts = {i.get("item"): i.get("count") for i in answer.body.get("items", [])}
            if counts != COUNTS:
                raise StepFailed(f"the API shows {counts}, not {COUNTS}")
            step.detail = f"{len(counts)} items"
    except StepFailed:
        pass
    finally:
        try:
            with report.step("clean up") as step:
                step.detail = _clean_up(names, made)
        except StepFailed:
            pass
    return report


def _clean_up(names: Names, made: dict[str, Any]) -> str:
    """Delete everything the run made, each independently; StepFailed listing what is left."""
    from harness import env

    outputs: StackOutputs | None = made.get("outputs")
    tasks: list[tuple[str, Callable[[], object]]] = []
    inbox: AlertInbox | None = made.get("inbox")
    if inbox is not None or "queue" in made:
        tasks.append(("the queue", inbox.close if inbox else _delete_queue(names)))
    if "user" in made:
        tasks.append(("the user", lambda: _delete_user(made["user"], names.email)))
    if outputs is not None:
        tasks += [
            (
                "the object",
                lambda: env.client("s3").delete_object(Bucket=outputs.bucket_name, Key=names.key),
            ),
            ("the store's items", lambda: _delete_items(names, outputs)),
        ]
    left = []
    for what, task in tasks:
        try:
            task()
        except Exception as exc:
            left.append(f"{what} ({type(exc).__name__}: {exc})")
    if left:
        raise StepFailed(
            f"could not delete {'; '.join(left)}: delete them by hand (store {names.store}, "
            f"key {names.key}, queue {names.queue}, user {names.email})"
        )
    deleted = ", ".join(what for what, _ in tasks) or "nothing (nothing was made)"
    if outputs is not None and not outputs.summaries_table_name:
        deleted += " (not its summary: the stack has no SummariesTableName output; redeploy it)"
    return f"deleted {deleted}"


def _delete_queue(names: Names) -> Callable[[], None]:
    """Delete the run's queue if it exists (an inbox whose opening failed half-way)."""

    def delete() -> None:
        from harness import env

        sqs = env.client("sqs")
        try:
            url = sqs.get_queue_url(QueueName=names.queue)["QueueUrl"]
        except sqs.exceptions.QueueDoesNotExist:
            return
        sqs.delete_queue(QueueUrl=url)

    return delete


def _delete_user(user_pool_id: str, email: str) -> None:
    from harness import env

    cognito = env.client("cognito-idp")
    with suppress(cognito.exceptions.UserNotFoundException):
        cognito.admin_delete_user(UserPoolId=user_pool_id, Username=email)


def _delete_items(names: Names, outputs: StackOutputs) -> None:
    """The store's rows, the file's receipts and the store's summary, by key."""
    from harness import env
    from harness.observe import Observer
    from inventory import config

    ddb = env.client("dynamodb")
    for item in COUNTS:
        ddb.delete_item(
            TableName=outputs.table_name,
            Key={config.ATTR_STORE: {"S": names.store}, config.ATTR_ITEM: {"S": item}},
        )
    for receipt in Observer(outputs).receipts(names.key):
        ddb.delete_item(
            TableName=outputs.receipts_table_name,
            Key={
                config.ATTR_OBJECT_KEY: {"S": names.key},
                config.ATTR_RECEIPT_ID: {"S": receipt.receipt_id},
            },
        )
    if outputs.summaries_table_name:
        ddb.delete_item(
            TableName=outputs.summaries_table_name,
            Key={config.ATTR_STORE: {"S": names.store}},
        )


# --- showing it ----------------------------------------------------------------------------------


def show(report: Report, console: Console) -> None:
    """The steps as a table (each with its ms), then the verdict."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"Smoke test of {report.stack}", title_justify="left")
    table.add_column("step", no_wrap=True)
    table.add_column("ms", justify="right", no_wrap=True)
    table.add_column("result")
    for step in report.steps:
        mark = "[green]ok[/]" if step.ok else "[red]FAILED[/]"
        table.add_row(step.name, f"{step.ms:,.0f}", f"{mark} {escape(step.detail)}")
    console.print(table)
    total = sum(step.ms for step in report.steps) / 1000
    if report.failure is None:
        console.print(f"[green]Smoke test passed[/] in {total:.1f} s; nothing was left behind.")
        return
    console.print(
        f"[red]Smoke test failed at step '{report.failure.name}':[/] "
        f"{escape(report.failure.detail)}",
        highlight=False,
    )
    cleanup = report.steps[-1]
    if cleanup is not report.failure and not cleanup.ok:
        console.print(f"[red]And its clean-up failed:[/] {escape(cleanup.detail)}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `inventory smoke`."""
    parser.description = DESCRIPTION
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    add_stack_name(parser)
    add_wait(parser)


def add_wait(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wait",
        type=float,
        default=WAIT_S,
        metavar="SECONDS",
        help=f"how long the smoke test waits for the receipt, then for the alert (default "
        f"{WAIT_S:.0f})",
    )


def command(args: argparse.Namespace) -> int:
    """Run the smoke test and show it; 1 when a step failed."""
    console = wide_console()
    report = run(args.stack_name, console, args.wait)
    show(report, console)
    return 0 if report.passed else 1
