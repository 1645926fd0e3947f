"""The query API's reads as the function runs them: one DynamoDB resource, three tables."""

from __future__ import annotations

import boto3

from query_api.reads import DynamoReads
from query_api.settings import QuerySettings


def dynamo_reads(settings: QuerySettings) -> DynamoReads:
    """DynamoReads on the tables `settings` names."""
    tables = boto3.resource("dynamodb")
    return DynamoReads(
        tables.Table(settings.table_name),
        tables.Table(settings.receipts_table_name),
        tables.Table(settings.store_summaries_table_name),
    )
