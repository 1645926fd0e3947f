"""schemathesis against the deployed query API, from the API's own document (docs/openapi.json).

Every operation is called with generated parameters and a valid token; schemathesis checks
that no answer is a server error, and that status codes, content types, headers and bodies
are the ones the document declares (and that the API refuses a call without the token).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance, unsupported_method

from tests.support.query_api import QueryApi

pytestmark = [pytest.mark.integration, pytest.mark.dashboard]

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
SCHEMA = schemathesis.openapi.from_path(DOCUMENT)
# Valid parameters only: invalid ones (each kind answered 400, naming it) are the subject of
# test_query_api.py. schemathesis's invalid values are mostly over-long strings, which the
# gateway in front refuses (414/431) before the function sees them.
SCHEMA.config.generation.update(modes=[schemathesis.GenerationMode.POSITIVE], allow_x00=False)


@SCHEMA.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_keeps_to_its_own_document(case: schemathesis.Case, api: QueryApi) -> None:
    case.call_and_validate(
        base_url=api.base_url,
        headers={"Authorization": f"Bearer {api.token}"},
        verify=os.environ.get("AWS_CA_BUNDLE", True),
        timeout=30,
        # The document can only say that `next` is a string; a made-up one is rightly refused
        # with a 400, which this check would count as a valid input rejected.
        # An HTTP API answers a method it has no route for with 404, not 405 (AWS and
        # MiniStack alike).
        excluded_checks=[positive_data_acceptance, unsupported_method],
    )
