"""policy/rules.py: per rule a compliant resource and at least one mutation it must flag.

No Pulumi runtime: the rules are pure functions over hand-written camelCase properties, the
same shapes the offline plan records and CrossGuard hands a policy pack (the EKS and EC2 ones
follow pulumi-aws's input names for resources the compute stack will add).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from conftest import ROOT

from mlops_platform.policy.context import Context, WaiverError, from_config, parse_waivers
from mlops_platform.policy.rules import (
    MANDATORY,
    RULES,
    STATEFUL,
    UNKNOWN,
    Resource,
    evaluate,
    rule_ids,
)

PROD = Context("prod")
DEV = Context("dev")
ACCOUNT = "333333333333"
KEY_ARN = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/11111111-2222-4333-a444-555555555555"
PROVIDER = {
    "region": "eu-west-1",
    "defaultTags": json.dumps({"tags": {"env": "prod", "owner": "ml-platform", "project": "p"}}),
}
ISSUER = "oidc.eks.eu-west-1.amazonaws.com/id/ABCDEF0123456789"


def urn(type_: str, name: str) -> str:
    return f"urn:pulumi:prod::mlops-platform::{type_}::{name}"


def res(type_: str, name: str, props: dict[str, Any], *, deps: tuple[str, ...] = (), **kw):
    return Resource(
        type=type_,
        name=name,
        urn=urn(type_, name),
        props=props,
        provider=kw.pop("provider", PROVIDER),
        dependencies=tuple(urn(*d.split("|")) for d in deps),
        **kw,
    )


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


BUCKET = "aws:s3/bucket:Bucket"
ON_BUCKET = (f"{BUCKET}|data",)
TLS_DENY = {
    "Sid": "DenyInsecureTransport",
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:*",
    "Resource": ["arn:aws:s3:::data", "arn:aws:s3:::data/*"],
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}
GITHUB = {
    "Effect": "Allow",
    "Action": "sts:AssumeRoleWithWebIdentity",
    "Principal": {
        "Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
    },
    "Condition": {
        "StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": ["repo:my-org/mlops:environment:prod"],
        }
    },
}
GITLAB = {
    "Effect": "Allow",
    "Action": "sts:AssumeRoleWithWebIdentity",
    "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/gitlab.com"},
    "Condition": {
        "StringEquals": {"gitlab.com:aud": "sts.amazonaws.com"},
        "StringLike": {"gitlab.com:sub": ["project_path:grp/mlops:ref_type:tag:ref:v*"]},
    },
}
IRSA = {
    "Effect": "Allow",
    "Action": "sts:AssumeRoleWithWebIdentity",
    "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{ISSUER}"},
    "Condition": {
        "StringEquals": {
            f"{ISSUER}:aud": "sts.amazonaws.com",
            f"{ISSUER}:sub": "system:serviceaccount:arc-runners:runner",
        }
    },
}


def compliant() -> list[Resource]:
    """A prod stack that every rule accepts."""
    stateful = {"protect": True, "retain_on_delete": True}
    return [
        res(BUCKET, "data", {"forceDestroy": False, "tags": {}}, **stateful),
        res(
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            "data-public-access",
            dict.fromkeys(
                (
                    "blockPublicAcls",
                    "blockPublicPolicy",
                    "ignorePublicAcls",
                    "restrictPublicBuckets",
                ),
                True,
            ),
            deps=ON_BUCKET,
        ),
        res(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            "data-encryption",
            {
                "rules": [
                    {
                        "applyServerSideEncryptionByDefault": {
                            "sseAlgorithm": "aws:kms",
                            "kmsMasterKeyId": KEY_ARN,
                        },
                        "bucketKeyEnabled": True,
                    }
                ]
            },
            deps=ON_BUCKET,
        ),
        res(
            "aws:s3/bucketPolicy:BucketPolicy",
            "data-policy",
            {"policy": doc(TLS_DENY)},
            deps=ON_BUCKET,
        ),
        res(
            "aws:s3/bucketVersioning:BucketVersioning",
            "data-versioning",
            {"versioningConfiguration": {"status": "Enabled"}},
            deps=ON_BUCKET,
        ),
        res(
            "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
            "data-lifecycle",
            {"rules": [{"id": "abort", "status": "Enabled"}]},
            deps=ON_BUCKET,
        ),
        res(
            "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
            "data-ownership",
            {"rule": {"objectOwnership": "BucketOwnerEnforced"}},
            deps=ON_BUCKET,
        ),
        res(
            "aws:kms/key:Key",
            "key",
            {
                "enableKeyRotation": True,
                "deletionWindowInDays": 30,
                "policy": doc(
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                        "Action": "kms:*",
                        "Resource": "*",
                    }
                ),
                "tags": {},
            },
            **stateful,
        ),
        res(
            "aws:ecr/repository:Repository",
            "repo",
            {
                "imageTagMutability": "IMMUTABLE",
                "imageScanningConfiguration": {"scanOnPush": True},
                "encryptionConfigurations": [{"encryptionType": "KMS", "kmsKey": KEY_ARN}],
                "forceDelete": False,
                "tags": {},
            },
            **stateful,
        ),
        res(
            "aws:ecr/lifecyclePolicy:LifecyclePolicy",
            "repo-lifecycle",
            {"policy": "{}"},
            deps=("aws:ecr/repository:Repository|repo",),
        ),
        res("aws:iam/role:Role", "github", {"assumeRolePolicy": doc(GITHUB), "tags": {}}),
        res("aws:iam/role:Role", "gitlab", {"assumeRolePolicy": doc(GITLAB), "tags": {}}),
        res("aws:iam/role:Role", "irsa", {"assumeRolePolicy": doc(IRSA), "tags": {}}),
        res(
            "aws:iam/policy:Policy",
            "deploy",
            {
                "policy": doc(
                    {"Effect": "Allow", "Action": ["s3:*", "ecr:*"], "Resource": "*"},
                    {"Effect": "Deny", "Action": "*", "Resource": "*"},
                ),
                "tags": {},
            },
        ),
        res(
            "aws:eks/cluster:Cluster",
            "cluster",
            {
                "vpcConfig": {"endpointPrivateAccess": True, "endpointPublicAccess": False},
                "encryptionConfig": {"provider": {"keyArn": KEY_ARN}, "resources": ["secrets"]},
                "enabledClusterLogTypes": ["api", "audit", "authenticator"],
                "accessConfig": {"authenticationMode": "API"},
                "tags": {},
            },
        ),
        res(
            "aws:eks/nodeGroup:NodeGroup",
            "cpu",
            {"launchTemplate": {"id": "lt-123", "version": "1"}, "tags": {}},
        ),
        res(
            "aws:ec2/launchTemplate:LaunchTemplate",
            "nodes",
            {
                "metadataOptions": {
                    "httpEndpoint": "enabled",
                    "httpTokens": "required",
                    "httpPutResponseHopLimit": 1,
                },
                "tags": {},
            },
        ),
        res(
            "aws:ec2/securityGroup:SecurityGroup",
            "nodes-sg",
            {
                "ingress": [
                    {"cidrBlocks": ["10.0.0.0/16"], "fromPort": 0, "toPort": 0, "protocol": "-1"},
                    {
                        "cidrBlocks": ["0.0.0.0/0"],
                        "fromPort": 443,
                        "toPort": 443,
                        "protocol": "tcp",
                    },
                ],
                "tags": {},
            },
        ),
        res(
            "aws:sagemaker/model:Model",
            "model",
            {"enableNetworkIsolation": True, "tags": {}},
        ),
        res(
            "aws:sagemaker/endpointConfiguration:EndpointConfiguration",
            "config",
            {
                "kmsKeyArn": KEY_ARN,
                "productionVariants": [
                    {
                        "variantName": "primary",
                        "instanceType": "ml.m5.large",
                        "initialInstanceCount": 2,
                    }
                ],
                "dataCaptureConfig": {"enableCapture": True, "kmsKeyId": KEY_ARN},
                "tags": {},
            },
            deps=("aws:sagemaker/model:Model|model",),
        ),
        res(
            "aws:sagemaker/endpoint:Endpoint",
            "endpoint",
            {
                "deploymentConfig": {
                    "autoRollbackConfiguration": {"alarms": [{"alarmName": "5xx"}]},
                    "blueGreenUpdatePolicy": {
                        "trafficRoutingConfiguration": {"type": "CANARY"},
                    },
                },
                "tags": {},
            },
        ),
        res("aws:sagemaker/modelPackageGroup:ModelPackageGroup", "group", {"tags": {}}, **stateful),
        res(
            "aws:sagemaker/mlflowTrackingServer:MlflowTrackingServer",
            "tracking",
            {"tags": {}},
            **stateful,
        ),
        res(
            "aws:cloudwatch/metricAlarm:MetricAlarm",
            "5xx",
            {"alarmActions": ["arn:aws:sns:eu-west-1:333333333333:alarms"], "tags": {}},
        ),
        res(
            "aws:cloudwatch/logGroup:LogGroup",
            "logs",
            {"retentionInDays": 365, "kmsKeyId": KEY_ARN, "tags": {}},
            **stateful,
        ),
        res("aws:sns/topic:Topic", "alarms", {"kmsMasterKeyId": KEY_ARN, "tags": {}}),
    ]


# --- mutations -----------------------------------------------------------------------------------

Mutation = Callable[[list[Resource]], list[Resource]]


def props(name: str, **changes: Any) -> Mutation:
    """Sets (or, with None, removes) top-level properties of the resource ``name``."""

    def mutate(stack: list[Resource]) -> list[Resource]:
        def change(r: Resource) -> Resource:
            new = {**r.props, **changes}
            return replace(r, props={k: v for k, v in new.items() if v is not None})

        return [change(r) if r.name == name else r for r in stack]

    return mutate


def options(name: str, **changes: Any) -> Mutation:
    return lambda stack: [replace(r, **changes) if r.name == name else r for r in stack]


def drop(name: str) -> Mutation:
    return lambda stack: [r for r in stack if r.name != name]


def trust(name: str, statement: dict[str, Any]) -> Mutation:
    return props(name, assumeRolePolicy=doc(statement))


def with_condition(statement: dict[str, Any], condition: dict[str, Any]) -> dict[str, Any]:
    return {**statement, "Condition": condition}


GH = "token.actions.githubusercontent.com"
SSE_RULE = "data-encryption"

MUTATIONS: list[tuple[str, str, Mutation, str]] = [
    # (rule, case, mutation, resource the finding names)
    (
        "iam-no-star-star",
        "admin policy",
        props("deploy", policy=doc({"Effect": "Allow", "Action": "*", "Resource": "*"})),
        "deploy",
    ),
    (
        "iam-no-star-star",
        "inline *:* on a role",
        props(
            "github",
            inlinePolicies=[
                {
                    "name": "x",
                    "policy": doc({"Effect": "Allow", "Action": ["*:*"], "Resource": ["*"]}),
                }
            ],
        ),
        "github",
    ),
    (
        "iam-no-wildcard-principal",
        "public bucket policy",
        props(
            "data-policy",
            policy=doc(
                TLS_DENY,
                {
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "s3:GetObject",
                    "Resource": "arn:aws:s3:::data/*",
                },
            ),
        ),
        "data-policy",
    ),
    (
        "iam-no-wildcard-principal",
        "anyone may assume",
        trust("irsa", {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}),
        "irsa",
    ),
    (
        "iam-no-wildcard-principal",
        "NotPrincipal allow",
        props(
            "key",
            policy=doc(
                {
                    "Effect": "Allow",
                    "NotPrincipal": {"AWS": "arn:aws:iam::1:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                }
            ),
        ),
        "key",
    ),
    (
        "iam-oidc-trust-pinned",
        "github wildcard repo",
        trust(
            "github",
            with_condition(
                GITHUB,
                {
                    "StringEquals": {f"{GH}:aud": "sts.amazonaws.com"},
                    "StringLike": {f"{GH}:sub": "repo:my-org/*"},
                },
            ),
        ),
        "github",
    ),
    (
        "iam-oidc-trust-pinned",
        "github any ref of the repo",
        trust(
            "github",
            with_condition(
                GITHUB,
                {
                    "StringEquals": {f"{GH}:aud": "sts.amazonaws.com"},
                    "StringLike": {f"{GH}:sub": "repo:my-org/mlops:*"},
                },
            ),
        ),
        "github",
    ),
    (
        "iam-oidc-trust-pinned",
        "github without sub",
        trust(
            "github", with_condition(GITHUB, {"StringEquals": {f"{GH}:aud": "sts.amazonaws.com"}})
        ),
        "github",
    ),
    (
        "iam-oidc-trust-pinned",
        "github without aud",
        trust(
            "github",
            with_condition(
                GITHUB, {"StringEquals": {f"{GH}:sub": "repo:my-org/mlops:environment:prod"}}
            ),
        ),
        "github",
    ),
    (
        "iam-oidc-trust-pinned",
        "gitlab wildcard project",
        trust(
            "gitlab",
            with_condition(
                GITLAB,
                {
                    "StringEquals": {"gitlab.com:aud": "sts.amazonaws.com"},
                    "StringLike": {"gitlab.com:sub": "project_path:grp/*"},
                },
            ),
        ),
        "gitlab",
    ),
    (
        "iam-irsa-trust-pinned",
        "wildcard service account",
        trust(
            "irsa",
            with_condition(
                IRSA,
                {
                    "StringEquals": {f"{ISSUER}:aud": "sts.amazonaws.com"},
                    "StringLike": {f"{ISSUER}:sub": "system:serviceaccount:arc-runners:*"},
                },
            ),
        ),
        "irsa",
    ),
    (
        "iam-irsa-trust-pinned",
        "no audience",
        trust(
            "irsa",
            with_condition(
                IRSA,
                {"StringEquals": {f"{ISSUER}:sub": "system:serviceaccount:arc-runners:runner"}},
            ),
        ),
        "irsa",
    ),
    (
        "iam-irsa-trust-pinned",
        "not a service account",
        trust(
            "irsa",
            with_condition(
                IRSA,
                {
                    "StringEquals": {
                        f"{ISSUER}:aud": "sts.amazonaws.com",
                        f"{ISSUER}:sub": "system:node:ip-10-0-0-1",
                    }
                },
            ),
        ),
        "irsa",
    ),
    (
        "s3-public-access-block",
        "a setting off",
        props("data-public-access", restrictPublicBuckets=False),
        "data-public-access",
    ),
    (
        "s3-public-access-block",
        "a setting missing",
        props("data-public-access", blockPublicPolicy=None),
        "data-public-access",
    ),
    ("s3-public-access-block", "no block", drop("data-public-access"), "data"),
    (
        "s3-sse-kms",
        "AES256",
        props(SSE_RULE, rules=[{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]),
        SSE_RULE,
    ),
    (
        "s3-sse-kms",
        "kms without a key",
        props(
            SSE_RULE, rules=[{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}]
        ),
        SSE_RULE,
    ),
    ("s3-sse-kms", "no configuration", drop(SSE_RULE), "data"),
    (
        "s3-tls-only",
        "no TLS statement",
        props(
            "data-policy",
            policy=doc({**TLS_DENY, "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}}}),
        ),
        "data",
    ),
    ("s3-tls-only", "no bucket policy", drop("data-policy"), "data"),
    (
        "s3-versioning",
        "suspended",
        props("data-versioning", versioningConfiguration={"status": "Suspended"}),
        "data",
    ),
    ("s3-versioning", "no versioning", drop("data-versioning"), "data"),
    ("s3-lifecycle", "no lifecycle", drop("data-lifecycle"), "data"),
    (
        "s3-lifecycle",
        "rules disabled",
        props("data-lifecycle", rules=[{"id": "x", "status": "Disabled"}]),
        "data",
    ),
    ("s3-no-force-destroy", "force destroy in prod", props("data", forceDestroy=True), "data"),
    (
        "s3-acls-disabled",
        "object writer",
        props("data-ownership", rule={"objectOwnership": "ObjectWriter"}),
        "data",
    ),
    ("s3-no-public-acl", "public-read", props("data", acl="public-read"), "data"),
    ("kms-rotation", "rotation off", props("key", enableKeyRotation=False), "key"),
    ("kms-rotation", "rotation unset", props("key", enableKeyRotation=None), "key"),
    ("kms-explicit-policy", "default policy", props("key", policy=None), "key"),
    ("kms-deletion-window", "7 days in prod", props("key", deletionWindowInDays=7), "key"),
    ("ecr-immutable-tags", "mutable in prod", props("repo", imageTagMutability="MUTABLE"), "repo"),
    (
        "ecr-scan-on-push",
        "no scan",
        props("repo", imageScanningConfiguration={"scanOnPush": False}),
        "repo",
    ),
    (
        "ecr-kms",
        "AES256",
        props("repo", encryptionConfigurations=[{"encryptionType": "AES256"}]),
        "repo",
    ),
    ("ecr-lifecycle", "no lifecycle", drop("repo-lifecycle"), "repo"),
    ("ecr-no-force-delete", "force delete in prod", props("repo", forceDelete=True), "repo"),
    (
        "eks-private-endpoint",
        "public endpoint",
        props(
            "cluster",
            vpcConfig={
                "endpointPrivateAccess": True,
                "endpointPublicAccess": True,
                "publicAccessCidrs": ["203.0.113.0/24"],
            },
        ),
        "cluster",
    ),
    (
        "eks-private-endpoint",
        "provider default",
        props("cluster", vpcConfig={"subnetIds": ["subnet-1"]}),
        "cluster",
    ),
    (
        "eks-no-public-cidr",
        "open to the internet",
        props(
            "cluster",
            vpcConfig={
                "endpointPrivateAccess": True,
                "endpointPublicAccess": True,
                "publicAccessCidrs": ["0.0.0.0/0"],
            },
        ),
        "cluster",
    ),
    (
        "eks-no-public-cidr",
        "public without CIDRs",
        props("cluster", vpcConfig={"endpointPublicAccess": True}),
        "cluster",
    ),
    (
        "eks-secrets-encryption",
        "no envelope encryption",
        props("cluster", encryptionConfig=None),
        "cluster",
    ),
    (
        "eks-secrets-encryption",
        "no key",
        props("cluster", encryptionConfig={"resources": ["secrets"]}),
        "cluster",
    ),
    (
        "eks-control-plane-logs",
        "api only",
        props("cluster", enabledClusterLogTypes=["api"]),
        "cluster",
    ),
    (
        "eks-access-api",
        "aws-auth config map",
        props("cluster", accessConfig={"authenticationMode": "CONFIG_MAP"}),
        "cluster",
    ),
    ("eks-nodegroup-no-ssh", "ssh key", props("cpu", remoteAccess={"ec2SshKey": "ops"}), "cpu"),
    (
        "eks-nodegroup-launch-template",
        "no launch template",
        props("cpu", launchTemplate=None),
        "cpu",
    ),
    (
        "ec2-imdsv2",
        "IMDSv1 allowed",
        props("nodes", metadataOptions={"httpTokens": "optional", "httpPutResponseHopLimit": 1}),
        "nodes",
    ),
    ("ec2-imdsv2", "no metadata options", props("nodes", metadataOptions=None), "nodes"),
    (
        "ec2-imds-hop-limit",
        "pods reach IMDS",
        props("nodes", metadataOptions={"httpTokens": "required", "httpPutResponseHopLimit": 2}),
        "nodes",
    ),
    (
        "ec2-no-public-ingress",
        "ssh from anywhere",
        props(
            "nodes-sg",
            ingress=[
                {"cidrBlocks": ["0.0.0.0/0"], "fromPort": 22, "toPort": 22, "protocol": "tcp"}
            ],
        ),
        "nodes-sg",
    ),
    (
        "ec2-no-public-ingress",
        "all traffic over IPv6",
        props(
            "nodes-sg",
            ingress=[{"ipv6CidrBlocks": ["::/0"], "fromPort": 0, "toPort": 0, "protocol": "-1"}],
        ),
        "nodes-sg",
    ),
    (
        "ec2-no-public-ingress",
        "security group rule",
        lambda s: [
            *s,
            res(
                "aws:ec2/securityGroupRule:SecurityGroupRule",
                "ssh",
                {
                    "type": "ingress",
                    "cidrBlocks": ["0.0.0.0/0"],
                    "fromPort": 22,
                    "toPort": 22,
                    "protocol": "tcp",
                },
            ),
        ],
        "ssh",
    ),
    (
        "ec2-no-public-ingress",
        "vpc ingress rule",
        lambda s: [
            *s,
            res(
                "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
                "k8s-api",
                {"cidrIpv4": "0.0.0.0/0", "fromPort": 443, "toPort": 10250, "ipProtocol": "tcp"},
            ),
        ],
        "k8s-api",
    ),
    ("sagemaker-endpoint-kms", "no volume key", props("config", kmsKeyArn=None), "config"),
    (
        "sagemaker-endpoint-kms",
        "capture without key",
        props("config", dataCaptureConfig={"enableCapture": True}),
        "config",
    ),
    (
        "sagemaker-prod-instances",
        "one instance",
        props(
            "config",
            productionVariants=[
                {"variantName": "primary", "instanceType": "ml.m5.large", "initialInstanceCount": 1}
            ],
        ),
        "config",
    ),
    (
        "sagemaker-prod-canary",
        "all at once",
        props(
            "endpoint",
            deploymentConfig={
                "autoRollbackConfiguration": {"alarms": [{"alarmName": "5xx"}]},
                "blueGreenUpdatePolicy": {"trafficRoutingConfiguration": {"type": "ALL_AT_ONCE"}},
            },
        ),
        "endpoint",
    ),
    (
        "sagemaker-prod-canary",
        "no deployment config",
        props("endpoint", deploymentConfig=None),
        "endpoint",
    ),
    (
        "sagemaker-rollback-alarms",
        "no alarms",
        props(
            "endpoint",
            deploymentConfig={
                "blueGreenUpdatePolicy": {"trafficRoutingConfiguration": {"type": "CANARY"}}
            },
        ),
        "endpoint",
    ),
    (
        "sagemaker-network-isolation",
        "isolation off",
        props("model", enableNetworkIsolation=False),
        "model",
    ),
    (
        "sagemaker-network-isolation",
        "isolation unset",
        props("model", enableNetworkIsolation=None),
        "model",
    ),
    ("cloudwatch-alarm-actions", "no actions", props("5xx", alarmActions=[]), "5xx"),
    ("cloudwatch-alarm-actions", "actions disabled", props("5xx", actionsEnabled=False), "5xx"),
    ("cloudwatch-log-retention", "a month in prod", props("logs", retentionInDays=30), "logs"),
    ("cloudwatch-log-retention", "forever", props("logs", retentionInDays=None), "logs"),
    ("cloudwatch-log-kms", "no key", props("logs", kmsKeyId=None), "logs"),
    ("sns-kms", "no key", props("alarms", kmsMasterKeyId=None), "alarms"),
    (
        "tags-required",
        "no owner anywhere",
        options("repo", provider={"defaultTags": json.dumps({"tags": {"env": "prod"}})}),
        "repo",
    ),
    ("tags-required", "no default tags", options("key", provider={}), "key"),
    ("tags-required", "env of another stack", props("alarms", tags={"env": "dev"}), "alarms"),
    ("prod-protect-stateful", "unprotected bucket", options("data", protect=False), "data"),
    (
        "prod-protect-stateful",
        "not retained",
        options("tracking", retain_on_delete=False),
        "tracking",
    ),
]


def findings(stack: list[Resource], context: Context = PROD) -> list[tuple[str, str]]:
    return [(f.rule, f.resource.name) for f in evaluate(stack, context)]


def test_at_least_30_rules_with_unique_kebab_case_ids_levels_and_controls():
    assert len(RULES) >= 30
    assert len(rule_ids()) == len(RULES)
    for current in RULES:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", current.id), current.id
        assert current.level in ("mandatory", "advisory")
        assert current.controls and current.description.endswith("."), current.id


def test_every_rule_has_a_mutation_that_it_flags():
    assert {m[0] for m in MUTATIONS} == rule_ids()


def test_the_compliant_stack_has_no_finding_anywhere():
    stack = compliant()
    assert findings(stack) == []
    dev = [
        replace(r, provider={"defaultTags": {"tags": {"env": "dev", "owner": "me"}}}) for r in stack
    ]
    assert findings(dev, DEV) == []


@pytest.mark.parametrize(
    ("rule_id", "mutate", "resource"),
    [(m[0], m[2], m[3]) for m in MUTATIONS],
    ids=[f"{m[0]}: {m[1]}" for m in MUTATIONS],
)
def test_mutation_is_flagged(rule_id, mutate, resource):
    found = findings(mutate(compliant()))
    assert (rule_id, resource) in found, found


def test_rules_outside_dev_and_in_prod_do_not_apply_to_dev():
    dev_tags = {"defaultTags": {"tags": {"env": "dev", "owner": "me"}}}
    stack = [replace(r, provider=dev_tags) for r in compliant()]
    for rule_id in (
        "s3-no-force-destroy",
        "ecr-immutable-tags",
        "ecr-no-force-delete",
        "sagemaker-prod-instances",
        "sagemaker-prod-canary",
        "prod-protect-stateful",
    ):
        mutated = next(m[2] for m in MUTATIONS if m[0] == rule_id)(stack)
        assert rule_id not in {rule for rule, _ in findings(mutated, DEV)}, rule_id
    # Prod's longer retention is a prod rule; a finite retention is required everywhere.
    assert findings(props("logs", retentionInDays=30)(stack), DEV) == []
    assert findings(props("logs", retentionInDays=None)(stack), DEV) == [
        ("cloudwatch-log-retention", "logs")
    ]


def test_dev_may_open_the_eks_endpoint_to_configured_cidrs_only():
    stack = [
        replace(r, provider={"defaultTags": {"tags": {"env": "dev", "owner": "me"}}})
        for r in compliant()
    ]
    restricted = props(
        "cluster",
        vpcConfig={
            "endpointPrivateAccess": True,
            "endpointPublicAccess": True,
            "publicAccessCidrs": ["203.0.113.0/24"],
        },
    )(stack)
    assert findings(restricted, DEV) == []
    assert ("eks-private-endpoint", "cluster") in findings(restricted, Context("staging"))
    private_off = props(
        "cluster",
        vpcConfig={"endpointPrivateAccess": False, "endpointPublicAccess": True,
                   "publicAccessCidrs": ["203.0.113.0/24"]},
    )(stack)  # fmt: skip
    assert ("eks-private-endpoint", "cluster") in findings(private_off, DEV)
    open_to_all = props(
        "cluster",
        vpcConfig={"endpointPrivateAccess": True, "endpointPublicAccess": True,
                   "publicAccessCidrs": ["0.0.0.0/0"]},
    )(stack)  # fmt: skip
    assert ("eks-no-public-cidr", "cluster") in findings(open_to_all, DEV)


def test_an_unknown_environment_is_judged_as_prod():
    stack = props("repo", imageTagMutability="MUTABLE")(compliant())
    assert ("ecr-immutable-tags", "repo") in findings(stack, Context("qa"))


def test_values_unknown_before_the_update_are_not_findings():
    stack = compliant()
    for change in (
        props("data-policy", policy=UNKNOWN),
        props("github", assumeRolePolicy=UNKNOWN),
        props(
            "repo",
            imageTagMutability=UNKNOWN,
            encryptionConfigurations=[{"encryptionType": UNKNOWN}],
        ),
        props("cluster", enabledClusterLogTypes=UNKNOWN),
        props("data-versioning", versioningConfiguration={"status": UNKNOWN}),
        props("5xx", alarmActions=UNKNOWN),
        props("model", enableNetworkIsolation=UNKNOWN),
        props("alarms", tags=UNKNOWN),
        props("nodes", metadataOptions={"httpTokens": UNKNOWN, "httpPutResponseHopLimit": UNKNOWN}),
    ):
        stack = change(stack)
    assert findings(stack) == []


def test_serverless_and_nvme_endpoint_configs_take_no_volume_key():
    serverless = props(
        "config",
        kmsKeyArn=None,
        dataCaptureConfig=None,
        productionVariants=[
            {"variantName": "primary", "serverlessConfig": {"memorySizeInMb": 2048}}
        ],
    )
    assert findings(serverless(compliant())) == []  # isolation: its model may run without
    nvme = props(
        "config",
        kmsKeyArn=None,
        productionVariants=[
            {"variantName": "primary", "instanceType": "ml.g5.xlarge", "initialInstanceCount": 2}
        ],
    )
    assert findings(nvme(compliant())) == []
    serverless_model = props("model", enableNetworkIsolation=False)
    assert findings(serverless_model(serverless(compliant()))) == []


def test_instance_storage_families_match_the_serving_component():
    from mlops_platform.components.serving import INSTANCE_STORAGE as COMPONENT
    from mlops_platform.policy.rules import INSTANCE_STORAGE

    assert INSTANCE_STORAGE.pattern == COMPONENT.pattern


def test_inline_bucket_settings_count_like_their_own_resources():
    stack = [r for r in compliant() if r.name in ("data", "data-public-access", "data-ownership")]
    inline = props(
        "data",
        versioning={"enabled": True},
        serverSideEncryptionConfiguration={
            "rule": {
                "applyServerSideEncryptionByDefault": {
                    "sseAlgorithm": "aws:kms:dsse",
                    "kmsMasterKeyId": KEY_ARN,
                }
            }
        },
        lifecycleRules=[{"enabled": True}],
        policy=doc(TLS_DENY),
    )
    assert findings(inline(stack)) == []


def test_waived_findings_are_kept_and_marked():
    context = Context("prod", {"ecr-immutable-tags": "Team X retags nightly builds; see RISK-12"})
    [finding] = evaluate(props("repo", imageTagMutability="MUTABLE")(compliant()), context)
    assert finding.severity == MANDATORY and finding.waived
    assert finding.to_json() == {
        "rule": "ecr-immutable-tags",
        "severity": "mandatory",
        "urn": urn("aws:ecr/repository:Repository", "repo"),
        "message": "imageTagMutability is MUTABLE: a pushed tag can be overwritten",
        "resource": "repo",
        "type": "aws:ecr/repository:Repository",
        "waived": True,
        "reason": "Team X retags nightly builds; see RISK-12",
    }


def test_stateful_types_are_what_the_stack_protects():
    assert {
        "aws:s3/bucket:Bucket",
        "aws:kms/key:Key",
        "aws:ecr/repository:Repository",
        "aws:sagemaker/modelPackageGroup:ModelPackageGroup",
        "aws:sagemaker/mlflowTrackingServer:MlflowTrackingServer",
    } <= set(STATEFUL)


def test_settings_a_provider_defaults_to_insecurely_are_findings_when_absent():
    stack = props("repo", imageScanningConfiguration={})(compliant())
    stack = props("cluster", vpcConfig={"endpointPublicAccess": False})(stack)
    assert set(findings(stack)) == {
        ("ecr-scan-on-push", "repo"),
        ("eks-private-endpoint", "cluster"),
    }


@pytest.mark.parametrize(
    ("block", "key"),
    [
        ("off", ""),
        ({"disable": ["s3-tls-only"]}, "disable"),
        ({"waivers": ["s3-tls-only"]}, "waivers"),
        ({"waivers": {"no-such-rule": "A reason long enough"}}, "waivers.no-such-rule"),
        ({"waivers": {"s3-tls-only": "   short   "}}, "waivers.s3-tls-only"),
    ],
)
def test_bad_waivers_name_their_key(block, key):
    with pytest.raises(WaiverError) as error:
        parse_waivers(block, rule_ids())
    assert error.value.key == key


def test_context_from_raw_config():
    config = {
        "mlops-platform:environment": "dev",
        "mlops-platform:policy": json.dumps(
            {"waivers": {"ecr-kms": "  Registry default key; SEC-9  "}}
        ),
    }
    assert from_config(config, rule_ids()) == Context(
        "dev", {"ecr-kms": "Registry default key; SEC-9"}
    )
    assert from_config({"mlops-platform:policy": "{}"}, rule_ids()) == Context("prod", {})
    with pytest.raises(WaiverError):
        from_config({"x:policy": "not json"}, rule_ids(), "x")
    assert parse_waivers(None, rule_ids()) == {} == parse_waivers({"waivers": None}, rule_ids())


def test_readme_lists_every_rule_with_its_level_and_controls():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for current in RULES:
        row = next(line for line in readme.splitlines() if line.startswith(f"| `{current.id}` |"))
        assert f"| {current.level} |" in row and current.controls in row, current.id
        assert current.description in row, current.id


def test_a_buckets_own_state_does_not_override_its_encryption_configuration():
    # After pulumi up, CrossGuard's stack policies see outputs: the bucket reports the SSE-S3
    # default that S3 applied before the separate KMS configuration.
    sse_s3 = {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]}
    stack = props("data", serverSideEncryptionConfiguration=sse_s3)(compliant())
    assert findings(stack) == []
    assert findings(drop(SSE_RULE)(stack)) == [("s3-sse-kms", "data")]
