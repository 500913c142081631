"""Compute: ``ServiceAccountRole`` (IRSA).

``ServiceAccountRole`` is an IAM role that one Kubernetes service account assumes through the
cluster's OIDC provider (IAM roles for service accounts). Its trust is pinned with
``StringEquals`` to ``system:serviceaccount:<namespace>:<name>`` and the audience
``sts.amazonaws.com``: no wildcards, so no other pod of the cluster can assume it.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Annotated, Any, ClassVar, Literal, get_args

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
from pydantic import Field

from mlops_platform.components._aws import aws_context, policy_document, policy_json, stateful
from mlops_platform.components._docs import SecureDefault
from mlops_platform.components._k8s import pinned_chart
from mlops_platform.components._schema import (
    Allowed,
    Matches,
    OneOf,
    Satisfies,
    between,
    check_declared,
)
from mlops_platform.components._validate import (
    CHART_VERSION,
    IAM_PATH_NAME,
    IAM_POLICY_ARN,
    KMS_KEY,
    POLICY_ARN,
    ArgsError,
    Tags,
)
from mlops_platform.components.ci import AUDIENCE, oidc_trust_policy
from mlops_platform.components.network import LOG_RETENTION_DAYS

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

# Kubernetes label syntax (EKS also caps keys and values at 63 characters).
LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
LABEL_VALUE = re.compile(r"^(?:[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
RESERVED_LABEL_PREFIXES = ("kubernetes.io", "k8s.io")


def is_label_key(key: Any) -> bool:
    if not isinstance(key, str) or len(key) > 63:
        return False
    prefix, _, label = key.rpartition("/")
    if prefix and (
        not re.match(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", prefix)
        or prefix.endswith(RESERVED_LABEL_PREFIXES)
    ):
        return False
    return bool(LABEL_NAME.match(label))


# Node scheduling contract between the node groups and the workloads (runner scale sets).
POOL_LABEL = "mlops-platform/pool"
"""Node label naming the node group's pool; runner pods select on it."""
SYSTEM_POOL, RUNNER_POOL, GPU_POOL, BUILD_POOL = "system", "runners", "gpu", "builds"
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}
"""Taint of the GPU node group (EKS spelling); pods tolerate it as ``NoSchedule``."""
BUILD_TAINT = {"key": "mlops-platform/privileged", "value": "true", "effect": "NO_SCHEDULE"}
"""Taint of the ``builds`` node group: only privileged Docker-in-Docker runners tolerate it, so a
privileged pod never shares a node with other workloads."""
GPU_RESOURCE = "nvidia.com/gpu"


def toleration(taint: Mapping[str, str]) -> dict[str, str]:
    """The pod toleration of a node group's taint (EKS spells ``NO_SCHEDULE``, pods
    ``NoSchedule``)."""
    effects = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute"}
    return {
        "key": taint["key"],
        "operator": "Equal",
        "value": taint["value"],
        "effect": effects.get(taint["effect"], taint["effect"]),
    }


def issuer_host(issuer: str) -> str:
    """The OIDC issuer as IAM condition keys name it: without ``https://``."""
    return (issuer or "").removeprefix("https://")


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

    oidc_provider_arn: Annotated[
        pulumi.Input[str], Matches(OIDC_PROVIDER_ARN, "an IAM OIDC provider ARN")
    ]
    """ARN of the cluster's IAM OIDC provider (``Cluster.oidc_provider_arn``)."""
    oidc_issuer: pulumi.Input[str]
    """The cluster's OIDC issuer URL (``Cluster.oidc_issuer``), with or without ``https://``."""
    namespace: Annotated[str, Matches(K8S_LABEL, "a Kubernetes namespace (DNS-1123 label)")]
    """Kubernetes namespace of the service account."""
    service_account: Annotated[
        str,
        Matches(
            K8S_SUBDOMAIN, "a Kubernetes service account name (DNS-1123 subdomain, no wildcards)"
        ),
    ]
    """Name of the service account that may assume the role."""
    policies: Annotated[
        Mapping[Annotated[str, Matches(POLICY_NAME, "an IAM policy name")], pulumi.Input[str]],
        Allowed("expected a map of name -> policy JSON"),
    ] = field(default_factory=dict)
    """Inline policies: name -> policy JSON."""
    managed_policy_arns: Sequence[
        Annotated[pulumi.Input[str], Matches(IAM_POLICY_ARN, "IAM policy ARNs")]
    ] = ()
    """Managed policies to attach (AWS-managed or customer-managed ARNs)."""
    description: str = ""
    """Role description; default names the service account."""
    max_session_hours: Annotated[int, between(1, 12)] = 1
    """Longest session the service account's credentials last (1-12 hours)."""
    iam_path: Annotated[str, IAM_PATH_NAME] = "/"
    """IAM path of the role."""
    permissions_boundary_arn: Annotated[pulumi.Input[str] | None, POLICY_ARN] = None
    """Permissions boundary of the role (required when the CI deploy role creates it)."""
    tags: Tags = field(default_factory=dict)
    """Tags of the role."""

    def __post_init__(self) -> None:
        check_declared(self)


class ServiceAccountRole(pulumi.ComponentResource):
    """An IAM role for one Kubernetes service account (IRSA).

    Annotate the service account with ``eks.amazonaws.com/role-arn: <role_arn>``; pods that run
    under it get the role's credentials, and no other pod of the cluster can assume it.

    Example::

        import json
        import pulumi
        from mlops_platform.components import ServiceAccountRole, ServiceAccountRoleArgs

        read_models = json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                           "Resource": "arn:aws:s3:::models-bucket/*"}],
        })
        role = ServiceAccountRole(
            "batch-scorer",
            ServiceAccountRoleArgs(
                oidc_provider_arn="arn:aws:iam::123456789012:oidc-provider/"
                "oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE",
                oidc_issuer="https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE",
                namespace="scoring",
                service_account="batch-scorer",
                policies={"read-models": read_models},
            ),
        )
        pulumi.export("scorerRoleArn", role.role_arn)
    """

    SECURE_DEFAULTS: ClassVar[tuple[SecureDefault, ...]] = (
        SecureDefault(
            "Who may assume it",
            "one service account: ``StringEquals`` on ``sub`` and ``aud`` (no wildcards)",
            "fixed (namespace, service_account)",
        ),
        SecureDefault(
            "Permissions", "none until you add policies", "policies, managed_policy_arns"
        ),
        SecureDefault("Session length", "1 hour", "max_session_hours"),
        SecureDefault(
            "Boundary", "none (set one when CI creates roles)", "iam_path, permissions_boundary_arn"
        ),
    )

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


# --- Cluster -------------------------------------------------------------------------------------

CLUSTER_TYPE = "mlops:compute:Cluster"

LogType = Literal["api", "audit", "authenticator", "controllerManager", "scheduler"]
LOG_TYPES = get_args(LogType)
REQUIRED_LOG_TYPES = ("api", "audit", "authenticator")
Pool = Literal["system", "runners", "gpu", "builds"]
POOLS = get_args(Pool)
# The vpc-cni add-on's configuration (its schema: `aws eks describe-addon-configuration
# --addon-name vpc-cni`): NetworkPolicy enforcement on, a string as the schema types it.
VPC_CNI_CONFIGURATION = {"enableNetworkPolicy": "true"}
CAPACITY_TYPES = ("ON_DEMAND", "SPOT")
# Amazon Linux 2023 AMIs (their root volume is /dev/xvda, which the launch template encrypts).
AMI_TYPES = {
    (False, "x86_64"): "AL2023_x86_64_STANDARD",
    (False, "arm64"): "AL2023_ARM_64_STANDARD",
    (True, "x86_64"): "AL2023_x86_64_NVIDIA",
    (True, "arm64"): "AL2023_ARM_64_NVIDIA",
}
# Add-ons the cluster runs; those before compute must exist for nodes to become Ready, the others
# need nodes to schedule on (EKS reports them DEGRADED until then).
ADDONS_BEFORE_NODES = ("vpc-cni", "kube-proxy", "eks-pod-identity-agent")
ADDONS_AFTER_NODES = ("coredns", "aws-ebs-csi-driver")
ADDONS = ADDONS_BEFORE_NODES + ADDONS_AFTER_NODES
ADDON_VERSION = re.compile(r"^v\d+\.\d+\.\d+-eksbuild\.\d+$")
KUBERNETES_VERSION = re.compile(r"^1\.(2[89]|[3-9]\d)$")
CLUSTER_NAME = re.compile(r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$")
CIDR = re.compile(r"^(\d{1,3}\.){3}\d{1,3}/\d{1,2}$")
# Instance families the EKS AL2023 NVIDIA AMIs support, by architecture (EKS user guide,
# "ml-eks-optimized-ami", read 2026-11). Other accelerated families (AMD GPUs, Inferentia,
# Trainium, older GPUs) are refused in every pool.
NVIDIA_FAMILIES = {
    "x86_64": frozenset(
        {
            "g4dn",
            "g5",
            "g6",
            "g6e",
            "g6f",
            "gr6",
            "gr6f",
            "p3",
            "p3dn",
            "p4d",
            "p4de",
            "p5",
            "p5e",
            "p5en",
            "p6-b200",
            "p6-b300",
        }
    ),
    "arm64": frozenset({"g5g", "p6e-gb200"}),
}
ACCELERATED_FAMILY = re.compile(r"^(?:p\d|g\d|gr\d|inf\d|trn\d|dl\d|f\d|vt\d)")
# Graviton (arm64) families carry a "g" after the generation: m7g, c7gn, t4g, r8gd.
ARM_FAMILY = re.compile(r"^[a-z]+\d+[a-z]*g[a-z]*$")
PRINCIPAL_ARN = re.compile(
    r"^arn:aws(?:-cn|-us-gov|-iso|-iso-b)?:iam::\d{12}:(?:role|user)/[\w+=,.@/-]+$"
)
CLUSTER_ADMIN_POLICY = "cluster-access-policy/AmazonEKSClusterAdminPolicy"
# Reads every resource, Secrets included: what a preview of Helm releases needs (Helm keeps
# its release records in Secrets).
CLUSTER_VIEW_POLICY = "cluster-access-policy/AmazonEKSAdminViewPolicy"


@cache
def ec2_instance_types() -> frozenset[str]:
    """Every EC2 instance type the installed botocore knows (offline, from its EC2 model)."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("ec2")
    return frozenset(model.shape_for("InstanceType").enum)


def is_instance_type(value: Any) -> bool:
    """An instance type EC2 knows (botocore's model, offline)."""
    return value in ec2_instance_types()


def instance_family(instance_type: str) -> str:
    return instance_type.rsplit(".", 1)[0]


def is_gpu_instance(instance_type: str) -> bool:
    """True for NVIDIA GPU instance types the EKS NVIDIA AMIs support."""
    family = instance_family(instance_type)
    return any(family in families for families in NVIDIA_FAMILIES.values())


def is_accelerated(instance_type: str) -> bool:
    """GPU, Inferentia, Trainium, FPGA, ... instances (none belongs in a CPU pool)."""
    return bool(ACCELERATED_FAMILY.match(instance_family(instance_type)))


def architecture(instance_type: str) -> str:
    family = instance_family(instance_type)
    if family in NVIDIA_FAMILIES["arm64"] or ARM_FAMILY.match(family):
        return "arm64"
    return "x86_64"


@dataclass(frozen=True, kw_only=True)
class NodePool:
    """One managed node group."""

    name: Annotated[str, Matches(K8S_LABEL, "lowercase letters, digits and '-'")]
    """Name of the node group inside the component (``system``, ``runners``, ``gpu``, ...)."""
    pool: Pool = SYSTEM_POOL
    """What runs there: ``system`` (cluster add-ons), ``runners`` (CI jobs), ``gpu`` (GPU jobs,
    tainted ``nvidia.com/gpu=true:NoSchedule``, NVIDIA AMI) or ``builds`` (privileged
    Docker-in-Docker runners only, tainted ``mlops-platform/privileged=true:NoSchedule``). Sets the
    ``mlops-platform/pool`` node label."""
    instance_types: Annotated[
        Sequence[Annotated[str, Satisfies(is_instance_type, "an EC2 instance type")]],
        Field(min_length=1),
        Allowed("expected a non-empty list"),
    ] = ("m7i.large",)
    """EC2 instance types (one architecture; GPU types only, and only, in a ``gpu`` pool)."""
    capacity_type: Literal["ON_DEMAND", "SPOT"] = "ON_DEMAND"
    """ON_DEMAND or SPOT (never SPOT for the system pool)."""
    min_size: Annotated[int, between(0, 1000)] = 1
    """Smallest node count (0 lets the pool scale from zero)."""
    max_size: Annotated[int, between(1, 1000)] = 3
    """Largest node count."""
    desired_size: int | None = None
    """Initial node count; default ``min_size``. The cluster autoscaler owns it afterwards."""
    disk_size_gb: Annotated[int, between(20, 16384)] = 50
    """Root volume size (gp3, encrypted)."""
    max_unavailable_percent: Annotated[int, between(1, 100)] = 33
    """Share of nodes replaced at once during updates (1-100)."""
    imds_hop_limit: Annotated[int, between(1, 2)] = 1
    """IMDSv2 response hop limit: 1 keeps pods from reaching the node's instance credentials."""
    labels: Annotated[
        Mapping[
            Annotated[
                str,
                Satisfies(is_label_key, "a Kubernetes label key"),
                Allowed(
                    "a Kubernetes label key ([prefix/]name, name up to 63 characters; not under "
                    "kubernetes.io or k8s.io)"
                ),
            ],
            Annotated[
                str,
                Matches(LABEL_VALUE, "a label value"),
                Allowed("a label value: up to 63 letters, digits, '-_.'"),
            ],
        ],
        Allowed("expected a map of label keys to values"),
    ] = field(default_factory=dict)
    """Extra node labels."""

    @property
    def gpu(self) -> bool:
        return self.pool == GPU_POOL

    @property
    def ami_type(self) -> str:
        return AMI_TYPES[(self.gpu, architecture(self.instance_types[0]))]

    @property
    def initial_size(self) -> int:
        return self.min_size if self.desired_size is None else self.desired_size

    def check(self, prefix: str) -> None:
        """Validation; errors name the field as ``<prefix>.<field>``."""

        def fail(field_name: str, value: Any, allowed: str) -> None:
            raise ArgsError(f"{prefix}.{field_name}", value, allowed)

        check_declared(self, prefix)
        for index, instance_type in enumerate(self.instance_types):
            if self.gpu and not is_gpu_instance(instance_type):
                fail(
                    f"instance_types[{index}]",
                    instance_type,
                    "a gpu pool takes NVIDIA GPU types the EKS NVIDIA AMIs support "
                    "(g4dn, g5, g5g, g6, g6e, gr6, p4d, p5, ...)",
                )
            if not self.gpu and is_accelerated(instance_type):
                allowed = (
                    f"GPU instance types belong in a pool with pool: {GPU_POOL}"
                    if is_gpu_instance(instance_type)
                    else "accelerated instance types other than supported NVIDIA GPUs are not "
                    "supported"
                )
                fail(f"instance_types[{index}]", instance_type, allowed)
        if len({architecture(t) for t in self.instance_types}) > 1:
            fail("instance_types", list(self.instance_types), "expected one CPU architecture")
        if self.pool == SYSTEM_POOL and self.capacity_type != "ON_DEMAND":
            fail("capacity_type", self.capacity_type, "the system pool runs ON_DEMAND")
        if self.min_size > self.max_size:
            fail("min_size", self.min_size, f"must not exceed max_size={self.max_size}")
        if self.pool == SYSTEM_POOL and self.min_size < 1:
            fail("min_size", self.min_size, "the system pool needs at least 1 node")
        if self.desired_size is not None and not (
            self.min_size <= self.desired_size <= self.max_size
        ):
            fail(
                "desired_size",
                self.desired_size,
                f"expected min_size..max_size ({self.min_size}-{self.max_size})",
            )
        if POOL_LABEL in self.labels:
            fail(f"labels.{POOL_LABEL}", self.labels[POOL_LABEL], "set by pool; leave it out")


def default_node_pools() -> tuple[NodePool, ...]:
    return (NodePool(name="system", pool=SYSTEM_POOL, min_size=2, max_size=3),)


@dataclass(frozen=True, kw_only=True)
class ClusterArgs:
    """Arguments of :class:`Cluster`."""

    subnet_ids: Annotated[
        Sequence[pulumi.Input[str]], Field(min_length=2), Allowed("expected subnets in 2+ zones")
    ]
    """Private subnets of the control plane's network interfaces and of every node group."""
    kms_key_arn: Annotated[pulumi.Input[str], KMS_KEY]
    """Key for envelope encryption of Kubernetes secrets and for the control-plane log group."""
    cluster_name: Annotated[
        str | None,
        Matches(
            CLUSTER_NAME, "1-100 letters, digits, '-' and '_', starting with a letter or digit"
        ),
    ] = None
    """Name of the EKS cluster; default: the component's name."""
    kubernetes_version: Annotated[str, Matches(KUBERNETES_VERSION, "e.g. 1.35")] = "1.35"
    """Pinned Kubernetes minor version (upgrade one minor at a time)."""
    enable_public_endpoint: bool = False
    """Also serve the API on a public endpoint (restricted to ``public_access_cidrs``). The
    private endpoint is always on."""
    public_access_cidrs: Annotated[Sequence[str], Allowed("expected a list of CIDRs")] = ()
    """CIDRs allowed to reach the public endpoint; required with it, never 0.0.0.0/0."""
    admin_principal_arns: Sequence[
        Annotated[pulumi.Input[str], Matches(PRINCIPAL_ARN, "IAM role/user ARNs")]
    ] = ()
    """IAM roles/users given cluster-admin through EKS access entries."""
    viewer_principal_arns: Sequence[
        Annotated[pulumi.Input[str], Matches(PRINCIPAL_ARN, "IAM role/user ARNs")]
    ] = ()
    """IAM roles/users given read access to every resource (CI previews)."""
    log_types: Sequence[LogType] = REQUIRED_LOG_TYPES
    """Control-plane logs sent to CloudWatch (api, audit and authenticator at least)."""
    log_retention_days: Annotated[int, OneOf(LOG_RETENTION_DAYS)] = 90
    """Retention of the control-plane log group (a CloudWatch Logs retention value)."""
    node_pools: Annotated[
        Sequence[NodePool], Field(min_length=1), Allowed("expected a non-empty list of NodePool")
    ] = field(default_factory=default_node_pools)
    """Managed node groups; exactly one ``system`` pool."""
    addon_versions: Annotated[
        Mapping[
            Annotated[str, OneOf(ADDONS)],
            Annotated[str, Matches(ADDON_VERSION, "a version like v1.19.0-eksbuild.1")],
        ],
        Allowed("expected a map"),
    ] = field(default_factory=dict)
    """Pinned EKS add-on versions (``v1.2.3-eksbuild.1``) by add-on name; an add-on left out runs
    the version EKS defaults to for ``kubernetes_version``."""
    nvidia_device_plugin_version: Annotated[
        str, Matches(CHART_VERSION, "a chart version like 0.20.0")
    ] = "0.20.0"
    """Chart version of the NVIDIA device plugin (installed when a ``gpu`` pool exists)."""
    cluster_autoscaler_version: Annotated[
        str | None, Matches(CHART_VERSION, "a chart version like 9.59.0")
    ] = "9.59.0"
    """Chart version of the cluster autoscaler (scales pools, from zero too); None leaves it out."""
    protect: bool = True
    """Protect the cluster (``pulumi destroy`` refuses) and turn on EKS deletion protection;
    protect and retain the control-plane log group."""
    iam_path: Annotated[str, IAM_PATH_NAME] = "/"
    """IAM path of the cluster, node and IRSA roles."""
    permissions_boundary_arn: Annotated[pulumi.Input[str] | None, POLICY_ARN] = None
    """Permissions boundary of those roles."""
    kubeconfig_profile: Annotated[
        str | None, Field(min_length=1), Allowed("expected a profile name")
    ] = None
    """AWS profile the kubeconfig's ``aws eks get-token`` uses (None: the ambient credentials)."""
    tags: Tags = field(default_factory=dict)
    """Tags of every taggable child."""

    def __post_init__(self) -> None:
        check_declared(self)
        cidrs = self.public_access_cidrs
        if self.enable_public_endpoint and not cidrs:
            raise ArgsError(
                "public_access_cidrs", list(cidrs), "required with enable_public_endpoint=True"
            )
        if cidrs and not self.enable_public_endpoint:
            raise ArgsError(
                "public_access_cidrs", list(cidrs), "only with enable_public_endpoint=True"
            )
        for index, cidr in enumerate(cidrs):
            try:
                network = ipaddress.IPv4Network(cidr, strict=True)
            except (TypeError, ValueError):
                raise ArgsError(
                    f"public_access_cidrs[{index}]",
                    cidr,
                    "expected an IPv4 CIDR, e.g. 203.0.113.0/24",
                ) from None
            if network.prefixlen < 8:
                raise ArgsError(
                    f"public_access_cidrs[{index}]",
                    cidr,
                    "expected a range of /8 or smaller (never 0.0.0.0/0)",
                )
        missing = [t for t in REQUIRED_LOG_TYPES if t not in self.log_types]
        if missing:
            raise ArgsError("log_types", list(self.log_types), f"must include {', '.join(missing)}")
        names = set()
        for index, pool in enumerate(self.node_pools):
            pool.check(f"node_pools[{index}]")
            if pool.name in names:
                raise ArgsError(f"node_pools[{index}].name", pool.name, "names must be unique")
            names.add(pool.name)
        systems = [p for p in self.node_pools if p.pool == SYSTEM_POOL]
        if len(systems) != 1:
            raise ArgsError(
                "node_pools",
                [p.name for p in self.node_pools],
                "expected exactly one pool with pool: system",
            )

    @property
    def gpu(self) -> bool:
        return any(pool.gpu for pool in self.node_pools)


def service_trust_policy(service: str, actions: Sequence[str] = ("sts:AssumeRole",)) -> dict:
    """Trust for an AWS service principal (the EKS control plane, EC2 nodes)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": service}, "Action": sorted(actions)}
        ],
    }


def cluster_encryption_policy(*, kms_key_arn: str) -> dict[str, Any]:
    """What the control plane needs of the key to envelope-encrypt Kubernetes secrets."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "EncryptSecrets",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:ListGrants"],
                "Resource": kms_key_arn,
            }
        ],
    }


def cluster_autoscaler_policy(
    *, partition: str, region: str, account_id: str, cluster_name: str
) -> dict[str, Any]:
    """The cluster autoscaler's permissions (kubernetes/autoscaler, cloudprovider/aws README):
    describe calls, and resizing only the Auto Scaling groups EKS tagged as this cluster's."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Discover",
                "Effect": "Allow",
                "Action": [
                    "autoscaling:DescribeAutoScalingGroups",
                    "autoscaling:DescribeAutoScalingInstances",
                    "autoscaling:DescribeLaunchConfigurations",
                    "autoscaling:DescribeScalingActivities",
                    "autoscaling:DescribeTags",
                    "ec2:DescribeImages",
                    "ec2:DescribeInstanceTypes",
                    "ec2:DescribeLaunchTemplateVersions",
                    "ec2:GetInstanceTypesFromInstanceRequirements",
                ],
                "Resource": "*",
            },
            {
                "Sid": "DescribeNodeGroups",
                "Effect": "Allow",
                "Action": "eks:DescribeNodegroup",
                "Resource": f"arn:{partition}:eks:{region}:{account_id}:nodegroup/{cluster_name}/*",
            },
            {
                "Sid": "ResizeOwnGroups",
                "Effect": "Allow",
                "Action": [
                    "autoscaling:SetDesiredCapacity",
                    "autoscaling:TerminateInstanceInAutoScalingGroup",
                ],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {
                        f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}": "owned"
                    }
                },
            },
        ],
    }


def kubeconfig(
    *,
    cluster_name: str,
    endpoint: str,
    certificate_authority: str,
    region: str,
    profile: str | None = None,
) -> str:
    """A kubeconfig (JSON) that authenticates with ``aws eks get-token``: no token is stored."""
    user: dict[str, Any] = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "aws",
            "args": ["eks", "get-token", "--cluster-name", cluster_name, "--region", region],
            "interactiveMode": "Never",
        }
    }
    if profile:
        user["exec"]["env"] = [{"name": "AWS_PROFILE", "value": profile}]
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": cluster_name,
                    "cluster": {
                        "server": endpoint,
                        "certificate-authority-data": certificate_authority,
                    },
                }
            ],
            "contexts": [
                {"name": cluster_name, "context": {"cluster": cluster_name, "user": "aws"}}
            ],
            "current-context": cluster_name,
            "users": [{"name": "aws", "user": user}],
        },
        sort_keys=True,
    )


class Cluster(pulumi.ComponentResource):
    """An EKS cluster with managed node groups, IRSA, core add-ons and GPU support.

    Node pools become managed node groups labelled ``mlops-platform/pool: <pool>``; a ``gpu``
    pool runs the EKS NVIDIA AMI with the ``nvidia.com/gpu`` taint and the NVIDIA device
    plugin. ``provider`` is a Kubernetes provider for the cluster whose resources wait for the
    nodes; pass it to Kubernetes-level components such as :class:`GithubRunners`.

    Example::

        import pulumi
        from mlops_platform.components import Cluster, ClusterArgs, NodePool

        cluster = Cluster(
            "ml",
            ClusterArgs(
                subnet_ids=["subnet-0a1b2c3d4e5f60718", "subnet-0f1e2d3c4b5a69788"],
                kms_key_arn="arn:aws:kms:eu-west-1:123456789012:key/"
                "0b6a5e2c-8f3d-4c1e-9a7b-2d4f6e8a0c1e",
                admin_principal_arns=["arn:aws:iam::123456789012:role/platform-admin"],
                node_pools=[
                    NodePool(name="system", instance_types=["m7i.large"], min_size=2),
                    NodePool(name="gpu", pool="gpu", instance_types=["g6.xlarge"], min_size=0),
                ],
            ),
        )
        pulumi.export("clusterName", cluster.cluster_name)
    """

    SECURE_DEFAULTS: ClassVar[tuple[SecureDefault, ...]] = (
        SecureDefault(
            "API endpoint",
            "private only",
            "enable_public_endpoint with public_access_cidrs (never 0.0.0.0/0)",
        ),
        SecureDefault(
            "Authentication", "EKS access entries (mode ``API``), no aws-auth ConfigMap", "fixed"
        ),
        SecureDefault(
            "Cluster admins",
            "only those you name; the creator gets no implicit admin",
            "admin_principal_arns, viewer_principal_arns",
        ),
        SecureDefault("Kubernetes secrets", "envelope-encrypted with your KMS key", "kms_key_arn"),
        SecureDefault(
            "Control-plane logs",
            "api, audit, authenticator; encrypted group kept 90 days",
            "log_types, log_retention_days",
        ),
        SecureDefault(
            "Node credentials",
            "IMDSv2 required, hop limit 1 (pods cannot reach them)",
            "NodePool.imds_hop_limit",
        ),
        SecureDefault("Node access", "no SSH key, no remote access", "fixed"),
        SecureDefault("Node disks", "encrypted gp3 root volumes", "NodePool.disk_size_gb"),
        SecureDefault(
            "Add-on credentials", "VPC CNI and EBS CSI through IRSA, not the node role", "fixed"
        ),
        SecureDefault(
            "Network policies", "enforced by the VPC CNI's network policy agent", "fixed"
        ),
        SecureDefault(
            "Privileged pods",
            "a ``builds`` pool of their own (tainted): nothing else schedules there",
            "NodePool.pool",
        ),
        SecureDefault("Version", "pinned (1.35), standard support only", "kubernetes_version"),
        SecureDefault(
            "Deletion",
            "cluster protected, EKS deletion protection; log group protected and retained",
            "protect=False",
        ),
    )

    cluster_name: pulumi.Output[str]
    """Name of the EKS cluster."""
    endpoint: pulumi.Output[str]
    """URL of the Kubernetes API (private unless ``enable_public_endpoint``)."""
    oidc_provider_arn: pulumi.Output[str]
    """ARN of the IAM OIDC provider for IRSA (:class:`ServiceAccountRole`)."""
    oidc_issuer: pulumi.Output[str]
    """OIDC issuer URL of the cluster."""
    node_role_arn: pulumi.Output[str]
    """Role of every node group."""
    kubeconfig: pulumi.Output[str]
    """Kubeconfig using ``aws eks get-token`` (a secret)."""
    provider: k8s.Provider
    """Kubernetes provider for this cluster; pass it to Kubernetes-level components."""

    def __init__(
        self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(CLUSTER_TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        context = aws_context(self)
        cluster_name = args.cluster_name or name
        iam = {"path": args.iam_path, "permissions_boundary": args.permissions_boundary_arn}

        def managed(policy: str) -> pulumi.Output[str]:
            return context.partition.apply(lambda p: f"arn:{p}:iam::aws:policy/{policy}")

        def role_with(
            role_name: str, service: str, actions: Sequence[str], policies: Sequence[str]
        ):
            role = aws.iam.Role(
                role_name,
                assume_role_policy=policy_json(service_trust_policy(service, actions)),
                tags=tags,
                opts=child,
                **iam,
            )
            attachments = [
                aws.iam.RolePolicyAttachment(
                    f"{role_name}-{policy.rsplit('/', 1)[-1]}",
                    role=role.name,
                    policy_arn=managed(policy),
                    opts=child,
                )
                for policy in policies
            ]
            return role, attachments

        # Control plane.
        cluster_role, cluster_attachments = role_with(
            f"{name}-cluster",
            "eks.amazonaws.com",
            ("sts:AssumeRole", "sts:TagSession"),
            ("AmazonEKSClusterPolicy",),
        )
        encryption = aws.iam.RolePolicy(
            f"{name}-cluster-encryption",
            role=cluster_role.id,
            policy=policy_document(cluster_encryption_policy, kms_key_arn=args.kms_key_arn),
            opts=child,
        )
        # EKS writes to /aws/eks/<cluster>/cluster; created first, it is encrypted and expires.
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-control-plane",
            name=f"/aws/eks/{cluster_name}/cluster",
            retention_in_days=args.log_retention_days,
            kms_key_id=args.kms_key_arn,
            tags=tags,
            opts=stateful(self, args.protect),
        )
        vpc_config: dict[str, Any] = {
            "subnet_ids": list(args.subnet_ids),
            "endpoint_private_access": True,
            "endpoint_public_access": args.enable_public_endpoint,
        }
        if args.enable_public_endpoint:
            vpc_config["public_access_cidrs"] = list(args.public_access_cidrs)
        self.cluster = aws.eks.Cluster(
            f"{name}-eks",
            name=cluster_name,
            version=args.kubernetes_version,
            role_arn=cluster_role.arn,
            vpc_config=vpc_config,
            access_config={
                "authentication_mode": "API",
                "bootstrap_cluster_creator_admin_permissions": False,
            },
            # The add-ons below are managed by EKS; none is installed self-managed first.
            bootstrap_self_managed_addons=False,
            encryption_config={
                "provider": {"key_arn": args.kms_key_arn},
                "resources": ["secrets"],
            },
            enabled_cluster_log_types=list(args.log_types),
            upgrade_policy={"support_type": "STANDARD"},
            deletion_protection=args.protect,
            tags=tags,
            # A `pulumi destroy` (or a change that would replace it) stops at the cluster.
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[log_group, encryption, *cluster_attachments],
                protect=args.protect,
            ),
        )
        # (``identities`` and the certificate are computed by EKS: a consumer's mocks that echo
        # inputs leave them empty, which must not crash the program.)
        self.oidc_issuer = self.cluster.identities.apply(
            lambda ids: ids[0].oidcs[0].issuer if ids and ids[0].oidcs else None
        )
        oidc = aws.iam.OpenIdConnectProvider(
            f"{name}-oidc",
            url=self.oidc_issuer,
            client_id_lists=[AUDIENCE],
            tags=tags,
            opts=child,
        )
        self.oidc_provider_arn = oidc.arn

        def irsa(role_name: str, namespace: str, service_account: str, **kwargs: Any):
            return ServiceAccountRole(
                f"{name}-{role_name}",
                ServiceAccountRoleArgs(
                    oidc_provider_arn=self.oidc_provider_arn,
                    oidc_issuer=self.oidc_issuer,
                    namespace=namespace,
                    service_account=service_account,
                    iam_path=args.iam_path,
                    permissions_boundary_arn=args.permissions_boundary_arn,
                    tags=tags,
                    **kwargs,
                ),
                child,
            )

        # Administrators and viewers, through access entries (no aws-auth ConfigMap).
        access = []
        for kind, principals, access_policy in (
            ("admin", args.admin_principal_arns, CLUSTER_ADMIN_POLICY),
            ("viewer", args.viewer_principal_arns, CLUSTER_VIEW_POLICY),
        ):
            for index, principal in enumerate(principals):
                entry = aws.eks.AccessEntry(
                    f"{name}-{kind}-{index}",
                    cluster_name=self.cluster.name,
                    principal_arn=principal,
                    type="STANDARD",
                    tags=tags,
                    opts=child,
                )
                access.append(
                    aws.eks.AccessPolicyAssociation(
                        f"{name}-{kind}-{index}",
                        cluster_name=self.cluster.name,
                        principal_arn=entry.principal_arn,
                        policy_arn=context.partition.apply(
                            lambda p, policy=access_policy: f"arn:{p}:eks::aws:{policy}"
                        ),
                        access_scope={"type": "cluster"},
                        opts=child,
                    )
                )

        def addon(addon_name: str, depends_on: Sequence[pulumi.Resource], **kwargs: Any):
            return aws.eks.Addon(
                f"{name}-{addon_name}",
                cluster_name=self.cluster.name,
                addon_name=addon_name,
                addon_version=args.addon_versions.get(addon_name),
                resolve_conflicts_on_create="OVERWRITE",
                resolve_conflicts_on_update="OVERWRITE",
                tags=tags,
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)),
                **kwargs,
            )

        # Networking add-ons first: nodes become Ready only once the CNI runs. The VPC CNI gets
        # its permissions through IRSA rather than from the node role.
        cni_role = irsa(
            "vpc-cni",
            "kube-system",
            "aws-node",
            managed_policy_arns=[managed("AmazonEKS_CNI_Policy")],
        )
        before_nodes = [
            addon(
                addon_name,
                [],
                **(
                    {
                        "service_account_role_arn": cni_role.role_arn,
                        # The CNI's network policy agent enforces NetworkPolicies (the runner
                        # namespaces' default deny); without it they are accepted and ignored.
                        "configuration_values": json.dumps(VPC_CNI_CONFIGURATION, sort_keys=True),
                    }
                    if addon_name == "vpc-cni"
                    else {}
                ),
            )
            for addon_name in ADDONS_BEFORE_NODES
        ]

        # Node groups.
        node_role, node_attachments = role_with(
            f"{name}-node",
            "ec2.amazonaws.com",
            ("sts:AssumeRole",),
            ("AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryReadOnly"),
        )
        self.node_role_arn = node_role.arn
        self.node_groups: dict[str, aws.eks.NodeGroup] = {}
        for pool in args.node_pools:
            self.node_groups[pool.name] = self._node_group(
                f"{name}-{pool.name}",
                pool,
                cluster_name=cluster_name,
                node_role_arn=node_role.arn,
                subnet_ids=args.subnet_ids,
                tags=tags,
                depends_on=[*node_attachments, *before_nodes],
            )
        nodes = list(self.node_groups.values())

        ebs_role = irsa(
            "ebs-csi",
            "kube-system",
            "ebs-csi-controller-sa",
            managed_policy_arns=[managed("service-role/AmazonEBSCSIDriverPolicy")],
        )
        coredns = addon("coredns", nodes)
        addon("aws-ebs-csi-driver", nodes, service_account_role_arn=ebs_role.role_arn)

        # Kubernetes access for the components built on the cluster.
        self.cluster_name = self.cluster.name
        self.endpoint = self.cluster.endpoint
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(
                self.cluster.name,
                self.cluster.endpoint,
                self.cluster.certificate_authority.apply(lambda ca: ca.data if ca else None),
                context.region,
            ).apply(
                lambda values: kubeconfig(
                    cluster_name=values[0],
                    endpoint=values[1],
                    certificate_authority=values[2],
                    region=values[3],
                    profile=args.kubeconfig_profile,
                )
            )
        )
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            enable_server_side_apply=True,
            # Workloads need nodes (and DNS) to become ready: every Kubernetes resource on this
            # provider waits for the access entries, the node groups and CoreDNS.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*access, *nodes, coredns]),
        )
        on_cluster = pulumi.ResourceOptions(parent=self, provider=self.provider)

        def chart(release: str, version: str, repository: str, values: dict[str, Any]) -> None:
            """A pinned Helm chart in kube-system, rolled back if it fails to become ready."""
            pinned_chart(
                f"{name}-{release}",
                release_name=release,
                chart=release,
                version=version,
                repository=repository,
                namespace="kube-system",
                values=values,
                cleanup_on_fail=False,
                opts=on_cluster,
            )

        if args.gpu:
            chart(
                "nvidia-device-plugin",
                args.nvidia_device_plugin_version,
                "https://nvidia.github.io/k8s-device-plugin",
                {
                    "nodeSelector": {POOL_LABEL: GPU_POOL},
                    "tolerations": [
                        {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}
                    ],
                },
            )
        if args.cluster_autoscaler_version is not None:
            autoscaler_role = irsa(
                "cluster-autoscaler",
                "kube-system",
                "cluster-autoscaler",
                policies={
                    "autoscale": policy_document(
                        cluster_autoscaler_policy,
                        partition=context.partition,
                        region=context.region,
                        account_id=context.account_id,
                        cluster_name=self.cluster.name,
                    )
                },
            )
            chart(
                "cluster-autoscaler",
                args.cluster_autoscaler_version,
                "https://kubernetes.github.io/autoscaler",
                {
                    "cloudProvider": "aws",
                    "awsRegion": context.region,
                    "autoDiscovery": {"clusterName": self.cluster.name},
                    "rbac": {
                        "serviceAccount": {
                            "create": True,
                            "name": "cluster-autoscaler",
                            "annotations": {"eks.amazonaws.com/role-arn": autoscaler_role.role_arn},
                        }
                    },
                    "nodeSelector": {POOL_LABEL: SYSTEM_POOL},
                    "extraArgs": {
                        "balance-similar-node-groups": True,
                        "skip-nodes-with-system-pods": False,
                    },
                },
            )

        self.register_outputs(
            {
                "clusterName": self.cluster_name,
                "endpoint": self.endpoint,
                "oidcProviderArn": self.oidc_provider_arn,
                "oidcIssuer": self.oidc_issuer,
                "nodeRoleArn": self.node_role_arn,
                "kubeconfig": self.kubeconfig,
            }
        )

    def _node_group(
        self,
        name: str,
        pool: NodePool,
        *,
        cluster_name: str,
        node_role_arn: pulumi.Input[str],
        subnet_ids: Sequence[pulumi.Input[str]],
        tags: dict[str, str],
        depends_on: list[pulumi.Resource],
    ) -> aws.eks.NodeGroup:
        """One managed node group and its launch template (IMDSv2, encrypted root, no SSH key)."""
        template = aws.ec2.LaunchTemplate(
            name,
            description=f"{cluster_name} {pool.name} nodes: IMDSv2, encrypted root volume",
            metadata_options={
                "http_endpoint": "enabled",
                "http_tokens": "required",
                "http_put_response_hop_limit": pool.imds_hop_limit,
            },
            block_device_mappings=[
                {
                    "device_name": "/dev/xvda",
                    "ebs": {
                        "volume_size": pool.disk_size_gb,
                        "volume_type": "gp3",
                        "encrypted": "true",
                        "delete_on_termination": "true",
                    },
                }
            ],
            tag_specifications=[
                {"resource_type": kind, "tags": {**tags, "Name": f"{cluster_name}-{pool.name}"}}
                for kind in ("instance", "volume")
            ],
            update_default_version=True,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        labels = {**pool.labels, POOL_LABEL: pool.pool}
        if pool.gpu:  # the NVIDIA device plugin schedules on nodes labelled so
            labels["nvidia.com/gpu.present"] = "true"
        return aws.eks.NodeGroup(
            name,
            cluster_name=self.cluster.name,
            node_role_arn=node_role_arn,
            subnet_ids=list(subnet_ids),
            ami_type=pool.ami_type,
            capacity_type=pool.capacity_type,
            instance_types=list(pool.instance_types),
            scaling_config={
                "min_size": pool.min_size,
                "max_size": pool.max_size,
                "desired_size": pool.initial_size,
            },
            update_config={"max_unavailable_percentage": pool.max_unavailable_percent},
            launch_template={"id": template.id, "version": template.latest_version.apply(str)},
            labels=labels,
            taints=[GPU_TAINT] if pool.gpu else [BUILD_TAINT] if pool.pool == BUILD_POOL else [],
            node_repair_config={"enabled": True},
            tags=tags,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=depends_on,
                # The cluster autoscaler owns the node count once the group exists.
                ignore_changes=["scalingConfig.desiredSize"],
            ),
        )
