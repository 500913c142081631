"""The stack configuration's schema: one declaration per setting, and nothing else.

Each config block is a pydantic model made from the declared fields of the components' Args
(``components/_schema.py``: type, range, default and one-line doc live on the Args field); the
few settings that belong to the stack program alone (which model to serve, the state bucket)
are declared here, in the same way. ``infra/settings.py`` validates the stack's config with
these models, ``make schema`` writes the JSON Schema of the stack files from them
(``docs/stack-config.schema.json``) and ``make docs`` the README's configuration tables.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, create_model

from mlops_platform.components import (
    ContainerRegistryArgs,
    DataBucketArgs,
    DvcRemoteArgs,
    EncryptionKeyArgs,
)
from mlops_platform.components._schema import (
    CONFIG,
    Allowed,
    Keyed,
    Matches,
    Satisfies,
    config_model,
    declared_hint,
)
from mlops_platform.components._validate import ACCOUNT_ID, Tags
from mlops_platform.components.ci import BUCKET_NAME, CiIdentityArgs
from mlops_platform.components.compute import ClusterArgs, NodePool
from mlops_platform.components.network import NetworkArgs
from mlops_platform.components.pipelines import GateSettings, OrchestratorArgs, TrainingPipelineArgs
from mlops_platform.components.registry import ModelRegistryArgs
from mlops_platform.components.runners import (
    GithubRunnersArgs,
    GitlabRunnerArgs,
    RunnerAccess,
    RunnerScaleSet,
)
from mlops_platform.components.serving import (
    AlarmSubscription,
    ModelEndpointArgs,
    ServingImageArgs,
    Variants,
)
from mlops_platform.components.storage import AccessLogBucketArgs

PROJECT = "mlops-platform"
ENVIRONMENTS = ("dev", "staging", "prod")
Environment = Literal["dev", "staging", "prod"]
REQUIRED_TAGS = ("env", "project", "owner")
MODEL_SOURCES = ("data", "latest-approved", "pinned")
ECR_IMAGE_URI = re.compile(
    r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?/[a-z0-9._/-]+"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[a-f0-9]{64})$"
)

# Fields the stack wires from other components (or from other settings), never from config.
_WIRED = ("kms_key_arn", "protect", "tags", "iam_path", "permissions_boundary_arn")


_hint = declared_hint


# --- the blocks ------------------------------------------------------------------------------

EncryptionConfig = config_model(
    "EncryptionConfig",
    EncryptionKeyArgs,
    exclude=("description", *_WIRED),
    doc="The platform's KMS key: buckets, repositories, logs, topics and cluster secrets.",
)
RegistryConfig = config_model(
    "RegistryConfig",
    ContainerRegistryArgs,
    exclude=_WIRED,
    doc="ECR repositories for the platform's images.",
)
DataConfig = config_model(
    "DataConfig",
    DvcRemoteArgs,
    DataBucketArgs,
    exclude=("bucket", *_WIRED),
    rename={"prefix": "dvcPrefix", "remote_name": "dvcRemoteName"},
    doc="The DVC remote and the model-artifacts bucket (both buckets take these settings).",
)
MODEL_KEY = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
MODEL_NAME = Matches(MODEL_KEY, "a model name: lowercase letters, digits and -")
ModelRegistryConfig = config_model(
    "ModelRegistryConfig",
    ModelRegistryArgs,
    exclude=("models", "name_prefix", "artifact_bucket", *_WIRED),
    extra={
        "models": (
            list[Annotated[str, MODEL_NAME]],
            [],
            "Registry-only models (a package group each) besides the served ones, which get "
            "theirs without being listed here.",
        )
    },
    rename={
        "enable_mlflow": "mlflow",
        "weekly_maintenance_window_start": "maintenanceWindow",
    },
    doc="SageMaker model package groups (one per model) and the MLflow tracking server.",
)
AlarmSubscriptionConfig = config_model("AlarmSubscriptionConfig", AlarmSubscription)
VariantsConfig = config_model(
    "VariantsConfig",
    Variants,
    doc="A/B or shadow test: a second model beside the champion.",
)
SERVING_RELEASE = {
    "model_source": (
        Literal["data", "latest-approved", "pinned"],
        "data",
        "`data` (`modelDataKey` in the artifacts bucket), `latest-approved` (the newest "
        "Approved package of the model's group, looked up when the program runs) or `pinned` "
        "(`modelPackageArn`).",
    ),
    "image_tag": (
        _hint(ServingImageArgs, "tag") | None,
        None,
        "The release version; the image is `<serving repository>:<imageTag>`. Set exactly one "
        "of `imageTag` and `imageUri`.",
    ),
    "image_uri": (
        Annotated[
            str | None,
            Matches(
                ECR_IMAGE_URI,
                "<account>.dkr.ecr.<region>.amazonaws.com/<repository> with :<tag> or "
                "@sha256:<digest>",
            ),
        ],
        None,
        "An image CI pushed to the serving repository, by tag or `@sha256:` digest.",
    ),
    "build_image": (
        bool,
        False,
        "`pulumi up` builds `serving/` with Docker and pushes it (dev); otherwise CI pushed it.",
    ),
    "demo_model": (
        bool,
        False,
        "`pulumi up` trains the reference demo model (iris, `serving/demo_model.py`; needs "
        "scikit-learn) and uploads it to `modelDataKey`, so a first deployment serves without "
        "a model of its own (dev; with `modelSource: data`).",
    ),
}
ServingModelConfig = config_model(
    "ServingModelConfig",
    ModelEndpointArgs,
    exclude=(
        "image_uri",
        "repository_arn",
        "artifacts_bucket_arn",
        "model_prefix",
        "variant_name",
        "capture_prefix",
        *_WIRED,
    ),
    rename={"enable_network_isolation": "networkIsolation"},
    nested={AlarmSubscription: AlarmSubscriptionConfig, Variants: VariantsConfig},
    extra=SERVING_RELEASE,
    doc="One model's SageMaker endpoint: what it serves, its capacity, release, rollback alarms "
    "and A/B or shadow test. Every key may also be set in `serving.defaults`.",
    required=False,
)
ServingConfig = create_model(
    "ServingConfig",
    __config__=CONFIG,
    __doc__="Model serving: one SageMaker endpoint per model, each released on its own.",
    legacy_model=(
        str | None,
        Field(
            None,
            alias="legacyModel",
            description="The model of a stack deployed with the single-model `serving` block "
            "(its `serving.model`): its endpoint, configuration, model and alarms keep their "
            "resources (Pulumi aliases) instead of being replaced. Remove it once every stack "
            "of that project has been deployed with the model map.",
        ),
    ),
    defaults=(
        ServingModelConfig | None,
        Field(None, description="Settings every model takes unless it sets the key itself."),
    ),
    models=(
        Annotated[
            dict[
                Annotated[str, MODEL_NAME],
                ServingModelConfig,
            ],
            Field(min_length=1),
            Allowed("expected a map of model name -> settings"),
        ],
        Field(
            ...,
            description="The served models by name; each gets its own endpoint "
            "`<project>-<stack>-<model>`, alarms, topic and package group.",
        ),
    ),
)
CiConfig = config_model(
    "CiConfig",
    CiIdentityArgs,
    exclude=("environment", "state_bucket_arn", *_WIRED),
    extra={
        "state_bucket": (
            Annotated[
                str,
                Matches(
                    BUCKET_NAME,
                    "the Pulumi state bucket's name (bootstrap output stateBucket)",
                ),
            ],
            ...,
            "The Pulumi state bucket (bootstrap output `stateBucket`).",
        )
    },
    doc="The CI identity: GitHub (and GitLab) OIDC roles for previews and deploys.",
)
NetworkConfig = config_model(
    "NetworkConfig",
    NetworkArgs,
    exclude=("region", *_WIRED),
    doc="The VPC the cluster runs in.",
)
NodePoolConfig = config_model("NodePoolConfig", NodePool, exclude=("name",))
ClusterConfig = config_model(
    "ClusterConfig",
    ClusterArgs,
    exclude=(
        "subnet_ids",
        "cluster_name",
        "viewer_principal_arns",
        "kubeconfig_profile",
        *_WIRED,
    ),
    rename={"enable_public_endpoint": "publicEndpoint"},
    keyed={"node_pools": Keyed(NodePoolConfig)},
    doc="The EKS cluster (needs `network`).",
)
ScaleSetConfig = config_model("ScaleSetConfig", RunnerScaleSet, exclude=("name",))
GithubRunnersConfig = config_model(
    "GithubRunnersConfig",
    GithubRunnersArgs,
    exclude=(
        "oidc_provider_arn",
        "oidc_issuer",
        "github_app_private_key",
        "access",
        "controller_namespace",
        "runner_namespace",
        "service_account",
        *_WIRED,
    ),
    rename={
        "github_config_url": "configUrl",
        "github_app_id": "appId",
        "github_app_installation_id": "installationId",
    },
    keyed={"scale_sets": Keyed(ScaleSetConfig)},
    doc="GitHub Actions runner scale sets (actions-runner-controller).",
)
GitlabRunnerConfig = config_model(
    "GitlabRunnerConfig",
    GitlabRunnerArgs,
    exclude=(
        "oidc_provider_arn",
        "oidc_issuer",
        "runner_token",
        "access",
        "namespace",
        "cache_kms_key_arn",
        *_WIRED,
    ),
    rename={"gitlab_url": "url"},
    doc="GitLab Runner with the Kubernetes executor.",
)
RunnersConfig = config_model(
    "RunnersConfig",
    RunnerAccess,
    exclude=(
        "ecr_repository_arns",
        "dvc_bucket_arn",
        "dvc_prefix",
        "artifacts_bucket_arn",
        "kms_key_arn",
    ),
    extra={
        "github": (GithubRunnersConfig | None, None, "GitHub runner scale sets."),
        "gitlab": (GitlabRunnerConfig | None, None, "GitLab Runner."),
    },
    doc="CI runners on the cluster (needs `cluster`): configure github, gitlab or both.",
)
GateConfig = config_model(
    "GateConfig",
    GateSettings,
    doc="How a candidate is compared with the champion (`python -m ops gate`).",
)
TrainingPipelineConfig = config_model(
    "TrainingPipelineConfig",
    TrainingPipelineArgs,
    exclude=(
        "model",
        "oidc_provider_arn",
        "oidc_issuer",
        "image",
        "serving_image",
        "model_package_group",
        "dvc_bucket_arn",
        "artifacts_bucket",
        "artifacts_bucket_arn",
        "namespace",
        "orchestrator",
        "dvc_prefix",
        "training_repository_arn",
        "tracking_server_arn",
        "mlflow_bucket_arn",
        *_WIRED,
    ),
    rename={"repository_url": "repository"},
    nested={GateSettings: GateConfig},
    doc="One model's training pipeline: its repository, metrics, gate, schedule and resources.",
)
PipelinesConfig = config_model(
    "PipelinesConfig",
    OrchestratorArgs,
    exclude=("artifacts_bucket", "sso", "submitters"),
    extra={
        "image_tag": (
            _hint(ServingImageArgs, "tag"),
            ...,
            "The training image: `<training repository>:<imageTag>` (Python with DVC, the "
            "team's tools and the platform library).",
        ),
        "serving_image_tag": (
            _hint(ServingImageArgs, "tag") | None,
            None,
            "The serving image packages register with; default: the serving block's image.",
        ),
        "models": (
            Annotated[dict[str, TrainingPipelineConfig], Field(min_length=1)],
            ...,
            "One pipeline per model, keyed by model (a model of `modelRegistry.models`).",
        ),
    },
    doc="Training pipelines on the cluster (Argo Workflows; needs `cluster` and `modelRegistry`).",
)
AccessLogsConfig = config_model(
    "AccessLogsConfig",
    AccessLogBucketArgs,
    exclude=("force_destroy", *_WIRED),
    doc="S3 server access logs of the data, model and artifact buckets (the block's presence "
    "turns them on): a hardened log bucket receives them.",
)
PolicyConfig = create_model(
    "PolicyConfig",
    __config__=CONFIG,
    __doc__="The policy pack's per-stack waivers.",
    waivers=(
        Annotated[
            dict[
                str,
                Annotated[str, Field(min_length=1), Allowed("a waiver needs a written reason")],
            ],
            Allowed("expected a map of <rule-id>: <written reason>"),
        ],
        Field(
            default={},
            description="`{<rule-id>: <written reason>}`: rules this stack waives (advisory).",
        ),
    ),
)

# Secret settings: `pulumi config set --secret <key>`; never accepted in plain text.
SECRETS = {
    "githubAppPrivateKey": "the GitHub App's private key (PEM), for runners.github",
    "gitlabRunnerToken": "the GitLab runner authentication token (glrt-...), for runners.gitlab",
}


def _regions(value: Any) -> bool:
    from mlops_platform.infra.settings import aws_regions  # botocore's data, read when needed

    return value in aws_regions()


class DefaultTags(BaseModel):
    """``aws:defaultTags``: tags applied to every taggable resource."""

    model_config = CONFIG

    tags: Tags
    """At least `env` (equal to `environment`), `project` and `owner`."""


AwsRegion = Annotated[str, Satisfies(_regions, "an AWS region such as eu-west-1")]
AccountIds = Annotated[
    list[Annotated[str, Matches(ACCOUNT_ID, "12-digit account ids as strings")]],
    Field(min_length=1),
    Allowed("expected a list of 12-digit account ids as strings"),
]
AwsProfile = Annotated[str | None, Field(min_length=1), Allowed("expected a non-empty string")]


def aws_settings(
    *,
    tags: str = "`{tags: {env, project, owner, ...}}` on every taggable resource.",
    tags_required: bool = True,
) -> dict[str, Any]:
    """The ``aws:`` keys of a program that creates its AWS provider from them (the platform's
    and the bootstrap's), as ``create_model`` field definitions; ``tags`` documents
    ``aws:defaultTags``."""
    return {
        "aws_region": (
            AwsRegion,
            Field(..., alias="aws:region", description="AWS region of the stack."),
        ),
        "aws_allowed_account_ids": (
            AccountIds,
            Field(
                ...,
                alias="aws:allowedAccountIds",
                description="Accounts the stack may deploy to (quoted 12-digit ids).",
            ),
        ),
        "aws_default_tags": (
            DefaultTags if tags_required else DefaultTags | None,
            Field(... if tags_required else None, alias="aws:defaultTags", description=tags),
        ),
        "aws_profile": (
            AwsProfile,
            Field(None, alias="aws:profile", description="AWS CLI profile of the provider."),
        ),
    }


# The stack's config as the program reads it: project keys without their namespace, AWS keys
# with theirs, in the order they are checked (the first error is the one reported).
BLOCKS: dict[str, type[BaseModel]] = {
    "encryption": EncryptionConfig,
    "registry": RegistryConfig,
    "data": DataConfig,
    "modelRegistry": ModelRegistryConfig,
    "serving": ServingConfig,
    "ci": CiConfig,
    "network": NetworkConfig,
    "cluster": ClusterConfig,
    "runners": RunnersConfig,
    "pipelines": PipelinesConfig,
    "accessLogs": AccessLogsConfig,
    "policy": PolicyConfig,
}
StackConfig = create_model(
    "StackConfig",
    __config__=CONFIG,
    environment=(
        Environment,
        Field(..., description="Which environment this stack is: dev, staging or prod."),
    ),
    **aws_settings(),
    protect_stateful_resources=(
        bool,
        Field(
            True,
            alias="protectStatefulResources",
            description="Protect buckets, keys, repositories and the cluster from destroy and "
            "retain them on delete.",
        ),
    ),
    **{
        key: (model | None, Field(None, alias=key, description=model.__doc__))
        for key, model in BLOCKS.items()
    },
    **{
        key: (str | None, Field(None, alias=key, description=f"**Secret**: {text}."))
        for key, text in SECRETS.items()
    },
)


def config_keys(model: type[BaseModel]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The keys a config model declares: ``(project keys, aws keys)``, each without its
    namespace."""
    aliases = [info.alias or name for name, info in model.model_fields.items()]
    return (
        tuple(a for a in aliases if not a.startswith("aws:")),
        tuple(a.removeprefix("aws:") for a in aliases if a.startswith("aws:")),
    )


PROJECT_KEYS, AWS_KEYS = config_keys(StackConfig)


# --- the JSON Schema of the stack files ------------------------------------------------------

SCHEMA_FILE = "docs/stack-config.schema.json"
REPOSITORY_URL = "https://github.com/my-org/mlops-platform/blob/main/"
SCHEMA_ID = REPOSITORY_URL + SCHEMA_FILE
_SECURE = {
    "type": "object",
    "description": "An encrypted value: `pulumi config set --secret <key>` writes it.",
    "properties": {"secure": {"type": "string", "minLength": 1}},
    "required": ["secure"],
    "additionalProperties": False,
}


@dataclasses.dataclass(frozen=True)
class ProjectConfig:
    """The stack config of one Pulumi project: its model and where its JSON Schema goes."""

    project: str
    model: type[BaseModel]
    """The config as the program reads it: project keys by their bare name, ``aws:`` keys with
    their namespace."""
    secrets: Mapping[str, str]
    """Keys set only with ``pulumi config set --secret`` -> what they hold."""
    schema_file: str
    """The generated JSON Schema, relative to the checkout."""
    source: str
    """The module that declares the model (named in the schema's description)."""
    provider_keys: tuple[str, ...] = ()
    """Further ``aws:`` keys a stack file may set (the AWS provider's settings that the program
    accepts without reading them)."""


PLATFORM = ProjectConfig(PROJECT, StackConfig, SECRETS, SCHEMA_FILE, "infra/schema.py")


def project_module(directory: Path, name: str) -> ModuleType:
    """A separate Pulumi project's own module (``governance/governance_config.py``), imported
    as its program is run: with the project's directory on ``sys.path`` (the language host puts
    it there; tests and the docs generator may not), so that all of them share one module."""
    if str(directory) not in sys.path:
        sys.path.insert(0, str(directory))
    return importlib.import_module(name)


def stack_file_schema(target: ProjectConfig = PLATFORM) -> dict[str, Any]:
    """The JSON Schema (2020-12) of ``Pulumi.<stack>.yaml``: every key the program reads, with
    its type, range, default and doc; an unknown key or a plain-text secret is an error."""
    generated = target.model.model_json_schema(by_alias=True, mode="validation")
    definitions = generated.pop("$defs", {})
    config: dict[str, Any] = {}
    required: list[Any] = []
    for alias, generated_prop in generated["properties"].items():
        prop = generated_prop
        if alias in target.secrets:
            prop = {**_SECURE, "description": f"**Secret**: {target.secrets[alias]}."}
        prop.pop("title", None)
        names = [alias] if alias.startswith("aws:") else [f"{target.project}:{alias}", alias]
        for name in names:
            config[name] = prop
        if alias in generated.get("required", []):
            required.append({"anyOf": [{"required": [name]} for name in names]})
    for key in target.provider_keys:
        config.setdefault(
            f"aws:{key}",
            {"description": "A setting of the AWS provider; this program does not read it."},
        )
    config["pulumi:disable-default-providers"] = {
        "description": 'Set to `["*"]`: every resource uses the provider the stack creates.',
        "type": "array",
        "items": {"type": "string"},
        "contains": {"const": "*"},
    }
    for definition in definitions.values():
        definition.pop("title", None)
        for prop in definition.get("properties", {}).values():
            prop.pop("title", None)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": REPOSITORY_URL + target.schema_file,
        "title": f"Pulumi.<stack>.yaml of {target.project}",
        "description": (
            f"Generated by `make schema` ({target.source}) from the settings' declarations: "
            "do not edit by hand."
        ),
        "type": "object",
        "properties": {
            "config": {
                "type": "object",
                "properties": config,
                "additionalProperties": False,
                **({"allOf": required} if required else {}),
            },
            "secretsprovider": {"type": "string"},
            "encryptedkey": {"type": "string"},
            "encryptionsalt": {"type": "string"},
            "environment": {"type": "array", "items": {"type": "string"}},
        },
        "additionalProperties": False,
        "$defs": definitions,
    }


def render_schema(target: ProjectConfig = PLATFORM) -> str:
    return json.dumps(stack_file_schema(target), indent=2, sort_keys=False) + "\n"


def main(argv: list[str] | None = None, target: ProjectConfig = PLATFORM) -> int:
    """``python -m infra.schema`` writes the schema; ``--check`` fails when it is stale."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args(argv)
    path = Path(__file__).resolve().parents[1] / target.schema_file
    text = render_schema(target)
    if args.check:
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            print(f"{target.schema_file} is stale: run make schema", file=sys.stderr)
            return 1
        return 0
    path.write_text(text, encoding="utf-8")
    print(target.schema_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
