"""The dashboard's local server: web/ and config.json, the same headers everywhere, nothing else.

Each test serves on an ephemeral loopback port, in this process (the background-process test
starts one with `python -m harness.dashboard`).
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness import dashboard, env
from infra.web_headers import security_headers

pytestmark = pytest.mark.unit

CONFIG = {
    "region": "us-east-1",
    "userPoolId": "us-east-1_abc",
    "clientId": "client123",
    "apiUrl": "http://127.0.0.1:4566/_aws/execute-api/abc123/$default/",
    "cognitoEndpoint": "http://127.0.0.1:4566/",
}
EXPECTED_HEADERS = security_headers(connect_to=["http://127.0.0.1:4566"])


@dataclass(frozen=True)
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


def request(port: int, path: str, method: str = "GET") -> Answer:
    """One request with `path` sent exactly as written (no client-side normalising)."""
    connection = http.client.HTTPConnection(env.LOOPBACK, port, timeout=5)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        connection.close()


@pytest.fixture
def web_dir(tmp_path: Path) -> Path:
    """A small web/ folder, a secret beside it, and a link that points out of it."""
    web = tmp_path / "web"
    (web / "sub").mkdir(parents=True)
    (web / "index.html").write_text("<!doctype html><title>t</title>")
    (web / "app.js").write_text("console.log(1);")
    (web / "sub" / "page.css").write_text("body{}")
    (web / ".hidden").write_text("hidden")
    (tmp_path / "secret.txt").write_text("secret")
    (web / "link.txt").symlink_to(tmp_path / "secret.txt")
    return web


@pytest.fixture
def served(web_dir: Path) -> Iterator[int]:
    """The server on an ephemeral port, in a thread; its port."""
    server = dashboard.DashboardServer(0, CONFIG, web_dir=web_dir)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield server.port
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    "path, status",
    [("/", 200), ("/config.json", 200), ("/app.js", 200), ("/nothing", 404), ("/../x", 404)],
)
def test_every_answer_carries_the_security_headers(served: int, path: str, status: int) -> None:
    answer = request(served, path)

    assert answer.status == status
    for name, value in EXPECTED_HEADERS.items():
        assert answer.headers[name] == value


def test_the_csp_lets_the_page_call_the_api_and_cognito_only() -> None:
    server = dashboard.DashboardServer(
        0, {**CONFIG, "cognitoEndpoint": "https://cognito-idp.us-east-1.amazonaws.com/"}
    )
    server.server_close()

    csp = server.response_headers["Content-Security-Policy"]
    cognito = "https://cognito-idp.us-east-1.amazonaws.com"
    assert f"connect-src 'self' http://127.0.0.1:4566 {cognito};" in csp


def test_config_json_is_generated_and_never_cached(served: int) -> None:
    answer = request(served, "/config.json")

    assert answer.headers["Content-Type"] == "application/json"
    assert answer.headers["Cache-Control"] == "no-store"
    assert json.loads(answer.body) == {
        **CONFIG,
        "apiUrl": "http://127.0.0.1:4566/_aws/execute-api/abc123/$default",
    }


def test_the_page_and_its_files_are_served_with_their_types(served: int) -> None:
    index = request(served, "/")
    script = request(served, "/app.js")
    style = request(served, "/sub/page.css")

    assert (index.status, index.headers["Content-Type"]) == (200, "text/html; charset=utf-8")
    assert index.body.startswith(b"<!doctype html>")
    assert script.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert style.body == b"body{}"


def test_head_answers_without_a_body(served: int) -> None:
    answer = request(served, "/app.js", method="HEAD")

    assert answer.status == 200
    assert answer.body == b""
    assert answer.headers["Content-Length"] == str(len("console.log(1);"))


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/sub/..%2f..%2fsecret.txt",
        "/sub/%2e%2e/%2e%2e/secret.txt",
        "/..\\secret.txt",
        "/link.txt",  # a symlink out of web/
        "/.hidden",
        "/%00index.html",
    ],
)
def test_nothing_outside_web_is_served(served: int, path: str) -> None:
    answer = request(served, path)

    assert answer.status == 404
    assert b"secret" not in answer.body


@pytest.mark.parametrize("path", ["/sub", "/sub/", "/missing.js", "/index.html/"])
def test_folders_are_not_listed_and_unknown_paths_are_404(served: int, path: str) -> None:
    assert request(served, path).status == 404


def test_only_reads_are_allowed(served: int) -> None:
    answer = request(served, "/config.json", method="POST")

    assert answer.status == 405
    assert answer.headers["Allow"] == "GET, HEAD"
    assert answer.headers["X-Frame-Options"] == "DENY"


def test_a_config_without_a_setting_is_refused() -> None:
    with pytest.raises(dashboard.DashboardError, match="clientId"):
        dashboard.check_config({**CONFIG, "clientId": ""})


def test_the_dashboard_listens_1000_above_the_emulator() -> None:
    assert dashboard.dashboard_port(4566) == 5566
    assert dashboard.url(5566) == "http://127.0.0.1:5566/"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((env.LOOPBACK, 0))
        return int(probe.getsockname()[1])


def test_start_reuses_a_server_with_the_same_config_and_restarts_one_with_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a state folder of its own and a free port
    monkeypatch.setattr(env, "STATE_DIR", tmp_path / ".emulator")
    port = _free_port()
    try:
        # When it is started, started again as it is, then with another config
        address = dashboard.start(port, CONFIG)
        first = dashboard.pid_file(port).read_text()
        assert dashboard.start(port, CONFIG) == address
        kept = dashboard.pid_file(port).read_text()
        dashboard.start(port, {**CONFIG, "clientId": "other"})
        restarted = dashboard.pid_file(port).read_text()

        # Then the same process served twice, a new one serves the new config
        assert address == f"http://127.0.0.1:{port}/"
        assert kept == first != restarted
        assert json.loads(request(port, "/config.json").body)["clientId"] == "other"
    finally:
        stopped = dashboard.stop(port)

    assert stopped
    assert not dashboard.stop(port)
    with pytest.raises(OSError):
        request(port, "/")
