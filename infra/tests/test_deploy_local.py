"""`make deploy SERVICE=<service> ENV=local`: the request to the running local runtime's control path.

What the runtime does with it is end-to-end tested (tests/test_redeploy_under_load.py); here, the
command's side: which request it sends, what it prints of the answer, and how it fails."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from orderflow_iac.deploy import main

from orderflow_local.launcher import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]

network = pytest.mark.enable_socket


class _Runtime:
    """A stand-in for the runtime's HTTP control path: records each request, answers ``answer``."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, list[str]]]] = []
        self.status = 200
        self.answer: dict[str, Any] = {}
        runtime = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                split = urlsplit(self.path)
                runtime.requests.append((self.command, split.path, parse_qs(split.query)))
                body = json.dumps(runtime.answer).encode()
                self.send_response(runtime.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def runtime() -> Iterator[_Runtime]:
    running = _Runtime()
    thread = threading.Thread(target=running.server.serve_forever, daemon=True)
    thread.start()
    yield running
    running.server.shutdown()
    running.server.server_close()


@network
def test_a_local_deploy_posts_the_service_and_its_folder_and_prints_what_changed(
    runtime: _Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    runtime.answer = {
        "stack": "orderflow-notifications",
        "template": str(REPO_ROOT / "services/notifications/template.yaml"),
        "changes": {
            "created": ["NewQueue"],
            "updated": ["SendConfirmationQueue"],
            "deleted": [],
            "kept": ["A"],
        },
        "functions": {"orderflow-notifications.SendConfirmationFunction": [4242, 4243]},
        "consumers": ["SendConfirmationFunctionQueueEvent"],
        "seconds": 3.5,
    }

    assert main(["notifications", "local", "--api-url", runtime.url]) == 0

    assert runtime.requests == [
        (
            "POST",
            "/_orderflow/deploy",
            {"service": ["notifications"], "source": [str(REPO_ROOT / "services" / "notifications")]},
        )
    ]
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("redeployed orderflow-notifications in 3.5 s from ")
    assert out[0].endswith("1 created, 1 updated, 0 deleted, 1 kept")
    assert "  created NewQueue" in out
    assert "  updated SendConfirmationQueue" in out
    assert "  restarted orderflow-notifications.SendConfirmationFunction (pid 4242, 4243)" in out


@network
def test_the_runtime_is_found_on_orderflow_api_port_and_a_copy_of_the_service_can_be_deployed(
    runtime: _Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ORDERFLOW_API_PORT", runtime.url.rsplit(":", 1)[1])
    monkeypatch.delenv("ORDERFLOW_API_URL", raising=False)
    (tmp_path / "template.yaml").write_text("Resources: {}\n")
    runtime.answer = {
        "stack": "orderflow-orders",
        "template": str(tmp_path / "template.yaml"),
        "changes": {"created": [], "updated": [], "deleted": [], "kept": []},
        "functions": {},
        "consumers": [],
        "seconds": 1.0,
    }

    assert main(["orders", "local", "--source", str(tmp_path)]) == 0

    assert runtime.requests[0][2] == {"service": ["orders"], "source": [str(tmp_path.resolve())]}


@network
def test_a_refused_redeploy_exits_2_with_the_runtimes_reason(
    runtime: _Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    runtime.status = 400
    runtime.answer = {"message": "Table (AWS::DynamoDB::Table): changing KeySchema replaces it"}

    assert main(["inventory", "local", "--api-url", runtime.url]) == 2

    assert capsys.readouterr().err.splitlines()[-1] == (
        "error: redeploying inventory failed (400): "
        "Table (AWS::DynamoDB::Table): changing KeySchema replaces it"
    )


@network
def test_without_a_running_runtime_it_says_how_to_start_one_and_exits_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["payments", "local", "--api-url", f"http://127.0.0.1:{free_port()}"]) == 1

    assert "start it with `make run`" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["infra", "local"], "error: ENV=local redeploys a service; infra is deployed once"),
        (["orders", "local", "--parameters", "LogLevel=DEBUG"], "error: ENV=local takes no PARAMS"),
        (["orders", "local", "--source", "/nonexistent"], "error: /nonexistent has no template.yaml"),
    ],
)
def test_what_a_local_deploy_cannot_do_is_refused_with_status_2_before_any_request(
    capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    assert main([*arguments, "--api-url", "http://127.0.0.1:9"]) == 2

    assert capsys.readouterr().err.startswith(message)


def test_the_dry_run_prints_the_request_and_sends_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["invoicing", "local", "--dry-run", "--api-url", "http://127.0.0.1:8000"]) == 0

    folder = str(REPO_ROOT / "services" / "invoicing").replace("/", "%2F")
    assert capsys.readouterr().out == (
        f"POST http://127.0.0.1:8000/_orderflow/deploy?service=invoicing&source={folder}\n"
    )
