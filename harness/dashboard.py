"""Serve the dashboard (`web/`) on loopback, as CloudFront serves it on AWS.

`inventory up` starts it on the emulator's port + 1000 (5566 by default) and `inventory down`
stops it. It serves the files of `web/`, and `/config.json` made from the deployed stack's
outputs, with the security headers of `infra/web_headers.py` on every response; nothing
outside `web/`, and no directory listings. Like the emulator, it runs detached: its PID, its
config and its log are kept in `.emulator/<dashboard port>/`.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from harness import env
from infra.web_headers import security_headers

WEB_DIR = env.ROOT / "web"
PORT_OFFSET = 1000  # the dashboard listens on the emulator's port + 1000
CONFIG_KEYS = ("region", "userPoolId", "clientId", "apiUrl", "cognitoEndpoint")
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
}


class DashboardError(RuntimeError):
    """The dashboard could not be started; the message says what to do."""


def dashboard_port(emulator_port: int) -> int:
    """The port the dashboard of the emulator on `emulator_port` listens on."""
    return emulator_port + PORT_OFFSET


def url(port: int) -> str:
    """The dashboard's address when it listens on `port`."""
    return f"http://{env.LOOPBACK}:{port}/"


def check_config(config: Mapping[str, Any]) -> dict[str, str]:
    """The page's settings, exactly CONFIG_KEYS, each a non-empty string (apiUrl unslashed)."""
    missing = [
        key for key in CONFIG_KEYS if not isinstance(config.get(key), str) or not config[key]
    ]
    if missing:
        raise DashboardError(f"the dashboard config lacks {', '.join(missing)}")
    found = {key: str(config[key]) for key in CONFIG_KEYS}
    found["apiUrl"] = found["apiUrl"].rstrip("/")
    return found


def origin(address: str) -> str:
    """`scheme://host[:port]` of a URL: what a CSP's connect-src names."""
    parts = urlsplit(address)
    return f"{parts.scheme}://{parts.netloc}"


# --- the server ------------------------------------------------------------------------------


class DashboardServer(ThreadingHTTPServer):
    """Serves `web_dir` and the generated config.json, with the same headers on every answer."""

    daemon_threads = True

    def __init__(self, port: int, config: Mapping[str, Any], web_dir: Path = WEB_DIR) -> None:
        self.config = check_config(config)
        self.config_body = (json.dumps(self.config, indent=2) + "\n").encode()
        self.web_dir = web_dir.resolve()
        connect_to = dict.fromkeys(
            origin(self.config[key]) for key in ("apiUrl", "cognitoEndpoint")
        )
        self.response_headers = security_headers(connect_to=list(connect_to))
        super().__init__((env.LOOPBACK, port), DashboardHandler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class DashboardHandler(BaseHTTPRequestHandler):
    server: DashboardServer
    server_version = "inventory-dashboard"
    sys_version = ""  # no Python version in the Server header

    def end_headers(self) -> None:
        # Every answer, errors included (send_error comes through here too).
        for name, value in self.server.response_headers.items():
            self.send_header(name, value)
        super().end_headers()

    def do_GET(self) -> None:
        self._serve(with_body=True)

    def do_HEAD(self) -> None:
        self._serve(with_body=False)

    def _refuse(self) -> None:
        self.send_response(HTTPStatus.METHOD_NOT_ALLOWED)
        self.send_header("Allow", "GET, HEAD")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse

    def _serve(self, *, with_body: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        if path == "/config.json":
            self._send(self.server.config_body, CONTENT_TYPES[".json"], "no-store", with_body)
            return
        found = self._file(path)
        if found is None:
            body = b"Not found\n"
            self._send(body, CONTENT_TYPES[".txt"], "no-store", with_body, HTTPStatus.NOT_FOUND)
            return
        content_type = CONTENT_TYPES.get(found.suffix, "application/octet-stream")
        self._send(found.read_bytes(), content_type, "no-cache", with_body)

    def _file(self, path: str) -> Path | None:
        """The file of `web/` a path names, or None: nothing outside it, hidden or a folder."""
        if path == "/":
            path = "/index.html"
        parts = path.split("/")[1:]
        if not path.startswith("/") or any(
            not part or part.startswith(".") or "\\" in part or "\0" in part for part in parts
        ):
            return None
        candidate = self.server.web_dir.joinpath(*parts).resolve()
        if not candidate.is_relative_to(self.server.web_dir) or not candidate.is_file():
            return None
        return candidate

    def _send(
        self,
        body: bytes,
        content_type: str,
        cache: str,
        with_body: bool,
        status: HTTPStatus = HTTPStatus.OK,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", cache)
        self.end_headers()
        if with_body:
            self.wfile.write(body)


# --- the background process ------------------------------------------------------------------


def pid_file(port: int) -> Path:
    return env.state_dir(port) / "dashboard.pid"


def config_file(port: int) -> Path:
    return env.state_dir(port) / "dashboard-config.json"


def log_file(port: int) -> Path:
    return env.state_dir(port) / "logs" / "dashboard.log"


def _pid(port: int) -> int | None:
    """The PID of the dashboard this project started on `port`, if it still runs."""
    try:
        pid = int(pid_file(port).read_text())
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    # A PID is reused after its process ends: make sure it is still ours.
    return pid if b"harness.dashboard" in command else None


def running(port: int) -> bool:
    """Whether a dashboard server this project started runs on `port`."""
    return _pid(port) is not None


def _answers(port: int, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url(port) + "config.json", timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, http.client.HTTPException):
        return False


def start(port: int, config: Mapping[str, Any]) -> str:
    """Serve the dashboard on `port` in a detached process; its URL.

    One that already runs there with the same config is kept; with another config it is
    restarted.
    """
    wanted = check_config(config)
    saved = config_file(port)
    if _pid(port) is not None:
        with contextlib.suppress(OSError, ValueError):
            if json.loads(saved.read_text()) == wanted and _answers(port):
                return url(port)
        stop(port)
    log = log_file(port)
    log.parent.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(wanted, indent=2) + "\n")
    command = [sys.executable, "-m", "harness.dashboard", "--port", str(port)]
    with log.open("ab") as out:
        process = subprocess.Popen(
            [*command, "--config", str(saved)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=env.ROOT, start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DashboardError(
                f"the dashboard server exited with code {process.returncode} (is port {port} "
                f"taken?); see {log}"
            )
        if _answers(port, timeout=0.5):
            pid_file(port).write_text(str(process.pid))
            return url(port)
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    raise DashboardError(f"the dashboard server did not answer within {START_TIMEOUT_S:.0f} s")


def stop(port: int) -> bool:
    """Stop the dashboard this project started on `port`; True if one was running."""
    pid = _pid(port)
    pid_file(port).unlink(missing_ok=True)
    if pid is None:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap it if it is our own child
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    return True


# --- the command -----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """`python -m harness.dashboard --port P --config FILE`: serve until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m harness.dashboard",
        description="Serve the inventory dashboard (web/) and its config.json on 127.0.0.1, "
        "with the security headers of infra/web_headers.py. `inventory up` runs it for you.",
        epilog="example: python -m harness.dashboard --port 5566 --config config.json",
    )
    parser.add_argument(
        "--port", type=int, default=dashboard_port(env.DEFAULT_PORT),
        help="the port to listen on (default: %(default)s, the emulator's port + 1000)",
    )  # fmt: skip
    parser.add_argument(
        "--config", type=Path, required=True, metavar="FILE",
        help=f"a JSON file with the page's settings: {', '.join(CONFIG_KEYS)}",
    )  # fmt: skip
    args = parser.parse_args(argv)
    try:
        server = DashboardServer(args.port, json.loads(args.config.read_text()))
    except (OSError, ValueError, DashboardError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"Serving the dashboard at {url(server.port)}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with server, contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
