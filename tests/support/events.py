"""Events as Lambda receives them: DynamoDB stream records of the Inventory table, and a context.

`stream_record` builds a record from two item images; `change_record` builds those images
from a store, an item and its count before and after, and calls it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from inventory import config

STREAM_ARN = (
    "arn:aws:dynamodb:us-east-1:000000000000:table/Inventory/stream/2024-05-01T00:00:00.000"
)
UPDATED_AT = "2024-05-01T10:00:00.000+00:00"
SOURCE_KEY = "uploads/k.csv"
EARLIER_SOURCE_KEY = "uploads/earlier.csv"


def inventory_item(
    store: str,
    item: str,
    count: int | None,
    source_key: str | None = SOURCE_KEY,
    *,
    updated_at: str = UPDATED_AT,
    version: str | None = None,
) -> dict[str, Any]:
    """A DynamoDB-typed Inventory item, as Load-Inventory writes it (None: attribute absent)."""
    attrs: dict[str, Any] = {
        config.ATTR_STORE: {"S": store},
        config.ATTR_ITEM: {"S": item},
        config.ATTR_UPDATED_AT: {"S": updated_at},
    }
    if count is not None:
        attrs[config.ATTR_COUNT] = {"N": str(count)}
    if count == 0:  # the sparse OutOfStock index's key
        attrs[config.ATTR_OUT_OF_STOCK_STORE] = {"S": store}
    if source_key is not None:
        attrs[config.ATTR_SOURCE_KEY] = {"S": source_key}
    if version is not None:
        attrs[config.ATTR_VERSION] = {"S": version}
    return attrs


def stream_record(
    old: dict[str, Any] | None, new: dict[str, Any] | None, sequence: str = "100"
) -> dict[str, Any]:
    """One change of an item between two DynamoDB-typed images (None: absent).

    No old image means INSERT, no new image REMOVE, otherwise MODIFY (NEW_AND_OLD_IMAGES).
    """
    image = new or old
    if image is None:
        raise ValueError("a change needs an old or a new image")
    event_name = "INSERT" if old is None else "REMOVE" if new is None else "MODIFY"
    change: dict[str, Any] = {
        "ApproximateCreationDateTime": 1714557600,
        "Keys": {
            config.ATTR_STORE: image[config.ATTR_STORE],
            config.ATTR_ITEM: image[config.ATTR_ITEM],
        },
        "SequenceNumber": sequence,
        "SizeBytes": 100,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if new is not None:
        change["NewImage"] = new
    if old is not None:
        change["OldImage"] = old
    return {
        "eventID": f"event-{sequence}",
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": change,
        "eventSourceARN": STREAM_ARN,
    }


def change_record(
    store: str,
    item: str,
    old: int | None,
    new: int | None,
    sequence: str = "100",
    *,
    source_key: str = SOURCE_KEY,
    old_source_key: str = EARLIER_SOURCE_KEY,
) -> dict[str, Any]:
    """The stream record of an item's count going from `old` to `new` (None: no item).

    The new image names `source_key`, the old one `old_source_key`.
    """
    if old is None and new is None:
        raise ValueError("a change needs an old or a new count")
    return stream_record(
        None if old is None else inventory_item(store, item, old, old_source_key),
        None if new is None else inventory_item(store, item, new, source_key),
        sequence,
    )


@dataclass
class FakeLambdaContext:
    """The attributes of a Lambda context object that powertools reads."""

    function_name: str = "test-function"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 128
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:000000000000:function:test-function"
    aws_request_id: str = "req-1"
    log_group_name: str = "/aws/lambda/test-function"
    log_stream_name: str = "stream"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def http_api_event(
    path: str,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    path_parameters: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A minimal API Gateway HTTP API (payload 2.0) GET, as the JWT-authorized route sends it.

    HTTP APIs hand over `rawPath` decoded; header names arrive in lower case.
    """
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "&".join(f"{k}={v}" for k, v in (query or {}).items()),
        "headers": {k.lower(): v for k, v in (headers or {}).items()},
        "requestContext": {
            "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "1.2.3.4"},
            "requestId": "request-1",
            "routeKey": "$default",
            "stage": "$default",
        },
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = dict(query)
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    return event
