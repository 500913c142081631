"""The stack program for dev, staging and prod: it builds, and differs where intended."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import ROOT

from infra import plan

STATEFUL = ("aws:s3/bucket:Bucket", "aws:kms/key:Key", "aws:ecr/repository:Repository")
GUARDS = (
    "aws:kms/alias:Alias",
    "aws:ecr/lifecyclePolicy:LifecyclePolicy",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    "aws:s3/bucketVersioning:BucketVersioning",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "aws:s3/bucketPolicy:BucketPolicy",
)
STABLE_OUTPUTS = {
    "environment",
    "region",
    "kmsKeyArn",
    "kmsKeyAlias",
    "registryUrl",
    "repositoryUrls",
    "dvcRemoteUrl",
    "dvcConfig",
    "dvcReadOnlyPolicyArn",
    "dvcReadWritePolicyArn",
    "artifactsBucket",
    "artifactsBucketArn",
}


@pytest.fixture(scope="module")
def plans() -> dict[str, dict[str, Any]]:
    return {s: plan.make_plan(s, ROOT).to_json() for s in ("dev", "staging", "prod")}


def of_type(p: dict[str, Any], type_: str) -> list[dict[str, Any]]:
    return [r for r in p["resources"] if r["type"] == type_]


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_stack_builds_cleanly(plans, stack):
    p = plans[stack]
    assert p["diagnostics"] == [], "no warnings (deprecated APIs report here)"
    assert set(p["outputs"]) == STABLE_OUTPUTS
    assert p["outputs"]["environment"] == stack
    providers = of_type(p, "pulumi:providers:aws")
    assert len(providers) == 1
    provider = providers[0]
    assert provider["inputs"]["region"] == "eu-west-1"
    assert json.loads(provider["inputs"]["defaultTags"])["tags"]["env"] == stack
    for res in p["resources"]:
        if res["custom"] and res["type"].startswith("aws:"):
            assert res["provider"].startswith(provider["urn"] + "::"), res["urn"]


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_everything_is_encrypted_with_the_platform_key(plans, stack):
    p = plans[stack]
    key_arn = p["outputs"]["kmsKeyArn"]
    assert len(of_type(p, "aws:kms/key:Key")) == 1, "buckets share the platform key"
    for sse in of_type(
        p, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    ):
        rule = sse["inputs"]["rules"][0]["applyServerSideEncryptionByDefault"]
        assert rule["kmsMasterKeyId"] == key_arn
    for repo in of_type(p, "aws:ecr/repository:Repository"):
        assert repo["inputs"]["encryptionConfigurations"] == [
            {"encryptionType": "KMS", "kmsKey": key_arn}
        ]


def test_prod_protects_and_retains_stateful_resources(plans):
    for stack, protected in (("dev", False), ("staging", False), ("prod", True)):
        stateful = [r for r in plans[stack]["resources"] if r["type"] in STATEFUL]
        assert len(stateful) == 5  # key, two buckets, two repositories
        for res in stateful:
            assert res["protect"] is protected, (stack, res["name"])
            assert res["retainOnDelete"] is protected, (stack, res["name"])
        # Their guards (policies, public access blocks, encryption, lifecycle, alias) stay with
        # them when retained; nothing else is protected or retained.
        guards = [r for r in plans[stack]["resources"] if r["type"] in GUARDS]
        assert len(guards) == 15
        assert {(r["protect"], r["retainOnDelete"]) for r in guards} == {(False, protected)}
        others = [r for r in plans[stack]["resources"] if r["type"] not in STATEFUL + GUARDS]
        assert not any(r["protect"] or r["retainOnDelete"] for r in others)


def test_registry_differs_per_environment(plans):
    def repos(stack: str) -> list[dict[str, Any]]:
        return of_type(plans[stack], "aws:ecr/repository:Repository")

    assert {r["inputs"]["imageTagMutability"] for r in repos("dev")} == {"MUTABLE"}
    assert {r["inputs"]["forceDelete"] for r in repos("dev")} == {True}
    for stack in ("staging", "prod"):
        assert {r["inputs"]["imageTagMutability"] for r in repos(stack)} == {"IMMUTABLE"}
        assert {r["inputs"]["forceDelete"] for r in repos(stack)} == {False}
        assert {r["inputs"]["name"] for r in repos(stack)} == {
            f"mlops-platform/{stack}/training",
            f"mlops-platform/{stack}/serving",
        }


def test_only_dev_buckets_may_be_force_destroyed(plans):
    for stack, force in (("dev", True), ("staging", False), ("prod", False)):
        buckets = of_type(plans[stack], "aws:s3/bucket:Bucket")
        assert {b["inputs"]["forceDestroy"] for b in buckets} == {force}


def test_noncurrent_version_retention_grows_towards_prod(plans):
    def days(stack: str) -> int:
        lifecycle = of_type(
            plans[stack], "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
        )[0]
        rule = next(
            r for r in lifecycle["inputs"]["rules"] if r["id"] == "expire-noncurrent-versions"
        )
        return rule["noncurrentVersionExpiration"]["noncurrentDays"]

    assert days("dev") < days("staging") < days("prod")


def test_stack_files_disable_default_providers():
    import yaml

    for stack in ("dev", "staging", "prod"):
        config = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
        assert config["pulumi:disable-default-providers"] == ["*"]
