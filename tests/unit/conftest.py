"""Shared fixtures for the unit tests: real powertools objects, isolated per test."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable, Iterator
from types import ModuleType

import pytest
from aws_lambda_powertools import Logger, Metrics

from tests.support.offline import fresh_imports, set_offline_aws

HANDLER_MODULES = ("load_inventory.handler", "check_stock.handler")


@pytest.fixture
def metrics() -> Iterator[Metrics]:
    """A real Metrics object; powertools shares the metric set between instances, so clear it."""
    m = Metrics(namespace="Test", service="t")
    m.clear_metrics()
    yield m
    m.clear_metrics()


@pytest.fixture
def log_stream() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def logger(log_stream: io.StringIO) -> Logger:
    """A real Logger writing JSON lines to an in-memory stream (a fresh service per test)."""
    return Logger(service=f"unit-{uuid.uuid4().hex}", stream=log_stream)


@pytest.fixture
def offline_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Just enough environment for boto3 to build clients without touching the network."""
    set_offline_aws(monkeypatch)


@pytest.fixture
def import_fresh(offline_aws: None) -> Iterator[Callable[[str], ModuleType]]:
    """Import a handler module as a cold start would, and forget it after the test."""
    with fresh_imports(*HANDLER_MODULES) as import_fresh:
        yield import_fresh


CHECK_STOCK_TOPIC_ARN = "arn:aws:sns:us-east-1:000000000000:NoStock"


@pytest.fixture
def check_handler(
    monkeypatch: pytest.MonkeyPatch, import_fresh: Callable[[str], ModuleType]
) -> ModuleType:
    """check_stock.handler after a cold start with its settings (no network is touched)."""
    from inventory import config

    monkeypatch.setenv(config.ENV_TOPIC_ARN, CHECK_STOCK_TOPIC_ARN)
    monkeypatch.setenv(config.ENV_ALERTS_SENT_TABLE_NAME, "AlertsSent")
    return import_fresh("check_stock.handler")
