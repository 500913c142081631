"""Small helpers around the AWS provider shared by the components."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws


def partition_of(region: str) -> str:
    """The AWS partition a region belongs to."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("eusc-"):
        return "aws-eusc"
    return "aws"


@dataclass(frozen=True)
class AwsContext:
    """Where a component is being deployed, as reported by its provider."""

    partition: pulumi.Output[str]
    account_id: pulumi.Output[str]
    region: pulumi.Output[str]


def aws_context(parent: pulumi.Resource) -> AwsContext:
    """Partition, account and region of the provider ``parent`` uses (invokes inherit it)."""
    opts = pulumi.InvokeOutputOptions(parent=parent)
    return AwsContext(
        partition=aws.get_partition_output(opts=opts).partition,
        account_id=aws.get_caller_identity_output(opts=opts).account_id,
        region=aws.get_region_output(opts=opts).region,
    )


def policy_document(build: Callable[..., Mapping[str, Any]], **inputs: Any) -> pulumi.Output[str]:
    """The JSON of a pure policy builder, called once its keyword inputs (Outputs, lists of
    Outputs or plain values) are known."""
    if not inputs:  # Output.all() of nothing resolves to a list, not a mapping
        return pulumi.Output.from_input(policy_json(build()))
    return pulumi.Output.all(**inputs).apply(lambda values: policy_json(build(**values)))


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
