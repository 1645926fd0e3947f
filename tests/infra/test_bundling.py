"""The local (Docker-free) bundler builds a deployable asset: code, domain and pinned wheels."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from infra.bundling import REQUIREMENTS, PipBundler, source_hash
from infra.functions import RUNTIME

pytestmark = pytest.mark.infra


def pinned_requirements() -> dict[str, str]:
    """`name==version` lines of lambdas/requirements.txt, as importable distribution names."""
    pins = {}
    for line in REQUIREMENTS.read_text().splitlines():
        if match := re.fullmatch(r"([A-Za-z0-9_.-]+)==([^\s#]+)", line.strip()):
            name, version = match.groups()
            pins[re.sub(r"[-.]+", "_", name).lower()] = version
    return pins


@pytest.fixture(scope="module")
def loader_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Load-Inventory's asset, bundled once; pip downloads the Lambda-platform wheels from PyPI."""
    out = tmp_path_factory.mktemp("load_inventory.asset")
    assert PipBundler("load_inventory", RUNTIME).try_bundle(str(out)) is True
    return out


def test_bundle_holds_the_handler_the_domain_and_powertools(loader_bundle: Path) -> None:
    assert (loader_bundle / "load_inventory" / "handler.py").is_file()
    assert (loader_bundle / "inventory" / "csv_format.py").is_file()
    assert (loader_bundle / "aws_lambda_powertools").is_dir()
    assert (loader_bundle / "aws_lambda_powertools" / "__init__.py").is_file()


def test_bundle_holds_every_pin_at_its_version(loader_bundle: Path) -> None:
    pins = pinned_requirements()
    assert "aws_lambda_powertools" in pins
    installed = {path.name.lower() for path in loader_bundle.glob("*.dist-info")}
    for name, version in pins.items():
        assert f"{name}-{version}.dist-info" in installed


def test_bundle_holds_only_its_own_function_and_no_bytecode(loader_bundle: Path) -> None:
    assert not (loader_bundle / "check_stock").exists()
    assert not list(loader_bundle.rglob("__pycache__"))
    assert not list(loader_bundle.rglob("*.pyc"))


def test_each_function_has_its_own_asset_hash() -> None:
    loader, checker = (source_hash(p, RUNTIME) for p in ("load_inventory", "check_stock"))
    assert loader != checker
    assert loader == source_hash("load_inventory", RUNTIME)  # stable: unchanged code is not rebuilt
