"""CI runners on the cluster: ``GithubRunners`` (actions-runner-controller scale sets) and
``GitlabRunner`` (the GitLab Runner chart with the Kubernetes executor).

Both run their jobs under a Kubernetes service account bound to an IRSA role
(:class:`~components.compute.ServiceAccountRole`) whose permissions come from one pure function,
:func:`runner_access_policy`: push/pull the platform's ECR repositories, read/write the DVC remote,
read the artifacts bucket, nothing else unless the stack adds statements (validated by
:func:`check_extra_statements`). Credentials (the GitHub App private key, the GitLab runner
token) go into Kubernetes Secrets as Pulumi secrets and the Helm values only name the Secret.

The components create no provider: pass the Kubernetes and AWS providers on the component,
``opts=pulumi.ResourceOptions(providers={"kubernetes": k8s, "aws": aws})``, and every child
inherits them through ``parent``.

Chart values follow the charts as read at these versions:

- ``gha-runner-scale-set-controller`` / ``gha-runner-scale-set`` 0.14.2
  (github.com/actions/actions-runner-controller, ``charts/*/values.yaml`` and templates).
- ``gitlab-runner`` 0.86.0 (GitLab Runner 18.9.0; gitlab.com/gitlab-org/charts/gitlab-runner,
  ``values.yaml``, ``templates/deployment.yaml``, ``templates/_helpers.tpl``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal, get_args

import pulumi
import pulumi_kubernetes as k8s
from pydantic import Field

from mlops_platform.components._aws import aws_context, policy_document, service_endpoint
from mlops_platform.components._docs import SecureDefault
from mlops_platform.components._k8s import bound_role, pinned_chart
from mlops_platform.components._schema import (
    Allowed,
    Matches,
    Secret,
    between,
    check_declared,
)
from mlops_platform.components._validate import (
    CHART_VERSION,
    CPU_QUANTITY,
    IAM_PATH_NAME,
    KEY_PREFIX,
    KMS_KEY,
    MEMORY_QUANTITY,
    POLICY_ARN,
    ArgsError,
    Tags,
    check_choice,
    is_known,
)
from mlops_platform.components.ci import DATA_READS
from mlops_platform.components.compute import (
    BUILD_POOL,
    BUILD_TAINT,
    GPU_POOL,
    GPU_RESOURCE,
    GPU_TAINT,
    K8S_LABEL,
    K8S_SUBDOMAIN,
    OIDC_PROVIDER_ARN,
    POOL_LABEL,
    RUNNER_POOL,
    SYSTEM_POOL,
    ServiceAccountRole,
    ServiceAccountRoleArgs,
    toleration,
)
from mlops_platform.components.registry import PULL_ACTIONS
from mlops_platform.components.storage import DataBucket, DataBucketArgs, dvc_access_policy

GITHUB_RUNNERS_TYPE = "mlops:runners:GithubRunners"
GITLAB_RUNNER_TYPE = "mlops:runners:GitlabRunner"

ARC_CHARTS = "oci://ghcr.io/actions/actions-runner-controller-charts"
ARC_CONTROLLER_CHART = f"{ARC_CHARTS}/gha-runner-scale-set-controller"
ARC_SCALE_SET_CHART = f"{ARC_CHARTS}/gha-runner-scale-set"
ARC_VERSION = "0.14.2"
GITLAB_CHARTS = "https://charts.gitlab.io"
GITLAB_RUNNER_CHART = "gitlab-runner"
GITLAB_RUNNER_VERSION = "0.86.0"

IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
# Keys of a pre-defined GitHub App secret (gha-runner-scale-set values.yaml, variation C).
GITHUB_APP_KEYS = ("github_app_id", "github_app_installation_id", "github_app_private_key")
# The chart projects both keys from ``runners.secret`` (templates/deployment.yaml): both must exist.
GITLAB_TOKEN_KEYS = ("runner-token", "runner-registration-token")
# containerMode.type values the scale-set chart templates handle; None leaves it unset (steps run
# in the runner container itself: no Docker daemon, nothing privileged).
ContainerMode = Literal["dind", "kubernetes", "kubernetes-novolume"]
CONTAINER_MODES = get_args(ContainerMode)
KUBERNETES_MODES = ("kubernetes", "kubernetes-novolume")
# The chart fails when the scale set name exceeds 45 characters (autoscalingrunnerset.yaml).
MAX_SCALE_SET_NAME = 45

DIGITS = re.compile(r"^\d{1,20}$")
# An organisation or repository on github.com, an enterprise, or the same on a GHES host.
GITHUB_CONFIG_URL = re.compile(
    r"^https://[a-z0-9]([a-z0-9.-]*[a-z0-9])?(?::\d{1,5})?"
    r"/(?:enterprises/)?[A-Za-z0-9][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_.-]+)?$"
)
GITLAB_URL = re.compile(r"^https://[a-z0-9]([a-z0-9.-]*[a-z0-9])?(?::\d{1,5})?(?:/[\w.~-]+)*/?$")
IMAGE = re.compile(r"^[\w.:/@-]+$")
# A reference pinned by content: <repository>[:<tag>]@sha256:<64 hex> (the tag stays for readers).
PINNED_IMAGE = re.compile(r"^[\w.:/-]+(?::[\w.-]+)?@sha256:[0-9a-f]{64}$")

# Default images, by tag and by the digest of that tag's multi-arch index (as pinned by several
# independent Renovate-managed repositories; check with `crane digest <image>:<tag>` before
# bumping). A digest makes a re-tagged or compromised tag unable to change what runs.
RUNNER_IMAGE = (
    "ghcr.io/actions/actions-runner:2.336.0"
    "@sha256:0cfdcc701ce933c6d243c6b0b2da767366dc9f2e99961d4c3754b0b78084cdda"
)
GITLAB_JOB_IMAGE = (
    "alpine:3.22@sha256:14358309a308569c32bdc37e2e0e9694be33a9d99e68afb0f5ff33cc1f695dce"
)
# The Docker daemon of dind sets. The chart hardcodes the mutable `docker:dind` for it
# (templates/_helpers.tpl, "gha-runner-scale-set.dind-container", 0.14.2), so dind sets render
# the chart's expanded dind pod (values.yaml, template comment) with this image instead.
DIND_IMAGE = (
    "docker:29.8.0-dind@sha256:5efed980cba3fc126cf54e21a5a6ff8849d05b6e0623d6e7612f48e9cd6cd17e"
)
# dockerd runs as a native sidecar (an init container with restartPolicy: Always), as the chart
# renders it from Kubernetes 1.29 on, the first minor where sidecars are on by default.
MIN_DIND_MINOR = 29
# The actions-runner image's user (`runner`, uid 1001) and its docker group (gid 123).
RUNNER_UID, RUNNER_DOCKER_GID = 1001, 123
IAM_ACTION = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9*]+$")
# Actions that only read: ``Resource: "*"`` is acceptable for them, never for writes.
READ_PREFIXES = ("Get", "List", "Describe", "BatchGet", "Head", "View")
STATEMENT_KEYS = frozenset({"Sid", "Effect", "Action", "Resource", "Condition"})

ECR_PUSH_ACTIONS = (
    "ecr:CompleteLayerUpload",
    "ecr:InitiateLayerUpload",
    "ecr:PutImage",
    "ecr:UploadLayerPart",
)
ARTIFACT_READ_ACTIONS = ("s3:GetObject", "s3:GetObjectVersion")


# --- runner permissions (pure) -------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def is_data_read(action: str) -> bool:
    """True for reads of data rather than configuration (``s3:GetObject``, ``s3:Get*``): the
    reads that :data:`components.ci.DATA_READS` keeps even from CI previews."""
    service, _, name = action.partition(":")
    for data_read in DATA_READS:
        data_service, _, data_name = data_read.partition(":")
        if service == data_service and (
            name == data_name or (name.endswith("*") and data_name.startswith(name[:-1]))
        ):
            return True
    return False


def is_read_action(action: str) -> bool:
    """True for actions that only read configuration (``ecr:Describe*``, ``eks:List*``); data
    reads such as ``s3:GetObject`` count as writes here: on ``*`` they would reach every bucket."""
    name = action.split(":", 1)[-1]
    return name != "*" and name.startswith(READ_PREFIXES) and not is_data_read(action)


def check_extra_statements(field_name: str, statements: Any) -> None:
    """Extra IAM statements from config: plain Allow/Deny statements with ``Action`` and
    ``Resource``; no IAM actions, no ``*`` action and no ``Resource: "*"`` on a write."""
    if isinstance(statements, str | Mapping) or not isinstance(statements, Sequence):
        raise ArgsError(field_name, statements, "expected a list of IAM statement maps")
    for index, stmt in enumerate(statements):
        where = f"{field_name}[{index}]"
        if not isinstance(stmt, Mapping):
            raise ArgsError(where, stmt, "expected a map with Effect, Action and Resource")
        unknown = sorted(set(stmt) - STATEMENT_KEYS)
        if unknown:
            raise ArgsError(
                f"{where}.{unknown[0]}",
                stmt[unknown[0]],
                f"allowed keys are {', '.join(sorted(STATEMENT_KEYS))} "
                "(no NotAction, NotResource or Principal)",
            )
        check_choice(f"{where}.Effect", stmt.get("Effect"), ("Allow", "Deny"))
        actions = _as_list(stmt.get("Action"))
        if not stmt.get("Action") or not all(isinstance(a, str) for a in actions):
            raise ArgsError(f"{where}.Action", stmt.get("Action"), "expected actions")
        resources = _as_list(stmt.get("Resource"))
        if not stmt.get("Resource") or not all(isinstance(r, str) and r for r in resources):
            raise ArgsError(f"{where}.Resource", stmt.get("Resource"), "expected resource ARNs")
        if "Condition" in stmt and not isinstance(stmt["Condition"], Mapping):
            raise ArgsError(f"{where}.Condition", stmt["Condition"], "expected a condition map")
        if stmt["Effect"] == "Deny":
            continue  # a deny only ever narrows what the role may do
        for action in actions:
            if action == "*" or not IAM_ACTION.match(action):
                raise ArgsError(
                    f"{where}.Action", action, "expected service:Action (no bare '*' action)"
                )
            if action.lower().startswith("iam:"):
                raise ArgsError(f"{where}.Action", action, "IAM actions are not allowed")
            if action.split(":", 1)[1] == "*":
                raise ArgsError(
                    f"{where}.Action", action, "name the actions; '<service>:*' is not allowed"
                )
        writes = [a for a in actions if not is_read_action(a)]
        if "*" in resources and writes:
            raise ArgsError(
                f"{where}.Resource",
                "*",
                f"'*' is allowed for configuration reads only; name the resources of {writes[0]}",
            )


def runner_access_policy(
    *,
    region: str,
    ecr_repository_arns: Sequence[str] = (),
    dvc_bucket_arn: str | None = None,
    dvc_prefix: str = "dvc",
    artifacts_bucket_arn: str | None = None,
    kms_key_arn: str | None = None,
    extra_statements: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """What CI jobs may do: push/pull the given ECR repositories, read/write the DVC remote,
    read the artifacts bucket (with the platform key, through S3 only), plus extra statements.

    ``ecr:GetAuthorizationToken`` is the one action on ``*``: it has no resource-level
    permissions and only returns a registry login token.
    """
    statements: list[dict[str, Any]] = []
    repositories = sorted(ecr_repository_arns)
    if repositories:
        statements += [
            {
                "Sid": "EcrLogin",
                "Effect": "Allow",
                "Action": "ecr:GetAuthorizationToken",
                "Resource": "*",
            },
            {
                "Sid": "EcrPushPull",
                "Effect": "Allow",
                "Action": sorted({*PULL_ACTIONS, *ECR_PUSH_ACTIONS}),
                "Resource": repositories,
            },
        ]
    if dvc_bucket_arn is not None:
        dvc = dvc_access_policy(
            bucket_arn=dvc_bucket_arn,
            prefix=dvc_prefix,
            kms_key_arn=kms_key_arn or "",
            region=region,
            write=True,
        )
        for stmt in dvc["Statement"]:
            if stmt["Sid"] != "UseKeyThroughS3":
                statements.append({**stmt, "Sid": f"Dvc{stmt['Sid']}"})
    if artifacts_bucket_arn is not None:
        statements += [
            {
                "Sid": "ArtifactsList",
                "Effect": "Allow",
                "Action": ["s3:GetBucketLocation", "s3:ListBucket"],
                "Resource": artifacts_bucket_arn,
            },
            {
                "Sid": "ArtifactsRead",
                "Effect": "Allow",
                "Action": list(ARTIFACT_READ_ACTIONS),
                "Resource": f"{artifacts_bucket_arn}/*",
            },
        ]
    if kms_key_arn is not None and (dvc_bucket_arn is not None or artifacts_bucket_arn):
        statements.append(
            {
                "Sid": "UseKeyThroughS3",
                "Effect": "Allow",
                # Decrypt for reads; GenerateDataKey for DVC pushes (SSE-KMS).
                "Action": (
                    ["kms:Decrypt", "kms:GenerateDataKey"] if dvc_bucket_arn else ["kms:Decrypt"]
                ),
                "Resource": kms_key_arn,
                "Condition": {"StringEquals": {"kms:ViaService": service_endpoint("s3", region)}},
            }
        )
    for index, stmt in enumerate(extra_statements):
        statements.append({"Sid": f"Extra{index}", **stmt})
    return {"Version": "2012-10-17", "Statement": statements}


@dataclass(frozen=True, kw_only=True)
class RunnerAccess:
    """What the runners' jobs may reach in AWS (see :func:`runner_access_policy`)."""

    ecr_repository_arns: Annotated[
        Sequence[pulumi.Input[str]], Allowed("expected a list of ARNs")
    ] = ()
    """ECR repositories the jobs may push to and pull from."""
    dvc_bucket_arn: pulumi.Input[str] | None = None
    """The DVC remote's bucket; jobs may read and write under ``dvc_prefix``."""
    dvc_prefix: Annotated[str, Matches(KEY_PREFIX, "a key prefix")] = "dvc"
    """Key prefix of the DVC remote inside its bucket."""
    artifacts_bucket_arn: pulumi.Input[str] | None = None
    """The model-artifacts bucket; jobs may read it."""
    kms_key_arn: Annotated[pulumi.Input[str] | None, KMS_KEY] = None
    """The platform key that encrypts the buckets (usable through S3 only). Required with a
    bucket."""
    extra_statements: Sequence[Mapping[str, Any]] = ()
    """Further IAM statements from config; checked by :func:`check_extra_statements`."""

    def __post_init__(self) -> None:
        check_extra_statements("access.extra_statements", self.extra_statements)
        check_declared(self, "access")
        if self.kms_key_arn is None and (
            self.dvc_bucket_arn is not None or self.artifacts_bucket_arn is not None
        ):
            raise ArgsError(
                "access.kms_key_arn", None, "required with dvc_bucket_arn or artifacts_bucket_arn"
            )

    def policy(self, region: pulumi.Input[str]) -> pulumi.Output[str]:
        """The JSON policy document, once the ARNs are known."""
        return policy_document(
            runner_access_policy,
            region=region,
            ecr_repository_arns=pulumi.Output.all(*self.ecr_repository_arns),
            dvc_bucket_arn=self.dvc_bucket_arn,
            dvc_prefix=self.dvc_prefix,
            artifacts_bucket_arn=self.artifacts_bucket_arn,
            kms_key_arn=self.kms_key_arn,
            extra_statements=list(self.extra_statements),
        )

    @property
    def grants_anything(self) -> bool:
        return bool(
            self.ecr_repository_arns
            or self.dvc_bucket_arn is not None
            or self.artifacts_bucket_arn is not None
            or self.extra_statements
        )


def _check_secret_text(field_name: str, value: Any, prefix: str, what: str) -> None:
    """Checks a plain credential without ever echoing it in the error."""
    if not is_known(value):
        return
    if not isinstance(value, str) or not value.strip().startswith(prefix):
        raise ArgsError(field_name, "[redacted]", f"expected {what}")


def _runner_role(
    name: str,
    parent: pulumi.Resource,
    args: Any,
    *,
    namespace: str,
    service_account: str,
    policies: Mapping[str, pulumi.Input[str]],
) -> ServiceAccountRole:
    return ServiceAccountRole(
        name,
        ServiceAccountRoleArgs(
            oidc_provider_arn=args.oidc_provider_arn,
            oidc_issuer=args.oidc_issuer,
            namespace=namespace,
            service_account=service_account,
            policies=policies,
            iam_path=args.iam_path,
            permissions_boundary_arn=args.permissions_boundary_arn,
            tags=dict(args.tags),
        ),
        pulumi.ResourceOptions(parent=parent),
    )


def _service_account(
    name: str,
    parent: pulumi.Resource,
    namespace: pulumi.Input[str],
    account: str,
    role_arn: pulumi.Input[str],
    *,
    api_access: bool,
) -> k8s.core.v1.ServiceAccount:
    return k8s.core.v1.ServiceAccount(
        name,
        metadata={
            "name": account,
            "namespace": namespace,
            "annotations": {IRSA_ANNOTATION: role_arn},
        },
        # The IRSA web-identity token is projected by EKS either way; the Kubernetes API token
        # only where the pod talks to the API server (runner manager, kubernetes container mode).
        automount_service_account_token=api_access,
        opts=pulumi.ResourceOptions(parent=parent),
    )


# --- GitHub: actions-runner-controller ----------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RunnerScaleSet:
    """One runner scale set: jobs select it with ``runs-on: <name_prefix>-<name>``."""

    name: Annotated[str, Matches(K8S_LABEL, "a DNS-1123 label such as 'cpu'")]
    """Short name, such as ``cpu`` or ``gpu``; the scale set is ``<name_prefix>-<name>``."""
    max_runners: Annotated[int, between(1, 1000)]
    """Most runners at once (1-1000)."""
    min_runners: Annotated[int, between(0, 1000)] = 0
    """Idle runners kept warm (0-1000, at most ``max_runners``); 0 scales to zero."""
    gpu: bool = False
    """Run on the GPU node group (node selector, taint toleration, GPU limit)."""
    gpus: Annotated[int, between(0, 8)] = 0
    """GPUs per runner (``nvidia.com/gpu`` limit); at least 1 for a GPU set, 0 otherwise."""
    container_mode: ContainerMode | None = None
    """``None``: steps run in the runner container (no Docker, nothing privileged). ``dind``:
    a privileged Docker-in-Docker sidecar (image builds). ``kubernetes`` /
    ``kubernetes-novolume``: job containers run as separate pods (CPU sets only; those pods do not
    get the runner's node selector or IRSA role)."""
    work_volume_storage_class: Annotated[
        str | None, Matches(K8S_SUBDOMAIN, "a storage class name")
    ] = None
    """Storage class of the work volume; required by ``container_mode="kubernetes"``."""
    work_volume_gib: Annotated[int, between(1, 1000)] = 10
    """Size of the work volume in ``kubernetes`` mode (1-1000 GiB)."""
    cpu: Annotated[str, Matches(CPU_QUANTITY, "a CPU quantity such as 500m or 2")] = "1"
    """CPU request of the runner container (Kubernetes quantity)."""
    memory: Annotated[str, Matches(MEMORY_QUANTITY, "a quantity such as 4Gi")] = "4Gi"
    """Memory request and limit of the runner container."""
    runner_image: Annotated[str, Matches(IMAGE, "a container image")] = RUNNER_IMAGE
    """Runner image, pinned by tag and digest (``<image>:<tag>@sha256:<digest>``); staging and
    prod stacks accept no other form."""
    dind_image: Annotated[str, Matches(IMAGE, "a container image")] = DIND_IMAGE
    """Docker daemon image of a ``dind`` set, pinned by tag and digest; staging and prod stacks
    accept no other form."""

    def check(self, where: str, prefix: str) -> None:
        """Validation; errors name the field as ``<where>.<field>``."""
        check_declared(self, where)
        label = f"{prefix}-{self.name}"
        if len(label) > MAX_SCALE_SET_NAME:
            raise ArgsError(
                f"{where}.name", self.name, f"'{label}' exceeds {MAX_SCALE_SET_NAME} characters"
            )
        if self.min_runners > self.max_runners:
            raise ArgsError(
                f"{where}.min_runners",
                self.min_runners,
                f"must not exceed max_runners ({self.max_runners})",
            )
        if self.gpu and self.gpus < 1:
            raise ArgsError(f"{where}.gpus", self.gpus, "expected an integer from 1 to 8")
        if not self.gpu and self.gpus != 0:
            raise ArgsError(f"{where}.gpus", self.gpus, "only GPU sets (gpu=True) take GPUs")
        if self.gpu and self.container_mode is not None:
            raise ArgsError(
                f"{where}.container_mode",
                self.container_mode,
                "GPU sets take none: kubernetes modes run jobs in pods without the GPU, and a "
                "privileged dind daemon would share GPU nodes with other workloads (build images "
                "on a dind set, which runs on the builds pool)",
            )
        if self.container_mode != "dind" and self.dind_image != DIND_IMAGE:
            raise ArgsError(
                f"{where}.dind_image", self.dind_image, "only dind sets (container_mode='dind')"
            )
        if self.container_mode == "kubernetes" and self.work_volume_storage_class is None:
            raise ArgsError(
                f"{where}.work_volume_storage_class", None, "required in kubernetes mode"
            )


# --- runner namespaces' network policies (pure) --------------------------------------------------

LINK_LOCAL = "169.254.0.0/16"
"""Instance metadata (IMDS), the EKS Pod Identity agent and other node-local endpoints."""


def runner_network_policies() -> dict[str, dict[str, Any]]:
    """``spec`` of the NetworkPolicies of a runner namespace, by name: deny everything, then
    let pods resolve names (CoreDNS) and reach HTTPS/HTTP endpoints outside the node's link-local
    range (GitHub or GitLab, the registries, AWS APIs and STS for IRSA, package mirrors, the
    cluster's API endpoint for kubernetes-mode runners). No ingress: runners only dial out."""
    return {
        "default-deny": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        "runner-egress": {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                            },
                            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                        }
                    ],
                    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                },
                {
                    "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": [LINK_LOCAL]}}],
                    "ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 80}],
                },
            ],
        },
    }


def _network_policies(
    name: str, parent: pulumi.Resource, namespace: pulumi.Input[str]
) -> list[k8s.networking.v1.NetworkPolicy]:
    return [
        k8s.networking.v1.NetworkPolicy(
            f"{name}-{policy_name}",
            metadata={"name": policy_name, "namespace": namespace},
            spec=spec,
            opts=pulumi.ResourceOptions(parent=parent),
        )
        for policy_name, spec in runner_network_policies().items()
    ]


# Kubernetes' "restricted" Pod Security Standard for the runner container.
RESTRICTED_CONTAINER: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "privileged": False,
    "readOnlyRootFilesystem": False,  # the runner updates and writes under /home/runner
    "runAsNonRoot": True,
    "runAsUser": RUNNER_UID,
    "seccompProfile": {"type": "RuntimeDefault"},
}


DOCKER_SOCKET_DIR, WORK_DIR, EXTERNALS_DIR = (
    "/var/run",
    "/home/runner/_work",
    "/home/runner/externals",
)


def dind_pod_spec(runner: Mapping[str, Any], dind_image: str) -> dict[str, Any]:
    """What ``containerMode: dind`` makes of ``template.spec`` (chart 0.14.2,
    templates/_helpers.tpl and autoscalingrunnerset.yaml, on Kubernetes 1.29+), with our Docker
    image: the runner's externals copied for the daemon, dockerd as a native sidecar (an init
    container that keeps running, ready once ``docker info`` answers), the runner talking to it
    over the socket in a shared emptyDir."""
    mount = {
        "work": {"name": "work", "mountPath": WORK_DIR},
        "sock": {"name": "dind-sock", "mountPath": DOCKER_SOCKET_DIR},
    }
    return {
        "initContainers": [
            {
                "name": "init-dind-externals",
                "image": runner["image"],
                "command": ["cp"],
                "args": ["-r", f"{EXTERNALS_DIR}/.", "/home/runner/tmpDir/"],
                "volumeMounts": [{"name": "dind-externals", "mountPath": "/home/runner/tmpDir"}],
            },
            {
                "name": "dind",
                "image": dind_image,
                "args": [
                    "dockerd",
                    f"--host=unix://{DOCKER_SOCKET_DIR}/docker.sock",
                    "--group=$(DOCKER_GROUP_GID)",
                ],
                "env": [{"name": "DOCKER_GROUP_GID", "value": str(RUNNER_DOCKER_GID)}],
                "securityContext": {"privileged": True},
                "restartPolicy": "Always",
                "startupProbe": {
                    "exec": {"command": ["docker", "info"]},
                    "initialDelaySeconds": 0,
                    "failureThreshold": 24,
                    "periodSeconds": 5,
                },
                "volumeMounts": [
                    mount["work"],
                    mount["sock"],
                    {"name": "dind-externals", "mountPath": EXTERNALS_DIR},
                ],
            },
        ],
        "containers": [
            {
                **runner,
                "env": [
                    {"name": "DOCKER_HOST", "value": f"unix://{DOCKER_SOCKET_DIR}/docker.sock"},
                    {"name": "RUNNER_WAIT_FOR_DOCKER_IN_SECONDS", "value": "120"},
                ],
                "volumeMounts": [mount["work"], mount["sock"]],
            }
        ],
        "volumes": [
            {"name": "dind-sock", "emptyDir": {}},
            {"name": "dind-externals", "emptyDir": {}},
            {"name": "work", "emptyDir": {}},
        ],
    }


def scale_set_pod_spec(scale_set: RunnerScaleSet, service_account: str) -> dict[str, Any]:
    """``template.spec`` of a scale set: the pool it lands on, requests and the IRSA account;
    for a dind set, the chart's dind pod with a pinned Docker image (:func:`dind_pod_spec`)."""
    resources: dict[str, Any] = {
        "requests": {"cpu": scale_set.cpu, "memory": scale_set.memory},
        "limits": {"memory": scale_set.memory},
    }
    spec: dict[str, Any] = {"serviceAccountName": service_account}
    if scale_set.gpu:
        resources["limits"][GPU_RESOURCE] = str(scale_set.gpus)
        resources["requests"][GPU_RESOURCE] = str(scale_set.gpus)
        spec["nodeSelector"] = {POOL_LABEL: GPU_POOL}
        spec["tolerations"] = [toleration(GPU_TAINT)]
    elif scale_set.container_mode == "dind":
        # Privileged Docker-in-Docker: alone on the builds pool, which nothing else tolerates.
        spec["nodeSelector"] = {POOL_LABEL: BUILD_POOL}
        spec["tolerations"] = [toleration(BUILD_TAINT)]
    else:
        spec["nodeSelector"] = {POOL_LABEL: RUNNER_POOL}
    runner: dict[str, Any] = {
        "name": "runner",
        "image": scale_set.runner_image,
        "command": ["/home/runner/run.sh"],
        "resources": resources,
    }
    if scale_set.container_mode in KUBERNETES_MODES:
        # The runner only drives job pods through the API: it needs no privilege at all.
        runner["securityContext"] = RESTRICTED_CONTAINER
        spec["securityContext"] = {
            "fsGroup": RUNNER_DOCKER_GID,  # the work volume, as the chart documents
            "runAsNonRoot": True,
            "seccompProfile": {"type": "RuntimeDefault"},
        }
    if scale_set.container_mode == "dind":
        spec.update(dind_pod_spec(runner, scale_set.dind_image))
    else:
        spec["containers"] = [runner]
    return spec


def scale_set_values(
    scale_set: RunnerScaleSet,
    *,
    prefix: str,
    github_config_url: str,
    secret_name: str,
    service_account: str,
    controller_namespace: str,
    controller_service_account: str,
    runner_group: str,
) -> dict[str, Any]:
    """Values of one ``gha-runner-scale-set`` release (chart 0.14.2)."""
    values: dict[str, Any] = {
        "githubConfigUrl": github_config_url,
        "githubConfigSecret": secret_name,  # a pre-defined secret: no credential in the values
        "runnerScaleSetName": f"{prefix}-{scale_set.name}",
        "runnerGroup": runner_group,
        "minRunners": scale_set.min_runners,
        "maxRunners": scale_set.max_runners,
        # Explicit, so that the chart does not look the controller up at install time.
        "controllerServiceAccount": {
            "namespace": controller_namespace,
            "name": controller_service_account,
        },
        "template": {"spec": scale_set_pod_spec(scale_set, service_account)},
    }
    # dind is rendered in full by scale_set_pod_spec: the chart's own dind mode has no image knob.
    if scale_set.container_mode in KUBERNETES_MODES:
        mode: dict[str, Any] = {"type": scale_set.container_mode}
        if scale_set.container_mode == "kubernetes":
            mode["kubernetesModeWorkVolumeClaim"] = {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": scale_set.work_volume_storage_class,
                "resources": {"requests": {"storage": f"{scale_set.work_volume_gib}Gi"}},
            }
        values["containerMode"] = mode
    return values


# The rules the chart gives its own kube-mode service account (templates/kube_mode_role.yaml,
# 0.14.2); the chart skips them when ``template.spec.serviceAccountName`` is ours.
KUBE_MODE_RULES = [
    {"api_groups": [""], "resources": ["pods"], "verbs": ["get", "list", "create", "delete"]},
    {"api_groups": [""], "resources": ["pods/exec"], "verbs": ["get", "create"]},
    {"api_groups": [""], "resources": ["pods/log"], "verbs": ["get", "list", "watch"]},
    {"api_groups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list", "create", "delete"]},
    {"api_groups": [""], "resources": ["secrets"], "verbs": ["get", "list", "create", "delete"]},
]


@dataclass(frozen=True, kw_only=True)
class GithubRunnersArgs:
    """Arguments of :class:`GithubRunners`."""

    oidc_provider_arn: Annotated[
        pulumi.Input[str], Matches(OIDC_PROVIDER_ARN, "an IAM OIDC provider ARN")
    ]
    """ARN of the cluster's IAM OIDC provider (``Cluster.oidc_provider_arn``)."""
    oidc_issuer: pulumi.Input[str]
    """The cluster's OIDC issuer URL (``Cluster.oidc_issuer``)."""
    github_config_url: Annotated[
        str,
        Matches(
            GITHUB_CONFIG_URL,
            "https://github.com/<org>[/<repo>] or the same on a GitHub Enterprise Server host",
        ),
    ]
    """Where runners register: ``https://github.com/<org>``, ``https://github.com/<org>/<repo>``,
    ``https://github.com/enterprises/<enterprise>`` or the same on a GHES host."""
    github_app_id: Annotated[str, Matches(DIGITS, "a string of digits")]
    """GitHub App ID (digits, as a string)."""
    github_app_installation_id: Annotated[str, Matches(DIGITS, "a string of digits")]
    """Installation ID of the App in the organisation (digits, as a string)."""
    github_app_private_key: Annotated[pulumi.Input[str], Secret()]
    """The App's PEM private key, from secret config; stored only as a Pulumi secret."""
    scale_sets: Annotated[
        Sequence[RunnerScaleSet],
        Field(min_length=1),
        Allowed("expected a non-empty list of RunnerScaleSet"),
    ] = (
        RunnerScaleSet(name="cpu", max_runners=10),
        RunnerScaleSet(name="gpu", max_runners=2, gpu=True, gpus=1),
    )
    """The runner scale sets; names are unique."""
    name_prefix: Annotated[str, Matches(K8S_LABEL, "a DNS-1123 label")] = "mlops"
    """Prefix of every scale set name, so ``runs-on: mlops-cpu``."""
    runner_group: Annotated[str, Field(min_length=1), Allowed("expected a runner group name")] = (
        "default"
    )
    """GitHub runner group the scale sets join."""
    access: RunnerAccess = field(default_factory=RunnerAccess)
    """AWS permissions of the runners' IRSA role."""
    controller_namespace: Annotated[str, Matches(K8S_LABEL, "a Kubernetes namespace")] = (
        "arc-systems"
    )
    """Namespace of the controller."""
    runner_namespace: Annotated[str, Matches(K8S_LABEL, "a Kubernetes namespace")] = "arc-runners"
    """Namespace of the scale sets, their runners and the GitHub App secret."""
    service_account: Annotated[str, Matches(K8S_SUBDOMAIN, "a service account name")] = (
        "github-runner"
    )
    """Service account of the runner pods (bound to the IRSA role)."""
    kubernetes_api_access: bool = False
    """Mount the service account's Kubernetes API token in runner pods, e.g. so that jobs
    submit training pipelines (``python -m ops submit``); what the token may do is the RBAC
    bound to the account (none by default)."""
    controller_chart_version: Annotated[
        str, Matches(CHART_VERSION, "a chart version such as 0.14.2")
    ] = ARC_VERSION
    """Version of the ``gha-runner-scale-set-controller`` chart."""
    scale_set_chart_version: Annotated[
        str, Matches(CHART_VERSION, "a chart version such as 0.14.2")
    ] = ARC_VERSION
    """Version of the ``gha-runner-scale-set`` chart (keep equal to the controller's)."""
    iam_path: Annotated[str, IAM_PATH_NAME] = "/"
    """IAM path of the runner role."""
    permissions_boundary_arn: Annotated[pulumi.Input[str] | None, POLICY_ARN] = None
    """Permissions boundary of the runner role."""
    tags: Tags = field(default_factory=dict)
    """Tags of the AWS resources."""

    def __post_init__(self) -> None:
        check_declared(self)
        _check_secret_text(
            "github_app_private_key",
            self.github_app_private_key,
            "-----BEGIN",
            "a PEM private key (-----BEGIN ... PRIVATE KEY-----)",
        )
        seen: set[str] = set()
        for index, scale_set in enumerate(self.scale_sets):
            where = f"scale_sets[{index}]"
            scale_set.check(where, self.name_prefix)
            if scale_set.name in seen:
                raise ArgsError(f"{where}.name", scale_set.name, "scale set names must be unique")
            seen.add(scale_set.name)
        if self.controller_namespace == self.runner_namespace:
            raise ArgsError(
                "runner_namespace", self.runner_namespace, "must differ from controller_namespace"
            )


class GithubRunners(pulumi.ComponentResource):
    """actions-runner-controller: the controller once and one runner scale set per entry.

    Workflows select a scale set with ``runs-on: <name_prefix>-<name>`` (``mlops-cpu``,
    ``mlops-gpu``). Runners scale from ``min_runners`` (0 by default) and run as a service
    account bound to an IRSA role limited to ``access``. Pass the cluster's Kubernetes provider.

    Example::

        import pulumi
        import pulumi_kubernetes as k8s
        from mlops_platform.components import GithubRunners, GithubRunnersArgs, RunnerScaleSet

        cluster = k8s.Provider("k8s", kubeconfig="~/.kube/config")  # e.g. Cluster.provider
        key = pulumi.Config().get_secret("githubAppPrivateKey") or pulumi.Output.secret(
            "-----BEGIN RSA PRIVATE KEY----- ... -----END RSA PRIVATE KEY-----"
        )
        runners = GithubRunners(
            "github-runners",
            GithubRunnersArgs(
                oidc_provider_arn="arn:aws:iam::123456789012:oidc-provider/"
                "oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE",
                oidc_issuer="https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE",
                github_config_url="https://github.com/my-org",
                github_app_id="123456",
                github_app_installation_id="12345678",
                github_app_private_key=key,
                scale_sets=[RunnerScaleSet(name="cpu", max_runners=10, container_mode="dind")],
            ),
            pulumi.ResourceOptions(providers={"kubernetes": cluster}),
        )
        pulumi.export("runnerLabels", runners.runner_labels)
    """

    SECURE_DEFAULTS: ClassVar[tuple[SecureDefault, ...]] = (
        SecureDefault(
            "GitHub App key", "a Kubernetes Secret whose data is a Pulumi secret", "fixed"
        ),
        SecureDefault("Idle runners", "none (scale from zero)", "RunnerScaleSet.min_runners"),
        SecureDefault(
            "Privileges", "no Docker, nothing privileged", "RunnerScaleSet.container_mode (dind)"
        ),
        SecureDefault(
            "AWS access",
            "IRSA role: push/pull the given repositories, the DVC remote, read artifacts",
            "access (extra_statements: no IAM, no data reads or writes on ``*``)",
        ),
        SecureDefault(
            "Scheduling",
            "CPU sets on the runner pool, GPU sets on the GPU pool, privileged dind sets alone "
            "on the builds pool",
            "RunnerScaleSet.gpu, RunnerScaleSet.container_mode",
        ),
        SecureDefault(
            "Runner image",
            "pinned by tag and digest (actions-runner 2.336.0)",
            "RunnerScaleSet.runner_image",
        ),
        SecureDefault(
            "Docker-in-Docker image",
            "pinned by tag and digest (docker 29.8.0-dind), not the chart's `docker:dind`",
            "RunnerScaleSet.dind_image",
        ),
        SecureDefault(
            "Kubernetes-mode runners",
            "restricted security context: non-root, no privilege escalation, all capabilities "
            "dropped, RuntimeDefault seccomp",
            "fixed",
        ),
        SecureDefault(
            "Network",
            "default-deny NetworkPolicies; egress only to DNS and HTTPS/HTTP outside link-local "
            "(no instance metadata)",
            "fixed",
        ),
    )

    runner_labels: list[str]
    """The ``runs-on`` labels of the scale sets, in order."""
    role_arn: pulumi.Output[str]
    """ARN of the runners' IRSA role."""
    runner_namespace: pulumi.Output[str]
    """Namespace of the runners."""

    CONTROLLER_SERVICE_ACCOUNT = "arc-controller"

    def __init__(
        self, name: str, args: GithubRunnersArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(GITHUB_RUNNERS_TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        controller_ns = k8s.core.v1.Namespace(
            f"{name}-controller-namespace",
            metadata={"name": args.controller_namespace},
            opts=child,
        )
        self.controller = pinned_chart(
            f"{name}-controller",
            chart=ARC_CONTROLLER_CHART,
            version=args.controller_chart_version,
            namespace=controller_ns.metadata.name,
            values={
                "serviceAccount": {"create": True, "name": self.CONTROLLER_SERVICE_ACCOUNT},
                "nodeSelector": {POOL_LABEL: SYSTEM_POOL},
                "flags": {"logLevel": "info"},
            },
            opts=child,
        )

        runner_ns = k8s.core.v1.Namespace(
            f"{name}-namespace", metadata={"name": args.runner_namespace}, opts=child
        )
        # Default deny in the runners' namespace, egress only where jobs need it.
        network = _network_policies(name, self, runner_ns.metadata.name)
        policies = (
            {"runner-access": args.access.policy(aws_context(self).region)}
            if args.access.grants_anything
            else {}
        )
        self.role = _runner_role(
            f"{name}-role",
            self,
            args,
            namespace=args.runner_namespace,
            service_account=args.service_account,
            policies=policies,
        )
        needs_kube_mode = any(s.container_mode in KUBERNETES_MODES for s in args.scale_sets)
        account = _service_account(
            f"{name}-service-account",
            self,
            runner_ns.metadata.name,
            args.service_account,
            self.role.role_arn,
            api_access=needs_kube_mode or args.kubernetes_api_access,
        )
        secret = k8s.core.v1.Secret(
            f"{name}-github-app",
            metadata={"namespace": runner_ns.metadata.name},
            type="Opaque",
            string_data=pulumi.Output.secret(
                dict(
                    zip(
                        GITHUB_APP_KEYS,
                        (
                            args.github_app_id,
                            args.github_app_installation_id,
                            args.github_app_private_key,
                        ),
                        strict=True,
                    )
                )
            ),
            opts=child,
        )

        kube_mode: list[pulumi.Resource] = []
        if needs_kube_mode:
            kube_mode = list(
                bound_role(
                    f"{name}-kube-mode",
                    runner_ns.metadata.name,
                    KUBE_MODE_RULES,
                    [(args.runner_namespace, args.service_account)],
                    child,
                )
            )

        self.scale_sets: dict[str, k8s.helm.v3.Release] = {}
        for scale_set in args.scale_sets:
            values = pulumi.Output.all(
                secret=secret.metadata.name, account=account.metadata.name
            ).apply(
                lambda v, s=scale_set: scale_set_values(
                    s,
                    prefix=args.name_prefix,
                    github_config_url=args.github_config_url,
                    secret_name=v["secret"],
                    service_account=v["account"],
                    controller_namespace=args.controller_namespace,
                    controller_service_account=self.CONTROLLER_SERVICE_ACCOUNT,
                    runner_group=args.runner_group,
                )
            )
            self.scale_sets[scale_set.name] = pinned_chart(
                f"{name}-{scale_set.name}",
                chart=ARC_SCALE_SET_CHART,
                version=args.scale_set_chart_version,
                namespace=runner_ns.metadata.name,
                values=values,
                # The controller installs the CRDs a scale set is made of.
                opts=pulumi.ResourceOptions(
                    parent=self, depends_on=[self.controller, *kube_mode, *network]
                ),
            )

        self.runner_labels = [f"{args.name_prefix}-{s.name}" for s in args.scale_sets]
        self.role_arn = self.role.role_arn
        self.runner_namespace = runner_ns.metadata.name
        self.register_outputs(
            {
                "runnerLabels": self.runner_labels,
                "roleArn": self.role_arn,
                "runnerNamespace": self.runner_namespace,
            }
        )


# --- GitLab Runner -------------------------------------------------------------------------------

# Least-privilege rules for the Kubernetes executor (GitLab docs, "Configure runner API
# permissions"); the chart's default is every verb on every core resource.
GITLAB_RBAC_RULES = [
    {"resources": ["events"], "verbs": ["list", "watch"]},
    {"resources": ["pods"], "verbs": ["create", "delete", "get", "list", "watch"]},
    {
        "apiGroups": [""],
        "resources": ["pods/attach", "pods/exec"],
        "verbs": ["get", "create", "patch", "delete"],
    },
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get", "list"]},
    {"resources": ["secrets"], "verbs": ["create", "delete", "get", "update"]},
    {"resources": ["serviceaccounts"], "verbs": ["get"]},
    {"resources": ["services"], "verbs": ["create", "get"]},
    {"resources": ["configmaps"], "verbs": ["create", "delete", "get", "update"]},
]
CACHE_PREFIX = "runner"


def _toml(value: Any) -> str:
    """A TOML scalar or array of scalars (JSON strings, numbers, booleans and flat arrays of them
    are valid TOML)."""
    return json.dumps(value)


# Linux capabilities a job may get back (GitlabRunnerArgs.job_capabilities): the container
# runtime's default set (containerd, CRI) without NET_RAW, which the runner drops by default
# (executors/kubernetes/kubernetes.go@v18.9.0, defaultCapDrop). Nothing beyond what a container
# would have had anyway: no SYS_ADMIN, NET_ADMIN, SYS_PTRACE, ...
JobCapability = Literal[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
]
JOB_CAPABILITIES = get_args(JobCapability)
# The containers of a job pod, by their security-context table in config.toml
# (common/config.go@v18.9.0, KubernetesConfig): the job's script, the job's services, the helper
# (clone, artifacts, cache) and the init container that opens the log file to both.
JOB_CONTAINER_CONTEXTS = ("build", "service", "helper", "init_permissions")
MAX_ID = 2**31 - 1


def job_security_contexts(
    *,
    run_as_user: int | None = None,
    run_as_group: int | None = None,
    capabilities: Sequence[str] = (),
) -> dict[str, dict[str, Any]]:
    """The ``[runners.kubernetes.<container>_container_security_context]`` tables of a job pod
    (GitLab Runner 18.9 keys): nothing privileged, no privilege escalation, every capability
    dropped. ``capabilities`` come back to the build and service containers only (the job's own
    images); ``run_as_user``/``run_as_group`` apply to the build container only: the helper image
    and most service images expect root (see README, "GitLab job pods")."""
    contexts: dict[str, dict[str, Any]] = {}
    for container in JOB_CONTAINER_CONTEXTS:
        context: dict[str, Any] = {"privileged": False, "allow_privilege_escalation": False}
        if container == "build" and run_as_user is not None:
            context["run_as_non_root"] = True
            context["run_as_user"] = run_as_user
            if run_as_group is not None:
                context["run_as_group"] = run_as_group
        caps: dict[str, list[str]] = {"drop": ["ALL"]}
        if container in ("build", "service") and capabilities:
            caps["add"] = sorted(capabilities)
        context["capabilities"] = caps
        contexts[f"{container}_container_security_context"] = context
    return contexts


def _toml_tables(path: str, table: Mapping[str, Any], indent: str) -> list[str]:
    """``[path]`` with the scalar keys of ``table``, then its sub-tables (one level of maps)."""
    lines = [f"{indent}[{path}]"]
    lines += [
        f"{indent}  {key} = {_toml(v)}" for key, v in table.items() if not isinstance(v, dict)
    ]
    for key, v in table.items():
        if isinstance(v, dict):
            lines += _toml_tables(f"{path}.{key}", v, indent + "  ")
    return lines


def gitlab_runner_config(
    *,
    namespace: str,
    job_service_account: str,
    job_image: str,
    cpu: str,
    memory: str,
    cache_bucket: str,
    cache_region: str,
    kms_key_arn: str | None,
    run_as_user: int | None = None,
    run_as_group: int | None = None,
    capabilities: Sequence[str] = (),
) -> str:
    """``runners.config``: the Kubernetes executor on the runner pool, S3 cache through IRSA, job
    containers hardened by :func:`job_security_contexts`."""
    lines = [
        "[[runners]]",
        "  [runners.kubernetes]",
        f"    namespace = {_toml(namespace)}",
        f"    image = {_toml(job_image)}",
        f"    service_account = {_toml(job_service_account)}",
        "    privileged = false",
        # Fallbacks for any container without a context of its own (below).
        "    allow_privilege_escalation = false",
        f"    cap_drop = {_toml(['ALL'])}",
        f"    cpu_request = {_toml(cpu)}",
        f"    memory_request = {_toml(memory)}",
        f"    memory_limit = {_toml(memory)}",
        "    [runners.kubernetes.node_selector]",
        f"      {_toml(POOL_LABEL)} = {_toml(RUNNER_POOL)}",
    ]
    contexts = job_security_contexts(
        run_as_user=run_as_user, run_as_group=run_as_group, capabilities=capabilities
    )
    for name, context in contexts.items():
        lines += _toml_tables(f"runners.kubernetes.{name}", context, "    ")
    lines += [
        "  [runners.cache]",
        '    Type = "s3"',
        f"    Path = {_toml(CACHE_PREFIX)}",
        "    Shared = true",
        "    [runners.cache.s3]",
        f"      ServerAddress = {_toml(f's3.{cache_region}.amazonaws.com')}",
        f"      BucketName = {_toml(cache_bucket)}",
        f"      BucketLocation = {_toml(cache_region)}",
        '      AuthenticationType = "iam"',
    ]
    if kms_key_arn:
        lines += [
            '      ServerSideEncryption = "KMS"',
            f"      ServerSideEncryptionKeyID = {_toml(kms_key_arn)}",
        ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, kw_only=True)
class GitlabRunnerArgs:
    """Arguments of :class:`GitlabRunner`."""

    oidc_provider_arn: Annotated[
        pulumi.Input[str], Matches(OIDC_PROVIDER_ARN, "an IAM OIDC provider ARN")
    ]
    """ARN of the cluster's IAM OIDC provider (``Cluster.oidc_provider_arn``)."""
    oidc_issuer: pulumi.Input[str]
    """The cluster's OIDC issuer URL (``Cluster.oidc_issuer``)."""
    runner_token: Annotated[pulumi.Input[str], Secret()]
    """Runner authentication token (``glrt-...``) from secret config; stored only as a secret."""
    gitlab_url: Annotated[str, Matches(GITLAB_URL, "an https:// GitLab URL")] = (
        "https://gitlab.com/"
    )
    """The GitLab instance the runner serves."""
    concurrent: Annotated[int, between(1, 1000)] = 10
    """Most jobs the runner runs at once (1-1000)."""
    check_interval: Annotated[int, between(1, 300)] = 3
    """Seconds between polls for new jobs (1-300)."""
    job_image: Annotated[str, Matches(IMAGE, "a container image")] = GITLAB_JOB_IMAGE
    """Default image of jobs that name none, pinned by tag and digest."""
    job_cpu: Annotated[str, Matches(CPU_QUANTITY, "a CPU quantity such as 500m or 2")] = "1"
    """CPU request of each job's build container."""
    job_memory: Annotated[str, Matches(MEMORY_QUANTITY, "a quantity such as 4Gi")] = "4Gi"
    """Memory request and limit of each job's build container."""
    job_run_as_user: Annotated[int | None, between(1, MAX_ID)] = None
    """UID of the job's build container (its ``script``), which must then run as non-root (jobs
    can no longer choose a ``user:``); unset, the image's user runs it (root in the default
    alpine image). The helper and service containers keep their images' users."""
    job_run_as_group: Annotated[int | None, between(1, MAX_ID)] = None
    """GID of the job's build container; only with ``job_run_as_user``."""
    job_capabilities: Annotated[
        Sequence[JobCapability],
        Allowed("expected a list of " + ", ".join(JOB_CAPABILITIES)),
    ] = JOB_CAPABILITIES
    """Linux capabilities the build and service containers keep, every other one being dropped:
    only from the container runtime's default set, which is the default (without ``NET_RAW``),
    so that ``apt-get``, ``chown`` and service images that switch users (postgres, redis) work.
    ``[]`` drops them all (Pod Security "restricted"); ``[CHOWN, SETUID, SETGID]`` is enough for
    ``apt-get``."""
    access: RunnerAccess = field(default_factory=RunnerAccess)
    """AWS permissions of the jobs' IRSA role."""
    namespace: Annotated[str, Matches(K8S_LABEL, "a Kubernetes namespace")] = "gitlab-runner"
    """Namespace of the runner manager and of its job pods."""
    chart_version: Annotated[str, Matches(CHART_VERSION, "a chart version")] = GITLAB_RUNNER_VERSION
    """Version of the ``gitlab-runner`` chart."""
    cache_kms_key_arn: Annotated[pulumi.Input[str] | None, KMS_KEY] = None
    """Key of the cache bucket; defaults to ``access.kms_key_arn``, else a dedicated key."""
    iam_path: Annotated[str, IAM_PATH_NAME] = "/"
    """IAM path of the two roles."""
    permissions_boundary_arn: Annotated[pulumi.Input[str] | None, POLICY_ARN] = None
    """Permissions boundary of the two roles."""
    tags: Tags = field(default_factory=dict)
    """Tags of the AWS resources."""

    def __post_init__(self) -> None:
        check_declared(self)
        _check_secret_text(
            "runner_token", self.runner_token, "glrt-", "a runner authentication token (glrt-...)"
        )
        if self.job_run_as_group is not None and self.job_run_as_user is None:
            raise ArgsError("job_run_as_group", self.job_run_as_group, "only with job_run_as_user")
        if len(set(self.job_capabilities)) != len(self.job_capabilities):
            raise ArgsError("job_capabilities", list(self.job_capabilities), "name each once")


class GitlabRunner(pulumi.ComponentResource):
    """GitLab Runner (Kubernetes executor) with an S3 cache, manager and jobs on IRSA roles.

    Register a runner in GitLab (project or group settings, CI/CD, Runners) and keep its
    ``glrt-`` token as secret config. Pass the cluster's Kubernetes provider.

    Example::

        import pulumi
        import pulumi_kubernetes as k8s
        from mlops_platform.components import GitlabRunner, GitlabRunnerArgs

        cluster = k8s.Provider("k8s", kubeconfig="~/.kube/config")  # e.g. Cluster.provider
        token = pulumi.Config().get_secret("gitlabRunnerToken") or pulumi.Output.secret(
            "glrt-example-token"
        )
        runner = GitlabRunner(
            "gitlab-runner",
            GitlabRunnerArgs(
                oidc_provider_arn="arn:aws:iam::123456789012:oidc-provider/"
                "oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE",
                oidc_issuer="https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE",
                runner_token=token,
                concurrent=4,
            ),
            pulumi.ResourceOptions(providers={"kubernetes": cluster}),
        )
        pulumi.export("cacheBucket", runner.cache_bucket_name)
    """

    SECURE_DEFAULTS: ClassVar[tuple[SecureDefault, ...]] = (
        SecureDefault("Runner token", "a Kubernetes Secret whose data is a Pulumi secret", "fixed"),
        SecureDefault(
            "Job pods",
            "not privileged, no privilege escalation; helper and init containers: all "
            "capabilities dropped; build and service containers: the runtime's default set "
            "without NET_RAW; no Kubernetes API token",
            "job_capabilities (build and service containers; [] drops all)",
        ),
        SecureDefault("Job user", "the image's (jobs may set `user:`)", "job_run_as_user"),
        SecureDefault(
            "Runner manager",
            "non-root (uid 100), no privilege escalation, all capabilities dropped, "
            "RuntimeDefault seccomp",
            "fixed",
        ),
        SecureDefault(
            "Network",
            "default-deny NetworkPolicies; egress only to DNS and HTTPS/HTTP outside link-local",
            "fixed",
        ),
        SecureDefault("Default job image", "alpine 3.22 pinned by digest", "job_image"),
        SecureDefault(
            "Manager RBAC", "only what the Kubernetes executor needs in its namespace", "fixed"
        ),
        SecureDefault(
            "AWS access",
            "IRSA roles: cache for the manager; registry, DVC remote, artifacts for jobs",
            "access",
        ),
        SecureDefault(
            "Cache",
            "a private, encrypted, TLS-only bucket; old versions expire",
            "cache_kms_key_arn",
        ),
    )

    role_arn: pulumi.Output[str]
    """ARN of the jobs' IRSA role."""
    cache_bucket_name: pulumi.Output[str]
    """Name of the cache bucket."""

    MANAGER_SERVICE_ACCOUNT = "gitlab-runner"
    JOB_SERVICE_ACCOUNT = "gitlab-runner-jobs"

    def __init__(
        self, name: str, args: GitlabRunnerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(GITLAB_RUNNER_TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        ns = k8s.core.v1.Namespace(
            f"{name}-namespace", metadata={"name": args.namespace}, opts=child
        )
        network = _network_policies(name, self, ns.metadata.name)
        # The cache is disposable: no protection, emptied on destroy, old versions gone in a day.
        self.cache = DataBucket(
            f"{name}-cache",
            DataBucketArgs(
                kms_key_arn=args.cache_kms_key_arn or args.access.kms_key_arn,
                noncurrent_version_expiry_days=1,
                force_destroy=True,
                protect=False,
                tags=dict(args.tags),
            ),
            child,
        )
        # The provider's region (from getRegion, not the bucket's computed ``region``).
        region = aws_context(self).region
        # The manager signs the cache URLs the job pods upload to and download from.
        manager_role = _runner_role(
            f"{name}-manager-role",
            self,
            args,
            namespace=args.namespace,
            service_account=self.MANAGER_SERVICE_ACCOUNT,
            policies={
                "cache": policy_document(
                    dvc_access_policy,
                    bucket_arn=self.cache.arn,
                    prefix=CACHE_PREFIX,
                    kms_key_arn=self.cache.kms_key_arn,
                    region=region,
                    write=True,
                )
            },
        )
        self.role = _runner_role(
            f"{name}-job-role",
            self,
            args,
            namespace=args.namespace,
            service_account=self.JOB_SERVICE_ACCOUNT,
            policies={"runner-access": args.access.policy(region)}
            if args.access.grants_anything
            else {},
        )
        manager_account = _service_account(
            f"{name}-manager-account",
            self,
            ns.metadata.name,
            self.MANAGER_SERVICE_ACCOUNT,
            manager_role.role_arn,
            api_access=True,  # the manager creates the job pods
        )
        job_account = _service_account(
            f"{name}-job-account",
            self,
            ns.metadata.name,
            self.JOB_SERVICE_ACCOUNT,
            self.role.role_arn,
            api_access=False,
        )
        token = k8s.core.v1.Secret(
            f"{name}-token",
            metadata={"namespace": ns.metadata.name},
            type="Opaque",
            string_data=pulumi.Output.secret(
                dict(zip(GITLAB_TOKEN_KEYS, (args.runner_token, ""), strict=True))
            ),
            opts=child,
        )
        config = pulumi.Output.all(
            bucket=self.cache.bucket_name,
            region=region,
            key=self.cache.kms_key_arn,
            jobs=job_account.metadata.name,
        ).apply(
            lambda v: gitlab_runner_config(
                namespace=args.namespace,
                job_service_account=v["jobs"],
                job_image=args.job_image,
                cpu=args.job_cpu,
                memory=args.job_memory,
                cache_bucket=v["bucket"],
                cache_region=v["region"],
                kms_key_arn=v["key"],
                run_as_user=args.job_run_as_user,
                run_as_group=args.job_run_as_group,
                capabilities=args.job_capabilities,
            )
        )
        self.release = pinned_chart(
            f"{name}-runner",
            chart=GITLAB_RUNNER_CHART,
            version=args.chart_version,
            repository=GITLAB_CHARTS,
            namespace=ns.metadata.name,
            values={
                "gitlabUrl": args.gitlab_url,
                "concurrent": args.concurrent,
                "checkInterval": args.check_interval,
                "unregisterRunners": True,
                "rbac": {"create": True, "rules": GITLAB_RBAC_RULES},
                "serviceAccount": {"create": False, "name": manager_account.metadata.name},
                "nodeSelector": {POOL_LABEL: SYSTEM_POOL},
                # Merged into the chart's podSecurityContext (runAsUser 100, fsGroup 65533); its
                # container securityContext is already restricted (values.yaml, 0.86.0).
                "podSecurityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                "runners": {"secret": token.metadata.name, "config": config},
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=network),
        )

        self.role_arn = self.role.role_arn
        self.cache_bucket_name = self.cache.bucket_name
        self.register_outputs({"roleArn": self.role_arn, "cacheBucketName": self.cache_bucket_name})
