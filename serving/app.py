"""The ASGI application: SageMaker's container contract, ``GET /ping`` and ``POST /invocations``.

One instance runs in each worker process (:mod:`serving.server` runs the workers). Our code
here is the routing, the error mapping and the admission of work; HTTP itself is uvicorn's.

Work in a worker is bounded and ordered so that health checks stay answerable under overload:

- at most ``max_concurrency`` invocations are admitted at a time; the next one is answered 503
  at once, before its body is read;
- admitted invocations are predicted one after another, first come first served, by
  :class:`Turns`, in slices of at most ``SLICE_SECONDS`` of the event loop's time. Between two
  slices the event loop handles the I/O that arrived meanwhile, so a ``/ping`` waits for at most
  the slice in progress, never for the queue behind it.

The payload limit is checked on ``Content-Length`` before any of the body is read.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from .payload import MAX_PAYLOAD_BYTES, PayloadError, accepts_json, decode_instances, encode_json
from .payload import predictions_to_json as to_json

if TYPE_CHECKING:
    from .server import ModelState

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

ROUTES = {"/ping": "GET", "/invocations": "POST"}
DEFAULT_MAX_CONCURRENCY = 128
"""Invocations one worker admits at a time (reading, waiting for its turn, predicting)."""
SLICE_SECONDS = 0.005
"""Predictions run back to back for at most this long before the event loop polls again."""
DEFAULT_BODY_TIMEOUT = 60.0
"""Seconds a client may take to send a request body."""
DRAIN_LIMIT = 4 * MAX_PAYLOAD_BYTES
"""A refused body up to this size is read and discarded by the server, so the connection stays
open for the next request; past it (or for a chunked body) the connection is closed instead."""
_JSON = [(b"content-type", b"application/json")]


class InferenceApp:
    """The ASGI callable for one worker: routes, error mapping, admission and turns."""

    def __init__(
        self,
        state: ModelState,
        *,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        body_timeout: float = DEFAULT_BODY_TIMEOUT,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
        self.state = state
        self.max_concurrency = max_concurrency
        self.body_timeout = body_timeout
        self.active = 0
        """Invocations admitted and not yet answered."""
        self._turns = Turns()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan (and nothing else: websockets are off)
            return
        headers = Headers(scope["headers"])
        path, method = scope["path"], scope["method"]
        allowed = ROUTES.get(path)
        if allowed != method:
            close = not headers.body_is_drainable()
            if allowed is None:
                message = f"No such path {path!r}; use GET /ping or POST /invocations."
                await respond(send, HTTPStatus.NOT_FOUND, {"error": message}, close=close)
            else:
                body = {"error": f"{path} accepts {allowed} only."}
                await respond(send, HTTPStatus.METHOD_NOT_ALLOWED, body, close=close, allow=allowed)
        elif path == "/ping":
            await self.ping(headers, send)
        else:
            await self.invocations(headers, receive, send)

    async def ping(self, headers: Headers, send: Send) -> None:
        """200 once the model is loaded, else 503 with the status (and the load error)."""
        status, _, error = self.state.snapshot()
        close = not headers.body_is_drainable()
        if status == "ready":
            await respond(send, HTTPStatus.OK, {"status": status}, close=close)
        else:
            body = {"status": status} | ({"error": error} if error else {})
            await respond(send, HTTPStatus.SERVICE_UNAVAILABLE, body, close=close)

    async def invocations(self, headers: Headers, receive: Receive, send: Send) -> None:
        """Check the request, admit it, read the body, then predict in turn."""
        model, refusal = self._admit(headers)
        if refusal is not None:
            status, message = refusal
            close = status in (HTTPStatus.LENGTH_REQUIRED, HTTPStatus.BAD_REQUEST)
            await respond(
                send, status, {"error": message}, close=close or not headers.body_is_drainable()
            )
            return
        self.active += 1
        try:
            body = await self._read_body(headers, receive, send)
            if body is None:
                return
            content_type = headers.get(b"content-type")
            status, payload = await self._turns.run(
                lambda: self._predict(model, body, content_type)
            )
            await respond(send, status, payload)
        finally:
            self.active -= 1

    def _admit(self, headers: Headers) -> tuple[Any, tuple[HTTPStatus, str] | None]:
        """The model to predict with, or why the request is answered without reading its body.

        The checks run in the order of the contract: framing (411, 400), size (413), response
        type (406), model state (503), then capacity (503).
        """
        if b"transfer-encoding" in headers or b"content-length" not in headers:
            return None, (HTTPStatus.LENGTH_REQUIRED, "Send a Content-Length.")
        length = headers.content_length()
        if length is None:
            return None, (HTTPStatus.BAD_REQUEST, "Content-Length must be a number.")
        if length > MAX_PAYLOAD_BYTES:
            return None, (HTTPStatus.REQUEST_ENTITY_TOO_LARGE, too_large_message())
        if not accepts_json(headers.get(b"accept")):
            return None, (HTTPStatus.NOT_ACCEPTABLE, "Responses are application/json only.")
        status, model, error = self.state.snapshot()
        if model is None:
            reason = "is still loading" if status == "loading" else f"failed to load: {error}"
            return None, (HTTPStatus.SERVICE_UNAVAILABLE, f"The model {reason}.")
        if self.active >= self.max_concurrency:
            return None, (
                HTTPStatus.SERVICE_UNAVAILABLE,
                f"The server is at capacity ({self.max_concurrency} in progress in this "
                "worker); retry later.",
            )
        return model, None

    async def _read_body(self, headers: Headers, receive: Receive, send: Send) -> bytes | None:
        """The whole body, or None when the client left or took longer than ``body_timeout``."""
        chunks: list[bytes] = []
        try:
            async with asyncio.timeout(self.body_timeout):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return None
                    chunks.append(message.get("body", b""))
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            message = f"The request body did not arrive within {self.body_timeout:g} s."
            await respond(send, HTTPStatus.REQUEST_TIMEOUT, {"error": message}, close=True)
            return None
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    @staticmethod
    def _predict(model: Any, body: bytes, content_type: str | None) -> tuple[HTTPStatus, Any]:
        try:
            instances = decode_instances(body, content_type, model.n_features)
        except PayloadError as exc:
            return HTTPStatus(exc.status), {"error": exc.message}
        try:
            return HTTPStatus.OK, {"predictions": to_json(model.predict(instances))}
        except Exception:
            logger.exception("prediction failed for %d instance(s)", len(instances))
            return HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "The model failed to predict."}


class Turns:
    """Runs the jobs of one event loop one after another, in arrival order, in time slices.

    A job waits in a queue; one drain task runs the queued jobs back to back for up to
    ``slice_seconds`` (at least one job), then yields to the event loop for one pass, and so on
    until the queue is empty. A request that arrives meanwhile (a ``/ping``) is handled in that
    pass: it never waits for more than one slice, however long the queue.
    """

    def __init__(self, slice_seconds: float = SLICE_SECONDS) -> None:
        self.slice_seconds = slice_seconds
        self._queue: deque[tuple[Callable[[], Any], asyncio.Future[Any]]] = deque()
        self._draining = False
        self._drainer: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._queue)

    async def run(self, job: Callable[[], Any]) -> Any:
        """``job()``'s result once its turn has come (its exception, if it raised)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append((job, future))
        if not self._draining:
            self._draining = True
            self._drainer = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                await asyncio.sleep(0)  # one pass of the event loop: new requests, a /ping
                deadline = time.perf_counter() + self.slice_seconds
                while self._queue:
                    job, future = self._queue.popleft()
                    if not future.done():  # not cancelled (a client that left)
                        try:
                            future.set_result(job())
                        except Exception as exc:
                            future.set_exception(exc)
                    if time.perf_counter() >= deadline:
                        break
        finally:
            self._draining = False


class Headers:
    """The request headers of an ASGI scope (lower-case names), looked up by name."""

    __slots__ = ("_headers",)

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self._headers = dict(raw)

    def __contains__(self, name: bytes) -> bool:
        return name in self._headers

    def get(self, name: bytes) -> str | None:
        value = self._headers.get(name)
        return None if value is None else value.decode("latin-1")

    def content_length(self) -> int | None:
        """The ``Content-Length`` (0 when absent), or None when it is not a number."""
        raw = self._headers.get(b"content-length", b"0").strip()
        return int(raw) if raw.isdigit() else None

    def body_is_drainable(self) -> bool:
        """Whether a body this request carries can be left unread on a kept-alive connection.

        The server discards the unread body of an answered request. That is refused for chunked
        bodies, unreadable lengths, bodies over :data:`DRAIN_LIMIT`, and clients that wait for
        ``100 Continue`` before sending (they never send it: the connection is closed instead).
        """
        if b"transfer-encoding" in self._headers:
            return False
        length = self.content_length()
        if length is None or length > DRAIN_LIMIT:
            return False
        expect = self._headers.get(b"expect", b"").lower()
        return length == 0 or expect != b"100-continue"


def too_large_message() -> str:
    return f"The request body exceeds the {MAX_PAYLOAD_BYTES // (1024 * 1024)} MB limit."


async def respond(
    send: Send,
    status: HTTPStatus,
    payload: Any,
    *,
    close: bool = False,
    allow: str | None = None,
) -> None:
    """Send ``payload`` as a JSON response; ``close`` ends the connection after it."""
    body = encode_json(payload)
    headers = [*_JSON, (b"content-length", str(len(body)).encode("ascii"))]
    if allow:
        headers.append((b"allow", allow.encode("ascii")))
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
