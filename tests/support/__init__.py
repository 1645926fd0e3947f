"""Test support shared by the unit, property and integration tests: fakes, events, offline AWS.

Modules:
- `fakes`: in-memory and boto3-shaped fakes of the ports the lambdas talk to (no mocks).
- `chaos`: fakes whose answers hypothesis picks (imports hypothesis).
- `events`: DynamoDB-typed Inventory items, stream records and a Lambda context.
- `offline`: the environment boto3 needs to build clients offline, and cold-start imports.
- `agreement`: the simulator manifest checked against the real parser.
"""

import pytest

# Asserts in the helpers report their operands the way asserts in test modules do.
pytest.register_assert_rewrite("tests.support.agreement", "tests.support.chaos")
