"""The model registry: which model package of a group is the one to deploy.

Used by CI (``python -m ops latest-approved``) and by the Pulumi program at program time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mlops_platform.ops.aws import make_client

APPROVED = "Approved"


def newest_package(summaries: Iterable[Mapping[str, Any]]) -> str | None:
    """The ARN of the newest model package summary (by CreationTime, then version), or None.

    Ties on CreationTime (packages registered within the same clock tick) are broken by
    ModelPackageVersion, which the registry increments for every package of a group.
    """
    best: Mapping[str, Any] | None = None
    for summary in summaries:
        if best is None or _recency(summary) > _recency(best):
            best = summary
    return None if best is None else str(best["ModelPackageArn"])


def _recency(summary: Mapping[str, Any]) -> tuple[Any, int]:
    return summary["CreationTime"], int(summary.get("ModelPackageVersion") or 0)


def approved_summaries(client: Any, group: str) -> Iterable[Mapping[str, Any]]:
    """Every Approved model package summary of ``group``, across all pages, newest first."""
    paginator = client.get_paginator("list_model_packages")
    pages = paginator.paginate(
        ModelPackageGroupName=group,
        ModelApprovalStatus=APPROVED,
        SortBy="CreationTime",
        SortOrder="Descending",
    )
    for page in pages:
        yield from page.get("ModelPackageSummaryList", [])


def latest_approved_package(
    group: str, *, client: Any = None, region: str | None = None
) -> str | None:
    """The ARN of the newest Approved model package in ``group``; None when none is approved.

    All pages are read: a filtered listing may return empty pages that still carry a NextToken,
    and taking the maximum ourselves does not depend on the service's sort order. ``client`` is
    a boto3 SageMaker client; one is created (in ``region`` if given) when omitted.
    """
    sagemaker = client if client is not None else make_client("sagemaker", region)
    return newest_package(approved_summaries(sagemaker, group))
