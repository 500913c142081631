"""The reference model server (``serving/``): pure payload logic, model loading, and the HTTP
contract over real loopback connections, plus the two command lines.

Servers bind 127.0.0.1 on an ephemeral port and are shut down in fixture teardown. Waiting is
bounded (a fixed number of short polls); nothing asserts on durations.
"""

from __future__ import annotations

import http.client
import importlib.metadata
import json
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import joblib
import numpy as np
import pytest
import sklearn
from sklearn.datasets import load_iris

from mlops_platform.serving.__main__ import DEFAULT_MODEL_DIR, build_parser
from mlops_platform.serving.demo_model import build_demo_model, train_demo_model
from mlops_platform.serving.model import LoadedModel, ModelLoadError, load_model
from mlops_platform.serving.payload import (
    MAX_PAYLOAD_BYTES,
    PayloadError,
    accepts_json,
    decode_instances,
    parse_content_type,
    parse_csv_instances,
    parse_json_instances,
    predictions_to_json,
)
from mlops_platform.serving.server import InferenceServer, ModelState, make_server

ROOT = Path(__file__).resolve().parents[1]
SERVING = ROOT / "serving"
JSON = "application/json"
CSV = "text/csv"
GOOD = json.dumps({"instances": [[5.1, 3.5, 1.4, 0.2]]}).encode()
POLLS = 200
POLL_SLEEP = 0.05
SERVE = (sys.executable, "-m", "serving", "serve")


# --- helpers and fixtures ----------------------------------------------------------------------


@dataclass
class Reply:
    """One HTTP response, read in full."""

    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        assert self.headers.get_content_type() == JSON, self.headers
        return json.loads(self.body)


def call(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    *,
    conn: http.client.HTTPConnection | None = None,
) -> Reply:
    """Send one request (on ``conn`` when given, so keep-alive can be exercised)."""
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        if own:
            conn.close()


def predict(port: int, body: bytes, content_type: str = JSON, **headers: str) -> Reply:
    return call(port, "POST", "/invocations", body, {"Content-Type": content_type, **headers})


def json_body(instances: Any) -> bytes:
    return json.dumps({"instances": instances}).encode()


def csv_body(rows: np.ndarray, newline: str = "\n") -> bytes:
    return "".join(",".join(repr(float(v)) for v in row) + newline for row in rows).encode()


@dataclass
class Running:
    server: InferenceServer
    state: ModelState

    @property
    def port(self) -> int:
        return self.server.port


@contextmanager
def running(model_dir: Path, *, load: bool = True) -> Iterator[Running]:
    """A server on 127.0.0.1:<ephemeral> serving in a thread; shut down on exit."""
    server, state = make_server(model_dir, "127.0.0.1", 0, load=load)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield Running(server, state)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        assert not thread.is_alive()


def wait_for_ping(port: int, expected: int) -> Reply:
    """Poll ``/ping`` until it answers ``expected`` (bounded); return that reply."""
    reply = None
    for _ in range(POLLS):
        reply = call(port, "GET", "/ping")
        if reply.status == expected:
            return reply
        time.sleep(POLL_SLEEP)
    raise AssertionError(f"/ping never answered {expected}; last: {reply}")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo model, trained once for the module."""
    return train_demo_model(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def reference(model_dir: Path) -> Any:
    """The same model, loaded directly: the oracle for the server's predictions."""
    return joblib.load(model_dir / "model.joblib")


@pytest.fixture(scope="module")
def iris() -> np.ndarray:
    return np.asarray(load_iris().data, dtype=np.float64)


@pytest.fixture(scope="module")
def srv(model_dir: Path) -> Iterator[Running]:
    """One loaded server shared by the module's HTTP tests."""
    with running(model_dir) as r:
        assert r.state.wait(timeout=30)
        wait_for_ping(r.port, 200)
        yield r


# --- payload: pure functions -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "media_type", "params"),
    [
        ("application/json", JSON, {}),
        ("Application/JSON; charset=UTF-8", JSON, {"charset": "UTF-8"}),
        ('text/csv;charset="utf-8" ; header=absent', CSV, {"charset": "utf-8", "header": "absent"}),
        (None, "", {}),
        ("", "", {}),
    ],
)
def test_parse_content_type(header: str | None, media_type: str, params: dict[str, str]) -> None:
    assert parse_content_type(header) == (media_type, params)


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        (None, True),
        ("", True),
        ("*/*", True),
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("text/html, application/*;q=0.5", True),
        ("text/csv", False),
        ("application/json;q=0", False),
        ("text/html, application/json;q=bogus", False),
    ],
)
def test_accepts_json(header: str | None, ok: bool) -> None:
    assert accepts_json(header) is ok


def test_json_instances_become_a_float_matrix() -> None:
    body = b'{"instances": [[1, 2.5, -3e0, 4], [0, 0, 0, 1]], "signature": "ignored"}'
    matrix = decode_instances(body, "application/json; charset=utf-8", 4)
    assert matrix.dtype == np.float64
    assert matrix.tolist() == [[1.0, 2.5, -3.0, 4.0], [0.0, 0.0, 0.0, 1.0]]


def test_csv_rows_become_a_float_matrix() -> None:
    text = '\ufeff5.1, 3.5,1.4,0.2\r\n\r\n"6.7",3.0,5.2,2.3e0\n  \n-1,+2,.5,7.\n'
    matrix = decode_instances(text.encode(), "text/csv", 4)
    assert matrix.tolist() == [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [-1, 2, 0.5, 7]]


def test_width_is_only_checked_for_consistency_without_n_features() -> None:
    assert parse_json_instances('{"instances": [[1, 2], [3, 4]]}', None).shape == (2, 2)
    assert parse_csv_instances("1,2,3\n", None).shape == (1, 3)
    with pytest.raises(PayloadError, match="Line 2 has 2 features; the first has 3"):
        parse_csv_instances("1,2,3\n4,5\n", None)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"instances": [[1, 2, 3, 4]', "not valid JSON"),
        (b"", "not valid JSON"),
        (b"[[1, 2, 3, 4]]", 'object with an "instances" list'),
        (b'{"inputs": [[1, 2, 3, 4]]}', 'object with an "instances" list'),
        (b'{"instances": "1,2,3,4"}', '"instances" must be a list'),
        (b'{"instances": []}', "no instances"),
        (b'{"instances": [1, 2, 3, 4]}', "Instance 0 must be a list of numbers, got a number"),
        (b'{"instances": [[1, 2, 3]]}', "Instance 0 has 3 features; the model expects 4"),
        (b'{"instances": [[1, 2, 3, 4], [1, 2, 3, 4, 5]]}', "Instance 1 has 5 features"),
        (
            b'{"instances": [[1, "2", 3, 4]]}',
            "Instance 0, feature 1 must be a number, got a string",
        ),
        (b'{"instances": [[1, true, 3, 4]]}', "feature 1 must be a number, got a boolean"),
        (b'{"instances": [[1, null, 3, 4]]}', "feature 1 must be a number, got null"),
        (b'{"instances": [[NaN, 2, 3, 4]]}', "NaN, which is not a finite number"),
        (b'{"instances": [[1, -Infinity, 3, 4]]}', "-Infinity, which is not a finite number"),
        (b'{"instances": [[1, 2, 1e400, 4]]}', "feature 2 is not a finite number"),
        (b'{"instances": [[1, 2, 3, ' + b"9" * 400 + b"]]}", "feature 3 is not a finite number"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"instances": [[1, 2, 3, 4]]}\xff', "not valid UTF-8"),
    ],
)
def test_bad_json_is_a_400_with_a_clear_message(body: bytes, message: str) -> None:
    with pytest.raises(PayloadError) as caught:
        decode_instances(body, JSON, 4)
    assert caught.value.status == 400
    assert message in caught.value.message
    assert caught.value.message.endswith(".")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no instances"),
        ("\n \r\n", "no instances"),
        ("sepal_length,sepal_width,petal_length,petal_width\n", "column 1: 'sepal_length' is not"),
        ("1,2,3\n", "Line 1 has 3 features; the model expects 4"),
        ("1,2,3,4\n1,2,3,4,5\n", "Line 2 has 5 features"),
        ("1,,3,4\n", "Line 1, column 2 is empty"),
        ("1,2,3,nan\n", "Line 1, column 4: 'nan' is not a finite number"),
        ("1,2,-inf,4\n", "'-inf' is not a finite number"),
        ("1,2,1e999,4\n", "'1e999' is not a finite number"),
        ("1,2,3,1_000\n", "'1_000' is not a number"),
        ('1,2,3,"4\n', "malformed"),
    ],
)
def test_bad_csv_is_a_400_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(PayloadError) as caught:
        decode_instances(text.encode(), "text/csv; charset=utf-8", 4)
    assert caught.value.status == 400
    assert message in caught.value.message


@pytest.mark.parametrize(
    ("content_type", "message"),
    [
        (None, "Content-Type missing is not supported"),
        ("text/plain", "'text/plain' is not supported"),
        ("application/x-npy", "use application/json or text/csv"),
        ("application/json; charset=utf-16", "charset 'utf-16' is not supported"),
    ],
)
def test_unsupported_content_type_is_a_415(content_type: str | None, message: str) -> None:
    with pytest.raises(PayloadError) as caught:
        decode_instances(GOOD, content_type, 4)
    assert caught.value.status == 415
    assert message in caught.value.message


def test_predictions_become_json_native_values() -> None:
    converted = predictions_to_json(np.array([1, 2], dtype=np.int64))
    assert converted == [1, 2]
    assert all(type(v) is int for v in converted)
    floats = predictions_to_json(np.array([0.5, np.nan, np.inf], dtype=np.float32))
    assert floats == [0.5, None, None]
    assert type(floats[0]) is float
    labels = predictions_to_json(np.array(["setosa", "virginica"]))
    assert labels == ["setosa", "virginica"]
    assert all(type(v) is str for v in labels)
    mixed = predictions_to_json(np.array([np.int64(3), np.float64(1.5), "x", True], dtype=object))
    assert [type(v) for v in mixed] == [int, float, str, bool]
    assert predictions_to_json(np.array([[0.25, 0.75]])) == [[0.25, 0.75]]
    assert predictions_to_json(np.float64(2.0)) == [2.0]
    json.dumps(mixed + floats + labels, allow_nan=False)


# --- model loading and the demo model ----------------------------------------------------------


def test_demo_model_is_deterministic_and_described_by_its_metadata() -> None:
    first, metadata = build_demo_model()
    second, again = build_demo_model()
    assert metadata == again
    assert np.array_equal(first[-1].coef_, second[-1].coef_)
    assert metadata["n_features"] == 4
    assert len(metadata["feature_names"]) == 4
    assert metadata["classes"] == ["setosa", "versicolor", "virginica"]
    assert metadata["sklearn_version"] == sklearn.__version__


def test_load_model_reads_the_demo_model(model_dir: Path) -> None:
    loaded = load_model(model_dir)
    assert loaded.n_features == 4
    assert loaded.metadata["classes"] == ["setosa", "versicolor", "virginica"]
    assert loaded.predict(np.array([[5.1, 3.5, 1.4, 0.2]])).tolist() == ["setosa"]


def test_n_features_falls_back_to_the_fitted_model(model_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "model.joblib").write_bytes((model_dir / "model.joblib").read_bytes())
    assert load_model(tmp_path).n_features == 4


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, "no model.joblib in model directory"),
        ({"model.joblib": b"not a pickle"}, "cannot load"),
        ({"metadata.json": b"{oops"}, "cannot read"),
        ({"metadata.json": b"[4]"}, "must hold a JSON object"),
        ({"metadata.json": b'{"n_features": "4"}'}, "n_features must be a positive integer"),
        (
            {"metadata.json": b'{"n_features": 3}'},
            "says n_features=3 but the model was fitted on 4",
        ),
    ],
)
def test_unservable_model_dirs_fail_with_a_reason(
    model_dir: Path, tmp_path: Path, files: dict[str, bytes], message: str
) -> None:
    if files and "model.joblib" not in files:
        files = {"model.joblib": (model_dir / "model.joblib").read_bytes(), **files}
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    with pytest.raises(ModelLoadError, match=re.escape(message)):
        load_model(tmp_path)


def test_a_model_without_predict_is_refused(tmp_path: Path) -> None:
    joblib.dump({"weights": [1, 2]}, tmp_path / "model.joblib")
    with pytest.raises(ModelLoadError, match=r"holds a dict with no predict\(\)"):
        load_model(tmp_path)


def test_image_pins_match_the_tested_versions() -> None:
    """The image must serve with the library versions these tests (and the demo model) used."""
    pins = dict(
        line.split("==")
        for line in (SERVING / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert pins["scikit-learn"] == "1.9.1"
    for name, version in pins.items():
        assert importlib.metadata.version(name) == version, name


def test_dockerfile_follows_the_container_contract() -> None:
    dockerfile = (SERVING / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\S*$", dockerfile, re.M)
    assert "pip install --no-cache-dir -r /tmp/requirements.txt" in dockerfile
    assert "COPY . /app/serving" in dockerfile
    assert re.search(r"^USER (?!0\b|root\b)\S+$", dockerfile, re.M)
    assert re.search(r"^EXPOSE 8080$", dockerfile, re.M)
    assert "SM_MODEL_DIR=/opt/ml/model" in dockerfile
    assert dockerfile.rstrip().endswith('ENTRYPOINT ["python", "-m", "serving"]')


# --- HTTP --------------------------------------------------------------------------------------


def test_ping_is_200_once_loaded(srv: Running) -> None:
    reply = call(srv.port, "GET", "/ping")
    assert reply.status == 200
    assert reply.json() == {"status": "ready"}
    assert call(srv.port, "GET", "/ping?probe=1").status == 200


def test_ping_is_503_until_the_model_loads(model_dir: Path) -> None:
    with running(model_dir, load=False) as r:
        reply = call(r.port, "GET", "/ping")
        assert reply.status == 503
        assert reply.json() == {"status": "loading"}
        early = predict(r.port, GOOD)
        assert early.status == 503
        assert early.json() == {"error": "The model is still loading."}
        r.state.load()
        assert call(r.port, "GET", "/ping").status == 200
        assert predict(r.port, GOOD).json() == {"predictions": ["setosa"]}


def test_ping_is_503_when_the_model_fails_to_load(tmp_path: Path) -> None:
    with running(tmp_path) as r:
        assert r.state.wait(timeout=30)
        assert r.state.status == "failed"
        reply = call(r.port, "GET", "/ping")
        assert reply.status == 503
        body = reply.json()
        assert body["status"] == "failed"
        assert "no model.joblib" in body["error"]
        refused = predict(r.port, GOOD)
        assert refused.status == 503
        assert "failed to load: no model.joblib" in refused.json()["error"]


def test_json_predictions_match_the_model(srv: Running, reference: Any, iris: np.ndarray) -> None:
    reply = predict(srv.port, json_body(iris.tolist()))
    assert reply.status == 200
    predictions = reply.json()["predictions"]
    assert predictions == reference.predict(iris).tolist()
    assert {type(p) for p in predictions} == {str}
    assert set(predictions) == {"setosa", "versicolor", "virginica"}


def test_csv_predictions_match_the_model(srv: Running, reference: Any, iris: np.ndarray) -> None:
    rows = iris[::7]
    for newline in ("\n", "\r\n"):
        reply = predict(srv.port, csv_body(rows, newline), "text/csv; charset=utf-8")
        assert reply.status == 200
        assert reply.json() == {"predictions": reference.predict(rows).tolist()}


@pytest.mark.parametrize(
    ("content_type", "accept"),
    [
        ("application/json; charset=utf-8", None),
        ("Application/JSON", "application/json"),
        ("application/json", "*/*"),
        ("application/json", "text/html, application/json;q=0.9"),
    ],
)
def test_content_type_parameters_and_accept_headers(
    srv: Running, content_type: str, accept: str | None
) -> None:
    headers = {"Accept": accept} if accept else {}
    reply = predict(srv.port, GOOD, content_type, **headers)
    assert reply.status == 200
    assert reply.json() == {"predictions": ["setosa"]}


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        (JSON, b'{"instances": [[5.1, 3.5', "not valid JSON"),
        (JSON, b'{"rows": [[5.1, 3.5, 1.4, 0.2]]}', '"instances" list'),
        (
            JSON,
            b'{"instances": [[5.1, 3.5, 1.4]]}',
            "Instance 0 has 3 features; the model expects 4",
        ),
        (JSON, b'{"instances": [[5.1, "wide", 1.4, 0.2]]}', "must be a number, got a string"),
        (JSON, b'{"instances": []}', "no instances"),
        (JSON, b'{"instances": [[5.1, NaN, 1.4, 0.2]]}', "not a finite number"),
        (JSON, b"", "not valid JSON"),
        (CSV, b"5.1,3.5,1.4,0.2,9\n", "Line 1 has 5 features; the model expects 4"),
        (CSV, b"5.1,3.5,abc,0.2\n", "'abc' is not a number"),
        (CSV, b"5.1,3.5,inf,0.2\n", "'inf' is not a finite number"),
        (CSV, b"\n", "no instances"),
    ],
)
def test_bad_payloads_are_400s(srv: Running, content_type: str, body: bytes, message: str) -> None:
    reply = predict(srv.port, body, content_type)
    assert reply.status == 400
    error = reply.json()["error"]
    assert message in error
    assert set(reply.json()) == {"error"}


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Content-Type": "text/plain"}, 415),
        ({}, 415),
        ({"Content-Type": "application/json; charset=latin-1"}, 415),
        ({"Content-Type": JSON, "Accept": "text/csv"}, 406),
    ],
)
def test_unsupported_media_types(srv: Running, headers: dict[str, str], status: int) -> None:
    reply = call(srv.port, "POST", "/invocations", GOOD, headers)
    assert reply.status == status
    assert reply.json()["error"]


def test_a_body_over_6_mb_is_a_413(srv: Running) -> None:
    reply = predict(srv.port, b"1" * (MAX_PAYLOAD_BYTES + 1), CSV)
    assert reply.status == 413
    assert reply.json() == {"error": "The request body exceeds the 6 MB limit."}
    at_limit = predict(srv.port, b" " * MAX_PAYLOAD_BYTES, CSV)
    assert at_limit.status == 400  # exactly 6 MB is read and parsed
    assert predict(srv.port, GOOD).status == 200


def test_an_oversized_body_is_refused_before_it_is_sent(srv: Running) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    try:
        conn.putrequest("POST", "/invocations")
        conn.putheader("Content-Type", JSON)
        conn.putheader("Content-Length", str(MAX_PAYLOAD_BYTES + 1))
        conn.putheader("Expect", "100-continue")
        conn.endheaders()
        response = conn.getresponse()
        assert response.status == 413
        assert response.getheader("Connection") == "close"
    finally:
        conn.close()


def test_a_request_without_content_length_is_a_411(srv: Running) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    try:
        conn.putrequest("POST", "/invocations")
        conn.putheader("Content-Type", JSON)
        conn.endheaders()
        response = conn.getresponse()
        assert response.status == 411
        assert "Content-Length" in json.loads(response.read())["error"]
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("method", "path", "status", "allow"),
    [
        ("GET", "/", 404, None),
        ("GET", "/predict", 404, None),
        ("POST", "/invocations/extra", 404, None),
        ("DELETE", "/models", 404, None),
        ("GET", "/invocations", 405, "POST"),
        ("POST", "/ping", 405, "GET"),
        ("PUT", "/invocations", 405, "POST"),
    ],
)
def test_unknown_paths_and_methods(
    srv: Running, method: str, path: str, status: int, allow: str | None
) -> None:
    reply = call(srv.port, method, path, GOOD if method != "GET" else None)
    assert reply.status == status
    assert reply.json()["error"]
    assert reply.headers.get("Allow") == allow


def test_keeps_serving_on_one_connection_after_errors(srv: Running, reference: Any) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    try:
        bad = [
            ("POST", "/invocations", b"{", {"Content-Type": JSON}, 400),
            ("POST", "/invocations", b"1,2\n", {"Content-Type": CSV}, 400),
            ("POST", "/invocations", GOOD, {"Content-Type": "text/plain"}, 415),
            ("POST", "/nowhere", GOOD, {"Content-Type": JSON}, 404),
            ("GET", "/invocations", None, {}, 405),
            ("POST", "/invocations", b"x" * (MAX_PAYLOAD_BYTES + 1), {"Content-Type": CSV}, 413),
        ]
        first_socket = None
        for method, path, body, headers, status in bad:
            assert call(srv.port, method, path, body, headers, conn=conn).status == status
            first_socket = first_socket or conn.sock
            assert conn.sock is first_socket, f"{status} closed the connection"
        row = [[6.7, 3.0, 5.2, 2.3]]
        good = call(
            srv.port, "POST", "/invocations", json_body(row), {"Content-Type": JSON}, conn=conn
        )
        assert conn.sock is first_socket
        assert good.status == 200
        assert good.json() == {"predictions": reference.predict(np.array(row)).tolist()}
    finally:
        conn.close()
    assert call(srv.port, "GET", "/ping").status == 200


def test_a_failing_model_is_a_500_and_the_server_carries_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Exploding:
        def predict(self, instances: np.ndarray) -> np.ndarray:
            if instances[0, 0] < 0:
                raise ValueError("boom")
            return np.zeros(len(instances), dtype=np.int64)

    monkeypatch.setattr(
        "mlops_platform.serving.server.load_model", lambda _: LoadedModel(Exploding(), 2)
    )
    with running(tmp_path, load=False) as r:
        r.state.load()
        failed = predict(r.port, json_body([[-1, 0]]))
        assert failed.status == 500
        assert failed.json() == {"error": "The model failed to predict."}
        assert predict(r.port, json_body([[1, 0], [2, 0]])).json() == {"predictions": [0, 0]}


# --- command lines -----------------------------------------------------------------------------


def run_module(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_demo_model_cli_writes_a_servable_model(tmp_path: Path) -> None:
    out = tmp_path / "nested" / "model"
    result = run_module("serving.demo_model", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out.resolve())
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["n_features"] == 4
    assert metadata["feature_names"] == load_iris().feature_names
    assert metadata["classes"] == ["setosa", "versicolor", "virginica"]
    assert metadata["sklearn_version"] == sklearn.__version__
    assert load_model(out).predict(np.array([[6.7, 3.0, 5.2, 2.3]])).tolist() == ["virginica"]


def test_demo_model_cli_requires_out() -> None:
    result = run_module("serving.demo_model")
    assert result.returncode == 2
    assert "--out" in result.stderr


def test_serve_help() -> None:
    result = run_module("serving", "--help")
    assert result.returncode == 0, result.stderr
    for flag in ("--host", "--port", "--model-dir", "serve", "SM_MODEL_DIR"):
        assert flag in result.stdout


def test_cli_defaults_and_the_sagemaker_serve_argument(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SM_MODEL_DIR", raising=False)
    args = build_parser().parse_args(["serve"])
    assert (args.command, args.host, args.port, args.model_dir) == (
        "serve",
        "0.0.0.0",
        8080,
        DEFAULT_MODEL_DIR,
    )
    assert build_parser().parse_args([]).command is None
    monkeypatch.setenv("SM_MODEL_DIR", "/models/iris")
    assert build_parser().parse_args(["--port", "0"]).model_dir == "/models/iris"
    assert build_parser().parse_args(["--model-dir", "/m"]).model_dir == "/m"


@pytest.mark.parametrize("argv", [["train"], ["--port", "65536"], ["--port", "http"]])
def test_cli_rejects_bad_arguments(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(argv)
    assert exited.value.code == 2
    assert "error:" in capsys.readouterr().err


def collect_lines(stream: IO[str], lines: queue.Queue[str]) -> None:
    """Copy a subprocess's output into a queue, line by line, until EOF."""
    for line in stream:
        lines.put(line)


def test_serve_cli_serves_and_stops_on_sigterm(model_dir: Path) -> None:
    lines: queue.Queue[str] = queue.Queue()
    argv = [*SERVE, "--host", "127.0.0.1", "--port", "0", "--model-dir", str(model_dir)]
    with subprocess.Popen(argv, cwd=ROOT, stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stderr is not None
        reader = threading.Thread(target=collect_lines, args=(proc.stderr, lines), daemon=True)
        reader.start()
        try:
            port = None
            for _ in range(POLLS):
                try:
                    line = lines.get(timeout=0.25)
                except queue.Empty:
                    assert proc.poll() is None, "server exited before listening"
                    continue
                if match := re.search(r"listening on http://127\.0\.0\.1:(\d+)", line):
                    port = int(match.group(1))
                    break
            assert port, "server never logged its port"
            wait_for_ping(port, 200)
            assert predict(port, GOOD).json() == {"predictions": ["setosa"]}
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
            reader.join(timeout=10)
    logged = list(lines.queue)
    assert any("received SIGTERM" in line for line in logged)
    assert any('"POST /invocations HTTP/1.1" 200' in line for line in logged)
    assert not any("setosa" in line for line in logged), "payloads and predictions are not logged"


def test_the_smoke_payload_shipped_for_ci_is_served(srv: Running) -> None:
    """``ops smoke`` in the release pipeline sends serving/sample-payload.json."""
    payload = (Path(__file__).resolve().parents[1] / "serving" / "sample-payload.json").read_bytes()
    reply = predict(srv.port, payload)
    assert reply.status == 200
    assert len(reply.json()["predictions"]) == len(json.loads(payload)["instances"])
