"""A small client of the deployed query API for the tests: real HTTP, a real Cognito token."""

from __future__ import annotations

import json
import os
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from harness import env
from infra.outputs import StackOutputs


@dataclass(frozen=True)
class Answer:
    """One HTTP answer: status, headers (lower-case names) and the JSON body, if any."""

    status: int
    headers: dict[str, str]
    body: Any


def tls_context() -> ssl.SSLContext | None:
    """Trust the https emulator's certificate as boto3 does (AWS_CA_BUNDLE), else the defaults."""
    bundle = os.environ.get("AWS_CA_BUNDLE")
    return ssl.create_default_context(cafile=bundle) if bundle else None


def sign_in(outputs: StackOutputs, email: str, password: str) -> str:
    """The access token Cognito gives `email` (USER_PASSWORD_AUTH, as the page signs in)."""
    found = env.client("cognito-idp").initiate_auth(
        ClientId=outputs.user_pool_client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": email, "PASSWORD": password},
    )
    return str(found["AuthenticationResult"]["AccessToken"])


@dataclass(frozen=True)
class QueryApi:
    """GETs against `base_url` with `Authorization: Bearer <token>` (none when token is None)."""

    base_url: str
    token: str | None

    def get(
        self, path: str, params: dict[str, Any] | None = None, headers: dict[str, str] | None = None
    ) -> Answer:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        request = urllib.request.Request(f"{self.base_url}{path}{query}", headers=headers or {})
        if self.token is not None:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=30, context=tls_context()) as response:
                return _answer(response.status, dict(response.headers), response.read())
        except urllib.error.HTTPError as error:
            return _answer(error.code, dict(error.headers), error.read())

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

    def with_token(self, token: str | None) -> QueryApi:
        return QueryApi(self.base_url, token)


def _answer(status: int, headers: dict[str, str], raw: bytes) -> Answer:
    body = json.loads(raw) if raw.strip() else None
    return Answer(status, {k.lower(): v for k, v in headers.items()}, body)
