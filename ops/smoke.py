"""Smoke-test a SageMaker endpoint: N real invocations, every one must answer JSON, p95 in budget.

Latency is measured with an injected clock around the call and the read of the response body, so
tests are deterministic and the numbers include what a client actually waits for.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from mlops_platform.ops.aws import error_code, error_message


@dataclass(frozen=True)
class SmokeResult:
    """How a smoke test ended."""

    ok: bool
    """True when every invocation succeeded and p95 is within budget."""
    message: str
    """One line for humans: the summary on success, the first problem otherwise."""
    latencies_ms: tuple[float, ...] = field(default=())
    """Latency of every successful invocation, in call order."""

    @property
    def p50_ms(self) -> float:
        """Median latency (nearest rank)."""
        return percentile(self.latencies_ms, 50)

    @property
    def p95_ms(self) -> float:
        """95th-percentile latency (nearest rank)."""
        return percentile(self.latencies_ms, 95)

    @property
    def max_ms(self) -> float:
        """Slowest invocation."""
        return max(self.latencies_ms, default=math.nan)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile of ``values`` by the nearest-rank method (NaN when empty).

    Nearest rank always returns an observed value: with 20 samples p95 is the 19th slowest.
    """
    if not 0 < q <= 100:
        raise ValueError(f"q: must be in (0, 100], got {q!r}")
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = math.ceil(q / 100 * len(ordered))
    return ordered[rank - 1]


def target(endpoint: str, variant: str | None = None) -> str:
    """``endpoint 'name'``, with `` variant 'v'`` when the calls are routed to one variant."""
    return f"endpoint '{endpoint}'" + (f" variant '{variant}'" if variant is not None else "")


def summary(endpoint: str, latencies_ms: Sequence[float], *, variant: str | None = None) -> str:
    """``count, p50, p95, max`` of a run, on one line."""
    return (
        f"{target(endpoint, variant)}: {len(latencies_ms)} invocations, "
        f"p50 {percentile(latencies_ms, 50):.1f} ms, p95 {percentile(latencies_ms, 95):.1f} ms, "
        f"max {max(latencies_ms):.1f} ms"
    )


def describe_invoke_error(error: ClientError) -> str:
    """One line for a failed InvokeEndpoint; a ModelError names the container's own status."""
    text = f"{error_code(error)}: {error_message(error)}"
    original = error.response.get("OriginalStatusCode")
    if original is not None:
        text += f" (model returned HTTP {original})"
    return text


def check_response(response: dict[str, Any], body: bytes) -> str | None:
    """Why an InvokeEndpoint response is not a good answer, or None when it is."""
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", 200)
    if not 200 <= status < 300:
        return f"HTTP {status}"
    try:
        json.loads(body)
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError
        return f"response body is not JSON ({error}): {body[:80]!r}"
    return None


def smoke_test(
    runtime_client: Any,
    endpoint: str,
    payload: bytes,
    *,
    content_type: str,
    count: int,
    max_p95_ms: float | None,
    clock: Callable[[], float] = time.perf_counter,
    variant: str | None = None,
) -> SmokeResult:
    """Invoke ``endpoint`` ``count`` times with ``payload``; stop at the first bad answer.

    ``runtime_client`` is a boto3 ``sagemaker-runtime`` client. Fails on any ClientError
    (ModelError included), a non-2xx status or a body that is not JSON, and when the p95 latency
    exceeds ``max_p95_ms`` (no budget when None). ``clock`` returns seconds. ``variant`` routes
    every invocation to that production variant (InvokeEndpoint ``TargetVariant``) instead of
    by the variants' weights.
    """
    if count < 1:
        raise ValueError(f"count: must be at least 1, got {count!r}")
    routing = {"TargetVariant": variant} if variant is not None else {}
    where = target(endpoint, variant)
    latencies: list[float] = []
    for n in range(1, count + 1):
        started = clock()
        try:
            response = runtime_client.invoke_endpoint(
                EndpointName=endpoint,
                Body=payload,
                ContentType=content_type,
                Accept="application/json",
                **routing,
            )
            body = response["Body"].read()
        except ClientError as error:
            return SmokeResult(
                ok=False,
                message=f"invocation {n}/{count} of {where} failed: {describe_invoke_error(error)}",
                latencies_ms=tuple(latencies),
            )
        latency_ms = (clock() - started) * 1000
        problem = check_response(response, body)
        if problem is not None:
            return SmokeResult(
                ok=False,
                message=f"invocation {n}/{count} of {where} failed: {problem}",
                latencies_ms=tuple(latencies),
            )
        latencies.append(latency_ms)

    line = summary(endpoint, latencies, variant=variant)
    p95 = percentile(latencies, 95)
    if max_p95_ms is not None and p95 > max_p95_ms:
        return SmokeResult(
            ok=False,
            message=f"p95 latency {p95:.1f} ms exceeds budget {max_p95_ms:g} ms ({line})",
            latencies_ms=tuple(latencies),
        )
    return SmokeResult(ok=True, message=f"smoke ok: {line}", latencies_ms=tuple(latencies))
