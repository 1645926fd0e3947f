"""The load run's locustfile, for locust's own command line on worker machines.

    locust -f loadtests/locustfile.py --worker --master-host MASTER [--master-port 5557]

The master is the harness (`inventory load --expect-workers N --master-bind-host 0.0.0.0`):
it plans the files, observes receipts and alerts, and does the accounting; a worker only
uploads its share (loadtests.distributed). `inventory load --workers N` starts N of these
itself.
"""

from __future__ import annotations

from typing import Any

from locust import events

from loadtests.distributed import install_worker
from loadtests.users import StoreUploader

__all__ = ["StoreUploader"]  # the user class locust runs


@events.init.add_listener
def _on_init(environment: Any, **_kwargs: Any) -> None:
    install_worker(environment)
