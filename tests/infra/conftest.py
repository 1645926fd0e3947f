"""One synthesized InventoryStack for the whole session, built the way `cdk synth` builds it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

# jsii prints a banner about this machine's Node version on every import; it is noise here.
for _flag in ("END_OF_LIFE", "DEPRECATED", "UNTESTED"):
    os.environ.setdefault(f"JSII_SILENCE_WARNING_{_flag}_NODE_VERSION", "20")

import pytest  # noqa: E402
from aws_cdk.assertions import Template  # noqa: E402

from infra import variants  # noqa: E402
from infra.inventory_stack import InventoryStack  # noqa: E402
from tests.infra import stacks  # noqa: E402

# The contract in docs/design.md; infra/app.py and the harness name it by infra.variants too.
STACK_NAME = variants.stack_name()
INFRA_DIR = Path(__file__).resolve().parents[2] / "infra"
# No stack is bundled: the template depends on an asset's hash, not on its contents.
SKIP_BUNDLING: dict[str, Any] = {"aws:cdk:bundling-stacks": []}


@pytest.fixture(scope="session")
def infra_dir() -> Path:
    """The CDK app's folder: app.py and cdk.json."""
    return INFRA_DIR


@pytest.fixture(scope="session")
def cdk_context() -> dict[str, Any]:
    """The context the CDK CLI passes from cdk.json (its feature flags change the template)."""
    context: dict[str, Any] = json.loads((INFRA_DIR / "cdk.json").read_text())["context"]
    return {**context, **SKIP_BUNDLING}


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, cdk_context: dict[str, Any]) -> InventoryStack:
    """The default variant's stack, as infra/app.py builds it without `-c variant`."""
    built = stacks.build(tmp_path_factory.mktemp("cdk.out"), cdk_context)
    assert built.stack_name == STACK_NAME
    return built


@pytest.fixture(scope="session")
def template(stack: InventoryStack) -> Template:
    """The InventoryStack template, synthesized once (a synth takes seconds)."""
    return Template.from_stack(stack)


@pytest.fixture(scope="session")
def baseline_stack(
    tmp_path_factory: pytest.TempPathFactory, cdk_context: dict[str, Any]
) -> InventoryStack:
    """The baseline variant's stack (`-c variant=baseline`), built once."""
    return stacks.build(tmp_path_factory.mktemp("baseline.out"), cdk_context, variants.BASELINE)


@pytest.fixture(scope="session")
def baseline(baseline_stack: InventoryStack) -> Template:
    """The baseline variant's template, synthesized once."""
    return Template.from_stack(baseline_stack)
