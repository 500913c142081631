"""Compute: ``ServiceAccountRole`` (IRSA).

``ServiceAccountRole`` is an IAM role that one Kubernetes service account assumes through the
cluster's OIDC provider (IAM roles for service accounts). Its trust is pinned with
``StringEquals`` to ``system:serviceaccount:<namespace>:<name>`` and the audience
``sts.amazonaws.com``: no wildcards, so no other pod of the cluster can assume it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components._aws import policy_document
from components._validate import (
    IAM_POLICY_ARN,
    ArgsError,
    check_each,
    check_iam,
    check_int,
    check_pattern,
    check_tags,
)
from components.ci import AUDIENCE, oidc_trust_policy

SERVICE_ACCOUNT_ROLE_TYPE = "mlops:compute:ServiceAccountRole"

# Kubernetes names: a namespace is a DNS-1123 label, a service account a DNS-1123 subdomain.
K8S_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
K8S_SUBDOMAIN = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
OIDC_PROVIDER_ARN = re.compile(
    r"^arn:aws(?:-cn|-us-gov|-iso|-iso-b)?:iam::\d{12}:oidc-provider/[A-Za-z0-9./_-]+$"
)
POLICY_NAME = re.compile(r"^[\w+=,.@-]{1,128}$")

# Node scheduling contract between the node groups and the workloads (runner scale sets).
POOL_LABEL = "mlops-platform/pool"
"""Node label naming the node group's pool; runner pods select on it."""
SYSTEM_POOL, RUNNER_POOL, GPU_POOL = "system", "runners", "gpu"
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}
"""Taint of the GPU node group (EKS spelling); pods tolerate it as ``NoSchedule``."""
GPU_RESOURCE = "nvidia.com/gpu"


def issuer_host(issuer: str) -> str:
    """The OIDC issuer as IAM condition keys name it: without ``https://``."""
    return issuer.removeprefix("https://")


def service_account_subject(namespace: str, service_account: str) -> str:
    """The ``sub`` claim of a projected service-account token."""
    return f"system:serviceaccount:{namespace}:{service_account}"


def irsa_trust_policy(
    *, provider_arn: str, issuer: str, namespace: str, service_account: str
) -> dict[str, Any]:
    """Web-identity trust for exactly one service account of one cluster."""
    return oidc_trust_policy(
        provider_arn=provider_arn,
        issuer=issuer_host(issuer),
        subjects=[service_account_subject(namespace, service_account)],
        audience=AUDIENCE,
    )


@dataclass(frozen=True, kw_only=True)
class ServiceAccountRoleArgs:
    """Arguments of :class:`ServiceAccountRole`."""

    oidc_provider_arn: pulumi.Input[str]
    """ARN of the cluster's IAM OIDC provider (``Cluster.oidc_provider_arn``)."""
    oidc_issuer: pulumi.Input[str]
    """The cluster's OIDC issuer URL (``Cluster.oidc_issuer``), with or without ``https://``."""
    namespace: str
    """Kubernetes namespace of the service account."""
    service_account: str
    """Name of the service account that may assume the role."""
    policies: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Inline policies: name -> policy JSON."""
    managed_policy_arns: Sequence[pulumi.Input[str]] = ()
    """Managed policies to attach (AWS-managed or customer-managed ARNs)."""
    description: str = ""
    """Role description; default names the service account."""
    max_session_hours: int = 1
    """Longest session the service account's credentials last (1-12 hours)."""
    iam_path: str = "/"
    """IAM path of the role."""
    permissions_boundary_arn: pulumi.Input[str] | None = None
    """Permissions boundary of the role (required when the CI deploy role creates it)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags of the role."""

    def __post_init__(self) -> None:
        check_pattern(
            "oidc_provider_arn",
            self.oidc_provider_arn,
            OIDC_PROVIDER_ARN,
            "an IAM OIDC provider ARN",
        )
        check_pattern(
            "namespace", self.namespace, K8S_LABEL, "a Kubernetes namespace (DNS-1123 label)"
        )
        check_pattern(
            "service_account",
            self.service_account,
            K8S_SUBDOMAIN,
            "a Kubernetes service account name (DNS-1123 subdomain, no wildcards)",
        )
        if not isinstance(self.policies, Mapping):
            raise ArgsError("policies", self.policies, "expected a map of name -> policy JSON")
        for name in self.policies:
            check_pattern(f"policies.{name}", name, POLICY_NAME, "an IAM policy name")
        check_each(
            "managed_policy_arns", self.managed_policy_arns, IAM_POLICY_ARN, "IAM policy ARNs"
        )
        check_int("max_session_hours", self.max_session_hours, 1, 12)
        check_iam(self.iam_path, self.permissions_boundary_arn)
        check_tags("tags", self.tags)


class ServiceAccountRole(pulumi.ComponentResource):
    """An IAM role for one Kubernetes service account (IRSA)."""

    role_arn: pulumi.Output[str]
    """ARN to put in the service account's ``eks.amazonaws.com/role-arn`` annotation."""
    role_name: pulumi.Output[str]
    """Name of the role."""

    def __init__(
        self,
        name: str,
        args: ServiceAccountRoleArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(SERVICE_ACCOUNT_ROLE_TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        subject = service_account_subject(args.namespace, args.service_account)
        self.role = aws.iam.Role(
            f"{name}-role",
            description=args.description or f"IRSA role of {subject}",
            assume_role_policy=policy_document(
                irsa_trust_policy,
                provider_arn=args.oidc_provider_arn,
                issuer=args.oidc_issuer,
                namespace=args.namespace,
                service_account=args.service_account,
            ),
            max_session_duration=args.max_session_hours * 3600,
            path=args.iam_path,
            permissions_boundary=args.permissions_boundary_arn,
            tags=dict(args.tags),
            opts=child,
        )
        for policy_name, document in args.policies.items():
            aws.iam.RolePolicy(
                f"{name}-{policy_name}",
                name=policy_name,
                role=self.role.id,
                policy=document,
                opts=child,
            )
        for index, policy_arn in enumerate(args.managed_policy_arns):
            aws.iam.RolePolicyAttachment(
                f"{name}-managed-{index}", role=self.role.name, policy_arn=policy_arn, opts=child
            )
        self.role_arn = self.role.arn
        self.role_name = self.role.name
        self.register_outputs({"roleArn": self.role_arn, "roleName": self.role_name})
