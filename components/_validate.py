"""Validation helpers shared by every ``<Noun>Args`` dataclass.

Each check raises :class:`ArgsError`, a ``ValueError`` that carries the field name, the bad value
and a description of what is allowed, so that ``infra.settings`` can translate it into a
``ConfigError`` naming the stack config key instead of the Python field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Annotated, Any

import pulumi
from pydantic import Field

from mlops_platform.components._schema import Allowed, ArgsError, Matches, between

__all__ = ["ArgsError", "between"]

ACCOUNT_ID = re.compile(r"^\d{12}$")
IAM_PRINCIPAL_ARN = re.compile(
    r"^arn:aws(?:-cn|-us-gov|-iso|-iso-b)?:iam::\d{12}:(?:root|(?:role|user)/[\w+=,.@/-]{1,512})$"
)
IAM_POLICY_ARN = re.compile(r"^arn:aws(?:-cn|-us-gov|-iso|-iso-b)?:iam::(?:\d{12}|aws):policy/.+$")
# A key ARN, not an alias ARN: the ARN is also used as the Resource of IAM statements, which
# never match an alias.
KMS_KEY_ARN = re.compile(r"^arn:aws(?:-cn|-us-gov|-iso|-iso-b)?:kms:[a-z0-9-]+:\d{12}:key/[\w-]+$")
SERVICE_PRINCIPAL = re.compile(r"^[a-z0-9][a-z0-9.-]*\.amazonaws\.com(?:\.cn)?$")
# S3 object keys may hold almost anything; a DVC/artifact prefix should be a plain path.
KEY_PREFIX = re.compile(r"^[A-Za-z0-9!_.*'()-]+(?:/[A-Za-z0-9!_.*'()-]+)*$")
IAM_PATH = re.compile(r"^/(?:[A-Za-z0-9+=,.@_-]+/)*$")
# A Helm chart version (SemVer, optionally with a pre-release suffix).
CHART_VERSION = re.compile(r"^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$")
# Kubernetes resource quantities as the components take them (requests and limits).
CPU_QUANTITY = re.compile(r"^(?:\d+m|\d+(?:\.\d{1,3})?)$")
MEMORY_QUANTITY = re.compile(r"^\d+(?:Ki|Mi|Gi|Ti)$")

# --- declarations shared by the Args dataclasses (see components/_schema.py) ---------------------

KMS_KEY = Matches(KMS_KEY_ARN, "a KMS key ARN")
IAM_PATH_NAME = Matches(IAM_PATH, "an IAM path such as / or /mlops-platform/")
POLICY_ARN = Matches(IAM_POLICY_ARN, "an IAM managed policy ARN")
# AWS tag limits: keys 1-128 characters, values up to 256, no ``aws:`` prefix.
TagKey = Annotated[
    str,
    Matches(re.compile(r"^(?![aA][wW][sS]:)[\w .:/=+@-]{1,128}$"), "a tag key"),
    Allowed("tag keys are 1-128 characters and must not start with 'aws:'"),
]
TagValue = Annotated[
    str, Field(max_length=256), Allowed("tag values are strings of at most 256 characters")
]
Tags = Annotated[Mapping[TagKey, TagValue], Allowed("expected a map of tag keys to string values")]
"""Tags of a component's children, merged over the provider's default tags."""


def is_known(value: Any) -> bool:
    """True for plain values; Pulumi Outputs are only known at deployment time."""
    return not isinstance(value, pulumi.Output)


def check_choice(field: str, value: Any, choices: Iterable[Any]) -> None:
    choices = tuple(choices)
    if isinstance(value, bool) or value not in choices:
        raise ArgsError(field, value, f"expected one of {', '.join(map(str, choices))}")


def check_force_delete(field: str, force: bool, protect: bool, what: str) -> None:
    """``force_*`` (delete a non-empty bucket/repository) contradicts ``protect`` (retain it)."""
    if force and protect:
        raise ArgsError(
            field, force, f"{field}=True needs protect=False (a protected {what} is retained)"
        )
