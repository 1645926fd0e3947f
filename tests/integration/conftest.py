"""The deployed stack on the emulator, shared by every integration test in the session.

The emulator enforces IAM (`AUTH=true`, over https) unless AUTH says otherwise.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from harness import dashboard, emulator, env, stack, users
from harness.observe import Alert, AlertInbox, Observer
from infra.outputs import StackOutputs
from inventory.receipts import Receipt
from tests.support.query_api import QueryApi, sign_in


@dataclass
class Pipeline:
    """The deployed stack plus a ledger of every object the tests uploaded."""

    outputs: StackOutputs
    inbox: AlertInbox
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    uploaded: list[str] = field(default_factory=list)
    dead_letters_before: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.observer = Observer(self.outputs)
        # A reused emulator may hold dead letters from earlier sessions.
        self.dead_letters_before = self.observer.dead_letter_depths()

    def unique(self, name: str) -> str:
        """A name no other test (or earlier run on this emulator) uses."""
        return f"{name}-{self.run_id}-{uuid.uuid4().hex[:6]}"

    def upload(self, key: str, body: bytes) -> None:
        env.client("s3").put_object(Bucket=self.outputs.bucket_name, Key=key, Body=body)
        self.uploaded.append(key)

    def upload_and_wait(self, key: str, body: bytes, timeout_s: float = 60.0) -> Receipt:
        """Upload and return the object's receipt once it is visible."""
        before = len(self.observer.receipts(key))
        self.upload(key, body)
        receipt = self.observer.wait_for_receipt(key, after=before, timeout_s=timeout_s)
        assert receipt is not None, f"no receipt for {key!r} within {timeout_s} s"
        return receipt

    def counts(self, store: str) -> dict[str, int]:
        return {item: n for (_, item), n in self.observer.counts(store).items()}

    def items(self, store: str) -> list[dict[str, Any]]:
        return self.observer.items(store)

    def alerts_for_store(self, store: str, expected: int, timeout_s: float = 20.0) -> list[Alert]:
        """Alerts whose `store` attribute is this store, once `expected` arrived and it settled."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if len(self._store_alerts(store)) >= expected:
                break
            time.sleep(0.05)
        time.sleep(1.5)  # a duplicate would arrive within the same stream batch window
        return self._store_alerts(store)

    def _store_alerts(self, store: str) -> list[Alert]:
        return [a for a in self.inbox.snapshot() if a.store_attribute == store]


@pytest.fixture(scope="session")
def pipeline() -> Iterator[Pipeline]:
    """An emulator enforcing IAM, the stack deployed on it with cdklocal, a NoStock inbox.

    IAM is enforced unless AUTH is set to something else than true (`AUTH=false` runs the
    suite on an emulator that does not enforce it, e.g. LocalStack, and skips tests/
    integration/test_iam.py). An emulator this project started without enforcement is
    restarted with it and left running; any other one that does not enforce is refused.
    """
    os.environ.setdefault(env.AUTH_VARIABLE, "true")
    env.use_emulator_defaults()
    ours_before = env.recorded_mode(env.endpoint_port()) is not None
    started = emulator.start()
    try:
        outputs = stack.running(redeploy=True)
        with Observer(outputs).inbox() as inbox:
            yield Pipeline(outputs=outputs, inbox=inbox)
    finally:
        if started and not ours_before:
            emulator.stop()


@dataclass(frozen=True)
class DashboardUser:
    """A user of the stack's pool, made for this session (`inventory user add`)."""

    email: str
    password: str


@pytest.fixture(scope="session")
def dashboard_user(pipeline: Pipeline) -> DashboardUser:
    """A fresh dashboard user, with a permanent password, made with the CLI's admin calls."""
    found = users.dashboard_user(pipeline.outputs, f"tester-{pipeline.run_id}@example.com")
    return DashboardUser(found.email, found.password)


@pytest.fixture(scope="session")
def api(pipeline: Pipeline, dashboard_user: DashboardUser) -> QueryApi:
    """The deployed query API, with the session user's access token."""
    token = sign_in(pipeline.outputs, dashboard_user.email, dashboard_user.password)
    assert pipeline.outputs.api_url
    return QueryApi(pipeline.outputs.api_url, token)


@pytest.fixture(scope="session")
def dashboard_url(pipeline: Pipeline) -> Iterator[str]:
    """The dashboard page, served as `inventory up` serves it on the emulator (and stopped
    afterwards if this session started it)."""
    port = dashboard.dashboard_port(env.endpoint_port())
    ours_before = dashboard.running(port)
    yield stack.serve_dashboard(pipeline.outputs)
    if not ours_before:
        dashboard.stop(port)
