"""Register a trained model as a SageMaker model package, with its metrics and revisions.

The metrics travel with the package as ``CustomerMetadataProperties`` (``metric.<name>``), so
that the gate (:mod:`ops.gate`) reads a champion's metrics from the registry alone; the git
revisions of the code and data, and the MLflow run, go alongside (``MetadataProperties.CommitId``,
``data.revision``, ``mlflow.run_id``). A package is ``PendingManualApproval`` unless
``approve`` is set.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlops_platform.ops.gate import METRIC_PREFIX, MetricsError

APPROVED = "Approved"
PENDING = "PendingManualApproval"
CONTENT_TYPES = ("application/json",)
MAX_PROPERTIES = 50  # CustomerMetadataProperties holds at most 50 entries
MODEL_DATA = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/\S+$")
# <registry>/<repository>[:tag][@sha256:digest], as SageMaker takes an image.
IMAGE = re.compile(r"^[\w.-]+(?::\d+)?/[\w./-]+(?::[\w.-]{1,128})?(?:@sha256:[0-9a-f]{64})?$")
# A CustomerMetadataProperties value (SageMaker's pattern): letters, digits, spaces, _.:/=+-@.
PROPERTY_VALUE = re.compile(r"^[\w .:/=+@-]{1,256}$")


@dataclass(frozen=True, kw_only=True)
class Provenance:
    """Where a model came from; every field is optional."""

    code_revision: str | None = None
    """Git commit of the model's repository (``MetadataProperties.CommitId``)."""
    data_revision: str | None = None
    """Git revision whose ``.dvc`` files name the data (``data.revision``)."""
    repository: str | None = None
    """The model's repository URL (``MetadataProperties.Repository``)."""
    generated_by: str | None = None
    """What produced it, e.g. the Argo workflow name (``MetadataProperties.GeneratedBy``)."""
    mlflow_run_id: str | None = None
    """The MLflow run that logged it (``mlflow.run_id``)."""


def format_metric(value: float) -> str:
    """A metric as registry text: integers without a trailing ``.0``, floats as ``repr``."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def package_properties(metrics: Mapping[str, float], provenance: Provenance) -> dict[str, str]:
    """CustomerMetadataProperties of a package: the metrics, the data revision, the run."""
    properties = {f"{METRIC_PREFIX}{name}": format_metric(v) for name, v in metrics.items()}
    if provenance.data_revision:
        properties["data.revision"] = provenance.data_revision
    if provenance.mlflow_run_id:
        properties["mlflow.run_id"] = provenance.mlflow_run_id
    if len(properties) > MAX_PROPERTIES:
        raise MetricsError(
            f"{len(properties)} metadata entries (metrics and revisions); a model package holds "
            f"at most {MAX_PROPERTIES}"
        )
    for key, value in properties.items():
        if not PROPERTY_VALUE.match(value):
            raise MetricsError(f"{key}: {value!r} has characters a model package cannot store")
    return properties


def register_package(
    client: Any,
    *,
    group: str,
    model_data: str,
    image: str,
    metrics: Mapping[str, float],
    approve: bool = False,
    provenance: Provenance | None = None,
    description: str | None = None,
) -> str:
    """Create a model package version in ``group``; return its ARN.

    ``client`` is a boto3 SageMaker client. The group must exist (the platform's
    ``ModelRegistry`` creates one per model): registering never creates groups.
    """
    provenance = provenance or Provenance()
    request: dict[str, Any] = {
        "ModelPackageGroupName": group,
        "ModelPackageDescription": description or f"{group} model",
        "ModelApprovalStatus": APPROVED if approve else PENDING,
        "InferenceSpecification": {
            "Containers": [{"Image": image, "ModelDataUrl": model_data}],
            "SupportedContentTypes": list(CONTENT_TYPES),
            "SupportedResponseMIMETypes": list(CONTENT_TYPES),
        },
        "CustomerMetadataProperties": package_properties(metrics, provenance),
    }
    metadata = {
        key: value
        for key, value in (
            ("CommitId", provenance.code_revision),
            ("Repository", provenance.repository),
            ("GeneratedBy", provenance.generated_by),
        )
        if value
    }
    if metadata:
        request["MetadataProperties"] = metadata
    if not request["CustomerMetadataProperties"]:
        del request["CustomerMetadataProperties"]  # the API takes 1-50 entries, not 0
    return str(client.create_model_package(**request)["ModelPackageArn"])
