"""The `inventory` command line: help, dispatch to each module, and clear errors on bad input."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from harness import stack
from harness.cli import build_parser, main
from tests.support.offline import set_offline_aws

pytestmark = pytest.mark.unit

COMMANDS = {"up", "down", "status", "outputs", "demo", "simulate", "load", "bench", "scale", "cost",
            "bench-parser", "bench-writes", "floor", "bench-large", "redrive", "user",
            "openapi", "trace", "deploy", "smoke", "destroy"}  # fmt: skip


@pytest.fixture
def no_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if a command tries to reach a deployed stack."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("this command must not start the emulator or deploy")

    monkeypatch.setattr(stack, "running", refuse)


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--help"])

    assert done.value.code == 0
    listed = capsys.readouterr().out
    assert all(f"    {name}" in listed for name in COMMANDS)
    commands = next(
        action
        for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    assert set(commands.choices) == COMMANDS


def test_simulate_generate_writes_the_files_and_their_manifest(
    tmp_path: Path, no_stack: None
) -> None:
    out = tmp_path / "run"

    code = main(["simulate", "generate", "--files", "4", "--rows", "3", "--seed", "1",
                 "--out", str(out)])  # fmt: skip

    assert code == 0
    assert (out / "manifest.json").exists()
    assert len(list(out.rglob("*.csv"))) == 4


def test_generating_into_a_folder_that_is_not_empty_is_refused(
    tmp_path: Path, no_stack: None, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "keep.txt").write_text("mine")

    code = main(["simulate", "generate", "--files", "1", "--rows", "1", "--seed", "1",
                 "--out", str(tmp_path)])  # fmt: skip

    assert code == 2
    assert "is not empty" in capsys.readouterr().out
    assert (tmp_path / "keep.txt").read_text() == "mine"  # nothing lost


@pytest.mark.parametrize("command", ["upload", "verify"])
def test_upload_and_verify_of_a_folder_that_is_not_a_run_fail_before_any_deploy(
    tmp_path: Path, no_stack: None, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    code = main(["simulate", command, str(tmp_path)])

    assert code == 2
    assert "manifest.json not found" in capsys.readouterr().out


def test_an_unknown_variant_is_refused_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["outputs", "--variant", "labby"])

    assert done.value.code == 2
    assert "invalid choice: 'labby'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--faults", "dupes=0.1"], "unknown fault 'dupes'"),
        (["--faults", "duplicate=0.1", "--late-rate", "0.1"], "not both"),
    ],
)
def test_upload_refuses_bad_faults_before_any_deploy(
    tmp_path: Path,
    no_stack: None,
    capsys: pytest.CaptureFixture[str],
    flags: list[str],
    says: str,
) -> None:
    code = main(["simulate", "upload", str(tmp_path), *flags])

    assert code == 2
    assert says in capsys.readouterr().out


def test_upload_fault_flags_become_one_spec() -> None:
    from simulator.cli import upload_faults

    args = build_parser().parse_args(
        ["simulate", "upload", "runs/x", "--duplicate-rate", "0.05", "--late-rate", "0.02",
         "--sns-outage", "10", "--throttle", "0.2"]
    )  # fmt: skip

    assert upload_faults(args).describe() == "duplicate=0.05,late=0.02,sns-outage=10,throttle=0.2"


def test_a_fault_rate_above_1_is_refused_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["simulate", "upload", "runs/x", "--duplicate-rate", "2"])

    assert done.value.code == 2
    assert "must be between 0 and 1" in capsys.readouterr().err


def test_load_refuses_a_bad_faults_spec_before_any_deploy(
    no_stack: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # Through the handler, not main(): main() imports locust (gevent) first for `load`.
    args = build_parser().parse_args(["load", "--faults", "sns-outage=soon"])

    assert args.handler(args) == 2
    assert "--faults: fault 'sns-outage': 'soon' is not a number" in capsys.readouterr().err


def test_redrive_help_says_when_to_use_it(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["redrive", "--help"])

    assert done.value.code == 0
    text = capsys.readouterr().out
    assert "When to use it" in text and "--dry-run" in text


def test_redrive_with_nothing_answering_says_so(
    monkeypatch: pytest.MonkeyPatch, no_stack: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # Set every variable the command may fill in, so that all of them are undone afterwards.
    set_offline_aws(
        monkeypatch,
        AWS_ENDPOINT_URL="http://127.0.0.1:9",
        AWS_ENDPOINT_URL_S3="http://127.0.0.1:9",
        AWS_REGION="us-east-1",
    )

    code = main(["redrive", "--dry-run"])

    assert code == 1
    assert "nothing answers at http://127.0.0.1:9" in capsys.readouterr().out


def test_building_the_cli_imports_no_sdk() -> None:
    # locust must monkey-patch before botocore is imported, and `--help` must stay instant:
    # no command module may import boto3 or botocore at its top.
    check = (
        "import sys, harness.cli as cli; cli.build_parser(); "
        "print(sorted(m for m in ('boto3', 'botocore') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
