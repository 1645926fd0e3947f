"""A small client of the deployed query API for the tests: real HTTP, a real Cognito token.

The client itself is the harness's (`harness.api`, which `inventory smoke` uses); the tests
add paging through every entry of a list.
"""

from __future__ import annotations

from typing import Any

from harness import api
from harness.api import Answer, sign_in, tls_context

__all__ = ["Answer", "QueryApi", "sign_in", "tls_context"]


class QueryApi(api.QueryApi):
    """The harness's client, plus `pages`."""

    def pages(self, path: str, key: str, limit: int) -> list[Any]:
        """Every entry of a paginated list, following `next` until the last page."""
        found: list[Any] = []
        params: dict[str, Any] = {"limit": limit}
        while True:
            answer = self.get(path, params)
            assert answer.status == 200, answer
            found += answer.body[key]
            if not answer.body.get("next"):
                return found
            params = {"limit": limit, "next": answer.body["next"]}
