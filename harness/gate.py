"""The gate before a deploy: lint, unit, property and infra checks must pass on this tree.

`CHECKS` is the one list of the gate's checks and their commands, cheapest first; `run` runs
them in order in the project folder (the one this code was imported from) and stops at the
first that fails, keeping the tail of its output. Every command runs with this interpreter, so
the tools are the project's own pinned ones. The tests read `CHECKS` to tell which failed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness import env

TAIL_LINES = 40  # of a failing command's output, shown with the refusal
# Stop a test run at its first failure: the gate needs one reason to refuse, not all of them.
_PYTEST = ("-m", "pytest", "-q", "-x", "--no-header")


@dataclass(frozen=True)
class Check:
    """One check of the gate: its name, what it is in words, its commands and environment."""

    name: str
    what: str
    commands: tuple[tuple[str, ...], ...]  # each after the interpreter: `python <command...>`
    environment: Mapping[str, str] = field(default_factory=dict)

    def argv(self, python: str = sys.executable) -> list[list[str]]:
        return [[python, *command] for command in self.commands]


CHECKS = (
    Check(
        "lint",
        "lint (ruff check, ruff format --check, mypy)",
        (("-m", "ruff", "check", "."), ("-m", "ruff", "format", "--check", "."), ("-m", "mypy")),
    ),
    Check("unit", "the unit tests (pytest -m unit)", ((*_PYTEST, "-m", "unit"),)),
    Check(
        "property",
        "the property tests (pytest -m property, hypothesis profile ci)",
        ((*_PYTEST, "-m", "property", "property_tests"),),
        {"HYPOTHESIS_PROFILE": "ci"},
    ),
    Check(
        "infra",
        "the infra tests (template assertions and cdk-nag: pytest -m infra)",
        ((*_PYTEST, "-m", "infra"),),
    ),
)
NAMES = tuple(check.name for check in CHECKS)


@dataclass(frozen=True)
class Outcome:
    """How one check went: passed or not, how long it took, and the failing command's tail."""

    check: Check
    passed: bool
    seconds: float
    command: str = ""  # the command that failed
    tail: str = ""  # the last TAIL_LINES of its output


@dataclass
class Result:
    """The gate's outcomes, in order; it stopped at the first that failed."""

    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def failed(self) -> Outcome | None:
        return next((o for o in self.outcomes if not o.passed), None)

    @property
    def passed(self) -> bool:
        return bool(self.outcomes) and self.failed is None


def _tail(text: str, lines: int = TAIL_LINES) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def run_check(check: Check, root: Path = env.ROOT) -> Outcome:
    """Run one check's commands in `root`, stopping at the first that fails."""
    started = time.perf_counter()
    environ = {**os.environ, **check.environment}
    for argv in check.argv():
        done = subprocess.run(
            argv, cwd=root, env=environ, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            shown = " ".join(["python", *argv[1:]])
            return Outcome(
                check, False, time.perf_counter() - started, shown, _tail(done.stdout + done.stderr)
            )
    return Outcome(check, True, time.perf_counter() - started)


def run(
    checks: Sequence[Check] = CHECKS,
    root: Path = env.ROOT,
    on_start: Callable[[Check], None] | None = None,
    on_done: Callable[[Outcome], None] | None = None,
) -> Result:
    """Run the checks in order in `root`; stop at the first that fails."""
    result = Result()
    for check in checks:
        if on_start is not None:
            on_start(check)
        outcome = run_check(check, root)
        result.outcomes.append(outcome)
        if on_done is not None:
            on_done(outcome)
        if not outcome.passed:
            break
    return result
