"""The production server around the contract (tests/test_serving_app.py has the contract):
admission and health checks under load, HTTP edge cases on uvicorn, the fast payload paths
against the strict ones, the environment SageMaker sets, gunicorn's configuration, the image.

Servers bind 127.0.0.1 on an ephemeral port. Waiting is bounded (a fixed number of short polls);
nothing asserts on durations.
"""

from __future__ import annotations

import asyncio
import http.client
import importlib.metadata
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from packaging.requirements import Requirement
from test_serving_app import (
    GOOD,
    JSON,
    POLL_SLEEP,
    POLLS,
    ROOT,
    SERVE,
    SERVING,
    call,
    predict,
    running,
    wait_for_ping,
)

from mlops_platform.serving import payload
from mlops_platform.serving.app import DEFAULT_MAX_CONCURRENCY
from mlops_platform.serving.options import ConfigError
from mlops_platform.serving.payload import decode_instances, encode_json, predictions_to_json
from mlops_platform.serving.server import (
    MAX_CONCURRENCY_ENV,
    TIMEOUT_ENV,
    WORKERS_ENV,
    GunicornServer,
    InferenceServer,
    ServeOptions,
    Worker,
    make_server,
    serve_options,
    vcpus,
)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mlops_platform.serving.demo_model import train_demo_model

    return train_demo_model(tmp_path_factory.mktemp("model"))


def raw_exchange(port: int, data: bytes, *, read_until_close: bool = True) -> bytes:
    """Send raw bytes on a new connection; what the server answered (until it closed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
            if not read_until_close:
                break
        return b"".join(chunks)


def partial_request(port: int, body: bytes, sent: int) -> socket.socket:
    """A connection that sent the headers and the first ``sent`` bytes of ``body`` only."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = (
        f"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: {JSON}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    sock.sendall(head + body[:sent])
    return sock


def wait_until(condition, what: str) -> None:
    for _ in range(POLLS):
        if condition():
            return
        time.sleep(POLL_SLEEP)
    raise AssertionError(f"never {what}")


def response_of(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read one response from ``sock`` (status, lower-case headers, body)."""
    reader = sock.makefile("rb")
    status = int(reader.readline().split()[1])
    headers = {}
    while (line := reader.readline().strip()) != b"":
        name, _, value = line.decode().partition(":")
        headers[name.lower()] = value.strip()
    return status, headers, reader.read(int(headers.get("content-length", 0)))


@contextmanager
def server_with(model_dir: Path, **options: Any) -> Iterator[InferenceServer]:
    """An in-process server with non-default ``options``, its model loaded; shut down on exit."""
    server, state = make_server(model_dir, "127.0.0.1", 0, **options)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        assert state.wait(timeout=30)
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# --- admission, turns and health checks --------------------------------------------------------


def test_past_the_concurrency_limit_invocations_are_503_and_ping_still_answers(model_dir):
    with server_with(model_dir, max_concurrency=1) as server:
        waiting = partial_request(server.port, GOOD, len(GOOD) // 2)
        try:
            wait_until(lambda: server.app.active == 1, "admitted the first request")
            refused = predict(server.port, GOOD)
            assert refused.status == 503
            assert refused.json() == {
                "error": "The server is at capacity (1 in progress in this worker); retry later."
            }
            assert call(server.port, "GET", "/ping").json() == {"status": "ready"}
            waiting.sendall(GOOD[len(GOOD) // 2 :])
            status, _, body = response_of(waiting)
            assert (status, json.loads(body)) == (200, {"predictions": ["setosa"]})
        finally:
            waiting.close()
        wait_until(lambda: server.app.active == 0, "finished the first request")
        assert predict(server.port, GOOD).status == 200


def test_a_body_that_stops_arriving_is_a_408_and_the_connection_closes(model_dir):
    with server_with(model_dir, body_timeout=0.2) as server:
        with partial_request(server.port, GOOD, 5) as stalled:
            status, headers, body = response_of(stalled)
            assert status == 408
            assert headers["connection"] == "close"
            assert json.loads(body) == {"error": "The request body did not arrive within 0.2 s."}
            assert stalled.recv(1) == b""
        wait_until(lambda: server.app.active == 0, "let the stalled request go")
        assert predict(server.port, GOOD).status == 200


def test_a_client_that_sends_no_body_at_all_times_out_too(model_dir):
    with (
        server_with(model_dir, body_timeout=0.2) as server,
        partial_request(server.port, GOOD, 0) as silent,
    ):
        status, headers, _ = response_of(silent)
        assert (status, headers["connection"]) == (408, "close")


def test_turns_run_in_arrival_order_and_yield_between_slices():
    from mlops_platform.serving.app import Turns

    async def scenario() -> list[str]:
        turns = Turns(slice_seconds=0.0)  # every job ends its slice
        order: list[str] = []

        def job(name: str):
            def run() -> str:
                order.append(name)
                return name

            return run

        async def ping() -> None:
            order.append("ping")

        jobs = [asyncio.ensure_future(turns.run(job(f"job{i}"))) for i in range(4)]
        await asyncio.sleep(0)  # the jobs arrive in one pass of the loop
        pinged = asyncio.ensure_future(ping())
        results = await asyncio.gather(*jobs)
        await pinged
        assert results == ["job0", "job1", "job2", "job3"]

        def failing() -> None:
            raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            await turns.run(failing)
        return order

    order = asyncio.run(scenario())
    assert [name for name in order if name != "ping"] == ["job0", "job1", "job2", "job3"]
    assert order.index("ping") < order.index("job3"), "the queue yielded to the ping"


def test_the_app_refuses_a_zero_limit(model_dir):
    from mlops_platform.serving.app import InferenceApp
    from mlops_platform.serving.server import ModelState

    with pytest.raises(ValueError, match="max_concurrency must be at least 1, got 0"):
        InferenceApp(ModelState(model_dir), max_concurrency=0)


# --- HTTP on uvicorn ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def port(model_dir):
    with running(model_dir) as r:
        assert r.state.wait(timeout=30)
        wait_for_ping(r.port, 200)
        yield r.port


def test_expect_100_continue_gets_a_continue_then_the_prediction(port):
    head = (
        f"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: {JSON}\r\n"
        f"Content-Length: {len(GOOD)}\r\nExpect: 100-continue\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head)
        reader = sock.makefile("rb")
        assert reader.readline().startswith(b"HTTP/1.1 100")
        assert reader.readline() == b"\r\n"
        sock.sendall(GOOD)
        status, _, body = response_of(sock)
    assert (status, json.loads(body)) == (200, {"predictions": ["setosa"]})


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"GET /ping HTTP/1.1\r\nBad Header\r\n\r\n",
    ],
)
def test_unparseable_requests_are_a_json_400_and_close(port, request_bytes):
    answer = raw_exchange(port, request_bytes)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert b"content-type: application/json" in head
    assert b"connection: close" in head
    assert json.loads(body) == {"error": "The request is not valid HTTP/1.1."}
    assert call(port, "GET", "/ping").status == 200


def test_refusals_without_a_body_to_wait_for_close_the_connection(port):
    """A client waiting for 100 Continue never sends the body of a refused request."""
    head = (
        b"POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n"
    )
    answer = raw_exchange(port, head)
    assert answer.startswith(b"HTTP/1.1 404")
    assert b"connection: close" in answer


def test_every_connection_sends_without_delay(model_dir):
    """TCP_NODELAY on each accepted socket: without it the body waits for a delayed ACK."""
    with running(model_dir) as r:
        conn = http.client.HTTPConnection("127.0.0.1", r.port, timeout=30)
        try:
            assert call(r.port, "GET", "/ping", conn=conn).status in (200, 503)
            connections = list(r.server._server.server_state.connections)
            assert connections
            for protocol in connections:
                sock = protocol.transport.get_extra_info("socket")
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        finally:
            conn.close()


def test_responses_name_the_server_not_its_stack(port):
    reply = call(port, "GET", "/ping")
    assert reply.headers["Server"] == "mlops-serving"
    assert "uvicorn" not in str(reply.headers).lower()


def test_a_chunked_404_closes_and_the_next_connection_is_served(port):
    request = (
        b"POST /nowhere HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\n\r\n"
    )
    answer = raw_exchange(port, request)
    assert answer.startswith(b"HTTP/1.1 404")
    assert b"connection: close" in answer
    assert predict(port, GOOD).status == 200


# --- fast payload paths against the strict ones ------------------------------------------------


def strict_json(body: bytes, n: int | None) -> np.ndarray:
    return payload._strict_json(body.decode("utf-8-sig"), n)


def random_rows(seed: int) -> list[list[float | int]]:
    rng = np.random.default_rng(seed)
    rows = rng.normal(scale=10.0 ** rng.integers(-300, 300, size=(50, 6)))
    mixed: list[list[float | int]] = rows.tolist()
    mixed[0] = [0, -0.0, 1, -(2**63), 2**64 - 1, 5e-324]
    mixed[1] = [1.7976931348623157e308, -1e-310, 123456789012345678, 0.1, 1e22, 2**70]
    return mixed


@pytest.mark.parametrize("seed", range(4))
def test_fast_and_strict_json_give_identical_arrays(seed):
    rows = random_rows(seed)
    body = json.dumps({"instances": rows, "id": "x"}).encode()
    fast = payload._fast_json(body, 6)
    assert fast is not None, "the fast path took this plain numeric body"
    strict = strict_json(body, 6)
    assert fast.dtype == strict.dtype == np.float64
    assert np.array_equal(fast.view(np.uint64), strict.view(np.uint64))  # bit for bit, -0.0 too
    assert np.array_equal(decode_instances(body, JSON, 6).view(np.uint64), fast.view(np.uint64))


@pytest.mark.parametrize("seed", range(4))
def test_fast_and_strict_csv_give_identical_arrays(seed):
    rows = [[float(v) for v in row] for row in random_rows(seed)]
    text = "".join(",".join(repr(v) for v in row) + "\r\n" for row in rows)
    fast = payload._fast_csv(text, 6)
    assert fast is not None
    strict = payload._strict_csv(text, 6)
    assert np.array_equal(fast.view(np.uint64), strict.view(np.uint64))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"instances": [[1, 2, 3, 4]], "verbose": true}', [[1, 2, 3, 4]]),  # a literal elsewhere
        (b'{"instances": [[1, 2, 3, 4]], "note": "null and void"}', [[1, 2, 3, 4]]),
        (b'\xef\xbb\xbf{"instances": [[1, 2, 3, 4]]}', [[1, 2, 3, 4]]),  # a BOM
        (b'{"instances": [[1, 2, 3, 4]], "instances": [[5, 6, 7, 8]]}', [[5, 6, 7, 8]]),
    ],
)
def test_bodies_the_fast_json_path_leaves_to_the_strict_one(body, expected):
    assert decode_instances(body, JSON, 4).tolist() == expected
    assert strict_json(body, 4).tolist() == expected


@pytest.mark.parametrize(
    "body",
    [
        b'{"instances": [[1, true, 3, 4]]}',  # NumPy would take true as 1
        b'{"instances": [[1, "2", 3, 4]]}',  # and "2" as 2.0
        b'{"instances": [[1, null, 3, 4]]}',  # and null as NaN
        b'{"instances": [[1, 2, 3, 1e400]]}',
        b'{"instances": [[[1, 2, 3, 4]]]}',
        b'{"instances": [[1, 2], [3, 4, 5]]}',
        b'{"instances": {"a": [1, 2, 3, 4]}}',
        b'{"instances": [[1, 2, 3]]}',
        b'{"instances": [[]]}',
        b'{"instances": []}',
        b"[[1, 2, 3, 4]]",
    ],
)
def test_the_fast_json_path_never_accepts_what_the_strict_one_refuses(body):
    assert payload._fast_json(body, 4) is None
    with pytest.raises(payload.PayloadError) as strict:
        strict_json(body, 4)
    with pytest.raises(payload.PayloadError) as served:
        decode_instances(body, JSON, 4)
    assert served.value.message == strict.value.message


@pytest.mark.parametrize(
    "text",
    ['"1",2,3,4\n', "1,2,3,4\n \n", "1,2,3,nan\n", "1,2,3\n", "1,2,3,1_0\n", "1,2,3,4,\n", "\n\n"],
)
def test_the_fast_csv_path_leaves_anything_unusual_to_the_strict_one(text):
    assert payload._fast_csv(text, 4) is None


def test_encode_json_is_compact_and_takes_integers_orjson_refuses():
    assert encode_json({"predictions": ["setosa", 1, 0.5, None]}) == (
        b'{"predictions":["setosa",1,0.5,null]}'
    )
    wide = predictions_to_json(np.array([2**70, 1], dtype=object))
    assert encode_json({"predictions": wide}) == b'{"predictions":[1180591620717411303424,1]}'


# --- environment -------------------------------------------------------------------------------


def test_options_default_to_one_worker_per_vcpu_and_sagemakers_timeout():
    options = serve_options({}, model_dir="/m")
    assert options == ServeOptions(
        model_dir="/m", workers=vcpus(), timeout=60, max_concurrency=DEFAULT_MAX_CONCURRENCY
    )
    assert DEFAULT_MAX_CONCURRENCY == 128
    assert vcpus() >= 1


def test_options_read_the_sagemaker_variables():
    environ = {WORKERS_ENV: "4", TIMEOUT_ENV: " 120 ", MAX_CONCURRENCY_ENV: "16"}
    options = serve_options(environ, model_dir="/m", host="::", port=0)
    assert (options.workers, options.timeout, options.max_concurrency) == (4, 120, 16)
    assert (options.host, options.port) == ("::", 0)
    assert serve_options({WORKERS_ENV: ""}, model_dir="/m").workers == vcpus()


@pytest.mark.parametrize("name", [WORKERS_ENV, TIMEOUT_ENV, MAX_CONCURRENCY_ENV])
@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5", "1e3", "٣"])
def test_bad_values_name_the_variable(name, value):
    with pytest.raises(ConfigError) as caught:
        serve_options({name: value}, model_dir="/m")
    message = str(caught.value)
    assert message.startswith(f"{name}={value!r}: must be a whole number of at least 1")
    assert "\n" not in message


@pytest.mark.parametrize(("name", "value"), [(WORKERS_ENV, "0"), (TIMEOUT_ENV, "abc")])
def test_the_container_exits_at_start_with_one_line(name, value, model_dir):
    result = subprocess.run(
        [*SERVE, "--port", "0", "--model-dir", str(model_dir)],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", name: value},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: {name}={value!r}: must be a whole number of at least 1"
        + (" (a number of worker processes)" if name == WORKERS_ENV else " (a number of seconds)")
    ]


# --- gunicorn ----------------------------------------------------------------------------------


def test_gunicorn_runs_the_options():
    options = ServeOptions(model_dir="/m", host="::", port=9000, workers=3, timeout=90)
    cfg = GunicornServer(options).cfg
    assert cfg.bind == ["[::]:9000"]
    assert (cfg.workers, cfg.timeout, cfg.keepalive, cfg.backlog) == (3, 90, 60, 2048)
    assert cfg.worker_class is Worker
    assert cfg.control_socket_disable is True
    assert Worker.CONFIG_KWARGS["loop"] == "asyncio"
    assert Worker.CONFIG_KWARGS["http"].__name__ == "JsonErrorsProtocol"


def test_every_worker_loads_the_model_and_serves(model_dir, tmp_path):
    log = tmp_path / "server.log"
    argv = [*SERVE, "--host", "127.0.0.1", "--port", "0", "--model-dir", str(model_dir)]
    env = {"PATH": "/usr/bin:/bin", WORKERS_ENV: "2", TIMEOUT_ENV: "30"}
    # The log goes to a file: a pipe would stay open as long as any worker process lives.
    with log.open("w") as err:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stderr=err)
    try:
        text = ""
        for _ in range(POLLS):
            text = log.read_text()
            if text.count("model loaded from") == 2:
                break
            assert proc.poll() is None, text
            time.sleep(POLL_SLEEP)
        match = re.search(
            r"listening on http://127\.0\.0\.1:(\d+) .*2 worker\(s\), timeout 30 s", text
        )
        assert match, text
        loaded = set(re.findall(r"\[(\d+)\] \[INFO\] model loaded", text))
        assert len(loaded) == 2, "each worker process loads the model once"
        port = int(match.group(1))
        wait_for_ping(port, 200)
        for _ in range(8):
            assert predict(port, GOOD).json() == {"predictions": ["setosa"]}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    text = log.read_text()
    assert "received SIGTERM" in text
    assert re.search(r"\[(\d+)\] \[INFO\] [\d.:]+ - \"POST /invocations HTTP/1.1\" 200", text)


# --- the image ---------------------------------------------------------------------------------


def test_dockerfile_runs_the_server_as_user_10001_with_a_health_check():
    dockerfile = (SERVING / "Dockerfile").read_text()
    assert re.search(r"^USER 10001:10001$", dockerfile, re.M)
    assert re.search(r"useradd --system --uid 10001 ", dockerfile)
    healthcheck = re.search(r"^HEALTHCHECK .*\n(?:\s+.*\n)*", dockerfile, re.M)
    assert healthcheck and "http://127.0.0.1:8080/ping" in healthcheck.group(0)
    assert dockerfile.rstrip().endswith('ENTRYPOINT ["python", "-m", "serving"]')
    assert dockerfile.index("COPY requirements.txt") < dockerfile.index("COPY . /app/serving")


def pins() -> dict[str, str]:
    lines = (SERVING / "requirements.txt").read_text().splitlines()
    found = [line.split("==") for line in lines if line and not line.startswith("#")]
    return {name.lower().replace("_", "-"): version for name, version in found}


def test_the_image_pins_the_whole_dependency_closure():
    """pip installs nothing unpinned: every dependency of a pin is pinned as well."""
    pinned = pins()
    for name in ("gunicorn", "uvicorn", "uvicorn-worker", "httptools", "orjson"):
        assert name in pinned, name
    env = {"python_version": "3.11", "sys_platform": "linux", "platform_system": "Linux"}
    for name in pinned:
        for spec in importlib.metadata.requires(name) or []:
            requirement = Requirement(spec)
            if requirement.marker and not requirement.marker.evaluate({**env, "extra": ""}):
                continue
            key = requirement.name.lower().replace("_", "-")
            assert key in pinned, f"{name} needs {requirement}, which is not pinned"
            assert requirement.specifier.contains(pinned[key]), f"{name} needs {requirement}"


def imported_top_level(statement: str) -> set[str]:
    code = f"import sys; sys.path.insert(0, {str(ROOT)!r}); {statement}; print(*sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return {module.split(".")[0] for module in result.stdout.split()}


OPTIONAL_IMPORTS = {"charset_normalizer"}
"""Imported when present, done without otherwise (numpy.f2py tries charset_normalizer)."""


def test_the_server_imports_nothing_outside_the_image_pins():
    top_level = imported_top_level("import serving.server, serving.__main__") - (
        imported_top_level("pass") | OPTIONAL_IMPORTS
    )
    distributions = importlib.metadata.packages_distributions()
    outside = {
        module
        for module in top_level
        for dist in distributions.get(module, [])
        if dist.lower().replace("_", "-") not in pins()
    }
    assert outside == set()
