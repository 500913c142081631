"""The library's public API: what `components` exports, its version, and Args defaults."""

from __future__ import annotations

import dataclasses
import inspect
import re
import tomllib

import pulumi
import pytest
from conftest import KEY_ARN, ROOT, after_registration

from mlops_platform import components
from mlops_platform.components import (
    ContainerRegistry,
    ContainerRegistryArgs,
    DvcRemote,
    DvcRemoteArgs,
    GateSettings,
)

# Issue 8's list: every component and its Args, plus the shared error type and the version.
REQUIRED_EXPORTS = (
    "ArgsError",
    "CiIdentity",
    "CiIdentityArgs",
    "Cluster",
    "ClusterArgs",
    "ContainerRegistry",
    "ContainerRegistryArgs",
    "DataBucket",
    "DataBucketArgs",
    "DvcRemote",
    "DvcRemoteArgs",
    "EncryptionKey",
    "EncryptionKeyArgs",
    "GithubRunners",
    "GithubRunnersArgs",
    "GitlabRunner",
    "GitlabRunnerArgs",
    "ModelEndpoint",
    "ModelEndpointArgs",
    "ModelRegistry",
    "ModelRegistryArgs",
    "Network",
    "NetworkArgs",
    "ServiceAccountRole",
    "ServiceAccountRoleArgs",
    "ServingImage",
    "ServingImageArgs",
    "__version__",
)
ECR = "arn:aws:ecr:eu-west-1:123456789012:repository/serving"
# The fields of each exported dataclass that have no sensible default, with valid values.
# Every other field of every exported dataclass must have a default.
OIDC_ISSUER = "https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE"
OIDC_ARN = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE"
REQUIRED_FIELDS: dict[str, dict[str, object]] = {
    "ModelEndpointArgs": {
        "image_uri": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/serving:v1.0.0",
        "repository_arn": ECR,
        "artifacts_bucket_arn": "arn:aws:s3:::artifacts-1234567",
        "kms_key_arn": KEY_ARN,
    },
    "ServingImageArgs": {
        "repository_url": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/serving",
        "tag": "v1.0.0",
    },
    "CiIdentityArgs": {
        "github_repository": "acme/platform",
        "environment": "dev",
        "state_bucket_arn": "arn:aws:s3:::acme-state",
        "state_key_arn": KEY_ARN,
    },
    "AlarmSubscription": {"protocol": "email", "endpoint": "oncall@example.com"},
    "ServiceAccountRoleArgs": {
        "oidc_provider_arn": OIDC_ARN,
        "oidc_issuer": OIDC_ISSUER,
        "namespace": "ml",
        "service_account": "scorer",
    },
    "ClusterArgs": {"subnet_ids": ["subnet-a", "subnet-b"], "kms_key_arn": KEY_ARN},
    "NodePool": {"name": "system"},
    "GithubRunnersArgs": {
        "oidc_provider_arn": OIDC_ARN,
        "oidc_issuer": OIDC_ISSUER,
        "github_config_url": "https://github.com/acme",
        "github_app_id": "123456",
        "github_app_installation_id": "7654321",
        "github_app_private_key": "-----BEGIN RSA PRIVATE KEY-----",
    },
    "RunnerScaleSet": {"name": "cpu", "max_runners": 4},
    "GitlabRunnerArgs": {
        "oidc_provider_arn": OIDC_ARN,
        "oidc_issuer": OIDC_ISSUER,
        "runner_token": "glrt-example",
    },
    "OrchestratorArgs": {"artifacts_bucket": "artifacts-1234567"},
    "GateSettings": {"metric": "accuracy"},
    "TrainingPipelineArgs": {
        "model": "churn",
        "oidc_provider_arn": OIDC_ARN,
        "oidc_issuer": OIDC_ISSUER,
        "repository_url": "https://github.com/acme/churn.git",
        "image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/training:v1",
        "serving_image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/serving:v1",
        "model_package_group": "acme-dev-churn",
        "gate": GateSettings(metric="accuracy"),
        "metrics": ["accuracy"],
        "dvc_bucket_arn": "arn:aws:s3:::dvc-1234567",
        "artifacts_bucket": "artifacts-1234567",
        "artifacts_bucket_arn": "arn:aws:s3:::artifacts-1234567",
        "kms_key_arn": KEY_ARN,
    },
    "DeploymentEnvironment": {"name": "staging"},
    "GithubRepositoryGovernanceArgs": {
        "repository": "platform",
        "plan": "team",
        "visibility": "public",
        "required_checks": ("test",),
        "release_teams": ("release",),
    },
    "GitlabProjectGovernanceArgs": {"project": "acme/platform", "tier": "premium"},
    "ProtectedEnvironment": {"name": "prod"},
    "ProjectVariable": {"key": "AWS_REGION", "value": "eu-west-1"},
}
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?$")


def exported_dataclasses() -> list[type]:
    return [
        getattr(components, name)
        for name in components.__all__
        if inspect.isclass(getattr(components, name))
        and dataclasses.is_dataclass(getattr(components, name))
    ]


def test_required_names_are_exported():
    assert set(REQUIRED_EXPORTS) <= set(components.__all__)
    for name in components.__all__:
        assert hasattr(components, name), name


def test_every_component_and_its_args_are_exported():
    for name in components.__all__:
        obj = getattr(components, name)
        if inspect.isclass(obj) and issubclass(obj, pulumi.ComponentResource):
            assert f"{name}Args" in components.__all__, name


def test_all_is_sorted_and_unique():
    assert list(components.__all__) == sorted(set(components.__all__))


def test_version_is_semver_and_single_sourced_with_pyproject():
    assert SEMVER.match(components.__version__)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in project["project"]
    assert "version" in project["project"]["dynamic"]
    dynamic = project["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "mlops_platform.components.__version__"}


def test_changelog_has_unreleased_and_the_current_version():
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "## [Unreleased]" in changelog
    assert re.search(
        rf"^## \[{re.escape(components.__version__)}\] - \d{{4}}-\d{{2}}-\d{{2}}$",
        changelog,
        re.MULTILINE,
    )


def test_package_is_typed():
    assert (ROOT / "components" / "py.typed").is_file()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "py.typed" in project["tool"]["setuptools"]["package-data"]["mlops_platform.components"]


@pytest.mark.parametrize("cls", exported_dataclasses(), ids=lambda c: c.__name__)
def test_only_fields_without_a_sensible_default_are_required(cls):
    required = {
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    assert required == set(REQUIRED_FIELDS.get(cls.__name__, {}))
    cls(**REQUIRED_FIELDS.get(cls.__name__, {}))  # valid with the required fields alone


def test_default_args_are_the_documented_posture():
    assert DvcRemoteArgs() == DvcRemoteArgs(prefix="dvc", remote_name="storage")
    assert ContainerRegistryArgs().image_tag_mutability == "IMMUTABLE"
    assert ContainerRegistryArgs().scan_on_push is True


@pulumi.runtime.test
def test_dvc_remote_and_container_registry_build_with_default_args(mocks):
    remote = DvcRemote("x", DvcRemoteArgs())
    registry = ContainerRegistry("y", ContainerRegistryArgs())

    def check(m):
        assert m.find("mlops:storage:DvcRemote", "x")
        assert m.find("aws:ecr/repository:Repository", "y-serving")
        bucket = m.find("aws:s3/bucket:Bucket", "x-data-bucket")
        assert bucket.protect and bucket.retain_on_delete

    return pulumi.Output.all(
        remote.dvc_remote_url, registry.registry_url, after_registration(mocks, check)
    ).apply(lambda v: (v[0].endswith("/dvc"), v[1].endswith(".amazonaws.com")))


# Names in the type column that are not ours: typing, the Pulumi SDKs, and Literal values.
NOT_OURS = {
    "None",
    "Any",
    "Literal",
    "Mapping",
    "Sequence",
    "Input",
    "Output",
    "Provider",
    "Resource",
}


def documented_field_types() -> set[str]:
    """Every type name in the type column of docs/components.md's field tables."""
    names: set[str] = set()
    header: list[str] | None = None
    for line in (ROOT / "docs" / "components.md").read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        if header is None:
            header = cells
            continue
        if "type" not in header or set(line) <= set("|- "):
            continue
        column = cells[header.index("type")]
        column = re.sub(r"'[^']*'", "", column)  # Literal['ON_DEMAND', 'SPOT'] values
        names.update(re.findall(r"(?<![\w.])[A-Z]\w*", column))
    return names - NOT_OURS


def test_every_type_the_docs_name_in_field_tables_is_importable_from_components():
    documented = documented_field_types()
    assert {"Variants", "Tags", "TrafficRouting", "Environment"} <= documented
    missing = sorted(name for name in documented if name not in components.__all__)
    assert missing == []
    for name in documented:
        assert getattr(components, name) is not None
