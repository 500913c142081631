"""Typed, validated stack settings: the only module that reads Pulumi configuration.

Every key of the project namespace is declared here; an unknown key is an error so that a typo
never falls back to a default silently. Value ranges and enums are checked once, by the
components' ``Args`` dataclasses; an :class:`~components.ArgsError` is translated into a
:class:`ConfigError` naming the config key (``mlops-platform:registry.keepTaggedImages``), the
bad value and what is allowed, in one line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import pulumi
from mlops_platform.components import (
    ArgsError,
    ContainerRegistryArgs,
    DataBucketArgs,
    DvcRemoteArgs,
    EncryptionKeyArgs,
)
from mlops_platform.components._aws import partition_of
from mlops_platform.components._validate import ACCOUNT_ID, check_tags
from mlops_platform.components.ci import BUCKET_NAME, CiIdentityArgs
from mlops_platform.components.compute import BUILD_POOL, ClusterArgs, NodePool
from mlops_platform.components.network import NetworkArgs
from mlops_platform.components.registry import ModelRegistryArgs
from mlops_platform.components.runners import (
    PINNED_IMAGE,
    GithubRunnersArgs,
    GitlabRunnerArgs,
    RunnerAccess,
    RunnerScaleSet,
)
from mlops_platform.components.serving import AlarmSubscription, ModelEndpointArgs, ServingImageArgs
from mlops_platform.components.storage import AccessLogBucketArgs
from mlops_platform.policy.context import WaiverError, parse_waivers
from mlops_platform.policy.rules import rule_ids
from pulumi.runtime import config as runtime_config

ENVIRONMENTS = ("dev", "staging", "prod")
REQUIRED_TAGS = ("env", "project", "owner")


class ConfigError(pulumi.RunError):
    """Invalid stack configuration. ``pulumi up`` prints a RunError as one line, no traceback."""

    def __init__(self, key: str, value: Any, allowed: str) -> None:
        self.key = key
        self.value = value
        self.allowed = allowed
        shown = "nothing (the key is missing)" if value is _MISSING else _show(value)
        super().__init__(f"invalid config {key}: got {shown}; {allowed}")


_MISSING = object()


class SecretValue:
    """Stands for a secret config value in error messages."""

    def __repr__(self) -> str:
        return "[secret]"


def _show(value: Any) -> str:
    """A value as it would be written in the stack's YAML/JSON config (true, null, "text")."""
    if isinstance(value, SecretValue):
        return repr(value)
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


# --- the declared keys ---------------------------------------------------------------------------

# A value kind checks the JSON type of one config value and returns it as Python.
Kind = Callable[[str, Any], Any]


def _int(key: str, value: Any) -> int:
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(key, value, "expected an integer")
    return value


def _optional_int(key: str, value: Any) -> int | None:
    return None if value is None else _int(key, value)


def _bool(key: str, value: Any) -> bool:
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if not isinstance(value, bool):
        raise ConfigError(key, value, "expected true or false")
    return value


def _str(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(key, value, "expected a non-empty string")
    return value


def _str_list(key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(key, value, "expected a list of strings")
    return tuple(value)


def _str_map(key: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ConfigError(key, value, "expected a map of names to strings")
    return dict(value)


def _block_value(key: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(key, value, "expected a map of settings")
    return value


def _statements(key: str, value: Any) -> tuple[dict[str, Any], ...]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigError(key, value, "expected a list of IAM statements (maps)")
    return tuple(value)


def _number(key: str, value: Any) -> float:
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(key, value, "expected a number")
    return float(value)


def _subscriptions(key: str, value: Any) -> tuple[AlarmSubscription, ...]:
    if not isinstance(value, list):
        raise ConfigError(key, value, "expected a list of {protocol, endpoint}")
    subscriptions = []
    for index, item in enumerate(value):
        if not isinstance(item, dict) or set(item) != {"protocol", "endpoint"}:
            raise ConfigError(f"{key}[{index}]", item, "expected {protocol: ..., endpoint: ...}")
        try:
            subscriptions.append(AlarmSubscription(**item))
        except ArgsError as error:
            raise ConfigError(f"{key}[{index}].{error.field}", error.value, error.allowed) from None
    return tuple(subscriptions)


def _waivers(key: str, value: Any) -> dict[str, str]:
    """``{rule-id: written reason}``: the rules (policy/rules.py) this stack waives."""
    block = key.rsplit(".", 1)[0]
    try:
        return parse_waivers({"waivers": value}, rule_ids())
    except WaiverError as error:
        raise ConfigError(f"{block}.{error.key}", error.value, error.allowed) from None


@dataclass(frozen=True)
class Key:
    """One key of a config block: the Args field it sets and its JSON kind."""

    field: str
    kind: Kind
    doc: str


ENCRYPTION = {
    "alias": Key("alias", _str, "alias of the platform key, e.g. alias/mlops-prod"),
    "deletionWindowInDays": Key("deletion_window_in_days", _int, "7-30 days"),
    "rotationPeriodInDays": Key("rotation_period_in_days", _int, "90-2560 days"),
    "administratorArns": Key("administrator_arns", _str_list, "IAM roles that manage the key"),
    "servicePrincipals": Key("service_principals", _str_list, "AWS services that use the key"),
}
REGISTRY = {
    "repositories": Key("repositories", _str_list, "ECR repository names"),
    "namespace": Key("namespace", _str, "name prefix; default <project>/<stack>"),
    "imageTagMutability": Key("image_tag_mutability", _str, "IMMUTABLE or MUTABLE"),
    "scanOnPush": Key("scan_on_push", _bool, "scan images on push"),
    "keepTaggedImages": Key("keep_tagged_images", _int, "tagged images kept (1-10000)"),
    "untaggedExpiryDays": Key("untagged_expiry_days", _int, "untagged image expiry (1-3650)"),
    "pullPrincipalArns": Key("pull_principal_arns", _str_list, "IAM principals allowed to pull"),
    "forceDelete": Key("force_delete", _bool, "delete repositories with images on destroy"),
}
DVC = {
    "dvcPrefix": Key("prefix", _str, "key prefix of the DVC remote"),
    "dvcRemoteName": Key("remote_name", _str, "remote name in .dvc/config"),
}
BUCKETS = {
    "noncurrentVersionExpiryDays": Key(
        "noncurrent_version_expiry_days", _optional_int, "1-3650 days, or null to keep forever"
    ),
    "abortIncompleteMultipartUploadDays": Key(
        "abort_incomplete_multipart_upload_days", _int, "1-365 days"
    ),
    "forceDestroy": Key("force_destroy", _bool, "delete non-empty buckets on destroy"),
}
MODEL_REGISTRY = {
    "models": Key("models", _str_list, "one model package group per model"),
    "mlflow": Key("enable_mlflow", _bool, "create a managed MLflow tracking server"),
    "mlflowVersion": Key("mlflow_version", _str, "MLflow version, e.g. 3.0"),
    "mlflowSize": Key("mlflow_size", _str, "Small, Medium or Large"),
    "automaticModelRegistration": Key(
        "automatic_model_registration", _bool, "MLflow registers models by itself"
    ),
    "maintenanceWindow": Key("weekly_maintenance_window_start", _str, "e.g. TUE:03:30"),
}
# Keys of the serving block that choose what is released; the rest configure the endpoint.
RELEASE = {
    "model": Key("model", _str, "the model to serve (a modelRegistry model)"),
    "modelSource": Key("model_source", _str, "data, latest-approved or pinned"),
    "imageTag": Key("image_tag", _str, "serving image tag (the release version)"),
    "imageUri": Key("image_uri", _str, "an image CI pushed, by tag or digest"),
    "buildImage": Key("build_image", _bool, "build and push serving/ on pulumi up"),
}
ENDPOINT = {
    "endpointName": Key("endpoint_name", _str, "default <project>-<stack>-<model>"),
    "modelDataKey": Key("model_data_key", _str, "default models/<model>/model.tar.gz"),
    "modelPackageArn": Key("model_package_arn", _str, "with modelSource: pinned"),
    "mode": Key("mode", _str, "provisioned or serverless"),
    "instanceType": Key("instance_type", _str, "ml.* instance type"),
    "instanceCount": Key("instance_count", _int, "1-100"),
    "minInstances": Key("min_instances", _int, "autoscaling floor"),
    "maxInstances": Key("max_instances", _int, "autoscaling ceiling"),
    "targetInvocationsPerInstance": Key("target_invocations_per_instance", _int, "per minute"),
    "serverlessMemoryMb": Key("serverless_memory_mb", _int, "1024-6144 in steps of 1024"),
    "serverlessMaxConcurrency": Key("serverless_max_concurrency", _int, "1-200"),
    "dataCapturePercent": Key("data_capture_percent", _int, "1-100 (provisioned only)"),
    "trafficRouting": Key("traffic_routing", _str, "CANARY, LINEAR or ALL_AT_ONCE"),
    "canaryPercent": Key("canary_percent", _int, "1-50"),
    "linearStepPercent": Key("linear_step_percent", _int, "10-50"),
    "bakeSeconds": Key("bake_seconds", _int, "0-3600"),
    "terminationWaitSeconds": Key("termination_wait_seconds", _int, "0-3600"),
    "maxExecutionSeconds": Key("max_execution_seconds", _int, "600-14400"),
    "errorRatePercent": Key("error_rate_percent", _number, "5XX rollback threshold (%)"),
    "p99LatencyMs": Key("p99_latency_ms", _number, "p99 ModelLatency rollback threshold"),
    "clientErrorRatePercent": Key("client_error_rate_percent", _number, "4XX threshold (%)"),
    "alarmSubscriptions": Key("alarm_subscriptions", _subscriptions, "[{protocol, endpoint}]"),
    "networkIsolation": Key("enable_network_isolation", _bool, "default: where supported"),
}
CI = {
    "githubRepository": Key("github_repository", _str, "owner/repo allowed to assume the roles"),
    "stateKeyArn": Key("state_key_arn", _str, "KMS key of the awskms:// secrets provider"),
    "defaultBranch": Key("default_branch", _str, "branch whose pushes may preview"),
    "createGithubProvider": Key("create_github_provider", _bool, "or look it up"),
    "gitlabProject": Key("gitlab_project", _str, "group/project for GitLab roles"),
    "gitlabHost": Key("gitlab_host", _str, "GitLab instance host"),
    "createGitlabProvider": Key("create_gitlab_provider", _bool, "or look it up"),
    "maxSessionHours": Key("max_session_hours", _int, "1-12"),
}
NETWORK = {
    "cidrBlock": Key("cidr_block", _str, "VPC CIDR, /16 to /20"),
    "availabilityZones": Key("availability_zones", _int, "2-6, at most what the region offers"),
    "natGateways": Key("nat_gateways", _str, "single or per-az"),
    "publicSubnetCidrs": Key("public_subnet_cidrs", _str_list, "one CIDR per zone"),
    "privateSubnetCidrs": Key("private_subnet_cidrs", _str_list, "one CIDR per zone"),
    "flowLogRetentionDays": Key("flow_log_retention_days", _int, "a CloudWatch retention"),
    "flowLogTrafficType": Key("flow_log_traffic_type", _str, "ALL, ACCEPT or REJECT"),
}
CLUSTER = {
    "kubernetesVersion": Key("kubernetes_version", _str, "pinned minor version, e.g. 1.35"),
    "publicEndpoint": Key("enable_public_endpoint", _bool, "dev only; with publicAccessCidrs"),
    "publicAccessCidrs": Key("public_access_cidrs", _str_list, "who may reach it"),
    "adminPrincipalArns": Key("admin_principal_arns", _str_list, "cluster-admin IAM principals"),
    "logTypes": Key("log_types", _str_list, "control-plane logs"),
    "logRetentionDays": Key("log_retention_days", _int, "a CloudWatch retention"),
    "addonVersions": Key("addon_versions", _str_map, "EKS add-on versions by name"),
    "nvidiaDevicePluginVersion": Key("nvidia_device_plugin_version", _str, "chart version"),
    "clusterAutoscalerVersion": Key("cluster_autoscaler_version", _str, "chart version"),
    "nodePools": Key("node_pools", lambda key, value: value, "node groups by name"),
}
NODE_POOL = {
    "pool": Key("pool", _str, "system, runners, gpu or builds (default: the pool's name)"),
    "instanceTypes": Key("instance_types", _str_list, "EC2 instance types"),
    "capacityType": Key("capacity_type", _str, "ON_DEMAND or SPOT"),
    "minSize": Key("min_size", _int, "0-1000"),
    "maxSize": Key("max_size", _int, "1-1000"),
    "desiredSize": Key("desired_size", _int, "initial size"),
    "diskSizeGb": Key("disk_size_gb", _int, "20-16384"),
    "maxUnavailablePercent": Key("max_unavailable_percent", _int, "1-100"),
    "imdsHopLimit": Key("imds_hop_limit", _int, "1 (pods cannot reach node credentials) or 2"),
    "labels": Key("labels", _str_map, "extra node labels"),
}
GITHUB_RUNNERS = {
    "configUrl": Key("github_config_url", _str, "https://github.com/<org>[/<repo>]"),
    "appId": Key("github_app_id", _str, "GitHub App ID (digits, quoted)"),
    "installationId": Key("github_app_installation_id", _str, "App installation ID"),
    "namePrefix": Key("name_prefix", _str, "runs-on label prefix"),
    "runnerGroup": Key("runner_group", _str, "GitHub runner group"),
    "controllerChartVersion": Key("controller_chart_version", _str, "ARC chart version"),
    "scaleSetChartVersion": Key("scale_set_chart_version", _str, "ARC chart version"),
    "scaleSets": Key("scale_sets", lambda key, value: value, "scale sets by name"),
}
SCALE_SET = {
    "maxRunners": Key("max_runners", _int, "1-1000"),
    "minRunners": Key("min_runners", _int, "0 to maxRunners"),
    "gpu": Key("gpu", _bool, "land on the GPU pool"),
    "gpus": Key("gpus", _int, "GPUs per runner (GPU sets)"),
    "containerMode": Key("container_mode", _str, "dind, kubernetes or kubernetes-novolume"),
    "workVolumeStorageClass": Key("work_volume_storage_class", _str, "kubernetes mode"),
    "workVolumeGib": Key("work_volume_gib", _int, "1-1000"),
    "cpu": Key("cpu", _str, "CPU request, e.g. 2"),
    "memory": Key("memory", _str, "memory, e.g. 8Gi"),
    "runnerImage": Key("runner_image", _str, "runner image"),
}
GITLAB_RUNNER = {
    "url": Key("gitlab_url", _str, "https:// GitLab URL"),
    "concurrent": Key("concurrent", _int, "1-1000 jobs at once"),
    "checkInterval": Key("check_interval", _int, "1-300 seconds"),
    "jobImage": Key("job_image", _str, "default job image"),
    "jobCpu": Key("job_cpu", _str, "CPU request per job"),
    "jobMemory": Key("job_memory", _str, "memory per job"),
    "chartVersion": Key("chart_version", _str, "gitlab-runner chart version"),
}
RUNNERS = {
    "github": Key("github", _block_value, "GitHub runner scale sets"),
    "gitlab": Key("gitlab", _block_value, "GitLab Runner"),
    "extraStatements": Key("extra_statements", _statements, "extra IAM statements for jobs"),
}
# Secret settings: set with `pulumi config set --secret <key>`; never accepted in plain text.
SECRETS = {
    "githubAppPrivateKey": "the GitHub App's private key (PEM), for runners.github",
    "gitlabRunnerToken": "the GitLab runner authentication token (glrt-...), for runners.gitlab",
}
ACCESS_LOGS = {
    "expiryDays": Key("expiry_days", _int, "1-3650 days an access log object is kept"),
}
POLICY = {
    "waivers": Key("waivers", _waivers, "{<rule-id>: <written reason>} of rules this stack waives"),
}
# Named by the bucket, not its ARN: the bootstrap stack outputs the name.
CI_STATE_BUCKET = "stateBucket"
MODEL_SOURCES = ("data", "latest-approved", "pinned")
ECR_IMAGE_URI = re.compile(
    r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?/[a-z0-9._/-]+"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[a-f0-9]{64})$"
)
# The endpoint's wiring comes from other components; settings validate the rest against these.
WIRED_BY_STACK = "wired-by-the-stack"
PLACEHOLDER_KEY_ARN = "arn:aws:kms:us-east-1:000000000000:key/wired-by-the-stack"
BLOCKS: dict[str, dict[str, Key]] = {
    "encryption": ENCRYPTION,
    "registry": REGISTRY,
    "data": {**DVC, **BUCKETS},
    "modelRegistry": MODEL_REGISTRY,
    "serving": {**RELEASE, **ENDPOINT},
    "ci": {**CI, CI_STATE_BUCKET: Key("state_bucket", _str, "Pulumi state bucket name")},
    "network": NETWORK,
    "cluster": CLUSTER,
    "runners": RUNNERS,
    "accessLogs": ACCESS_LOGS,
    "policy": POLICY,
}
PROJECT_KEYS = ("environment", "protectStatefulResources", *BLOCKS, *SECRETS)
AWS_KEYS = ("region", "allowedAccountIds", "defaultTags", "profile")


@dataclass(frozen=True)
class ServingSettings:
    """What to release and how; the endpoint's wiring fields hold placeholders."""

    model: str
    model_source: str
    package_group: str | None
    image_tag: str | None
    image_uri: str | None
    build_image: bool
    endpoint: ModelEndpointArgs


@dataclass(frozen=True)
class RunnerSettings:
    """CI runners on the cluster; the wiring (OIDC, access ARNs) holds placeholders."""

    github: GithubRunnersArgs | None
    gitlab: GitlabRunnerArgs | None
    extra_statements: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class Settings:
    """Everything the stack program needs, validated."""

    project: str
    stack: str
    environment: str
    region: str
    allowed_account_ids: tuple[str, ...]
    default_tags: Mapping[str, str]
    profile: str | None
    protect: bool
    encryption: EncryptionKeyArgs
    registry: ContainerRegistryArgs
    dvc: DvcRemoteArgs
    artifacts: DataBucketArgs
    model_registry: ModelRegistryArgs | None = None
    serving: ServingSettings | None = None
    ci: CiIdentityArgs | None = None
    network: NetworkArgs | None = None
    cluster: ClusterArgs | None = None
    runners: RunnerSettings | None = None
    access_logs: AccessLogBucketArgs | None = None


# --- reading -------------------------------------------------------------------------------------


def all_config() -> dict[str, Any]:
    """The raw config map the engine handed the program (``namespace:key`` -> string)."""
    merged = dict(runtime_config.get_config_env())
    merged.update(runtime_config.CONFIG.get())
    return merged


@cache
def aws_regions() -> frozenset[str]:
    """Every region botocore knows, in every partition (offline, from its endpoint data)."""
    import botocore.session

    session = botocore.session.get_session()
    return frozenset(
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("ec2", partition_name=partition)
    )


def _parse_json(key: str, raw: Any, what: str) -> Any:
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        raise ConfigError(key, raw, f"expected {what}") from None


def _block(key: str, raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    value = _parse_json(key, raw, "a map of settings")
    if not isinstance(value, dict):
        raise ConfigError(key, value, "expected a map of settings")
    return value


def _fields(key: str, spec: Mapping[str, Key], block: Mapping[str, Any]) -> dict[str, Any]:
    """Checks a block's keys and JSON types, returning Args keyword arguments."""
    unknown = sorted(set(block) - set(spec))
    if unknown:
        raise ConfigError(
            f"{key}.{unknown[0]}", block[unknown[0]], f"unknown key; allowed: {', '.join(spec)}"
        )
    return {
        k.field: k.kind(f"{key}.{name}", block[name]) for name, k in spec.items() if name in block
    }


def _args(factory: Callable[..., Any], key: str, names: Mapping[str, str], **kwargs: Any) -> Any:
    """Builds an Args object, translating ArgsError field names into config keys."""
    try:
        return factory(**kwargs)
    except ArgsError as error:
        head, *tail = re.split(r"(?=[.\[])", error.field, maxsplit=1)
        config_key = names.get(head, head) + "".join(tail)
        # Cross-field rules name the other field as ``field=value``; say it in config terms.
        allowed = re.sub(
            r"\b(" + "|".join(map(re.escape, names)) + r")(?=(?:\[\d+\])?=)",
            lambda m: names[m.group(1)],
            error.allowed,
        )
        raise ConfigError(f"{key}.{config_key}", error.value, allowed) from None


def _names(spec: Mapping[str, Key], project: str) -> dict[str, str]:
    names = {k.field: name for name, k in spec.items()}
    names["protect"] = f"{project}:protectStatefulResources"
    return names


def _check_keys(config: Mapping[str, Any], project: str) -> None:
    """Unknown keys are errors, and so are secret values: no setting here is secret, so one
    would end up in plain text in the state. A secret is never echoed."""
    for full_key in sorted(config):
        namespace, _, name = full_key.partition(":")
        if namespace not in (project, "aws"):
            continue
        secret = runtime_config.is_config_secret(full_key)
        shown = SecretValue() if secret else config[full_key]
        allowed_keys = PROJECT_KEYS if namespace == project else AWS_KEYS
        if name not in allowed_keys:
            listing = ", ".join(f"{namespace}:{k}" for k in allowed_keys)
            raise ConfigError(full_key, shown, f"unknown key; allowed: {listing}")
        if namespace == project and name in SECRETS:
            if not secret:  # never echo what should have been a secret
                raise ConfigError(
                    full_key,
                    SecretValue(),
                    f"{SECRETS[name]}: set it with `pulumi config set --secret {name}`",
                )
        elif secret:
            raise ConfigError(
                full_key, shown, "not a secret setting: set it without --secret (or 'secure:')"
            )


DISABLE_DEFAULT_PROVIDERS = "pulumi:disable-default-providers"


def _default_providers(raw: Any) -> None:
    """Where the stack file sets it, default providers are off for every package: each resource
    uses the provider the stack creates (its region, accounts and default tags)."""
    if raw is _MISSING:
        return
    value = _parse_json(DISABLE_DEFAULT_PROVIDERS, raw, 'a list such as ["*"]')
    if not isinstance(value, list) or "*" not in value:
        raise ConfigError(
            DISABLE_DEFAULT_PROVIDERS,
            value,
            'expected ["*"]: every resource uses the provider the stack creates',
        )


def _account_ids(raw: Any) -> tuple[str, ...]:
    key = "aws:allowedAccountIds"
    if raw is _MISSING:
        raise ConfigError(key, raw, "expected the account ids this stack may deploy to")
    accounts = _parse_json(key, raw, "a list of account ids")
    if (
        not isinstance(accounts, list)
        or not accounts
        or not all(isinstance(a, str) and ACCOUNT_ID.match(a) for a in accounts)
    ):
        raise ConfigError(key, accounts, "expected a list of 12-digit account ids as strings")
    return tuple(accounts)


def _default_tags(raw: Any, environment: str, environment_key: str) -> dict[str, str]:
    key = "aws:defaultTags"
    shape = "expected {tags: {env: ..., project: ..., owner: ...}}"
    if raw is _MISSING:
        raise ConfigError(key, raw, shape)
    document = _block(key, raw)
    if set(document) != {"tags"} or not isinstance(document["tags"], dict):
        raise ConfigError(key, document, shape)
    tags = document["tags"]
    try:
        check_tags("tags", tags)
    except ArgsError as error:
        raise ConfigError(f"{key}.{error.field}", error.value, error.allowed) from None
    for required in REQUIRED_TAGS:
        if not tags.get(required):
            raise ConfigError(
                f"{key}.tags.{required}",
                tags.get(required, _MISSING),
                f"the tags {', '.join(REQUIRED_TAGS)} are required on every resource",
            )
    if tags["env"] != environment:
        raise ConfigError(
            f"{key}.tags.env", tags["env"], f"must equal {environment_key} ({environment!r})"
        )
    return dict(tags)


def load() -> Settings:
    """Reads and validates the current stack's configuration."""
    project, stack = pulumi.get_project(), pulumi.get_stack()
    config = all_config()
    ns = f"{project}:"
    _check_keys(config, project)

    def get(key: str) -> Any:
        return config.get(key, _MISSING)

    _default_providers(get(DISABLE_DEFAULT_PROVIDERS))
    environment = get(ns + "environment")
    if environment not in ENVIRONMENTS:
        raise ConfigError(
            ns + "environment", environment, f"expected one of {', '.join(ENVIRONMENTS)}"
        )
    region = get("aws:region")
    if region not in aws_regions():
        raise ConfigError("aws:region", region, "expected an AWS region such as eu-west-1")
    accounts = _account_ids(get("aws:allowedAccountIds"))
    tags = _default_tags(get("aws:defaultTags"), environment, ns + "environment")
    profile = get("aws:profile")
    profile = None if profile is _MISSING else _str("aws:profile", profile)
    protect_raw = get(ns + "protectStatefulResources")
    protect = (
        True if protect_raw is _MISSING else _bool(ns + "protectStatefulResources", protect_raw)
    )

    blocks = {name: _block(ns + name, config.get(ns + name)) for name in BLOCKS}
    encryption = _args(
        EncryptionKeyArgs,
        ns + "encryption",
        _names(ENCRYPTION, project),
        description=f"{project} {stack}: buckets, registry, logs",
        protect=protect,
        **_fields(ns + "encryption", ENCRYPTION, blocks["encryption"]),
    )
    registry = _args(
        ContainerRegistryArgs,
        ns + "registry",
        _names(REGISTRY, project),
        **{
            "namespace": f"{project}/{stack}",
            "protect": protect,
            **_fields(ns + "registry", REGISTRY, blocks["registry"]),
        },
    )
    data = _fields(ns + "data", BLOCKS["data"], blocks["data"])
    bucket_fields = {k.field for k in BUCKETS.values()}
    bucket = _args(
        DataBucketArgs,
        ns + "data",
        _names(BUCKETS, project),
        protect=protect,
        **{k: v for k, v in data.items() if k in bucket_fields},
    )
    dvc = _args(
        DvcRemoteArgs,
        ns + "data",
        _names(DVC, project),
        bucket=bucket,
        **{k: v for k, v in data.items() if k not in bucket_fields},
    )

    model_registry = None
    if ns + "modelRegistry" in config:
        model_registry = _args(
            ModelRegistryArgs,
            ns + "modelRegistry",
            _names(MODEL_REGISTRY, project),
            name_prefix=f"{project}-{stack}",
            artifact_bucket=bucket,
            protect=protect,
            **_fields(ns + "modelRegistry", MODEL_REGISTRY, blocks["modelRegistry"]),
        )
    serving = None
    if ns + "serving" in config:
        serving = _serving(
            ns,
            project=project,
            stack=stack,
            block=blocks["serving"],
            registry=registry,
            model_registry=model_registry,
        )

    ci = None
    if ns + "ci" in config:
        ci_values = _fields(ns + "ci", BLOCKS["ci"], blocks["ci"])
        bucket_name = ci_values.pop("state_bucket", None)
        if not isinstance(bucket_name, str) or not BUCKET_NAME.match(bucket_name):
            raise ConfigError(
                f"{ns}ci.{CI_STATE_BUCKET}",
                _MISSING if bucket_name is None else bucket_name,
                "expected the Pulumi state bucket's name (bootstrap output stateBucket)",
            )
        for name in ("githubRepository", "stateKeyArn"):
            if CI[name].field not in ci_values:
                raise ConfigError(f"{ns}ci.{name}", _MISSING, f"required: {CI[name].doc}")
        ci = _args(
            CiIdentityArgs,
            ns + "ci",
            _names(CI, project),
            environment=environment,
            state_bucket_arn=f"arn:{partition_of(region)}:s3:::{bucket_name}",
            **ci_values,
        )

    network, cluster, runners = _compute(
        ns,
        project=project,
        stack=stack,
        environment=environment,
        region=region,
        config=config,
        blocks=blocks,
        ci=ci,
    )
    access_logs = None
    if ns + "accessLogs" in config:  # the block's presence turns S3 server access logs on
        access_logs = _args(
            AccessLogBucketArgs,
            ns + "accessLogs",
            _names(ACCESS_LOGS, project),
            protect=protect,
            **_fields(ns + "accessLogs", ACCESS_LOGS, blocks["accessLogs"]),
        )
    # Validated here so that a bad waiver stops `pulumi up` too; the plan and the policy pack
    # read the waivers themselves (policy/context.py), from the same config.
    _fields(ns + "policy", POLICY, blocks["policy"])

    return Settings(
        project=project,
        stack=stack,
        environment=environment,
        region=region,
        allowed_account_ids=accounts,
        default_tags=tags,
        profile=profile,
        protect=protect,
        encryption=encryption,
        registry=registry,
        dvc=dvc,
        artifacts=bucket,
        model_registry=model_registry,
        serving=serving,
        ci=ci,
        network=network,
        cluster=cluster,
        runners=runners,
        access_logs=access_logs,
    )


PLACEHOLDER_OIDC_ARN = (
    "arn:aws:iam::000000000000:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/WIRED"
)


def _translate(
    key: str,
    error: ArgsError,
    names: Mapping[str, str],
    keyed: Mapping[str, Sequence[str]] | None = None,
) -> ConfigError:
    """A nested ArgsError field in config terms: field names through ``names``, and items of a
    list that the config writes as a map by name through ``keyed``
    (``node_pools[1].min_size`` -> ``nodePools.runners.minSize``)."""
    parts = re.findall(r"[^.\[\]]+|\[\d+\]", error.field)
    config_key = key
    for index, part in enumerate(parts):
        if part.startswith("["):
            items = (keyed or {}).get(parts[index - 1]) if index else None
            config_key += f".{items[int(part[1:-1])]}" if items else part
        elif names.get(part, part):
            config_key += "." + names.get(part, part)
    return ConfigError(config_key, error.value, error.allowed)


def _secret(ns: str, name: str, config: Mapping[str, Any], needed_by: str) -> pulumi.Output[str]:
    if ns + name not in config:
        raise ConfigError(
            ns + name,
            _MISSING,
            f"required with {needed_by}: `pulumi config set --secret {name}` ({SECRETS[name]})",
        )
    return pulumi.Config(ns.rstrip(":")).require_secret(name)


def _runners(ns: str, *, block: Mapping[str, Any], config: Mapping[str, Any]) -> RunnerSettings:
    key = ns + "runners"
    values = _fields(key, RUNNERS, block)
    extra = values.get("extra_statements", ())
    try:
        access = RunnerAccess(extra_statements=extra)
    except ArgsError as error:
        raise _translate(
            key, error, {"access": "", "extra_statements": "extraStatements"}
        ) from None
    wiring = {"oidc_provider_arn": PLACEHOLDER_OIDC_ARN, "oidc_issuer": WIRED_BY_STACK}

    github = None
    if "github" in values:
        gh_key = f"{key}.github"
        fields = _fields(gh_key, GITHUB_RUNNERS, values["github"])
        sets_raw = fields.pop("scale_sets", None)
        sets = None
        if sets_raw is not None:
            if not isinstance(sets_raw, dict) or not sets_raw:
                raise ConfigError(f"{gh_key}.scaleSets", sets_raw, "expected a map of name -> set")
            sets = []
            for name, set_block in sets_raw.items():
                if not isinstance(set_block, dict):
                    raise ConfigError(f"{gh_key}.scaleSets.{name}", set_block, "expected a map")
                set_fields = _fields(f"{gh_key}.scaleSets.{name}", SCALE_SET, set_block)
                if "max_runners" not in set_fields:
                    raise ConfigError(f"{gh_key}.scaleSets.{name}.maxRunners", _MISSING, "required")
                sets.append(RunnerScaleSet(name=name, **set_fields))
        for required in ("configUrl", "appId", "installationId"):
            if GITHUB_RUNNERS[required].field not in fields:
                raise ConfigError(f"{gh_key}.{required}", _MISSING, GITHUB_RUNNERS[required].doc)
        private_key = _secret(ns, "githubAppPrivateKey", config, gh_key)
        names = {k.field: name for name, k in {**GITHUB_RUNNERS, **SCALE_SET}.items()}
        try:
            github = GithubRunnersArgs(
                github_app_private_key=private_key,
                access=access,
                **({"scale_sets": tuple(sets)} if sets is not None else {}),
                **wiring,
                **fields,
            )
        except ArgsError as error:
            keyed = {"scale_sets": [scale_set.name for scale_set in sets or ()]}
            raise _translate(gh_key, error, names, keyed) from None

    gitlab = None
    if "gitlab" in values:
        gl_key = f"{key}.gitlab"
        fields = _fields(gl_key, GITLAB_RUNNER, values["gitlab"])
        token = _secret(ns, "gitlabRunnerToken", config, gl_key)
        names = {k.field: name for name, k in GITLAB_RUNNER.items()}
        try:
            gitlab = GitlabRunnerArgs(runner_token=token, access=access, **wiring, **fields)
        except ArgsError as error:
            raise _translate(gl_key, error, names) from None
    if github is None and gitlab is None:
        raise ConfigError(key, dict(block), "configure github, gitlab or both")
    return RunnerSettings(github=github, gitlab=gitlab, extra_statements=tuple(extra))


def _compute(
    ns: str,
    *,
    project: str,
    stack: str,
    environment: str,
    region: str,
    config: Mapping[str, Any],
    blocks: Mapping[str, Mapping[str, Any]],
    ci: CiIdentityArgs | None,
) -> tuple[NetworkArgs | None, ClusterArgs | None, RunnerSettings | None]:
    """The network, cluster and runners blocks (each needs the one before)."""
    network = cluster = None
    if ns + "cluster" in config and ns + "network" not in config:
        raise ConfigError(ns + "network", _MISSING, f"required with {ns}cluster (its VPC)")
    if ns + "network" in config:
        network = _args(
            NetworkArgs,
            ns + "network",
            _names(NETWORK, project),
            region=region,
            **_fields(ns + "network", NETWORK, blocks["network"]),
        )
    if ns + "cluster" in config:
        cluster = _cluster(
            ns, project=project, stack=stack, environment=environment, block=blocks["cluster"]
        )
        if not cluster.admin_principal_arns and ci is None:
            raise ConfigError(
                f"{ns}cluster.adminPrincipalArns",
                [],
                f"name at least one cluster administrator (or configure {ns}ci, whose deploy "
                "role administers the cluster)",
            )

    runners = None
    if ns + "runners" in config:
        if cluster is None:
            raise ConfigError(
                ns + "cluster", _MISSING, f"required with {ns}runners (they run there)"
            )
        runners = _runners(ns, block=blocks["runners"], config=config)
        _check_runner_pools_and_images(ns, environment, cluster, runners)

    return network, cluster, runners


def _check_runner_pools_and_images(
    ns: str, environment: str, cluster: ClusterArgs, runners: RunnerSettings
) -> None:
    """Privileged (dind) scale sets need the builds pool; staging and prod run only images
    pinned by digest."""
    key = f"{ns}runners"
    sets = runners.github.scale_sets if runners.github is not None else ()
    pools = {pool.pool for pool in cluster.node_pools}
    for scale_set in sets:
        if scale_set.container_mode == "dind" and BUILD_POOL not in pools:
            raise ConfigError(
                f"{key}.github.scaleSets.{scale_set.name}.containerMode",
                "dind",
                f"needs a node pool with pool: {BUILD_POOL} in {ns}cluster.nodePools "
                "(privileged runners get nodes of their own)",
            )
    if environment == "dev":
        return
    images = [(f"{key}.github.scaleSets.{s.name}.runnerImage", s.runner_image) for s in sets]
    if runners.gitlab is not None:
        images.append((f"{key}.gitlab.jobImage", runners.gitlab.job_image))
    for image_key, image in images:
        if not PINNED_IMAGE.match(image):
            raise ConfigError(
                image_key,
                image,
                f"an image pinned by digest, <image>:<tag>@sha256:<64 hex>, in {environment}",
            )


# Stand-ins for what the stack wires in (the network's subnets, the platform key).
PLACEHOLDER_SUBNETS = ("subnet-wired-by-the-stack-a", "subnet-wired-by-the-stack-b")


def _cluster(
    ns: str, *, project: str, stack: str, environment: str, block: Mapping[str, Any]
) -> ClusterArgs:
    """The cluster block, with its node pools (a map of name -> pool settings)."""
    key = ns + "cluster"
    values = _fields(key, CLUSTER, block)
    pools_raw = values.pop("node_pools", None)
    pools = None
    if pools_raw is not None:
        if not isinstance(pools_raw, dict) or not pools_raw:
            raise ConfigError(
                f"{key}.nodePools", pools_raw, "expected a map of pool name -> settings"
            )
        pools = []
        for name, pool_block in pools_raw.items():
            pool_key = f"{key}.nodePools.{name}"
            if not isinstance(pool_block, dict):
                raise ConfigError(pool_key, pool_block, "expected a map of node pool settings")
            fields = _fields(pool_key, NODE_POOL, pool_block)
            fields.setdefault("pool", name)
            pools.append(NodePool(name=name, **fields))
            if environment == "prod" and fields.get("capacity_type") == "SPOT":
                raise ConfigError(
                    f"{pool_key}.capacityType", "SPOT", "prod node pools run ON_DEMAND"
                )
    if values.get("enable_public_endpoint") and environment != "dev":
        raise ConfigError(
            f"{key}.publicEndpoint", True, "the API endpoint is private in staging and prod"
        )
    names = _names(CLUSTER, project)
    try:
        return ClusterArgs(
            subnet_ids=PLACEHOLDER_SUBNETS,
            kms_key_arn=PLACEHOLDER_KEY_ARN,
            cluster_name=f"{project}-{stack}",
            **({"node_pools": tuple(pools)} if pools is not None else {}),
            **values,
        )
    except ArgsError as error:
        pool_names = {k.field: name for name, k in NODE_POOL.items()}
        keyed = {"node_pools": [pool.name for pool in pools or ()]}
        raise _translate(key, error, {**names, **pool_names}, keyed) from None


def _serving(
    ns: str,
    *,
    project: str,
    stack: str,
    block: Mapping[str, Any],
    registry: ContainerRegistryArgs,
    model_registry: ModelRegistryArgs | None,
) -> ServingSettings:
    """The serving block: what to release (model, source, image) and the endpoint's settings."""
    key = ns + "serving"
    values = _fields(key, BLOCKS["serving"], block)
    release = {k.field: values.pop(k.field) for k in RELEASE.values() if k.field in values}
    if "model" not in release:
        raise ConfigError(f"{key}.model", _MISSING, f"required: {RELEASE['model'].doc}")
    if ("image_tag" in release) == ("image_uri" in release):
        raise ConfigError(
            f"{key}.imageTag",
            release.get("image_tag", _MISSING),
            "set exactly one of imageTag and imageUri",
        )
    if "image_uri" in release:
        if release.get("build_image"):
            raise ConfigError(
                f"{key}.buildImage", True, "imageUri names an image CI pushed: leave buildImage off"
            )
        if not ECR_IMAGE_URI.match(release["image_uri"]):
            raise ConfigError(
                f"{key}.imageUri",
                release["image_uri"],
                "expected <account>.dkr.ecr.<region>.amazonaws.com/<repository> with :<tag> "
                "or @sha256:<digest>",
            )
    model = release["model"]
    source = release.get("model_source", "data")
    if source not in MODEL_SOURCES:
        raise ConfigError(
            f"{key}.modelSource", source, f"expected one of {', '.join(MODEL_SOURCES)}"
        )
    if "serving" not in registry.repositories:
        raise ConfigError(
            f"{ns}registry.repositories",
            list(registry.repositories),
            f"{key} needs a 'serving' repository for its image",
        )
    if "image_tag" in release:
        _args(
            ServingImageArgs,
            key,
            {"tag": "imageTag"},
            repository_url=WIRED_BY_STACK,
            tag=release["image_tag"],
        )

    for config_key, wanted in (("modelPackageArn", "pinned"), ("modelDataKey", "data")):
        field_name = ENDPOINT[config_key].field
        if field_name in values and source != wanted:
            raise ConfigError(
                f"{key}.{config_key}", values[field_name], f"only with modelSource: {wanted}"
            )
    if source == "pinned" and "model_package_arn" not in values:
        raise ConfigError(f"{key}.modelPackageArn", _MISSING, "required with modelSource: pinned")
    package_group = None
    if source == "latest-approved":
        if model_registry is None or model not in model_registry.models:
            raise ConfigError(
                f"{key}.model",
                model,
                f"modelSource latest-approved needs the model in {ns}modelRegistry.models",
            )
        package_group = f"{model_registry.name_prefix}-{model}"
        # Resolved at program time; validated here with a well-formed stand-in.
        values["model_package_arn"] = (
            f"arn:aws:sagemaker:us-east-1:000000000000:model-package/{package_group}/1"
        )
    elif source == "data":
        values.setdefault("model_data_key", f"models/{model}/model.tar.gz")

    endpoint = _args(
        ModelEndpointArgs,
        key,
        _names(ENDPOINT, project),
        image_uri=WIRED_BY_STACK,
        repository_arn=WIRED_BY_STACK,
        artifacts_bucket_arn=WIRED_BY_STACK,
        kms_key_arn=PLACEHOLDER_KEY_ARN,
        **{"endpoint_name": f"{project}-{stack}-{model}", **values},
    )
    return ServingSettings(
        model=model,
        model_source=source,
        package_group=package_group,
        image_tag=release.get("image_tag"),
        image_uri=release.get("image_uri"),
        build_image=release.get("build_image", False),
        endpoint=endpoint,
    )
