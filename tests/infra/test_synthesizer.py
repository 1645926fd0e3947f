"""The synthesizer: AWS deploys assume the bootstrap's roles; local deploys use the CLI's keys.

The harness deploys to the emulator with `-c synthesizer=cli-credentials` (harness/stack.py),
so that under IAM enforcement the deploy does not go through the bootstrap's roles
(docs/deploying.md). Without it the app keeps the default synthesizer, for `cdk deploy` to AWS.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra import variants
from tests.infra.stacks import run_app

pytestmark = pytest.mark.infra


def asset_roles(outdir: Path) -> list[str]:
    """The role each asset destination of InventoryStack is published with (None: the CLI's)."""
    manifest = json.loads((outdir / "InventoryStack.assets.json").read_text())
    return [
        destination.get("assumeRoleArn")
        for kind in ("files", "dockerImages")
        for asset in manifest.get(kind, {}).values()
        for destination in asset["destinations"].values()
    ]


def deploy_role(outdir: Path) -> str | None:
    manifest = json.loads((outdir / "manifest.json").read_text())
    found: str | None = manifest["artifacts"]["InventoryStack"]["properties"].get("assumeRoleArn")
    return found


def test_by_default_assets_and_the_deploy_assume_the_bootstrap_roles(
    tmp_path: Path, infra_dir: Path, cdk_context: dict[str, Any]
) -> None:
    result = run_app(tmp_path, infra_dir, cdk_context)
    assert result.returncode == 0, f"synth failed:\n{result.stdout}\n{result.stderr}"
    roles = asset_roles(tmp_path)
    assert roles and all(role and "file-publishing-role" in role for role in roles)
    assert "deploy-role" in str(deploy_role(tmp_path))


def test_cli_credentials_publish_and_deploy_with_the_callers_own_keys(
    tmp_path: Path, infra_dir: Path, cdk_context: dict[str, Any]
) -> None:
    context = {**cdk_context, variants.SYNTHESIZER_CONTEXT_KEY: variants.CLI_CREDENTIALS}
    result = run_app(tmp_path, infra_dir, context)
    assert result.returncode == 0, f"synth failed:\n{result.stdout}\n{result.stderr}"
    roles = asset_roles(tmp_path)
    assert roles and all(role is None for role in roles)
    assert deploy_role(tmp_path) is None


def test_an_unknown_synthesizer_is_refused(
    tmp_path: Path, infra_dir: Path, cdk_context: dict[str, Any]
) -> None:
    result = run_app(tmp_path, infra_dir, {**cdk_context, variants.SYNTHESIZER_CONTEXT_KEY: "x"})
    assert result.returncode != 0
    assert "unknown synthesizer 'x'" in result.stderr
    assert "default, cli-credentials" in result.stderr
