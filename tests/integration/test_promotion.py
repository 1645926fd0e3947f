"""Promotion rehearsed on the emulator: `inventory deploy`, `smoke` and `destroy` as run by hand.

The commands run as subprocesses against the session's emulator, exactly as a person runs
them against AWS, except that AWS_ENDPOINT_URL points at the emulator (so `cdklocal` deploys).
They deploy a stack of their own (`--stack-name`), so the session's InventoryStack, which the
other tests share, is never touched; its retained tables and buckets are deleted at the end.

These tests run in the dashboard's session (an http emulator): the smoke test signs in to the
query API, whose JWT authorizer refuses every token on an https (AUTH=true) MiniStack 1.5.33
(docs/design.md, "What differs on the emulator"). Publishing is broken on purpose through
Check-Stock's TOPIC_ARN, which fails on any emulator, enforcing IAM or not.

What they cost (the gate runs lint, unit, property and infra tests again): see
docs/testing.md.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness import destroy, env, faults, stack
from infra.outputs import StackOutputs
from inventory import config
from tests.integration.conftest import Pipeline

pytestmark = [pytest.mark.integration, pytest.mark.dashboard]

TIMEOUT_S = 1200
# Appended to the copy's csv_format.py: a count padded with a no-break space (any blank but
# a space, a tab or a line break) is now refused. The unit tests pad counts with ASCII only;
# the property tests pad them with U+00A0 and U+3000 too, as the CSV rules allow. Such a
# count never takes the parser's fast path, so the unit tests comparing both paths agree.
BROKEN_RULE = """

# Broken on purpose by tests/integration/test_promotion.py: counts trimmed of ASCII only.
def _count_trimmed_of_ascii_blanks(record, line, _parse=parse_row):
    if len(record) == 3 and record[2].strip(" \\t\\r\\n") != record[2].strip():
        return RowError(line, f"count must be a whole number, got {record[2]!r}")
    return _parse(record, line)


globals()["parse_row"] = _count_trimmed_of_ascii_blanks
"""


def inventory(
    *args: str, cwd: Path = env.ROOT, environ: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`inventory ARGS` as a person runs it, with this session's environment (the emulator)."""
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        cwd=cwd, env=environ or dict(os.environ), capture_output=True, text=True,
        timeout=TIMEOUT_S, check=False,
    )  # fmt: skip


def said(done: subprocess.CompletedProcess[str]) -> str:
    """Everything the command printed, its lines joined (rich wraps long ones)."""
    return " ".join((done.stdout + done.stderr).split())


@dataclass
class Rehearsal:
    """The stack `inventory deploy` made, what it printed, and what it will leave behind."""

    name: str
    deployed: subprocess.CompletedProcess[str]
    retained: list[destroy.Retained]

    def outputs(self) -> StackOutputs:
        return stack.outputs(name=self.name)


def _delete_retained(found: list[destroy.Retained]) -> None:
    """What `inventory destroy` leaves behind on purpose, deleted as its commands would."""
    for resource in found:
        if resource.exists() is False:  # e.g. a retained log group nothing ever wrote to
            continue
        try:
            if resource.type == "AWS::S3::Bucket":
                bucket = env.client("s3")
                for page in bucket.get_paginator("list_objects_v2").paginate(
                    Bucket=resource.physical_id
                ):
                    for item in page.get("Contents", ()):
                        bucket.delete_object(Bucket=resource.physical_id, Key=item["Key"])
                bucket.delete_bucket(Bucket=resource.physical_id)
            elif resource.type == "AWS::DynamoDB::Table":
                env.client("dynamodb").delete_table(TableName=resource.physical_id)
            elif resource.type == "AWS::Logs::LogGroup":
                env.client("logs").delete_log_group(logGroupName=resource.physical_id)
        except Exception as exc:  # already gone, or not ours to worry about: say so
            print(f"could not delete {resource.physical_id}: {exc}")


@pytest.fixture(scope="module")
def rehearsal(pipeline: Pipeline) -> Iterator[Rehearsal]:
    """`inventory deploy --yes --stack-name InventoryRehearsal-<run>` on the session's emulator."""
    name = f"InventoryRehearsal-{pipeline.run_id}"
    deployed = inventory("deploy", "--yes", "--stack-name", name)
    retained = destroy.retained(name) if stack.status(name) else []
    try:
        yield Rehearsal(name, deployed, retained)
    finally:
        if stack.status(name):
            inventory("destroy", "--yes", "--stack-name", name)
        _delete_retained([*retained, *destroy.stray_log_groups(name)])


def left_behind(rehearsal: Rehearsal) -> list[str]:
    """What any smoke run left on the rehearsal stack: queues, users, objects, table items."""
    outputs = rehearsal.outputs()
    queues = env.client("sqs").list_queues(QueueNamePrefix="inventory-smoke-")
    found = [f"queue {url}" for url in queues.get("QueueUrls", [])]
    users = env.client("cognito-idp").list_users(UserPoolId=outputs.user_pool_id)["Users"]
    found += [f"user {u['Username']}" for u in users]
    listed = env.client("s3").list_objects_v2(Bucket=outputs.bucket_name, Prefix="smoke/")
    found += [f"object {o['Key']}" for o in listed.get("Contents", [])]
    ddb = env.client("dynamodb")
    for table in (outputs.table_name, outputs.receipts_table_name, outputs.summaries_table_name):
        items = ddb.scan(TableName=table, ConsistentRead=True)["Items"]
        found += [f"{table} item {item}" for item in items]
    return found


@pytest.mark.timeout(TIMEOUT_S)
def test_deploy_passes_the_gate_deploys_with_cdklocal_and_smoke_tests(
    rehearsal: Rehearsal,
) -> None:
    done = rehearsal.deployed
    assert done.returncode == 0, f"inventory deploy:\n{done.stdout}\n{done.stderr}"
    text = said(done)
    for check in ("lint", "unit", "property", "infra"):
        assert f"{check} passed in" in text
    assert "About to deploy" in text and env.endpoint() in text and "cdklocal deploy" in text
    assert "PublishDashboard=false" in text  # the emulator's parameters, as `inventory up`'s
    assert f"Smoke test of {rehearsal.name}" in done.stdout and "Smoke test passed" in text
    assert stack.status(rehearsal.name) in {"CREATE_COMPLETE", "UPDATE_COMPLETE"}
    print(done.stderr[: done.stderr.find("About to deploy")])  # the gate's timings, for -s


@pytest.mark.timeout(TIMEOUT_S)
def test_smoke_passes_every_step_and_leaves_nothing(rehearsal: Rehearsal) -> None:
    done = inventory("smoke", "--stack-name", rehearsal.name)

    assert done.returncode == 0, f"inventory smoke:\n{done.stdout}\n{done.stderr}"
    for step in ("receipt", "NoStock alert", "API refuses no token", "API reads the store"):
        assert step in done.stdout
    assert "FAILED" not in done.stdout
    assert left_behind(rehearsal) == []


@pytest.mark.timeout(TIMEOUT_S)
def test_smoke_fails_clearly_when_check_stock_cannot_publish_and_leaves_nothing(
    rehearsal: Rehearsal,
) -> None:
    outputs = rehearsal.outputs()
    region, account = outputs.topic_arn.split(":")[3:5]
    nowhere = f"arn:aws:sns:{region}:{account}:no-such-topic-{uuid.uuid4().hex[:8]}"

    with faults.function_environment(
        outputs.check_stock_function_name, {config.ENV_TOPIC_ARN: nowhere}
    ):
        done = inventory("smoke", "--stack-name", rehearsal.name, "--wait", "15")

    assert done.returncode == 1, f"inventory smoke:\n{done.stdout}\n{done.stderr}"
    text = said(done)
    assert "Smoke test failed at step 'NoStock alert'" in text
    assert "no NoStock alert within 15 s: Check-Stock may be unable to publish" in text
    assert "receipt" in done.stdout and "2 rows loaded" in text  # it got that far
    assert left_behind(rehearsal) == []


@pytest.mark.timeout(TIMEOUT_S)
def test_destroy_removes_the_stack_and_lists_what_it_retains(rehearsal: Rehearsal) -> None:
    assert rehearsal.retained, "the template retains the bucket and the tables"

    done = inventory("destroy", "--yes", "--stack-name", rehearsal.name)

    assert done.returncode == 0, f"inventory destroy:\n{done.stdout}\n{done.stderr}"
    assert stack.status(rehearsal.name) is None
    text = said(done)
    assert f"{rehearsal.name} is destroyed" in text
    outputs = {r.type: r.physical_id for r in rehearsal.retained}
    for resource in [*rehearsal.retained, *destroy.stray_log_groups(rehearsal.name)]:
        assert resource.physical_id in done.stdout
    assert f"aws s3 rb s3://{outputs['AWS::S3::Bucket']}" in done.stdout
    assert f"aws dynamodb delete-table --table-name {outputs['AWS::DynamoDB::Table']}" in (
        done.stdout
    )


def _copy_tree(source: Path, target: Path) -> None:
    """The project's files (tracked, and new ones git does not ignore), plus mypy's cache."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=source, capture_output=True, check=True,
    ).stdout.decode()  # fmt: skip
    for name in filter(None, listed.split("\0")):
        if (source / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / name, target / name)
    if (source / ".mypy_cache").is_dir():  # a cold mypy takes a minute; a warm one a second
        shutil.copytree(source / ".mypy_cache", target / ".mypy_cache")


@pytest.mark.timeout(TIMEOUT_S)
def test_a_tree_whose_property_fails_is_refused_and_nothing_is_deployed(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    copy = tmp_path / "tree"
    _copy_tree(env.ROOT, copy)
    module = copy / "lambdas" / "inventory" / "csv_format.py"
    module.write_text(module.read_text() + BROKEN_RULE)
    subprocess.run([sys.executable, "-m", "ruff", "format", "-q", str(module)], check=True)
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join([str(copy), str(copy / "lambdas")])}
    broken = subprocess.run(
        [sys.executable, "-c", "from inventory.csv_format import parse_inventory as p; "
         "print(p('store,item,count\\ns,i,\\u00a05\\n'.encode()).errors)"],
        cwd=copy, env=environ, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "count must be a whole number" in broken, "the copy's rule is not broken"
    name = f"InventoryRefused-{pipeline.run_id}"

    done = inventory("deploy", "--yes", "--stack-name", name, cwd=copy, environ=environ)

    assert done.returncode == 1, f"inventory deploy:\n{done.stdout}\n{done.stderr}"
    text = said(done)
    assert f"on {copy}" in text  # the copy's gate, not this tree's
    assert "lint passed in" in text and "unit passed in" in text
    assert "The gate refused the deploy: the property tests" in text
    assert "Nothing was deployed" in text and "test_csv_parser" in text
    assert "infra passed" not in text  # it stopped at the first failure
    assert stack.status(name) is None
