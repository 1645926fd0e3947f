"""Build each function's asset locally, without Docker: its code, the domain and pinned deps."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import BundlingOptions, ILocalBundling
from aws_cdk import aws_lambda as lambda_

LAMBDAS_DIR = Path(__file__).resolve().parent.parent / "lambdas"
DOMAIN_PACKAGE = "inventory"
REQUIREMENTS = LAMBDAS_DIR / "requirements.txt"  # what every function needs
FUNCTION_REQUIREMENTS = "requirements.txt"  # lambdas/<package>/requirements.txt: its own extras
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc")


def requirements(function_package: str) -> list[Path]:
    """The requirements files a function's asset installs: the shared one, then its own."""
    own = LAMBDAS_DIR / function_package / FUNCTION_REQUIREMENTS
    return [REQUIREMENTS, own] if own.is_file() else [REQUIREMENTS]


def _python_version(runtime: lambda_.Runtime) -> str:
    return runtime.name.removeprefix("python")  # "python3.13" -> "3.13"


@jsii.implements(ILocalBundling)
class PipBundler:
    """Copies the function and the domain package, then pip-installs Lambda-platform wheels."""

    def __init__(self, function_package: str, runtime: lambda_.Runtime) -> None:
        self.function_package = function_package
        self.runtime = runtime

    def try_bundle(self, output_dir: str, *args: Any, **kwargs: Any) -> bool:
        out = Path(output_dir)
        for package in (DOMAIN_PACKAGE, self.function_package):
            shutil.copytree(
                LAMBDAS_DIR / package, out / package, ignore=_IGNORED, dirs_exist_ok=True
            )
        # Wheels for the Lambda platform, whatever this machine is: what is deployed to AWS
        # contains everything it imports, and locally nothing leaks in from the host.
        command = [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--no-deps", "--no-compile", "--only-binary=:all:",
            "--platform", "manylinux2014_x86_64", "--implementation", "cp",
            "--python-version", _python_version(self.runtime),
            "--target", str(out),
            *(arg for path in requirements(self.function_package) for arg in ("-r", str(path))),
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"bundling {self.function_package} failed:\n{result.stderr}")
        return True


def source_hash(function_package: str, runtime: lambda_.Runtime) -> str:
    """A hash of everything that goes into the asset, so an unchanged function is not rebuilt."""
    digest = hashlib.sha256(f"{function_package}:{runtime.name}".encode())
    files = requirements(function_package)
    for package in (DOMAIN_PACKAGE, function_package):
        files += sorted(p for p in (LAMBDAS_DIR / package).rglob("*.py"))
    for path in files:
        digest.update(str(path.relative_to(LAMBDAS_DIR)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def function_code(function_package: str, runtime: lambda_.Runtime) -> lambda_.Code:
    """The asset for one function, bundled locally (the image is only a fallback CDK asks for)."""
    return lambda_.Code.from_asset(
        str(LAMBDAS_DIR),
        asset_hash=source_hash(function_package, runtime),
        bundling=BundlingOptions(
            image=runtime.bundling_image,
            local=PipBundler(function_package, runtime),
            command=[
                "bash",
                "-c",
                f"cp -r {DOMAIN_PACKAGE} {function_package} /asset-output/ && "
                "pip install --no-deps "
                + " ".join(
                    f"-r {p.relative_to(LAMBDAS_DIR)}" for p in requirements(function_package)
                )
                + " -t /asset-output",
            ],
        ),
    )
