"""Hypothesis profiles for the property tests, chosen by HYPOTHESIS_PROFILE (default `dev`).

`dev` is quick feedback while editing (about 6 s in all); `ci`, what `make test` uses, looks
harder but keeps the whole property suite under a minute on a 2-core machine (about 45 s).
Neither has a deadline: these machines are noisy, and a slow example is not a wrong one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from types import ModuleType

import pytest
from hypothesis import HealthCheck, settings

from inventory import config
from tests.support.offline import fresh_imports, offline_aws

settings.register_profile("dev", max_examples=50, deadline=None)
settings.register_profile(
    "ci",
    max_examples=500,
    deadline=None,
    print_blob=True,  # a failure in CI prints the blob that reproduces it
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

TOPIC_ARN = "arn:aws:sns:us-east-1:000000000000:NoStock"
CHECK_HANDLER = "check_stock.handler"


@pytest.fixture(scope="module")
def check_stock_handler() -> Iterator[ModuleType]:
    """check_stock.handler after a cold start with its settings, and forgotten afterwards.

    The module keeps its sender (publisher and AlertsSent) as module-level state, as in Lambda;
    the tests replace the sender per example, and their properties would show any state
    carried from one invocation into the next.
    """
    with (
        offline_aws(
            **{config.ENV_TOPIC_ARN: TOPIC_ARN, config.ENV_ALERTS_SENT_TABLE_NAME: "AlertsSent"}
        ),
        fresh_imports(CHECK_HANDLER) as import_fresh,
    ):
        yield import_fresh(CHECK_HANDLER)
