"""Start, stop and check the embedded MiniStack emulator, with no Docker.

MiniStack runs Python Lambdas as subprocesses of its own interpreter, so it gets a virtualenv
of its own (`.emulator/venv`) built on the same Python as the functions' declared runtime, and
holding only what the AWS runtime provides (boto3). A function therefore works locally only
if its asset carries its dependencies, exactly as on AWS.

Its state is kept across restarts unless `PERSIST_STATE=0`: MiniStack saves every service to
`.emulator/<port>/state/` when it is stopped gracefully (SIGTERM) and loads it at the next
start, and writes S3 objects there as they arrive. `stop` stops it gracefully; `InFlightCheck`
and `settle` say what is still in flight before that (uploads with no receipt, NoStock alerts
not sent), and `finish` delivers what was left in flight again after the restart
(docs/deploying.md, "Restarts").
"""

from __future__ import annotations

import contextlib
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
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from botocore.exceptions import BotoCoreError, ClientError

from harness import env

if TYPE_CHECKING:
    from infra.outputs import StackOutputs
    from inventory.stock import NoStockAlert

ROOT = env.ROOT
STATE_DIR = env.STATE_DIR  # the venv, and one folder per port: .emulator/<port>/
VENV = STATE_DIR / "venv"
LEGACY_PID_FILE = STATE_DIR / "ministack.pid"  # before one folder per port
RUNTIME_PYTHON = "3.13"  # must match infra.functions.RUNTIME
# The emulator's interpreter holds what the Lambda runtime provides, at MiniStack's pins.
# cryptography: MiniStack signs Cognito tokens (RS256) and its JWT authorizer verifies them
# only when it is installed; without it every token gets a 401.
EMULATOR_PACKAGES = [
    "ministack==1.5.33", "boto3==1.43.106", "botocore==1.43.106",
    "cryptography==50.0.2", "cffi==2.1.1", "pycparser==3.12",
]  # fmt: skip
HEALTH_TIMEOUT_S = 60.0
PERSIST_VARIABLE = "PERSIST_STATE"  # MiniStack's own switch; on here unless set to 0
_OFF = {"0", "false", "no", "off"}
# MiniStack saves its state while it shuts down; only a process that has not exited this long
# after SIGTERM is killed (and then its state is not saved).
STOP_TIMEOUT_S = 120.0


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


# --- state kept across restarts --------------------------------------------------------------


def persisting(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether an emulator started now keeps its state across restarts: yes unless
    `PERSIST_STATE` is 0 (or false, no, off)."""
    return environ.get(PERSIST_VARIABLE, "1").strip().lower() not in _OFF


def saved_state_dir(port: int) -> Path:
    """`.emulator/<port>/state/`: MiniStack's saved services (STATE_DIR) and S3 objects."""
    return env.state_dir(port) / "state"


def _state_folder(port: int, persist: bool) -> Path:
    """MiniStack's STATE_DIR: the kept state, or a scratch folder for an emulator that keeps
    nothing (so that it never touches the kept state)."""
    return saved_state_dir(port) if persist else env.state_dir(port) / "scratch"


def s3_data_dir(port: int) -> Path:
    """Where MiniStack writes each S3 object as it arrives (S3_DATA_DIR)."""
    return saved_state_dir(port) / "s3"


def persistence_record(port: int) -> Path:
    """Says whether the emulator this project started on `port` keeps its state."""
    return env.state_dir(port) / "persistence.json"


def unfinished_file(port: int) -> Path:
    """What was still in flight when the emulator on `port` stopped, for `finish`."""
    return env.state_dir(port) / "unfinished.json"


def keeps_state(port: int) -> bool | None:
    """Whether the emulator this project started on `port` keeps its state; None if unknown
    (no record: not started by this project, or by a version that did not say)."""
    try:
        return bool(json.loads(persistence_record(port).read_text())["persist"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _zero(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _zero(v) for k, v in value.items()}
    return 0 if isinstance(value, int) else value


def restart_stream_positions(folder: Path) -> int:
    """Point every saved DynamoDB stream read position back at 0; the number changed.

    MiniStack saves each event source mapping's read position in a table's stream (an
    absolute record count, in `lambda.json`) but not the stream's records: after a restart the
    stream starts again, empty, at position 0, while the mapping would wait at its old
    position and skip that many new records (Check-Stock would miss the first changes after
    every restart). The records before the restart are gone either way.
    """
    path = folder / "lambda.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return 0
    payload = data.get("payload", data) if isinstance(data, dict) else None
    positions = payload.get("dynamodb_stream_positions") if isinstance(payload, dict) else None
    if isinstance(positions, dict) and isinstance(positions.get("data"), dict):
        positions = positions["data"]  # an account- (and region-) scoped dict, as saved
    if not isinstance(positions, dict):
        return 0
    moved = [key for key, value in positions.items() if _zero(value) != value]
    if not moved:
        return 0
    for key in moved:
        positions[key] = _zero(positions[key])
    partial = path.with_suffix(".json.harness-tmp")
    partial.write_text(json.dumps(data))
    partial.replace(path)
    return len(moved)


def forget(port: int) -> list[Path]:
    """Delete the state kept for `port` (and what was left in flight there); what was deleted."""
    removed = []
    for path in (saved_state_dir(port), unfinished_file(port)):
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        else:
            continue
        removed.append(path)
    return removed


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


def _emulator_environment(
    mode: env.Mode, certificate: env.Certificate | None, *, persist: bool
) -> dict[str, str]:
    folder = _state_folder(mode.port, persist)
    environ = {
        k: v
        for k, v in os.environ.items()
        # LOCALSTACK_PERSISTENCE=1 would turn S3_PERSIST on behind PERSIST_STATE=0's back.
        if k not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "LOCALSTACK_PERSISTENCE"}
    }
    environ.update(
        GATEWAY_PORT=str(mode.port),
        BIND_HOST=env.LOOPBACK,  # loopback only
        MINISTACK_HOST=env.LOOPBACK,
        LAMBDA_EXECUTOR="local",
        LOG_LEVEL=os.environ.get("MINISTACK_LOG_LEVEL", "INFO"),
        AUTH="true" if mode.auth else "false",
        USE_SSL="1" if certificate else "0",
        # Saved on a graceful stop and loaded at start (S3 objects: written as they arrive).
        PERSIST_STATE="1" if persist else "0",
        S3_PERSIST="1" if persist else "0",
        # Per port even when nothing is kept: MiniStack's defaults (/tmp/ministack-state,
        # /tmp/ministack-data/s3) would be shared by every emulator on the machine. An
        # emulator that keeps nothing gets a scratch folder, so the saved state is untouched.
        STATE_DIR=str(folder),
        S3_DATA_DIR=str(folder / "s3"),
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
    persist = persisting()
    kept = saved_state_dir(mode.port)
    if persist:
        restart_stream_positions(kept)
    log = log_file(mode.port)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            [str(python), "-m", "ministack"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=_emulator_environment(mode, certificate, persist=persist),
            cwd=env.state_dir(mode.port), start_new_session=True,
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
            record = {"persist": persist, "state_dir": str(_state_folder(mode.port, persist))}
            persistence_record(mode.port).write_text(json.dumps(record) + "\n")
            print(f"MiniStack is up at {mode.describe()} (logs: {_relative(log)})")
            print(
                f"Its state is kept in {_relative(kept)}/ (saved when `inventory down` stops it)"
                if persist
                else f"Its state is not kept ({PERSIST_VARIABLE}=0): a restart starts empty"
            )
            return True
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    raise EmulatorError(f"MiniStack did not become healthy in {HEALTH_TIMEOUT_S:.0f} s")


def running(port: int | None = None) -> bool:
    """Whether an emulator this project started on `port` (default: the endpoint's) runs."""
    try:
        pid = int(pid_file(port).read_text())
    except (OSError, ValueError):
        return False
    return not _exited(pid)


def stop(port: int | None = None, *, timeout_s: float = STOP_TIMEOUT_S) -> bool:
    """Stop the emulator this project started on `port` (default: the endpoint's) and its
    Lambda workers, gracefully so that it saves its state; True if one was running.

    SIGTERM, then a wait for it to exit (MiniStack saves its state on the way out); only past
    `timeout_s` is it killed, with a warning that its state was not saved.
    """
    port = port or env.endpoint_port()
    recorded = pid_file(port)
    saving = bool(keeps_state(port))
    env.mode_file(port).unlink(missing_ok=True)
    persistence_record(port).unlink(missing_ok=True)
    if LEGACY_PID_FILE.exists():
        # Written before one folder per port, by an emulator on any port: not ours to stop.
        print(f"{_relative(LEGACY_PID_FILE)} names an emulator an older version of this "
              f"project started (PID {LEGACY_PID_FILE.read_text().strip()}, port unknown): "
              "stop it yourself if it is yours, then delete that file.")  # fmt: skip
    if not recorded.exists():
        return False
    pid = int(recorded.read_text())
    recorded.unlink()
    log = log_file(port)
    start = log.stat().st_size if log.exists() else 0
    stopped = _stop_group(pid, timeout_s, saving=saving, port=port)
    if stopped and saving:
        _check_saved(log, start, port)
    return stopped


def _exited(pid: int) -> bool:
    """Whether the process is gone (reaped, or a zombie waiting for its parent)."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return True  # our own child, reaped now
    except ChildProcessError:
        pass  # not our child
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def _wait(gone: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not gone():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def _group_gone(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _stop_group(pid: int, timeout_s: float, *, saving: bool = False, port: int = 0) -> bool:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    if not _wait(lambda: _exited(pid), timeout_s):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        if saving:
            objects = _relative(s3_data_dir(port))
            print(
                f"WARNING: MiniStack did not exit within {timeout_s:.0f} s of SIGTERM and was "
                "killed: its state was NOT saved. The next start loads the state of its last "
                f"graceful stop; S3 objects written since (kept in {objects}/) come back "
                "without their rows and receipts, and `inventory up` re-delivers them. "
                "`inventory down --forget` starts from nothing instead.",
                file=sys.stderr,
            )
        return True
    # MiniStack has exited (its state saved): its Lambda workers got the same SIGTERM.
    if not _wait(lambda: _group_gone(pid), 5.0):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    return True


def _check_saved(log: Path, start: int, port: int) -> None:
    """Warn when MiniStack's log says a service's state could not be saved."""
    try:
        with log.open("rb") as handle:
            handle.seek(start)
            written = handle.read().decode(errors="replace")
    except OSError:
        return
    failed = [
        line.strip()
        for line in written.splitlines()
        if "Persistence: failed" in line or "Persistence: error" in line
    ]
    if failed:
        shown = "\n  ".join(failed[:10])
        print(
            f"WARNING: MiniStack could not save part of its state (in {_relative(log)}):\n"
            f"  {shown}\nThose services start empty next time, or from an older save.",
            file=sys.stderr,
        )


# --- what is in flight when the emulator stops -------------------------------------------------
#
# MiniStack saves its services when it stops, but not what is running inside it: an S3
# notification being delivered, an asynchronous invocation and its retries, and the table's
# stream (so Check-Stock's records not yet processed). Before a stop, `settle` waits until no
# upload lacks its receipt and every NoStock alert due in the stream is recorded as sent in
# AlertsSent; what is still in flight is saved, and `finish` delivers it again after the
# restart.

# An upload older than this with no receipt is not in flight any more: it is not looked at.
RECENT_S = 3600.0
SETTLE_POLL_S = 0.5
MAX_STREAM_RECORDS = 300_000  # a longer stream is not checked
ALERTS_SENT_KEYS_PER_CALL = 100  # BatchGetItem's limit
RECEIPT_QUERIES_AT_ONCE = 8


@dataclass(frozen=True)
class Upload:
    """An object in the upload bucket with no receipt for its current version."""

    key: str
    size: int
    etag: str
    last_modified: str  # ISO 8601, UTC


@dataclass
class InFlight:
    """What is still in flight: uploads with no receipt, and stream records (as Lambda gives
    them to Check-Stock) whose NoStock alert is not recorded as sent."""

    uploads: list[Upload] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what could not be checked, and why
    check_stock_failing: bool = False  # its event source's last batch failed

    def __bool__(self) -> bool:
        return bool(self.uploads or self.alerts)

    def summary(self) -> str:
        return (
            f"{len(self.uploads)} upload(s) with no receipt, "
            f"{len(self.alerts)} NoStock alert(s) not sent"
        )

    def merge(self, newer: InFlight) -> InFlight:
        """This and what was found after it (which wins for the same key or record)."""
        uploads = {u.key: u for u in [*self.uploads, *newer.uploads]}
        alerts = {_sequence(r): r for r in [*self.alerts, *newer.alerts]}
        return InFlight(
            uploads=list(uploads.values()),
            alerts=sorted(alerts.values(), key=_sequence),
            notes=[*self.notes, *newer.notes],
        )

    def save(self, path: Path) -> None:
        data = {"uploads": [asdict(u) for u in self.uploads], "alerts": self.alerts}
        path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")

    @classmethod
    def load(cls, path: Path) -> InFlight | None:
        try:
            data = json.loads(path.read_text())
            uploads = [Upload(**u) for u in data.get("uploads", [])]
            alerts = [r for r in data.get("alerts", []) if isinstance(r, dict)]
        except (OSError, ValueError, TypeError, AttributeError):
            return None
        return cls(uploads=uploads, alerts=alerts)


def _sequence(record: Mapping[str, Any]) -> str:
    return str(record.get("dynamodb", {}).get("SequenceNumber", "")).rjust(40, "0")


def describe_alert(record: Mapping[str, Any]) -> str:
    """`item at store (from key)` for a stream record whose alert is due."""
    from inventory import config

    image = record.get("dynamodb", {}).get("NewImage", {})

    def text(name: str) -> str:
        value = image.get(name, {})
        return str(value.get("S", "?")) if isinstance(value, dict) else "?"

    return (
        f"{text(config.ATTR_ITEM)} at {text(config.ATTR_STORE)} "
        f"(from {text(config.ATTR_SOURCE_KEY)})"
    )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_time(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class _Unchecked(Exception):
    """Part of the check cannot be made; the message says why."""


# What a call to the emulator may raise: it answered with an error, or not at all.
_CLIENT_ERRORS = (BotoCoreError, ClientError, OSError)


class Uploads:
    """Finds the uploads of one deployed stack that have no receipt yet.

    An upload lacks its receipt when its object has no receipt for that version (same ETag,
    event time not older than the object) and is not in LoadInventoryFailures (dead letters
    are kept in their queue: `inventory redrive`). Objects found with a receipt are not
    queried again.
    """

    def __init__(self, outputs: StackOutputs) -> None:
        from harness.observe import Observer

        self.outputs = outputs
        self.observer = Observer(outputs)
        self._loaded: set[Upload] = set()

    def without_receipt(self, since: datetime | None) -> list[Upload]:
        """The objects modified since then (None: all) that have no receipt."""
        pages = env.client("s3").get_paginator("list_objects_v2")
        candidates: list[tuple[Upload, datetime]] = []
        for page in pages.paginate(Bucket=self.outputs.bucket_name):
            for found in page.get("Contents", []):
                modified: datetime = found["LastModified"]
                if since is not None and modified < since:
                    continue
                upload = Upload(
                    found["Key"], int(found["Size"]), found["ETag"].strip('"'), _iso(modified)
                )
                if upload not in self._loaded:
                    candidates.append((upload, modified))
        with ThreadPoolExecutor(RECEIPT_QUERIES_AT_ONCE) as pool:
            loaded = list(pool.map(lambda c: self.has_receipt(*c), candidates))
        pending = []
        for (upload, _), done in zip(candidates, loaded, strict=True):
            if done:
                self._loaded.add(upload)
            else:
                pending.append(upload)
        if pending:
            dead = self.observer.dead_lettered_keys()
            pending = [u for u in pending if u.key not in dead]
        return pending

    def has_receipt(self, upload: Upload, modified: datetime | None = None) -> bool:
        """Whether Load-Inventory recorded a receipt for this version of the object."""
        modified = modified or _parse_time(upload.last_modified)
        # S3 may give LastModified to the second; the event comes after the PUT.
        earliest = modified.replace(microsecond=0) - timedelta(seconds=1) if modified else None
        for receipt in self.observer.receipts(upload.key):
            if receipt.etag.strip('"') != upload.etag:
                continue
            event_time = _parse_time(receipt.event_time) if receipt.event_time else None
            if event_time is None or earliest is None or event_time >= earliest:
                return True
        return False


class InFlightCheck:
    """Finds what is in flight in one deployed stack; `check` again to see it drain.

    - An upload is in flight when its object, modified in the last hour, has no receipt
      (`Uploads`).
    - A NoStock alert is in flight when a record of the table's stream makes it due (the
      stock rule) and AlertsSent does not hold it as sent, under the key Check-Stock itself
      uses. The stream is read once from its start, then only what is new.
    """

    def __init__(self, outputs: StackOutputs) -> None:
        self.uploads = Uploads(outputs)
        self.notes: list[str] = []
        self._alerts: _AlertTail | None = None
        try:
            self._alerts = _AlertTail(outputs)
        except (_Unchecked, *_CLIENT_ERRORS) as exc:
            self.notes.append(f"NoStock alerts were not checked: {exc}")

    def check(self) -> InFlight:
        found = InFlight(notes=list(self.notes))
        try:
            since = datetime.now(UTC) - timedelta(seconds=RECENT_S)
            found.uploads = self.uploads.without_receipt(since)
        except _CLIENT_ERRORS as exc:
            found.notes.append(f"uploads could not be checked: {exc}")
        if self._alerts is not None:
            try:
                found.alerts, found.check_stock_failing = self._alerts.pending()
            except (_Unchecked, *_CLIENT_ERRORS) as exc:
                self.notes.append(f"NoStock alerts were not checked: {exc}")
                found.notes.append(self.notes[-1])
                self._alerts = None
        return found


def alert_key_function(function_name: str) -> Callable[[NoStockAlert, str], str]:
    """The AlertsSent key under which Check-Stock (deployed as `function_name`) records the
    alert for a change: powertools' own key for `AlertSender._publish`, computed by powertools."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    from check_stock.sending import AlertSender, idempotency_config, transition

    unused: Any = object()  # only keys are computed: no client is called
    layer = DynamoDBPersistenceLayer(table_name="AlertsSent", boto3_client=unused)
    publish = AlertSender._publish
    # At run time powertools prefixes the key with $AWS_LAMBDA_FUNCTION_NAME and the method.
    prefix = f"{function_name}.{publish.__module__}.{publish.__qualname__}"
    layer.configure(idempotency_config(int(RECENT_S)), key_prefix=prefix)

    def key(alert: NoStockAlert, change: str) -> str:
        return str(layer._get_hashed_idempotency_key(transition(alert, change)))

    return key


class _AlertTail:
    """Check-Stock's stream, read from its start and then as it grows, and the records in it
    whose NoStock alert is due but not recorded as sent."""

    def __init__(self, outputs: StackOutputs) -> None:
        from inventory import config

        lambda_ = env.client("lambda")
        self.function = outputs.check_stock_function_name
        mappings = lambda_.list_event_source_mappings(FunctionName=self.function)
        streams = [
            m for m in mappings.get("EventSourceMappings", [])
            if ":dynamodb:" in m.get("EventSourceArn", "")
        ]  # fmt: skip
        if not streams:
            raise _Unchecked(f"{self.function} reads no DynamoDB stream")
        self.mapping_id: str = streams[0]["UUID"]
        self.stream_arn: str = streams[0]["EventSourceArn"]
        variables = (
            lambda_.get_function_configuration(FunctionName=self.function)
            .get("Environment", {})
            .get("Variables", {})
        )
        table = variables.get(config.ENV_ALERTS_SENT_TABLE_NAME)
        if not table:
            raise _Unchecked(f"{self.function} records no alerts sent (no AlertsSent table)")
        self.table: str = table
        self._key = alert_key_function(self.function)
        self._iterators: dict[str, str | None] = {}
        self._pending: dict[str, dict[str, Any]] = {}  # AlertsSent key -> stream record
        self._records = 0
        streams_client = env.client("dynamodbstreams")
        shards = streams_client.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]
        for shard in shards.get("Shards", []):
            self._iterators[shard["ShardId"]] = streams_client.get_shard_iterator(
                StreamArn=self.stream_arn,
                ShardId=shard["ShardId"],
                ShardIteratorType="TRIM_HORIZON",
            )["ShardIterator"]

    def pending(self) -> tuple[list[dict[str, Any]], bool]:
        """The records whose alert is not sent yet (stream order), and whether Check-Stock's
        event source says its last batch failed."""
        self._read()
        self._drop_sent()
        mapping = env.client("lambda").get_event_source_mapping(UUID=self.mapping_id)
        failing = mapping.get("LastProcessingResult") == "FAILED"
        return sorted(self._pending.values(), key=_sequence), failing

    def _read(self) -> None:
        from harness.redrive import lambda_record

        streams = env.client("dynamodbstreams")
        for shard, iterator in list(self._iterators.items()):
            while iterator is not None:
                page = streams.get_records(ShardIterator=iterator, Limit=1000)
                records = page.get("Records", [])
                self._records += len(records)
                if self._records > MAX_STREAM_RECORDS:
                    raise _Unchecked(f"the stream holds more than {MAX_STREAM_RECORDS:,} records")
                for record in records:
                    self._add(lambda_record(record, self.stream_arn))
                iterator = page.get("NextShardIterator")
                self._iterators[shard] = iterator
                if not records:
                    break  # the end of an open shard, for now

    def _add(self, record: dict[str, Any]) -> None:
        from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
            DynamoDBRecord,
        )

        from check_stock.alerts import alert_from_record, change_id
        from inventory import config

        new = record.get("dynamodb", {}).get("NewImage") or {}
        if new.get(config.ATTR_COUNT, {}).get("N") not in {"0", "0.0", "-0"}:
            return  # cheap: only a count of 0 can call for an alert
        change = DynamoDBRecord(record)
        alert = alert_from_record(change)
        if alert is not None:
            self._pending[self._key(alert, change_id(change))] = record

    def _drop_sent(self) -> None:
        ddb = env.client("dynamodb")
        keys = list(self._pending)
        for start in range(0, len(keys), ALERTS_SENT_KEYS_PER_CALL):
            wanted: dict[str, Any] = {
                self.table: {
                    "Keys": [
                        {"id": {"S": k}} for k in keys[start : start + ALERTS_SENT_KEYS_PER_CALL]
                    ],
                    "ConsistentRead": True,
                    "ProjectionExpression": "id, #s",
                    "ExpressionAttributeNames": {"#s": "status"},
                }
            }
            while wanted:
                answer = ddb.batch_get_item(RequestItems=wanted)
                for item in answer.get("Responses", {}).get(self.table, []):
                    if item.get("status", {}).get("S") == "COMPLETED":
                        self._pending.pop(item["id"]["S"], None)
                wanted = answer.get("UnprocessedKeys") or {}


def settle(
    outputs: StackOutputs,
    timeout_s: float,
    on_progress: Callable[[InFlight, float], None] | None = None,
) -> InFlight:
    """Check what is in flight until nothing is, or `timeout_s` has passed; what still is.

    `on_progress` is told each check and the seconds left.
    """
    check = InFlightCheck(outputs)
    deadline = time.monotonic() + max(0.0, timeout_s)
    while True:
        found = check.check()
        left = deadline - time.monotonic()
        if on_progress is not None:
            on_progress(found, max(0.0, left))
        if not found or left <= 0:
            return found
        time.sleep(min(SETTLE_POLL_S, left))


def check_stock_failures(outputs: StackOutputs) -> int:
    """Messages in CheckStockFailures (they name stream records, which a restart discards)."""
    try:
        return int(
            env.client("sqs").get_queue_attributes(
                QueueUrl=outputs.check_stock_failures_queue_url,
                AttributeNames=["ApproximateNumberOfMessages"],
            )["Attributes"]["ApproximateNumberOfMessages"]
        )
    except _CLIENT_ERRORS:
        return 0


# --- after the restart: deliver again what was in flight --------------------------------------


def redelivery_event(upload: Upload, bucket: str) -> dict[str, Any]:
    """An S3 ObjectCreated:Put event for the upload, as S3 (MiniStack) would send it now.

    The event time is the object's; the sequencer is new (MiniStack's form: microseconds,
    18 hex digits), later than the lost event's, so the loader records a receipt of its own.
    """
    from harness.faults import s3_event
    from inventory.receipts import Receipt

    sequencer = f"{time.time_ns() // 1000:018X}"
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    shape = Receipt(
        object_key=upload.key, receipt_id=sequencer, status="", rows_written=0,
        rows_rejected=0, bucket=bucket, size=upload.size, etag=upload.etag,
        event_time=upload.last_modified,
    )  # fmt: skip
    return s3_event(shape, bucket, region or env.DEFAULT_REGION)


@dataclass
class Finished:
    """What `finish` delivered again, and what still failed (kept for the next `finish`)."""

    uploads: list[str] = field(default_factory=list)  # re-delivered to Load-Inventory
    loaded_meanwhile: list[str] = field(default_factory=list)  # had their receipt after all
    records: int = 0  # stream records given to Check-Stock
    alerts_sent: int = 0  # of their alerts, sent now
    alerts_repeated: int = 0  # already sent before (AlertsSent)
    failing: list[tuple[str, str]] = field(default_factory=list)  # (what, why)

    def __bool__(self) -> bool:
        return bool(self.uploads or self.loaded_meanwhile or self.records or self.failing)


IN_PROGRESS = "IdempotencyAlreadyInProgressError"  # powertools, inside Check-Stock
IN_PROGRESS_POLL_S = 2.0


def _timeout_s(lambda_: Any, function: str) -> float:
    try:
        return float(lambda_.get_function_configuration(FunctionName=function)["Timeout"])
    except (*_CLIENT_ERRORS, KeyError, TypeError, ValueError):
        return 30.0


def _invoke_patiently(targets: Any, records: list[Any], patience: float) -> Any:
    """Give Check-Stock the records; while it refuses an alert still "in progress", until
    `patience` (a monotonic time), try again."""
    from harness.redrive import InvocationFailed, invoke

    while True:
        try:
            return invoke(targets.lambda_, targets.check_stock_function, {"Records": records})
        except InvocationFailed as exc:
            if IN_PROGRESS not in str(exc) or time.monotonic() >= patience:
                raise
        time.sleep(IN_PROGRESS_POLL_S)


def saved_at(port: int) -> datetime | None:
    """When the emulator on `port` last saved its tables (a graceful stop); None if never."""
    try:
        return datetime.fromtimestamp(
            (saved_state_dir(port) / "dynamodb.json").stat().st_mtime, UTC
        )
    except OSError:
        return None


def finish(outputs: StackOutputs, port: int | None = None, *, scan: bool = False) -> Finished:
    """Deliver again what was in flight when the emulator on `port` last stopped.

    The uploads `inventory down` saved, and with `scan` (the emulator has just started from
    its saved state) every object with no receipt modified since an hour before that state
    was saved: after a stop that was not graceful, that is every upload since the last save
    (S3 keeps objects as they arrive; the tables are as last saved). Each upload still with
    no receipt is given to Load-Inventory, and the saved alerts' stream records to
    Check-Stock, synchronously. Both are safe to repeat: an upload with a receipt is not
    applied again, an alert is sent once. What fails stays saved for the next time.
    """
    from harness.redrive import InvocationFailed, Targets, chunks, invoke

    port = port or env.endpoint_port()
    path = unfinished_file(port)
    saved = InFlight.load(path) or InFlight()
    done = Finished()
    uploads = Uploads(outputs)
    todo = {u.key: u for u in saved.uploads}
    last_save = saved_at(port)
    if scan and last_save is not None:
        since = last_save - timedelta(seconds=RECENT_S)
        todo.update({u.key: u for u in uploads.without_receipt(since)})
    if not todo and not saved.alerts:
        path.unlink(missing_ok=True)
        return done
    targets = Targets.of(outputs)
    left = InFlight()
    errors = (InvocationFailed, *_CLIENT_ERRORS)
    for upload in todo.values():
        try:
            if uploads.has_receipt(upload):  # its load ended while the emulator stopped
                done.loaded_meanwhile.append(upload.key)
                continue
            event = redelivery_event(upload, outputs.bucket_name)
            invoke(targets.lambda_, targets.load_inventory_function, event)
            done.uploads.append(upload.key)
        except errors as exc:
            left.uploads.append(upload)
            done.failing.append((f"upload {upload.key}", str(exc)))
    # A send the stop interrupted left its AlertsSent record "in progress": Check-Stock refuses
    # the alert until that expires, at most its timeout after the send began.
    patience = time.monotonic() + _timeout_s(targets.lambda_, targets.check_stock_function) + 5
    for part in chunks(saved.alerts):
        try:
            answer = _invoke_patiently(targets, part, patience)
        except errors as exc:
            left.alerts += part
            first = describe_alert(part[0])
            done.failing.append((f"{len(part)} alert(s), the first for {first}", str(exc)))
            continue
        done.records += len(part)
        if isinstance(answer, dict):
            done.alerts_sent += int(answer.get("sent", 0))
            done.alerts_repeated += int(answer.get("repeated", 0))
    if left:
        left.save(path)
    else:
        path.unlink(missing_ok=True)
    return done


def keep_unfinished(found: InFlight, port: int) -> Path:
    """Save what is in flight for `finish`, added to what an earlier stop left."""
    path = unfinished_file(port)
    earlier = InFlight.load(path)
    (earlier.merge(found) if earlier else found).save(path)
    return path


def saved_unfinished(port: int) -> InFlight | None:
    return InFlight.load(unfinished_file(port))
