"""The deployed query API from outside: a Cognito access token and GETs with it.

Signing in is what the page does (`InitiateAuth` with `USER_PASSWORD_AUTH`); requests are
real HTTP with `Authorization: Bearer <access token>`. `inventory smoke` and the tests use it.
"""

from __future__ import annotations

import dataclasses
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

TIMEOUT_S = 30.0


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
            with urllib.request.urlopen(
                request, timeout=TIMEOUT_S, context=tls_context()
            ) as response:
                return _answer(response.status, dict(response.headers), response.read())
        except urllib.error.HTTPError as error:
            return _answer(error.code, dict(error.headers), error.read())

    def with_token(self, token: str | None) -> QueryApi:
        return dataclasses.replace(self, token=token)


def _answer(status: int, headers: dict[str, str], raw: bytes) -> Answer:
    try:
        body = json.loads(raw) if raw.strip() else None
    except ValueError:  # not JSON (a gateway's plain-text error): keep the text
        body = raw.decode("utf-8", "replace")
    return Answer(status, {k.lower(): v for k, v in headers.items()}, body)
