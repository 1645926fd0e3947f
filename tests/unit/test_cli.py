"""The `inventory` command line: help, dispatch to each module, and clear errors on bad input."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from harness import stack
from harness.cli import build_parser, main

pytestmark = pytest.mark.unit

COMMANDS = {"up", "down", "status", "outputs", "demo", "simulate", "load", "bench", "cost",
            "bench-parser", "bench-writes"}  # fmt: skip


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
