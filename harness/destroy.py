"""`inventory destroy` (`make destroy`): remove the stack, then say what it leaves behind.

`cdk destroy` (`cdklocal destroy` with AWS_ENDPOINT_URL set) after saying where and asking
(`--yes` does not ask). The resources the template marks `DeletionPolicy: Retain` (the upload
bucket, its access-log bucket, the tables, the audit trail's bucket) are not deleted with the
stack, so that inventory data is never lost by accident: their names are read before the
destroy, listed after it, and the exact AWS CLI commands to delete them are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

DESCRIPTION = "Destroy the stack (cdk destroy); list the retained resources and how to delete them."
EPILOG = """
Without AWS_ENDPOINT_URL it destroys the stack on AWS with your credentials and region, with
`cdk destroy`; with AWS_ENDPOINT_URL set, on that emulator with `cdklocal destroy`.

examples:
  inventory destroy                       # say where and what stays, ask, destroy
  inventory destroy --yes --stack-name InventoryRehearsal
"""
RETAINED_POLICIES = ("Retain", "RetainExceptOnCreate")


@dataclass(frozen=True)
class Retained:
    """A resource the stack keeps when it is deleted: its type, logical id and physical name."""

    type: str
    logical_id: str
    physical_id: str

    def delete_command(self, region: str, endpoint: str | None) -> str:
        """The AWS CLI command that deletes it (data included)."""
        where = f" --region {region}" + (f" --endpoint-url {endpoint}" if endpoint else "")
        name = shlex.quote(self.physical_id)
        commands = {
            "AWS::S3::Bucket": f"aws s3 rb s3://{name} --force{where}",
            "AWS::DynamoDB::Table": f"aws dynamodb delete-table --table-name {name}{where}",
            "AWS::Cognito::UserPool": (
                f"aws cognito-idp delete-user-pool --user-pool-id {name}{where}"
            ),
            "AWS::Logs::LogGroup": f"aws logs delete-log-group --log-group-name {name}{where}",
            "AWS::KMS::Key": (
                f"aws kms schedule-key-deletion --key-id {name} --pending-window-in-days 7{where}"
            ),
        }
        return commands.get(self.type, f"# {self.type} {name}: delete it in the console")

    def exists(self) -> bool | None:
        """Whether it is still there (None: not checked for this type)."""
        from botocore.exceptions import ClientError

        from harness import env

        try:
            if self.type == "AWS::S3::Bucket":
                env.client("s3").head_bucket(Bucket=self.physical_id)
            elif self.type == "AWS::DynamoDB::Table":
                env.client("dynamodb").describe_table(TableName=self.physical_id)
            elif self.type == "AWS::Logs::LogGroup":
                groups = env.client("logs").describe_log_groups(
                    logGroupNamePrefix=self.physical_id
                )["logGroups"]
                return any(g["logGroupName"] == self.physical_id for g in groups)
            else:
                return None
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in {"404", "NoSuchBucket", "NotFound", "ResourceNotFoundException"}:
                return False
            raise
        return True


def _template(stack_name: str) -> dict[str, Any]:
    from harness import env

    body = env.client("cloudformation").get_template(StackName=stack_name)["TemplateBody"]
    found: dict[str, Any] = json.loads(body) if isinstance(body, str) else dict(body)
    return found


def retained(stack_name: str) -> list[Retained]:
    """The deployed stack's resources that its template retains on deletion, with their
    physical names as they are now (a resource left out by a condition is not listed)."""
    from harness import env, stack

    stack.outputs(name=stack_name)  # StackNotDeployedError when it is not there
    resources = _template(stack_name).get("Resources", {})
    keep = {
        logical
        for logical, resource in resources.items()
        if resource.get("DeletionPolicy") in RETAINED_POLICIES
    }
    # A bucket others log to goes after them: deleted first, it would get their last logs.
    log_targets = {
        str(logging.get("DestinationBucketName", {}).get("Ref"))
        for resource in resources.values()
        if isinstance(logging := resource.get("Properties", {}).get("LoggingConfiguration"), dict)
        and isinstance(logging.get("DestinationBucketName"), dict)
    }
    pages = env.client("cloudformation").get_paginator("list_stack_resources")
    return sorted(
        (
            Retained(r["ResourceType"], r["LogicalResourceId"], r["PhysicalResourceId"])
            for page in pages.paginate(StackName=stack_name)
            for r in page["StackResourceSummaries"]
            if r["LogicalResourceId"] in keep and r.get("PhysicalResourceId")
        ),
        key=lambda r: (r.type, r.logical_id in log_targets, r.logical_id),
    )


def stray_log_groups(stack_name: str) -> list[Retained]:
    """Log groups Lambda made itself for the stack's functions that are gone now.

    A function the template gives no log group of its own (CDK's bucket-notifications
    handler) logs to `/aws/lambda/<function>`, which Lambda creates on first use and the
    stack never deletes; its logs never expire.
    """
    from botocore.exceptions import ClientError

    from harness import env

    logs, functions = env.client("logs"), env.client("lambda")
    prefix = f"/aws/lambda/{stack_name}-"
    found = []
    for page in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=prefix):
        for group in page.get("logGroups", ()):
            name = group["logGroupName"]
            try:
                functions.get_function(FunctionName=name.removeprefix("/aws/lambda/"))
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                    found.append(Retained("AWS::Logs::LogGroup", "(made by Lambda)", name))
    return found


def show_retained(console: Console, found: list[Retained], region: str, after: bool) -> None:
    """The retained resources (and, after the destroy, whether each is still there), then the
    commands that delete them."""
    from rich.markup import escape
    from rich.table import Table

    if not found:
        console.print("The stack retains nothing: nothing stays behind.")
        return
    table = Table(
        title="Retained (DeletionPolicy Retain, or made by Lambda): they stay after the "
        "destroy, with their data",
        title_justify="left",
    )
    for column in ("type", "logical id", "name", *(["still there"] if after else [])):
        table.add_column(column)
    there = {r: r.exists() for r in found} if after else {}
    states = {True: "yes", False: "no (already gone)", None: "not checked"}
    for resource in found:
        row = [resource.type, resource.logical_id, resource.physical_id]
        table.add_row(*map(escape, row), *([states[there[resource]]] if after else []))
    console.print(table)
    if not after:
        return
    endpoint = os.environ.get("AWS_ENDPOINT_URL") or None
    console.print(
        "To delete them too (this deletes the uploaded files and the inventory for good), in "
        "this order (the access-log bucket last; run its `rb` again if logs arrived meanwhile):"
    )
    for resource in found:
        if there[resource] is not False:
            console.out(f"  {resource.delete_command(region, endpoint)}", highlight=False)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `inventory destroy`."""
    from harness import promotion

    parser.description = DESCRIPTION
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    promotion.add_arguments(parser, "destroy")


def command(args: argparse.Namespace) -> int:
    """Destroy the stack; list what stays. 0 when it is gone (or was not there)."""
    from harness import env, identity, promotion, stack

    console = promotion.wide_console(stderr=True)
    env.use_configured_target()
    deployment = stack.Deployment(name=args.stack_name)
    target = deployment.stack
    who = identity.identify()
    try:
        found = retained(target)
    except stack.StackNotDeployedError as exc:
        console.print(f"Nothing to destroy: {exc}.")
        return 0
    promotion.describe(console, "destroy", who, deployment, {})
    show_retained(console, found, who.region, after=False)
    if not promotion.confirmed(console, f"Destroy {target}?", args.yes):
        return 1
    stack.destroy(name=args.stack_name, echo=console)
    left = stack.status(target)
    if left is not None:
        console.print(f"[red]error:[/] {target} is still there ({left}) after the destroy")
        return 1
    console.print(f"[green]{target} is destroyed.[/]")
    kept = {r.physical_id for r in found}
    found += [r for r in stray_log_groups(target) if r.physical_id not in kept]
    show_retained(promotion.wide_console(), found, who.region, after=True)
    return 0
