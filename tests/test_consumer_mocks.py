"""Tried as a consumer would: every exported component constructs with its default Args under a
team's own minimal mocks.

A team that imports the library writes the mocks of the Pulumi docs: resource state = inputs (no
ARN, no name, no computed value), and only the three standard invokes answered. A component that
reads a provider-computed output (a bucket's ``region``) or calls any other invoke breaks their
unit tests; the platform's own recording mocks (``mlops_platform.testing``) hide that, so this
file does not use them.
"""

from __future__ import annotations

import asyncio
import dataclasses

import pulumi
import pulumi_kubernetes as k8s
import pytest

from mlops_platform import components
from mlops_platform.components.pipelines import GateSettings

ACCOUNT = "123456789012"
REGION = "eu-west-1"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/11111111-2222-4333-a444-555555555555"
OIDC = f"arn:aws:iam::{ACCOUNT}:oidc-provider/oidc.eks.{REGION}.amazonaws.com/id/EXAMPLE"
ISSUER = f"https://oidc.eks.{REGION}.amazonaws.com/id/EXAMPLE"


class MinimalMocks(pulumi.runtime.Mocks):
    """What a consumer writes: echo the inputs, answer getRegion, getCallerIdentity and
    getPartition, refuse anything else."""

    def __init__(self, extra: dict[str, dict] | None = None) -> None:
        self.invokes: list[str] = []
        self.extra = dict(extra or {})

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs):
        self.invokes.append(args.token)
        answers = {
            "aws:index/getRegion:getRegion": {"name": REGION, "region": REGION, "id": REGION},
            "aws:index/getCallerIdentity:getCallerIdentity": {
                "accountId": ACCOUNT,
                "arn": f"arn:aws:iam::{ACCOUNT}:user/test",
                "userId": "AIDATEST",
                "id": ACCOUNT,
            },
            "aws:index/getPartition:getPartition": {
                "partition": "aws",
                "dnsSuffix": "amazonaws.com",
                "id": "aws",
            },
        }
        answers.update(self.extra)
        if args.token not in answers:
            raise NotImplementedError(f"consumer mocks answer no {args.token}")
        return answers[args.token]


# The fields without a default, as a consumer would fill them (everything else: the default).
REQUIRED = {
    "CiIdentityArgs": {
        "github_repository": "acme/platform",
        "environment": "dev",
        "state_bucket_arn": "arn:aws:s3:::acme-state",
        "state_key_arn": KEY_ARN,
    },
    "ClusterArgs": {
        "subnet_ids": ["subnet-0a1b2c3d4e5f60718", "subnet-0f1e2d3c4b5a69788"],
        "kms_key_arn": KEY_ARN,
        "admin_principal_arns": [f"arn:aws:iam::{ACCOUNT}:role/admin"],
    },
    "ServiceAccountRoleArgs": {
        "oidc_provider_arn": OIDC,
        "oidc_issuer": ISSUER,
        "namespace": "team",
        "service_account": "trainer",
    },
    "GithubRunnersArgs": {
        "oidc_provider_arn": OIDC,
        "oidc_issuer": ISSUER,
        "github_config_url": "https://github.com/acme",
        "github_app_id": "1",
        "github_app_installation_id": "2",
        "github_app_private_key": "-----BEGIN RSA PRIVATE KEY----- x -----END RSA PRIVATE KEY-----",
    },
    "GitlabRunnerArgs": {
        "oidc_provider_arn": OIDC,
        "oidc_issuer": ISSUER,
        "runner_token": "glrt-example",
    },
    "ModelEndpointArgs": {
        "model_name": "demo",
        "image_uri": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/serving:1.0.0",
        "repository_arn": f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/serving",
        "artifacts_bucket_arn": "arn:aws:s3:::acme-artifacts",
        "kms_key_arn": KEY_ARN,
    },
    "ServingImageArgs": {
        "repository_url": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/serving",
        "tag": "1.0.0",
    },
    "OrchestratorArgs": {"artifacts_bucket": "acme-artifacts"},
    "TrainingPipelineArgs": {
        "model": "churn",
        "oidc_provider_arn": OIDC,
        "oidc_issuer": ISSUER,
        "repository_url": "https://github.com/acme/churn.git",
        "image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/training:1.0.0",
        "serving_image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/serving:1.0.0",
        "model_package_group": "acme-churn",
        "gate": GateSettings(metric="auc"),
        "metrics": ["auc"],
        "dvc_bucket_arn": "arn:aws:s3:::acme-dvc",
        "artifacts_bucket": "acme-artifacts",
        "artifacts_bucket_arn": "arn:aws:s3:::acme-artifacts",
        "kms_key_arn": KEY_ARN,
    },
    "GithubRepositoryGovernanceArgs": {
        "repository": "platform",
        "plan": "team",
        "visibility": "public",
        "required_checks": ("test",),
        "release_teams": ("release",),
    },
    "GitlabProjectGovernanceArgs": {"project": "acme/platform", "tier": "premium"},
    # The one lookup beyond the three invokes: which zones the account may use. A consumer
    # that does not answer getAvailabilityZones names them.
    "NetworkArgs": {"availability_zone_names": [f"{REGION}a", f"{REGION}b"]},
}


# Lookups a component cannot do without, which its consumers' mocks must answer: pushing an image
# needs the registry's credentials.
EXTRA_INVOKES = {
    # a ruleset's bypass actors and reviewers are GitHub ids: the release team's is looked up
    "GithubRepositoryGovernance": {
        "github:index/getTeam:getTeam": {
            "id": "4242",
            "nodeId": "T_kwDOteam",
            "slug": "release",
            "name": "release",
            "description": "",
            "privacy": "closed",
            "permission": "pull",
            "members": [],
            "repositories": [],
            "membershipType": "all",
            "summaryOnly": False,
            "resultsPerPage": 100,
        }
    },
    "ServingImage": {
        "aws:ecr/getAuthorizationToken:getAuthorizationToken": {
            "authorizationToken": "QVdTOnRva2Vu",
            "userName": "AWS",
            "password": "token",
            "proxyEndpoint": f"https://{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com",
            "expiresAt": "2030-01-01T00:00:00Z",
            "registryId": ACCOUNT,
            "id": REGION,
        }
    },
}


def exported_components() -> list[tuple[type, type]]:
    """(component, its Args) for every ComponentResource the package exports."""
    pairs = []
    for name in components.__all__:
        obj = getattr(components, name)
        if isinstance(obj, type) and issubclass(obj, pulumi.ComponentResource):
            pairs.append((obj, getattr(components, f"{name}Args")))
    return pairs


def _args(args_type: type):
    given = REQUIRED.get(args_type.__name__, {})
    fields = {f.name for f in dataclasses.fields(args_type)}
    return args_type(**{k: v for k, v in given.items() if k in fields})


def _outputs(resource: pulumi.Resource) -> list[pulumi.Output]:
    return [v for v in vars(resource).values() if isinstance(v, pulumi.Output)]


def test_the_test_covers_every_exported_component():
    names = {c.__name__ for c, _ in exported_components()}
    assert {"DataBucket", "DvcRemote", "AccessLogBucket", "Cluster", "GithubRunners"} <= names


@pytest.mark.parametrize(
    ("component", "args_type"), exported_components(), ids=lambda v: getattr(v, "__name__", "")
)
def test_constructs_under_a_consumers_minimal_mocks(component, args_type):
    extra = EXTRA_INVOKES.get(component.__name__, {})
    mocks = MinimalMocks(extra)
    asyncio.set_event_loop(asyncio.new_event_loop())
    pulumi.runtime.set_mocks(mocks, project="team", stack="test", preview=False)
    args = _args(args_type)
    if args_type.__name__ == "ModelEndpointArgs":  # a provisioned endpoint serves a model file
        args = dataclasses.replace(args, model_data_key="models/demo/model.tar.gz")

    @pulumi.runtime.test
    def construct():
        opts = None
        if component.__module__.endswith("runners"):
            provider = k8s.Provider("k8s", kubeconfig="apiVersion: v1\nkind: Config\n")
            opts = pulumi.ResourceOptions(providers={"kubernetes": provider})
        built = component("team", args, opts)
        return pulumi.Output.all(*_outputs(built)).apply(lambda _: True)

    construct()
    assert set(mocks.invokes) <= {
        "aws:index/getRegion:getRegion",
        "aws:index/getCallerIdentity:getCallerIdentity",
        "aws:index/getPartition:getPartition",
        *extra,
    }
