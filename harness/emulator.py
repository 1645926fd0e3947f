"""Start, stop and check the embedded MiniStack emulator, with no Docker.

MiniStack runs Python Lambdas as subprocesses of its own interpreter, so it gets a virtualenv
of its own (`.emulator/venv`) built on the same Python as the functions' declared runtime, and
holding only what the AWS runtime provides (boto3). A function therefore works locally only
if its asset carries its dependencies, exactly as on AWS.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from harness import env

ROOT = env.ROOT
STATE_DIR = env.STATE_DIR  # the venv, and one folder per port: .emulator/<port>/
VENV = STATE_DIR / "venv"
LEGACY_PID_FILE = STATE_DIR / "ministack.pid"  # before one folder per port
RUNTIME_PYTHON = "3.13"  # must match infra.functions.RUNTIME
# The emulator's interpreter holds what the Lambda runtime provides, at MiniStack's pins.
EMULATOR_PACKAGES = ["ministack==1.5.33", "boto3==1.43.106", "botocore==1.43.106"]
HEALTH_TIMEOUT_S = 60.0


class EmulatorError(RuntimeError):
    """The emulator could not be set up or started; the message says what to do."""


def health_url(endpoint: str | None = None) -> str:
    return (endpoint or env.endpoint()).rstrip("/") + "/_localstack/health"


def _ssl_context(url: str, verify: bool) -> ssl.SSLContext | None:
    if urlparse(url).scheme != "https":
        return None
    if not verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=os.environ.get("AWS_CA_BUNDLE") or None)


def health(
    timeout: float = 1.0, *, endpoint: str | None = None, verify: bool = True
) -> dict[str, Any] | None:
    """The health document of the emulator at the endpoint if one answers, else None.

    `verify=False` accepts any certificate: only to say what listens, never to use it.
    """
    url = health_url(endpoint)
    try:
        with urllib.request.urlopen(
            url, timeout=timeout, context=_ssl_context(url, verify)
        ) as response:
            if response.status != 200:
                return None
            found = json.loads(response.read() or b"{}")
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError):
        return None
    return found if isinstance(found, dict) else {}


def is_healthy(timeout: float = 1.0) -> bool:
    return health(timeout) is not None


def enforces_iam(found: dict[str, Any]) -> bool:
    """Whether a health document says IAM is enforced (MiniStack's `"auth": "enabled"`)."""
    return found.get("auth") == "enabled"


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


# MiniStack's own generator (ministack.core.tls) writes the gateway's certificate, and the
# system roots plus it as ca-bundle.pem, under $TMPDIR/ministack-tls/; it keeps a certificate
# that still carries every name it needs. Run with TMPDIR=.emulator/<port>/.
_GENERATE_CERTIFICATE = "from ministack.core import tls; tls.trust_gateway_cert({})"


def log_file(port: int | None = None) -> Path:
    """The log of the emulator on `port` (default: the endpoint's)."""
    return env.state_dir(port or env.endpoint_port()) / "logs" / "ministack.log"


def pid_file(port: int | None = None) -> Path:
    """Holds the PID of the emulator this project started on `port` (default: the endpoint's)."""
    return env.pid_file(port or env.endpoint_port())


def __getattr__(name: str) -> Path:
    # `emulator.PID_FILE`, read by tests: the PID file of the endpoint's port, as it is now.
    if name == "PID_FILE":
        return pid_file()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _relative(path: Path) -> Path:
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def _certificate(python: Path, port: int) -> env.Certificate:
    """The per-port certificate an https emulator serves, generated by MiniStack's own code."""
    folder = env.state_dir(port)
    environ = {
        k: v for k, v in os.environ.items()
        if k not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "MINISTACK_SSL_CERT",
                     "MINISTACK_SSL_KEY"}
    }  # fmt: skip
    environ.update(TMPDIR=str(folder), MINISTACK_HOST=env.LOOPBACK)
    generated = subprocess.run(
        [str(python), "-c", _GENERATE_CERTIFICATE],
        env=environ, cwd=folder, capture_output=True, text=True, check=False,
    )  # fmt: skip
    certificate = env.Certificate.for_port(port)
    if generated.returncode != 0 or not certificate.cert.exists():
        raise EmulatorError(
            "MiniStack could not generate the https emulator's certificate (it runs the "
            f"`openssl` command, which must be installed):\n{generated.stderr.strip()}"
        )
    if not certificate.ca_bundle.exists():
        # No system roots were found to add it to: trust the emulator's certificate alone.
        shutil.copyfile(certificate.cert, certificate.ca_bundle)
    return certificate


def _emulator_environment(mode: env.Mode, certificate: env.Certificate | None) -> dict[str, str]:
    environ = {
        k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}
    }
    environ.update(
        GATEWAY_PORT=str(mode.port),
        BIND_HOST=env.LOOPBACK,  # loopback only
        MINISTACK_HOST=env.LOOPBACK,
        LAMBDA_EXECUTOR="local",
        LOG_LEVEL=os.environ.get("MINISTACK_LOG_LEVEL", "INFO"),
        AUTH="true" if mode.auth else "false",
        USE_SSL="1" if certificate else "0",
    )
    if certificate:
        environ.update(
            MINISTACK_SSL_CERT=str(certificate.cert), MINISTACK_SSL_KEY=str(certificate.key)
        )
        # The Lambda workers inherit this environment, AWS_ENDPOINT_URL included (so MiniStack
        # does not add its own trust to theirs): they trust the certificate through these.
        for name in ("AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS"):
            environ[name] = str(certificate.ca_bundle)
    return environ


def port_in_use() -> bool:
    """Whether something listens on the endpoint's port (a busy emulator may answer slowly)."""
    with socket.socket() as probe:
        probe.settimeout(1.0)
        return probe.connect_ex((env.LOOPBACK, env.endpoint_port())) == 0


def _answer() -> dict[str, Any] | None:
    found = health()
    if found is None and port_in_use():
        found = health(timeout=15.0)
    return found


def start() -> bool:
    """Start MiniStack unless a suitable emulator answers; return True if this call started one.

    The endpoint (AWS_ENDPOINT_URL) gives the port and http or https; `AUTH=true` asks for IAM
    enforcement, which needs https. When enforcement is asked for, an emulator this project
    started without it is restarted with it, and any other one that does not enforce is
    refused. Otherwise whatever answers is used, as it is.
    """
    wanted = env.wanted_mode()
    if wanted.auth and wanted.scheme != "https":
        raise EmulatorError(
            f"AUTH=true needs https (the stack's TLS-only policies deny plain http), but "
            f"AWS_ENDPOINT_URL is {env.endpoint()}: unset it, or use "
            f"https://{env.LOOPBACK}:{wanted.port}"
        )
    ours = env.recorded_mode(wanted.port)
    if ours is not None and wanted.auth and not ours.auth:
        print(f"The emulator this project started at {ours.describe()} does not enforce IAM, "
              "and AUTH=true asks for it: restarting it with IAM enforced.")  # fmt: skip
        stop(wanted.port)
        return _launch(wanted)
    if ours is not None and ours.scheme != wanted.scheme:
        raise EmulatorError(
            f"The emulator this project started on port {wanted.port} serves "
            f"{ours.describe()}, but AWS_ENDPOINT_URL is {env.endpoint()}: set it to "
            f"{ours.endpoint}, or stop that emulator first (`inventory down`)"
        )
    found = _answer()
    if found is not None:
        enforced = enforces_iam(found)
        if wanted.auth and not enforced:
            raise EmulatorError(
                f"An emulator answers at {env.endpoint()} but does not enforce IAM, and "
                "AUTH=true asks for enforcement. This project did not start it, so it is left "
                "alone: stop it, point AWS_ENDPOINT_URL at a free port (e.g. "
                f"https://{env.LOOPBACK}:4577), or run without AUTH=true."
            )
        print(f"An emulator is already answering at {env.endpoint()} "
              f"({'IAM enforced' if enforced else 'IAM not enforced'}); using it.")  # fmt: skip
        return False
    if port_in_use():
        raise EmulatorError(_not_answering(wanted))
    return _launch(wanted)


def _not_answering(wanted: env.Mode) -> str:
    """Why the port is taken but the endpoint does not answer, as far as can be told."""
    other = "http" if wanted.scheme == "https" else "https"
    for scheme in (other, wanted.scheme):
        found = health(endpoint=f"{scheme}://{env.LOOPBACK}:{wanted.port}", verify=False)
        if found is None:
            continue
        enforced = "enforces IAM" if enforces_iam(found) else "does not enforce IAM"
        if scheme == wanted.scheme:  # it answers, with a certificate we do not trust
            return (
                f"An emulator this project did not start answers at {env.endpoint()} (and "
                f"{enforced}), with a certificate AWS_CA_BUNDLE does not trust: set "
                "AWS_CA_BUNDLE to its CA, stop it, or set AWS_ENDPOINT_URL to another port"
            )
        return (
            f"An emulator this project did not start answers on port {wanted.port} over "
            f"{scheme}, not {wanted.scheme} (and {enforced}); it is left alone: set "
            f"AWS_ENDPOINT_URL={scheme}://{env.LOOPBACK}:{wanted.port}"
            f"{' and unset AUTH' if wanted.auth else ''} to use it, stop it, or set "
            f"AWS_ENDPOINT_URL to another port (e.g. {wanted.scheme}://{env.LOOPBACK}:4577)"
        )
    return (
        f"Port {wanted.port} is taken but {health_url()} does not answer; stop whatever "
        "listens there or set AWS_ENDPOINT_URL to another port"
    )


def _launch(mode: env.Mode) -> bool:
    python = ensure_venv()
    env.state_dir(mode.port).mkdir(parents=True, exist_ok=True)
    certificate = _certificate(python, mode.port) if mode.scheme == "https" else None
    env.trust_emulator_certificate()  # this process's clients and the CDK CLI
    log = log_file(mode.port)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            [str(python), "-m", "ministack"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=_emulator_environment(mode, certificate), cwd=env.state_dir(mode.port),
            start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EmulatorError(
                f"MiniStack exited with code {process.returncode}; see {_relative(log)}"
            )
        found = health()
        if found is not None:
            if enforces_iam(found) != mode.auth:
                os.killpg(process.pid, signal.SIGKILL)
                raise EmulatorError(
                    f"MiniStack answered without the IAM enforcement asked for: {mode.describe()}"
                )
            # Only a healthy emulator is recorded, so `stop` never targets a failed start.
            pid_file(mode.port).write_text(str(process.pid))
            mode.write()
            print(f"MiniStack is up at {mode.describe()} (logs: {_relative(log)})")
            return True
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    raise EmulatorError(f"MiniStack did not become healthy in {HEALTH_TIMEOUT_S:.0f} s")


def stop(port: int | None = None) -> bool:
    """Stop the emulator this project started on `port` (default: the endpoint's) and its
    Lambda workers; True if one was running."""
    port = port or env.endpoint_port()
    recorded = pid_file(port)
    env.mode_file(port).unlink(missing_ok=True)
    if LEGACY_PID_FILE.exists():
        # Written before one folder per port, by an emulator on any port: not ours to stop.
        print(f"{_relative(LEGACY_PID_FILE)} names an emulator an older version of this "
              f"project started (PID {LEGACY_PID_FILE.read_text().strip()}, port unknown): "
              "stop it yourself if it is yours, then delete that file.")  # fmt: skip
    if not recorded.exists():
        return False
    pid = int(recorded.read_text())
    recorded.unlink()
    return _stop_group(pid)


def _stop_group(pid: int) -> bool:
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
