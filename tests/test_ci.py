"""CiIdentity: OIDC trust (exact subjects), read-only previews, deploys confined to the platform."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest
from conftest import (
    ACCOUNT,
    KEY_ARN,
    REGION,
    ROOT,
    after_registration,
    component_children_ok,
    statement,
)

from mlops_platform.components import ArgsError
from mlops_platform.components.ci import (
    DATA_READS,
    PLATFORM_IAM_PATH,
    CiIdentity,
    CiIdentityArgs,
    deploy_policy,
    github_subjects,
    gitlab_subjects,
    oidc_trust_policy,
    permissions_boundary_policy,
    preview_policy,
    state_access_policy,
)
from mlops_platform.infra import plan

STATE = "arn:aws:s3:::mlops-state-123456789012"
GITHUB = "token.actions.githubusercontent.com"
PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{GITHUB}"
BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/ci-boundary"


def no_duplicate_keys(text: str) -> Any:
    """Parses JSON, failing on a key that appears twice in one object."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in items]
        assert len(keys) == len(set(keys)), f"duplicate keys in {keys}"
        return dict(items)

    return json.loads(text, object_pairs_hook=pairs)


# --- pure documents ------------------------------------------------------------------------------


def test_github_deploy_trust_is_one_environment_with_string_equals():
    subjects = github_subjects("my-org/platform", environment="prod", branch="main")
    doc = oidc_trust_policy(provider_arn=PROVIDER, issuer=GITHUB, subjects=subjects)
    (stmt,) = doc["Statement"]
    assert stmt["Principal"] == {"Federated": PROVIDER}
    assert stmt["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert stmt["Condition"] == {
        "StringEquals": {
            f"{GITHUB}:aud": "sts.amazonaws.com",
            f"{GITHUB}:sub": ["repo:my-org/platform:environment:prod"],
        }
    }


def test_github_preview_trust_is_pull_requests_and_the_default_branch():
    assert github_subjects("o/r", environment=None, branch="trunk") == [
        "repo:o/r:pull_request",
        "repo:o/r:ref:refs/heads/trunk",
    ]


def test_gitlab_patterns_use_string_like_only_for_the_ref():
    assert gitlab_subjects("g/p", environment="dev", branch="main") == [
        "project_path:g/p:ref_type:branch:ref:main"
    ]
    prod = gitlab_subjects("g/p", environment="prod", branch="main")
    doc = oidc_trust_policy(provider_arn="arn:x", issuer="gitlab.com", subjects=prod)
    condition = doc["Statement"][0]["Condition"]
    assert condition["StringEquals"] == {"gitlab.com:aud": "sts.amazonaws.com"}
    assert condition["StringLike"] == {
        "gitlab.com:sub": [
            "project_path:g/p:ref_type:tag:ref:*/v*",
            "project_path:g/p:ref_type:tag:ref:v*",
        ]
    }


def test_state_access_read_versus_write():
    read = state_access_policy(state_bucket_arn=STATE, state_key_arn=KEY_ARN, write=False)
    assert statement(read, "StateObjects")["Action"] == ["s3:GetObject"]
    assert statement(read, "SecretsProvider")["Action"] == ["kms:Decrypt"]
    write = state_access_policy(state_bucket_arn=STATE, state_key_arn=KEY_ARN, write=True)
    assert "s3:PutObject" in statement(write, "StateObjects")["Action"]
    assert statement(write, "StateObjects")["Resource"] == f"{STATE}/*"


def test_preview_reads_no_data_but_the_state():
    deny = statement(preview_policy(state_bucket_arn=STATE), "NoDataReads")
    assert deny["Effect"] == "Deny"
    assert {"s3:GetObject", "secretsmanager:GetSecretValue", "ssm:GetParameter"} <= set(
        deny["Action"]
    )
    assert deny["Action"] == list(DATA_READS)
    assert deny["NotResource"] == [f"{STATE}/*"]


def _deploy(**overrides) -> dict[str, Any]:
    return deploy_policy(
        **{
            "partition": "aws",
            "account_id": ACCOUNT,
            "region": "eu-west-1",
            "boundary_arn": BOUNDARY,
            "protected_arns": [PROVIDER, "arn:aws:iam::123456789012:role/ci-deploy"],
            "state_bucket_arn": STATE,
            "state_key_arn": KEY_ARN,
            **overrides,
        }
    )


def test_deploy_role_is_confined_to_the_platform():
    doc = _deploy()
    allows = [s for s in doc["Statement"] if s["Effect"] == "Allow"]
    actions = [
        a for s in allows for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    ]
    assert "*" not in actions and "*:*" not in actions and "iam:*" not in actions
    for stmt in allows:
        stmt_actions = [stmt["Action"]] if isinstance(stmt["Action"], str) else stmt["Action"]
        iam_writes = [
            a
            for a in stmt_actions
            if a.startswith("iam:") and not a.startswith(("iam:Get", "iam:List"))
        ]
        if iam_writes:
            resources = (
                stmt["Resource"] if isinstance(stmt["Resource"], list) else [stmt["Resource"]]
            )
            # IAM writes reach platform roles/policies, or the two narrow exceptions below.
            exceptions = {
                "ServiceLinkedRoles": ":role/aws-service-role/",
                "ClusterOidcProviders": ":oidc-provider/oidc.eks.",
            }
            marker = exceptions.get(stmt["Sid"], PLATFORM_IAM_PATH)
            assert all(marker in r for r in resources), stmt["Sid"]
    linked = statement(doc, "ServiceLinkedRoles")
    assert linked["Action"] == "iam:CreateServiceLinkedRole"
    assert "iam:AWSServiceName" in linked["Condition"]["StringEquals"]
    oidc = statement(doc, "ClusterOidcProviders")
    assert oidc["Resource"] == f"arn:aws:iam::{ACCOUNT}:oidc-provider/oidc.eks.*"
    assert "iam:CreateOpenIDConnectProvider" in oidc["Action"]
    create = statement(doc, "RolesOnlyUnderTheBoundary")
    assert "iam:CreateRole" in create["Action"]
    assert create["Condition"] == {"StringEquals": {"iam:PermissionsBoundary": BOUNDARY}}
    passing = statement(doc, "PassPlatformRolesToServices")
    assert passing["Resource"] == f"arn:aws:iam::{ACCOUNT}:role{PLATFORM_IAM_PATH}*"
    assert "iam:PassedToService" in passing["Condition"]["StringEquals"]
    guard = statement(doc, "NeverChangeTheCiIdentity")
    assert guard["Effect"] == "Deny" and guard["NotAction"] == ["iam:Get*", "iam:List*"]
    assert PROVIDER in guard["Resource"]
    assert statement(doc, "KeepBoundaries")["Action"] == "iam:DeleteRolePermissionsBoundary"


def test_deploy_role_names_actions_except_three_guarded_wildcards():
    services = statement(_deploy(), "ManagedServicesInRegion")
    wildcards = sorted(a for a in services["Action"] if a.endswith(":*"))
    assert wildcards == ["ec2:*", "eks:*", "sagemaker:*"]
    assert services["Condition"] == {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}
    assert not any(
        a.startswith(("s3:GetObject", "s3:PutObject", "s3:Delete")) and "Bucket" not in a
        for a in services["Action"]
    )
    assert "eks-auth:AssumeRoleForPodIdentity" not in services["Action"]
    data = statement(_deploy(), "NoDataOfWildcardServices")
    assert {"ec2:GetPasswordData", "sagemaker:CreatePresigned*"} <= set(data["Action"])


def test_deploy_role_only_uses_the_state_bucket_and_key():
    doc = _deploy()
    bucket = statement(doc, "OnlyUseTheStateBucket")
    assert bucket["Effect"] == "Deny"
    assert bucket["Resource"] == [STATE, f"{STATE}/*"]
    for action in (
        "s3:PutBucketPolicy",
        "s3:PutBucketVersioning",
        "s3:PutLifecycleConfiguration",
        "s3:DeleteBucket",
        "s3:DeleteObjectVersion",
    ):
        assert action not in bucket["NotAction"]
    key = statement(doc, "OnlyUseTheStateKey")
    assert key["Resource"] == KEY_ARN
    for action in (
        "kms:PutKeyPolicy",
        "kms:ScheduleKeyDeletion",
        "kms:DisableKey",
        "kms:CreateGrant",
    ):
        assert action not in key["NotAction"]


def test_deploy_role_empties_buckets_only_when_asked():
    assert "EmptyForceDestroyBuckets" not in {s.get("Sid") for s in _deploy()["Statement"]}
    emptying = statement(_deploy(empty_buckets=True), "EmptyForceDestroyBuckets")
    assert "s3:DeleteObjectVersion" in emptying["Action"]
    assert "s3:GetObject" not in emptying["Action"]


def _boundary() -> dict:
    return permissions_boundary_policy(partition="aws", region=REGION, account_id=ACCOUNT)


def test_boundary_never_allows_administration():
    doc = _boundary()
    assert statement(doc, "NoAdministration")["Action"] == ["account:*", "iam:*", "organizations:*"]
    allowed = statement(doc, "PlatformServices")["Action"]
    assert not any(a.startswith(("iam:", "sts:")) for a in allowed), "no IAM, no role chaining"


def test_boundary_allows_mlflow_only_on_the_environments_tracking_servers():
    # sagemaker:* does not cover MLflow's own service prefix: without this statement every
    # MLflow call of a pipeline role under the boundary is AccessDenied.
    mlflow = statement(_boundary(), "MlflowTracking")
    assert mlflow["Action"] == "sagemaker-mlflow:*"
    assert mlflow["Resource"] == f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:mlflow-tracking-server/*"


# --- CiIdentity ----------------------------------------------------------------------------------


def ci_args(**overrides) -> CiIdentityArgs:
    base = {
        "github_repository": "my-org/platform",
        "environment": "staging",
        "state_bucket_arn": STATE,
        "state_key_arn": KEY_ARN,
    }
    return CiIdentityArgs(**{**base, **overrides})


@pulumi.runtime.test
def test_github_roles_and_provider(mocks):
    ci = CiIdentity("ci", ci_args())

    def check(values):
        preview_arn, deploy_arn = values
        provider = mocks.find(
            "aws:iam/openIdConnectProvider:OpenIdConnectProvider", "ci-github-oidc"
        )
        assert provider.inputs["url"] == f"https://{GITHUB}"
        assert provider.inputs["clientIdLists"] == ["sts.amazonaws.com"]
        deploy = mocks.find("aws:iam/role:Role", "ci-github-deploy")
        assert deploy.outputs["arn"] == deploy_arn
        trust = no_duplicate_keys(deploy.inputs["assumeRolePolicy"])
        assert trust["Statement"][0]["Condition"]["StringEquals"][f"{GITHUB}:sub"] == [
            "repo:my-org/platform:environment:staging"
        ]
        assert deploy.inputs["maxSessionDuration"] == 7200, "an up can outlast one hour"
        preview = mocks.find("aws:iam/role:Role", "ci-github-preview")
        assert preview.outputs["arn"] == preview_arn
        attached = mocks.find(
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "ci-github-preview-read-only"
        )
        assert attached.inputs["policyArn"] == "arn:aws:iam::aws:policy/ReadOnlyAccess"
        deploy_doc = no_duplicate_keys(
            mocks.find("aws:iam/rolePolicy:RolePolicy", "ci-github-deploy").inputs["policy"]
        )
        guarded = statement(deploy_doc, "NeverChangeTheCiIdentity")["Resource"]
        boundary = mocks.find("aws:iam/policy:Policy", "ci-boundary").outputs["arn"]
        assert set(guarded) == {boundary, provider.outputs["arn"], preview_arn, deploy_arn}
        for reg in mocks.of_type("aws:iam/rolePolicy:RolePolicy"):
            no_duplicate_keys(reg.inputs["policy"])
        assert not mocks.of_type("aws:iam/role:Role")[2:], "no GitLab roles unless asked"
        component_children_ok(mocks, "mlops:ci:CiIdentity", "ci")

    return pulumi.Output.all(ci.preview_role_arn, ci.deploy_role_arn).apply(
        lambda v: after_registration(mocks, lambda _: check(v))
    )


@pulumi.runtime.test
def test_looked_up_providers_and_gitlab_roles(mocks):
    CiIdentity(
        "ci",
        ci_args(
            create_github_provider=False,
            gitlab_project="grp/platform",
            create_gitlab_provider=False,
        ),
    )

    def check(m):
        assert not m.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
        looked_up = [
            a["url"]
            for t, a in m.invokes
            if t == "aws:iam/getOpenIdConnectProvider:getOpenIdConnectProvider"
        ]
        assert sorted(looked_up) == ["https://gitlab.com", f"https://{GITHUB}"]
        trust = no_duplicate_keys(
            m.find("aws:iam/role:Role", "ci-gitlab-deploy").inputs["assumeRolePolicy"]
        )
        condition = trust["Statement"][0]["Condition"]
        assert condition["StringLike"] == {
            "gitlab.com:sub": [
                "project_path:grp/platform:ref_type:tag:ref:*/v*",
                "project_path:grp/platform:ref_type:tag:ref:v*",
            ]
        }
        assert trust["Statement"][0]["Principal"]["Federated"].endswith(":oidc-provider/gitlab.com")

    return after_registration(mocks, check)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"github_repository": "my-org/*"}, "github_repository"),
        ({"github_repository": "platform"}, "github_repository"),
        ({"environment": "prod env"}, "environment"),
        ({"state_key_arn": "alias/pulumi"}, "state_key_arn"),
        ({"gitlab_project": "solo"}, "gitlab_project"),
        ({"gitlab_host": "https://gitlab.com"}, "gitlab_host"),
        ({"max_session_hours": 13}, "max_session_hours"),
        ({"default_branch": "release/*"}, "default_branch"),
    ],
)
def test_invalid_args(overrides, field):
    with pytest.raises(ArgsError) as caught:
        ci_args(**overrides)
    assert caught.value.field == field


# --- the stacks ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def prod() -> dict[str, Any]:
    return plan.make_plan("prod", ROOT).to_json()


def test_prod_plan_shows_the_oidc_roles_with_exact_conditions(prod):
    roles = {r["name"]: r for r in prod["resources"] if r["type"] == "aws:iam/role:Role"}
    deploy = no_duplicate_keys(roles["ci-github-deploy"]["inputs"]["assumeRolePolicy"])
    assert deploy["Statement"][0]["Condition"]["StringEquals"] == {
        f"{GITHUB}:aud": "sts.amazonaws.com",
        f"{GITHUB}:sub": ["repo:my-org/mlops-platform:environment:prod"],
    }
    assert set(prod["outputs"]) >= {"ciPreviewRoleArn", "ciDeployRoleArn", "ciBoundaryArn"}


def test_platform_roles_carry_the_boundary_and_the_path(prod):
    boundary = prod["outputs"]["ciBoundaryArn"]
    platform_roles = [
        r
        for r in prod["resources"]
        if r["type"] == "aws:iam/role:Role" and not r["name"].startswith("ci-")
    ]
    assert {r["name"] for r in platform_roles} == {
        "demo-serving-execution",
        "churn-serving-execution",
        "churn-pipeline-role-role",
        "models-mlflow",
        "network-flow-logs",
        "cluster-cluster",
        "cluster-node",
        "cluster-vpc-cni-role",
        "cluster-ebs-csi-role",
        "cluster-cluster-autoscaler-role",
        "github-runners-role-role",
        "demo-pipeline-role-role",
    }
    for role in platform_roles:
        assert role["inputs"]["permissionsBoundary"] == boundary
        assert role["inputs"]["path"] == PLATFORM_IAM_PATH
    policies = [
        r
        for r in prod["resources"]
        if r["type"] == "aws:iam/policy:Policy" and r["name"].startswith("dvc-")
    ]
    assert policies and all(p["inputs"]["path"] == PLATFORM_IAM_PATH for p in policies)
