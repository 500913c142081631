"""ops submit: CI's trigger of a training pipeline, against a stand-in Kubernetes API on
127.0.0.1 that records what it was sent and answers like the API server (201 on create, the
Workflow's status on get, 403 with a Status message when refused)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from mlops_platform.ops import cli
from mlops_platform.ops.submit import workflow

WORKFLOWS = "/apis/argoproj.io/v1alpha1/namespaces/pipelines/workflows"


class FakeApi:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, Any] | None, str]] = []
        self.phases: list[dict[str, Any]] = []
        self.refuse: str | None = None


@pytest.fixture
def api() -> Iterator[tuple[FakeApi, str]]:
    state = FakeApi()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _answer(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            body = json.loads(self.rfile.read(length))
            state.requests.append(("POST", self.path, body, self.headers["Authorization"]))
            if state.refuse:
                self._answer(403, {"kind": "Status", "message": state.refuse})
                return
            self._answer(201, {**body, "metadata": {"name": "churn-training-x7k2p"}})

        def do_GET(self) -> None:
            state.requests.append(("GET", self.path, None, self.headers["Authorization"]))
            self._answer(200, {"status": state.phases.pop(0) if state.phases else {}})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def token(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text("runner-token\n", encoding="utf-8")
    return path


def submit_argv(server: str, token: Path, *extra: str) -> list[str]:
    return [
        "submit", "--model", "churn", "--revision", "0123abc", "--server", server,
        "--token-file", str(token), "--interval", "5", *extra,
    ]  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_the_workflow_carries_only_the_template_and_the_revision() -> None:
    assert workflow("churn-training", "0123abc", "churn")["spec"] == {
        "workflowTemplateRef": {"name": "churn-training"},
        "arguments": {"parameters": [{"name": "revision", "value": "0123abc"}]},
    }


def test_submit_creates_the_workflow_with_the_pods_token(
    api: tuple[FakeApi, str], token: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state, server = api
    code = cli.main(submit_argv(server, token))
    out, err = capsys.readouterr()
    assert (code, out) == (0, "churn-training-x7k2p\n")
    assert "submitted workflow churn-training-x7k2p from churn-training at 0123abc" in err
    ((method, path, body, auth),) = state.requests
    assert (method, path, auth) == ("POST", WORKFLOWS, "Bearer runner-token")
    assert body == workflow("churn-training", "0123abc", "churn")


def test_submit_wait_follows_the_run_to_its_end(
    api: tuple[FakeApi, str], token: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state, server = api
    state.phases = [{"phase": "Running"}, {"phase": "Succeeded"}]
    clock = Clock()
    code = cli.main(submit_argv(server, token, "--wait"), sleep=clock.sleep, clock=clock)
    out, _ = capsys.readouterr()
    assert (code, out) == (0, "workflow churn-training-x7k2p Succeeded\n")
    assert [r[1] for r in state.requests[1:]] == [f"{WORKFLOWS}/churn-training-x7k2p"] * 2


def test_submit_wait_fails_with_the_runs_message(
    api: tuple[FakeApi, str], token: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state, server = api
    state.phases = [{"phase": "Failed", "message": "child 'gate' failed"}]
    code = cli.main(submit_argv(server, token, "--wait"), sleep=Clock().sleep, clock=Clock())
    _, err = capsys.readouterr()
    assert code == 1
    assert (
        err.splitlines()[-1] == "error: workflow churn-training-x7k2p Failed: child 'gate' failed"
    )


def test_submit_wait_times_out(
    api: tuple[FakeApi, str], token: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state, server = api
    state.phases = [{"phase": "Running"}] * 5
    clock = Clock()
    code = cli.main(
        submit_argv(server, token, "--wait", "--timeout", "10"), sleep=clock.sleep, clock=clock
    )
    _, err = capsys.readouterr()
    assert code == 1 and "still Running after 10s" in err


def test_a_refused_submission_is_one_line(
    api: tuple[FakeApi, str], token: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state, server = api
    state.refuse = (
        'workflows.argoproj.io is forbidden: ValidatingAdmissionPolicy "submitters"\ndenied'
    )
    code = cli.main(submit_argv(server, token))
    out, err = capsys.readouterr()
    assert (code, out) == (1, "")
    assert err.count("\n") == 1 and "HTTP 403" in err and "denied" in err


def test_outside_a_pod_without_a_server_is_one_line(
    monkeypatch: pytest.MonkeyPatch, token: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    code = cli.main(["submit", "--model", "churn", "--revision", "main"])
    _, err = capsys.readouterr()
    assert code == 1 and "not running in a Kubernetes pod" in err


def test_a_missing_token_and_an_unreachable_api_are_one_line(
    tmp_path: Path, token: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = cli.main(submit_argv("http://127.0.0.1:9", tmp_path / "none"))
    unreachable = cli.main(submit_argv("http://127.0.0.1:9", token))
    err = capsys.readouterr().err.splitlines()
    assert missing == unreachable == 1
    assert "cannot read the service account token" in err[0]
    assert "cannot reach the Kubernetes API at http://127.0.0.1:9" in err[1]
