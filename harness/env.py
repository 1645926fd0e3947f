"""Where the AWS APIs are: AWS_ENDPOINT_URL if set, else the embedded emulator on loopback.

With `AUTH=true` the embedded emulator enforces IAM. Our buckets, queues and topic deny plain
http (TLS-only resource policies), so that emulator serves https with a certificate of its
own, which every client here is told to trust (AWS_CA_BUNDLE for boto3 and the CDK CLI,
NODE_EXTRA_CA_CERTS for Node; the functions get the same). How an emulator this project started
serves (scheme, enforcement) is recorded per port in `.emulator/<port>/`, beside its PID and
certificate, so a later command finds it without being told again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, MutableMapping
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3
from botocore.config import Config

ROOT = Path(__file__).resolve().parent.parent
STATE_DIR = ROOT / ".emulator"
LOOPBACK = "127.0.0.1"
DEFAULT_PORT = 4566
DEFAULT_ENDPOINT = f"http://{LOOPBACK}:{DEFAULT_PORT}"
DEFAULT_REGION = "us-east-1"
EMULATOR_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
AUTH_VARIABLE = "AUTH"  # MiniStack's own name for its IAM enforcement switch


def endpoint() -> str:
    """The emulator endpoint tooling talks to (only meaningful when not targeting AWS)."""
    return os.environ.get("AWS_ENDPOINT_URL", DEFAULT_ENDPOINT)


def endpoint_configured(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether AWS_ENDPOINT_URL names an endpoint (an emulator): not AWS itself."""
    return bool(environ.get("AWS_ENDPOINT_URL", "").strip())


def use_configured_target(environ: MutableMapping[str, str] = os.environ) -> str | None:
    """For the commands that go wherever the SDK is configured to go (deploy, smoke, destroy).

    With AWS_ENDPOINT_URL set, the emulator's defaults fill in what is missing around it
    (region, the `test` keys, its certificate); without it nothing is touched, and the SDK's
    own configuration (your profile or environment, your region: AWS_REGION counts, as for the
    CDK CLI) reaches AWS. Returns the endpoint, or None for AWS.
    """
    if not endpoint_configured(environ):
        # boto3 reads AWS_DEFAULT_REGION only; the CDK CLI (and most people) AWS_REGION too.
        if environ.get("AWS_REGION") and not environ.get("AWS_DEFAULT_REGION"):
            environ["AWS_DEFAULT_REGION"] = environ["AWS_REGION"]
        return None
    use_emulator_defaults(environ)
    return environ["AWS_ENDPOINT_URL"]


def endpoint_port(url: str | None = None) -> int:
    return urlparse(url or endpoint()).port or DEFAULT_PORT


def enforcing(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether IAM enforcement is asked for: `AUTH=true` (or 1, yes)."""
    return environ.get(AUTH_VARIABLE, "").strip().lower() in {"true", "1", "yes"}


# --- the emulators this project started, one folder per port --------------------------------


def state_dir(port: int) -> Path:
    """`.emulator/<port>/`: the PID, the mode, the log and the certificate of one emulator."""
    return STATE_DIR / str(port)


def pid_file(port: int) -> Path:
    return state_dir(port) / "ministack.pid"


def mode_file(port: int) -> Path:
    return state_dir(port) / "mode.json"


@dataclass(frozen=True)
class Certificate:
    """The TLS material of an https emulator: MiniStack's generator writes it, per port."""

    cert: Path  # the gateway's self-signed certificate
    key: Path
    ca_bundle: Path  # the system roots plus `cert`: AWS_CA_BUNDLE and NODE_EXTRA_CA_CERTS

    @classmethod
    def for_port(cls, port: int) -> Certificate:
        # MiniStack writes `<TMPDIR>/ministack-tls/`; the harness runs it with TMPDIR=state_dir.
        folder = state_dir(port) / "ministack-tls"
        return cls(folder / "server.crt", folder / "server.key", folder / "ca-bundle.pem")

    def exists(self) -> bool:
        return self.cert.exists() and self.key.exists() and self.ca_bundle.exists()


@dataclass(frozen=True)
class Mode:
    """How an emulator serves: its port, http or https, and whether it enforces IAM."""

    port: int
    scheme: str  # "http" or "https"
    auth: bool

    @property
    def endpoint(self) -> str:
        return f"{self.scheme}://{LOOPBACK}:{self.port}"

    def describe(self) -> str:
        return f"{self.endpoint} ({'IAM enforced' if self.auth else 'IAM not enforced'})"

    def write(self) -> None:
        mode_file(self.port).write_text(json.dumps(asdict(self)) + "\n")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recorded_mode(port: int) -> Mode | None:
    """The mode of the emulator this project started on `port`, if it is still running."""
    try:
        pid = int(pid_file(port).read_text())
        data: dict[str, Any] = json.loads(mode_file(port).read_text())
        mode = Mode(port=int(data["port"]), scheme=str(data["scheme"]), auth=bool(data["auth"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return mode if _alive(pid) else None


def wanted_mode(environ: Mapping[str, str] = os.environ) -> Mode:
    """What the environment asks for: the endpoint's port and scheme, and AUTH."""
    url = urlparse(environ.get("AWS_ENDPOINT_URL", DEFAULT_ENDPOINT))
    return Mode(port=url.port or DEFAULT_PORT, scheme=url.scheme, auth=enforcing(environ))


def _is_loopback(url: str) -> bool:
    return urlparse(url).hostname in {LOOPBACK, "localhost", "::1"}


def on_emulator(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the SDK is pointed at an emulator on this machine (AWS_ENDPOINT_URL on loopback)."""
    return _is_loopback(environ.get("AWS_ENDPOINT_URL", ""))


def trust_emulator_certificate(environ: MutableMapping[str, str] = os.environ) -> None:
    """Have boto3 and the CDK CLI trust the certificate of our https emulator at the endpoint.

    Only for an https endpoint on loopback whose certificate this project generated. It
    replaces AWS_CA_BUNDLE and NODE_EXTRA_CA_CERTS (often set to the system roots alone) with
    the bundle MiniStack wrote: those roots plus its certificate. Clients created before this
    call keep their old trust.
    """
    url = environ.get("AWS_ENDPOINT_URL", "")
    if urlparse(url).scheme != "https" or not _is_loopback(url):
        return
    certificate = Certificate.for_port(endpoint_port(url))
    if certificate.exists():
        environ["AWS_CA_BUNDLE"] = environ["NODE_EXTRA_CA_CERTS"] = str(certificate.ca_bundle)


def use_emulator_defaults(environ: MutableMapping[str, str] = os.environ) -> None:
    """Point the SDK and cdklocal at the emulator unless the user already chose an endpoint.

    The default endpoint is loopback port 4566: https under `AUTH=true`, or when the
    emulator this project started there serves https; http otherwise. Never used against
    AWS: `inventory deploy` without AWS_ENDPOINT_URL (`cdk deploy`) leaves the environment
    alone (`use_configured_target`).
    """
    if "AWS_ENDPOINT_URL" not in environ:
        recorded = recorded_mode(DEFAULT_PORT)
        https = enforcing(environ) or (recorded is not None and recorded.scheme == "https")
        scheme = "https" if https else "http"
        environ["AWS_ENDPOINT_URL"] = f"{scheme}://{LOOPBACK}:{DEFAULT_PORT}"
    url = environ["AWS_ENDPOINT_URL"]
    environ.setdefault("AWS_ENDPOINT_URL_S3", url)  # cdklocal refuses to run without it
    environ.setdefault("AWS_DEFAULT_REGION", DEFAULT_REGION)
    environ.setdefault("AWS_REGION", environ["AWS_DEFAULT_REGION"])
    for name, value in EMULATOR_CREDENTIALS.items():
        environ.setdefault(name, value)
    trust_emulator_certificate(environ)


@cache
def client(service: str) -> Any:
    """A boto3 client with SDK defaults (the endpoint comes from AWS_ENDPOINT_URL)."""
    return boto3.client(
        service, config=Config(retries={"mode": "standard"}, max_pool_connections=32)
    )
