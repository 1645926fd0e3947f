"""Template tests of the CDK app (marker `infra`): no emulator, no AWS.

Modules besides the tests:
- `stacks`: build a variant's stack in process, or run infra/app.py as `cdk synth` does, and
  read cdk-nag's report.
- `queries`: find resources in a template by what they are, never by their logical ids.
"""

import pytest

# Asserts in the helpers report their operands the way asserts in test modules do.
pytest.register_assert_rewrite("tests.infra.queries", "tests.infra.stacks")
