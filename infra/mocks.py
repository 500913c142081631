"""A recording mock engine: runs a Pulumi program with no cloud and no CLI.

:class:`RecordingMocks` fabricates what AWS would compute (ids, ARNs with the configured
region and account, autonamed physical names with a stable pseudo-random suffix, ECR URLs)
and refuses any invoke it does not know, so nothing passes because a call silently returned
nothing. :class:`RecordingMonitor` records every registration request as the engine sees it:
parent, provider, dependencies, protect, retainOnDelete, inputs with secrets masked, and the
state the mocks returned. A duplicate URN, which the stock mock monitor accepts silently, is an
error here.

The offline plan (``infra.plan``) and the test suite (``tests/conftest.py``) share this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime import settings as pulumi_settings

from mlops_platform.components._aws import partition_of
from mlops_platform.components.network import zones_offered

SECRET = "[secret]"
UNKNOWN = "[unknown]"


class UnmockedInvokeError(Exception):
    """The program called a provider function the mocks cannot answer."""


class DuplicateUrnError(Exception):
    """Two resources were registered with the same URN (a name collision)."""


class UnmockedStackReferenceError(Exception):
    """The program referenced a stack whose outputs the test did not provide."""


@dataclass
class Registration:
    """One resource registration, in the shape of the plan's JSON contract."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    provider: str
    dependencies: list[str]
    protect: bool
    retain_on_delete: bool
    replace_with: list[str] = field(default_factory=list)
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    id: str = ""
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    """Per input property, the URNs its value came from (the engine's ``propertyDependencies``);
    the Terraform-plan export turns them into ``references``. Not part of the JSON contract."""
    # Resource options the plan diff needs (infra.diff); in the JSON only when set.
    aliases: list[str] = field(default_factory=list)
    ignore_changes: list[str] = field(default_factory=list)
    replace_on_changes: list[str] = field(default_factory=list)
    delete_before_replace: bool = False

    def options_json(self) -> dict[str, Any]:
        options = {
            "aliases": self.aliases,
            "ignoreChanges": self.ignore_changes,
            "replaceOnChanges": self.replace_on_changes,
            "deleteBeforeReplace": self.delete_before_replace,
        }
        return {key: value for key, value in options.items() if value}

    def to_json(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "custom": self.custom,
            "id": self.id or None,
            "parent": self.parent or None,
            "provider": self.provider or None,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "dependencies": self.dependencies,
            "protect": self.protect,
            "retainOnDelete": self.retain_on_delete,
            "replaceWith": self.replace_with,
            **self.options_json(),
        }


def plain(value: Any) -> Any:
    """A JSON-ready copy of an engine value: secrets masked, unknowns marked."""
    if rpc.is_rpc_secret(value):
        return SECRET
    if isinstance(value, dict):
        return {k: plain(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if value == rpc.UNKNOWN:
        return UNKNOWN
    if isinstance(value, float) and value.is_integer():
        return int(value)  # protobuf carries every number as a double
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, pulumi.Resource):
        return f"[resource {type(value).__name__}]"
    if isinstance(value, pulumi.FileAsset | pulumi.FileArchive):
        return f"[{type(value).__name__} {value.path}]"
    return str(value)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


# --- what AWS computes, by resource type -------------------------------------------------------

Fabricator = Callable[["RecordingMocks", pulumi_mocks.MockResourceArgs, dict, str], str]


def _physical_name(args: pulumi_mocks.MockResourceArgs, state: dict, suffix: str, prop: str) -> str:
    """Pulumi autonaming: an explicit name, a name prefix, or ``<logical name>-<7 hex>``."""
    if state.get(prop):
        return state[prop]
    prefix = state.get(f"{prop}Prefix") or state.get("namePrefix")
    state[prop] = f"{prefix}{suffix}" if prefix else f"{args.name}-{suffix}"
    return state[prop]


def _bucket(m: RecordingMocks, args, state: dict, suffix: str) -> str:
    bucket = _physical_name(args, state, suffix, "bucket")
    state.update(
        arn=f"arn:{m.partition}:s3:::{bucket}",
        bucketDomainName=f"{bucket}.s3.amazonaws.com",
        bucketRegionalDomainName=f"{bucket}.s3.{m.region}.amazonaws.com",
        hostedZoneId="Z1BKCTXD74EZPE",
    )
    return bucket


def _bucket_child(m: RecordingMocks, args, state: dict, suffix: str) -> str:
    return state.get("bucket") or f"{args.name}-{suffix}"


def _kms_key(m: RecordingMocks, args, state: dict, suffix: str) -> str:
    h = _digest(m.stack, args.typ, args.name)
    key_id = f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"
    state.update(keyId=key_id, arn=f"arn:{m.partition}:kms:{m.region}:{m.account_id}:key/{key_id}")
    return key_id


def _kms_alias(m: RecordingMocks, args, state: dict, suffix: str) -> str:
    name = _physical_name(args, state, suffix, "name")
    key = state.get("targetKeyId", "")
    state.update(
        arn=f"arn:{m.partition}:kms:{m.region}:{m.account_id}:{name}",
        targetKeyArn=f"arn:{m.partition}:kms:{m.region}:{m.account_id}:key/{key}",
    )
    return name


def _ecr_repository(m: RecordingMocks, args, state: dict, suffix: str) -> str:
    name = _physical_name(args, state, suffix, "name")
    registry = f"{m.account_id}.dkr.ecr.{m.region}.amazonaws.com"
    state.update(
        arn=f"arn:{m.partition}:ecr:{m.region}:{m.account_id}:repository/{name}",
        registryId=m.account_id,
        repositoryUrl=f"{registry}/{name}",
    )
    return name


def _ecr_repository_child(m: RecordingMocks, args, state: dict, suffix: str) -> str:
    state["registryId"] = m.account_id
    return state.get("repository") or f"{args.name}-{suffix}"


def _iam(kind: str, id_from: str) -> Fabricator:
    def fabricate(m: RecordingMocks, args, state: dict, suffix: str) -> str:
        name = _physical_name(args, state, suffix, "name")
        path = state.setdefault("path", "/")
        arn = f"arn:{m.partition}:iam::{m.account_id}:{kind}{path}{name}"
        state.update(arn=arn, uniqueId=f"AID{_digest(arn)[:17].upper()}")
        if kind == "policy":
            state["policyId"] = f"ANPA{_digest(arn)[:17].upper()}"
        return arn if id_from == "arn" else name

    return fabricate


def _named(service: str, resource: str, prop: str = "name", id_from: str = "name") -> Fabricator:
    """A resource whose ARN is ``arn:<partition>:<service>:<region>:<account>:<resource>``."""

    def fabricate(m: RecordingMocks, args, state: dict, suffix: str) -> str:
        name = _physical_name(args, state, suffix, prop)
        arn = f"arn:{m.partition}:{service}:{m.region}:{m.account_id}:{resource.format(name=name)}"
        state["arn"] = arn
        return arn if id_from == "arn" else name

    return fabricate


def _mlflow(m: RecordingMocks, args, state: dict, suffix: str) -> str:
    name = _named("sagemaker", "mlflow-tracking-server/{name}", "trackingServerName")(
        m, args, state, suffix
    )
    state["trackingServerUrl"] = f"https://t-{suffix}.{m.region}.experiments.sagemaker.aws"
    return name


def _topic_subscription(m: RecordingMocks, args, state: dict, suffix: str) -> str:
    state["arn"] = f"{state.get('topic', 'topic')}:{_digest(suffix)[:8]}-{suffix}"
    return state["arn"]


def _role_policy(m: RecordingMocks, args, state: dict, suffix: str) -> str:
    name = _physical_name(args, state, suffix, "name")
    return f"{state.get('role', '')}:{name}"


def _scaling_target(m: RecordingMocks, args, state: dict, suffix: str) -> str:
    state.setdefault(
        "arn",
        f"arn:{m.partition}:application-autoscaling:{m.region}:{m.account_id}:scalable-target/{suffix}",
    )
    return state.get("resourceId", suffix)


def _docker_image(m: RecordingMocks, args, state: dict, suffix: str) -> str:
    image = state.get("imageName", f"{args.name}:latest")
    repository = image.rsplit(":", 1)[0]
    state.update(
        baseImageName=image,
        repoDigest=f"{repository}@sha256:{_digest(m.stack, image)}",
    )
    return state["repoDigest"]


def _oidc_arn(m: RecordingMocks, url: str) -> str:
    host = url.removeprefix("https://")
    return f"arn:{m.partition}:iam::{m.account_id}:oidc-provider/{host}"


def _oidc_provider(m: RecordingMocks, args, state: dict, suffix: str) -> str:
    state["arn"] = _oidc_arn(m, state["url"])
    return state["arn"]


def _attachment(m: RecordingMocks, args, state: dict, suffix: str) -> str:
    return f"{state.get('role', args.name)}-{suffix}"


def _ec2(prefix: str, resource: str) -> Fabricator:
    """An EC2 resource: ``<prefix>-<17 hex>`` ids and ``arn:...:ec2:...:<resource>/<id>``."""

    def fabricate(m: RecordingMocks, args, state: dict, suffix: str) -> str:
        resource_id = f"{prefix}-{_digest(m.stack, args.typ, args.name)[:17]}"
        state.update(
            arn=f"arn:{m.partition}:ec2:{m.region}:{m.account_id}:{resource}/{resource_id}",
            ownerId=m.account_id,
        )
        if prefix == "eipalloc":
            state.update(allocationId=resource_id, publicIp="203.0.113.10")
        if prefix == "lt":
            state.update(latestVersion=1, defaultVersion=1)
        if prefix == "sg":
            state.setdefault("name", "default")
        return resource_id

    return fabricate


def _log_group(m: RecordingMocks, args, state: dict, suffix: str) -> str:
    name = _physical_name(args, state, suffix, "name")
    state["arn"] = f"arn:{m.partition}:logs:{m.region}:{m.account_id}:log-group:{name}"
    return name


def _eks_cluster(m: RecordingMocks, args, state: dict, suffix: str) -> str:
    name = _physical_name(args, state, suffix, "name")
    oidc_id = _digest(m.stack, name)[:32].upper()
    state.update(
        arn=f"arn:{m.partition}:eks:{m.region}:{m.account_id}:cluster/{name}",
        endpoint=f"https://{oidc_id}.gr7.{m.region}.eks.amazonaws.com",
        certificateAuthority={"data": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCm9mZmxpbmUK"},
        identities=[
            {"oidcs": [{"issuer": f"https://oidc.eks.{m.region}.amazonaws.com/id/{oidc_id}"}]}
        ],
        clusterId=_digest(name)[:36],
        platformVersion="eks.1",
        status="ACTIVE",
        vpcConfig={
            **state.get("vpcConfig", {}),
            "clusterSecurityGroupId": f"sg-{_digest(name, 'cluster')[:17]}",
            "vpcId": f"vpc-{_digest(name)[:17]}",
        },
    )
    return name


def _eks_child(resource: str, prop: str) -> Fabricator:
    """A resource of a cluster (node group, add-on, access entry) with an ``<cluster>:<x>`` id."""

    def fabricate(m: RecordingMocks, args, state: dict, suffix: str) -> str:
        cluster = state.get("clusterName", "cluster")
        own = state.get(prop) or f"{args.name}-{suffix}"
        if prop == "nodeGroupName" and not state.get(prop):
            own = f"{state.get('nodeGroupNamePrefix', args.name + '-')}{suffix}"
        state[prop] = own
        state["arn"] = f"arn:{m.partition}:eks:{m.region}:{m.account_id}:{resource}/{cluster}/{own}"
        return f"{cluster}:{own}"

    return fabricate


def _stack_reference(m: RecordingMocks, args, state: dict, suffix: str) -> str:
    """``pulumi.StackReference``: the outputs a test set with ``add_stack_reference``."""
    stack = state.get("name") or args.name
    if stack not in m.stack_references:
        raise UnmockedStackReferenceError(
            f"no outputs for stack reference {stack!r}; call mocks.add_stack_reference() first"
        )
    outputs, secret_names = m.stack_references[stack]
    state.update(outputs=dict(outputs), secretOutputNames=sorted(secret_names))
    return stack


def _generic(m: RecordingMocks, args, state: dict, suffix: str) -> str:
    """Any other AWS resource: an id and, unless given, an ARN of the service's usual shape."""
    resource_id = f"{args.name}-{suffix}"
    if args.typ.startswith("aws:"):
        service = args.typ.split(":")[1].split("/")[0]
        state.setdefault(
            "arn", f"arn:{m.partition}:{service}:{m.region}:{m.account_id}:{resource_id}"
        )
    return resource_id


FABRICATORS: dict[str, Fabricator] = {
    "aws:s3/bucket:Bucket": _bucket,
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": _bucket_child,
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": _bucket_child,
    "aws:s3/bucketVersioning:BucketVersioning": _bucket_child,
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        _bucket_child
    ),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": _bucket_child,
    "aws:s3/bucketPolicy:BucketPolicy": _bucket_child,
    "aws:kms/key:Key": _kms_key,
    "aws:kms/alias:Alias": _kms_alias,
    "aws:ecr/repository:Repository": _ecr_repository,
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": _ecr_repository_child,
    "aws:ecr/repositoryPolicy:RepositoryPolicy": _ecr_repository_child,
    "aws:iam/policy:Policy": _iam("policy", "arn"),
    "aws:iam/role:Role": _iam("role", "name"),
    "aws:iam/rolePolicy:RolePolicy": _role_policy,
    "aws:sagemaker/model:Model": _named("sagemaker", "model/{name}"),
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration": _named(
        "sagemaker", "endpoint-config/{name}"
    ),
    "aws:sagemaker/endpoint:Endpoint": _named("sagemaker", "endpoint/{name}"),
    "aws:sagemaker/modelPackageGroup:ModelPackageGroup": _named(
        "sagemaker", "model-package-group/{name}", "modelPackageGroupName"
    ),
    "aws:sagemaker/mlflowTrackingServer:MlflowTrackingServer": _mlflow,
    "aws:cloudwatch/metricAlarm:MetricAlarm": _named("cloudwatch", "alarm:{name}"),
    "aws:sns/topic:Topic": _named("sns", "{name}", id_from="arn"),
    "aws:sns/topicSubscription:TopicSubscription": _topic_subscription,
    "aws:appautoscaling/target:Target": _scaling_target,
    "aws:appautoscaling/policy:Policy": _named(
        "autoscaling", "scalingPolicy:{name}", id_from="name"
    ),
    "docker:index/image:Image": _docker_image,
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": _oidc_provider,
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": _attachment,
    "aws:ec2/vpc:Vpc": _ec2("vpc", "vpc"),
    "aws:ec2/subnet:Subnet": _ec2("subnet", "subnet"),
    "aws:ec2/internetGateway:InternetGateway": _ec2("igw", "internet-gateway"),
    "aws:ec2/routeTable:RouteTable": _ec2("rtb", "route-table"),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": _ec2("rtbassoc", "route-table"),
    "aws:ec2/eip:Eip": _ec2("eipalloc", "elastic-ip"),
    "aws:ec2/natGateway:NatGateway": _ec2("nat", "natgateway"),
    "aws:ec2/vpcEndpoint:VpcEndpoint": _ec2("vpce", "vpc-endpoint"),
    "aws:ec2/flowLog:FlowLog": _ec2("fl", "vpc-flow-log"),
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": _ec2("sg", "security-group"),
    "aws:ec2/launchTemplate:LaunchTemplate": _ec2("lt", "launch-template"),
    "aws:cloudwatch/logGroup:LogGroup": _log_group,
    "aws:eks/cluster:Cluster": _eks_cluster,
    "aws:eks/nodeGroup:NodeGroup": _eks_child("nodegroup", "nodeGroupName"),
    "aws:eks/addon:Addon": _eks_child("addon", "addonName"),
    "aws:eks/accessEntry:AccessEntry": _eks_child("access-entry", "principalArn"),
    "aws:eks/accessPolicyAssociation:AccessPolicyAssociation": _eks_child(
        "access-policy", "policyArn"
    ),
    "pulumi:pulumi:StackReference": _stack_reference,
}


# --- Kubernetes (runners): what the API server and Helm compute -------------------------------


def _k8s_object(m: RecordingMocks, args, state: dict, suffix: str) -> str:
    """A namespaced or cluster object: autonamed ``<logical name>-<suffix>`` unless named; the
    id is ``namespace/name`` (or ``name``), as pulumi-kubernetes reports it."""
    metadata = dict(state.get("metadata") or {})
    metadata.setdefault("name", f"{args.name}-{suffix}")
    metadata["uid"] = str(_digest(m.stack, args.typ, args.name)[:32])
    state["metadata"] = metadata
    namespace = metadata.get("namespace")
    return f"{namespace}/{metadata['name']}" if namespace else metadata["name"]


def _helm_release(m: RecordingMocks, args, state: dict, suffix: str) -> str:
    name = _physical_name(args, state, suffix, "name")
    namespace = state.setdefault("namespace", "default")
    state["status"] = {
        "name": name,
        "namespace": namespace,
        "chart": state.get("chart", "").rsplit("/", 1)[-1],
        "version": state.get("version", ""),
        "revision": 1,
        "status": "deployed",
    }
    return f"{namespace}/{name}"


KUBERNETES_FABRICATORS: dict[str, Fabricator] = {
    "kubernetes:core/v1:Namespace": _k8s_object,
    "kubernetes:core/v1:Secret": _k8s_object,
    "kubernetes:core/v1:ServiceAccount": _k8s_object,
    "kubernetes:rbac.authorization.k8s.io/v1:Role": _k8s_object,
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": _k8s_object,
    "kubernetes:networking.k8s.io/v1:NetworkPolicy": _k8s_object,
    "kubernetes:helm.sh/v3:Release": _helm_release,
    # training pipelines: Argo's kinds (CustomResources) and the submitters' admission policy
    "kubernetes:argoproj.io/v1alpha1:WorkflowTemplate": _k8s_object,
    "kubernetes:argoproj.io/v1alpha1:CronWorkflow": _k8s_object,
    "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy": _k8s_object,
    "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding": _k8s_object,
}
FABRICATORS.update(KUBERNETES_FABRICATORS)


class RecordingMocks(pulumi.runtime.Mocks):
    """Fabricates provider results; every registration is recorded by :class:`RecordingMonitor`."""

    def __init__(
        self, *, stack: str = "test", region: str = "us-east-1", account_id: str = "123456789012"
    ) -> None:
        self.stack = stack
        self.region = region
        self.account_id = account_id
        self.partition = partition_of(region)
        self.registrations: list[Registration] = []
        self.invokes: list[tuple[str, dict[str, Any]]] = []
        self.log: list[tuple[str, str]] = []
        self.constructed: list[pulumi.Resource] = []
        self.stack_references: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {}
        # (type, logical name) -> the logical name an aliased resource was known by
        self.known_as: dict[tuple[str, str], str] = {}

    # -- the Mocks interface

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict]:
        state = dict(args.inputs)
        if not args.custom and not args.resource_id:  # a component (reads carry an id)
            return None, {}
        if args.typ.startswith("pulumi:providers:"):
            return f"{args.name}-provider-id", state
        # An aliased resource is the one it was known as: its autonamed physical name is the one
        # in its state, made from the old logical name (so a renamed child keeps its name).
        name = self.known_as.get((args.typ, args.name), args.name)
        if name != args.name:
            args = pulumi_mocks.MockResourceArgs(
                typ=args.typ,
                name=name,
                inputs=args.inputs,
                provider=args.provider,
                resource_id=args.resource_id,
                custom=args.custom,
            )
        suffix = _digest(self.stack, args.typ, args.name)[:7]
        if args.typ.startswith("aws:"):
            state.setdefault("region", self.region)
        resource_id = FABRICATORS.get(args.typ, _generic)(self, args, state, suffix)
        return resource_id, state

    def call(self, args: pulumi_mocks.MockCallArgs) -> dict:
        self.invokes.append((args.token, dict(args.args)))
        answer = INVOKES.get(args.token)
        if answer is None:
            raise UnmockedInvokeError(
                f"no mock for invoke {args.token!r} (args {args.args!r}); add one to infra/mocks.py"
            )
        return answer(self, args.args)

    def add_stack_reference(
        self, stack: str, outputs: dict[str, Any], *, secret: tuple[str, ...] = ()
    ) -> None:
        """What ``pulumi.StackReference(stack)`` reads: ``outputs``, the ``secret`` ones as
        secrets. A reference to any other stack fails."""
        self.stack_references[stack] = (dict(outputs), tuple(secret))

    def _record_construction(self, args: pulumi.ResourceTransformationArgs) -> None:
        """A stack transformation: runs synchronously as each resource is constructed."""
        self.constructed.append(args.resource)

    async def in_construction_order(self) -> None:
        """Sorts the registrations into the order the program constructed the resources.

        The SDK sends registrations to the monitor from a thread pool, so their arrival order
        varies between runs; construction order does not.
        """
        position = {}
        for index, resource in enumerate(self.constructed):
            position[await resource.urn.future()] = index
        self.registrations.sort(key=lambda reg: position.get(reg.urn, -1))

    def latest_approved_package(self, group: str, **_: object) -> str:
        """Stands in for the boto3 look-up of the newest approved model package (no AWS here)."""
        self.invokes.append(("ops.models.latest_approved_package", {"group": group}))
        base = f"arn:{self.partition}:sagemaker:{self.region}:{self.account_id}"
        return f"{base}:model-package/{group}/1"

    # -- queries for tests and reports

    def find(self, type_: str, name: str) -> Registration:
        """The registration of ``type_`` named ``name``; fails loudly if absent."""
        for reg in self.registrations:
            if reg.type == type_ and reg.name == name:
                return reg
        known = sorted(r.name for r in self.registrations if r.type == type_)
        raise LookupError(f"no {type_} named {name!r}; registered: {known}")

    def of_type(self, type_: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == type_]

    def children(self, parent_urn: str) -> list[Registration]:
        return [r for r in self.registrations if r.parent == parent_urn]

    def warnings(self) -> list[str]:
        return [message for level, message in self.log if level in ("WARNING", "ERROR")]


INVOKES: dict[str, Callable[[RecordingMocks, dict], dict]] = {
    "aws:index/getCallerIdentity:getCallerIdentity": lambda m, a: {
        "accountId": m.account_id,
        "arn": f"arn:{m.partition}:sts::{m.account_id}:assumed-role/offline-plan/mlops",
        "userId": "AROAOFFLINEPLAN:mlops",
        "id": m.account_id,
    },
    "aws:index/getPartition:getPartition": lambda m, a: {
        "partition": m.partition,
        "dnsSuffix": "amazonaws.com.cn" if m.partition == "aws-cn" else "amazonaws.com",
        "reverseDnsPrefix": "cn.com.amazonaws" if m.partition == "aws-cn" else "com.amazonaws",
        "id": m.partition,
    },
    "aws:ecr/getAuthorizationToken:getAuthorizationToken": lambda m, a: {
        "authorizationToken": "QVdTOm9mZmxpbmUtcGxhbi10b2tlbg==",
        "userName": "AWS",
        "password": "offline-plan-token",
        "proxyEndpoint": f"https://{m.account_id}.dkr.ecr.{m.region}.amazonaws.com",
        "expiresAt": "2030-01-01T00:00:00Z",
        "registryId": a.get("registryId", m.account_id),
        "id": m.region,
    },
    "aws:iam/getOpenIdConnectProvider:getOpenIdConnectProvider": lambda m, a: {
        "arn": _oidc_arn(m, a["url"]),
        "url": a["url"].removeprefix("https://"),
        "clientIdLists": ["sts.amazonaws.com"],
        "thumbprintLists": [],
        "tags": {},
        "id": _oidc_arn(m, a["url"]),
    },
    "aws:index/getAvailabilityZones:getAvailabilityZones": lambda m, a: {
        "names": [f"{m.region}{c}" for c in "abcdef"[: zones_offered(m.region)]],
        "zoneIds": [
            f"{m.region[:3]}{m.region.split('-')[-1]}-az{i + 1}"
            for i in range(zones_offered(m.region))
        ],
        "groupNames": [m.region],
        "id": m.region,
    },
    "aws:index/getRegion:getRegion": lambda m, a: {
        "region": m.region,
        "name": m.region,
        "endpoint": f"ec2.{m.region}.amazonaws.com",
        "description": m.region,
        "id": m.region,
    },
}


_MONITORS: list[RecordingMonitor] = []


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The stock mock monitor, plus a record of each request and a duplicate-URN check."""

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.recorder = mocks
        self._by_urn: dict[str, Registration] = {}
        _MONITORS.append(self)
        # The stock monitor opens an event loop in each SDK worker thread it runs on.
        self.thread_loops: set[asyncio.AbstractEventLoop] = set()

    def _remember_thread_loop(self) -> None:
        if threading.current_thread() is threading.main_thread():
            return
        # A thread may have none: the root stack's registration opens none.
        with contextlib.suppress(RuntimeError):
            self.thread_loops.add(asyncio.get_event_loop())

    def Invoke(self, request):
        response = super().Invoke(request)
        self._remember_thread_loop()
        return response

    def ReadResource(self, request):
        """A read (``pulumi.StackReference``, ``Resource.get``): answered, not recorded as a
        registration."""
        response = super().ReadResource(request)
        self._remember_thread_loop()
        return response

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        """URNs as the Pulumi engine makes them: the qualified type chains every ancestor's
        type except the root stack's (the stock mock keeps only the parent's, stack included)."""
        if parent:
            parent_type = parent.split("::")[2]
            if parent_type != "pulumi:pulumi:Stack":
                type_ = f"{parent_type}${type_}"
        return f"urn:pulumi:{pulumi.get_stack()}::{pulumi.get_project()}::{type_}::{name}"

    def _alias_urns(self, request) -> list[str]:
        """Full URNs of the resource's aliases (URNs as given, specs resolved as the engine
        does: name, type, parent and stack/project default to the resource's own)."""
        urns = list(request.aliasURNs)
        for alias in request.aliases:
            if alias.WhichOneof("alias") == "urn":
                urns.append(alias.urn)
                continue
            spec = alias.spec
            # An empty parentUrn means "the resource's own parent" (how the SDK sends an
            # Alias without parent); noParent means it had none.
            parent = "" if spec.noParent else spec.parentUrn or request.parent
            urn = self.make_urn(parent, spec.type or request.type, spec.name or request.name)
            stack, project = spec.stack or pulumi.get_stack(), spec.project or pulumi.get_project()
            head, rest = urn.split("::", 2)[0], urn.split("::", 2)[2]
            urns.append(f"{head.rsplit(':', 1)[0]}:{stack}::{project}::{rest}")
        return sorted(set(urns) | set(self._inherited_aliases(request, urns)))

    def _inherited_aliases(self, request, own: list[str]) -> list[str]:
        """What the engine adds from the parent's aliases (with alias specs the SDK leaves it to
        the engine): for each alias of the parent, the child under that old parent, its name's
        parent prefix replaced by the old parent's name (``demo-serving-model`` under an alias
        ``endpoint`` -> ``endpoint-model``); and so for each of the child's own aliases."""
        parent = self._by_urn.get(request.parent)
        if parent is None or not parent.aliases:
            return []
        inherited = []
        for parent_alias in parent.aliases:
            old_parent_name = parent_alias.rsplit("::", 1)[1]
            for name, type_ in [(request.name, request.type)] + [
                (urn.rsplit("::", 1)[1], urn.split("::")[2].split("$")[-1]) for urn in own
            ]:
                old_name = name
                if name.startswith(parent.name):
                    old_name = old_parent_name + name[len(parent.name) :]
                inherited.append(self.make_urn(parent_alias, type_, old_name))
        return inherited

    def RegisterResource(self, request):
        urn = self.make_urn(request.parent, request.type, request.name)
        if urn in self._by_urn:
            raise DuplicateUrnError(f"duplicate URN {urn}: two resources share a type and name")
        raw = (
            rpc.deserialize_properties(request.object)
            if request.type != "pulumi:pulumi:Stack"
            else {}
        )
        reg = Registration(
            urn=urn,
            type=request.type,
            name=request.name,
            custom=bool(request.custom),
            parent=request.parent,
            provider=request.provider,
            dependencies=sorted(set(request.dependencies)),
            protect=request.protect if request.HasField("protect") else False,
            retain_on_delete=(
                request.retainOnDelete if request.HasField("retainOnDelete") else False
            ),
            replace_with=sorted(request.replace_with),
            inputs=plain(raw),
            aliases=self._alias_urns(request),
            ignore_changes=list(request.ignoreChanges),
            replace_on_changes=list(request.replaceOnChanges),
            delete_before_replace=bool(request.deleteBeforeReplace),
            property_dependencies={
                key: sorted(set(deps.urns))
                for key, deps in request.propertyDependencies.items()
                if deps.urns
            },
        )
        self._by_urn[urn] = reg
        self.recorder.registrations.append(reg)
        for alias in reg.aliases:
            if alias.split("::")[2].split("$")[-1] == request.type:
                self.recorder.known_as[(request.type, request.name)] = alias.rsplit("::", 1)[1]
                break
        response = super().RegisterResource(request)
        self._remember_thread_loop()
        if urn in self.resources:
            reg.id = self.resources[urn].id or ""
            reg.outputs = plain(self.resources[urn].state)
        return response

    def RegisterResourceOutputs(self, request):
        reg = self._by_urn.get(request.urn)
        if reg is not None and not reg.custom:
            reg.outputs = plain(rpc.deserialize_properties(request.outputs))
        return super().RegisterResourceOutputs(request)


class _LogRecorder(logging.Handler):
    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(logging.DEBUG)
        self.mocks = mocks

    def emit(self, record: logging.LogRecord) -> None:
        self.mocks.log.append((record.levelname, record.getMessage()))


@contextlib.contextmanager
def private_event_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """Runs a whole program on an event loop of its own and releases everything it opened.

    Afterwards the SDK's executor threads are stopped and the event loops the mock monitor
    opened in them are closed, so that none is garbage-collected noisily at interpreter exit,
    and the next program (another plan, a test) starts on a fresh loop.
    """
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        yield loop
    finally:
        loop.run_until_complete(loop.shutdown_default_executor())
        while _MONITORS:
            for thread_loop in _MONITORS.pop().thread_loops:
                if not thread_loop.is_closed():
                    thread_loop.close()
        loop.close()
        asyncio.set_event_loop(None)


def install(
    *,
    project: str,
    stack: str,
    region: str = "us-east-1",
    account_id: str = "123456789012",
    config: dict[str, str] | None = None,
    secret_keys: list[str] | None = None,
) -> RecordingMocks:
    """Installs fresh recording mocks and config; call before any resource is constructed."""
    try:  # the SDK schedules the root stack's registration on the current loop
        asyncio.get_event_loop()
    except RuntimeError:  # none since a previous program's private loop was closed
        asyncio.set_event_loop(asyncio.new_event_loop())
    mocks = RecordingMocks(stack=stack, region=region, account_id=account_id)
    logger = logging.getLogger(f"mlops.mocks.{id(mocks)}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(_LogRecorder(mocks))
    # A fresh root stack resource, so that it registers with this monitor too.
    pulumi_settings.set_root_resource(None)  # type: ignore[arg-type]
    pulumi.runtime.set_mocks(
        mocks,
        project=project,
        stack=stack,
        preview=False,
        logger=logger,
        monitor=RecordingMonitor(mocks),
    )
    pulumi.runtime.set_all_config(dict(config or {}), list(secret_keys or []))
    pulumi.runtime.register_stack_transformation(mocks._record_construction)
    return mocks


# --- GitHub and GitLab (governance/): what their APIs compute ----------------------------------


def _number(*parts: str) -> int:
    """A stable positive id of the size GitHub and GitLab hand out."""
    return int(_digest(*parts)[:8], 16) % 90_000_000 + 10_000_000


def _repository_id(m: RecordingMocks, state: dict) -> int:
    return _number(m.stack, "repository", str(state.get("repository", state.get("project", ""))))


def _github(kind: str) -> Fabricator:
    """A pulumi-github resource: the provider's id format and computed fields per type."""

    def fabricate(m: RecordingMocks, args, state: dict, suffix: str) -> str:
        repo = str(state.get("repository", ""))
        number = _number(m.stack, args.typ, args.name)
        state["repositoryId"] = _repository_id(m, state)
        stamp = "2030-01-01T00:00:00Z"
        if kind == "ruleset":
            state.update(
                rulesetId=number,
                nodeId=f"RRS_lACk{_digest(args.name)[:12]}",
                etag=f'W/"{_digest(args.name, "etag")[:32]}"',
            )
            return str(number)
        if kind == "environment":
            return f"{repo}:{state.get('environment', '')}"
        if kind == "deployment-policy":
            state["policyId"] = number
            return f"{repo}:{state.get('environment', '')}:{number}"
        if kind == "variable":
            state.update(createdAt=stamp, updatedAt=stamp)
            env = state.get("environment")
            return ":".join(p for p in (repo, env, state.get("variableName", "")) if p)
        if kind == "file":
            state.update(
                sha=_digest(str(state.get("content", "")))[:40],
                commitSha=_digest(args.name, "commit")[:40],
                ref=state.get("branch") or "main",
            )
            return f"{repo}/{state.get('file', '')}"
        return repo  # repository-wide settings

    return fabricate


def _gitlab(kind: str) -> Fabricator:
    def fabricate(m: RecordingMocks, args, state: dict, suffix: str) -> str:
        project = str(state.get("project", ""))
        number = _number(m.stack, args.typ, args.name)
        if kind == "branch":
            state["branchProtectionId"] = number
            return f"{project}:{state.get('branch', '')}"
        if kind == "tag":
            return f"{project}:{state.get('tag', '')}"
        if kind == "approval-rule":
            return f"{project}:{number}"
        if kind == "environment":
            return f"{project}:{state.get('environment', '')}"
        if kind == "variable":
            state.setdefault("environmentScope", "*")
            return f"{project}:{state.get('key', '')}:{state['environmentScope']}"
        return project

    return fabricate


GIT_FABRICATORS: dict[str, Fabricator] = {
    "github:index/repositoryRuleset:RepositoryRuleset": _github("ruleset"),
    "github:index/repositoryEnvironment:RepositoryEnvironment": _github("environment"),
    "github:index/repositoryEnvironmentDeploymentPolicy:RepositoryEnvironmentDeploymentPolicy": (
        _github("deployment-policy")
    ),
    "github:index/actionsVariable:ActionsVariable": _github("variable"),
    "github:index/actionsEnvironmentVariable:ActionsEnvironmentVariable": _github("variable"),
    "github:index/actionsRepositoryPermissions:ActionsRepositoryPermissions": _github("settings"),
    "github:index/workflowRepositoryPermissions:WorkflowRepositoryPermissions": _github("settings"),
    "github:index/repositoryFile:RepositoryFile": _github("file"),
    "gitlab:index/branchProtection:BranchProtection": _gitlab("branch"),
    "gitlab:index/tagProtection:TagProtection": _gitlab("tag"),
    "gitlab:index/projectApprovalRule:ProjectApprovalRule": _gitlab("approval-rule"),
    "gitlab:index/projectLevelMrApprovals:ProjectLevelMrApprovals": _gitlab("settings"),
    "gitlab:index/projectProtectedEnvironment:ProjectProtectedEnvironment": _gitlab("environment"),
    "gitlab:index/projectVariable:ProjectVariable": _gitlab("variable"),
}
FABRICATORS.update(GIT_FABRICATORS)


def _github_team(m: RecordingMocks, a: dict) -> dict:
    slug = a["slug"]
    return {
        "id": str(_number("team", slug)),
        "nodeId": f"T_kwDO{_digest('team', slug)[:10]}",
        "slug": slug,
        "name": slug,
        "description": "",
        "privacy": "closed",
        "permission": "pull",
        "members": [],
        "repositories": [],
        "repositoriesDetaileds": [],
        "summaryOnly": a.get("summaryOnly", False),
    }


def _github_user(m: RecordingMocks, a: dict) -> dict:
    login = a["username"]
    return {
        "id": str(_number("user", login)),
        "nodeId": f"U_kgDO{_digest('user', login)[:10]}",
        "login": login,
        "username": login,
        "name": login,
        "email": "",
        "gpgKeys": [],
        "sshKeys": [],
        "siteAdmin": False,
    }


def _gitlab_group(m: RecordingMocks, a: dict) -> dict:
    path = a["fullPath"]
    number = _number("group", path)
    return {
        "id": str(number),
        "groupId": number,
        "fullPath": path,
        "path": path.rsplit("/", 1)[-1],
        "name": path.rsplit("/", 1)[-1],
        "fullName": path.replace("/", " / "),
        "webUrl": f"https://gitlab.com/groups/{path}",
        "visibilityLevel": "private",
    }


INVOKES.update(
    {
        "github:index/getTeam:getTeam": _github_team,
        "github:index/getUser:getUser": _github_user,
        "gitlab:index/getGroup:getGroup": _gitlab_group,
    }
)
