"""Shared fixtures for the unit tests: real powertools objects, isolated per test."""

from __future__ import annotations

import importlib
import io
import sys
import uuid
from collections.abc import Callable, Iterator
from types import ModuleType

import pytest
from aws_lambda_powertools import Logger, Metrics

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
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def import_fresh(offline_aws: None) -> Iterator[Callable[[str], ModuleType]]:
    """Import a handler module as a cold start would, and forget it after the test."""
    saved = {name: sys.modules.pop(name) for name in HANDLER_MODULES if name in sys.modules}

    def _import(name: str) -> ModuleType:
        sys.modules.pop(name, None)
        return importlib.import_module(name)

    yield _import
    for name in HANDLER_MODULES:
        sys.modules.pop(name, None)
    sys.modules.update(saved)
