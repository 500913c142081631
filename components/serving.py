"""Model serving: ``ModelEndpoint`` (SageMaker endpoint with canary release and automatic rollback)
and ``ServingImage`` (the serving container built and pushed to ECR).

A release replaces the SageMaker ``Model`` (new image or model data), which replaces the always
autonamed ``EndpointConfiguration``; the ``Endpoint`` then shifts traffic blue/green - by default
a 5% canary, baked, then the rest - and SageMaker rolls back by itself when one of the endpoint's
CloudWatch alarms fires. The variant name never changes between releases.

The list of rollback alarms is part of the endpoint itself: the provider replaces the endpoint
(a short outage) when it changes, e.g. when the 4XX alarm is switched on or off.

Policy documents, alarm definitions and the deployment configuration are pure functions below.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, get_args

import annotated_types
import pulumi
import pulumi_aws as aws
import pulumi_docker as docker
from pydantic import Field

from mlops_platform.components._aws import aws_context, policy_document, service_endpoint
from mlops_platform.components._docs import SecureDefault
from mlops_platform.components._names import (
    ALARM_NAME,
    IAM_INLINE_POLICY_NAME,
    IAM_ROLE_NAME,
    SAGEMAKER_NAME,
    SCALING_POLICY_NAME,
    TOPIC_NAME,
    PhysicalName,
)
from mlops_platform.components._schema import Allowed, Matches, OneOf, between, check_declared
from mlops_platform.components._validate import (
    IAM_PATH_NAME,
    KMS_KEY,
    POLICY_ARN,
    ArgsError,
    Tags,
    is_known,
)
from mlops_platform.serving.options import ConfigError as ServerConfigError
from mlops_platform.serving.options import check_environment

TYPE = "mlops:serving:ModelEndpoint"
IMAGE_TYPE = "mlops:serving:ServingImage"

ENDPOINT_NAME = re.compile(r"^[a-zA-Z0-9](?:-*[a-zA-Z0-9]){0,62}$")
VARIANT_NAME = ENDPOINT_NAME
INSTANCE_TYPE = re.compile(r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
# Accelerated (GPU/Inferentia/Trainium) instance families.
ACCELERATED = re.compile(r"^ml\.(?:p\d|g\d|inf\d|trn\d)")
# Families with local NVMe instance storage (a "d" after the generation: m5d, c5d, g4dn, p4d;
# and g5, g6, p5, trn1): SageMaker refuses a storage-volume KMS key for them, their instance
# storage is encrypted by the hardware instead.
# SageMaker's deployment guardrails (canary and linear traffic shifting, baking, auto-rollback)
# exclude Inf1: "If your endpoint uses any of the following features, you cannot use deployment
# guardrails on your endpoint, and your endpoint will fall back to using a blue/green deployment
# with all at once traffic shifting and no final baking period: Marketplace containers;
# Endpoints that use Inf1 (Inferentia-based) instances"
# (docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-exclusions.html). Marketplace
# packages cannot be served here: MODEL_PACKAGE_ARN takes packages of an account only.
NO_GUARDRAILS = re.compile(r"^ml\.inf1\.")
INSTANCE_STORAGE = re.compile(r"^ml\.(?:[a-z]+\d+[a-z]*d[a-z]*|g5|g6e?|p5e?|trn1n?)\.")
S3_KEY = re.compile(r"^[A-Za-z0-9!_.*'()/-]+$")
MODEL_PACKAGE_ARN = re.compile(
    r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package/[A-Za-z0-9-]+(?:/\d+)?$"
)
# SageMaker CreateModel's ContainerDefinition.Environment (botocore: EnvironmentMap max 100,
# EnvironmentKey [a-zA-Z_][a-zA-Z0-9_]* max 1024, EnvironmentValue max 1024; the docs: "The
# maximum length of all keys and values in the map, combined, is 32 KB").
ENVIRONMENT_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{0,1023}$")
ENVIRONMENT_ENTRIES = 100
ENVIRONMENT_ENTRY_BYTES = 1024
ENVIRONMENT_BYTES = 32 * 1024
EnvironmentName = Annotated[
    str,
    Matches(
        ENVIRONMENT_NAME, "an environment variable name: letters, digits and _, not first a digit"
    ),
]
EnvironmentValue = Annotated[
    str,
    Field(max_length=ENVIRONMENT_ENTRY_BYTES),
    Allowed('values are strings of at most 1024 characters (quote numbers: "4")'),
]
Environment = Annotated[
    Mapping[EnvironmentName, EnvironmentValue],
    Field(max_length=ENVIRONMENT_ENTRIES),
    Allowed("expected a map of at most 100 environment variable names to strings"),
]
"""The environment of a model's container."""
SubscriptionProtocol = Literal["email", "email-json", "https", "sqs", "lambda", "sms"]
SUBSCRIPTION_PROTOCOLS = get_args(SubscriptionProtocol)

Mode = Literal["provisioned", "serverless"]
MODES = get_args(Mode)
TrafficRouting = Literal["CANARY", "LINEAR", "ALL_AT_ONCE"]
TRAFFIC_ROUTING = get_args(TrafficRouting)
SERVERLESS_MEMORY_MB = (1024, 2048, 3072, 4096, 5120, 6144)
# The provider waits for the endpoint to be InService for about an hour on create and update;
# a blue/green deployment's waits, plus time to provision the new fleet, must fit inside it.
PROVIDER_WAIT_SECONDS = 3600
PROVISIONING_MARGIN_SECONDS = 900
METRIC_NAMESPACE = "AWS/SageMaker"


# --- pure definitions ----------------------------------------------------------------------------


def traffic_shifts(traffic_routing: str, linear_step_percent: int) -> int:
    """How many times traffic moves (each followed by a bake wait)."""
    if traffic_routing == "LINEAR":
        return math.ceil(100 / linear_step_percent)
    return 2 if traffic_routing == "CANARY" else 1


def deployment_wait_seconds(
    *,
    traffic_routing: str,
    bake_seconds: int,
    termination_wait_seconds: int,
    linear_step_percent: int,
) -> int:
    """The waits a blue/green deployment adds up to, before the old fleet is terminated."""
    shifts = traffic_shifts(traffic_routing, linear_step_percent)
    return shifts * bake_seconds + termination_wait_seconds


def deployment_config(
    *,
    traffic_routing: str,
    canary_percent: int,
    linear_step_percent: int,
    bake_seconds: int,
    termination_wait_seconds: int,
    max_execution_seconds: int,
    rollback_alarm_names: Sequence[str],
) -> dict[str, Any]:
    """The ``Endpoint.deployment_config`` input (snake_case)."""
    routing: dict[str, Any] = {"type": traffic_routing, "wait_interval_in_seconds": bake_seconds}
    if traffic_routing == "CANARY":
        routing["canary_size"] = {"type": "CAPACITY_PERCENT", "value": canary_percent}
    if traffic_routing == "LINEAR":
        routing["linear_step_size"] = {"type": "CAPACITY_PERCENT", "value": linear_step_percent}
    return {
        "blue_green_update_policy": {
            "traffic_routing_configuration": routing,
            "termination_wait_in_seconds": termination_wait_seconds,
            "maximum_execution_timeout_in_seconds": max_execution_seconds,
        },
        "auto_rollback_configuration": {
            "alarms": [{"alarm_name": name} for name in rollback_alarm_names]
        },
    }


def _metric(metric_id: str, name: str, dimensions: Mapping[str, str], period: int) -> dict:
    return {
        "id": metric_id,
        "return_data": False,
        "metric": {
            "namespace": METRIC_NAMESPACE,
            "metric_name": name,
            "dimensions": dict(dimensions),
            "period": period,
            "stat": "Sum",
        },
    }


def _error_rate_alarm(
    name: str, metric: str, label: str, *, threshold: float, dims: Mapping[str, str], period: int
) -> dict[str, Any]:
    return {
        "name": name,
        "alarm_description": f"{label} above {threshold}% of invocations",
        "comparison_operator": "GreaterThanThreshold",
        "threshold": threshold,
        "evaluation_periods": 3,
        "datapoints_to_alarm": 2,
        "treat_missing_data": "notBreaching",
        "metric_queries": [
            _metric("errors", metric, dims, period),
            _metric("invocations", "Invocations", dims, period),
            {
                "id": "rate",
                "label": f"{label} (%)",
                "expression": "IF(invocations > 0, 100 * errors / invocations, 0)",
                "return_data": True,
            },
        ],
    }


def alarm_definitions(
    *,
    endpoint_name: str,
    variant_name: str,
    error_rate_percent: float,
    p99_latency_ms: float,
    client_error_rate_percent: float | None,
    period_seconds: int = 60,
    name_prefix: str | None = None,
) -> list[dict[str, Any]]:
    """MetricAlarm inputs of one variant, each with an explicit stable ``name``
    (``<name_prefix>-5xx-error-rate``; the prefix is the endpoint's name by default)."""
    dims = {"EndpointName": endpoint_name, "VariantName": variant_name}
    prefix = name_prefix or endpoint_name
    alarms = [
        _error_rate_alarm(
            f"{prefix}-5xx-error-rate",
            "Invocation5XXErrors",
            "5XX errors",
            threshold=error_rate_percent,
            dims=dims,
            period=period_seconds,
        ),
        {
            "name": f"{prefix}-p99-model-latency",
            "alarm_description": f"p99 ModelLatency above {p99_latency_ms} ms",
            "namespace": METRIC_NAMESPACE,
            "metric_name": "ModelLatency",
            "dimensions": dims,
            "extended_statistic": "p99",
            "period": period_seconds,
            "evaluation_periods": 3,
            "datapoints_to_alarm": 2,
            "comparison_operator": "GreaterThanThreshold",
            # ModelLatency is reported in microseconds.
            "threshold": p99_latency_ms * 1000,
            "treat_missing_data": "notBreaching",
        },
    ]
    if client_error_rate_percent is not None:
        alarms.append(
            _error_rate_alarm(
                f"{prefix}-4xx-error-rate",
                "Invocation4XXErrors",
                "4XX errors",
                threshold=client_error_rate_percent,
                dims=dims,
                period=period_seconds,
            )
        )
    return alarms


def physical_names(
    name: str, endpoint_name: str, second_variants: Sequence[str] | None = None
) -> list[PhysicalName]:
    """Every physical name a :class:`ModelEndpoint` called ``name`` may give its children, with
    the ``second_variants`` it serves (by default both an A/B challenger's and a shadow's: the
    longest case), the 4XX alarms and autoscaling, each with its AWS limit."""
    if second_variants is None:
        second_variants = SECOND_VARIANTS
    thresholds = {
        "error_rate_percent": 1.0,
        "p99_latency_ms": 1.0,
        "client_error_rate_percent": 1.0,
    }
    alarms = [
        d["name"]
        for prefix in (endpoint_name, *(f"{endpoint_name}-{v}" for v in second_variants))
        for d in alarm_definitions(
            endpoint_name=endpoint_name, variant_name="v", name_prefix=prefix, **thresholds
        )
    ]
    return [
        PhysicalName("the SageMaker endpoint", endpoint_name, SAGEMAKER_NAME, autonamed=False),
        PhysicalName("the endpoint configuration", f"{name}-config", SAGEMAKER_NAME),
        PhysicalName("the SageMaker model", f"{name}-model", SAGEMAKER_NAME),
        *(
            PhysicalName(f"the {v} variant's SageMaker model", f"{name}-{v}-model", SAGEMAKER_NAME)
            for v in second_variants
        ),
        PhysicalName("the execution role", f"{name}-execution", IAM_ROLE_NAME),
        PhysicalName("the execution role's policy", f"{name}-execution", IAM_INLINE_POLICY_NAME),
        PhysicalName("the alarm topic", f"{name}-alarms", TOPIC_NAME),
        *(PhysicalName("a rollback alarm", a, ALARM_NAME, autonamed=False) for a in alarms),
        PhysicalName("the autoscaling policy", f"{name}-invocations", SCALING_POLICY_NAME),
    ]


def sagemaker_trust_policy(account_id: str) -> dict[str, Any]:
    """SageMaker may assume the role, only on behalf of this account."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sagemaker.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
            }
        ],
    }


def execution_role_policy(
    *,
    partition: str,
    account_id: str,
    region: str,
    repository_arn: str,
    bucket_arn: str,
    model_prefix: str,
    capture_prefix: str | None,
    kms_key_arn: str,
    alarm_names: Sequence[str],
) -> dict[str, Any]:
    """Least privilege for an endpoint: pull one repository, read one model prefix, write its
    data capture, use the key through S3, write its logs and metrics, read its alarms."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "EcrAuth",
            "Effect": "Allow",
            "Action": "ecr:GetAuthorizationToken",
            "Resource": "*",  # the action supports no resource-level permissions
        },
        {
            "Sid": "PullImage",
            "Effect": "Allow",
            "Action": [
                "ecr:BatchCheckLayerAvailability",
                "ecr:BatchGetImage",
                "ecr:GetDownloadUrlForLayer",
            ],
            "Resource": repository_arn,
        },
        {
            "Sid": "ReadModel",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": f"{bucket_arn}/{model_prefix}/*",
        },
        {
            "Sid": "UseKeyThroughS3",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"] if capture_prefix else "kms:Decrypt",
            "Resource": kms_key_arn,
            "Condition": {"StringEquals": {"kms:ViaService": service_endpoint("s3", region)}},
        },
        {
            "Sid": "Logs",
            "Effect": "Allow",
            "Action": [
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:DescribeLogStreams",
                "logs:PutLogEvents",
            ],
            "Resource": (
                f"arn:{partition}:logs:{region}:{account_id}:log-group:/aws/sagemaker/Endpoints/*"
            ),
        },
        {
            "Sid": "Metrics",
            "Effect": "Allow",
            "Action": "cloudwatch:PutMetricData",
            "Resource": "*",  # PutMetricData supports no resource-level permissions
        },
        {
            "Sid": "Guardrails",
            "Effect": "Allow",
            "Action": "cloudwatch:DescribeAlarms",
            "Resource": [
                f"arn:{partition}:cloudwatch:{region}:{account_id}:alarm:{name}"
                for name in alarm_names
            ],
        },
    ]
    if capture_prefix:
        statements.insert(
            3,
            {
                "Sid": "WriteDataCapture",
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": f"{bucket_arn}/{capture_prefix}/*",
            },
        )
    return {"Version": "2012-10-17", "Statement": statements}


def sagemaker_role(
    name: str,
    parent: pulumi.Resource,
    *,
    description: str,
    account_id: pulumi.Input[str],
    policy: pulumi.Input[str],
    tags: Mapping[str, str],
    path: str = "/",
    permissions_boundary: pulumi.Input[str] | None = None,
    retain: bool = False,
) -> tuple[aws.iam.Role, aws.iam.RolePolicy]:
    """A role SageMaker assumes for this account, with one inline policy; with ``retain``, both
    stay in AWS with the retained resource that uses them."""
    child = pulumi.ResourceOptions(parent=parent, retain_on_delete=retain or None)
    role = aws.iam.Role(
        name,
        description=description,
        assume_role_policy=policy_document(sagemaker_trust_policy, account_id=account_id),
        path=path,
        permissions_boundary=permissions_boundary,
        tags=dict(tags),
        opts=child,
    )
    inline = aws.iam.RolePolicy(name, role=role.id, policy=policy, opts=child)
    return role, inline


# --- ModelEndpoint -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AlarmSubscription:
    """Who hears about the endpoint's alarms (an SNS subscription)."""

    protocol: SubscriptionProtocol
    """SNS protocol: ``email``, ``email-json``, ``https``, ``sqs``, ``lambda`` or ``sms``."""
    endpoint: Annotated[str, Field(min_length=1), Allowed("expected an address for the protocol")]
    """Address for the protocol, e.g. ``oncall@example.com`` or a queue ARN."""

    def __post_init__(self) -> None:
        check_declared(self)


VariantsMode = Literal["single", "ab", "shadow"]
CHALLENGER_VARIANT = "challenger"
"""Production variant name of an A/B test's challenger (InvokeEndpoint ``TargetVariant``)."""
SHADOW_VARIANT = "shadow"
"""Variant name of a shadow test's shadow variant."""
SECOND_VARIANTS = (CHALLENGER_VARIANT, SHADOW_VARIANT)


@dataclass(frozen=True, kw_only=True)
class Variants:
    """A/B and shadow tests: a second model on the endpoint, beside the champion."""

    mode: VariantsMode = "single"
    """``single``: one production variant. ``ab``: the champion and a ``challenger`` variant
    share the traffic by weight (force a variant with InvokeEndpoint's ``TargetVariant``).
    ``shadow``: a ``shadow`` variant receives a sampled copy of the traffic; its responses are
    captured (``data_capture_percent``), never returned."""
    model_package_arn: Annotated[
        pulumi.Input[str] | None, Matches(MODEL_PACKAGE_ARN, "a model package ARN")
    ] = None
    """The challenger's or shadow's model: a pinned package of the registry (its image must be in
    the endpoint's repository, its data under ``model_prefix``)..."""
    model_data_key: Annotated[str | None, Matches(S3_KEY, "an S3 key")] = None
    """... or a ``model.tar.gz`` in the artifacts bucket under ``model_prefix``, served with the
    endpoint's image."""
    champion_weight: Annotated[float, between(0, 1)] = 0.9
    """A/B: the champion's traffic weight (0-1; weights are relative, their sum must be above
    0)."""
    challenger_weight: Annotated[float, between(0, 1)] = 0.1
    """A/B: the challenger's traffic weight (0-1)."""
    sampling_percent: Annotated[int, between(1, 100)] = 10
    """Shadow: the share of requests copied to the shadow variant (1-100 %)."""
    instance_type: Annotated[str | None, Matches(INSTANCE_TYPE, "an ml.* instance type")] = None
    """Instance type of the second variant; the champion's by default."""
    instance_count: Annotated[int, between(1, 100)] = 2
    """Instances of the second variant (fixed: it is not autoscaled; canary and linear need 2 or
    more)."""

    def __post_init__(self) -> None:
        check_declared(self, "variants")
        has_model = (self.model_package_arn is not None, self.model_data_key is not None)
        if self.mode == "single":
            if any(has_model):
                raise ArgsError(
                    "variants.mode",
                    self.mode,
                    "a second model needs mode ab or shadow (single serves the champion only)",
                )
            return
        if has_model.count(True) != 1:
            raise ArgsError(
                "variants.model_package_arn",
                self.model_package_arn,
                f"mode {self.mode}: set exactly one of model_package_arn and model_data_key",
            )
        if self.mode == "ab" and not self.champion_weight + self.challenger_weight > 0:
            raise ArgsError(
                "variants.challenger_weight",
                self.challenger_weight,
                "the weights are relative: champion_weight + challenger_weight must be above 0",
            )

    @property
    def second(self) -> str | None:
        """The second variant's name, if any."""
        return {"ab": CHALLENGER_VARIANT, "shadow": SHADOW_VARIANT}.get(self.mode)


@dataclass(frozen=True, kw_only=True)
class ModelEndpointArgs:
    """Arguments of :class:`ModelEndpoint`. Defaults: provisioned, 5% canary, rollback alarms."""

    image_uri: pulumi.Input[str]
    """Serving image, e.g. ``<account>.dkr.ecr.<region>.amazonaws.com/serving:v1.2.0``."""
    repository_arn: pulumi.Input[str]
    """ECR repository of the image; the execution role may pull from it only."""
    artifacts_bucket_arn: pulumi.Input[str]
    """Bucket holding model data (read) and data capture (write)."""
    kms_key_arn: Annotated[pulumi.Input[str], KMS_KEY]
    """Key of the bucket, the endpoint's storage volume, data capture and the alarm topic."""
    model_data_key: Annotated[str | None, Matches(S3_KEY, "an S3 key")] = None
    """S3 key of ``model.tar.gz`` inside the bucket, under ``model_prefix``. Default (unless
    ``model_package_arn`` is set): ``<model_prefix>/<endpoint name>/model.tar.gz``."""
    model_package_arn: Annotated[
        pulumi.Input[str] | None, Matches(MODEL_PACKAGE_ARN, "a model package ARN")
    ] = None
    """A versioned model package from the registry, instead of ``model_data_key``. Its image
    must be in ``repository_arn`` and its model data under ``model_prefix`` of the bucket:
    the execution role may read nothing else."""
    model_prefix: Annotated[str, Matches(S3_KEY, "an S3 key prefix")] = "models"
    """The only prefix of the bucket the endpoint may read."""
    endpoint_name: Annotated[str | None, Matches(ENDPOINT_NAME, "1-63 letters, digits and -")] = (
        None
    )
    """Physical endpoint name (stable: clients and alarms use it); default: the component name."""
    variant_name: Annotated[str, Matches(VARIANT_NAME, "1-63 letters, digits and -")] = "primary"
    """Production variant name. Keep it across releases: blue/green needs the same variant."""
    mode: Mode = "provisioned"
    """``provisioned`` (instances, autoscaling, blue/green) or ``serverless``."""
    instance_type: Annotated[str, Matches(INSTANCE_TYPE, "an ml.* instance type")] = "ml.m5.large"
    """Provisioned instance type (``ml.*``). SageMaker refuses to change the instance type of
    an autoscaled variant: remove min/max instances, release, then add them back."""
    instance_count: Annotated[int, between(1, 100)] = 2
    """Instance count of each release's new fleet (1-100; canary and linear need 2 or more).
    A release starts its fleet at this count, not at the autoscaled one: size it for load."""
    min_instances: Annotated[int | None, between(1, 100)] = None
    """Autoscaling floor; autoscaling is on when min and max are set (provisioned only)."""
    max_instances: Annotated[int | None, between(1, 100)] = None
    """Autoscaling ceiling."""
    target_invocations_per_instance: Annotated[int, between(1, 100000)] = 100
    """Target-tracking value for ``SageMakerVariantInvocationsPerInstance`` (per minute)."""
    serverless_memory_mb: Annotated[int, OneOf(SERVERLESS_MEMORY_MB)] = 2048
    """Serverless memory: 1024-6144 in steps of 1024."""
    serverless_max_concurrency: Annotated[int, between(1, 200)] = 5
    """Serverless concurrent invocations (1-200)."""
    data_capture_percent: Annotated[int | None, between(1, 100)] = None
    """Sample this % of requests and responses to ``s3://<bucket>/<capture_prefix>/``
    (provisioned only); ``None`` disables capture."""
    capture_prefix: Annotated[str, Matches(S3_KEY, "an S3 key prefix")] = "data-capture"
    """Prefix for captured data inside the bucket."""
    traffic_routing: TrafficRouting = "CANARY"
    """Blue/green traffic shifting: ``CANARY``, ``LINEAR`` or ``ALL_AT_ONCE`` (the only one on
    Inf1 instances, which SageMaker's deployment guardrails exclude)."""
    canary_percent: Annotated[int, between(1, 50)] = 5
    """Share of capacity that takes traffic first in a canary (1-50)."""
    linear_step_percent: Annotated[int, between(10, 50)] = 10
    """Share of capacity added per linear step (10-50)."""
    bake_seconds: Annotated[int, between(0, 3600)] = 600
    """Wait after each traffic shift while the alarms watch (0-3600)."""
    termination_wait_seconds: Annotated[int, between(0, 3600)] = 300
    """Wait after the full shift before the old fleet is terminated (0-3600)."""
    max_execution_seconds: Annotated[int, between(600, 14400)] = 3600
    """SageMaker's timeout for the whole deployment (600-14400); must exceed the waits."""
    error_rate_percent: Annotated[float, annotated_types.Gt(0)] = 1.0
    """Rollback when 5XX errors exceed this % of invocations."""
    p99_latency_ms: Annotated[float, annotated_types.Gt(0)] = 1000.0
    """Rollback when p99 ModelLatency exceeds this many milliseconds."""
    client_error_rate_percent: Annotated[float | None, annotated_types.Gt(0)] = None
    """Optionally also roll back when 4XX errors exceed this % of invocations."""
    alarm_subscriptions: Sequence[AlarmSubscription] = ()
    """Subscriptions of the alarm topic."""
    iam_path: Annotated[str, IAM_PATH_NAME] = "/"
    """IAM path of the execution role (CI deploy roles manage only their platform's path)."""
    permissions_boundary_arn: Annotated[pulumi.Input[str] | None, POLICY_ARN] = None
    """Permissions boundary of the execution role (required when CI deploys create it)."""
    enable_network_isolation: bool | None = None
    """The container gets no network access (the reference server needs none). Default: on
    where supported, i.e. provisioned endpoints; serverless endpoints do not support it."""
    variants: Variants = field(default_factory=Variants)
    """A/B or shadow test beside the champion (one variant by default)."""
    environment: Environment = field(default_factory=dict)
    """Environment variables of the model's container, and of the challenger's or shadow's
    (SageMaker ``CreateModel``: at most 100, 32 KB in all), e.g.
    ``SAGEMAKER_MODEL_SERVER_WORKERS`` and ``SAGEMAKER_MODEL_SERVER_TIMEOUT`` for the reference
    server, whose whole-number variables are checked as it reads them. Don't put secrets here:
    they are plain text in the model's description."""
    tags: Tags = field(default_factory=dict)
    """Tags for every taggable child."""

    def __post_init__(self) -> None:
        check_declared(self)
        self._check_environment()
        self._check_variants()
        if self.model_data_key is not None and self.model_package_arn is not None:
            raise ArgsError(
                "model_data_key",
                self.model_data_key,
                "set at most one of model_data_key and model_package_arn",
            )
        if self.model_data_key is not None and not self.model_data_key.startswith(
            f"{self.model_prefix}/"
        ):
            raise ArgsError(
                "model_data_key",
                self.model_data_key,
                f"must be under model_prefix '{self.model_prefix}/'",
            )
        self._check_capacity()
        self._check_guardrails()
        self._check_deployment()
        if self.mode == "serverless":
            self._check_serverless()

    def _check_environment(self) -> None:
        """SageMaker's byte limits, and the values the reference server would refuse to start
        with (parsed by the server's own code)."""
        total = 0
        for name, value in self.environment.items():
            size = len(value.encode())
            if size > ENVIRONMENT_ENTRY_BYTES:
                raise ArgsError(
                    f"environment.{name}", f"{size} bytes", "at most 1024 bytes (UTF-8)"
                )
            total += len(name.encode()) + size
        if total > ENVIRONMENT_BYTES:
            raise ArgsError(
                "environment",
                f"{total} bytes",
                "names and values together are at most 32 KB (SageMaker CreateModel)",
            )
        try:
            check_environment(self.environment)
        except ServerConfigError as error:
            raise ArgsError(f"environment.{error.name}", error.value, error.allowed) from None

    def _check_capacity(self) -> None:
        if (self.min_instances is None) != (self.max_instances is None):
            raise ArgsError(
                "min_instances", self.min_instances, "set both min_instances and max_instances"
            )
        if self.min_instances is not None and self.max_instances is not None:
            if self.min_instances > self.max_instances:
                raise ArgsError(
                    "min_instances",
                    self.min_instances,
                    f"must not exceed max_instances ({self.max_instances})",
                )
            if not self.min_instances <= self.instance_count <= self.max_instances:
                raise ArgsError(
                    "instance_count",
                    self.instance_count,
                    f"must lie between min_instances ({self.min_instances}) "
                    f"and max_instances ({self.max_instances})",
                )
        if self.mode == "provisioned" and self.traffic_routing != "ALL_AT_ONCE":
            smallest = min(self.instance_count, self.min_instances or self.instance_count)
            if smallest < 2:
                raise ArgsError(
                    "instance_count",
                    smallest,
                    f"{self.traffic_routing} shifts at most 50% of the fleet first: run 2 or "
                    "more instances, or use ALL_AT_ONCE",
                )

    def _check_guardrails(self) -> None:
        """Canary and linear shifting need deployment guardrails, which Inf1 endpoints lack."""
        if self.mode != "provisioned" or self.traffic_routing == "ALL_AT_ONCE":
            return
        types = [("instance_type", self.instance_type)]
        if self.variants.second:
            types.append(("variants.instance_type", self.variants.instance_type))
        for field_name, instance_type in types:
            if instance_type is not None and NO_GUARDRAILS.match(instance_type):
                raise ArgsError(
                    field_name,
                    instance_type,
                    f"SageMaker's deployment guardrails exclude Inf1 instances: "
                    f"{self.traffic_routing} would fall back to all at once without baking; "
                    "use ALL_AT_ONCE or an Inf2 (ml.inf2.*) instance type",
                )

    def _check_deployment(self) -> None:
        waits = deployment_wait_seconds(
            traffic_routing=self.traffic_routing,
            bake_seconds=self.bake_seconds,
            termination_wait_seconds=self.termination_wait_seconds,
            linear_step_percent=self.linear_step_percent,
        )
        if waits + PROVISIONING_MARGIN_SECONDS > PROVIDER_WAIT_SECONDS:
            raise ArgsError(
                "bake_seconds",
                self.bake_seconds,
                f"the deployment's waits ({waits}s) plus {PROVISIONING_MARGIN_SECONDS}s to "
                f"provision must fit the provider's {PROVIDER_WAIT_SECONDS}s wait for InService",
            )
        if self.max_execution_seconds <= waits:
            raise ArgsError(
                "max_execution_seconds",
                self.max_execution_seconds,
                f"must exceed the deployment's waits ({waits}s)",
            )

    def _check_variants(self) -> None:
        variants = self.variants
        if variants.mode == "single":
            return
        if self.mode == "serverless":
            raise ArgsError(
                "variants.mode",
                variants.mode,
                "serverless endpoints serve one variant: A/B and shadow tests need "
                "mode=provisioned",
            )
        if variants.mode == "shadow" and self.data_capture_percent is None:
            raise ArgsError(
                "variants.mode",
                variants.mode,
                "a shadow variant's responses are only seen through data capture: set "
                "data_capture_percent",
            )
        if variants.model_data_key is not None:
            if not variants.model_data_key.startswith(f"{self.model_prefix}/"):
                raise ArgsError(
                    "variants.model_data_key",
                    variants.model_data_key,
                    f"must be under model_prefix '{self.model_prefix}/'",
                )
            if variants.model_data_key == self.model_data_key:
                raise ArgsError(
                    "variants.model_data_key",
                    variants.model_data_key,
                    "the second variant must serve another model than the champion",
                )
        champion = self.model_package_arn
        if (
            variants.model_package_arn is not None
            and is_known(champion)
            and variants.model_package_arn == champion
        ):
            raise ArgsError(
                "variants.model_package_arn",
                variants.model_package_arn,
                "the second variant must serve another model than the champion: to promote the "
                "challenger, remove variants (README: Promoting a challenger)",
            )
        if self.traffic_routing != "ALL_AT_ONCE" and variants.instance_count < 2:
            raise ArgsError(
                "variants.instance_count",
                variants.instance_count,
                f"{self.traffic_routing} shifts at most 50% of each variant's fleet first: run "
                "2 or more instances, or use ALL_AT_ONCE",
            )

    @property
    def network_isolation(self) -> bool:
        """Whether the container runs without network access."""
        if self.enable_network_isolation is None:
            return self.mode == "provisioned"
        return self.enable_network_isolation

    def _check_serverless(self) -> None:
        """Serverless Inference excludes data capture, GPUs, network isolation and VPCs
        (docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html, feature exclusions)."""
        if self.data_capture_percent is not None:
            raise ArgsError(
                "data_capture_percent",
                self.data_capture_percent,
                "serverless endpoints support no data capture; use mode=provisioned",
            )
        if self.min_instances is not None:
            raise ArgsError(
                "min_instances", self.min_instances, "serverless endpoints scale by concurrency"
            )
        if ACCELERATED.match(self.instance_type):
            raise ArgsError(
                "instance_type", self.instance_type, "serverless endpoints support no GPU instances"
            )
        if self.enable_network_isolation:
            raise ArgsError(
                "enable_network_isolation",
                True,
                "serverless endpoints support no network isolation",
            )
        if self.traffic_routing != "ALL_AT_ONCE":
            raise ArgsError(
                "traffic_routing",
                self.traffic_routing,
                "canary and linear shift instance capacity, which serverless endpoints do not "
                "have: use ALL_AT_ONCE",
            )


class ModelEndpoint(pulumi.ComponentResource):
    """A SageMaker endpoint released blue/green, rolled back by CloudWatch alarms by itself.

    A release (new image or model data) replaces the model and the always autonamed endpoint
    configuration; the endpoint then shifts traffic - by default a 5% canary, baked under the
    alarms, then the rest - and SageMaker rolls back when a 5XX-rate or p99-latency alarm
    fires. Replaced models and configurations are retained so a rollback has something to
    serve. Changing the set of rollback alarms replaces the endpoint (a short outage).

    Example::

        from mlops_platform.components import AlarmSubscription, ModelEndpoint, ModelEndpointArgs

        endpoint = ModelEndpoint(
            "churn",
            ModelEndpointArgs(
                image_uri="123456789012.dkr.ecr.eu-west-1.amazonaws.com/serving:v1.2.0",
                repository_arn="arn:aws:ecr:eu-west-1:123456789012:repository/serving",
                artifacts_bucket_arn="arn:aws:s3:::artifacts-1234567",
                kms_key_arn="arn:aws:kms:eu-west-1:123456789012:key/"
                "11111111-2222-4333-a444-555555555555",
                alarm_subscriptions=[AlarmSubscription(protocol="email", endpoint="oncall@x.io")],
            ),
        )
    """

    SECURE_DEFAULTS: ClassVar[tuple[SecureDefault, ...]] = (
        SecureDefault(
            "Release",
            "blue/green: 5% canary, 600 s bake, automatic rollback",
            "traffic_routing, canary_percent, bake_seconds",
        ),
        SecureDefault(
            "Rollback alarms",
            "5XX rate above 1%, p99 model latency above 1000 ms",
            "error_rate_percent, p99_latency_ms, client_error_rate_percent",
        ),
        SecureDefault(
            "Execution role",
            "pull one repository, read one model prefix, the key only via S3, its own logs",
            "model_prefix, iam_path, permissions_boundary_arn",
        ),
        SecureDefault(
            "Network isolation", "on (provisioned endpoints)", "enable_network_isolation"
        ),
        SecureDefault(
            "Encryption",
            "KMS on the storage volume (no local NVMe), data capture and the alarm topic",
            "kms_key_arn",
        ),
        SecureDefault("Data capture", "off", "data_capture_percent"),
        SecureDefault("Capacity", "2 instances (a canary needs 2+)", "instance_count"),
    )

    endpoint_name: pulumi.Output[str]
    """Physical endpoint name (stable across releases)."""
    endpoint_config_name: pulumi.Output[str]
    """The endpoint configuration this program deployed (``ops watch --expected-config``)."""
    alarm_names: list[str]
    """Names of the rollback alarms (known before deployment): the champion's, and with an A/B
    test the challenger's."""
    variant_names: list[str]
    """The production variants: ``[variant_name]``, or with an A/B test also ``challenger``."""
    shadow_variant_names: list[str]
    """``["shadow"]`` with a shadow test, else empty."""
    role_arn: pulumi.Output[str]
    """ARN of the SageMaker execution role."""
    topic_arn: pulumi.Output[str]
    """ARN of the SNS topic the alarms notify."""

    def __init__(
        self, name: str, args: ModelEndpointArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        endpoint_name = args.endpoint_name or name
        bucket_name = pulumi.Output.from_input(args.artifacts_bucket_arn).apply(
            lambda arn: arn.split(":::", 1)[1]
        )
        alarms = self._alarms(name, args, endpoint_name)
        role_policy = self._execution_role(name, args, endpoint_name)
        variants = self._models(name, args, endpoint_name, bucket_name, role_policy)
        self._configuration(name, args, endpoint_name, bucket_name, variants)
        self._endpoint(name, args, endpoint_name, alarms)
        self._autoscaling(name, args, endpoint_name)

        self.endpoint_name = self.endpoint.name
        # The configuration this program deployed, not the endpoint's read-back (which names the
        # old one after a rollback): ``ops watch --expected-config`` compares with it.
        self.endpoint_config_name = self.config.name
        self.role_arn = self.role.arn
        self.topic_arn = self.topic.arn
        self.register_outputs(
            {
                "endpointName": self.endpoint_name,
                "endpointConfigName": self.endpoint_config_name,
                "alarmNames": self.alarm_names,
                "variantNames": self.variant_names,
                "shadowVariantNames": self.shadow_variant_names,
                "roleArn": self.role_arn,
                "topicArn": self.topic_arn,
            }
        )

    def _alarms(
        self, name: str, args: ModelEndpointArgs, endpoint_name: str
    ) -> dict[str, aws.cloudwatch.MetricAlarm]:
        """The alarm topic and the variants' alarms. The champion's alarms keep their names; an
        A/B challenger's roll a deployment back too (a regression in either variant); a shadow's
        only notify (its responses reach no one)."""
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        variants = args.variants
        thresholds = {
            "error_rate_percent": args.error_rate_percent,
            "p99_latency_ms": args.p99_latency_ms,
            "client_error_rate_percent": args.client_error_rate_percent,
        }
        definitions = alarm_definitions(
            endpoint_name=endpoint_name, variant_name=args.variant_name, **thresholds
        )
        second = []
        if variants.second:
            second = alarm_definitions(
                endpoint_name=endpoint_name,
                variant_name=variants.second,
                name_prefix=f"{endpoint_name}-{variants.second}",
                **thresholds,
            )
        rollback = definitions + (second if variants.mode == "ab" else [])
        self.alarm_names = [d["name"] for d in rollback]

        self.topic = aws.sns.Topic(
            f"{name}-alarms", kms_master_key_id=args.kms_key_arn, tags=tags, opts=child
        )
        for index, sub in enumerate(args.alarm_subscriptions):
            aws.sns.TopicSubscription(
                f"{name}-alarms-{index}",
                topic=self.topic.arn,
                protocol=sub.protocol,
                endpoint=sub.endpoint,
                opts=child,
            )
        return {
            d["name"]: aws.cloudwatch.MetricAlarm(
                f"{name}-{d['name'].removeprefix(endpoint_name + '-')}",
                alarm_actions=[self.topic.arn],
                ok_actions=[self.topic.arn],
                tags=tags,
                opts=child,
                **d,
            )
            for d in definitions + second
        }

    def _execution_role(
        self, name: str, args: ModelEndpointArgs, endpoint_name: str
    ) -> aws.iam.RolePolicy:
        context = aws_context(self)
        capture = args.data_capture_percent is not None and args.mode == "provisioned"
        self.role, role_policy = sagemaker_role(
            f"{name}-execution",
            self,
            description=f"SageMaker execution role of the {endpoint_name} endpoint",
            account_id=context.account_id,
            policy=policy_document(
                execution_role_policy,
                partition=context.partition,
                account_id=context.account_id,
                region=context.region,
                repository_arn=args.repository_arn,
                bucket_arn=args.artifacts_bucket_arn,
                model_prefix=args.model_prefix,
                capture_prefix=args.capture_prefix if capture else None,
                kms_key_arn=args.kms_key_arn,
                alarm_names=self.alarm_names,
            ),
            tags=dict(args.tags),
            path=args.iam_path,
            permissions_boundary=args.permissions_boundary_arn,
        )
        return role_policy

    def _model(
        self,
        name: str,
        args: ModelEndpointArgs,
        *,
        package: pulumi.Input[str] | None,
        data_url: pulumi.Input[str],
        role_policy: aws.iam.RolePolicy,
    ) -> aws.sagemaker.Model:
        container: dict[str, Any] = {"image": args.image_uri, "mode": "SingleModel"}
        if package is not None:
            container = {"model_package_name": package}
        else:
            container["model_data_url"] = data_url
        if args.environment:  # alongside a model package too (ContainerDefinition.Environment)
            container["environment"] = dict(args.environment)
        return aws.sagemaker.Model(
            name,
            execution_role_arn=self.role.arn,
            primary_container=container,
            enable_network_isolation=args.network_isolation,
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(
                parent=self,
                # The role must be able to read the model before SageMaker validates it.
                depends_on=[role_policy],
                retain_on_delete=True,  # see the configuration
            ),
        )

    def _models(
        self,
        name: str,
        args: ModelEndpointArgs,
        endpoint_name: str,
        bucket_name: pulumi.Output[str],
        role_policy: aws.iam.RolePolicy,
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The champion's model (and an A/B challenger's or a shadow's): the production and the
        shadow variants of the configuration."""
        variants = args.variants

        def url(key: str) -> pulumi.Output[str]:
            return pulumi.Output.concat("s3://", bucket_name, "/", key)

        champion_key = args.model_data_key or f"{args.model_prefix}/{endpoint_name}/model.tar.gz"
        self.model = self._model(
            f"{name}-model",
            args,
            package=args.model_package_arn,
            data_url=url(champion_key),
            role_policy=role_policy,
        )
        variant: dict[str, Any] = {"variant_name": args.variant_name, "model_name": self.model.name}
        if args.mode == "provisioned":
            variant.update(
                instance_type=args.instance_type,
                initial_instance_count=args.instance_count,
                initial_variant_weight=variants.champion_weight if variants.mode == "ab" else 1.0,
            )
        else:
            variant["serverless_config"] = {
                "memory_size_in_mb": args.serverless_memory_mb,
                "max_concurrency": args.serverless_max_concurrency,
            }
        production, shadow = [variant], []
        self.second_model: aws.sagemaker.Model | None = None
        if variants.second:
            self.second_model = self._model(
                f"{name}-{variants.second}-model",
                args,
                package=variants.model_package_arn,
                data_url=url(variants.model_data_key or ""),
                role_policy=role_policy,
            )
            # A/B: the two weights share the traffic. Shadow: its weight relative to the
            # production variant's 1.0 is the share of requests copied to it.
            weight = (
                variants.challenger_weight
                if variants.mode == "ab"
                else variants.sampling_percent / 100
            )
            second = {
                "variant_name": variants.second,
                "model_name": self.second_model.name,
                "instance_type": variants.instance_type or args.instance_type,
                "initial_instance_count": variants.instance_count,
                "initial_variant_weight": weight,
            }
            (production if variants.mode == "ab" else shadow).append(second)
        self.variant_names = [v["variant_name"] for v in production]
        self.shadow_variant_names = [v["variant_name"] for v in shadow]
        return production, shadow

    def _configuration(
        self,
        name: str,
        args: ModelEndpointArgs,
        endpoint_name: str,
        bucket_name: pulumi.Output[str],
        variants: tuple[list[dict[str, Any]], list[dict[str, Any]]],
    ) -> None:
        production, shadow = variants
        provisioned = args.mode == "provisioned"
        config_args: dict[str, Any] = {}
        if shadow:
            config_args["shadow_production_variants"] = shadow
        instance_types = [v["instance_type"] for v in production + shadow if "instance_type" in v]
        if provisioned and not any(INSTANCE_STORAGE.match(t) for t in instance_types):
            # Storage-volume encryption; serverless endpoints have no volume, and instances
            # with local NVMe storage encrypt it in hardware (SageMaker then rejects a key for
            # the whole configuration).
            config_args["kms_key_arn"] = args.kms_key_arn
        if args.data_capture_percent is not None and provisioned:
            config_args["data_capture_config"] = {
                "enable_capture": True,
                "initial_sampling_percentage": args.data_capture_percent,
                "destination_s3_uri": pulumi.Output.concat(
                    "s3://", bucket_name, "/", args.capture_prefix, "/", endpoint_name
                ),
                "kms_key_id": args.kms_key_arn,
                "capture_options": [{"capture_mode": "Input"}, {"capture_mode": "Output"}],
                "capture_content_type_header": {"json_content_types": ["application/json"]},
            }
        # Never a fixed name: a configuration is immutable, every change must replace it.
        # Replaced models and configurations are retained (they cost nothing): when SageMaker
        # rolls a release back, the old ones serve again and must still exist.
        self.config = aws.sagemaker.EndpointConfiguration(
            f"{name}-config",
            production_variants=production,
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
            **config_args,
        )

    def _endpoint(
        self,
        name: str,
        args: ModelEndpointArgs,
        endpoint_name: str,
        alarms: Mapping[str, aws.cloudwatch.MetricAlarm],
    ) -> None:
        self.endpoint = aws.sagemaker.Endpoint(
            f"{name}-endpoint",
            name=endpoint_name,
            endpoint_config_name=self.config.name,
            deployment_config=deployment_config(
                traffic_routing=args.traffic_routing,
                canary_percent=args.canary_percent,
                linear_step_percent=args.linear_step_percent,
                bake_seconds=args.bake_seconds,
                termination_wait_seconds=args.termination_wait_seconds,
                max_execution_seconds=args.max_execution_seconds,
                rollback_alarm_names=self.alarm_names,
            ),
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(
                parent=self,
                # Rollback alarms must exist before a deployment can watch them.
                depends_on=[alarms[alarm] for alarm in self.alarm_names],
                # The provider replaces the endpoint when its rollback alarms change; with a
                # fixed name, the old one must go first.
                delete_before_replace=True,
            ),
        )

    def _autoscaling(self, name: str, args: ModelEndpointArgs, endpoint_name: str) -> None:
        """Target tracking on the champion's invocations per instance (a second variant keeps
        its fixed instance count)."""
        if args.mode != "provisioned" or args.min_instances is None:
            return
        resource_id = f"endpoint/{endpoint_name}/variant/{args.variant_name}"
        target = aws.appautoscaling.Target(
            f"{name}-scaling",
            service_namespace="sagemaker",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            resource_id=resource_id,
            min_capacity=args.min_instances,
            max_capacity=args.max_instances,
            # Deleting an endpoint deregisters its scaling target in AWS: when the endpoint is
            # replaced, its scaling must be registered again.
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[self.endpoint], replace_with=[self.endpoint]
            ),
        )
        aws.appautoscaling.Policy(
            f"{name}-invocations",
            policy_type="TargetTrackingScaling",
            service_namespace=target.service_namespace,
            scalable_dimension=target.scalable_dimension,
            resource_id=target.resource_id,
            target_tracking_scaling_policy_configuration={
                "target_value": float(args.target_invocations_per_instance),
                "predefined_metric_specification": {
                    "predefined_metric_type": "SageMakerVariantInvocationsPerInstance"
                },
                "scale_in_cooldown": 300,
                "scale_out_cooldown": 60,
            },
            opts=pulumi.ResourceOptions(parent=self, replace_with=[self.endpoint]),
        )


# --- ServingImage --------------------------------------------------------------------------------

DOCKER_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
Platform = Literal["linux/amd64", "linux/arm64"]
PLATFORMS = get_args(Platform)
DEFAULT_CONTEXT = str(Path(__file__).resolve().parents[1] / "serving")


@dataclass(frozen=True, kw_only=True)
class ServingImageArgs:
    """Arguments of :class:`ServingImage`."""

    repository_url: pulumi.Input[str]
    """ECR repository to push to (``<registry>/<name>``)."""
    tag: Annotated[str, Matches(DOCKER_TAG, "a Docker tag such as v1.2.0")]
    """Image tag: the release version, e.g. ``v1.2.0``."""
    context: Annotated[str, Field(min_length=1), Allowed("expected a directory path")] = (
        DEFAULT_CONTEXT
    )
    """Docker build context; the reference server in ``serving/`` by default."""
    dockerfile: str | None = None
    """Dockerfile path; ``<context>/Dockerfile`` by default."""
    platform: Platform = "linux/amd64"
    """Target platform: ``linux/amd64`` (most ml.* instances) or ``linux/arm64`` (Graviton)."""

    def __post_init__(self) -> None:
        check_declared(self)


class ServingImage(pulumi.ComponentResource):
    """Builds the serving image and pushes it to ECR, authenticated with a short-lived token.

    Needs a ``docker`` provider (and the ``aws`` one) in the options' providers. By default it
    builds the reference server shipped in this package (``serving/``); CI pipelines usually
    build and push the image themselves and pass its URI to :class:`ModelEndpoint` instead.

    Example::

        import pulumi
        import pulumi_docker as docker
        from mlops_platform.components import ServingImage, ServingImageArgs

        image = ServingImage(
            "serving-image",
            ServingImageArgs(
                repository_url="123456789012.dkr.ecr.eu-west-1.amazonaws.com/serving",
                tag="v1.2.0",
            ),
            pulumi.ResourceOptions(providers={"docker": docker.Provider("docker")}),
        )
    """

    SECURE_DEFAULTS: ClassVar[tuple[SecureDefault, ...]] = (
        SecureDefault(
            "Registry credentials",
            "a short-lived ECR token, kept as a secret in the state",
            "fixed",
        ),
        SecureDefault(
            "Image reference", "by digest, so a rebuild always means a new model", "fixed"
        ),
        SecureDefault("Platform", "``linux/amd64``", "platform"),
    )

    image_uri: pulumi.Output[str]
    """``<repository>@sha256:<digest>`` of the pushed image."""

    def __init__(
        self, name: str, args: ServingImageArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(IMAGE_TYPE, name, None, opts)
        registry = pulumi.Output.from_input(args.repository_url).apply(lambda u: u.split("/")[0])
        token = aws.ecr.get_authorization_token_output(
            registry_id=registry.apply(lambda r: r.split(".")[0]),
            opts=pulumi.InvokeOutputOptions(parent=self),
        )
        self.image = docker.Image(
            f"{name}-image",
            image_name=pulumi.Output.concat(args.repository_url, ":", args.tag),
            build={
                "context": args.context,
                "dockerfile": args.dockerfile or str(Path(args.context) / "Dockerfile"),
                "platform": args.platform,
            },
            registry={
                "server": registry,
                "username": token.user_name,
                "password": pulumi.Output.secret(token.password),
            },
            opts=pulumi.ResourceOptions(parent=self),
        )
        # The digest, not the tag: a new build always means a new SageMaker model.
        self.image_uri = self.image.repo_digest
        self.register_outputs({"imageUri": self.image_uri})
