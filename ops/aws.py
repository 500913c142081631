"""boto3 client creation and one-line rendering of AWS errors.

Clients are plain ``boto3.client(...)`` calls so that the standard AWS environment applies
(credentials, ``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_SAGEMAKER``,
``AWS_MAX_ATTEMPTS``); an explicit region overrides the environment's.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.exceptions import ClientError


def make_client(service: str, region: str | None = None) -> Any:
    """A boto3 client for ``service`` (e.g. ``sagemaker-runtime``), in ``region`` when set."""
    return boto3.client(service, region_name=region)


def one_line(text: str) -> str:
    """``text`` with all whitespace runs (newlines included) collapsed to single spaces."""
    return " ".join(text.split())


def error_code(error: ClientError) -> str:
    """The AWS error code of a ClientError (``ValidationException``, ``ModelError``...)."""
    return str(error.response.get("Error", {}).get("Code", ""))


def error_message(error: ClientError) -> str:
    """The AWS error message of a ClientError, on one line."""
    return one_line(str(error.response.get("Error", {}).get("Message", "")))


def describe_error(error: Exception) -> str:
    """One line describing an AWS/botocore error, for ``error: ...`` output."""
    if isinstance(error, ClientError):
        operation = getattr(error, "operation_name", "") or "AWS call"
        return f"{operation} failed: {error_code(error)}: {error_message(error)}"
    return one_line(str(error)) or type(error).__name__
