"""Training pipelines on the cluster: ``Orchestrator`` (Argo Workflows) and one
``TrainingPipeline`` per model (a WorkflowTemplate, an optional CronWorkflow, its own IRSA role).

Every pipeline runs ``fetch`` (DVC pull of a git revision) -> ``validate-data`` (the team's
schema) -> ``train`` (the team's ``dvc repro``; on the GPU pool when asked) -> ``evaluate``
(metrics.json, the model packed for SageMaker) -> ``gate`` (against the champion: the newest
Approved package of the model's group) -> ``register`` (a PendingManualApproval package). The
steps are the ``python -m mlops_platform.ops`` commands (``ops/pipeline.py``, ``ops/gate.py``,
``ops/register.py``), so CI and people run exactly what the cluster runs.

Workflow specs are built with Hera's typed models (Argo's maintained Python SDK) and handed to a
``CustomResource`` as a dict; :func:`validate_manifest` checks them against those models and
:func:`check_cron` checks schedules the way Argo's cron parser (robfig/cron) reads them.

Chart values follow ``argo-workflows`` 1.0.18 (Argo Workflows v4.0.6) as read in
github.com/argoproj/argo-helm, ``charts/argo-workflows/values.yaml`` and templates
(``crds.yaml``, ``crds-install-job.yaml``, ``controller/workflow-controller-config-map.yaml``,
``server/server-deployment.yaml``).

The components create no provider: pass the cluster's Kubernetes provider (whose resources wait
for the nodes, see ``Cluster.provider``) and the AWS provider on the component.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal, get_args

import annotated_types
import pulumi
import pulumi_kubernetes as k8s
from pydantic import Field

from mlops_platform.components._aws import aws_context, policy_document, service_endpoint
from mlops_platform.components._docs import SecureDefault
from mlops_platform.components._k8s import bound_role, pinned_chart
from mlops_platform.components._names import (
    CRON_WORKFLOW_NAME,
    IAM_ROLE_NAME,
    K8S_NAME,
    PhysicalName,
)
from mlops_platform.components._schema import Allowed, Matches, between, check_declared
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
)
from mlops_platform.components.compute import (
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
from mlops_platform.components.registry import GROUP_NAME, PULL_ACTIONS
from mlops_platform.components.storage import dvc_access_policy

ORCHESTRATOR_TYPE = "mlops:pipelines:Orchestrator"
PIPELINE_TYPE = "mlops:pipelines:TrainingPipeline"

ARGO_CHART = "argo-workflows"
ARGO_REPOSITORY = "https://argoproj.github.io/argo-helm"
ARGO_CHART_VERSION = "1.0.18"
ARGO_API_VERSION = "argoproj.io/v1alpha1"
AuthMode = Literal["client", "sso"]
AUTH_MODES = get_args(AuthMode)
TemplateReferencing = Literal["Strict", "Secure"]
TEMPLATE_REFERENCING = get_args(TemplateReferencing)
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
Direction = Literal["max", "min"]
DIRECTIONS = get_args(Direction)
# Where a pipeline keeps its files in the artifacts bucket: intermediate artifacts (workspace,
# metrics) under pipelines/<model>/, the registered model under models/<model>/ (the only prefix
# the serving role may read).
PIPELINE_PREFIX = "pipelines"
MODEL_PREFIX = "models"
WORKDIR = "/work/repo"
OUTDIR = "/work/out"
OPS = ["python", "-m", "mlops_platform.ops"]
# The training image's user (examples/ml-project/training.Dockerfile), which the pods run as.
TRAINING_UID = 8737
# The train step's output parameter: the MLflow run the training logged (register records it).
RUN_ID = "mlflow-run-id"
RUN_ID_PATH = f"{OUTDIR}/mlflow-run-id"


def dvc_remote_url(bucket_arn: str, prefix: str) -> str:
    """The DVC remote URL of a bucket ARN (``arn:<partition>:s3:::<bucket>``) and key prefix."""
    return f"s3://{bucket_arn.split(':', 5)[5]}/{prefix}"


IMAGE = re.compile(r"^[\w.-]+(?::\d+)?/[\w./-]+(?::[\w.-]{1,128})?(?:@sha256:[0-9a-f]{64})?$")
GIT_URL = re.compile(r"^(?:https://[\w.-]+(?::\d+)?/[\w./~-]+|git@[\w.-]+:[\w./~-]+)$")
GIT_REVISION = re.compile(r"^[\w][\w./-]{0,254}$")
METRIC = re.compile(r"^[A-Za-z0-9_.:/=+@-]{1,100}$")
RELATIVE_PATH = re.compile(r"^(?!/)(?!.*(?:^|/)\.\.(?:/|$))[\w./-]+$")
IN_REPOSITORY = Matches(RELATIVE_PATH, "a path inside the repository")
NOT_NEGATIVE = Allowed("expected a number of 0 or more")
SUBJECT = re.compile(r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?):([a-z0-9][-a-z0-9.]{0,252})$")
TIMEZONE = re.compile(r"^(?:UTC|[A-Z][A-Za-z_]+(?:/[A-Z][A-Za-z0-9_+-]+){1,2})$")

# What a pipeline's role may do on its model's tracking server: log runs, nothing destructive.
MLFLOW_LOGGING_ACTIONS = tuple(
    f"sagemaker-mlflow:{action}"
    for action in (
        "CreateExperiment",
        "CreateRun",
        "FinalizeLoggedModel",
        "GetExperiment",
        "GetExperimentByName",
        "GetLoggedModel",
        "GetMetricHistory",
        "GetRun",
        "ListArtifacts",
        "LogBatch",
        "LogInputs",
        "LogLoggedModelParams",
        "LogMetric",
        "LogModel",
        "LogOutputs",
        "LogParam",
        "SearchExperiments",
        "SearchLoggedModels",
        "SearchRuns",
        "SetExperimentTag",
        "SetLoggedModelTags",
        "SetTag",
        "UpdateRun",
    )
)
ARTIFACT_WRITE_ACTIONS = ("s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject")


# --- cron (pure) ---------------------------------------------------------------------------------

CRON_DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
WEEKDAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
CRON_FIELDS = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, {m: i + 1 for i, m in enumerate(MONTHS)}),
    ("day of week", 0, 6, {d: i for i, d in enumerate(WEEKDAYS)}),
)
GO_DURATION = re.compile(r"^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$")


def _cron_value(text: str, low: int, high: int, names: Mapping[str, int]) -> int:
    value = names.get(text.upper()) if not text.isdigit() else int(text)
    if value is None or not low <= value <= high:
        raise ValueError(f"{text!r} is not in {low}-{high}")
    return value


def _cron_field(text: str, name: str, low: int, high: int, names: Mapping[str, int]) -> None:
    for part in text.split(","):
        if not part:
            raise ValueError(f"empty list item in the {name} field")
        span, _, step = part.partition("/")
        if "/" in part and (not step.isdigit() or int(step) < 1):
            raise ValueError(f"step {step!r} of the {name} field must be a positive number")
        if span in ("*", "?"):
            if span == "?" and name not in ("day of month", "day of week"):
                raise ValueError(f"'?' is allowed only in the day fields, not in {name}")
            continue
        first, dash, last = span.partition("-")
        try:
            start = _cron_value(first, low, high, names)
            end = _cron_value(last, low, high, names) if dash else start
        except ValueError as error:
            raise ValueError(f"{name} field: {error}") from None
        if end < start:
            raise ValueError(f"{name} field: range {span!r} runs backwards")


def check_cron(expression: str) -> None:
    """Raise ValueError when Argo's cron parser would reject ``expression``.

    Argo CronWorkflows parse schedules with robfig/cron's standard parser: five fields (minute,
    hour, day of month, month, day of week; ``*``, ``?`` in the day fields, lists, ranges,
    steps, month and day names), a descriptor (``@daily``, ``@hourly``, ...) or
    ``@every <duration>``; optionally prefixed by ``CRON_TZ=<zone>``. No seconds field, no
    ``L``, ``W`` or ``#``.
    """
    if not isinstance(expression, str) or not expression.strip():
        raise ValueError("expected a cron expression such as '0 3 * * *'")
    text = expression.strip()
    if text.startswith(("CRON_TZ=", "TZ=")):
        zone, _, text = text.partition(" ")
        if not TIMEZONE.match(zone.split("=", 1)[1]):
            raise ValueError(f"unknown time zone in {zone!r}")
    if text.startswith("@"):
        if text.startswith("@every "):
            duration = text.removeprefix("@every ").strip()
            if not GO_DURATION.match(duration):
                raise ValueError(f"@every takes a duration such as 1h30m, got {duration!r}")
            return
        if text not in CRON_DESCRIPTORS:
            raise ValueError(f"unknown descriptor {text!r}; expected one of {CRON_DESCRIPTORS}")
        return
    fields = text.split()
    if len(fields) != len(CRON_FIELDS):
        raise ValueError(
            f"expected 5 fields (minute hour day-of-month month day-of-week), got {len(fields)}"
        )
    for value, (name, low, high, names) in zip(fields, CRON_FIELDS, strict=True):
        _cron_field(value, name, low, high, names)


# --- manifests against Hera's typed models (pure) ------------------------------------------------


def _first_difference(given: Any, canonical: Any, path: str) -> str | None:
    if isinstance(given, Mapping) and isinstance(canonical, Mapping):
        for key in given:
            if key not in canonical:
                return f"{path}.{key}: not a field of the Argo schema"
            found = _first_difference(given[key], canonical[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(given, list) and isinstance(canonical, list) and len(given) == len(canonical):
        for index, (a, b) in enumerate(zip(given, canonical, strict=True)):
            found = _first_difference(a, b, f"{path}[{index}]")
            if found:
                return found
        return None
    return None if given == canonical else f"{path}: {given!r} is not valid here"


def validate_manifest(manifest: Mapping[str, Any]) -> None:
    """Raise ValueError unless ``manifest`` is a WorkflowTemplate or CronWorkflow that Hera's
    typed models (generated from Argo's OpenAPI schema) accept unchanged: every field known,
    every value of its type. CronWorkflow schedules are checked with :func:`check_cron`."""
    from hera.workflows import models
    from pydantic import ValidationError

    kinds = {"WorkflowTemplate": models.WorkflowTemplate, "CronWorkflow": models.CronWorkflow}
    kind = manifest.get("kind")
    if kind not in kinds:
        raise ValueError(f"kind: expected one of {', '.join(kinds)}, got {kind!r}")
    try:
        model = kinds[kind].model_validate(dict(manifest))
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"{kind} {where}: {first['msg']}") from None
    canonical = model.model_dump(by_alias=True, exclude_none=True, mode="json")
    problem = _first_difference(dict(manifest), canonical, kind)
    if problem:
        raise ValueError(problem)
    if kind == "CronWorkflow":
        spec = manifest.get("spec", {})
        for schedule in [spec.get("schedule"), *spec.get("schedules", [])]:
            if schedule is not None:
                check_cron(schedule)
        if not spec.get("schedule") and not spec.get("schedules"):
            raise ValueError("CronWorkflow spec: needs schedule or schedules")


# --- names and permissions (pure) ---------------------------------------------------------------


def template_name(model: str) -> str:
    """The WorkflowTemplate of a model's pipeline (what CI submits from)."""
    return f"{model}-training"


def service_account_name(model: str) -> str:
    """The service account a model's pipeline runs as."""
    return f"{model}-pipeline"


def cron_name(model: str) -> str:
    """The CronWorkflow of a model's scheduled retraining."""
    return f"{model}-retrain"


def physical_names(name: str, model: str) -> list[PhysicalName]:
    """Every physical name a :class:`TrainingPipeline` called ``name`` gives its children (with
    a schedule), each with its limit."""
    return [
        # ServiceAccountRole(f"{name}-role") names its IAM role f"{name}-role-role".
        PhysicalName("the pipeline's IAM role", f"{name}-role-role", IAM_ROLE_NAME),
        PhysicalName("the WorkflowTemplate", template_name(model), K8S_NAME, autonamed=False),
        PhysicalName("the CronWorkflow", cron_name(model), CRON_WORKFLOW_NAME, autonamed=False),
        PhysicalName("the model label", model, K8S_NAME, autonamed=False),
    ]


def pipeline_access_policy(
    *,
    partition: str,
    region: str,
    account_id: str,
    model: str,
    dvc_bucket_arn: str,
    dvc_prefix: str,
    artifacts_bucket_arn: str,
    kms_key_arn: str,
    model_package_group: str,
    auto_approve: bool,
    training_repository_arn: str | None = None,
    tracking_server_arn: str | None = None,
    mlflow_bucket_arn: str | None = None,
) -> dict[str, Any]:
    """What one model's pipeline may do, and nothing else: read the DVC remote; write its own
    prefixes of the artifacts bucket (``pipelines/<model>/``, ``models/<model>/``); log to the
    tracking server (and its artifact prefix); create packages in its own group (Approved ones
    only with ``auto_approve``); pull the training image."""
    dvc = dvc_access_policy(
        bucket_arn=dvc_bucket_arn,
        prefix=dvc_prefix,
        kms_key_arn=kms_key_arn,
        region=region,
        write=False,
    )
    statements = [{**s, "Sid": f"Dvc{s['Sid']}"} for s in dvc["Statement"]]
    statements = [s for s in statements if s["Sid"] != "DvcUseKeyThroughS3"]
    own = [f"{PIPELINE_PREFIX}/{model}/", f"{MODEL_PREFIX}/{model}/"]
    statements += [
        {
            "Sid": "ArtifactsListOwnPrefixes",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": artifacts_bucket_arn,
            "Condition": {"StringLike": {"s3:prefix": [f"{p}*" for p in own]}},
        },
        {
            "Sid": "ArtifactsOwnPrefixes",
            "Effect": "Allow",
            "Action": list(ARTIFACT_WRITE_ACTIONS),
            "Resource": [f"{artifacts_bucket_arn}/{p}*" for p in own],
        },
        {
            "Sid": "UseKeyThroughS3",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": kms_key_arn,
            "Condition": {"StringEquals": {"kms:ViaService": service_endpoint("s3", region)}},
        },
    ]
    base = f"arn:{partition}:sagemaker:{region}:{account_id}"
    packages = f"{base}:model-package/{model_package_group.lower()}/*"
    group = f"{base}:model-package-group/{model_package_group}"
    register: dict[str, Any] = {
        # The Service Authorization Reference lists both resource types for CreateModelPackage:
        # a versioned package is authorized on its group as well as on the package.
        "Sid": "RegisterInOwnGroup",
        "Effect": "Allow",
        "Action": "sagemaker:CreateModelPackage",
        "Resource": [packages, group],
    }
    if not auto_approve:
        register["Condition"] = {
            "StringEquals": {"sagemaker:ModelApprovalStatus": "PendingManualApproval"}
        }
    statements += [
        {
            # ListModelPackages has no resource-level permissions: it only lists summaries.
            "Sid": "ListPackages",
            "Effect": "Allow",
            "Action": "sagemaker:ListModelPackages",
            "Resource": "*",
        },
        {
            "Sid": "ReadOwnGroup",
            "Effect": "Allow",
            "Action": ["sagemaker:DescribeModelPackage", "sagemaker:DescribeModelPackageGroup"],
            "Resource": [packages, group],
        },
        register,
    ]
    if tracking_server_arn is not None:
        statements.append(
            {
                "Sid": "LogToTrackingServer",
                "Effect": "Allow",
                "Action": list(MLFLOW_LOGGING_ACTIONS),
                "Resource": tracking_server_arn,
            }
        )
    if mlflow_bucket_arn is not None:
        # The MLflow client uploads run artifacts (the model) straight to the server's store.
        statements += [
            {
                "Sid": "MlflowArtifactsList",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": mlflow_bucket_arn,
                "Condition": {"StringLike": {"s3:prefix": ["mlflow/*"]}},
            },
            {
                "Sid": "MlflowArtifacts",
                "Effect": "Allow",
                "Action": list(ARTIFACT_WRITE_ACTIONS),
                "Resource": f"{mlflow_bucket_arn}/mlflow/*",
            },
        ]
    if training_repository_arn is not None:
        statements += [
            {
                "Sid": "EcrLogin",
                "Effect": "Allow",
                "Action": "ecr:GetAuthorizationToken",
                "Resource": "*",
            },
            {
                "Sid": "PullTrainingImage",
                "Effect": "Allow",
                "Action": list(PULL_ACTIONS),
                "Resource": training_repository_arn,
            },
        ]
    return {"Version": "2012-10-17", "Statement": statements}


# --- Orchestrator --------------------------------------------------------------------------------


def orchestrator_values(
    *,
    artifacts_bucket: str,
    region: str,
    auth_mode: str,
    template_referencing: str | None,
    sso: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Values of the ``argo-workflows`` release (chart 1.0.18)."""
    values: dict[str, Any] = {
        # Minimal CRDs rendered from the chart's own files: the default ("full") installs them
        # with a pre-install Job that downloads them from GitHub at install time.
        "crds": {"install": True, "full": False, "keep": True},
        # Roles instead of ClusterRoles; controller and server run with --namespaced: they
        # watch the release's namespace (the pipelines namespace) only.
        "singleNamespace": True,
        "createAggregateRoles": False,
        # Service accounts and their executor RBAC are the pipelines' own.
        "workflow": {"serviceAccount": {"create": False}, "rbac": {"create": False}},
        "controller": {
            "nodeSelector": {POOL_LABEL: SYSTEM_POOL},
            "clusterWorkflowTemplates": {"enabled": False},
            "workflowDefaults": {
                "spec": {
                    "ttlStrategy": {"secondsAfterCompletion": 7 * 24 * 3600},
                    "podGC": {"strategy": "OnPodSuccess"},
                }
            },
        },
        "server": {
            "enabled": True,
            "serviceType": "ClusterIP",  # reached through the Kubernetes API (port-forward)
            "ingress": {"enabled": False},
            "httproute": {"enabled": False},
            "authModes": [auth_mode],
            "secure": True,
            "nodeSelector": {POOL_LABEL: SYSTEM_POOL},
            "clusterWorkflowTemplates": {"enabled": False},
        },
        # The artifacts bucket through IRSA: the workflow pods' own roles, no static keys.
        "useStaticCredentials": False,
        "artifactRepository": {
            "s3": {
                "bucket": artifacts_bucket,
                "endpoint": f"s3.{region}.amazonaws.com",
                "region": region,
                "insecure": False,
                "useSDKCreds": True,
                # Every pipeline artifact names its own key under pipelines/<model>/ or
                # models/<model>/ (the only prefixes its role may write); this is the
                # fallback Argo uses for an artifact without a key.
                "keyFormat": f"{PIPELINE_PREFIX}/{{{{workflow.name}}}}/{{{{pod.name}}}}",
            }
        },
    }
    if template_referencing is not None:
        values["controller"]["workflowRestrictions"] = {"templateReferencing": template_referencing}
    if auth_mode == "sso" and sso is not None:
        values["server"]["sso"] = {"enabled": True, **sso}
    return values


def submitter_policy(submitters: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """A ValidatingAdmissionPolicy spec: a Workflow created by one of the submitter service
    accounts (``namespace:name``) may only reference one of its WorkflowTemplates and pass
    arguments; no inline templates, images, service accounts or pod patches."""
    users = {f"system:serviceaccount:{s}": list(t) for s, t in submitters.items()}
    allowed = "{" + ", ".join(f"'{u}': {sorted(t)!r}" for u, t in sorted(users.items())) + "}"
    return {
        "failurePolicy": "Fail",
        "matchConstraints": {
            "resourceRules": [
                {
                    "apiGroups": ["argoproj.io"],
                    "apiVersions": ["*"],
                    "operations": ["CREATE", "UPDATE"],
                    "resources": ["workflows"],
                }
            ]
        },
        "matchConditions": [
            {"name": "submitters", "expression": f"request.userInfo.username in {sorted(users)!r}"}
        ],
        "validations": [
            {
                "expression": "object.spec.all(k, k in ['workflowTemplateRef', 'arguments'])",
                "message": "pipeline submitters may only set workflowTemplateRef and arguments",
            },
            {
                "expression": (
                    "has(object.spec.workflowTemplateRef) && "
                    "!has(object.spec.workflowTemplateRef.clusterScope) && "
                    f"object.spec.workflowTemplateRef.name in {allowed}[request.userInfo.username]"
                ),
                "message": "this service account may submit only its models' WorkflowTemplates",
            },
        ],
    }


@dataclass(frozen=True, kw_only=True)
class OrchestratorArgs:
    """Arguments of :class:`Orchestrator`."""

    artifacts_bucket: pulumi.Input[str]
    """Name of the artifacts bucket: Argo's default artifact repository (through IRSA)."""
    namespace: Annotated[str, Matches(K8S_LABEL, "a Kubernetes namespace")] = "pipelines"
    """The pipelines namespace: the controller, the server and every workflow live here."""
    chart_version: Annotated[str, Matches(CHART_VERSION, "a chart version")] = ARGO_CHART_VERSION
    """Version of the ``argo-workflows`` chart."""
    auth_mode: AuthMode = "client"
    """How the Argo server authenticates: ``client`` (your Kubernetes token) or ``sso``."""
    sso: Mapping[str, Any] | None = None
    """The chart's ``server.sso`` block (issuer, clientId/clientSecret secret refs,
    redirectUrl, rbac); required with ``auth_mode="sso"``."""
    template_referencing: TemplateReferencing | None = "Strict"
    """``Strict``: the controller runs only Workflows that reference a WorkflowTemplate;
    ``Secure``: and only templates unchanged since the Workflow was created; ``None``: any."""
    submitters: Annotated[
        Mapping[
            Annotated[str, Matches(SUBJECT, "namespace:serviceaccount")],
            Annotated[
                Sequence[Annotated[str, Matches(K8S_SUBDOMAIN, "template names")]],
                Field(min_length=1),
                Allowed("expected template names"),
            ],
        ],
        Allowed("expected a map of namespace:name"),
    ] = field(default_factory=dict)
    """Service accounts (``namespace:name``, e.g. the CI runners') that may submit Workflows,
    each with the WorkflowTemplates it may submit from; nothing else is allowed to them."""

    def __post_init__(self) -> None:
        check_declared(self)
        if self.auth_mode == "sso" and self.sso is None:
            raise ArgsError("sso", self.sso, "required with auth_mode sso (the chart's server.sso)")


class Orchestrator(pulumi.ComponentResource):
    """Argo Workflows on the cluster, from its official Helm chart, for training pipelines.

    The controller and server watch only the pipelines namespace; the server has no ingress
    (reach it with ``kubectl -n pipelines port-forward svc/<release>-server 2746``) and takes
    your Kubernetes token (``client``) or SSO; artifacts go to the artifacts bucket with the
    workflow pods' IRSA credentials. Pass the cluster's Kubernetes and AWS providers.

    Example::

        import pulumi
        import pulumi_kubernetes as k8s
        from mlops_platform.components import Orchestrator, OrchestratorArgs

        cluster = k8s.Provider("k8s", kubeconfig="~/.kube/config")  # e.g. Cluster.provider
        argo = Orchestrator(
            "pipelines",
            OrchestratorArgs(
                artifacts_bucket="my-artifacts-bucket",
                submitters={"arc-runners:github-runner": ["churn-training"]},
            ),
            pulumi.ResourceOptions(providers={"kubernetes": cluster}),
        )
        pulumi.export("pipelinesNamespace", argo.namespace)
    """

    SECURE_DEFAULTS: ClassVar[tuple[SecureDefault, ...]] = (
        SecureDefault("CRDs", "rendered from the chart (nothing downloaded at install)", "fixed"),
        SecureDefault("Scope", "controller and server watch the pipelines namespace only", "fixed"),
        SecureDefault(
            "Argo server", "ClusterIP, no ingress, TLS, client-token auth", "auth_mode (sso)"
        ),
        SecureDefault(
            "Workflows",
            "only from a WorkflowTemplate (templateReferencing Strict)",
            "template_referencing",
        ),
        SecureDefault("Artifacts", "the artifacts bucket through IRSA, no static keys", "fixed"),
        SecureDefault(
            "Submitters",
            "none; each one limited to its templates by an admission policy",
            "submitters",
        ),
    )

    namespace: pulumi.Output[str]
    """The pipelines namespace, once the chart (and its CRDs) is installed."""
    release_name: pulumi.Output[str]
    """Name of the Helm release."""

    def __init__(
        self, name: str, args: OrchestratorArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(ORCHESTRATOR_TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        ns = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata={"name": args.namespace, "labels": {"mlops-platform/pipelines": "true"}},
            opts=child,
        )
        region = aws_context(self).region
        values = pulumi.Output.all(bucket=args.artifacts_bucket, region=region).apply(
            lambda v: orchestrator_values(
                artifacts_bucket=v["bucket"],
                region=v["region"],
                auth_mode=args.auth_mode,
                template_referencing=args.template_referencing,
                sso=args.sso,
            )
        )
        self.release = pinned_chart(
            f"{name}-argo",
            chart=ARGO_CHART,
            version=args.chart_version,
            repository=ARGO_REPOSITORY,
            namespace=ns.metadata.name,
            values=values,
            opts=child,
        )
        # Resources of the pipelines wait for the chart: its CRDs define their kinds.
        self.namespace = pulumi.Output.all(ns.metadata.name, self.release.status).apply(
            lambda v: v[0]
        )
        self.release_name = self.release.name
        self._submitters(name, args)
        self.register_outputs({"namespace": self.namespace, "releaseName": self.release_name})

    def _submitters(self, name: str, args: OrchestratorArgs) -> None:
        """RBAC for each submitter: create Workflows and follow them in the pipelines
        namespace; the admission policy keeps them to their templates."""
        if not args.submitters:
            return
        child = pulumi.ResourceOptions(parent=self)
        templates = sorted({t for ts in args.submitters.values() for t in ts})
        bound_role(
            f"{name}-submit",
            self.namespace,
            [
                {
                    "api_groups": ["argoproj.io"],
                    "resources": ["workflows"],
                    "verbs": ["create", "get", "list", "watch"],
                },
                {
                    "api_groups": ["argoproj.io"],
                    "resources": ["workflowtemplates"],
                    "resource_names": templates,
                    "verbs": ["get"],
                },
                {"api_groups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list"]},
            ],
            (tuple(s.split(":", 1)) for s in sorted(args.submitters)),
            child,
        )
        policy = k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
            f"{name}-submitters",
            spec=submitter_policy(args.submitters),
            opts=child,
        )
        k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
            f"{name}-submitters-binding",
            spec={
                "policy_name": policy.metadata.name,
                "validation_actions": ["Deny"],
                "match_resources": {
                    "namespace_selector": {
                        "match_labels": {"kubernetes.io/metadata.name": args.namespace}
                    }
                },
            },
            opts=child,
        )


# --- TrainingPipeline ----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class GateSettings:
    """How a candidate is compared with the champion (``python -m ops gate``)."""

    metric: Annotated[str, Matches(METRIC, "a metric name")]
    """The metric that decides; the evaluation must produce it (``metrics``)."""
    direction: Direction = "max"
    """``max`` (higher is better) or ``min``."""
    min_improvement: Annotated[float, annotated_types.Ge(0), NOT_NEGATIVE] = 0.0
    """Smallest improvement over the champion, in the metric's units (0 or more)."""
    min_relative_improvement: Annotated[float, annotated_types.Ge(0), NOT_NEGATIVE] = 0.0
    """Smallest improvement as a fraction of the champion's value (0 or more)."""
    floor: float | None = None
    """Hard bound: at least this (``max``) or at most this (``min``), champion or not."""

    def check(self, where: str, metrics: Sequence[str]) -> None:
        check_declared(self, where)
        if self.metric not in metrics:
            raise ArgsError(
                f"{where}.metric",
                self.metric,
                f"the evaluation does not produce it (metrics: {', '.join(metrics)})",
            )

    def arguments(self) -> list[str]:
        """The ``ops gate`` options for these settings."""
        argv = ["--metric", self.metric, "--direction", self.direction]
        if self.min_improvement:
            argv += ["--min-improvement", repr(float(self.min_improvement))]
        if self.min_relative_improvement:
            argv += ["--min-relative-improvement", repr(float(self.min_relative_improvement))]
        if self.floor is not None:
            argv += ["--floor", repr(float(self.floor))]
        return argv


@dataclass(frozen=True, kw_only=True)
class TrainingPipelineArgs:
    """Arguments of :class:`TrainingPipeline`."""

    model: Annotated[str, Matches(K8S_LABEL, "a slug of a-z, 0-9 and -")]
    """The model (a slug); its WorkflowTemplate is ``<model>-training``."""
    oidc_provider_arn: Annotated[
        pulumi.Input[str], Matches(OIDC_PROVIDER_ARN, "an OIDC provider ARN")
    ]
    """ARN of the cluster's IAM OIDC provider (``Cluster.oidc_provider_arn``)."""
    oidc_issuer: pulumi.Input[str]
    """The cluster's OIDC issuer URL (``Cluster.oidc_issuer``)."""
    repository_url: Annotated[str, Matches(GIT_URL, "an https:// or git@ URL")]
    """The model's git repository (``https://...`` or ``git@host:org/repo``)."""
    image: Annotated[pulumi.Input[str], Matches(IMAGE, "an image URI")]
    """The training image: Python with DVC, the team's tools and the platform library."""
    serving_image: Annotated[pulumi.Input[str], Matches(IMAGE, "an image URI")]
    """The inference image registered with each package (the serving repository's)."""
    model_package_group: Annotated[str, Matches(GROUP_NAME, "a group name")]
    """The model's SageMaker model package group."""
    gate: GateSettings
    """How a candidate is compared with the champion."""
    metrics: Annotated[
        Sequence[Annotated[str, Matches(METRIC, "metric names")]],
        Field(min_length=1),
        Allowed("expected a non-empty list of metric names"),
    ]
    """Metrics the evaluation produces in ``metrics_path``; a run missing one fails."""
    dvc_bucket_arn: pulumi.Input[str]
    """The DVC remote's bucket (read only)."""
    artifacts_bucket: pulumi.Input[str]
    """Name of the artifacts bucket."""
    artifacts_bucket_arn: pulumi.Input[str]
    """ARN of the artifacts bucket (the pipeline writes its own prefixes)."""
    kms_key_arn: Annotated[pulumi.Input[str], KMS_KEY]
    """The key of the DVC, artifacts and MLflow buckets (used through S3 only)."""
    namespace: Annotated[str, Matches(K8S_LABEL, "a Kubernetes namespace")] = "pipelines"
    """The pipelines namespace (``OrchestratorArgs.namespace``)."""
    orchestrator: pulumi.Resource | None = None
    """The :class:`Orchestrator`: the pipeline's Kubernetes resources wait for it (its chart
    defines the WorkflowTemplate and CronWorkflow kinds)."""
    dvc_prefix: Annotated[str, Matches(KEY_PREFIX, "a key prefix")] = "dvc"
    """Key prefix of the DVC remote."""
    training_repository_arn: pulumi.Input[str] | None = None
    """ECR repository of the training image (the role may pull it)."""
    tracking_server_arn: pulumi.Input[str] | None = None
    """The MLflow tracking server every run logs to (``MLFLOW_TRACKING_URI``)."""
    mlflow_bucket_arn: pulumi.Input[str] | None = None
    """The tracking server's artifact bucket (the client uploads the model there)."""
    default_revision: Annotated[str, Matches(GIT_REVISION, "a git revision")] = "main"
    """Git revision a run trains when none is given."""
    git_credentials_secret: Annotated[str | None, Matches(K8S_SUBDOMAIN, "a name")] = None
    """Secret (keys ``username``, ``password``) for cloning a private HTTPS repository."""
    data_path: Annotated[str, IN_REPOSITORY] = "data/train.csv"
    """The data set ``validate-data`` checks, relative to the repository."""
    schema_path: Annotated[str, IN_REPOSITORY] = "data/schema.yaml"
    """The team's data schema, relative to the repository."""
    metrics_path: Annotated[str, IN_REPOSITORY] = "metrics.json"
    """Where ``dvc repro`` writes the metrics."""
    model_dir: Annotated[str, IN_REPOSITORY] = "model"
    """The model directory ``dvc repro`` writes (packed as ``model.tar.gz``)."""
    gpu: bool = False
    """Train on the GPU pool (node selector, NVIDIA taint toleration, GPU limit)."""
    gpus: Annotated[int, between(1, 8)] = 1
    """GPUs of the train step when ``gpu`` (1-8)."""
    cpu: Annotated[str, Matches(CPU_QUANTITY, "a CPU quantity such as 500m or 2")] = "2"
    """CPU request of the train step."""
    memory: Annotated[str, Matches(MEMORY_QUANTITY, "a quantity such as 8Gi")] = "8Gi"
    """Memory request and limit of the train step."""
    schedule: str | None = None
    """Cron schedule (Argo's syntax) of a CronWorkflow; none by default."""
    timezone: Annotated[str, Matches(TIMEZONE, "an IANA time zone such as UTC")] = "UTC"
    """Time zone of the schedule."""
    auto_approve: bool = False
    """Register packages as Approved (dev only: the stack rejects it in prod)."""
    timeout_seconds: Annotated[int, between(600, 7 * 24 * 3600)] = 6 * 3600
    """Longest a run may take (600 s - 7 days)."""
    iam_path: Annotated[str, IAM_PATH_NAME] = "/"
    """IAM path of the role."""
    permissions_boundary_arn: Annotated[pulumi.Input[str] | None, POLICY_ARN] = None
    """Permissions boundary of the role."""
    tags: Tags = field(default_factory=dict)
    """Tags of the AWS resources."""

    def __post_init__(self) -> None:
        check_declared(self)
        if len(template_name(self.model)) > 63:
            raise ArgsError("model", self.model, "at most 54 characters")
        self.gate.check("gate", list(self.metrics))
        if self.schedule is not None:
            try:
                check_cron(self.schedule)
            except ValueError as error:
                raise ArgsError("schedule", self.schedule, str(error)) from None


def _gpu_scheduling(args: TrainingPipelineArgs) -> dict[str, Any]:
    if not args.gpu:
        return {"node_selector": {POOL_LABEL: RUNNER_POOL}}
    from hera.workflows import models as m

    return {
        "node_selector": {POOL_LABEL: GPU_POOL},
        "tolerations": [m.Toleration(**toleration(GPU_TAINT))],
    }


def workflow_template(
    args: TrainingPipelineArgs,
    *,
    image: str,
    serving_image: str,
    artifacts_bucket: str,
    tracking_uri: str | None,
    dvc_remote_url: str | None = None,
) -> dict[str, Any]:
    """The model's WorkflowTemplate (a dict, built with Hera's typed models).

    ``dvc_remote_url`` is the stack's DVC remote: ``fetch`` pulls from it whatever remote the
    repository's committed ``.dvc/config`` names (the role may read only this one)."""
    from hera.workflows import (
        DAG,
        Container,
        GitArtifact,
        Parameter,
        Resources,
        S3Artifact,
        WorkflowTemplate,
    )
    from hera.workflows import models as m

    model = args.model
    run_key = "{{workflow.name}}"
    model_key = f"{MODEL_PREFIX}/{model}/{run_key}/model.tar.gz"

    def s3(name: str, path: str, key: str, *, archive: bool = True) -> S3Artifact:
        return S3Artifact(
            name=name,
            path=path,
            key=key,
            archive=None if archive else m.ArchiveStrategy(none=m.NoneStrategy()),
        )

    workspace_key = f"{PIPELINE_PREFIX}/{model}/{run_key}"
    env = [m.EnvVar(name="DVC_NO_ANALYTICS", value="1")]
    if tracking_uri:
        env += [
            m.EnvVar(name="MLFLOW_TRACKING_URI", value=tracking_uri),
            m.EnvVar(name="MLFLOW_EXPERIMENT_NAME", value=model),
        ]
    small = Resources(cpu_request="500m", memory_request="1Gi", memory_limit="1Gi")
    train_requirements = Resources(
        cpu_request=args.cpu,
        memory_request=args.memory,
        memory_limit=args.memory,
        gpus=args.gpus if args.gpu else None,
        gpu_flag=GPU_RESOURCE,
    )
    cpu_pool = {"node_selector": {POOL_LABEL: RUNNER_POOL}}
    git = GitArtifact(
        name="source",
        path=WORKDIR,
        repo=args.repository_url,
        revision="{{workflow.parameters.revision}}",
        username_secret=m.SecretKeySelector(name=args.git_credentials_secret, key="username")
        if args.git_credentials_secret
        else None,
        password_secret=m.SecretKeySelector(name=args.git_credentials_secret, key="password")
        if args.git_credentials_secret
        else None,
    )
    with WorkflowTemplate(
        name=template_name(model),
        entrypoint="pipeline",
        service_account_name=service_account_name(model),
        arguments=[Parameter(name="revision", value=args.default_revision)],
        active_deadline_seconds=args.timeout_seconds,
        workflow_metadata=m.WorkflowMetadata(labels={"mlops-platform/model": model}),
        pod_metadata=m.Metadata(labels={"mlops-platform/model": model}),
        # Pod-wide, so that Argo's init container checks the git artifact out as the user the
        # steps run as (the training image's; a root-owned checkout is read-only to them:
        # argoproj/argo-workflows#11376). 8737 is the UID Argo's documentation gives workflows.
        security_context=m.PodSecurityContext(
            run_as_non_root=True,
            run_as_user=TRAINING_UID,
            run_as_group=TRAINING_UID,
            fs_group=TRAINING_UID,
            seccomp_profile=m.SeccompProfile(type="RuntimeDefault"),
        ),
    ) as template:
        fetch = Container(
            name="fetch",
            image=image,
            command=OPS,
            args=[
                "fetch",
                "--workdir",
                WORKDIR,
                "--revision-file",
                f"{OUTDIR}/revision",
                *(["--remote-url", dvc_remote_url] if dvc_remote_url else []),
            ],
            working_dir=WORKDIR,
            env=env,
            resources=small,
            inputs=[git],
            outputs=[
                s3("workspace", WORKDIR, f"{workspace_key}/fetched.tgz"),
                Parameter(name="revision", value_from=m.ValueFrom(path=f"{OUTDIR}/revision")),
            ],
            retry_strategy=m.RetryStrategy(limit="2", retry_policy="OnError"),
            **cpu_pool,
        )
        validate = Container(
            name="validate-data",
            image=image,
            command=OPS,
            args=["validate-data", "--schema", args.schema_path, "--data", args.data_path],
            working_dir=WORKDIR,
            env=env,
            resources=small,
            inputs=[s3("workspace", WORKDIR, f"{workspace_key}/fetched.tgz")],
            **cpu_pool,
        )
        # With a tracking server, the training code writes the id of its MLflow run to
        # $MLOPS_MLFLOW_RUN_ID_FILE; register records it with the package (mlflow.run_id).
        run_id = (
            [Parameter(name=RUN_ID, value_from=m.ValueFrom(path=RUN_ID_PATH, default=""))]
            if tracking_uri
            else []
        )
        train = Container(
            name="train",
            image=image,
            command=OPS,
            args=[
                "train",
                "--workdir",
                WORKDIR,
                *(["--run-id-file", RUN_ID_PATH] if tracking_uri else []),
            ],
            working_dir=WORKDIR,
            env=env,
            resources=train_requirements,
            inputs=[s3("workspace", WORKDIR, f"{workspace_key}/fetched.tgz")],
            outputs=[s3("workspace", WORKDIR, f"{workspace_key}/trained.tgz"), *run_id],
            **_gpu_scheduling(args),
        )
        evaluate = Container(
            name="evaluate",
            image=image,
            command=OPS,
            args=[
                "evaluate",
                "--metrics",
                args.metrics_path,
                "--model-dir",
                args.model_dir,
                "--require",
                ",".join(args.metrics),
                "--out",
                f"{OUTDIR}/model.tar.gz",
                "--metrics-out",
                f"{OUTDIR}/metrics.json",
            ],
            working_dir=WORKDIR,
            env=env,
            resources=small,
            inputs=[s3("workspace", WORKDIR, f"{workspace_key}/trained.tgz")],
            outputs=[
                s3("model", f"{OUTDIR}/model.tar.gz", model_key, archive=False),
                s3(
                    "metrics",
                    f"{OUTDIR}/metrics.json",
                    f"{workspace_key}/metrics.json",
                    archive=False,
                ),
            ],
            **cpu_pool,
        )
        metrics_in = s3(
            "metrics", f"{OUTDIR}/metrics.json", f"{workspace_key}/metrics.json", archive=False
        )
        gate = Container(
            name="gate",
            image=image,
            command=OPS,
            args=[
                "gate",
                "--group",
                args.model_package_group,
                "--metrics",
                f"{OUTDIR}/metrics.json",
                *args.gate.arguments(),
            ],
            resources=small,
            inputs=[metrics_in],
            **cpu_pool,
        )
        register_args = [
            "register",
            "--group",
            args.model_package_group,
            "--model-data",
            f"s3://{artifacts_bucket}/{model_key}",
            "--image",
            serving_image,
            "--metrics",
            f"{OUTDIR}/metrics.json",
            "--code-revision",
            "{{inputs.parameters.revision}}",
            "--data-revision",
            "{{inputs.parameters.revision}}",
            "--repository",
            args.repository_url,
            "--generated-by",
            "{{workflow.name}}",
        ]
        if tracking_uri:
            register_args += ["--mlflow-run-id", f"{{{{inputs.parameters.{RUN_ID}}}}}"]
        if args.auto_approve:
            register_args.append("--approve")
        register = Container(
            name="register",
            image=image,
            command=OPS,
            args=register_args,
            resources=small,
            inputs=[
                metrics_in,
                Parameter(name="revision"),
                *([Parameter(name=RUN_ID)] if tracking_uri else []),
            ],
            **cpu_pool,
        )
        with DAG(name="pipeline"):
            t_fetch = fetch(name="fetch")
            t_validate = validate(
                name="validate-data",
                arguments=[t_fetch.get_artifact("workspace").with_name("workspace")],
            )
            t_train = train(
                name="train", arguments=[t_fetch.get_artifact("workspace").with_name("workspace")]
            )
            t_evaluate = evaluate(
                name="evaluate",
                arguments=[t_train.get_artifact("workspace").with_name("workspace")],
            )
            t_gate = gate(
                name="gate", arguments=[t_evaluate.get_artifact("metrics").with_name("metrics")]
            )
            t_register = register(
                name="register",
                arguments=[
                    t_evaluate.get_artifact("metrics").with_name("metrics"),
                    t_fetch.get_parameter("revision").with_name("revision"),
                    *([t_train.get_parameter(RUN_ID).with_name(RUN_ID)] if tracking_uri else []),
                ],
            )
            t_fetch >> t_validate >> t_train >> t_evaluate >> t_gate >> t_register
    return template.to_dict()


def cron_workflow(args: TrainingPipelineArgs) -> dict[str, Any]:
    """The model's CronWorkflow: runs the WorkflowTemplate on ``schedule`` (default revision)."""
    from hera.workflows import CronWorkflow
    from hera.workflows import models as m

    assert args.schedule is not None
    cron = CronWorkflow(
        name=cron_name(args.model),
        schedules=[args.schedule],
        timezone=args.timezone,
        concurrency_policy="Forbid",
        starting_deadline_seconds=3600,
        successful_jobs_history_limit=3,
        failed_jobs_history_limit=3,
        workflow_template_ref=m.WorkflowTemplateRef(name=template_name(args.model)),
        workflow_metadata=m.WorkflowMetadata(labels={"mlops-platform/model": args.model}),
    )
    return cron.to_dict()


class TrainingPipeline(pulumi.ComponentResource):
    """One model's training pipeline: its WorkflowTemplate, an optional CronWorkflow, and the
    service account and IRSA role it runs as.

    A run: ``argo submit -n pipelines --from workflowtemplate/<model>-training -p revision=<sha>``
    (CI does this on a data or code change; the CronWorkflow on a schedule). Pass the cluster's
    Kubernetes and AWS providers.

    Example::

        import pulumi
        import pulumi_kubernetes as k8s
        from mlops_platform.components import GateSettings, TrainingPipeline, TrainingPipelineArgs

        cluster = k8s.Provider("k8s", kubeconfig="~/.kube/config")  # e.g. Cluster.provider
        pipeline = TrainingPipeline(
            "churn-pipeline",
            TrainingPipelineArgs(
                model="churn",
                namespace="pipelines",  # e.g. Orchestrator.namespace
                oidc_provider_arn="arn:aws:iam::123456789012:oidc-provider/"
                "oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE",
                oidc_issuer="https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE",
                repository_url="https://github.com/my-org/churn.git",
                image="123456789012.dkr.ecr.eu-west-1.amazonaws.com/training:v1",
                serving_image="123456789012.dkr.ecr.eu-west-1.amazonaws.com/serving:v1",
                model_package_group="mlops-platform-prod-churn",
                metrics=["test_accuracy"],
                gate=GateSettings(metric="test_accuracy", min_improvement=0.005),
                dvc_bucket_arn="arn:aws:s3:::my-dvc-bucket",
                artifacts_bucket="my-artifacts-bucket",
                artifacts_bucket_arn="arn:aws:s3:::my-artifacts-bucket",
                kms_key_arn="arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                schedule="0 3 * * 1",
            ),
            pulumi.ResourceOptions(providers={"kubernetes": cluster}),
        )
        pulumi.export("churnTemplate", pipeline.template_name)
    """

    SECURE_DEFAULTS: ClassVar[tuple[SecureDefault, ...]] = (
        SecureDefault(
            "AWS access",
            "its own IRSA role: read DVC, write its own artifact prefixes, log to MLflow, "
            "create packages in its group, pull the training image",
            "fixed",
        ),
        SecureDefault(
            "Registration",
            "PendingManualApproval, enforced in IAM (sagemaker:ModelApprovalStatus)",
            "auto_approve (not in prod)",
        ),
        SecureDefault(
            "Gate", "a worse model or broken data never reaches the registry", "gate, metrics"
        ),
        SecureDefault("Kubernetes API", "the executor may only report task results", "fixed"),
        SecureDefault("Schedule", "none (runs on CI's submission only)", "schedule"),
    )

    template_name: str
    """Name of the WorkflowTemplate (known before deployment)."""
    service_account: str
    """Name of the service account the pipeline runs as."""
    role_arn: pulumi.Output[str]
    """ARN of the pipeline's IRSA role."""

    def __init__(
        self, name: str, args: TrainingPipelineArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(PIPELINE_TYPE, name, None, opts)
        wait = [args.orchestrator] if args.orchestrator is not None else []
        child = pulumi.ResourceOptions(parent=self, depends_on=wait)
        self.template_name = template_name(args.model)
        self.service_account = service_account_name(args.model)
        self.role = self._role(name, args)
        account = k8s.core.v1.ServiceAccount(
            f"{name}-service-account",
            metadata={
                "name": self.service_account,
                "namespace": args.namespace,
                "annotations": {IRSA_ANNOTATION: self.role.role_arn},
            },
            # The Argo executor reports task results through the Kubernetes API.
            automount_service_account_token=True,
            opts=child,
        )
        self._executor_rbac(name, args, child)
        spec = pulumi.Output.all(
            image=args.image,
            serving=args.serving_image,
            bucket=args.artifacts_bucket,
            tracking=args.tracking_server_arn,
            dvc_bucket_arn=args.dvc_bucket_arn,
        ).apply(
            lambda v: _checked(
                workflow_template(
                    args,
                    image=v["image"],
                    serving_image=v["serving"],
                    artifacts_bucket=v["bucket"],
                    tracking_uri=v["tracking"],
                    dvc_remote_url=dvc_remote_url(v["dvc_bucket_arn"], args.dvc_prefix),
                )
            )["spec"]
        )
        labels = {"mlops-platform/model": args.model}
        self.template = k8s.apiextensions.CustomResource(
            f"{name}-template",
            api_version=ARGO_API_VERSION,
            kind="WorkflowTemplate",
            metadata={"name": self.template_name, "namespace": args.namespace, "labels": labels},
            spec=spec,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*wait, account]),
        )
        self.cron = None
        if args.schedule is not None:
            self.cron = k8s.apiextensions.CustomResource(
                f"{name}-cron",
                api_version=ARGO_API_VERSION,
                kind="CronWorkflow",
                metadata={
                    "name": cron_name(args.model),
                    "namespace": args.namespace,
                    "labels": labels,
                },
                spec=_checked(cron_workflow(args))["spec"],
                opts=pulumi.ResourceOptions(parent=self, depends_on=[*wait, self.template]),
            )
        self.role_arn = self.role.role_arn
        self.register_outputs(
            {
                "templateName": self.template_name,
                "serviceAccount": self.service_account,
                "roleArn": self.role_arn,
            }
        )

    def _role(self, name: str, args: TrainingPipelineArgs) -> ServiceAccountRole:
        context = aws_context(self)
        policy = policy_document(
            pipeline_access_policy,
            partition=context.partition,
            region=context.region,
            account_id=context.account_id,
            model=args.model,
            dvc_bucket_arn=args.dvc_bucket_arn,
            dvc_prefix=args.dvc_prefix,
            artifacts_bucket_arn=args.artifacts_bucket_arn,
            kms_key_arn=args.kms_key_arn,
            model_package_group=args.model_package_group,
            auto_approve=args.auto_approve,
            training_repository_arn=args.training_repository_arn,
            tracking_server_arn=args.tracking_server_arn,
            mlflow_bucket_arn=args.mlflow_bucket_arn,
        )
        return ServiceAccountRole(
            f"{name}-role",
            ServiceAccountRoleArgs(
                oidc_provider_arn=args.oidc_provider_arn,
                oidc_issuer=args.oidc_issuer,
                namespace=args.namespace,
                service_account=service_account_name(args.model),
                policies={"pipeline": policy},
                description=f"Training pipeline of {args.model}",
                max_session_hours=max(1, min(12, -(-args.timeout_seconds // 3600))),
                iam_path=args.iam_path,
                permissions_boundary_arn=args.permissions_boundary_arn,
                tags=dict(args.tags),
            ),
            pulumi.ResourceOptions(parent=self),
        )

    def _executor_rbac(
        self, name: str, args: TrainingPipelineArgs, child: pulumi.ResourceOptions
    ) -> None:
        """Argo's executor (the wait container) reports each step's results as
        WorkflowTaskResults: the one thing the pipeline's service account may do in the API."""
        bound_role(
            f"{name}-executor",
            args.namespace,
            [
                {
                    "api_groups": ["argoproj.io"],
                    "resources": ["workflowtaskresults"],
                    "verbs": ["create", "patch"],
                }
            ],
            [(args.namespace, self.service_account)],
            child,
        )


def _checked(manifest: dict[str, Any]) -> dict[str, Any]:
    validate_manifest(manifest)
    return manifest
