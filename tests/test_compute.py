"""Compute: ServiceAccountRole (IRSA), Cluster."""

from __future__ import annotations

import json

import pulumi
import pytest
from conftest import ACCOUNT, after_registration, component_children_ok

from components import ArgsError
from components.compute import (
    SERVICE_ACCOUNT_ROLE_TYPE,
    ServiceAccountRole,
    ServiceAccountRoleArgs,
    irsa_trust_policy,
)

ISSUER = "https://oidc.eks.eu-west-1.amazonaws.com/id/ABCDEF0123456789"
OIDC_ARN = (
    f"arn:aws:iam::{ACCOUNT}:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABCDEF0123456789"
)


def test_irsa_trust_is_exact_for_one_service_account():
    doc = irsa_trust_policy(
        provider_arn=OIDC_ARN, issuer=ISSUER, namespace="arc-runners", service_account="runner"
    )
    [stmt] = doc["Statement"]
    host = ISSUER.removeprefix("https://")
    assert stmt["Principal"] == {"Federated": OIDC_ARN}
    assert stmt["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert stmt["Condition"] == {
        "StringEquals": {
            f"{host}:aud": "sts.amazonaws.com",
            f"{host}:sub": ["system:serviceaccount:arc-runners:runner"],
        }
    }
    assert "*" not in json.dumps(doc)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("namespace", "*"),
        ("namespace", "Kube-System"),
        ("service_account", "runner-*"),
        ("service_account", ""),
        ("oidc_provider_arn", "arn:aws:iam::123:oidc-provider/x"),
        ("max_session_hours", 13),
        ("iam_path", "no-slashes"),
        ("managed_policy_arns", ["AmazonS3ReadOnly"]),
        ("policies", {"bad name!": "{}"}),
    ],
)
def test_service_account_role_args_reject(field, value):
    kwargs = dict(
        oidc_provider_arn=OIDC_ARN, oidc_issuer=ISSUER, namespace="ns", service_account="sa"
    )
    with pytest.raises(ArgsError) as error:
        ServiceAccountRoleArgs(**{**kwargs, field: value})
    assert error.value.field.split(".")[0].split("[")[0] == field


@pulumi.runtime.test
def test_service_account_role_registers_role_and_policies(mocks):
    ServiceAccountRole(
        "ebs-csi",
        ServiceAccountRoleArgs(
            oidc_provider_arn=OIDC_ARN,
            oidc_issuer=ISSUER,
            namespace="kube-system",
            service_account="ebs-csi-controller-sa",
            policies={"extra": '{"Version":"2012-10-17","Statement":[]}'},
            managed_policy_arns=["arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"],
            iam_path="/mlops-platform/",
            tags={"team": "ml"},
        ),
    )

    def check(m):
        component_children_ok(m, SERVICE_ACCOUNT_ROLE_TYPE, "ebs-csi")
        role = m.find("aws:iam/role:Role", "ebs-csi-role")
        trust = json.loads(role.inputs["assumeRolePolicy"])
        cond = trust["Statement"][0]["Condition"]
        assert cond["StringEquals"]["oidc.eks.eu-west-1.amazonaws.com/id/ABCDEF0123456789:sub"] == [
            "system:serviceaccount:kube-system:ebs-csi-controller-sa"
        ]
        assert role.inputs["path"] == "/mlops-platform/"
        assert role.inputs["maxSessionDuration"] == 3600
        inline = m.find("aws:iam/rolePolicy:RolePolicy", "ebs-csi-extra")
        assert inline.inputs["name"] == "extra"
        attachment = m.find(
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "ebs-csi-managed-0"
        )
        assert attachment.inputs["policyArn"].endswith("AmazonEBSCSIDriverPolicy")

    return after_registration(mocks, check)
