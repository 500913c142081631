"""The stacks the model server was chosen among, side by side (README.md, "Dependencies").

Not part of ``make bench``: the candidates are not dependencies of this project. In a scratch
virtualenv with the serving pins plus the candidates::

    python -m venv /tmp/cand && /tmp/cand/bin/pip install -r serving/requirements.txt \\
        fastapi starlette uvloop granian
    /tmp/cand/bin/python -m benchmarks.serving_candidates [--duration 3]

Each candidate serves the demo model with 2 workers on 127.0.0.1 and gets the same small JSON
payload from wrk at 1, 8 and 64 clients, then 256 clients (small and 1,000-row payloads) while
``/ping`` is probed on a new connection every 50 ms. A candidate whose packages are missing is
skipped. The apps below are what a team would write with each framework: predictions in the
endpoint, no admission limit, no slices.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.serving import (
    CLIENTS,
    OVERLOAD_CLIENTS,
    ROOT,
    WRK_SCRIPT,
    Payload,
    free_port,
    payloads,
    ping,
    probed_overload,
    run_wrk,
)

WORKERS = 2
HERE = "benchmarks.serving_candidates"


def _predict_body(body: bytes, content_type: str | None) -> bytes:
    from serving.payload import decode_instances, encode_json, predictions_to_json

    model = _model()
    instances = decode_instances(body, content_type, model.n_features)
    return encode_json({"predictions": predictions_to_json(model.predict(instances))})


_LOADED: list[Any] = []


def _model() -> Any:
    if not _LOADED:
        from serving.model import load_model

        _LOADED.append(load_model(os.environ["BENCH_MODEL_DIR"]))
    return _LOADED[0]


def _fastapi_app() -> Any:
    from fastapi import FastAPI, Request, Response

    app = FastAPI()

    async def ping_route() -> dict[str, str]:
        return {"status": "ready"}

    async def invocations(request):  # type: ignore[no-untyped-def]
        body = await request.body()
        content = _predict_body(body, request.headers.get("content-type"))
        return Response(content, media_type="application/json")

    # real annotations (this module's are strings), so that FastAPI injects the request
    invocations.__annotations__ = {"request": Request, "return": Response}
    app.get("/ping")(ping_route)
    app.post("/invocations")(invocations)
    return app


def _starlette_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def ping_route(request: Request) -> Response:
        return Response(b'{"status":"ready"}', media_type="application/json")

    async def invocations(request: Request) -> Response:
        content = _predict_body(await request.body(), request.headers.get("content-type"))
        return Response(content, media_type="application/json")

    routes = [Route("/ping", ping_route), Route("/invocations", invocations, methods=["POST"])]
    return Starlette(routes=routes)


async def plain_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Our routes without admission or slices (for servers that are not uvicorn)."""
    if scope["type"] != "http":
        return
    if scope["path"] == "/ping":
        body = b'{"status":"ready"}'
    else:
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        content_type = dict(scope["headers"]).get(b"content-type", b"").decode()
        body = _predict_body(b"".join(chunks), content_type)
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def __getattr__(name: str) -> Any:  # the apps are built on first use, in the server's workers
    if name == "fastapi_app":
        return _fastapi_app()
    if name == "starlette_app":
        return _starlette_app()
    raise AttributeError(name)


def candidates(python: str, port: int, model_dir: Path) -> list[tuple[str, list[str], str]]:
    """(name, argv, the module it needs) for each candidate."""
    uvicorn = [python, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port),
               "--workers", str(WORKERS), "--no-access-log", "--log-level", "warning"]  # fmt: skip
    serve = [python, "-m", "serving", "serve", "--host", "127.0.0.1", "--port", str(port)]
    return [
        ("this server (gunicorn + uvicorn, slices)", [*serve, "--model-dir", str(model_dir)],
         "gunicorn"),
        ("FastAPI on uvicorn (httptools, uvloop)",
         [*uvicorn, "--http", "httptools", "--loop", "uvloop", f"{HERE}:fastapi_app"], "fastapi"),
        ("Starlette on uvicorn (httptools, asyncio)",
         [*uvicorn, "--http", "httptools", "--loop", "asyncio", f"{HERE}:starlette_app"],
         "starlette"),
        ("uvicorn with h11 (asyncio)",
         [*uvicorn, "--http", "h11", "--loop", "asyncio", f"{HERE}:starlette_app"], "starlette"),
        ("granian (ASGI)", [python, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1",
         "--port", str(port), "--workers", str(WORKERS), f"{HERE}:plain_app"], "granian"),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {HERE}", description=__doc__)
    parser.add_argument("--duration", type=float, default=3, help="seconds per wrk run")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from serving.demo_model import train_demo_model

    with tempfile.TemporaryDirectory(prefix="bench-candidates-") as tmp:
        args.workdir = Path(tmp)
        (args.workdir / "post.lua").write_text(WRK_SCRIPT)
        model_dir = train_demo_model(args.workdir / "model")
        small, _, batch = payloads()
        for index in range(len(candidates(sys.executable, 0, model_dir))):
            name, command, needs = candidates(sys.executable, free_port(), model_dir)[index]
            if importlib.util.find_spec(needs) is None:
                print(f"{name}: skipped ({needs} is not installed)")
                continue
            measure(name, command, model_dir, [small, batch], args)
    return 0


def measure(
    name: str, command: list[str], model_dir: Path, cases: list[Payload], args: Any
) -> None:
    port = int(command[command.index("--port") + 1])
    env = {**os.environ, "BENCH_MODEL_DIR": str(model_dir), "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(600):
            if ping(port, timeout=2)[0] == 200:
                break
            time.sleep(0.1)
        time.sleep(2)  # every worker up
        run_wrk(port, cases[0], 8, argparse.Namespace(**{**vars(args), "duration": 1}))  # warm-up
        if ping(port, timeout=2)[0] != 200 or proc.poll() is not None:
            print(f"{name}: did not start")
            return
        figures = [run_wrk(port, cases[0], clients, args) for clients in CLIENTS]
        rates = " / ".join(f"{r.rps:,.0f}" for r in figures)
        failed = sum(r.non_2xx + r.socket_errors for r in figures)
        print(f"{name}: req/s at {CLIENTS}: {rates}; p99 at 1 client {figures[0].p99_ms:.1f} ms; "
              f"{failed} failed")  # fmt: skip
        for case in cases:
            _, probes = probed_overload(port, case, args)
            times = sorted(ms for _, ms in probes) or [float("nan")]
            print(f"  /ping during {OVERLOAD_CLIENTS} clients, {case.name}: median "
                  f"{statistics.median(times):.0f} ms, slowest {times[-1]:.0f} ms")  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(timeout=60)


if __name__ == "__main__":
    sys.exit(main())
