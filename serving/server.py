"""The HTTP server: the ASGI application (:mod:`serving.app`) on uvicorn, in gunicorn workers.

- :func:`serve` runs the container's server: a gunicorn master binds the port and keeps
  ``workers`` processes (default: one per vCPU) running uvicorn with the httptools parser on the
  standard asyncio loop; each worker loads the model once, in a background thread, and answers
  ``/ping`` with 503 until it is loaded. A worker stuck for ``timeout`` seconds (a hung predict)
  is killed and replaced, as in SageMaker's own scikit-learn and XGBoost containers.
- :func:`serve_options` reads ``SAGEMAKER_MODEL_SERVER_WORKERS``,
  ``SAGEMAKER_MODEL_SERVER_TIMEOUT`` and ``SERVING_MAX_CONCURRENCY`` from the environment.
- :func:`make_server` runs the same application in-process, in one thread, on one socket: for
  tests and for embedding.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import uvicorn
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn_worker import UvicornWorker

from .app import DEFAULT_BODY_TIMEOUT, DEFAULT_MAX_CONCURRENCY, InferenceApp
from .model import LoadedModel, ModelLoadError, load_model
from .options import MAX_CONCURRENCY_ENV, TIMEOUT_ENV, WORKERS_ENV, positive_int
from .payload import encode_json

logger = logging.getLogger(__name__)

Status = Literal["loading", "ready", "failed"]

DEFAULT_TIMEOUT = 60
"""SageMaker's default for ``SAGEMAKER_MODEL_SERVER_TIMEOUT`` (seconds)."""
BACKLOG = 2048
"""Listen backlog (gunicorn's and uvicorn's default; the standard library's was 5)."""
KEEPALIVE = 60
"""Seconds an idle keep-alive connection stays open."""


class ModelState:
    """The model behind the server: ``loading`` until :meth:`load` ends in ``ready``/``failed``.

    Safe to read from request threads while another thread loads.
    """

    def __init__(self, model_dir: str | os.PathLike[str]) -> None:
        self.model_dir = Path(model_dir)
        self._lock = threading.Lock()
        self._settled = threading.Event()
        self._status: Status = "loading"
        self._model: LoadedModel | None = None
        self._error: str | None = None

    def snapshot(self) -> tuple[Status, LoadedModel | None, str | None]:
        """Status, model (when ready) and load error (when failed), read consistently."""
        with self._lock:
            return self._status, self._model, self._error

    @property
    def status(self) -> Status:
        """``loading``, ``ready`` or ``failed``."""
        return self.snapshot()[0]

    def load(self) -> None:
        """Load the model now, in this thread; records ``ready`` or ``failed``, never raises."""
        started = time.monotonic()
        try:
            model = load_model(self.model_dir)
        except Exception as exc:
            error = str(exc) if isinstance(exc, ModelLoadError) else f"{type(exc).__name__}: {exc}"
            logger.error("model in %s failed to load: %s", self.model_dir, error)
            with self._lock:
                self._status, self._error = "failed", error
        else:
            logger.info(
                "model loaded from %s in %.2fs (%s)",
                self.model_dir,
                time.monotonic() - started,
                type(model.estimator).__name__,
            )
            with self._lock:
                self._status, self._model = "ready", model
        finally:
            self._settled.set()

    def load_in_background(self) -> threading.Thread:
        """Start :meth:`load` in a daemon thread and return the thread."""
        thread = threading.Thread(target=self.load, name="model-loader", daemon=True)
        thread.start()
        return thread

    def wait(self, timeout: float) -> bool:
        """Block until loading has ended (either way) or ``timeout`` seconds pass; True if ended."""
        return self._settled.wait(timeout)


@dataclass(frozen=True, kw_only=True)
class ServeOptions:
    """How :func:`serve` runs: where, with which model, and how many workers."""

    model_dir: str
    """Directory holding ``model.joblib`` and ``metadata.json``."""
    host: str = "0.0.0.0"
    """Address to bind; an IPv6 address binds IPv6."""
    port: int = 8080
    """Port to bind; 0 picks a free one (logged once bound)."""
    workers: int = 1
    """Worker processes, each with its own copy of the model."""
    timeout: int = DEFAULT_TIMEOUT
    """Seconds a worker may be unresponsive (a stuck predict) before it is replaced; also the
    time a client has to send a request body."""
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    """Invocations each worker admits at a time; more are answered 503 at once."""


def vcpus() -> int:
    """The vCPUs this process may run on (its CPU affinity, which a cpuset limits)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def serve_options(
    environ: Mapping[str, str], *, model_dir: str, host: str = "0.0.0.0", port: int = 8080
) -> ServeOptions:
    """The options from the environment, as SageMaker's containers read them.

    ``SAGEMAKER_MODEL_SERVER_WORKERS`` defaults to the number of vCPUs and
    ``SAGEMAKER_MODEL_SERVER_TIMEOUT`` to 60 seconds; ``SERVING_MAX_CONCURRENCY`` (ours) to
    :data:`~serving.app.DEFAULT_MAX_CONCURRENCY`. An unset or empty variable takes its default;
    anything but a whole number of at least 1 raises :class:`~serving.options.ConfigError`.
    """
    return ServeOptions(
        model_dir=model_dir,
        host=host,
        port=port,
        workers=positive_int(environ, WORKERS_ENV, vcpus()),
        timeout=positive_int(environ, TIMEOUT_ENV, DEFAULT_TIMEOUT),
        max_concurrency=positive_int(environ, MAX_CONCURRENCY_ENV, DEFAULT_MAX_CONCURRENCY),
    )


# --- HTTP protocol and worker ------------------------------------------------------------------


class JsonErrorsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with TCP_NODELAY on every connection and a JSON 400 for
    unparseable requests.

    asyncio sets TCP_NODELAY only on sockets whose ``proto`` is ``IPPROTO_TCP``, which a socket
    made with ``socket.socket(AF_INET, SOCK_STREAM)`` is not. Without it the response body (a
    second write after the headers) waits for the client's delayed ACK: the 40 ms stall.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)

    def send_400_response(self, msg: str) -> None:
        body = encode_json({"error": "The request is not valid HTTP/1.1."})
        head = [STATUS_LINE[400]]
        for name, value in self.server_state.default_headers:
            head.extend([name, b": ", value, b"\r\n"])
        head.append(
            b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
            % len(body)
        )
        self.transport.write(b"".join(head) + body)
        self.transport.close()


UVICORN_OPTIONS: dict[str, Any] = {
    # The standard asyncio loop, not uvloop: at the start of an overload uvloop held new
    # connections (a /ping) for a second or more (README.md, "Dependencies"); httptools, the
    # parser in C, not h11.
    "loop": "asyncio",
    "http": JsonErrorsProtocol,
    "ws": "none",
    "lifespan": "off",
    "server_header": False,
    "proxy_headers": False,  # SageMaker's front end is the only client; nothing to trust
    "headers": [("server", "mlops-serving")],
}
"""uvicorn settings shared by the gunicorn workers and the in-process server."""


class Worker(UvicornWorker):
    """A gunicorn worker running uvicorn with :data:`UVICORN_OPTIONS`; access lines to stderr."""

    CONFIG_KWARGS = UVICORN_OPTIONS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # gunicorn keeps an access log only when given a file; ours goes where the errors go.
        access = logging.getLogger("uvicorn.access")
        access.handlers = self.log.error_log.handlers
        access.setLevel(logging.INFO)


class _Arbiter(Arbiter):
    """gunicorn's master process, saying which signal stopped it."""

    def handle_term(self) -> None:
        logger.info("received SIGTERM, shutting down")
        super().handle_term()

    def handle_int(self) -> None:
        logger.info("received SIGINT, shutting down")
        super().handle_int()


class GunicornServer(BaseApplication):  # type: ignore[misc]
    """gunicorn, configured from :class:`ServeOptions` (no config file, no GUNICORN_CMD_ARGS)."""

    def __init__(self, options: ServeOptions) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        o = self.options
        host = f"[{o.host}]" if ":" in o.host else o.host
        settings: dict[str, Any] = {
            "bind": [f"{host}:{o.port}"],
            "workers": o.workers,
            "worker_class": Worker,
            "timeout": o.timeout,
            "keepalive": KEEPALIVE,
            "backlog": BACKLOG,
            "proc_name": "serving",
            "errorlog": "-",
            "loglevel": "info",
            "control_socket_disable": True,
            "when_ready": _log_listening,
            "post_fork": _post_fork,
        }
        if Path("/dev/shm").is_dir():  # heartbeat files on tmpfs, as gunicorn advises in Docker
            settings["worker_tmp_dir"] = "/dev/shm"
        for key, value in settings.items():
            self.cfg.set(key, value)

    def load(self) -> InferenceApp:
        """The application of one worker: runs in the worker, after the fork."""
        state = ModelState(self.options.model_dir)
        state.load_in_background()
        return InferenceApp(
            state,
            max_concurrency=self.options.max_concurrency,
            body_timeout=self.options.timeout,
        )

    def run(self) -> None:
        _Arbiter(self).run()


def _log_listening(arbiter: Arbiter) -> None:
    for listener in arbiter.LISTENERS:
        host, port = listener.sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        logger.info(
            "listening on http://%s:%d (model dir %s, %d worker(s), timeout %d s)",
            shown,
            port,
            arbiter.app.options.model_dir,
            arbiter.app.options.workers,
            arbiter.app.options.timeout,
        )


def _post_fork(arbiter: Arbiter, worker: Any) -> None:
    """In each new worker: share the vCPUs between the workers' native thread pools (BLAS,
    OpenMP), and end with the master (in a container the master is PID 1 anyway)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(max(1, vcpus() // arbiter.app.options.workers))
    if sys.platform == "linux":
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def serve(options: ServeOptions) -> int:
    """Run gunicorn until SIGTERM/SIGINT; the exit status (0 after a clean stop)."""
    try:
        GunicornServer(options).run()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0


# --- in-process server -------------------------------------------------------------------------


class InferenceServer:
    """The application on uvicorn in this process: one socket, one event loop, one thread.

    Bound on construction; :meth:`serve_forever` runs it on the calling thread until
    :meth:`shutdown` is called from another, then :meth:`server_close` releases the socket.
    """

    def __init__(
        self,
        address: tuple[str, int],
        state: ModelState,
        *,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        body_timeout: float = DEFAULT_BODY_TIMEOUT,
    ) -> None:
        self.state = state
        self.app = InferenceApp(state, max_concurrency=max_concurrency, body_timeout=body_timeout)
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        try:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.socket.bind(address)
            self.socket.listen(BACKLOG)
        except OSError:
            self.socket.close()
            raise
        config = uvicorn.Config(
            self.app,
            log_config=None,
            timeout_keep_alive=KEEPALIVE,
            timeout_graceful_shutdown=10,
            **UVICORN_OPTIONS,
        )
        self._server = uvicorn.Server(config)
        self._stopped = threading.Event()

    @property
    def port(self) -> int:
        """The bound port (the real one when constructed with port 0)."""
        return int(self.socket.getsockname()[1])

    def serve_forever(self, poll_interval: float = 0.1) -> None:
        """Serve until :meth:`shutdown`; uvicorn checks for it every 0.1 s (``poll_interval`` is
        accepted for :class:`socketserver.BaseServer` compatibility)."""
        self._stopped.clear()
        try:
            asyncio.run(self._server.serve(sockets=[self.socket]))
        finally:
            self._stopped.set()

    def shutdown(self, grace: float = 10.0) -> None:
        """Stop :meth:`serve_forever` and wait for it: requests in progress get ``grace``
        seconds to finish, then their connections are dropped."""
        self._server.should_exit = True
        if not self._stopped.wait(grace):
            self._server.force_exit = True
            self._stopped.wait()

    def server_close(self) -> None:
        """Release the socket."""
        self.socket.close()


def make_server(
    model_dir: str | os.PathLike[str],
    host: str = "0.0.0.0",
    port: int = 8080,
    *,
    load: bool = True,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    body_timeout: float = DEFAULT_BODY_TIMEOUT,
) -> tuple[InferenceServer, ModelState]:
    """Bind an in-process inference server for ``model_dir`` on ``host:port`` (0: any port).

    With ``load=True`` the model starts loading in a background thread once the socket is
    bound; with ``load=False`` it stays ``loading`` until the caller runs ``state.load()``.
    The caller runs ``server.serve_forever()`` and later ``server.shutdown()`` and
    ``server.server_close()``. ``max_concurrency`` and ``body_timeout`` are as in
    :class:`~serving.app.InferenceApp`.
    """
    state = ModelState(model_dir)
    server = InferenceServer(
        (host, port), state, max_concurrency=max_concurrency, body_timeout=body_timeout
    )
    if load:
        state.load_in_background()
    return server, state
