"""CI identity: ``CiIdentity``, OIDC roles that let GitHub Actions (and optionally GitLab CI) work
on one environment's account with no long-lived keys.

- The *preview* role is read-only (AWS ``ReadOnlyAccess`` minus data reads) plus the Pulumi state:
  what ``pulumi preview --refresh`` needs. Pull requests and the default branch may assume it.
- The *deploy* role may be assumed only from the GitHub environment named like the stack
  (``repo:<owner>/<repo>:environment:<env>``). It manages the services the platform uses, and may
  create IAM roles only under the permissions boundary created here, which it cannot change.

Trust and permission documents are pure functions below.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar

import pulumi
import pulumi_aws as aws

from mlops_platform.components._aws import aws_context, policy_document
from mlops_platform.components._docs import SecureDefault
from mlops_platform.components._schema import Matches, between, check_declared
from mlops_platform.components._validate import KMS_KEY, ArgsError, Tags

TYPE = "mlops:ci:CiIdentity"

AUDIENCE = "sts.amazonaws.com"
GITHUB_ISSUER = "token.actions.githubusercontent.com"
GITHUB_REPOSITORY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
GITLAB_PROJECT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(?:/[A-Za-z0-9][A-Za-z0-9._-]*)+$")
GITLAB_HOST = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$")
ENVIRONMENT = re.compile(r"^[A-Za-z0-9_.-]{1,255}$")
BRANCH = re.compile(r"^[A-Za-z0-9._/-]{1,255}$")
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")

# Services the platform's stacks manage: the most any role the deploy role creates may do (the
# permissions boundary).
MANAGED_SERVICES = (
    "application-autoscaling",
    "autoscaling",
    "cloudwatch",
    "ec2",
    "ecr",
    "eks",
    "eks-auth",
    "elasticloadbalancing",
    "kms",
    "logs",
    "s3",
    "sagemaker",
    "sns",
)
# What the deploy role itself may do. Services whose provider resources need a large, changing
# set of actions keep a service wildcard, guarded below (stack's region only; the data reads and
# presigned URLs of those services denied; see README "CI roles: what remains a wildcard").
DEPLOY_WILDCARD_SERVICES = ("ec2", "eks", "sagemaker")
# The rest are action lists: what pulumi-aws calls for the resources the platform creates
# (create, read, update, tag, delete), and for ECR what CI's image push and pull need.
DEPLOY_ACTIONS = {
    "application-autoscaling": (
        "application-autoscaling:DeleteScalingPolicy",
        "application-autoscaling:DeregisterScalableTarget",
        "application-autoscaling:DescribeScalableTargets",
        "application-autoscaling:DescribeScalingPolicies",
        "application-autoscaling:ListTagsForResource",
        "application-autoscaling:PutScalingPolicy",
        "application-autoscaling:RegisterScalableTarget",
        "application-autoscaling:TagResource",
        "application-autoscaling:UntagResource",
    ),
    "autoscaling": ("autoscaling:Describe*",),
    "cloudwatch": (
        "cloudwatch:DeleteAlarms",
        "cloudwatch:DescribeAlarms",
        "cloudwatch:ListTagsForResource",
        "cloudwatch:PutMetricAlarm",
        "cloudwatch:TagResource",
        "cloudwatch:UntagResource",
    ),
    "ecr": (
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:CompleteLayerUpload",
        "ecr:CreateRepository",
        "ecr:DeleteLifecyclePolicy",
        "ecr:DeleteRepository",
        "ecr:DeleteRepositoryPolicy",
        "ecr:DescribeImages",
        "ecr:DescribeRepositories",
        "ecr:GetAuthorizationToken",
        "ecr:GetDownloadUrlForLayer",
        "ecr:GetLifecyclePolicy",
        "ecr:GetRepositoryPolicy",
        "ecr:InitiateLayerUpload",
        "ecr:ListImages",
        "ecr:ListTagsForResource",
        "ecr:PutImage",
        "ecr:PutImageScanningConfiguration",
        "ecr:PutImageTagMutability",
        "ecr:PutLifecyclePolicy",
        "ecr:SetRepositoryPolicy",
        "ecr:TagResource",
        "ecr:UntagResource",
        "ecr:UploadLayerPart",
    ),
    "kms": (
        # Keys and aliases; the grants EKS, ECR and SageMaker create with the caller's rights.
        "kms:CancelKeyDeletion",
        "kms:CreateAlias",
        "kms:CreateGrant",
        "kms:CreateKey",
        "kms:DeleteAlias",
        "kms:Describe*",
        "kms:EnableKeyRotation",
        "kms:Get*",
        "kms:List*",
        "kms:PutKeyPolicy",
        "kms:RetireGrant",
        "kms:RevokeGrant",
        "kms:ScheduleKeyDeletion",
        "kms:TagResource",
        "kms:UntagResource",
        "kms:UpdateAlias",
        "kms:UpdateKeyDescription",
    ),
    "logs": (
        "logs:AssociateKmsKey",
        "logs:CreateLogGroup",
        "logs:DeleteLogGroup",
        "logs:DeleteRetentionPolicy",
        "logs:DescribeLogGroups",
        "logs:DisassociateKmsKey",
        "logs:ListTagsForResource",
        "logs:ListTagsLogGroup",
        "logs:PutRetentionPolicy",
        "logs:TagLogGroup",
        "logs:TagResource",
        "logs:UntagLogGroup",
        "logs:UntagResource",
    ),
    "s3": (
        # Buckets and their configuration; no object action (see BUCKET_EMPTYING_ACTIONS).
        "s3:CreateBucket",
        "s3:DeleteBucket",
        "s3:DeleteBucketPolicy",
        "s3:DeleteBucketOwnershipControls",
        "s3:GetAccelerateConfiguration",
        "s3:GetBucket*",
        "s3:GetEncryptionConfiguration",
        "s3:GetLifecycleConfiguration",
        "s3:GetReplicationConfiguration",
        "s3:ListBucket",
        "s3:PutBucket*",
        "s3:PutEncryptionConfiguration",
        "s3:PutLifecycleConfiguration",
    ),
    "sns": (
        "sns:CreateTopic",
        "sns:DeleteTopic",
        "sns:GetSubscriptionAttributes",
        "sns:GetTopicAttributes",
        "sns:ListSubscriptionsByTopic",
        "sns:ListTagsForResource",
        "sns:SetSubscriptionAttributes",
        "sns:SetTopicAttributes",
        "sns:Subscribe",
        "sns:TagResource",
        "sns:Unsubscribe",
        "sns:UntagResource",
    ),
}
# Emptying a force-destroy bucket on ``pulumi destroy`` (dev): list and delete versions.
BUCKET_EMPTYING_ACTIONS = ("s3:DeleteObject", "s3:DeleteObjectVersion", "s3:ListBucketVersions")
# Data the wildcard services would still hand out: instance passwords and consoles, and
# presigned URLs (an MLflow tracking server's UI and API, notebooks, Studio).
WILDCARD_DATA_READS = (
    "ec2:GetConsoleOutput",
    "ec2:GetConsoleScreenshot",
    "ec2:GetPasswordData",
    "sagemaker:CreatePresigned*",
)
# The Pulumi state and its secrets key: a deploy reads and writes state objects and uses the key,
# nothing else (no policy, versioning, lifecycle, deletion; no key policy, state or deletion).
STATE_BUCKET_USE = (
    "s3:AbortMultipartUpload",
    "s3:DeleteObject",
    "s3:GetBucketLocation",
    "s3:GetObject",
    "s3:ListBucket",
    "s3:ListMultipartUploadParts",
    "s3:PutObject",
)
STATE_KEY_USE = (
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListResourceTags",
)
# Global services, whose requests are not in the stack's region.
GLOBAL_SERVICES = ("iam", "sts")
# Services the platform's roles are passed to (SageMaker endpoints, the EKS control plane and
# node groups, EC2 instances of the node groups, VPC flow logs).
PASSED_TO_SERVICES = (
    "application-autoscaling.amazonaws.com",
    "ec2.amazonaws.com",
    "eks.amazonaws.com",
    "sagemaker.amazonaws.com",
    "vpc-flow-logs.amazonaws.com",
)
# Service-linked roles a first deploy may create (EKS, managed node groups, Auto Scaling, ELB
# for Kubernetes load balancers, SageMaker endpoint autoscaling, Spot for spot node groups).
SERVICE_LINKED_ROLES = (
    "autoscaling.amazonaws.com",
    "eks-nodegroup.amazonaws.com",
    "eks.amazonaws.com",
    "elasticloadbalancing.amazonaws.com",
    # Registering an endpoint's scalable target creates the SageMaker autoscaling role.
    "sagemaker.application-autoscaling.amazonaws.com",
    "spot.amazonaws.com",
)
OIDC_PROVIDER_ACTIONS = (
    "iam:AddClientIDToOpenIDConnectProvider",
    "iam:CreateOpenIDConnectProvider",
    "iam:DeleteOpenIDConnectProvider",
    "iam:RemoveClientIDFromOpenIDConnectProvider",
    "iam:TagOpenIDConnectProvider",
    "iam:UntagOpenIDConnectProvider",
    "iam:UpdateOpenIDConnectProviderThumbprint",
)
# Reads of data (not configuration) that AWS ReadOnlyAccess would otherwise allow.
DATA_READS = (
    "dynamodb:BatchGetItem",
    "dynamodb:GetItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
    "kinesis:GetRecords",
    "logs:FilterLogEvents",
    "logs:GetLogEvents",
    "logs:StartQuery",
    "s3:GetObject",
    "s3:GetObjectVersion",
    "sagemaker:Search",
    "secretsmanager:GetSecretValue",
    "sqs:ReceiveMessage",
    "ssm:GetParameter",
    "ssm:GetParameterHistory",
    "ssm:GetParameters",
    "ssm:GetParametersByPath",
)


# --- pure documents ------------------------------------------------------------------------------


def oidc_trust_policy(
    *, provider_arn: str, issuer: str, subjects: Sequence[str], audience: str = AUDIENCE
) -> dict[str, Any]:
    """Web-identity trust pinned to an audience and to exact subjects (``StringEquals``); a
    subject with ``*`` (GitLab ref patterns) is matched with ``StringLike`` instead."""
    exact = sorted(s for s in subjects if "*" not in s)
    patterns = sorted(s for s in subjects if "*" in s)
    condition: dict[str, dict[str, Any]] = {"StringEquals": {f"{issuer}:aud": audience}}
    if exact:
        condition["StringEquals"][f"{issuer}:sub"] = exact
    if patterns:
        condition["StringLike"] = {f"{issuer}:sub": patterns}
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": condition,
            }
        ],
    }


def github_subjects(repository: str, *, environment: str | None, branch: str) -> list[str]:
    """``sub`` claims: a deploy role trusts one environment; the preview role trusts pull
    requests and the default branch (the nightly drift check)."""
    if environment is not None:
        return [f"repo:{repository}:environment:{environment}"]
    return [f"repo:{repository}:pull_request", f"repo:{repository}:ref:refs/heads/{branch}"]


def gitlab_subjects(project: str, *, environment: str | None, branch: str) -> list[str]:
    """GitLab ``sub`` claims (``project_path:<path>:ref_type:<type>:ref:<ref>``): previews from
    any branch of the project; dev deploys from the default branch; staging and prod from
    release tags: ``vX.Y.Z`` (the platform) and ``<model>/vX.Y.Z`` (one model); protect both
    patterns in GitLab."""
    base = f"project_path:{project}:ref_type"
    if environment is None:
        return [f"{base}:branch:ref:*"]
    if environment == "dev":
        return [f"{base}:branch:ref:{branch}"]
    return [f"{base}:tag:ref:v*", f"{base}:tag:ref:*/v*"]


def state_access_policy(
    *, state_bucket_arn: str, state_key_arn: str, write: bool
) -> dict[str, Any]:
    """The Pulumi state: read (preview) or read-write (deploy), and the secrets provider key."""
    object_actions = ["s3:GetObject"] + (["s3:DeleteObject", "s3:PutObject"] if write else [])
    key_actions = ["kms:Decrypt"] + (["kms:Encrypt", "kms:GenerateDataKey"] if write else [])
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "StateBucket",
                "Effect": "Allow",
                "Action": ["s3:GetBucketLocation", "s3:ListBucket"],
                "Resource": state_bucket_arn,
            },
            {
                "Sid": "StateObjects",
                "Effect": "Allow",
                "Action": object_actions,
                "Resource": f"{state_bucket_arn}/*",
            },
            {
                "Sid": "SecretsProvider",
                "Effect": "Allow",
                "Action": key_actions,
                "Resource": state_key_arn,
            },
        ],
    }


def preview_policy(*, state_bucket_arn: str) -> dict[str, Any]:
    """Taken from ReadOnlyAccess: reads of data, except the state bucket's objects."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "NoDataReads",
                "Effect": "Deny",
                "Action": list(DATA_READS),
                "NotResource": [f"{state_bucket_arn}/*"],
            }
        ],
    }


def permissions_boundary_policy(*, partition: str, region: str, account_id: str) -> dict[str, Any]:
    """The most any role created by the deploy role may ever do: use the platform's services,
    log to the environment's MLflow tracking servers, never administer IAM, the organisation or
    the account, and never assume other roles (a role the deploy role creates must not become a
    stepping stone)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PlatformServices",
                "Effect": "Allow",
                "Action": [f"{service}:*" for service in MANAGED_SERVICES],
                "Resource": "*",
            },
            {
                # MLflow's REST API on SageMaker is its own service prefix (sagemaker-mlflow),
                # which sagemaker:* does not cover; its every action takes a tracking server.
                "Sid": "MlflowTracking",
                "Effect": "Allow",
                "Action": "sagemaker-mlflow:*",
                "Resource": (
                    f"arn:{partition}:sagemaker:{region}:{account_id}:mlflow-tracking-server/*"
                ),
            },
            {
                "Sid": "NoAdministration",
                "Effect": "Deny",
                "Action": ["account:*", "iam:*", "organizations:*"],
                "Resource": "*",
            },
        ],
    }


PLATFORM_IAM_PATH = "/mlops-platform/"
"""IAM path of every role and policy the platform's components create under CI."""


def deploy_policy(
    *,
    partition: str,
    account_id: str,
    region: str,
    boundary_arn: str,
    protected_arns: Sequence[str],
    state_bucket_arn: str,
    state_key_arn: str,
    empty_buckets: bool = False,
    iam_path: str = PLATFORM_IAM_PATH,
) -> dict[str, Any]:
    """What the deploy role may do: the platform's services in ``region`` (action lists, three
    guarded wildcards); in IAM, only roles and policies under ``iam_path``, roles only with the
    boundary attached; never the CI roles, the boundary or the OIDC providers (``protected_arns``),
    which only an administrator changes; never the state bucket's policy, versioning, lifecycle or
    existence, nor its key's policy, state or deletion; no object reads (the Pulumi state is
    granted by :func:`state_access_policy`), and object deletes only with ``empty_buckets``."""
    iam = f"arn:{partition}:iam::{account_id}"
    roles, policies = f"{iam}:role{iam_path}*", f"{iam}:policy{iam_path}*"
    in_region = {"StringEquals": {"aws:RequestedRegion": region}}
    actions = [f"{service}:*" for service in DEPLOY_WILDCARD_SERVICES]
    actions += [a for service in sorted(DEPLOY_ACTIONS) for a in DEPLOY_ACTIONS[service]]
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ManagedServicesInRegion",
            "Effect": "Allow",
            "Action": actions,
            "Resource": "*",
            "Condition": in_region,
        }
    ]
    if empty_buckets:
        statements.append(
            {
                "Sid": "EmptyForceDestroyBuckets",
                "Effect": "Allow",
                "Action": list(BUCKET_EMPTYING_ACTIONS),
                "Resource": "*",
                "Condition": in_region,
            }
        )
    statements += [
        {
            "Sid": "ReadIam",
            "Effect": "Allow",
            "Action": ["iam:Get*", "iam:List*"],
            "Resource": "*",
        },
        {
            "Sid": "RolesOnlyUnderTheBoundary",
            "Effect": "Allow",
            "Action": [
                "iam:AttachRolePolicy",
                "iam:CreateRole",
                "iam:DeleteRolePolicy",
                "iam:DetachRolePolicy",
                "iam:PutRolePermissionsBoundary",
                "iam:PutRolePolicy",
            ],
            "Resource": roles,
            "Condition": {"StringEquals": {"iam:PermissionsBoundary": boundary_arn}},
        },
        {
            "Sid": "PlatformRoles",
            "Effect": "Allow",
            "Action": [
                "iam:DeleteRole",
                "iam:TagRole",
                "iam:UntagRole",
                "iam:UpdateAssumeRolePolicy",
                "iam:UpdateRole",
                "iam:UpdateRoleDescription",
            ],
            "Resource": roles,
        },
        {
            "Sid": "PlatformPolicies",
            "Effect": "Allow",
            "Action": [
                "iam:CreatePolicy",
                "iam:CreatePolicyVersion",
                "iam:DeletePolicy",
                "iam:DeletePolicyVersion",
                "iam:TagPolicy",
                "iam:UntagPolicy",
            ],
            "Resource": policies,
        },
        {
            "Sid": "PassPlatformRolesToServices",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": roles,
            "Condition": {"StringEquals": {"iam:PassedToService": list(PASSED_TO_SERVICES)}},
        },
        {
            "Sid": "ServiceLinkedRoles",
            "Effect": "Allow",
            "Action": "iam:CreateServiceLinkedRole",
            "Resource": f"{iam}:role/aws-service-role/*",
            "Condition": {"StringEquals": {"iam:AWSServiceName": list(SERVICE_LINKED_ROLES)}},
        },
        {
            # IRSA: the OIDC providers of the environment's EKS clusters.
            "Sid": "ClusterOidcProviders",
            "Effect": "Allow",
            "Action": list(OIDC_PROVIDER_ACTIONS),
            "Resource": f"{iam}:oidc-provider/oidc.eks.*",
        },
        {
            "Sid": "KeepBoundaries",
            "Effect": "Deny",
            "Action": "iam:DeleteRolePermissionsBoundary",
            "Resource": "*",
        },
        {
            "Sid": "NeverChangeTheCiIdentity",
            "Effect": "Deny",
            "NotAction": ["iam:Get*", "iam:List*"],
            # (An ARN is None only under mocks that compute no outputs.)
            "Resource": sorted(arn for arn in protected_arns if arn),
        },
        {
            "Sid": "OnlyUseTheStateBucket",
            "Effect": "Deny",
            "NotAction": list(STATE_BUCKET_USE),
            "Resource": [state_bucket_arn, f"{state_bucket_arn}/*"],
        },
        {
            "Sid": "OnlyUseTheStateKey",
            "Effect": "Deny",
            "NotAction": list(STATE_KEY_USE),
            "Resource": state_key_arn,
        },
        {
            "Sid": "NoDataOfWildcardServices",
            "Effect": "Deny",
            "Action": list(WILDCARD_DATA_READS),
            "Resource": "*",
        },
    ]
    return {"Version": "2012-10-17", "Statement": statements}


# --- CiIdentity ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CiIdentityArgs:
    """Arguments of :class:`CiIdentity`."""

    github_repository: Annotated[str, Matches(GITHUB_REPOSITORY, "owner/repo")]
    """``owner/repo`` whose workflows may assume the roles (never a wildcard)."""
    environment: Annotated[str, Matches(ENVIRONMENT, "a GitHub environment name")]
    """GitHub environment (and stack) the deploy role belongs to, e.g. ``prod``."""
    state_bucket_arn: pulumi.Input[str]
    """Bucket of the Pulumi S3 backend (bootstrap/)."""
    state_key_arn: Annotated[pulumi.Input[str], KMS_KEY]
    """KMS key of the ``awskms://`` secrets provider (bootstrap/)."""
    default_branch: Annotated[str, Matches(BRANCH, "a branch name")] = "main"
    """Branch whose pushes may assume the preview role (drift checks)."""
    create_github_provider: bool = True
    """Create the account's GitHub OIDC provider; ``False`` looks up the one another stack in
    the same account owns (an account has one provider per issuer)."""
    gitlab_project: Annotated[str | None, Matches(GITLAB_PROJECT, "group/project")] = None
    """``group/project`` on GitLab whose pipelines may assume GitLab roles; none by default."""
    gitlab_host: Annotated[str, Matches(GITLAB_HOST, "a host name such as gitlab.com")] = (
        "gitlab.com"
    )
    """GitLab instance (its OIDC issuer)."""
    create_gitlab_provider: bool = True
    """Create the GitLab OIDC provider, or look it up."""
    max_session_hours: Annotated[int, between(1, 12)] = 2
    """Longest session a pipeline may hold (1-12 hours). A ``pulumi up`` may wait the provider's
    60 minutes for an endpoint, so deploy sessions need more than the usual hour."""
    allow_emptying_buckets: bool = False
    """Let the deploy roles delete objects and their versions, so that ``pulumi destroy`` can
    empty buckets created with ``force_destroy`` (dev). Off: a deploy deletes no data (an
    administrator empties a bucket before it goes)."""
    tags: Tags = field(default_factory=dict)
    """Tags for every taggable child."""

    def __post_init__(self) -> None:
        check_declared(self)
        for name in ("github_repository", "gitlab_project", "environment", "default_branch"):
            value = getattr(self, name)
            if isinstance(value, str) and "*" in value:
                raise ArgsError(name, value, "wildcards are not allowed")


@dataclass(frozen=True)
class _Issuer:
    host: str
    provider_arn: pulumi.Output[str]


class CiIdentity(pulumi.ComponentResource):
    """OIDC providers and the preview and deploy roles of one environment: CI with no keys.

    The preview role is read-only (``ReadOnlyAccess`` minus data reads) plus the Pulumi state;
    pull requests and the default branch may assume it. The deploy role may be assumed only
    from the GitHub environment named like the stack; it manages the platform's services and
    creates IAM roles only under a permissions boundary it cannot change. GitLab roles are
    optional.

    Example::

        from mlops_platform.components import CiIdentity, CiIdentityArgs

        ci = CiIdentity(
            "ci",
            CiIdentityArgs(
                github_repository="acme/mlops-platform",
                environment="dev",
                state_bucket_arn="arn:aws:s3:::acme-pulumi-state",
                state_key_arn="arn:aws:kms:eu-west-1:123456789012:key/"
                "11111111-2222-4333-a444-555555555555",
            ),
        )
    """

    SECURE_DEFAULTS: ClassVar[tuple[SecureDefault, ...]] = (
        SecureDefault("Credentials", "OIDC web identity only, no access keys", "fixed"),
        SecureDefault(
            "Trust",
            "audience ``sts.amazonaws.com`` and exact subjects; wildcards refused",
            "github_repository, default_branch, gitlab_project",
        ),
        SecureDefault("Preview role", "read-only, no data reads; state read-only", "fixed"),
        SecureDefault(
            "Deploy role",
            "one environment; IAM only under ``/mlops-platform/`` and the boundary",
            "environment",
        ),
        SecureDefault(
            "Deploy role's reach",
            "the stack's region; action lists except EC2, EKS, SageMaker; no object reads; the "
            "state bucket and key only used, never reconfigured or deleted",
            "allow_emptying_buckets (object deletes for force-destroy buckets)",
        ),
        SecureDefault("Session length", "2 hours", "max_session_hours (1-12)"),
    )

    preview_role_arn: pulumi.Output[str]
    """ARN of the GitHub preview role (``AWS_PREVIEW_ROLE_ARN_<ENV>``)."""
    deploy_role_arn: pulumi.Output[str]
    """ARN of the GitHub deploy role of the environment (``AWS_DEPLOY_ROLE_ARN``)."""
    boundary_arn: pulumi.Output[str]
    """Permissions boundary every role created by the deploy role must carry."""
    gitlab_preview_role_arn: pulumi.Output[str] | None
    """ARN of the GitLab preview role; ``None`` without ``gitlab_project``."""
    gitlab_deploy_role_arn: pulumi.Output[str] | None
    """ARN of the GitLab deploy role; ``None`` without ``gitlab_project``."""

    def __init__(
        self, name: str, args: CiIdentityArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        self._name = name
        self._args = args
        self._context = aws_context(self)
        tags = dict(args.tags)

        self.boundary = aws.iam.Policy(
            f"{name}-boundary",
            description="Permissions boundary of every role the CI deploy role creates",
            policy=policy_document(
                permissions_boundary_policy,
                partition=self._context.partition,
                region=self._context.region,
                account_id=self._context.account_id,
            ),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.boundary_arn = self.boundary.arn

        github = self._issuer("github", GITHUB_ISSUER, args.create_github_provider)
        self.preview_role_arn, self.deploy_role_arn = self._roles(
            "github",
            github,
            preview=github_subjects(
                args.github_repository, environment=None, branch=args.default_branch
            ),
            deploy=github_subjects(
                args.github_repository, environment=args.environment, branch=args.default_branch
            ),
        )
        self.gitlab_preview_role_arn = None
        self.gitlab_deploy_role_arn = None
        if args.gitlab_project is not None:
            gitlab = self._issuer("gitlab", args.gitlab_host, args.create_gitlab_provider)
            self.gitlab_preview_role_arn, self.gitlab_deploy_role_arn = self._roles(
                "gitlab",
                gitlab,
                preview=gitlab_subjects(
                    args.gitlab_project, environment=None, branch=args.default_branch
                ),
                deploy=gitlab_subjects(
                    args.gitlab_project, environment=args.environment, branch=args.default_branch
                ),
            )

        self.register_outputs(
            {
                "previewRoleArn": self.preview_role_arn,
                "deployRoleArn": self.deploy_role_arn,
                "boundaryArn": self.boundary_arn,
                "gitlabPreviewRoleArn": self.gitlab_preview_role_arn,
                "gitlabDeployRoleArn": self.gitlab_deploy_role_arn,
            }
        )

    def _issuer(self, kind: str, host: str, create: bool) -> _Issuer:
        url = f"https://{host}"
        if create:
            provider = aws.iam.OpenIdConnectProvider(
                f"{self._name}-{kind}-oidc",
                url=url,
                client_id_lists=[AUDIENCE],
                tags=dict(self._args.tags),
                opts=pulumi.ResourceOptions(parent=self),
            )
            return _Issuer(host, provider.arn)
        found = aws.iam.get_open_id_connect_provider_output(
            url=url, opts=pulumi.InvokeOutputOptions(parent=self)
        )
        return _Issuer(host, found.arn)

    def _roles(
        self, kind: str, issuer: _Issuer, *, preview: list[str], deploy: list[str]
    ) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
        args, name, child = self._args, self._name, pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)

        def role(role_name: str, subjects: list[str], description: str) -> aws.iam.Role:
            return aws.iam.Role(
                role_name,
                description=description,
                assume_role_policy=policy_document(
                    oidc_trust_policy,
                    provider_arn=issuer.provider_arn,
                    issuer=issuer.host,
                    subjects=subjects,
                ),
                max_session_duration=args.max_session_hours * 3600,
                tags=tags,
                opts=child,
            )

        def state_access(policy_name: str, target: aws.iam.Role, *, write: bool) -> None:
            aws.iam.RolePolicy(
                policy_name,
                role=target.id,
                policy=policy_document(
                    state_access_policy,
                    state_bucket_arn=args.state_bucket_arn,
                    state_key_arn=args.state_key_arn,
                    write=write,
                ),
                opts=child,
            )

        preview_role = role(f"{name}-{kind}-preview", preview, "Read-only CI previews")
        aws.iam.RolePolicyAttachment(
            f"{name}-{kind}-preview-read-only",
            role=preview_role.name,
            policy_arn=self._context.partition.apply(
                lambda p: f"arn:{p}:iam::aws:policy/ReadOnlyAccess"
            ),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-{kind}-preview",
            role=preview_role.id,
            policy=policy_document(preview_policy, state_bucket_arn=args.state_bucket_arn),
            opts=child,
        )
        state_access(f"{name}-{kind}-preview-state", preview_role, write=False)

        deploy_role = role(
            f"{name}-{kind}-deploy", deploy, f"CI deploys of the {args.environment} environment"
        )
        aws.iam.RolePolicy(
            f"{name}-{kind}-deploy",
            role=deploy_role.id,
            policy=policy_document(
                deploy_policy,
                partition=self._context.partition,
                account_id=self._context.account_id,
                region=self._context.region,
                boundary_arn=self.boundary.arn,
                state_bucket_arn=args.state_bucket_arn,
                state_key_arn=args.state_key_arn,
                empty_buckets=args.allow_emptying_buckets,
                protected_arns=[
                    self.boundary.arn,
                    issuer.provider_arn,
                    preview_role.arn,
                    deploy_role.arn,
                ],
            ),
            opts=child,
        )
        state_access(f"{name}-{kind}-deploy-state", deploy_role, write=True)
        return preview_role.arn, deploy_role.arn
