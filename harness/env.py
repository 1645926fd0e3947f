"""Where the AWS APIs are: AWS_ENDPOINT_URL if set, else the embedded emulator on loopback."""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from functools import cache
from typing import Any
from urllib.parse import urlparse

import boto3
from botocore.config import Config

DEFAULT_ENDPOINT = "http://127.0.0.1:4566"
DEFAULT_REGION = "us-east-1"
EMULATOR_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}


def endpoint() -> str:
    """The emulator endpoint tooling talks to (only meaningful when not targeting AWS)."""
    return os.environ.get("AWS_ENDPOINT_URL", DEFAULT_ENDPOINT)


def endpoint_port(url: str | None = None) -> int:
    return urlparse(url or endpoint()).port or 4566


def use_emulator_defaults(environ: MutableMapping[str, str] = os.environ) -> None:
    """Point the SDK and cdklocal at the emulator unless the user already chose an endpoint.

    Never used against AWS: deploying there (`cdk deploy`) leaves the environment alone.
    """
    url = environ.setdefault("AWS_ENDPOINT_URL", DEFAULT_ENDPOINT)
    environ.setdefault("AWS_ENDPOINT_URL_S3", url)  # cdklocal refuses to run without it
    environ.setdefault("AWS_DEFAULT_REGION", DEFAULT_REGION)
    environ.setdefault("AWS_REGION", environ["AWS_DEFAULT_REGION"])
    for name, value in EMULATOR_CREDENTIALS.items():
        environ.setdefault(name, value)


@cache
def client(service: str) -> Any:
    """A boto3 client with SDK defaults (the endpoint comes from AWS_ENDPOINT_URL)."""
    return boto3.client(
        service, config=Config(retries={"mode": "standard"}, max_pool_connections=32)
    )
