"""Small helpers around the AWS provider shared by the components."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class AwsContext:
    """Where a component is being deployed, as reported by its provider."""

    partition: str
    account_id: str
    region: str


def aws_context(parent: pulumi.Resource) -> pulumi.Output[AwsContext]:
    """Partition, account and region of the provider ``parent`` uses (invokes inherit it)."""
    opts = pulumi.InvokeOutputOptions(parent=parent)
    partition = aws.get_partition_output(opts=opts).partition
    account = aws.get_caller_identity_output(opts=opts).account_id
    region = aws.get_region_output(opts=opts).region
    return pulumi.Output.all(partition, account, region).apply(lambda v: AwsContext(*v))


def stateful(parent: pulumi.Resource, protect: bool) -> pulumi.ResourceOptions:
    """Options for a child that holds state (a bucket, key or repository): with ``protect``,
    ``pulumi destroy`` refuses to delete it and a removal from the program leaves it in AWS."""
    return pulumi.ResourceOptions(parent=parent, protect=protect, retain_on_delete=protect)


def retained_with(
    parent: pulumi.Resource, protect: bool, depends_on: list[pulumi.Resource] | None = None
) -> pulumi.ResourceOptions:
    """Options for a child that guards a stateful resource (its public access block, policy,
    encryption, lifecycle, alias): retained along with it, so that a bucket, repository or key
    left in AWS keeps its controls."""
    return pulumi.ResourceOptions(parent=parent, retain_on_delete=protect, depends_on=depends_on)


def service_endpoint(service: str, region: str) -> str:
    """The regional endpoint name of an AWS service, as ``kms:ViaService`` expects it."""
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{service}.{region}.{suffix}"


def policy_json(document: Mapping) -> str:
    """Stable JSON for IAM/KMS/S3 policy documents (sorted keys keep diffs quiet)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"))
