"""Wait for a SageMaker endpoint deployment to settle, and say whether it landed.

A deployment (``UpdateEndpoint``, blue/green with auto-rollback) has landed when the endpoint is
``InService`` on the endpoint config that was deployed. ``InService`` on any other config means
SageMaker rolled the deployment back. The decision for one ``DescribeEndpoint`` response is the
pure function :func:`assess`; :func:`watch_endpoint` polls until it decides or time runs out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from mlops_platform.ops.aws import error_code, error_message, one_line

IN_SERVICE = "InService"
FAILED = "Failed"
UPDATE_ROLLBACK_FAILED = "UpdateRollbackFailed"
DELETING = "Deleting"
TRANSITIONAL = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "OutOfService"})
"""Statuses that keep the watch waiting. OutOfService is documented only as "not available to
take incoming requests", not as final, so it waits (until the timeout) like the others. Statuses
this version does not know also wait, so a new AWS status cannot end a watch early."""


@dataclass(frozen=True)
class WatchResult:
    """How a watch ended."""

    ok: bool
    """True when the endpoint is InService on the expected config."""
    message: str
    """One line for humans: what happened."""
    status: str | None = None
    """The last EndpointStatus seen (None when the endpoint was never described)."""
    config: str | None = None
    """The last EndpointConfigName seen."""


def assess(
    endpoint: str,
    expected_config: str,
    description: dict[str, Any],
) -> WatchResult | None:
    """The verdict on one DescribeEndpoint response, or None to keep waiting."""
    status = description.get("EndpointStatus")
    config = description.get("EndpointConfigName")
    reason = one_line(description.get("FailureReason") or "") or "no FailureReason given"

    def result(ok: bool, message: str) -> WatchResult:
        return WatchResult(ok=ok, message=message, status=status, config=config)

    if status == IN_SERVICE and config == expected_config:
        return result(True, f"endpoint '{endpoint}' is InService on config '{config}'")
    if status == IN_SERVICE:
        return result(
            False,
            f"endpoint '{endpoint}' rolled back to '{config}' "
            f"(expected config '{expected_config}')",
        )
    if status == FAILED:
        return result(False, f"endpoint '{endpoint}' Failed: {reason}")
    if status == UPDATE_ROLLBACK_FAILED:
        return result(False, f"endpoint '{endpoint}' is UpdateRollbackFailed: {reason}")
    if status == DELETING:
        return result(False, f"endpoint '{endpoint}' is being deleted")
    return None


def is_not_found(error: ClientError) -> bool:
    """Whether DescribeEndpoint failed because the endpoint does not exist.

    SageMaker reports a missing endpoint as ValidationException "Could not find endpoint ...".
    """
    return error_code(error) == "ValidationException" and "could not find" in (
        error_message(error).lower()
    )


def watch_endpoint(
    client: Any,
    endpoint: str,
    expected_config: str,
    *,
    timeout: float,
    interval: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    progress: Callable[[str], None] | None = None,
) -> WatchResult:
    """Poll DescribeEndpoint every ``interval`` seconds until :func:`assess` decides.

    Gives up with a failed result once ``timeout`` seconds (by ``clock``) have elapsed, naming the
    last status seen. ``progress`` receives one line whenever the status or config changes.
    A missing endpoint is a failed result; any other AWS error propagates.
    """
    start = clock()
    last: tuple[str | None, str | None] | None = None
    while True:
        try:
            description = client.describe_endpoint(EndpointName=endpoint)
        except ClientError as error:
            if is_not_found(error):
                return WatchResult(ok=False, message=f"endpoint '{endpoint}' not found")
            raise
        status = description.get("EndpointStatus")
        config = description.get("EndpointConfigName")
        elapsed = clock() - start
        if progress is not None and (status, config) != last:
            progress(f"[{elapsed:5.0f}s] endpoint '{endpoint}': {status} on config '{config}'")
        last = (status, config)

        verdict = assess(endpoint, expected_config, description)
        if verdict is not None:
            return verdict
        remaining = timeout - elapsed
        if remaining <= 0:
            return WatchResult(
                ok=False,
                message=(
                    f"timed out after {timeout:g}s waiting for endpoint '{endpoint}': "
                    f"last status {status} on config '{config}'"
                ),
                status=status,
                config=config,
            )
        sleep(min(interval, remaining))
