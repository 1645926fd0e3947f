"""The stack's outputs: one frozen dataclass, whose field names give the CfnOutput names.

The stack builds a `StackOutputs` of CDK tokens and emits one `CfnOutput` per field; the
harness, the simulator, the load tests and the tests read the deployed values back into the
same class. A name is therefore written once. Plain Python (no CDK import), so the tooling can
use it without loading the CDK.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, fields


def output_name(field_name: str) -> str:
    """The CloudFormation output name of a field: `bucket_name` -> `BucketName`."""
    return "".join(part.capitalize() for part in field_name.split("_"))


class MissingOutputsError(LookupError):
    """A deployed stack lacks outputs the tooling needs (an older or a different stack)."""


@dataclass(frozen=True)
class StackOutputs:
    """What a deployed InventoryStack (or its baseline variant) tells the outside world."""

    bucket_name: str
    table_name: str
    topic_arn: str
    receipts_table_name: str
    load_inventory_function_name: str
    check_stock_function_name: str
    load_inventory_failures_queue_url: str
    check_stock_failures_queue_url: str
    # The dashboard (ours only; the baseline has none).
    dashboard_url: str | None = None
    api_url: str | None = None
    user_pool_id: str | None = None
    user_pool_client_id: str | None = None
    summaries_table_name: str | None = None  # StoreSummaries, which the dashboard lists
    # Monitoring (ours only): where the alarms notify, and the operations dashboard.
    ops_topic_arn: str | None = None
    operations_dashboard_name: str | None = None

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """Every output name, in declaration order (the optional ones included)."""
        return tuple(output_name(f.name) for f in fields(cls))

    @classmethod
    def required_names(cls) -> tuple[str, ...]:
        """The outputs every variant has (the dashboard's and monitoring's are ours only)."""
        return tuple(output_name(f.name) for f in fields(cls) if f.default is MISSING)

    @classmethod
    def from_outputs(cls, found: Mapping[str, str], stack_name: str = "the stack") -> StackOutputs:
        """Read `{OutputKey: OutputValue}` (as CloudFormation returns them) into the class."""
        missing = [name for name in cls.required_names() if name not in found]
        if missing:
            raise MissingOutputsError(
                f"{stack_name} has no output(s) {', '.join(missing)}; redeploy it (`make up`)"
            )
        names = {f.name: output_name(f.name) for f in fields(cls)}
        return cls(**{field: found[name] for field, name in names.items() if name in found})

    def as_outputs(self) -> dict[str, str]:
        """`{OutputName: value}`: what `make outputs` prints and the stack emits (set ones)."""
        return {
            output_name(name): value for name, value in asdict(self).items() if value is not None
        }

    @property
    def dead_letter_queues(self) -> dict[str, str]:
        """Each function's on-failure queue URL, by the output's name."""
        return {
            output_name("load_inventory_failures_queue_url"): (
                self.load_inventory_failures_queue_url
            ),
            output_name("check_stock_failures_queue_url"): self.check_stock_failures_queue_url,
        }
