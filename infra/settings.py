"""Typed, validated stack settings: the only module that reads Pulumi configuration.

What each key may hold is declared once (``infra/schema.py``, built from the components' Args
declarations); this module reads the engine's config, validates it against those models and
builds the Args the stack program composes. An unknown key is an error so that a typo never
falls back to a default silently. Every problem becomes one :class:`ConfigError` line naming the
config key (``mlops-platform:registry.keepTaggedImages``), the bad value and what is allowed.
"""

from __future__ import annotations

import json
import re
import types
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, Literal, NoReturn, Union, get_args, get_origin

import pulumi
from pulumi.runtime import config as runtime_config
from pydantic import BaseModel, ValidationError

from mlops_platform.components import (
    ArgsError,
    ContainerRegistryArgs,
    DataBucketArgs,
    DvcRemoteArgs,
    EncryptionKeyArgs,
)
from mlops_platform.components._aws import partition_of
from mlops_platform.components._schema import declared_fields, explain, locate
from mlops_platform.components.ci import CiIdentityArgs
from mlops_platform.components.compute import BUILD_POOL, ClusterArgs, NodePool
from mlops_platform.components.network import NetworkArgs
from mlops_platform.components.pipelines import GateSettings, OrchestratorArgs, TrainingPipelineArgs
from mlops_platform.components.registry import ModelRegistryArgs
from mlops_platform.components.runners import (
    MIN_DIND_MINOR,
    PINNED_IMAGE,
    GithubRunnersArgs,
    GitlabRunnerArgs,
    RunnerAccess,
    RunnerScaleSet,
)
from mlops_platform.components.serving import (
    CHALLENGER_VARIANT,
    SHADOW_VARIANT,
    AlarmSubscription,
    ModelEndpointArgs,
    Variants,
)
from mlops_platform.components.storage import AccessLogBucketArgs
from mlops_platform.infra import naming, schema
from mlops_platform.infra.schema import (
    AWS_KEYS,
    ENVIRONMENTS,
    PROJECT_KEYS,
    REQUIRED_TAGS,
    SECRETS,
    SERVING_RELEASE,
    StackConfig,
)
from mlops_platform.policy.context import WaiverError, parse_waivers
from mlops_platform.policy.rules import rule_ids

__all__ = [
    "AWS_KEYS",
    "ENVIRONMENTS",
    "MISSING",
    "PROJECT_KEYS",
    "SECRETS",
    "ConfigError",
    "SecretValue",
    "Settings",
    "all_config",
    "build_args",
    "check_keys",
    "config_names",
    "load",
    "secret",
    "set_values",
    "translate",
    "validate",
]


class ConfigError(pulumi.RunError):
    """Invalid stack configuration. ``pulumi up`` prints a RunError as one line, no traceback."""

    def __init__(self, key: str, value: Any, allowed: str) -> None:
        self.key = key
        self.value = value
        self.allowed = allowed
        shown = "nothing (the key is missing)" if value is MISSING else _show(value)
        super().__init__(f"invalid config {key}: got {shown}; {allowed}")


MISSING = object()


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


# The endpoint's and the cluster's wiring comes from other components; settings validate the
# rest with these stand-ins.
WIRED_BY_STACK = "wired-by-the-stack"
PLACEHOLDER_KEY_ARN = "arn:aws:kms:us-east-1:000000000000:key/wired-by-the-stack"
PLACEHOLDER_OIDC_ARN = (
    "arn:aws:iam::000000000000:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/WIRED"
)
PLACEHOLDER_SUBNETS = ("subnet-wired-by-the-stack-a", "subnet-wired-by-the-stack-b")


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
    legacy: bool = False
    """This model keeps the resources of a stack deployed with the single-model block."""
    demo_model: bool = False
    """``pulumi up`` uploads the reference demo model to the model's data key."""


@dataclass(frozen=True)
class RunnerSettings:
    """CI runners on the cluster; the wiring (OIDC, access ARNs) holds placeholders."""

    github: GithubRunnersArgs | None
    gitlab: GitlabRunnerArgs | None
    extra_statements: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class PipelineSettings:
    """The orchestrator and one pipeline per model; wiring fields hold placeholders."""

    orchestrator: OrchestratorArgs
    image_tag: str
    serving_image_tag: str | None
    pipelines: tuple[TrainingPipelineArgs, ...]


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
    serving: tuple[ServingSettings, ...] = ()
    """One per served model, in the order of ``serving.models``."""
    ci: CiIdentityArgs | None = None
    network: NetworkArgs | None = None
    cluster: ClusterArgs | None = None
    runners: RunnerSettings | None = None
    pipelines: PipelineSettings | None = None
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


def check_keys(
    config: Mapping[str, Any],
    project: str,
    model: type[BaseModel] = StackConfig,
    secrets: Mapping[str, str] = SECRETS,
    provider_keys: Collection[str] = (),
) -> None:
    """Unknown keys are errors, and so are secret values: no setting here but the declared
    secrets is secret, so one would end up in plain text in the state. A secret is never echoed.

    ``model`` declares the project's keys (and its ``aws:`` keys; a model without any, such as
    governance's, leaves the ``aws`` namespace alone); ``provider_keys`` are further ``aws:``
    keys accepted as they are (settings of the AWS provider the program does not read)."""
    project_keys, aws_keys = schema.config_keys(model)
    if aws_keys:
        aws_keys += tuple(k for k in provider_keys if k not in aws_keys)
    for full_key in sorted(config):
        namespace, _, name = full_key.partition(":")
        if namespace != project and (namespace != "aws" or not aws_keys):
            continue
        is_secret = runtime_config.is_config_secret(full_key)
        shown = SecretValue() if is_secret else config[full_key]
        allowed_keys = project_keys if namespace == project else aws_keys
        if name not in allowed_keys:
            listing = ", ".join(f"{namespace}:{k}" for k in allowed_keys)
            raise ConfigError(full_key, shown, f"unknown key; allowed: {listing}")
        if namespace == project and name in secrets:
            if not is_secret:  # never echo what should have been a secret
                raise ConfigError(
                    full_key,
                    SecretValue(),
                    f"{secrets[name]}: set it with `pulumi config set --secret {name}`",
                )
        elif is_secret:
            raise ConfigError(
                full_key, shown, "not a secret setting: set it without --secret (or 'secure:')"
            )


DISABLE_DEFAULT_PROVIDERS = "pulumi:disable-default-providers"


def _default_providers(raw: Any) -> None:
    """Where the stack file sets it, default providers are off for every package: each resource
    uses the provider the stack creates (its region, accounts and default tags)."""
    if raw is MISSING:
        return
    value = _decode(raw)
    if not isinstance(value, list) or "*" not in value:
        raise ConfigError(
            DISABLE_DEFAULT_PROVIDERS,
            value,
            'expected ["*"]: every resource uses the provider the stack creates',
        )


def _decode(raw: Any) -> Any:
    """The engine hands every top-level value over as text: structured values (maps, lists,
    numbers, booleans) as JSON. Text that is no JSON stays text (and fails validation where a
    structured value belongs)."""
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


@cache
def _textual(model: type[BaseModel], alias: str) -> bool:
    """Whether a top-level key holds text (the engine's value is the setting itself)."""
    field = next(f for n, f in model.model_fields.items() if (f.alias or n) == alias)
    return _is_text(field.annotation)


def _is_text(hint: Any) -> bool:
    origin = get_origin(hint)
    if origin is Literal:
        return all(isinstance(value, str) for value in get_args(hint))
    if origin in (Union, types.UnionType):
        return all(_is_text(a) for a in get_args(hint) if a is not type(None))
    if origin is Annotated:
        return _is_text(get_args(hint)[0])
    return hint is str


def _full_key(project: str, loc: Sequence[Any]) -> str:
    head, *rest = loc
    key = head if str(head).startswith("aws:") else f"{project}:{head}"
    for part in rest:
        key += f"[{part}]" if isinstance(part, int) else ("" if part == "[key]" else f".{part}")
    return key


def validation_error(
    project: str, failure: ValidationError, model: type[BaseModel] = StackConfig
) -> ConfigError:
    """The first pydantic error of validating ``model`` as one config line: full key, value,
    what is allowed."""
    errors = failure.errors(include_url=False)
    error = errors[0]
    if error["type"] == "missing":  # a misspelt key explains a missing one: name it first
        error = next(
            (
                e
                for e in errors
                if e["type"] == "extra_forbidden" and e["loc"][:-1] == error["loc"][:-1]
            ),
            error,
        )
    loc = error["loc"]
    if error["type"] == "extra_forbidden" and _single_model_key(loc):
        return _single_model_block(project, error, errors)
    key = _full_key(project, loc)
    if error["type"] == "extra_forbidden":
        parent = locate(model, loc[:-1])
        aliases = [info.alias or n for n, info in _model(parent).model_fields.items()]
        if len(loc) == 1:  # a top-level key: the allowed ones with their namespace
            aliases = [_full_key(project, (alias,)) for alias in aliases]
        return ConfigError(key, error["input"], f"unknown key; allowed: {', '.join(aliases)}")
    hint = locate(model, loc)
    if error["type"] == "missing":
        what = explain(error, hint).removeprefix("expected ")
        return ConfigError(key, MISSING, f"required ({what})")
    return ConfigError(key, error["input"], explain(error, hint))


UPGRADING_SINGLE_MODEL = "README: Upgrading a single-model stack; CHANGELOG: the serving block"


def _single_model_key(loc: Sequence[Any]) -> bool:
    """A key of the single-model serving block (``serving.model``, ``serving.imageTag``, ...)
    that the model map moved under ``models.<model>`` or ``defaults``."""
    if len(loc) != 2 or loc[0] != "serving":
        return False
    moved = {info.alias or n for n, info in schema.ServingModelConfig.model_fields.items()}
    return loc[1] == "model" or loc[1] in moved


def _single_model_block(project: str, error: Any, errors: Sequence[Any]) -> ConfigError:
    """The single-model serving block: one line saying how to migrate (named after its
    ``serving.model`` when it has one)."""
    named = next((e for e in errors if tuple(e["loc"]) == ("serving", "model")), error)
    model = named["input"] if named is not error or error["loc"][1] == "model" else None
    shown = model if isinstance(model, str) and model else "<model>"
    return ConfigError(
        _full_key(project, named["loc"]),
        named["input"],
        f"the single-model serving block became the model map: move its keys (without model) "
        f"under serving.models.{shown} or serving.defaults and set serving.legacyModel: "
        f"{shown} so its resources are kept ({UPGRADING_SINGLE_MODEL})",
    )


def _model(hint: Any) -> type[BaseModel]:
    """The config model a (possibly optional, annotated) annotation names."""
    return _nested_models(hint)[0]


def read(target: schema.ProjectConfig, config: Mapping[str, Any] | None = None) -> Any:
    """A separate project's config (governance, bootstrap), checked and typed against its
    declarations: unknown keys and plain-text secrets first, then every value."""
    config = all_config() if config is None else config
    check_keys(config, target.project, target.model, target.secrets, target.provider_keys)
    return validate(config, target.project, target.model, target.secrets)


def validate(
    config: Mapping[str, Any],
    project: str,
    model: type[BaseModel] = StackConfig,
    secrets: Mapping[str, str] = SECRETS,
) -> Any:
    """The stack's config, typed: every key checked against its declaration in ``model``
    (secrets are read where they are used; of the ``aws:`` keys, those the model declares)."""
    aws_keys = schema.config_keys(model)[1]
    document: dict[str, Any] = {}
    for full_key, raw in config.items():
        namespace, _, name = full_key.partition(":")
        if (namespace == "aws" and name in aws_keys) or (
            namespace == project and name not in secrets
        ):
            alias = full_key if namespace == "aws" else name
            document[alias] = raw if _textual(model, alias) else _decode(raw)
    quoted: list[str] = []
    while True:
        try:
            validated = model.model_validate(document)
        except ValidationError as failure:
            unquoted = _unquote_scalars(document, failure)
            if not unquoted:
                raise validation_error(project, failure, model) from None
            quoted += [_full_key(project, loc) for loc in unquoted]
            continue
        for key in quoted:
            pulumi.log.warn(
                f"{key}: a quoted number or boolean is deprecated and will be refused in a "
                "future release; write it unquoted, as `pulumi config set --path` writes it"
            )
        return validated


QUOTED_INTEGER = re.compile(r"\s*-?\d+\s*")
QUOTED_BOOLEAN = ("true", "false")


def _unquote_scalars(document: dict[str, Any], failure: ValidationError) -> list[tuple[Any, ...]]:
    """Where an integer or a boolean is expected inside a block and the stack file quotes it
    (``keepTaggedImages: "30"``, ``scanOnPush: "true"``), the value as the settings read it
    before the schema (0.1.0): replaced in ``document``; the locations replaced. Anything
    else stays an error."""
    replaced = []
    for error in failure.errors(include_url=False):
        value = error["input"]
        if not isinstance(value, str):
            continue
        if error["type"] == "int_type" and QUOTED_INTEGER.fullmatch(value):
            new: Any = int(value)
        elif error["type"] == "bool_type" and value.lower() in QUOTED_BOOLEAN:
            new = value.lower() == "true"
        else:
            continue
        if _replace_at(document, error["loc"], value, new):
            replaced.append(error["loc"])
    return replaced


def _replace_at(node: Any, loc: Sequence[Any], old: Any, new: Any) -> bool:
    """Replaces ``old`` at ``loc`` (skipping the parts pydantic adds for union members)."""
    parent: Any = None
    key: Any = None
    for part in loc:
        in_map = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_map or in_list:
            parent, key, node = node, part, node[part]
    if parent is None or node is not old:
        return False
    parent[key] = new
    return True


# --- from validated config to Args ------------------------------------------------------------


def set_values(block: BaseModel | None, *classes: type) -> dict[str, Any]:
    """The keys a stack sets in a block, as Args keyword arguments of ``classes`` (lists as
    tuples). Keys it leaves out take the Args defaults."""
    if block is None:
        return {}
    wanted = {d.name for cls in classes for d in declared_fields(cls)} if classes else None
    return {
        name: _plain(getattr(block, name))
        for name in block.model_fields_set
        if wanted is None or name in wanted
    }


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def config_names(*models: type[BaseModel], project: str) -> dict[str, str]:
    """Args field name -> config key, for the models of a block and the models nested in them."""
    names: dict[str, str] = {}
    for model in models:
        for name, info in model.model_fields.items():
            names.setdefault(name, info.alias or name)
            for nested in _nested_models(info.annotation):
                names.update({k: v for k, v in config_names(nested, project=project).items()})
    names["protect"] = f"{project}:protectStatefulResources"
    return names


def _nested_models(hint: Any) -> list[type[BaseModel]]:
    if isinstance(hint, type) and issubclass(hint, BaseModel):
        return [hint]
    return [model for item in get_args(hint) for model in _nested_models(item)]


def build_args(
    factory: Callable[..., Any],
    key: str,
    names: Mapping[str, str],
    keyed: Mapping[str, Sequence[str]] | None = None,
    **kwargs: Any,
) -> Any:
    """Builds an Args object; a cross-field ArgsError names the config key."""
    try:
        return factory(**kwargs)
    except ArgsError as error:
        raise translate(key, error, names, keyed) from None


def translate(
    key: str,
    error: ArgsError,
    names: Mapping[str, str],
    keyed: Mapping[str, Sequence[str]] | None = None,
) -> ConfigError:
    """An ArgsError in config terms: field names through ``names``, items of a list that the
    config writes as a map by name through ``keyed`` (``node_pools[1].min_size`` ->
    ``nodePools.runners.minSize``), and cross-field mentions (``field=value``) too. ``key`` is
    the block (``mlops-platform:cluster``), or a namespace (``project:``) for top-level keys."""
    parts = re.findall(r"[^.\[\]]+|\[\d+\]", error.field)
    config_key = key
    for index, part in enumerate(parts):
        if part.startswith("["):
            items = (keyed or {}).get(parts[index - 1]) if index else None
            config_key += f".{items[int(part[1:-1])]}" if items else part
        elif names.get(part, part):  # after a namespace (``project:``), a top-level key
            config_key += ("" if config_key.endswith(":") else ".") + names.get(part, part)
    # Cross-field rules name the other field (``field=value``, or a snake_case name, which no
    # English word is): say it in config terms.
    mentioned = sorted((n for n in names if n), key=len, reverse=True)
    allowed = re.sub(
        r"\b(" + "|".join(map(re.escape, mentioned)) + r")(?=(?:\[\d+\])?=)",
        lambda m: names[m.group(1)],
        error.allowed,
    )
    snake = [n for n in mentioned if "_" in n and names[n]]
    if snake:
        allowed = re.sub(
            r"\b(" + "|".join(map(re.escape, snake)) + r")\b",
            lambda m: names[m.group(1)],
            allowed,
        )
    return ConfigError(config_key, error.value, allowed)


def _default_tags(
    tags: Mapping[str, str], environment: str, environment_key: str
) -> dict[str, str]:
    key = "aws:defaultTags"
    for required in REQUIRED_TAGS:
        if not tags.get(required):
            raise ConfigError(
                f"{key}.tags.{required}",
                tags.get(required, MISSING),
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
    check_keys(config, project)
    _default_providers(config.get(DISABLE_DEFAULT_PROVIDERS, MISSING))
    cfg: Any = validate(config, project)

    environment = cfg.environment
    tags = _default_tags(cfg.aws_default_tags.tags, environment, ns + "environment")
    protect = cfg.protect_stateful_resources
    encryption = build_args(
        EncryptionKeyArgs,
        ns + "encryption",
        config_names(schema.EncryptionConfig, project=project),
        description=f"{project} {stack}: buckets, registry, logs",
        protect=protect,
        **set_values(cfg.encryption),
    )
    registry = build_args(
        ContainerRegistryArgs,
        ns + "registry",
        config_names(schema.RegistryConfig, project=project),
        **{"namespace": f"{project}/{stack}", "protect": protect, **set_values(cfg.registry)},
    )
    data_names = config_names(schema.DataConfig, project=project)
    bucket = build_args(
        DataBucketArgs,
        ns + "data",
        data_names,
        protect=protect,
        **set_values(cfg.data, DataBucketArgs),
    )
    dvc = build_args(
        DvcRemoteArgs, ns + "data", data_names, bucket=bucket, **set_values(cfg.data, DvcRemoteArgs)
    )

    served = tuple(cfg.serving.models) if cfg.serving is not None else ()
    model_registry = None
    if ns + "modelRegistry" in config:
        registry_values = set_values(cfg.modelRegistry)
        # Every served model has its package group; the block lists only the extra ones.
        extra = registry_values.pop("models", ())
        for index, model in enumerate(extra):
            _check_model_key(
                f"{ns}modelRegistry.models[{index}]", model, project=project, stack=stack
            )
        model_registry = build_args(
            ModelRegistryArgs,
            ns + "modelRegistry",
            config_names(schema.ModelRegistryConfig, project=project),
            name_prefix=naming.stack_prefix(project, stack),
            artifact_bucket=bucket,
            protect=protect,
            models=tuple(dict.fromkeys((*served, *extra))),
            **registry_values,
        )
    serving: tuple[ServingSettings, ...] = ()
    if cfg.serving is not None:
        serving = _serving(
            ns,
            project=project,
            stack=stack,
            environment=environment,
            block=cfg.serving,
            registry=registry,
            model_registry=model_registry,
        )

    ci = None
    if ns + "ci" in config:
        values = set_values(cfg.ci)
        bucket_name = values.pop("state_bucket")
        ci = build_args(
            CiIdentityArgs,
            ns + "ci",
            config_names(schema.CiConfig, project=project),
            environment=environment,
            state_bucket_arn=f"arn:{partition_of(cfg.aws_region)}:s3:::{bucket_name}",
            **values,
        )

    network, cluster, runners = _compute(
        ns, project=project, stack=stack, cfg=cfg, config=config, ci=ci
    )
    access_logs = None
    if ns + "accessLogs" in config:  # the block's presence turns S3 server access logs on
        access_logs = build_args(
            AccessLogBucketArgs,
            ns + "accessLogs",
            config_names(schema.AccessLogsConfig, project=project),
            protect=protect,
            **set_values(cfg.accessLogs),
        )
    pipelines = None
    if ns + "pipelines" in config:
        pipelines = _pipelines(
            ns,
            project=project,
            environment=environment,
            block=cfg.pipelines,
            registry=registry,
            model_registry=model_registry,
            serving=serving,
            cluster=cluster,
        )
    # Validated here so that a bad waiver stops `pulumi up` too; the plan and the policy pack
    # read the waivers themselves (policy/context.py), from the same config.
    if cfg.policy is not None:
        try:
            parse_waivers({"waivers": cfg.policy.waivers}, rule_ids())
        except WaiverError as error:
            raise ConfigError(f"{ns}policy.{error.key}", error.value, error.allowed) from None

    return Settings(
        project=project,
        stack=stack,
        environment=environment,
        region=cfg.aws_region,
        allowed_account_ids=tuple(cfg.aws_allowed_account_ids),
        default_tags=tags,
        profile=cfg.aws_profile,
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
        pipelines=pipelines,
        access_logs=access_logs,
    )


def secret(
    ns: str,
    name: str,
    config: Mapping[str, Any],
    needed_by: str,
    secrets: Mapping[str, str] = SECRETS,
) -> pulumi.Output[str]:
    """A declared secret setting, required by the setting ``needed_by``."""
    if ns + name not in config:
        raise ConfigError(
            ns + name,
            MISSING,
            f"required with {needed_by}: `pulumi config set --secret {name}` ({secrets[name]})",
        )
    return pulumi.Config(ns.rstrip(":")).require_secret(name)


def _keyed(block: BaseModel, name: str, cls: type, key: str) -> tuple[Any, ...] | None:
    """A map by name in config (``nodePools: {gpu: {...}}``) as the Args' list of ``cls``."""
    if name not in block.model_fields_set:
        return None
    return tuple(
        cls(**{key: item, **set_values(value)}) for item, value in getattr(block, name).items()
    )


def _runners(ns: str, *, block: Any, config: Mapping[str, Any]) -> RunnerSettings:
    key = ns + "runners"
    extra = set_values(block).get("extra_statements", ())
    try:
        access = RunnerAccess(extra_statements=extra)
    except ArgsError as error:
        raise translate(key, error, {"access": "", "extra_statements": "extraStatements"}) from None
    wiring = {"oidc_provider_arn": PLACEHOLDER_OIDC_ARN, "oidc_issuer": WIRED_BY_STACK}

    github = None
    if block.github is not None:
        gh_key = f"{key}.github"
        names = config_names(schema.GithubRunnersConfig, project=ns.rstrip(":"))
        try:
            sets = _keyed(block.github, "scale_sets", RunnerScaleSet, "name")
        except ArgsError as error:  # pragma: no cover - a scale set validates in GithubRunnersArgs
            raise translate(gh_key, error, names) from None
        private_key = secret(ns, "githubAppPrivateKey", config, gh_key)
        values = {k: v for k, v in set_values(block.github).items() if k != "scale_sets"}
        keyed = {"scale_sets": [scale_set.name for scale_set in sets or ()]}
        github = build_args(
            GithubRunnersArgs,
            gh_key,
            names,
            keyed,
            github_app_private_key=private_key,
            access=access,
            **({"scale_sets": sets} if sets is not None else {}),
            **wiring,
            **values,
        )

    gitlab = None
    if block.gitlab is not None:
        gl_key = f"{key}.gitlab"
        token = secret(ns, "gitlabRunnerToken", config, gl_key)
        gitlab = build_args(
            GitlabRunnerArgs,
            gl_key,
            config_names(schema.GitlabRunnerConfig, project=ns.rstrip(":")),
            runner_token=token,
            access=access,
            **wiring,
            **set_values(block.gitlab),
        )
    if github is None and gitlab is None:
        raise ConfigError(key, _shown(config, key), "configure github, gitlab or both")
    return RunnerSettings(github=github, gitlab=gitlab, extra_statements=tuple(extra))


def _shown(config: Mapping[str, Any], key: str) -> Any:
    return _decode(config.get(key, MISSING))


def _compute(
    ns: str,
    *,
    project: str,
    stack: str,
    cfg: Any,
    config: Mapping[str, Any],
    ci: CiIdentityArgs | None,
) -> tuple[NetworkArgs | None, ClusterArgs | None, RunnerSettings | None]:
    """The network, cluster and runners blocks (each needs the one before)."""
    network = cluster = None
    if ns + "cluster" in config and ns + "network" not in config:
        raise ConfigError(ns + "network", MISSING, f"required with {ns}cluster (its VPC)")
    if ns + "network" in config:
        network = build_args(
            NetworkArgs,
            ns + "network",
            config_names(schema.NetworkConfig, project=project),
            region=cfg.aws_region,
            **set_values(cfg.network),
        )
    if ns + "cluster" in config:
        cluster = _cluster(
            ns,
            project=project,
            stack=stack,
            environment=cfg.environment,
            block=cfg.cluster or schema.ClusterConfig.model_validate({}),
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
                ns + "cluster", MISSING, f"required with {ns}runners (they run there)"
            )
        runners = _runners(
            ns, block=cfg.runners or schema.RunnersConfig.model_validate({}), config=config
        )
        _check_runner_pools_and_images(ns, cfg.environment, cluster, runners)

    return network, cluster, runners


def _check_runner_pools_and_images(
    ns: str, environment: str, cluster: ClusterArgs, runners: RunnerSettings
) -> None:
    """Privileged (dind) scale sets need the builds pool and native sidecars (Kubernetes 1.29+);
    staging and prod run only images pinned by digest."""
    key = f"{ns}runners"
    sets = runners.github.scale_sets if runners.github is not None else ()
    pools = {pool.pool for pool in cluster.node_pools}
    minor = int(cluster.kubernetes_version.split(".")[1])
    for scale_set in sets:
        if scale_set.container_mode != "dind":
            continue
        if BUILD_POOL not in pools:
            raise ConfigError(
                f"{key}.github.scaleSets.{scale_set.name}.containerMode",
                "dind",
                f"needs a node pool with pool: {BUILD_POOL} in {ns}cluster.nodePools "
                "(privileged runners get nodes of their own)",
            )
        if minor < MIN_DIND_MINOR:
            raise ConfigError(
                f"{key}.github.scaleSets.{scale_set.name}.containerMode",
                "dind",
                f"needs {ns}cluster.kubernetesVersion 1.{MIN_DIND_MINOR} or later (the Docker "
                f"daemon runs as a native sidecar), got {cluster.kubernetes_version}",
            )
    if environment == "dev":
        return
    images = [(f"{key}.github.scaleSets.{s.name}.runnerImage", s.runner_image) for s in sets]
    images += [
        (f"{key}.github.scaleSets.{s.name}.dindImage", s.dind_image)
        for s in sets
        if s.container_mode == "dind"
    ]
    if runners.gitlab is not None:
        images.append((f"{key}.gitlab.jobImage", runners.gitlab.job_image))
    for image_key, image in images:
        if not PINNED_IMAGE.match(image):
            raise ConfigError(
                image_key,
                image,
                f"an image pinned by digest, <image>:<tag>@sha256:<64 hex>, in {environment}",
            )


def _cluster(ns: str, *, project: str, stack: str, environment: str, block: Any) -> ClusterArgs:
    """The cluster block, with its node pools (a map of name -> pool settings)."""
    key = ns + "cluster"
    names = config_names(schema.ClusterConfig, project=project)
    pools = None
    if "node_pools" in block.model_fields_set:
        if not block.node_pools:
            raise ConfigError(f"{key}.nodePools", {}, "expected a map of pool name -> settings")
        pools = []
        for name, pool_block in block.node_pools.items():
            fields = set_values(pool_block)
            fields.setdefault("pool", name)
            pools.append(NodePool(name=name, **fields))
            if environment == "prod" and fields.get("capacity_type") == "SPOT":
                raise ConfigError(
                    f"{key}.nodePools.{name}.capacityType", "SPOT", "prod node pools run ON_DEMAND"
                )
    values = {k: v for k, v in set_values(block).items() if k != "node_pools"}
    if values.get("enable_public_endpoint") and environment != "dev":
        raise ConfigError(
            f"{key}.publicEndpoint", True, "the API endpoint is private in staging and prod"
        )
    return build_args(
        ClusterArgs,
        key,
        names,
        {"node_pools": [pool.name for pool in pools or ()]},
        subnet_ids=PLACEHOLDER_SUBNETS,
        kms_key_arn=PLACEHOLDER_KEY_ARN,
        cluster_name=f"{project}-{stack}",
        **({"node_pools": tuple(pools)} if pools is not None else {}),
        **values,
    )


SECOND_VARIANTS_BY_MODE = {"single": (), "ab": (CHALLENGER_VARIANT,), "shadow": (SHADOW_VARIANT,)}


def _check_model_key(
    key: str, model: str, *, project: str, stack: str, mode: str | None = None
) -> None:
    """A model key names the model's endpoint, models, roles, alarms, package group and
    pipeline: it may be as long as the tightest of those names allows (``infra.naming``), for
    the variants the model serves (a served model's ``variants.mode``; None for a
    registry-only model: the longest case, as it may be served later)."""
    second = None if mode is None else SECOND_VARIANTS_BY_MODE[mode]
    limit = naming.model_key_limit(project, stack, second)
    if len(model) > limit.length:
        over = next(
            n
            for n in naming.model_names(project, stack, model, second)
            if n.what == limit.binding.what
        )
        raise ConfigError(
            key,
            model,
            f"a model key names its endpoint, models, roles, alarms and pipeline: at most "
            f"{limit.length} characters in stack {stack} ({over.what}'s name would be "
            f"{over.length} characters, AWS allows {over.limit})",
        )


def _serving(
    ns: str,
    *,
    project: str,
    stack: str,
    environment: str,
    block: Any,
    registry: ContainerRegistryArgs,
    model_registry: ModelRegistryArgs | None,
) -> tuple[ServingSettings, ...]:
    """The serving block: one endpoint per model, each model's settings over the defaults."""
    key = ns + "serving"
    if "serving" not in registry.repositories:
        raise ConfigError(
            f"{ns}registry.repositories",
            list(registry.repositories),
            f"{key} needs a 'serving' repository for its image",
        )
    if block.legacy_model is not None and block.legacy_model not in block.models:
        raise ConfigError(
            f"{key}.legacyModel",
            block.legacy_model,
            f"expected one of the served models ({', '.join(block.models)})",
        )
    defaults = set_values(block.defaults)
    settings = []
    for model, model_block in block.models.items():
        own = set_values(model_block)
        values = {**defaults, **own}
        _check_model_key(
            f"{key}.models.{model}",
            model,
            project=project,
            stack=stack,
            mode=getattr(values.get("variants"), "mode", None) or "single",
        )
        # The environment merges: a model's variables over the defaults' of the same name.
        if "environment" in defaults and "environment" in own:
            values["environment"] = {**defaults["environment"], **own["environment"]}
        settings.append(
            _serving_model(
                key,
                model,
                values=values,
                own={*own, *(f"environment.{name}" for name in own.get("environment", {}))},
                endpoint_name=naming.endpoint_name(project, stack, model),
                model_registry=model_registry,
                legacy=model == block.legacy_model,
                environment=environment,
            )
        )
    return tuple(settings)


def _serving_model(
    key: str,
    model: str,
    *,
    values: dict[str, Any],
    own: set[str],
    endpoint_name: str,
    model_registry: ModelRegistryArgs | None,
    legacy: bool,
    environment: str,
) -> ServingSettings:
    """One model: what to release (source, image) and its endpoint's settings. An error names
    the model's key, or the default's when the model takes it from ``serving.defaults``."""
    names = config_names(schema.ServingModelConfig, project=key.split(":", 1)[0])
    merged = set(values)

    def where(field_name: str) -> str:
        head = re.split(r"[.\[]", field_name, maxsplit=1)[0]
        if head == "environment" and field_name != head:
            # One variable of the merged environment: the defaults' unless the model sets it.
            return f"{key}.models.{model}" if field_name in own else f"{key}.defaults"
        taken_from_defaults = head not in own and head in merged
        return f"{key}.defaults" if taken_from_defaults else f"{key}.models.{model}"

    def fail(field_name: str, value: Any, allowed: str) -> NoReturn:
        raise ConfigError(f"{where(field_name)}.{names[field_name]}", value, allowed)

    release = {name: values.pop(name) for name in SERVING_RELEASE if name in values}
    source = release.get("model_source", "data")
    image_tag, image_uri = release.get("image_tag"), release.get("image_uri")
    build_image = release.get("build_image", False)
    demo_model = release.get("demo_model", False)
    if demo_model and source != "data":
        fail("demo_model", True, "the demo model is model data: only with modelSource: data")
    if demo_model and environment == "prod":
        fail("demo_model", True, "prod serves registered models, not the demo model")
    if (image_tag is None) == (image_uri is None):
        fail(
            "image_tag",
            MISSING if image_tag is None else image_tag,
            "set exactly one of imageTag and imageUri",
        )
    if image_uri is not None and build_image:
        fail("build_image", True, "imageUri names an image CI pushed: leave buildImage off")
    for field_name, wanted in (("model_package_arn", "pinned"), ("model_data_key", "data")):
        if field_name in values and source != wanted:
            fail(field_name, values[field_name], f"only with modelSource: {wanted}")
    if source == "pinned" and "model_package_arn" not in values:
        fail("model_package_arn", MISSING, "required with modelSource: pinned")
    package_group = None
    if source == "latest-approved":
        if model_registry is None:
            fail("model_source", source, "latest-approved needs a modelRegistry block")
        assert model_registry is not None
        package_group = f"{model_registry.name_prefix}-{model}"
        # Resolved at program time; validated here with a well-formed stand-in (no package has
        # version 0, so a pinned challenger never equals it by accident).
        values["model_package_arn"] = (
            f"arn:aws:sagemaker:us-east-1:000000000000:model-package/{package_group}/0"
        )
    elif source == "data":
        values.setdefault("model_data_key", f"models/{model}/model.tar.gz")
    if "alarm_subscriptions" in values:
        values["alarm_subscriptions"] = tuple(
            AlarmSubscription(**set_values(item)) for item in values["alarm_subscriptions"]
        )
    try:
        if "variants" in values:
            values["variants"] = Variants(**set_values(values["variants"]))
        endpoint = ModelEndpointArgs(
            image_uri=WIRED_BY_STACK,
            repository_arn=WIRED_BY_STACK,
            artifacts_bucket_arn=WIRED_BY_STACK,
            kms_key_arn=PLACEHOLDER_KEY_ARN,
            **{"endpoint_name": endpoint_name, **values},
        )
    except ArgsError as error:
        raise translate(where(error.field), error, names) from None
    return ServingSettings(
        model=model,
        model_source=source,
        package_group=package_group,
        image_tag=image_tag,
        image_uri=image_uri,
        build_image=build_image,
        endpoint=endpoint,
        legacy=legacy,
        demo_model=demo_model,
    )


PLACEHOLDER_IMAGE = "000000000000.dkr.ecr.us-east-1.amazonaws.com/wired-by-the-stack:placeholder"


def _pipelines(
    ns: str,
    *,
    project: str,
    environment: str,
    block: Any,
    registry: ContainerRegistryArgs,
    model_registry: ModelRegistryArgs | None,
    serving: tuple[ServingSettings, ...],
    cluster: ClusterArgs | None,
) -> PipelineSettings:
    """The pipelines block: the orchestrator's settings and a pipeline per registry model."""
    key = ns + "pipelines"
    if cluster is None:
        raise ConfigError(ns + "cluster", MISSING, f"required with {key} (pipelines run there)")
    if model_registry is None:
        raise ConfigError(
            ns + "modelRegistry", MISSING, f"required with {key} (pipelines register there)"
        )
    for repository, why in (
        ("training", "for the training image"),
        ("serving", "packages register with the serving image"),
    ):
        if repository not in registry.repositories:
            raise ConfigError(
                f"{ns}registry.repositories",
                list(registry.repositories),
                f"{key} needs a '{repository}' repository: {why}",
            )
    names = config_names(schema.PipelinesConfig, project=project)
    orchestrator = build_args(
        OrchestratorArgs,
        key,
        names,
        artifacts_bucket=WIRED_BY_STACK,
        **set_values(block, OrchestratorArgs),
    )
    for model in block.models:
        if model not in model_registry.models:
            raise ConfigError(
                f"{key}.models.{model}",
                model,
                f"unknown model; pipelines are for the served models and those of "
                f"{ns}modelRegistry.models ({', '.join(model_registry.models)})",
            )
    served = {s.model for s in serving}
    unserved = [model for model in block.models if model not in served]
    if block.serving_image_tag is None and unserved:
        raise ConfigError(
            f"{key}.servingImageTag",
            MISSING,
            f"required: {', '.join(unserved)} is not served, so the serving image its packages "
            "register with is not known",
        )
    pipelines = []
    for model, pipeline in block.models.items():
        model_key = f"{key}.models.{model}"
        values = set_values(pipeline)
        if values.get("auto_approve") and environment == "prod":
            raise ConfigError(
                f"{model_key}.autoApprove",
                True,
                "prod registers packages as PendingManualApproval: a person approves them",
            )
        values["gate"] = GateSettings(**set_values(pipeline.gate))
        pipelines.append(
            build_args(
                TrainingPipelineArgs,
                model_key,
                names,
                model=model,
                namespace=orchestrator.namespace,
                oidc_provider_arn=PLACEHOLDER_OIDC_ARN,
                oidc_issuer=WIRED_BY_STACK,
                image=PLACEHOLDER_IMAGE,
                serving_image=PLACEHOLDER_IMAGE,
                model_package_group=f"{model_registry.name_prefix}-{model}",
                dvc_bucket_arn=WIRED_BY_STACK,
                artifacts_bucket=WIRED_BY_STACK,
                artifacts_bucket_arn=WIRED_BY_STACK,
                kms_key_arn=PLACEHOLDER_KEY_ARN,
                **values,
            )
        )
    return PipelineSettings(
        orchestrator=orchestrator,
        image_tag=block.image_tag,
        serving_image_tag=block.serving_image_tag,
        pipelines=tuple(pipelines),
    )
