"""Locust users for a system that is not HTTP: boto3 calls timed and reported as requests.

Follows locust's examples/grpc: an abstract user wraps the client and fires
`environment.events.request` for every call; the concrete user only holds its task.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

import gevent
from locust import User, task

from harness import env
from loadtests.shapes import PACER
from loadtests.source import PlannedFile


class Files(Protocol):
    """Where a user gets its next file: `loadtests.source.FileSource`, or a worker's share."""

    def next(self) -> PlannedFile | None: ...


class Ledger(Protocol):
    """What a user reports: `loadtests.tracker.Tracker`, or a worker's `WorkerLedger`."""

    def started(self, key: str, store: str, rows: int, expected_alerts: int, size: int) -> None: ...

    def put_done(self, key: str, error: Exception | None) -> None: ...

    def wait_ingested(self, key: str | None) -> None: ...

    def out_of_files(self, environment: Any) -> None: ...


class TimedS3:
    """An S3 client whose calls appear in locust's statistics as request type `S3`."""

    def __init__(self, environment: Any) -> None:
        self._client = env.client("s3")
        self._environment = environment

    def put_object(self, **kwargs: Any) -> Exception | None:
        started = time.perf_counter()
        error: Exception | None = None
        try:
            self._client.put_object(**kwargs)
        except Exception as exc:  # reported to locust, never raised into the task loop
            error = exc
        self._environment.events.request.fire(
            request_type="S3",
            name="PUT",
            response_time=(time.perf_counter() - started) * 1000,
            response_length=len(kwargs.get("Body", b"")),
            exception=error,
            context={},
        )
        return error


class Boto3User(User):
    """Abstract: a user with a timed S3 client, paced by the shared upload pacer."""

    abstract = True
    # Set by the runner before the run starts.
    source: Files
    tracker: Ledger
    bucket: str

    def wait_time(self) -> float:
        return PACER.delay()

    def on_start(self) -> None:
        # Locust runs a user's first task before its first wait_time: without this, the
        # first upload of every user would start at once, a burst no shape asked for, and
        # the slowest files of a short run.
        gevent.sleep(self.wait_time())

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.s3 = TimedS3(environment)


class StoreUploader(Boto3User):
    """Uploads the next store snapshot; a store's next file waits until its previous is in."""

    @task
    def upload_snapshot(self) -> None:
        planned = self.source.next()
        if planned is None:
            self.tracker.out_of_files(self.environment)
            return
        self.tracker.wait_ingested(planned.previous_key)
        self.tracker.started(
            planned.key, planned.store, planned.rows, planned.expected_alerts, len(planned.body)
        )
        error = self.s3.put_object(Bucket=self.bucket, Key=planned.key, Body=planned.body)
        self.tracker.put_done(planned.key, error)
