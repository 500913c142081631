"""The platform's guardrails as pure functions, shared by the CrossGuard pack and the offline plan.

A rule looks at :class:`Resource` records: a resource's type, name, URN, camelCase properties
(as the provider receives them: nested plain dicts and lists, JSON documents as strings), its
``protect``/``retainOnDelete`` options, its provider's properties and its dependencies. The
offline plan builds them from its records (``infra/plan.py``), the pack from CrossGuard's
arguments (``policy/crossguard.py``); the rules cannot tell the difference.

- a *resource* rule is ``check(resource, context) -> messages`` for the types it names;
- a *stack* rule is ``check(resources, context) -> (resource, message) pairs``; it is used
  where a rule must relate resources (a bucket and its policy, a model and its endpoint).

Values that are not known yet (during a real preview: ``[unknown]``) never produce a finding.
Every rule names the baseline controls it follows in ``controls``; ``environments`` says where
it applies (``dev`` is allowed to be disposable). :func:`evaluate` runs them all and marks the
findings that the stack waived (``policy/context.py``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlops_platform.policy.context import ENVIRONMENTS, Context

MANDATORY = "mandatory"
ADVISORY = "advisory"
# The marker of a value that is not known before the update (the plan's mocks use it too).
UNKNOWN = "[unknown]"
OUTSIDE_DEV = ("staging", "prod")
PROD = ("prod",)


@dataclass(frozen=True)
class Resource:
    """One resource as the rules see it, whichever engine produced it."""

    type: str
    name: str
    urn: str
    props: Mapping[str, Any] = field(default_factory=dict)
    protect: bool = False
    retain_on_delete: bool | None = None
    """``None`` where the engine does not say (CrossGuard reports no retainOnDelete)."""
    provider: Mapping[str, Any] | None = None
    """The properties of the resource's provider (its ``defaultTags``)."""
    dependencies: tuple[str, ...] = ()
    """URNs of the resources this one depends on (explicitly or through its inputs)."""


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str
    resource: Resource
    message: str
    waived: bool = False
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "rule": self.rule,
            "severity": self.severity,
            "urn": self.resource.urn,
            "message": self.message,
            "resource": self.resource.name,
            "type": self.resource.type,
            "waived": self.waived,
        }
        if self.reason is not None:
            entry["reason"] = self.reason
        return entry


ResourceCheck = Callable[[Resource, Context], Iterable[str]]
StackFindings = Iterator[tuple[Resource, str]]
StackCheck = Callable[[Sequence[Resource], Context], Iterable[tuple[Resource, str]]]


@dataclass(frozen=True)
class Rule:
    id: str
    level: str
    controls: str
    """Baseline controls the rule follows (AWS FSBP, CIS, Control Tower, Config, Checkov, tfsec)."""
    description: str
    check: ResourceCheck | StackCheck
    types: tuple[str, ...] = ()
    """Resource types a resource rule looks at; empty for stack rules."""
    environments: tuple[str, ...] = ENVIRONMENTS

    @property
    def is_stack_rule(self) -> bool:
        return not self.types

    @property
    def full_description(self) -> str:
        return f"{self.description} [{self.controls}]"

    def applies_to(self, context: Context) -> bool:
        environment = context.environment if context.environment in ENVIRONMENTS else "prod"
        return environment in self.environments

    def run(self, resources: Sequence[Resource], context: Context) -> list[tuple[Resource, str]]:
        """The violations of this rule in ``resources`` (nothing where it does not apply)."""
        if not self.applies_to(context):
            return []
        if self.is_stack_rule:
            return list(self.check(resources, context))
        return [
            (res, message)
            for res in resources
            if res.type in self.types
            for message in self.check(res, context)
        ]


RULES: list[Rule] = []


def rule(
    rule_id: str,
    level: str,
    controls: str,
    description: str,
    *,
    types: Sequence[str] = (),
    environments: Sequence[str] = ENVIRONMENTS,
) -> Callable[[Callable[..., Iterable[Any]]], Callable[..., Iterable[Any]]]:
    """Registers the decorated check as a rule (a stack rule when it names no types)."""

    def register(check: Callable[..., Iterable[Any]]) -> Callable[..., Iterable[Any]]:
        RULES.append(
            Rule(
                rule_id,
                level,
                controls,
                description,
                check,
                tuple(types),
                tuple(environments),
            )
        )
        return check

    return register


def rule_ids() -> frozenset[str]:
    return frozenset(r.id for r in RULES)


def evaluate(resources: Sequence[Resource], context: Context) -> list[Finding]:
    """Every finding of every rule that applies to the stack, waived ones marked as such."""
    findings = []
    for current in RULES:
        reason = context.waivers.get(current.id)
        for res, message in current.run(resources, context):
            findings.append(
                Finding(
                    current.id,
                    current.level,
                    res,
                    message,
                    waived=reason is not None,
                    reason=reason,
                )
            )
    return findings


# --- helpers -------------------------------------------------------------------------------------


def known(value: Any) -> bool:
    return value is not None and value != UNKNOWN


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def as_map(value: Any) -> Mapping[str, Any]:
    """A nested single-object property (some provider versions model it as a one-item list)."""
    if isinstance(value, list | tuple):
        value = value[0] if value else {}
    return value if isinstance(value, Mapping) else {}


def document(value: Any) -> Mapping[str, Any] | None:
    """A policy document given as a JSON string (or already parsed); None when not known."""
    if isinstance(value, Mapping):
        return value
    if not isinstance(value, str) or value == UNKNOWN:
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        return None
    return parsed if isinstance(parsed, Mapping) else None


def statements(doc: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    if doc is None:
        return []
    return [s for s in as_list(doc.get("Statement")) if isinstance(s, Mapping)]


def allows(stmt: Mapping[str, Any]) -> bool:
    return stmt.get("Effect") == "Allow"


def linked(resources: Sequence[Resource], child_type: str, parent: Resource) -> list[Resource]:
    """Resources of ``child_type`` that depend on ``parent`` (a bucket's policy, say)."""
    return [r for r in resources if r.type == child_type and parent.urn in r.dependencies]


def _label(stmt: Mapping[str, Any], index: int) -> str:
    sid = stmt.get("Sid")
    return f"statement {sid!r}" if sid else f"statement {index}"


# --- resource types ------------------------------------------------------------------------------

BUCKET = "aws:s3/bucket:Bucket"
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_ENCRYPTION = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
)
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
BUCKET_VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
BUCKET_LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
BUCKET_OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
BUCKET_ACL = "aws:s3/bucketAcl:BucketAcl"
KMS_KEY = "aws:kms/key:Key"
ECR_REPOSITORY = "aws:ecr/repository:Repository"
ECR_LIFECYCLE = "aws:ecr/lifecyclePolicy:LifecyclePolicy"
ROLE = "aws:iam/role:Role"
EKS_CLUSTER = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
INSTANCE = "aws:ec2/instance:Instance"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
SECURITY_GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
MODEL = "aws:sagemaker/model:Model"
ENDPOINT_CONFIG = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
ENDPOINT = "aws:sagemaker/endpoint:Endpoint"
MODEL_PACKAGE_GROUP = "aws:sagemaker/modelPackageGroup:ModelPackageGroup"
MLFLOW_SERVER = "aws:sagemaker/mlflowTrackingServer:MlflowTrackingServer"
METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
TOPIC = "aws:sns/topic:Topic"

# Identity-based policy documents: (type, property).
IDENTITY_POLICIES = {
    "aws:iam/policy:Policy": "policy",
    "aws:iam/rolePolicy:RolePolicy": "policy",
    "aws:iam/userPolicy:UserPolicy": "policy",
    "aws:iam/groupPolicy:GroupPolicy": "policy",
}
# Resource-based policy documents, which name principals.
RESOURCE_POLICIES = {
    ROLE: "assumeRolePolicy",
    BUCKET_POLICY: "policy",
    BUCKET: "policy",
    KMS_KEY: "policy",
    "aws:kms/keyPolicy:KeyPolicy": "policy",
    "aws:ecr/repositoryPolicy:RepositoryPolicy": "policy",
    TOPIC: "policy",
    "aws:sns/topicPolicy:TopicPolicy": "policy",
}
# What holds state that a destroy would lose.
STATEFUL = (
    BUCKET,
    KMS_KEY,
    ECR_REPOSITORY,
    MODEL_PACKAGE_GROUP,
    MLFLOW_SERVER,
    LOG_GROUP,
    "aws:dynamodb/table:Table",
    "aws:rds/instance:Instance",
    "aws:rds/cluster:Cluster",
    "aws:efs/fileSystem:FileSystem",
    "aws:secretsmanager/secret:Secret",
)
REQUIRED_TAGS = ("env", "owner")
# Families with local NVMe instance storage: SageMaker refuses a volume key for them (the same
# list as components.serving.INSTANCE_STORAGE; a test keeps them equal).
INSTANCE_STORAGE = re.compile(r"^ml\.(?:[a-z]+\d+[a-z]*d[a-z]*|g5|g6e?|p5e?|trn1n?)\.")
OPEN_CIDRS = ("0.0.0.0/0", "::/0")
WEB_PORTS = (80, 443)
EKS_LOG_TYPES = ("api", "audit", "authenticator")
GITHUB_ISSUER = "token.actions.githubusercontent.com"
SERVICE_ACCOUNT_SUBJECT = re.compile(
    r"^system:serviceaccount:[a-z0-9]([-a-z0-9.]*):[a-z0-9][-a-z0-9.]*$"
)
WILDCARD = re.compile(r"[*?]")
PROD_LOG_RETENTION_DAYS = 365


# --- IAM -----------------------------------------------------------------------------------------


def _documents(res: Resource) -> Iterator[tuple[str, Mapping[str, Any] | None]]:
    """Every policy document a resource carries, named by its property."""
    if res.type in IDENTITY_POLICIES:
        prop = IDENTITY_POLICIES[res.type]
        yield prop, document(res.props.get(prop))
    if res.type in RESOURCE_POLICIES:
        prop = RESOURCE_POLICIES[res.type]
        yield prop, document(res.props.get(prop))
    if res.type == ROLE:
        for index, inline in enumerate(as_list(res.props.get("inlinePolicies"))):
            if isinstance(inline, Mapping):
                yield f"inlinePolicies[{index}]", document(inline.get("policy"))


@rule(
    "iam-no-star-star",
    MANDATORY,
    "AWS FSBP IAM.1; Checkov CKV_AWS_1, CKV_AWS_62; tfsec aws-iam-no-policy-wildcards",
    'No policy allows Action "*" on Resource "*" (full administrator rights).',
    types=(*IDENTITY_POLICIES, *RESOURCE_POLICIES),
)
def iam_no_star_star(res: Resource, context: Context) -> Iterator[str]:
    for prop, doc in _documents(res):
        for index, stmt in enumerate(statements(doc)):
            actions = as_list(stmt.get("Action"))
            resources = as_list(stmt.get("Resource"))
            if allows(stmt) and {"*", "*:*"} & set(actions) and "*" in resources:
                yield f"{prop}: {_label(stmt, index)} allows every action on every resource"


def _wildcard_principal(stmt: Mapping[str, Any]) -> bool:
    if "NotPrincipal" in stmt:
        return True
    principal = stmt.get("Principal")
    if principal == "*":
        return True
    if isinstance(principal, Mapping):
        return any("*" in as_list(v) for v in principal.values())
    return False


@rule(
    "iam-no-wildcard-principal",
    MANDATORY,
    "AWS FSBP S3.2, S3.3; Checkov CKV_AWS_60, CKV_AWS_33, CKV_AWS_32; "
    "tfsec aws-s3-no-public-buckets",
    "No trust or resource policy allows a wildcard principal (or NotPrincipal) without a "
    "condition.",
    types=tuple(RESOURCE_POLICIES),
)
def iam_no_wildcard_principal(res: Resource, context: Context) -> Iterator[str]:
    for prop, doc in _documents(res):
        if prop != RESOURCE_POLICIES.get(res.type):
            continue
        for index, stmt in enumerate(statements(doc)):
            if allows(stmt) and _wildcard_principal(stmt) and not stmt.get("Condition"):
                yield f"{prop}: {_label(stmt, index)} allows any principal without a condition"


def _federated(stmt: Mapping[str, Any]) -> list[str]:
    principal = stmt.get("Principal")
    if not isinstance(principal, Mapping):
        return []
    return [p for p in as_list(principal.get("Federated")) if isinstance(p, str) and known(p)]


def _issuer(provider_arn: str) -> str:
    return provider_arn.split(":oidc-provider/", 1)[-1]


def _claim(stmt: Mapping[str, Any], operator: str, key: str) -> list[Any]:
    condition = stmt.get("Condition")
    if not isinstance(condition, Mapping):
        return []
    return as_list(as_map(condition.get(operator)).get(key))


def _web_identity_statements(res: Resource, eks: bool) -> Iterator[tuple[int, Mapping, str]]:
    """Allow statements of a role's trust that federate an OIDC provider (EKS or not)."""
    for index, stmt in enumerate(statements(document(res.props.get("assumeRolePolicy")))):
        if not allows(stmt):
            continue
        for provider in _federated(stmt):
            if ":oidc-provider/" not in provider:
                continue
            if ("oidc.eks." in provider) == eks:
                yield index, stmt, _issuer(provider)


@rule(
    "iam-oidc-trust-pinned",
    MANDATORY,
    "Checkov CKV_AWS_358; GitHub and GitLab OIDC hardening guides (audience and subject claims)",
    "A CI (GitHub/GitLab OIDC) trust checks the audience and pins the subject to one "
    "repository and its environment or ref: exact subjects for GitHub, a wildcard only in the "
    "ref of a GitLab subject.",
    types=(ROLE,),
)
def iam_oidc_trust_pinned(res: Resource, context: Context) -> Iterator[str]:
    for index, stmt, issuer in _web_identity_statements(res, eks=False):
        where = f"assumeRolePolicy: {_label(stmt, index)} ({issuer})"
        if not _claim(stmt, "StringEquals", f"{issuer}:aud"):
            yield f"{where} does not check the {issuer}:aud claim with StringEquals"
        exact = _claim(stmt, "StringEquals", f"{issuer}:sub")
        patterns = _claim(stmt, "StringLike", f"{issuer}:sub")
        if not exact and not patterns:
            yield f"{where} does not check the {issuer}:sub claim: any repository may assume it"
            continue
        for subject in [*exact, *patterns]:
            if not isinstance(subject, str) or not known(subject):
                continue
            if issuer == GITHUB_ISSUER:  # repo:<owner>/<repo>:<environment, ref or event>
                pinned = bool(re.fullmatch(r"repo:[^:/]+/[^:/]+:.+", subject)) and not (
                    WILDCARD.search(subject)
                )
            else:  # GitLab and others: <claim>:<project path>:... with no wildcard up to the ref
                head, _, _ = subject.partition(":ref:")
                pinned = subject.count(":") >= 2 and not WILDCARD.search(head)
            if not pinned:
                yield (
                    f"{where} trusts the subject {subject!r}, which is not pinned to one "
                    "repository and its environment or ref"
                )


@rule(
    "iam-irsa-trust-pinned",
    MANDATORY,
    "EKS Best Practices Guide (IRSA: scope the trust policy to the service account); "
    "Checkov CKV_AWS_60 in spirit",
    "An IRSA role (EKS OIDC trust) requires StringEquals on <issuer>:sub = "
    "system:serviceaccount:<namespace>:<service account> and <issuer>:aud = sts.amazonaws.com.",
    types=(ROLE,),
)
def iam_irsa_trust_pinned(res: Resource, context: Context) -> Iterator[str]:
    for index, stmt, issuer in _web_identity_statements(res, eks=True):
        where = f"assumeRolePolicy: {_label(stmt, index)}"
        if _claim(stmt, "StringEquals", f"{issuer}:aud") != ["sts.amazonaws.com"]:
            yield f"{where} does not require {issuer}:aud = sts.amazonaws.com (StringEquals)"
        subjects = _claim(stmt, "StringEquals", f"{issuer}:sub")
        if _claim(stmt, "StringLike", f"{issuer}:sub") or not subjects:
            yield f"{where} does not pin {issuer}:sub to exact service accounts (StringEquals)"
        for subject in subjects:
            if known(subject) and not SERVICE_ACCOUNT_SUBJECT.match(str(subject)):
                yield f"{where} trusts {subject!r}, not system:serviceaccount:<namespace>:<name>"


# --- S3 ------------------------------------------------------------------------------------------

PUBLIC_ACCESS_FLAGS = (
    "blockPublicAcls",
    "blockPublicPolicy",
    "ignorePublicAcls",
    "restrictPublicBuckets",
)


@rule(
    "s3-public-access-block",
    MANDATORY,
    "AWS FSBP S3.8; CIS AWS Foundations v3.0.0 2.1.4; Control Tower CT.S3.PR.1; "
    "Checkov CKV2_AWS_6, CKV_AWS_53-56; tfsec aws-s3-block-public-acls, aws-s3-block-public-policy",
    "Every bucket has a public access block with all four settings on.",
)
def s3_public_access_block(resources: Sequence[Resource], context: Context) -> StackFindings:
    for bucket in (r for r in resources if r.type == BUCKET):
        blocks = linked(resources, PUBLIC_ACCESS_BLOCK, bucket)
        if not blocks:
            yield bucket, "no aws.s3.BucketPublicAccessBlock for this bucket"
    for block in (r for r in resources if r.type == PUBLIC_ACCESS_BLOCK):
        off = [
            f
            for f in PUBLIC_ACCESS_FLAGS
            if block.props.get(f) is not True and known(block.props.get(f))
        ]
        missing = [f for f in PUBLIC_ACCESS_FLAGS if f not in block.props]
        if off or missing:
            yield block, f"public access settings not on: {', '.join(off + missing)}"


def _sse_rules(res: Resource) -> list[Mapping[str, Any]]:
    if res.type == BUCKET:  # the inline (deprecated) form
        config = as_map(res.props.get("serverSideEncryptionConfiguration"))
        return [as_map(r) for r in as_list(config.get("rules") or config.get("rule"))]
    return [as_map(r) for r in as_list(res.props.get("rules") or res.props.get("rule"))]


def _kms_encrypted(rules: list[Mapping[str, Any]]) -> bool | None:
    defaults = [as_map(r.get("applyServerSideEncryptionByDefault")) for r in rules]
    if any(not known(d.get("sseAlgorithm")) for d in defaults):
        return None
    return bool(defaults) and all(
        str(d.get("sseAlgorithm", "")).startswith("aws:kms") and d.get("kmsMasterKeyId")
        for d in defaults
    )


S3_LOG_DELIVERY = "logging.s3.amazonaws.com"


def _receives_access_logs(resources: Sequence[Resource], bucket: Resource) -> bool:
    """The bucket's policy lets the S3 logging service put objects: a server access log target,
    which S3 log delivery requires to use SSE-S3 (it cannot write with a KMS key)."""
    for policy in linked(resources, BUCKET_POLICY, bucket):
        for stmt in statements(document(policy.props.get("policy"))):
            services = as_list(as_map(stmt.get("Principal")).get("Service"))
            actions = as_list(stmt.get("Action"))
            if (
                stmt.get("Effect") == "Allow"
                and S3_LOG_DELIVERY in services
                and any(a in ("s3:PutObject", "s3:*") for a in actions)
            ):
                return True
    return False


def _sse_s3(rules: list[Mapping[str, Any]]) -> bool:
    defaults = [as_map(r.get("applyServerSideEncryptionByDefault")) for r in rules]
    return bool(defaults) and all(d.get("sseAlgorithm") == "AES256" for d in defaults)


@rule(
    "s3-sse-kms",
    MANDATORY,
    "AWS Config s3-default-encryption-kms; Checkov CKV_AWS_145; "
    "tfsec aws-s3-encryption-customer-key",
    "Every bucket encrypts by default with SSE-KMS under a customer managed key; an S3 server "
    "access log target (its policy admits logging.s3.amazonaws.com) uses SSE-S3, the only "
    "encryption log delivery supports.",
)
def s3_sse_kms(resources: Sequence[Resource], context: Context) -> StackFindings:
    for bucket in (r for r in resources if r.type == BUCKET):
        log_target = _receives_access_logs(resources, bucket)
        # A separate configuration is authoritative: after an update, the bucket's own state
        # still shows the encryption S3 applied before it (SSE-S3 by default).
        configs = linked(resources, BUCKET_ENCRYPTION, bucket)
        if not configs and _sse_rules(bucket):
            configs = [bucket]
        if not configs:
            yield bucket, "no default encryption configuration for this bucket"
        for config in configs:
            if log_target and _sse_s3(_sse_rules(config)):
                continue
            if _kms_encrypted(_sse_rules(config)) is False:
                yield config, "default encryption is not aws:kms with a KMS key (kmsMasterKeyId)"


def _denies_insecure_transport(stmt: Mapping[str, Any]) -> bool:
    condition = stmt.get("Condition")
    if stmt.get("Effect") != "Deny" or not isinstance(condition, Mapping):
        return False
    secure = as_map(condition.get("Bool")).get("aws:SecureTransport")
    actions = as_list(stmt.get("Action"))
    return str(as_list(secure)[0] if secure is not None else "").lower() == "false" and (
        "s3:*" in actions or "*" in actions
    )


@rule(
    "s3-tls-only",
    MANDATORY,
    "AWS FSBP S3.5; Control Tower CT.S3.PR.8",
    "Every bucket policy denies requests that do not use TLS (aws:SecureTransport false).",
)
def s3_tls_only(resources: Sequence[Resource], context: Context) -> StackFindings:
    for bucket in (r for r in resources if r.type == BUCKET):
        policies = linked(resources, BUCKET_POLICY, bucket)
        if known(bucket.props.get("policy")) and bucket.props.get("policy"):
            policies.append(bucket)
        docs = [document(p.props.get("policy")) for p in policies]
        if any(d is None for d in docs) and policies:
            continue  # not known before the update
        if not any(_denies_insecure_transport(s) for d in docs for s in statements(d)):
            yield bucket, "no bucket policy statement denies aws:SecureTransport = false"


@rule(
    "s3-versioning",
    MANDATORY,
    "Control Tower CT.S3.PR.11; Checkov CKV_AWS_21; tfsec aws-s3-enable-versioning",
    "Every bucket has versioning enabled.",
)
def s3_versioning(resources: Sequence[Resource], context: Context) -> StackFindings:
    for bucket in (r for r in resources if r.type == BUCKET):
        if as_map(bucket.props.get("versioning")).get("enabled") is True:
            continue
        statuses = [
            as_map(v.props.get("versioningConfiguration")).get("status")
            for v in linked(resources, BUCKET_VERSIONING, bucket)
        ]
        if not any(s == "Enabled" or not known(s) for s in statuses):
            yield bucket, "versioning is not enabled (no BucketVersioning with status Enabled)"


@rule(
    "s3-lifecycle",
    MANDATORY,
    "Control Tower CT.S3.PR.6; Checkov CKV2_AWS_61",
    "Every bucket has a lifecycle configuration with at least one enabled rule.",
)
def s3_lifecycle(resources: Sequence[Resource], context: Context) -> StackFindings:
    for bucket in (r for r in resources if r.type == BUCKET):
        inline = [
            r for r in as_list(bucket.props.get("lifecycleRules")) if as_map(r).get("enabled")
        ]
        rules_ = [
            as_map(r)
            for c in linked(resources, BUCKET_LIFECYCLE, bucket)
            for r in as_list(c.props.get("rules"))
        ]
        if not inline and not any(r.get("status") in ("Enabled", UNKNOWN) for r in rules_):
            yield bucket, "no enabled lifecycle rule (old versions and uploads are kept forever)"


@rule(
    "s3-no-force-destroy",
    MANDATORY,
    "Platform rule (terraform-aws-modules default force_destroy = false)",
    "Outside dev, no bucket is created with forceDestroy (a destroy would delete its objects).",
    types=(BUCKET,),
    environments=OUTSIDE_DEV,
)
def s3_no_force_destroy(res: Resource, context: Context) -> Iterator[str]:
    if res.props.get("forceDestroy") is True:
        yield "forceDestroy is true: pulumi destroy would delete every object"


@rule(
    "s3-acls-disabled",
    ADVISORY,
    "Checkov CKV2_AWS_65; AWS S3 security best practices (disable ACLs)",
    "Every bucket enforces bucket-owner object ownership (ACLs disabled).",
)
def s3_acls_disabled(resources: Sequence[Resource], context: Context) -> StackFindings:
    for bucket in (r for r in resources if r.type == BUCKET):
        owners = [
            as_map(c.props.get("rule")).get("objectOwnership")
            for c in linked(resources, BUCKET_OWNERSHIP, bucket)
        ]
        if not any(o in ("BucketOwnerEnforced", UNKNOWN) for o in owners):
            yield bucket, "object ownership is not BucketOwnerEnforced (ACLs stay in use)"


PUBLIC_ACLS = ("public-read", "public-read-write", "authenticated-read")


@rule(
    "s3-no-public-acl",
    MANDATORY,
    "AWS FSBP S3.2, S3.3; tfsec aws-s3-no-public-access-with-acl",
    "No bucket or bucket ACL grants public-read, public-read-write or authenticated-read.",
    types=(BUCKET, BUCKET_ACL),
)
def s3_no_public_acl(res: Resource, context: Context) -> Iterator[str]:
    if res.props.get("acl") in PUBLIC_ACLS:
        yield f"canned ACL {res.props['acl']!r} makes objects readable by anyone"


# --- KMS -----------------------------------------------------------------------------------------


@rule(
    "kms-rotation",
    MANDATORY,
    "AWS FSBP KMS.4; Checkov CKV_AWS_7; tfsec aws-kms-auto-rotate-keys",
    "Symmetric encryption keys rotate automatically.",
    types=(KMS_KEY,),
)
def kms_rotation(res: Resource, context: Context) -> Iterator[str]:
    spec = res.props.get("customerMasterKeySpec") or res.props.get("keySpec") or "SYMMETRIC_DEFAULT"
    usage = res.props.get("keyUsage") or "ENCRYPT_DECRYPT"
    if spec == "SYMMETRIC_DEFAULT" and usage == "ENCRYPT_DECRYPT":
        rotation = res.props.get("enableKeyRotation")
        if rotation is not True and rotation != UNKNOWN:
            yield "enableKeyRotation is not true"


@rule(
    "kms-explicit-policy",
    MANDATORY,
    "Checkov CKV2_AWS_64",
    "Every KMS key has an explicit key policy (not the default that delegates everything to IAM).",
    types=(KMS_KEY,),
)
def kms_explicit_policy(res: Resource, context: Context) -> Iterator[str]:
    if not res.props.get("policy"):
        yield "no key policy: the default policy lets any IAM principal of the account use it"


@rule(
    "kms-deletion-window",
    MANDATORY,
    "AWS FSBP KMS.3 (keys are not deleted unintentionally)",
    "In prod, a scheduled key deletion waits the maximum 30 days.",
    types=(KMS_KEY,),
    environments=PROD,
)
def kms_deletion_window(res: Resource, context: Context) -> Iterator[str]:
    days = res.props.get("deletionWindowInDays", 30)
    if known(days) and isinstance(days, int | float) and days < 30:
        yield f"deletionWindowInDays is {days}; prod keeps a deleted key recoverable for 30 days"


# --- ECR -----------------------------------------------------------------------------------------


@rule(
    "ecr-immutable-tags",
    MANDATORY,
    "AWS FSBP ECR.2; Checkov CKV_AWS_51; tfsec aws-ecr-enforce-immutable-repository",
    "Outside dev, repositories have immutable tags (a released tag always names the same image).",
    types=(ECR_REPOSITORY,),
    environments=OUTSIDE_DEV,
)
def ecr_immutable_tags(res: Resource, context: Context) -> Iterator[str]:
    mutability = res.props.get("imageTagMutability", "MUTABLE")
    if known(mutability) and not str(mutability).startswith("IMMUTABLE"):
        yield f"imageTagMutability is {mutability}: a pushed tag can be overwritten"


@rule(
    "ecr-scan-on-push",
    MANDATORY,
    "AWS FSBP ECR.1; Checkov CKV_AWS_163; tfsec aws-ecr-enable-image-scans",
    "Repositories scan images for vulnerabilities on push.",
    types=(ECR_REPOSITORY,),
)
def ecr_scan_on_push(res: Resource, context: Context) -> Iterator[str]:
    scan = as_map(res.props.get("imageScanningConfiguration")).get("scanOnPush")
    if scan is not True and scan != UNKNOWN:
        yield "imageScanningConfiguration.scanOnPush is not true"


@rule(
    "ecr-kms",
    MANDATORY,
    "Checkov CKV_AWS_136; tfsec aws-ecr-repository-customer-key",
    "Repositories encrypt images with a KMS key.",
    types=(ECR_REPOSITORY,),
)
def ecr_kms(res: Resource, context: Context) -> Iterator[str]:
    configs = [as_map(c) for c in as_list(res.props.get("encryptionConfigurations"))]
    if not any(c.get("encryptionType") in ("KMS", "KMS_DSSE", UNKNOWN) for c in configs):
        yield "encryptionConfigurations has no KMS encryption (AES256 by default)"


@rule(
    "ecr-lifecycle",
    MANDATORY,
    "AWS FSBP ECR.3",
    "Every repository has a lifecycle policy.",
)
def ecr_lifecycle(resources: Sequence[Resource], context: Context) -> StackFindings:
    for repository in (r for r in resources if r.type == ECR_REPOSITORY):
        if not linked(resources, ECR_LIFECYCLE, repository):
            yield repository, "no aws.ecr.LifecyclePolicy for this repository"


@rule(
    "ecr-no-force-delete",
    MANDATORY,
    "Platform rule (a repository holding released images is never deleted with them)",
    "Outside dev, no repository is created with forceDelete.",
    types=(ECR_REPOSITORY,),
    environments=OUTSIDE_DEV,
)
def ecr_no_force_delete(res: Resource, context: Context) -> Iterator[str]:
    if res.props.get("forceDelete") is True:
        yield "forceDelete is true: pulumi destroy would delete every image"


# --- EKS and EC2 ---------------------------------------------------------------------------------


@rule(
    "eks-private-endpoint",
    MANDATORY,
    "AWS FSBP EKS.1; Control Tower CT.EKS.PR.1; Checkov CKV_AWS_39; "
    "tfsec aws-eks-no-public-cluster-access",
    "The EKS API endpoint is private (endpointPrivateAccess on; endpointPublicAccess off outside "
    "dev, where eks-no-public-cidr restricts it to configured CIDRs).",
    types=(EKS_CLUSTER,),
)
def eks_private_endpoint(res: Resource, context: Context) -> Iterator[str]:
    vpc = as_map(res.props.get("vpcConfig"))
    public = vpc.get("endpointPublicAccess", True)  # the provider's default is public
    if public is not False and known(public) and context.environment != "dev":
        yield "vpcConfig.endpointPublicAccess is not false (the provider defaults to public)"
    if vpc.get("endpointPrivateAccess") not in (True, UNKNOWN):
        yield "vpcConfig.endpointPrivateAccess is not true"


@rule(
    "eks-no-public-cidr",
    MANDATORY,
    "Checkov CKV_AWS_38; tfsec aws-eks-no-public-cluster-access-to-cidr",
    "If the EKS endpoint is public at all, publicAccessCidrs is set and excludes 0.0.0.0/0.",
    types=(EKS_CLUSTER,),
)
def eks_no_public_cidr(res: Resource, context: Context) -> Iterator[str]:
    vpc = as_map(res.props.get("vpcConfig"))
    if vpc.get("endpointPublicAccess", True) is False:
        return
    cidrs = as_list(vpc.get("publicAccessCidrs")) or ["0.0.0.0/0"]  # the provider's default
    for cidr in cidrs:
        if cidr in OPEN_CIDRS:
            yield f"the public endpoint is open to {cidr}"


def _resource_list(value: Any) -> list[str]:
    return [str(v) for v in as_list(value)]


@rule(
    "eks-secrets-encryption",
    MANDATORY,
    "AWS Config eks-secrets-encrypted; Control Tower CT.EKS.PR.2; Checkov CKV_AWS_58; "
    "tfsec aws-eks-encrypt-secrets",
    "EKS envelope-encrypts Kubernetes secrets with a KMS key.",
    types=(EKS_CLUSTER,),
)
def eks_secrets_encryption(res: Resource, context: Context) -> Iterator[str]:
    config = as_map(res.props.get("encryptionConfig"))
    key = as_map(config.get("provider")).get("keyArn")
    encrypted = "secrets" in _resource_list(config.get("resources")) and key
    if not encrypted and config.get("resources") != UNKNOWN:
        yield "encryptionConfig does not encrypt 'secrets' with a KMS key (provider.keyArn)"


@rule(
    "eks-control-plane-logs",
    MANDATORY,
    "Checkov CKV_AWS_37; tfsec aws-eks-enable-control-plane-logging",
    "The EKS control plane logs at least api, audit and authenticator.",
    types=(EKS_CLUSTER,),
)
def eks_control_plane_logs(res: Resource, context: Context) -> Iterator[str]:
    enabled = res.props.get("enabledClusterLogTypes")
    if enabled == UNKNOWN:
        return
    missing = [t for t in EKS_LOG_TYPES if t not in _resource_list(enabled)]
    if missing:
        yield f"enabledClusterLogTypes lacks {', '.join(missing)}"


@rule(
    "eks-access-api",
    ADVISORY,
    "EKS Best Practices Guide (cluster access management: access entries, not aws-auth)",
    "EKS authenticates with access entries (accessConfig.authenticationMode API).",
    types=(EKS_CLUSTER,),
)
def eks_access_api(res: Resource, context: Context) -> Iterator[str]:
    mode = as_map(res.props.get("accessConfig")).get("authenticationMode", "CONFIG_MAP")
    if known(mode) and mode != "API":
        yield f"accessConfig.authenticationMode is {mode}; use API (access entries)"


@rule(
    "eks-nodegroup-no-ssh",
    MANDATORY,
    "Checkov CKV_AWS_100; AWS FSBP EC2.13 in spirit",
    "Managed node groups allow no SSH (no remoteAccess); use SSM Session Manager instead.",
    types=(NODE_GROUP,),
)
def eks_nodegroup_no_ssh(res: Resource, context: Context) -> Iterator[str]:
    if as_map(res.props.get("remoteAccess")):
        yield "remoteAccess is set: the nodes accept SSH"


@rule(
    "eks-nodegroup-launch-template",
    ADVISORY,
    "EKS Best Practices Guide (nodes from a launch template with IMDSv2 and hop limit 1)",
    "Managed node groups use a launch template, so that their metadata options are ours.",
    types=(NODE_GROUP,),
)
def eks_nodegroup_launch_template(res: Resource, context: Context) -> Iterator[str]:
    if not as_map(res.props.get("launchTemplate")):
        yield "no launchTemplate: the nodes get EKS's default metadata options"


def _metadata_options(res: Resource) -> Mapping[str, Any]:
    return as_map(res.props.get("metadataOptions"))


@rule(
    "ec2-imdsv2",
    MANDATORY,
    "Control Tower CT.EC2.PR.1; AWS Config ec2-launch-template-imdsv2-check; AWS FSBP EC2.8; "
    "Checkov CKV_AWS_79; tfsec aws-ec2-enforce-http-token-imds",
    "Launch templates and instances require IMDSv2 (metadataOptions.httpTokens = required).",
    types=(LAUNCH_TEMPLATE, INSTANCE),
)
def ec2_imdsv2(res: Resource, context: Context) -> Iterator[str]:
    options = _metadata_options(res)
    if options.get("httpEndpoint") == "disabled":
        return
    tokens = options.get("httpTokens")
    if tokens not in ("required", UNKNOWN):
        yield f"metadataOptions.httpTokens is {tokens or 'not set'}; IMDSv1 stays reachable"


@rule(
    "ec2-imds-hop-limit",
    MANDATORY,
    "Control Tower CT.EC2.PR.2; EKS Best Practices Guide (restrict pods' access to IMDS)",
    "Launch templates keep the IMDS response hop limit at 1, so pods cannot use the node's role.",
    types=(LAUNCH_TEMPLATE,),
)
def ec2_imds_hop_limit(res: Resource, context: Context) -> Iterator[str]:
    options = _metadata_options(res)
    if options.get("httpEndpoint") == "disabled":
        return
    hops = options.get("httpPutResponseHopLimit")
    if hops is None or (known(hops) and isinstance(hops, int | float) and hops > 1):
        shown = "not set" if hops is None else hops
        yield f"metadataOptions.httpPutResponseHopLimit is {shown}; use 1"


def _open_ingress(cidrs: Iterable[Any], from_port: Any, to_port: Any, protocol: Any) -> str | None:
    open_ = [c for c in cidrs if c in OPEN_CIDRS]
    if not open_:
        return None
    all_ports = str(protocol) in ("-1", "all")
    if not all_ports and from_port == to_port and from_port in WEB_PORTS:
        return None
    ports = "all ports" if all_ports else f"ports {from_port}-{to_port}"
    return f"ingress from {', '.join(open_)} to {ports}"


@rule(
    "ec2-no-public-ingress",
    MANDATORY,
    "AWS FSBP EC2.13, EC2.14; Control Tower CT.EC2.PR.3; Checkov CKV_AWS_24, CKV_AWS_25; "
    "tfsec aws-ec2-no-public-ingress-sgr",
    "No security group admits 0.0.0.0/0 or ::/0 except to ports 80 and 443.",
    types=(SECURITY_GROUP, SECURITY_GROUP_RULE, INGRESS_RULE),
)
def ec2_no_public_ingress(res: Resource, context: Context) -> Iterator[str]:
    props = res.props
    if res.type == SECURITY_GROUP:
        for index, item in enumerate(as_list(props.get("ingress"))):
            rule_ = as_map(item)
            cidrs = [*as_list(rule_.get("cidrBlocks")), *as_list(rule_.get("ipv6CidrBlocks"))]
            problem = _open_ingress(
                cidrs, rule_.get("fromPort"), rule_.get("toPort"), rule_.get("protocol")
            )
            if problem:
                yield f"ingress[{index}]: {problem}"
    elif res.type == SECURITY_GROUP_RULE:
        if props.get("type") == "ingress":
            cidrs = [*as_list(props.get("cidrBlocks")), *as_list(props.get("ipv6CidrBlocks"))]
            problem = _open_ingress(
                cidrs, props.get("fromPort"), props.get("toPort"), props.get("protocol")
            )
            if problem:
                yield problem
    else:
        cidrs = [props.get("cidrIpv4"), props.get("cidrIpv6")]
        problem = _open_ingress(
            cidrs, props.get("fromPort"), props.get("toPort"), props.get("ipProtocol")
        )
        if problem:
            yield problem


# --- SageMaker -----------------------------------------------------------------------------------


def _variants(res: Resource) -> list[Mapping[str, Any]]:
    return [
        as_map(v)
        for prop in ("productionVariants", "shadowProductionVariants")
        for v in as_list(res.props.get(prop))
    ]


def _serverless(variant: Mapping[str, Any]) -> bool:
    return bool(as_map(variant.get("serverlessConfig")))


@rule(
    "sagemaker-endpoint-kms",
    MANDATORY,
    "Checkov CKV_AWS_98",
    "Endpoint configurations encrypt instance volumes (kmsKeyArn) and captured data "
    "(dataCaptureConfig.kmsKeyId) with KMS; serverless variants and instances with local NVMe "
    "storage (hardware-encrypted) take no volume key.",
    types=(ENDPOINT_CONFIG,),
)
def sagemaker_endpoint_kms(res: Resource, context: Context) -> Iterator[str]:
    needs_key = [
        v
        for v in _variants(res)
        if not _serverless(v)
        and known(v.get("instanceType"))
        and not INSTANCE_STORAGE.match(str(v.get("instanceType", "")))
    ]
    if needs_key and not res.props.get("kmsKeyArn"):
        types_ = sorted({str(v.get("instanceType")) for v in needs_key})
        yield f"no kmsKeyArn for the volumes of {', '.join(types_)}"
    capture = as_map(res.props.get("dataCaptureConfig"))
    if capture and capture.get("enableCapture", True) and not capture.get("kmsKeyId"):
        yield "dataCaptureConfig has no kmsKeyId: captured requests are not encrypted with KMS"


@rule(
    "sagemaker-prod-instances",
    MANDATORY,
    "AWS Config sagemaker-endpoint-config-prod-instance-count",
    "In prod, every instance-based production variant starts with at least 2 instances.",
    types=(ENDPOINT_CONFIG,),
    environments=PROD,
)
def sagemaker_prod_instances(res: Resource, context: Context) -> Iterator[str]:
    for variant in (as_map(v) for v in as_list(res.props.get("productionVariants"))):
        count = variant.get("initialInstanceCount")
        if _serverless(variant) or not known(count):
            continue
        if not isinstance(count, int | float) or count < 2:
            yield (
                f"variant {variant.get('variantName')!r} has initialInstanceCount {count}; "
                "prod needs 2+ (one per availability zone)"
            )


def _deployment(res: Resource) -> Mapping[str, Any]:
    return as_map(res.props.get("deploymentConfig"))


@rule(
    "sagemaker-prod-canary",
    MANDATORY,
    "Platform rule; AWS Well-Architected REL (deploy changes incrementally: SageMaker blue/green "
    "canary or linear traffic shifting)",
    "In prod, endpoints release by blue/green CANARY or LINEAR traffic shifting.",
    types=(ENDPOINT,),
    environments=PROD,
)
def sagemaker_prod_canary(res: Resource, context: Context) -> Iterator[str]:
    policy = as_map(_deployment(res).get("blueGreenUpdatePolicy"))
    routing = as_map(policy.get("trafficRoutingConfiguration")).get("type")
    if routing != UNKNOWN and routing not in ("CANARY", "LINEAR"):
        yield (
            f"deployment traffic routing is {routing or 'not blue/green'}; "
            "prod shifts traffic by CANARY or LINEAR"
        )


@rule(
    "sagemaker-rollback-alarms",
    MANDATORY,
    "Platform rule; AWS Well-Architected REL (automatic rollback on alarms)",
    "In prod, endpoint deployments roll back automatically on CloudWatch alarms.",
    types=(ENDPOINT,),
    environments=PROD,
)
def sagemaker_rollback_alarms(res: Resource, context: Context) -> Iterator[str]:
    rollback = as_map(_deployment(res).get("autoRollbackConfiguration"))
    alarms = rollback.get("alarms")
    if alarms != UNKNOWN and not as_list(alarms):
        yield "deploymentConfig.autoRollbackConfiguration has no alarms: a bad release stays"


@rule(
    "sagemaker-network-isolation",
    MANDATORY,
    "AWS Config sagemaker-model-isolation-enabled",
    "Models run with network isolation unless every endpoint configuration serving them is "
    "serverless (which does not support it); a container that needs the network is waived "
    "with a written reason.",
)
def sagemaker_network_isolation(resources: Sequence[Resource], context: Context) -> StackFindings:
    for model in (r for r in resources if r.type == MODEL):
        isolated = model.props.get("enableNetworkIsolation")
        if isolated is True or isolated == UNKNOWN:
            continue
        configs = linked(resources, ENDPOINT_CONFIG, model)
        variants = [v for c in configs for v in _variants(c)]
        if variants and all(_serverless(v) for v in variants):
            continue
        yield model, "enableNetworkIsolation is not true: the container can reach the network"


# --- CloudWatch and SNS --------------------------------------------------------------------------


@rule(
    "cloudwatch-alarm-actions",
    MANDATORY,
    "Control Tower CT.CLOUDWATCH.PR.1, CT.CLOUDWATCH.PR.4",
    "Every alarm notifies someone: alarmActions are set and actions are enabled.",
    types=(METRIC_ALARM,),
)
def cloudwatch_alarm_actions(res: Resource, context: Context) -> Iterator[str]:
    actions = res.props.get("alarmActions")
    if actions != UNKNOWN and not as_list(actions):
        yield "no alarmActions: nobody hears of this alarm"
    if res.props.get("actionsEnabled") is False:
        yield "actionsEnabled is false"


@rule(
    "cloudwatch-log-retention",
    MANDATORY,
    "AWS Config cw-loggroup-retention-period-check; Control Tower CT.CLOUDWATCH.PR.2; "
    "Checkov CKV_AWS_66, CKV_AWS_338",
    "Log groups set a retention: at least 365 days in prod, any finite one elsewhere.",
    types=(LOG_GROUP,),
)
def cloudwatch_log_retention(res: Resource, context: Context) -> Iterator[str]:
    days = res.props.get("retentionInDays")
    if not known(days) and days is not None:
        return
    if not days:
        yield "no retentionInDays: logs are kept (and paid for) forever"
    elif context.is_prod and isinstance(days, int | float) and days < PROD_LOG_RETENTION_DAYS:
        yield f"retentionInDays is {days}; prod keeps logs at least {PROD_LOG_RETENTION_DAYS} days"


@rule(
    "cloudwatch-log-kms",
    ADVISORY,
    "Control Tower CT.CLOUDWATCH.PR.3; Checkov CKV_AWS_158; "
    "tfsec aws-cloudwatch-log-group-customer-key",
    "Log groups are encrypted with a customer managed KMS key.",
    types=(LOG_GROUP,),
)
def cloudwatch_log_kms(res: Resource, context: Context) -> Iterator[str]:
    if not res.props.get("kmsKeyId"):
        yield "no kmsKeyId: logs are encrypted with a CloudWatch-owned key only"


@rule(
    "sns-kms",
    MANDATORY,
    "AWS FSBP SNS.1; Checkov CKV_AWS_26; tfsec aws-sns-enable-topic-encryption",
    "SNS topics are encrypted with KMS.",
    types=(TOPIC,),
)
def sns_kms(res: Resource, context: Context) -> Iterator[str]:
    if not res.props.get("kmsMasterKeyId"):
        yield "no kmsMasterKeyId: messages are stored unencrypted by KMS"


# --- tagging and protection ----------------------------------------------------------------------


def _tag_map(value: Any) -> Mapping[str, Any] | None:
    if isinstance(value, str):
        value = document(value)  # providers carry object config as JSON strings
    return value if isinstance(value, Mapping) else None


def effective_tags(res: Resource) -> Mapping[str, Any] | None:
    """Provider default tags merged with the resource's own; None when any part is unknown."""
    tags: dict[str, Any] = {}
    raw_default = (res.provider or {}).get("defaultTags")
    if raw_default is not None:
        defaults = _tag_map(raw_default)
        if defaults is None:
            return None
        tags.update(_tag_map(defaults.get("tags")) or {})
    for prop in ("tagsAll", "tags"):
        value = res.props.get(prop)
        if value is None:
            continue
        own = _tag_map(value)
        if own is None:
            return None
        tags.update(own)
    return tags


TAGGABLE = (
    BUCKET,
    KMS_KEY,
    ECR_REPOSITORY,
    ROLE,
    "aws:iam/policy:Policy",
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
    MODEL,
    ENDPOINT_CONFIG,
    ENDPOINT,
    MODEL_PACKAGE_GROUP,
    MLFLOW_SERVER,
    METRIC_ALARM,
    LOG_GROUP,
    TOPIC,
    EKS_CLUSTER,
    NODE_GROUP,
    LAUNCH_TEMPLATE,
    SECURITY_GROUP,
    "aws:ec2/vpc:Vpc",
    "aws:ec2/subnet:Subnet",
)


@rule(
    "tags-required",
    MANDATORY,
    "AWS Config required-tags; AWS tagging best practices (cost allocation and ownership)",
    "Every taggable AWS resource carries env (equal to the stack's environment) and owner "
    "tags, from the provider's defaultTags or its own.",
)
def tags_required(resources: Sequence[Resource], context: Context) -> StackFindings:
    for res in resources:
        if not res.type.startswith("aws:") or res.type.startswith("pulumi:providers:"):
            continue
        if res.type not in TAGGABLE and "tags" not in res.props:
            continue
        tags = effective_tags(res)
        if tags is None:
            continue
        missing = [t for t in REQUIRED_TAGS if not tags.get(t)]
        if missing:
            yield res, f"missing tags: {', '.join(missing)}"
        elif known(tags["env"]) and tags["env"] != context.environment:
            yield res, f"tag env is {tags['env']!r}, the stack is {context.environment!r}"


@rule(
    "prod-protect-stateful",
    MANDATORY,
    "Platform rule; AWS FSBP KMS.3 in spirit (state is not deleted unintentionally)",
    "In prod, stateful resources (buckets, keys, repositories, model package groups, the MLflow "
    "server, log groups, databases) are protected and retained on delete.",
    types=STATEFUL,
    environments=PROD,
)
def prod_protect_stateful(res: Resource, context: Context) -> Iterator[str]:
    if not res.protect:
        yield "not protected: pulumi destroy would delete it"
    if res.retain_on_delete is False:
        yield "not retainOnDelete: removing it from the program would delete it"
