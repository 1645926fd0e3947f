"""Start, stop and check the embedded MiniStack emulator, with no Docker.

MiniStack runs Python Lambdas as subprocesses of its own interpreter, so it gets a virtualenv
of its own (`.emulator/venv`) built on the same Python as the functions' declared runtime, and
holding only what the AWS runtime provides (boto3). A function therefore works locally only
if its asset carries its dependencies, exactly as on AWS.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from harness import env

ROOT = Path(__file__).resolve().parent.parent
STATE_DIR = ROOT / ".emulator"
VENV = STATE_DIR / "venv"
LOG_FILE = STATE_DIR / "logs" / "ministack.log"
PID_FILE = STATE_DIR / "ministack.pid"
RUNTIME_PYTHON = "3.13"  # must match infra.functions.RUNTIME
# The emulator's interpreter holds what the Lambda runtime provides, at MiniStack's pins.
EMULATOR_PACKAGES = ["ministack==1.5.33", "boto3==1.43.106", "botocore==1.43.106"]
HEALTH_TIMEOUT_S = 60.0


class EmulatorError(RuntimeError):
    """The emulator could not be set up or started; the message says what to do."""


def health_url() -> str:
    return env.endpoint().rstrip("/") + "/_localstack/health"


def is_healthy(timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(health_url(), timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _runs(candidate: list[str]) -> bool:
    try:
        out = subprocess.run(
            [*candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and out.stdout.strip() == RUNTIME_PYTHON


def find_runtime_python() -> list[str]:
    """A Python matching the Lambda runtime: $LAMBDA_PYTHON, python3.13 on PATH, or pyenv's."""
    candidates: list[list[str]] = []
    if os.environ.get("LAMBDA_PYTHON"):
        candidates.append([os.environ["LAMBDA_PYTHON"]])
    candidates.append([f"python{RUNTIME_PYTHON}"])
    if shutil.which("pyenv"):
        prefix = subprocess.run(
            ["pyenv", "prefix", RUNTIME_PYTHON], capture_output=True, text=True, check=False
        ).stdout.strip()
        if prefix:
            candidates.append([str(Path(prefix) / "bin" / f"python{RUNTIME_PYTHON}")])
    if f"{sys.version_info.major}.{sys.version_info.minor}" == RUNTIME_PYTHON:
        candidates.append([sys.executable])
    for candidate in candidates:
        if _runs(candidate):
            return candidate
    raise EmulatorError(
        f"The functions declare the python{RUNTIME_PYTHON} runtime, and MiniStack runs them on "
        f"its own interpreter, so the emulator needs Python {RUNTIME_PYTHON}. None was found "
        f"(tried $LAMBDA_PYTHON, python{RUNTIME_PYTHON} on PATH, pyenv). Install Python "
        f"{RUNTIME_PYTHON}, or set LAMBDA_PYTHON=/path/to/python{RUNTIME_PYTHON}."
    )


def ensure_venv() -> Path:
    """Create the emulator's virtualenv once; return its interpreter."""
    python = VENV / "bin" / "python"
    marker = VENV / "installed.txt"
    wanted = "\n".join(EMULATOR_PACKAGES)
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    base = find_runtime_python()
    print(f"Creating the emulator's Python {RUNTIME_PYTHON} virtualenv in {VENV.relative_to(ROOT)}")
    subprocess.run([*base, "-m", "venv", "--clear", str(VENV)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         *EMULATOR_PACKAGES],
        check=True,
    )  # fmt: skip
    marker.write_text(wanted)
    return python


def _emulator_environment() -> dict[str, str]:
    environ = {
        k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}
    }
    environ.update(
        GATEWAY_PORT=str(env.endpoint_port()),
        BIND_HOST="127.0.0.1",  # loopback only
        MINISTACK_HOST="127.0.0.1",
        LAMBDA_EXECUTOR="local",
        LOG_LEVEL=os.environ.get("MINISTACK_LOG_LEVEL", "INFO"),
    )
    return environ


def port_in_use() -> bool:
    """Whether something listens on the endpoint's port (a busy emulator may answer slowly)."""
    with socket.socket() as probe:
        probe.settimeout(1.0)
        return probe.connect_ex(("127.0.0.1", env.endpoint_port())) == 0


def start() -> bool:
    """Start MiniStack unless something already answers; return True if we started it."""
    if is_healthy() or (port_in_use() and is_healthy(timeout=15.0)):
        print(f"An emulator is already answering at {env.endpoint()}; using it.")
        return False
    if port_in_use():
        raise EmulatorError(
            f"Port {env.endpoint_port()} is taken but {health_url()} does not answer; "
            "stop whatever listens there or set AWS_ENDPOINT_URL to another port"
        )
    python = ensure_venv()
    LOG_FILE.parent.mkdir(parents=True, exist_ok=True)
    with LOG_FILE.open("ab") as log:
        process = subprocess.Popen(
            [str(python), "-m", "ministack"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=_emulator_environment(), cwd=STATE_DIR, start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EmulatorError(
                f"MiniStack exited with code {process.returncode}; see {LOG_FILE.relative_to(ROOT)}"
            )
        if is_healthy():
            # Only a healthy emulator is recorded, so `stop` never targets a failed start.
            PID_FILE.write_text(str(process.pid))
            print(f"MiniStack is up at {env.endpoint()} (logs: {LOG_FILE.relative_to(ROOT)})")
            return True
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    raise EmulatorError(f"MiniStack did not become healthy in {HEALTH_TIMEOUT_S:.0f} s")


def stop() -> bool:
    """Stop the emulator this project started (and its Lambda workers); True if one was."""
    if not PID_FILE.exists():
        return False
    pid = int(PID_FILE.read_text())
    PID_FILE.unlink()
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    os.killpg(pid, signal.SIGKILL)
    return True
