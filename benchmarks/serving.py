"""The model server (serving/) on loopback, under a real load generator (wrk), beside its floor.

``python -m benchmarks.serving`` (or ``make bench-serving``) trains the demo model, starts
``python -m serving serve`` on 127.0.0.1 with its default workers (one per vCPU) and prints:

- decoding: a 1,000-row JSON batch through the server's decoder beside ``json.loads`` plus
  ``numpy.asarray`` of the same body, as a ratio (target: at most 1.2x);
- throughput and latency at 1, 8 and 64 keep-alive clients for a small JSON, a small CSV and a
  1,000-row JSON batch: requests per second, p50 and p99, beside the physical limit, which is the
  number of cores divided by the model's in-process predict time for that payload (measured just
  before each run, so both figures see the same machine), and the ratio of the two;
- overload: 256 clients for a small and a 1,000-row payload while a probe opens a new connection
  to ``/ping`` every 50 ms (as a health checker does): successful requests per second, 503s
  (the per-worker admission limit), and the probe's p50, p99 and slowest answer.

Everything is bounded: ``--duration`` seconds per wrk run (default 5; 11 runs, about a minute in
all). wrk is Debian's (``apt-get install -y wrk``; ``make bench-serving`` installs it when
missing). Traffic goes to 127.0.0.1 only. On a shared machine, read the ratios, and repeat.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CLIENTS = (1, 8, 64)
OVERLOAD_CLIENTS = 256
PROBE_INTERVAL = 0.05
LIMIT_SECONDS = 0.5
BATCH_ROWS = 1000
WRK_SCRIPT = """\
-- POST the file named by $BENCH_BODY with Content-Type $BENCH_TYPE on every request.
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = os.getenv("BENCH_TYPE")
"""
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


@dataclass(frozen=True)
class Payload:
    name: str
    content_type: str
    body: bytes
    rows: list[list[float]]


@dataclass(frozen=True)
class WrkResult:
    """What one wrk run reports (latencies in milliseconds)."""

    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int


def parse_wrk(output: str) -> WrkResult:
    """The figures of ``wrk --latency`` output; ValueError when a figure is missing."""

    def latency(percent: str) -> float:
        match = re.search(rf"^\s*{percent}%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M)
        if not match:
            raise ValueError(f"no {percent}% latency in wrk output:\n{output}")
        return float(match.group(1)) * _UNITS[match.group(2)]

    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    total = re.search(r"^\s*(\d+) requests in ", output, re.M)
    if not rps or not total:
        raise ValueError(f"no request rate in wrk output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return WrkResult(
        rps=float(rps.group(1)),
        p50_ms=latency("50"),
        p99_ms=latency("99"),
        requests=int(total.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
    )


def wrk_command(url: str, clients: int, duration: float, script: Path, threads: int) -> list[str]:
    """wrk's argv: ``clients`` keep-alive connections for ``duration`` seconds."""
    return [
        "wrk",
        f"--threads={max(1, min(threads, clients))}",
        f"--connections={clients}",
        f"--duration={max(1, round(duration))}s",
        "--timeout=10s",
        "--latency",
        f"--script={script}",
        url,
    ]


def payloads() -> list[Payload]:
    """Small JSON, small CSV and a 1,000-row JSON batch of iris rows."""
    import numpy as np
    from sklearn.datasets import load_iris

    iris = np.asarray(load_iris().data, dtype=np.float64)
    one = iris[:1].tolist()
    batch = np.resize(iris, (BATCH_ROWS, iris.shape[1])).tolist()
    return [
        Payload("small JSON", "application/json", json.dumps({"instances": one}).encode(), one),
        Payload("small CSV", "text/csv", b"".join(_csv_line(r) for r in one), one),
        Payload(
            f"{BATCH_ROWS:,}-row JSON",
            "application/json",
            json.dumps({"instances": batch}).encode(),
            batch,
        ),
    ]


def _csv_line(row: list[float]) -> bytes:
    return (",".join(repr(v) for v in row) + "\n").encode()


def median_seconds(fn: Callable[[], object], budget: float = 0.3, floor: int = 20) -> float:
    """Median wall time of ``fn`` over about ``budget`` seconds (at least ``floor`` calls)."""
    fn()
    times: list[float] = []
    end = time.perf_counter() + budget
    while len(times) < floor or time.perf_counter() < end:
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


_MODEL: Any = None


def _load_model(model_dir: str) -> None:
    global _MODEL  # noqa: PLW0603 - one model per pool process
    from serving.model import load_model

    _MODEL = load_model(model_dir)


def _predicts_until(rows: list[list[float]], start: float, seconds: float) -> int:
    """In a pool process: predicts of ``rows`` completed from ``start`` for ``seconds``."""
    import numpy as np

    instances = np.asarray(rows, dtype=np.float64)
    _MODEL.predict(instances)
    while time.monotonic() < start:
        time.sleep(0.001)
    count, end = 0, start + seconds
    while time.monotonic() < end:
        _MODEL.predict(instances)
        count += 1
    return count


def physical_limit(pool: ProcessPoolExecutor, cores: int, rows: list[list[float]]) -> float:
    """Predictions per second with one process per core predicting ``rows`` at once for
    ``LIMIT_SECONDS``: the model's in-process predict time times the number of cores, measured
    on the machine as it is just then (on a shared machine both figures get the same share)."""
    start = time.monotonic() + 0.1
    counts = [pool.submit(_predicts_until, rows, start, LIMIT_SECONDS) for _ in range(cores)]
    return sum(f.result() for f in counts) / LIMIT_SECONDS


def decode_figures(model_n_features: int, batch: Payload) -> tuple[float, float]:
    """Seconds per decode of ``batch``: the server's decoder and json.loads + numpy.asarray,
    alternated call by call so both see the same machine."""
    import numpy as np

    from serving.payload import decode_instances

    def ours() -> object:
        return decode_instances(batch.body, batch.content_type, model_n_features)

    def floor() -> object:
        return np.asarray(json.loads(batch.body)["instances"], dtype=np.float64)

    pairs = [(median_seconds(ours, 0.05, 10), median_seconds(floor, 0.05, 10)) for _ in range(15)]
    return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_server(model_dir: Path, serving_parent: Path, log: Path) -> Iterator[tuple[int, int]]:
    """``python -m serving serve`` on 127.0.0.1; yields (port, workers) once every worker has
    loaded the model. ``serving_parent`` is the directory holding the ``serving`` package."""
    port = free_port()
    argv = [sys.executable, "-m", "serving", "serve", "--host", "127.0.0.1", "--port", str(port)]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    with log.open("w") as err:
        proc = subprocess.Popen(
            [*argv, "--model-dir", str(model_dir)],
            cwd=serving_parent,
            env={**env, "PYTHONDONTWRITEBYTECODE": "1"},
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        workers = 1
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            text = log.read_text()
            if match := re.search(r"(\d+) worker\(s\)", text):
                workers = int(match.group(1))
            if text.count("model loaded from") >= workers and ping(port)[0] == 200:
                break
            if proc.poll() is not None:
                raise SystemExit(f"the server exited ({proc.returncode}):\n{text}")
            time.sleep(0.2)
        else:
            raise SystemExit(f"the server did not get ready in 120 s:\n{log.read_text()}")
        yield port, workers
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


def ping(port: int, timeout: float = 30) -> tuple[int, float]:
    """(status, milliseconds) of ``GET /ping`` on a new connection; status 0 when it failed."""
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/ping")
        response = conn.getresponse()
        response.read()
        status = response.status
    except OSError:
        status = 0
    finally:
        conn.close()
    return status, (time.perf_counter() - start) * 1000


def run_wrk(port: int, payload: Payload, clients: int, args: argparse.Namespace) -> WrkResult:
    script = args.workdir / "post.lua"
    body = args.workdir / ("body-" + re.sub(r"\W+", "-", payload.name))
    body.write_bytes(payload.body)
    url = f"http://127.0.0.1:{port}/invocations"
    env = {**os.environ, "BENCH_BODY": str(body), "BENCH_TYPE": payload.content_type}
    argv = wrk_command(url, clients, args.duration, script, os.cpu_count() or 1)
    result = subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=args.duration + 60, check=True
    )
    return parse_wrk(result.stdout)


def row(*cells: object, widths: tuple[int, ...] = (16, 8, 10, 10, 10, 12, 8, 10)) -> None:
    print("  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in
                    enumerate(zip(cells, widths, strict=False))))  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serving", description=__doc__)
    parser.add_argument("--duration", type=float, default=5, help="seconds per wrk run")
    parser.add_argument(
        "--serving-dir",
        type=Path,
        default=ROOT / "serving",
        help="the serving package to run (default: this checkout's), e.g. an older release's",
    )
    parser.add_argument("--no-overload", action="store_true", help="skip the 256-client runs")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("error: wrk not found; install it with `apt-get install -y wrk`", file=sys.stderr)
        return 2
    sys.path.insert(0, str(args.serving_dir.resolve().parent))  # `serving` as the image runs it
    from serving.demo_model import train_demo_model
    from serving.model import load_model

    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        args.workdir = Path(tmp)
        (args.workdir / "post.lua").write_text(WRK_SCRIPT)
        model_dir = train_demo_model(args.workdir / "model")
        n_features = load_model(model_dir).n_features or 4
        cases = payloads()
        ours, floor = decode_figures(n_features, cases[2])
        print(f"serving benchmark: {cores} cores, wrk, {args.duration:g} s per run, 127.0.0.1")
        print(
            f"decode {BATCH_ROWS:,}-row JSON: {ours * 1e6:.0f} us vs json.loads + numpy "
            f"{floor * 1e6:.0f} us = {ours / floor:.2f}x (target: at most 1.20x)"
        )
        log = args.workdir / "server.log"
        pool = ProcessPoolExecutor(
            cores,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_load_model,
            initargs=(str(model_dir),),
        )
        serving_parent = args.serving_dir.resolve().parent
        with pool, running_server(model_dir, serving_parent, log) as (port, workers):
            print(f"server: {args.serving_dir} ({workers} worker(s))\n")
            row(
                "payload", "clients", "req/s", "p50 ms", "p99 ms", "limit req/s", "ratio", "non-2xx"
            )
            for case in cases:
                for clients in CLIENTS:
                    limit = physical_limit(pool, cores, case.rows)
                    r = run_wrk(port, case, clients, args)
                    failed = r.non_2xx + r.socket_errors
                    row(case.name, clients, f"{r.rps:.0f}", f"{r.p50_ms:.2f}", f"{r.p99_ms:.2f}",
                        f"{limit:.0f}", f"{r.rps / limit:.0%}", failed)  # fmt: skip
            if not args.no_overload:
                overload(port, [cases[0], cases[2]], args)
    return 0


def _probe(port: int, stop: threading.Event, probes: list[tuple[int, float]]) -> None:
    while not stop.wait(PROBE_INTERVAL):
        probes.append(ping(port))


def probed_overload(
    port: int, case: Payload, args: argparse.Namespace
) -> tuple[WrkResult, list[tuple[int, float]]]:
    """256 clients sending ``case`` while /ping is probed on a new connection every 50 ms:
    wrk's figures and the probes' (status, milliseconds)."""
    probes: list[tuple[int, float]] = []
    stop = threading.Event()
    thread = threading.Thread(target=_probe, args=(port, stop, probes), daemon=True)
    thread.start()
    try:
        result = run_wrk(port, case, OVERLOAD_CLIENTS, args)
    finally:
        stop.set()
        thread.join(timeout=60)
    return result, probes


def overload(port: int, cases: list[Payload], args: argparse.Namespace) -> None:
    """256 clients per payload, with a new-connection /ping probe every 50 ms."""
    print(f"\noverload: {OVERLOAD_CLIENTS} clients; /ping probed on a new connection every 50 ms")
    widths = (16, 10, 10, 8, 10, 10, 10, 10)
    row("payload", "2xx req/s", "503s", "p99 ms", "ping p50", "ping p99", "ping max", "ping fail",
        widths=widths)  # fmt: skip
    for case in cases:
        r, probes = probed_overload(port, case, args)
        times = sorted(ms for _, ms in probes) or [float("nan")]
        failed = sum(1 for status, _ in probes if status != 200)
        ok_rps = r.rps * (1 - r.non_2xx / r.requests) if r.requests else 0.0
        p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
        row(case.name, f"{ok_rps:.0f}", r.non_2xx, f"{r.p99_ms:.0f}",
            f"{statistics.median(times):.1f}", f"{p99:.1f}", f"{times[-1]:.1f}",
            f"{failed}/{len(probes)}", widths=widths)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
