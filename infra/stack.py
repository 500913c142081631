"""Composition only: settings in, components wired, stack outputs exported.

Environment differences live in ``Pulumi.<stack>.yaml`` and reach the components through
``infra.settings``; nothing here branches on the environment.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pulumi
import pulumi_aws as aws

from components import (
    ContainerRegistry,
    DataBucket,
    DvcRemote,
    EncryptionKey,
)
from infra.settings import Settings


@dataclass(frozen=True)
class Platform:
    """The components of one environment, for tests and for later composition."""

    provider: aws.Provider
    key: EncryptionKey
    registry: ContainerRegistry
    dvc: DvcRemote
    artifacts: DataBucket


def provider(settings: Settings) -> aws.Provider:
    """The one AWS provider every component uses (default providers are disabled)."""
    return aws.Provider(
        "aws",
        region=settings.region,
        allowed_account_ids=list(settings.allowed_account_ids),
        default_tags={"tags": dict(settings.default_tags)},
        profile=settings.profile,
    )


def build(settings: Settings) -> Platform:
    """Creates the platform for one environment and exports its stable outputs."""
    aws_provider = provider(settings)
    opts = pulumi.ResourceOptions(providers={"aws": aws_provider})

    key = EncryptionKey("platform-key", settings.encryption, opts)
    registry = ContainerRegistry("registry", replace(settings.registry, kms_key_arn=key.arn), opts)
    dvc = DvcRemote(
        "dvc",
        replace(settings.dvc, bucket=replace(settings.dvc.bucket, kms_key_arn=key.arn)),
        opts,
    )
    artifacts = DataBucket("artifacts", replace(settings.artifacts, kms_key_arn=key.arn), opts)

    # Stable outputs: other stacks read them with pulumi.StackReference; renaming one is a
    # breaking change.
    pulumi.export("environment", settings.environment)
    pulumi.export("region", settings.region)
    pulumi.export("kmsKeyArn", key.arn)
    pulumi.export("kmsKeyAlias", key.alias_name)
    pulumi.export("registryUrl", registry.registry_url)
    pulumi.export("repositoryUrls", registry.repository_urls)
    pulumi.export("dvcRemoteUrl", dvc.dvc_remote_url)
    pulumi.export("dvcConfig", dvc.dvc_config)
    pulumi.export("dvcReadOnlyPolicyArn", dvc.read_only_policy_arn)
    pulumi.export("dvcReadWritePolicyArn", dvc.read_write_policy_arn)
    pulumi.export("artifactsBucket", artifacts.bucket_name)
    pulumi.export("artifactsBucketArn", artifacts.arn)
    return Platform(aws_provider, key, registry, dvc, artifacts)
