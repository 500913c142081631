"""The HTTP server: SageMaker's container contract on the standard library.

``GET /ping`` answers 200 once the model is loaded and 503 before that or after a failed load;
``POST /invocations`` turns JSON or CSV instances into ``{"predictions": [...]}``. Every other
path is 404. Every response body is JSON.

:func:`make_server` binds the socket first and loads the model in a background thread, so the
container answers ``/ping`` (with 503) while a large model is still loading.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from .model import LoadedModel, ModelLoadError, load_model
from .payload import MAX_PAYLOAD_BYTES, PayloadError, accepts_json, decode_instances
from .payload import predictions_to_json as to_json

logger = logging.getLogger(__name__)

Status = Literal["loading", "ready", "failed"]

_DRAIN_LIMIT = 4 * MAX_PAYLOAD_BYTES
"""An oversized body up to this size is read and discarded so the 413 reaches the client
intact; a larger one is not read and the connection is closed instead."""
_CHUNK = 64 * 1024
_ROUTES = {"/ping": "GET", "/invocations": "POST"}


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


class InferenceServer(ThreadingHTTPServer):
    """A threading HTTP server that carries the :class:`ModelState` its handlers use."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: ModelState) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.state = state
        super().__init__(address, InferenceHandler)

    @property
    def port(self) -> int:
        """The bound port (the real one when constructed with port 0)."""
        return int(self.server_address[1])

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Log a failed connection in one line instead of printing a traceback."""
        logger.warning("connection from %s failed", client_address[0], exc_info=True)


class InferenceHandler(BaseHTTPRequestHandler):
    """One HTTP/1.1 keep-alive connection to the inference server."""

    server: InferenceServer
    protocol_version = "HTTP/1.1"
    server_version = "mlops-serving"
    timeout = 60
    """Seconds a connection may sit idle (or stall mid-request) before it is closed."""

    def do_GET(self) -> None:
        """``GET /ping``."""
        if self._route("GET") == "/ping":
            self._ping()

    def do_POST(self) -> None:
        """``POST /invocations``."""
        if self._route("POST") == "/invocations":
            self._invocations()

    def do_PUT(self) -> None:
        """Not supported on any path: 404 or 405."""
        self._route("PUT")

    def do_DELETE(self) -> None:
        """Not supported on any path: 404 or 405."""
        self._route("DELETE")

    def handle_expect_100(self) -> bool:
        """Refuse an oversized body before the client sends it (``Expect: 100-continue``)."""
        length = self._content_length()
        if length is not None and length > MAX_PAYLOAD_BYTES:
            self._send_json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, _too_large(), close=True)
            return False
        return super().handle_expect_100()

    def _route(self, method: str) -> str | None:
        """The path when ``method`` is allowed on it; otherwise answer 404/405 and return None."""
        path = urlsplit(self.path).path
        allowed = _ROUTES.get(path)
        if allowed == method:
            return path
        close = not self._skip_body()
        if allowed is None:
            message = f"No such path {path!r}; use GET /ping or POST /invocations."
            self._error(HTTPStatus.NOT_FOUND, message, close=close)
        else:
            body = {"error": f"{path} accepts {allowed} only."}
            self._send_json(HTTPStatus.METHOD_NOT_ALLOWED, body, {"Allow": allowed}, close=close)
        return None

    def _ping(self) -> None:
        close = not self._skip_body()
        status, _, error = self.server.state.snapshot()
        if status == "ready":
            self._send_json(HTTPStatus.OK, {"status": status}, close=close)
        else:
            body = {"status": status} | ({"error": error} if error else {})
            self._send_json(HTTPStatus.SERVICE_UNAVAILABLE, body, close=close)

    def _invocations(self) -> None:
        body = self._read_body()
        if body is None:
            return
        if not accepts_json(self.headers.get("Accept")):
            self._error(HTTPStatus.NOT_ACCEPTABLE, "Responses are application/json only.")
            return
        status, model, error = self.server.state.snapshot()
        if model is None:
            reason = "is still loading" if status == "loading" else f"failed to load: {error}"
            self._error(HTTPStatus.SERVICE_UNAVAILABLE, f"The model {reason}.")
            return
        try:
            instances = decode_instances(body, self.headers.get("Content-Type"), model.n_features)
        except PayloadError as exc:
            self._error(HTTPStatus(exc.status), exc.message)
            return
        try:
            predictions = to_json(model.predict(instances))
        except Exception:
            logger.exception("prediction failed for %d instance(s)", len(instances))
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, "The model failed to predict.")
            return
        self._send_json(HTTPStatus.OK, {"predictions": predictions})

    def _read_body(self) -> bytes | None:
        """The request body, or None after answering 400/411/413 for an unusable one."""
        if "Transfer-Encoding" in self.headers or "Content-Length" not in self.headers:
            self._error(HTTPStatus.LENGTH_REQUIRED, "Send a Content-Length.", close=True)
            return None
        length = self._content_length()
        if length is None:
            self._error(HTTPStatus.BAD_REQUEST, "Content-Length must be a number.", close=True)
            return None
        if length > MAX_PAYLOAD_BYTES:
            close = not self._skip_body()
            self._send_json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, _too_large(), close=close)
            return None
        body = self.rfile.read(length)
        if len(body) != length:
            self.close_connection = True
            return None
        return body

    def _content_length(self) -> int | None:
        """The ``Content-Length`` (0 when absent), or None when it is not a number."""
        raw = self.headers.get("Content-Length", "0").strip()
        return int(raw) if raw.isascii() and raw.isdigit() else None

    def _skip_body(self) -> bool:
        """Read and drop a body this handler will not use; True if the connection stays usable.

        Bodies over ``_DRAIN_LIMIT``, chunked bodies and clients that stop sending are not
        drained; the response then closes the connection.
        """
        length = self._content_length()
        if "Transfer-Encoding" in self.headers or length is None or length > _DRAIN_LIMIT:
            return False
        while length > 0:
            chunk = self.rfile.read(min(_CHUNK, length))
            if not chunk:
                return False
            length -= len(chunk)
        return True

    def _error(self, status: HTTPStatus, message: str, *, close: bool = False) -> None:
        self._send_json(status, {"error": message}, close=close)

    def _send_json(
        self,
        status: HTTPStatus,
        payload: dict[str, Any],
        headers: dict[str, str] | None = None,
        *,
        close: bool = False,
    ) -> None:
        body = json.dumps(payload, allow_nan=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if close:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors the standard library raises itself (bad request line, 501, ...) as JSON too."""
        status = HTTPStatus(code)
        self._error(status, message or status.phrase, close=True)

    def version_string(self) -> str:
        """The ``Server`` header, without the Python version."""
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        """One access-log line per request, through :mod:`logging` (no payloads)."""
        logger.info("%s %s", self.address_string(), format % args)


def _too_large() -> dict[str, str]:
    return {"error": f"The request body exceeds the {MAX_PAYLOAD_BYTES // (1024 * 1024)} MB limit."}


def make_server(
    model_dir: str | os.PathLike[str],
    host: str = "0.0.0.0",
    port: int = 8080,
    *,
    load: bool = True,
) -> tuple[InferenceServer, ModelState]:
    """Bind an inference server for ``model_dir`` on ``host:port`` (port 0: any free port).

    With ``load=True`` the model starts loading in a background thread once the socket is
    bound; with ``load=False`` it stays ``loading`` until the caller runs ``state.load()``.
    The caller runs ``server.serve_forever()`` and later ``server.shutdown()`` and
    ``server.server_close()``.
    """
    state = ModelState(model_dir)
    server = InferenceServer((host, port), state)
    if load:
        state.load_in_background()
    return server, state
