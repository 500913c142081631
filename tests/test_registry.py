"""ContainerRegistry: lifecycle and pull policies (pure) and registered repositories."""

from __future__ import annotations

import json

import pulumi
import pytest
from conftest import ACCOUNT, KEY_ARN, REGION, after_registration, component_children_ok

from mlops_platform.components import ArgsError, ContainerRegistry, ContainerRegistryArgs
from mlops_platform.components.registry import PULL_ACTIONS, lifecycle_policy, pull_policy

REPO = "aws:ecr/repository:Repository"
LIFECYCLE = "aws:ecr/lifecyclePolicy:LifecyclePolicy"
REPO_POLICY = "aws:ecr/repositoryPolicy:RepositoryPolicy"
CI_ROLE = f"arn:aws:iam::{ACCOUNT}:role/ci"


def test_lifecycle_policy_expires_untagged_then_keeps_last_n_tagged():
    rules = lifecycle_policy(untagged_expiry_days=3, keep_tagged_images=20)["rules"]
    assert [r["rulePriority"] for r in rules] == [1, 2]
    untagged, tagged = (r["selection"] for r in rules)
    assert untagged == {
        "tagStatus": "untagged",
        "countType": "sinceImagePushed",
        "countUnit": "days",
        "countNumber": 3,
    }
    assert tagged["tagStatus"] == "tagged" and tagged["tagPatternList"] == ["*"]
    assert tagged["countType"] == "imageCountMoreThan" and tagged["countNumber"] == 20
    assert "countUnit" not in tagged, "countUnit is only valid with sinceImagePushed"
    assert all(r["action"] == {"type": "expire"} for r in rules)


def test_pull_policy_grants_pull_only():
    stmt = pull_policy([CI_ROLE])["Statement"][0]
    assert stmt["Principal"] == {"AWS": [CI_ROLE]}
    assert stmt["Action"] == list(PULL_ACTIONS)
    assert not any(a in stmt["Action"] for a in ("ecr:PutImage", "ecr:*"))


@pulumi.runtime.test
def test_secure_defaults(mocks):
    registry = ContainerRegistry("registry", ContainerRegistryArgs())

    def check(values):
        urls, registry_url = values
        repo = mocks.find(REPO, "registry-serving")
        assert repo.inputs["imageTagMutability"] == "IMMUTABLE"
        assert repo.inputs["imageScanningConfiguration"] == {"scanOnPush": True}
        assert repo.inputs["encryptionConfigurations"] == [{"encryptionType": "KMS"}]
        assert repo.inputs["forceDelete"] is False
        assert "name" not in repo.inputs, "autonamed without a namespace"
        assert repo.protect and repo.retain_on_delete
        name = repo.outputs["name"]
        assert urls == {"serving": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{name}"}
        assert registry_url == f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
        lifecycle = mocks.find(LIFECYCLE, "registry-serving-lifecycle")
        assert lifecycle.inputs["repository"] == name and not lifecycle.protect
        assert json.loads(lifecycle.inputs["policy"]) == lifecycle_policy(
            untagged_expiry_days=7, keep_tagged_images=30
        )
        assert not mocks.of_type(REPO_POLICY), "no pull grants unless asked"
        component_children_ok(mocks, "mlops:registry:ContainerRegistry", "registry")

    return pulumi.Output.all(registry.repository_urls, registry.registry_url).apply(
        lambda v: after_registration(mocks, lambda _: check(v))
    )


@pulumi.runtime.test
def test_namespace_kms_key_pull_principals_and_mutable_tags(mocks):
    ContainerRegistry(
        "reg",
        ContainerRegistryArgs(
            repositories=["training", "models/serving"],
            namespace="mlops-platform/dev",
            image_tag_mutability="MUTABLE",
            kms_key_arn=KEY_ARN,
            pull_principal_arns=[CI_ROLE],
            force_delete=True,
            protect=False,
        ),
    )

    def check(m):
        assert [r.inputs["name"] for r in m.of_type(REPO)] == [
            "mlops-platform/dev/training",
            "mlops-platform/dev/models/serving",
        ]
        serving = m.find(REPO, "reg-models-serving")
        assert serving.inputs["imageTagMutability"] == "MUTABLE"
        assert serving.inputs["encryptionConfigurations"] == [
            {"encryptionType": "KMS", "kmsKey": KEY_ARN}
        ]
        assert serving.inputs["forceDelete"] is True and not serving.protect
        grants = m.of_type(REPO_POLICY)
        assert len(grants) == 2
        stmt = json.loads(grants[0].inputs["policy"])["Statement"][0]
        assert stmt["Principal"] == {"AWS": [CI_ROLE]}

    return after_registration(mocks, check)


@pulumi.runtime.test
def test_two_registries_do_not_collide(mocks):
    ContainerRegistry("a", ContainerRegistryArgs())
    ContainerRegistry("b", ContainerRegistryArgs())

    def check(m):
        names = [r.outputs["name"] for r in m.of_type(REPO)]
        assert len(names) == 2 and len(set(names)) == 2

    return after_registration(mocks, check)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"repositories": []}, "repositories"),
        ({"repositories": "serving"}, "repositories"),
        ({"repositories": ["Serving"]}, "repositories[0]"),
        ({"repositories": ["a", "a"]}, "repositories"),
        ({"repositories": ["a--"]}, "repositories[0]"),
        ({"namespace": "Team/"}, "namespace"),
        ({"namespace": "n" * 250, "repositories": ["serving"]}, "repositories"),
        ({"image_tag_mutability": "immutable"}, "image_tag_mutability"),
        ({"image_tag_mutability": "IMMUTABLE_WITH_EXCLUSION"}, "image_tag_mutability"),
        ({"scan_on_push": "true"}, "scan_on_push"),
        ({"kms_key_arn": "arn:aws:s3:::bucket"}, "kms_key_arn"),
        ({"keep_tagged_images": 0}, "keep_tagged_images"),
        ({"untagged_expiry_days": 3651}, "untagged_expiry_days"),
        ({"pull_principal_arns": ["*"]}, "pull_principal_arns[0]"),
        ({"force_delete": True}, "force_delete"),
    ],
)
def test_invalid_args(kwargs, field):
    with pytest.raises(ArgsError) as caught:
        ContainerRegistryArgs(**kwargs)
    assert caught.value.field == field
