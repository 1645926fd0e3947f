"""Walking a DynamoDB Query or Scan page by page, for any function that reads a whole range.

No boto3 here: `call` is the bound `query` or `scan` of a resource-layer Table (or a fake),
and the items come as it returns them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any


def items(call: Callable[..., Mapping[str, Any]], request: Mapping[str, Any]) -> Iterator[Any]:
    """Every item `call(**request)` returns, following LastEvaluatedKey; fetched as consumed."""
    request = dict(request)
    while True:
        response = call(**request)
        yield from response.get("Items", ())
        last = response.get("LastEvaluatedKey")
        if not last:
            return
        request["ExclusiveStartKey"] = last
