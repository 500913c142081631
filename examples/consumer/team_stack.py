"""A model team's stack built on the platform: its own resources from the platform's
components, plus what it reads from the platform stack.

Run from this directory with the Pulumi CLI (``pulumi up --stack dev``); the program needs
read access to the platform stack's state (same backend and organisation). Every name read from
the platform is one of its documented, stable outputs (README, "Stack outputs").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from mlops_platform.components import (
    ContainerRegistry,
    ContainerRegistryArgs,
    DataBucket,
    DataBucketArgs,
)

# What the team reads from the platform; each must be a stable output of every platform stack.
PLATFORM_OUTPUTS = (
    "region",
    "kmsKeyArn",
    "registryUrl",
    "repositoryUrls",
    "dvcRemoteUrl",
    "dvcConfig",
    "endpointName",
    "clusterName",
    "kubeconfig",
    "githubRunnerLabels",
)
# Read when the platform exports them (the cluster is being added); None until then.


@dataclass(frozen=True)
class Team:
    """The team's configuration: its name and the platform stack it builds on."""

    name: str
    platform_stack: str


@dataclass(frozen=True)
class TeamStack:
    """What ``build`` created, and the stack outputs ``main`` exports."""

    platform: pulumi.StackReference
    images: ContainerRegistry
    reports: DataBucket
    outputs: dict[str, Any]


def build(team: Team) -> TeamStack:
    """The team's resources and its stack outputs."""
    platform = pulumi.StackReference("platform", stack_name=team.platform_stack)
    out = {name: platform.require_output(name) for name in PLATFORM_OUTPUTS}

    # The team's own training image repository and evaluation-report bucket, encrypted with
    # the platform's key: secure defaults come with the components.
    images = ContainerRegistry(
        f"{team.name}-images",
        ContainerRegistryArgs(
            repositories=["training"],
            namespace=f"teams/{team.name}",
            kms_key_arn=out["kmsKeyArn"],
        ),
    )
    reports = DataBucket(
        f"{team.name}-reports",
        DataBucketArgs(kms_key_arn=out["kmsKeyArn"], noncurrent_version_expiry_days=30),
    )

    serving_repository = out["repositoryUrls"].apply(lambda urls: urls["serving"])
    outputs = {
        # What the team's CI needs (examples/ml-project reads these as repository variables).
        "githubVariables": {
            "AWS_REGION": out["region"],
            "MLOPS_REGISTRY_URL": out["registryUrl"],
            "MLOPS_SERVING_REPOSITORY": serving_repository,
            "MLOPS_TRAINING_REPOSITORY": images.repository_urls.apply(lambda u: u["training"]),
            "MLOPS_ENDPOINT_NAME": out["endpointName"],
            "MLOPS_CLUSTER_NAME": out["clusterName"],
            # runs-on labels of the platform's runner scale sets (mlops-cpu, mlops-gpu)
            "MLOPS_RUNNER_LABELS": out["githubRunnerLabels"].apply(",".join),
        },
        # `pulumi stack output dvcConfig > .dvc/config` in the team's repository.
        "dvcConfig": out["dvcConfig"],
        "dvcRemoteUrl": out["dvcRemoteUrl"],
        "reportsBucket": reports.bucket_name,
        # For kubectl and helm in the team's pipelines; a secret, as on the platform.
        "kubeconfig": pulumi.Output.secret(out["kubeconfig"]),
    }
    return TeamStack(platform, images, reports, outputs)


def main() -> None:
    config = pulumi.Config()
    stack = build(Team(name=config.require("team"), platform_stack=config.require("platformStack")))
    for name, value in stack.outputs.items():
        pulumi.export(name, value)
