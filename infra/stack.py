"""Composition only: settings in, components wired, stack outputs exported.

Environment differences live in ``Pulumi.<stack>.yaml`` and reach the components through
``infra.settings``; nothing here branches on the environment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_docker as docker

from mlops_platform.components import (
    ArgsError,
    ContainerRegistry,
    DataBucket,
    DvcRemote,
    EncryptionKey,
)
from mlops_platform.components._aws import service_endpoint
from mlops_platform.components.ci import PLATFORM_IAM_PATH, CiIdentity, CiIdentityArgs
from mlops_platform.components.compute import Cluster
from mlops_platform.components.network import Network
from mlops_platform.components.pipelines import (
    Orchestrator,
    TrainingPipeline,
    template_name,
)
from mlops_platform.components.registry import ModelRegistry
from mlops_platform.components.runners import GithubRunners, GitlabRunner, RunnerAccess
from mlops_platform.components.serving import ModelEndpoint, ServingImage, ServingImageArgs
from mlops_platform.components.storage import AccessLogBucket
from mlops_platform.infra import naming
from mlops_platform.infra.settings import ConfigError, ServingSettings, Settings


def _latest_approved_package(group: str, *, region: str, profile: str | None) -> str | None:
    import boto3  # imported only when a look-up runs (never in the offline plan)

    from mlops_platform.ops.models import latest_approved_package

    # The same credentials as the stack's provider: its region and aws:profile.
    session = boto3.Session(profile_name=profile, region_name=region)
    return latest_approved_package(group, client=session.client("sagemaker"))


# Finds the newest approved model package of a group at program time, with boto3 and the
# deploying credentials. The offline plan swaps in the mock engine's stand-in (no AWS there).
resolve_latest_package: Callable[..., str | None] = _latest_approved_package


def _build_demo_model() -> str:
    """The reference demo model as ``model.tar.gz``, built once per machine and versions."""
    import platform
    import tempfile
    from pathlib import Path

    from mlops_platform.serving.demo_model import demo_model_archive

    cache = Path(tempfile.gettempdir()) / "mlops-platform-demo-model"
    archive = cache / f"py{platform.python_version()}" / "model.tar.gz"
    if not archive.is_file():
        demo_model_archive(archive)
    return str(archive)


# Replaced by the offline plan, which builds nothing (the asset is only named there).
build_demo_model: Callable[[], str] = _build_demo_model

# CloudWatch publishes alarm notifications to the topic encrypted with the platform key.
ALARM_PUBLISHER = "cloudwatch.amazonaws.com"


@dataclass(frozen=True)
class Platform:
    """The components of one environment, for tests and for later composition."""

    provider: aws.Provider
    key: EncryptionKey
    registry: ContainerRegistry
    dvc: DvcRemote
    artifacts: DataBucket
    models: ModelRegistry | None = None
    endpoints: dict[str, ModelEndpoint] | None = None
    """One per served model (models still waiting for an approved package have none)."""
    ci: CiIdentity | None = None
    network: Network | None = None
    cluster: Cluster | None = None
    github_runners: GithubRunners | None = None
    gitlab_runner: GitlabRunner | None = None
    orchestrator: Orchestrator | None = None
    pipelines: dict[str, TrainingPipeline] | None = None


def provider(settings: Settings) -> aws.Provider:
    """The one AWS provider every component uses (default providers are disabled)."""
    return aws.Provider(
        "aws",
        region=settings.region,
        allowed_account_ids=list(settings.allowed_account_ids),
        default_tags={"tags": dict(settings.default_tags)},
        profile=settings.profile,
    )


def release_packages(settings: Settings) -> dict[str, str | None]:
    """The package each model that follows the registry's newest approval serves. A model whose
    group has no approved package yet (a first deployment) gets no endpoint, with a warning;
    the next ``pulumi up`` after an approval creates it."""
    packages: dict[str, str | None] = {}
    for serving in settings.serving:
        if serving.package_group is None:
            continue
        arn = resolve_latest_package(
            serving.package_group, region=settings.region, profile=settings.profile
        )
        packages[serving.model] = arn
        if arn is None:
            pulumi.log.warn(
                f"{settings.project}:serving.models.{serving.model}: no approved model package "
                f"in group '{serving.package_group}' yet, so no endpoint for it: approve one in "
                "SageMaker Model Registry and run `pulumi up` again (or serve modelSource data "
                "or pinned)"
            )
            continue
        account = arn.split(":")[4]
        if account not in settings.allowed_account_ids:
            raise pulumi.RunError(
                f"model package {arn} is in account {account}, not one this stack deploys to "
                f"(aws:allowedAccountIds: {', '.join(settings.allowed_account_ids)})"
            )
        _check_test_not_over(settings.project, serving, arn)
    return packages


def _check_test_not_over(project: str, serving: ServingSettings, champion: str) -> None:
    """A pinned challenger (or shadow) that has become the newest approved package would serve
    what the champion serves: the test is over, and only a person may decide what the endpoint
    serves next. Stopping here (before any resource is registered) changes no traffic; serving
    the champion alone instead would drop the second variant and its alarms, which replaces a
    production endpoint unreviewed (README: "Promoting a challenger")."""
    variants = serving.endpoint.variants
    if variants.second is None or variants.model_package_arn != champion:
        return
    raise ConfigError(
        f"{project}:serving.models.{serving.model}.variants.modelPackageArn",
        champion,
        f"the {variants.second} is now the newest Approved package of "
        f"'{serving.package_group}', which the champion serves (modelSource: latest-approved): "
        f"the test is over; to promote it remove serving.models.{serving.model}.variants, or "
        'pin the next challenger (README: "Promoting a challenger")',
    )


def backend_url(ci: CiIdentityArgs) -> pulumi.Output[str]:
    """The S3 backend URL ``pulumi login`` takes for the stack's state bucket, in the format of
    the bootstrap's ``stateBucketUrl`` (the bootstrap makes the bucket and key in one region)."""
    return pulumi.Output.all(ci.state_bucket_arn, ci.state_key_arn).apply(
        lambda v: f"s3://{v[0].rsplit(':', 1)[-1]}?region={v[1].split(':')[3]}&awssdk=v2"
    )


def export_ci(ci: CiIdentity, args: CiIdentityArgs) -> None:
    """The CI identity's outputs: what the governance project turns into CI variables."""
    pulumi.export("ciPreviewRoleArn", ci.preview_role_arn)
    pulumi.export("ciDeployRoleArn", ci.deploy_role_arn)
    pulumi.export("ciBoundaryArn", ci.boundary_arn)
    if ci.gitlab_deploy_role_arn is not None:
        pulumi.export("ciGitlabPreviewRoleArn", ci.gitlab_preview_role_arn)
        pulumi.export("ciGitlabDeployRoleArn", ci.gitlab_deploy_role_arn)
    pulumi.export("ciBackendUrl", backend_url(args))


def build(settings: Settings) -> Platform:
    """Creates the platform for one environment and exports its stable outputs."""
    # Look-ups that can fail come first: a failure then leaves nothing half-built.
    packages = release_packages(settings)
    aws_provider = provider(settings)
    opts = pulumi.ResourceOptions(providers={"aws": aws_provider})

    # Roles and policies the platform creates live under one IAM path and, when CI deploys,
    # under the boundary of the CI deploy role: that is all the deploy role may manage in IAM.
    ci = identity(settings, opts)
    iam = {
        "iam_path": PLATFORM_IAM_PATH,
        "permissions_boundary_arn": ci.boundary_arn if ci is not None else None,
    }
    encryption = settings.encryption
    principals = set(encryption.service_principals)
    if settings.serving:
        principals.add(ALARM_PUBLISHER)
    if settings.network is not None:  # flow logs and control-plane logs are encrypted
        principals.add(service_endpoint("logs", settings.region))
    encryption = replace(encryption, service_principals=tuple(sorted(principals)))
    key = EncryptionKey("platform-key", encryption, opts)
    registry = ContainerRegistry("registry", replace(settings.registry, kms_key_arn=key.arn), opts)
    # Data, model and artifact buckets log every request to the access-log bucket, when on.
    logged: dict = {}
    if settings.access_logs is not None:
        access_logs = AccessLogBucket("access-logs", settings.access_logs, opts)
        logged = {"access_log_bucket": access_logs.bucket_name}
        pulumi.export("accessLogBucket", access_logs.bucket_name)
    dvc = DvcRemote(
        "dvc",
        replace(
            settings.dvc,
            bucket=replace(settings.dvc.bucket, kms_key_arn=key.arn, **logged),
            iam_path=PLATFORM_IAM_PATH,
        ),
        opts,
    )
    artifacts = DataBucket(
        "artifacts", replace(settings.artifacts, kms_key_arn=key.arn, **logged), opts
    )

    # Stable outputs: other stacks read them with pulumi.StackReference; renaming one is a
    # breaking change.
    pulumi.export("environment", settings.environment)
    pulumi.export("region", settings.region)
    pulumi.export("kmsKeyArn", key.arn)
    pulumi.export("kmsKeyAlias", key.alias_name)
    pulumi.export("registryUrl", registry.registry_url)
    pulumi.export("repositoryUrls", registry.repository_urls)
    pulumi.export("dvcRemoteUrl", dvc.dvc_remote_url)
    pulumi.export("dvcConfig", dvc.dvc_config)
    pulumi.export("dvcReadOnlyPolicyArn", dvc.read_only_policy_arn)
    pulumi.export("dvcReadWritePolicyArn", dvc.read_write_policy_arn)
    pulumi.export("artifactsBucket", artifacts.bucket_name)
    pulumi.export("artifactsBucketArn", artifacts.arn)

    models = None
    if settings.model_registry is not None:
        registry_args = settings.model_registry
        bucket_args = replace(registry_args.artifact_bucket, kms_key_arn=key.arn, **logged)
        models = ModelRegistry(
            "models", replace(registry_args, artifact_bucket=bucket_args, **iam), opts
        )
        pulumi.export("modelPackageGroups", models.group_names)
        if models.tracking_server_url is not None:
            pulumi.export("mlflowTrackingServerArn", models.tracking_server_arn)
            pulumi.export("mlflowTrackingServerUrl", models.tracking_server_url)

    network, cluster = compute(settings, opts=opts, key=key, ci=ci, iam=iam)
    github_runners, gitlab_runner = runners(
        settings,
        aws_provider=aws_provider,
        cluster=cluster,
        data=(key, registry, dvc, artifacts),
        iam=iam,
    )

    endpoints = serve(
        settings,
        aws_provider=aws_provider,
        key=key,
        registry=registry,
        artifacts=artifacts,
        packages=packages,
        iam=iam,
    )
    return Platform(
        aws_provider,
        key,
        registry,
        dvc,
        artifacts,
        models,
        endpoints,
        ci,
        network,
        cluster,
        github_runners,
        gitlab_runner,
        *training(
            settings,
            aws_provider=aws_provider,
            cluster=cluster,
            data=(key, registry, dvc, artifacts),
            models=models,
            github_runners=github_runners,
            iam=iam,
        ),
    )


def identity(settings: Settings, opts: pulumi.ResourceOptions) -> CiIdentity | None:
    """The CI roles; deploys may empty buckets only where the data buckets force-destroy (dev)."""
    if settings.ci is None:
        return None
    ci_args = replace(settings.ci, allow_emptying_buckets=settings.artifacts.force_destroy)
    ci = CiIdentity("ci", ci_args, opts)
    export_ci(ci, ci_args)
    return ci


def runners(
    settings: Settings,
    *,
    aws_provider: aws.Provider,
    cluster: Cluster | None,
    data: tuple[EncryptionKey, ContainerRegistry, DvcRemote, DataBucket],
    iam: dict,
) -> tuple[GithubRunners | None, GitlabRunner | None]:
    """CI runners on the cluster, with IRSA roles limited to the platform's registry and data
    (the key, the repositories, the DVC remote and the artifacts bucket in ``data``) plus the
    configured extra statements."""
    if cluster is None or settings.runners is None:
        return None, None
    key, registry, dvc, artifacts = data
    access = RunnerAccess(
        ecr_repository_arns=[repo.arn for repo in registry.repositories.values()],
        dvc_bucket_arn=dvc.bucket.arn,
        dvc_prefix=settings.dvc.prefix,
        artifacts_bucket_arn=artifacts.arn,
        kms_key_arn=key.arn,
        extra_statements=settings.runners.extra_statements,
    )
    opts = pulumi.ResourceOptions(providers={"aws": aws_provider, "kubernetes": cluster.provider})
    wiring = {
        "oidc_provider_arn": cluster.oidc_provider_arn,
        "oidc_issuer": cluster.oidc_issuer,
        "access": access,
        **iam,
    }
    github = gitlab = None
    if settings.runners.github is not None:
        # With training pipelines, CI jobs submit them with the runner pod's API token.
        submit = {"kubernetes_api_access": True} if settings.pipelines is not None else {}
        github = GithubRunners(
            "github-runners", replace(settings.runners.github, **wiring, **submit), opts
        )
        pulumi.export("githubRunnerLabels", github.runner_labels)
        pulumi.export("githubRunnerRoleArn", github.role_arn)
    if settings.runners.gitlab is not None:
        gitlab = GitlabRunner("gitlab-runner", replace(settings.runners.gitlab, **wiring), opts)
        pulumi.export("gitlabRunnerRoleArn", gitlab.role_arn)
        pulumi.export("gitlabRunnerCacheBucket", gitlab.cache_bucket_name)
    return github, gitlab


def training(
    settings: Settings,
    *,
    aws_provider: aws.Provider,
    cluster: Cluster | None,
    data: tuple[EncryptionKey, ContainerRegistry, DvcRemote, DataBucket],
    models: ModelRegistry | None,
    github_runners: GithubRunners | None,
    iam: dict,
) -> tuple[Orchestrator | None, dict[str, TrainingPipeline] | None]:
    """Argo Workflows and one training pipeline per model; the GitHub runners may submit them."""
    config = settings.pipelines
    if config is None or cluster is None or models is None:
        return None, None
    key, registry, dvc, artifacts = data
    opts = pulumi.ResourceOptions(providers={"aws": aws_provider, "kubernetes": cluster.provider})
    templates = [template_name(p.model) for p in config.pipelines]
    submitters = {}
    if github_runners is not None and settings.runners is not None:
        github = settings.runners.github
        assert github is not None
        submitters[f"{github.runner_namespace}:{github.service_account}"] = templates
    orchestrator = Orchestrator(
        "pipelines",
        replace(config.orchestrator, artifacts_bucket=artifacts.bucket_name, submitters=submitters),
        opts,
    )
    training_repo = registry.repositories["training"]
    image = pulumi.Output.concat(training_repo.repository_url, ":", config.image_tag)
    # Packages register with the serving image: the configured tag, else what the stack serves
    # for that model.
    served = {serving.model: serving for serving in settings.serving}
    serving_repository = registry.repositories["serving"].repository_url

    def serving_image(model: str) -> pulumi.Input[str]:
        serving = served.get(model)
        if config.serving_image_tag is None and serving is not None and serving.image_uri:
            return serving.image_uri
        tag = config.serving_image_tag or (serving.image_tag if serving is not None else None)
        return pulumi.Output.concat(serving_repository, ":", str(tag))

    pipelines = {}
    for args in config.pipelines:
        pipelines[args.model] = TrainingPipeline(
            naming.pipeline_component(args.model),
            replace(
                args,
                orchestrator=orchestrator,
                oidc_provider_arn=cluster.oidc_provider_arn,
                oidc_issuer=cluster.oidc_issuer,
                image=image,
                serving_image=serving_image(args.model),
                model_package_group=models.group_names[args.model],
                dvc_bucket_arn=dvc.bucket.arn,
                dvc_prefix=settings.dvc.prefix,
                artifacts_bucket=artifacts.bucket_name,
                artifacts_bucket_arn=artifacts.arn,
                kms_key_arn=key.arn,
                training_repository_arn=training_repo.arn,
                tracking_server_arn=models.tracking_server_arn,
                mlflow_bucket_arn=models.mlflow_bucket_arn,
                **iam,
            ),
            opts,
        )
    pulumi.export("pipelinesNamespace", orchestrator.namespace)
    pulumi.export("trainingPipelines", {m: p.template_name for m, p in pipelines.items()})
    pulumi.export("pipelineRoleArns", {m: p.role_arn for m, p in pipelines.items()})
    return orchestrator, pipelines


def compute(
    settings: Settings,
    *,
    opts: pulumi.ResourceOptions,
    key: EncryptionKey,
    ci: CiIdentity | None,
    iam: dict,
) -> tuple[Network | None, Cluster | None]:
    """The VPC and the EKS cluster: CI's deploy roles administer it, its preview roles read it."""
    if settings.network is None:
        return None, None
    network = Network(
        "network",
        replace(settings.network, kms_key_arn=key.arn, protect=settings.protect, **iam),
        opts,
    )
    pulumi.export("vpcId", network.vpc_id)
    pulumi.export("privateSubnetIds", network.private_subnet_ids)
    if settings.cluster is None:
        return network, None
    admins: list[pulumi.Input[str]] = list(settings.cluster.admin_principal_arns)
    viewers: list[pulumi.Input[str]] = list(settings.cluster.viewer_principal_arns)
    if ci is not None:
        admins.append(ci.deploy_role_arn)
        viewers.append(ci.preview_role_arn)
        if ci.gitlab_deploy_role_arn is not None:
            admins.append(ci.gitlab_deploy_role_arn)
            viewers.append(ci.gitlab_preview_role_arn)
    cluster = Cluster(
        "cluster",
        replace(
            settings.cluster,
            subnet_ids=network.private_subnet_ids,
            kms_key_arn=key.arn,
            admin_principal_arns=admins,
            viewer_principal_arns=viewers,
            protect=settings.protect,
            kubeconfig_profile=settings.profile,
            **iam,
        ),
        opts,
    )
    pulumi.export("clusterName", cluster.cluster_name)
    pulumi.export("clusterEndpoint", cluster.endpoint)
    pulumi.export("oidcProviderArn", cluster.oidc_provider_arn)
    pulumi.export("oidcIssuer", cluster.oidc_issuer)
    pulumi.export("kubeconfig", cluster.kubeconfig)
    return network, cluster


def serve(
    settings: Settings,
    *,
    aws_provider: aws.Provider,
    key: EncryptionKey,
    registry: ContainerRegistry,
    artifacts: DataBucket,
    packages: dict[str, str | None],
    iam: dict,
) -> dict[str, ModelEndpoint]:
    """One endpoint per served model, and the serving images built here (dev) or pushed by CI."""
    if not settings.serving:
        return {}
    repository = registry.repositories["serving"]
    images = _images(settings, repository, aws_provider)
    endpoints: dict[str, ModelEndpoint] = {}
    outputs: dict[str, dict[str, pulumi.Input[Any]]] = {}
    for serving in settings.serving:
        package = packages.get(serving.model)
        if serving.package_group is not None and package is None:
            continue  # no approved package yet: warned in release_packages
        image_uri = _image_uri(serving, repository, images)
        bucket_arn: pulumi.Input[str] = artifacts.arn
        if serving.demo_model:
            bucket_arn = _upload_demo_model(serving, artifacts, key, aws_provider)
        try:
            endpoint_args = replace(
                serving.endpoint,
                image_uri=image_uri,
                repository_arn=repository.arn,
                artifacts_bucket_arn=bucket_arn,
                kms_key_arn=key.arn,
                **({"model_package_arn": package} if package else {}),
                **iam,
            )
        except ArgsError as error:  # a resolved package the settings could not check
            raise pulumi.RunError(
                f"invalid config {settings.project}:serving.models.{serving.model}: {error}"
            ) from None
        # The model of a single-model stack keeps its resources: its children's old names
        # (endpoint-model, endpoint-config, ...) follow from this alias of their parent.
        aliases = [pulumi.Alias(name=LEGACY_ENDPOINT)] if serving.legacy else None
        endpoint = ModelEndpoint(
            naming.endpoint_component(serving.model),
            endpoint_args,
            pulumi.ResourceOptions(providers={"aws": aws_provider}, aliases=aliases),
        )
        endpoints[serving.model] = endpoint
        outputs[serving.model] = {
            "endpointName": endpoint.endpoint_name,
            "endpointConfigName": endpoint.endpoint_config_name,
            "alarmNames": endpoint.alarm_names,
            "variantNames": endpoint.variant_names,
            "shadowVariantNames": endpoint.shadow_variant_names,
            "alarmTopicArn": endpoint.topic_arn,
            "modelSource": serving.model_source,
            "modelPackageGroup": serving.package_group,
            "modelPackageArn": endpoint_args.model_package_arn,
            # a model package names its own image
            "imageUri": image_uri if endpoint_args.model_package_arn is None else None,
        }
    pulumi.export("servingModels", outputs)
    _export_single_model_outputs(settings, outputs)
    return endpoints


def _upload_demo_model(
    serving: ServingSettings, artifacts: DataBucket, key: EncryptionKey, aws_provider: aws.Provider
) -> pulumi.Output[str]:
    """Uploads the demo model to the model's data key; returns the bucket's ARN carrying the
    upload as a dependency, so that the endpoint's model waits for its data."""
    upload = aws.s3.BucketObjectv2(
        f"{serving.model}-demo-model",
        bucket=artifacts.bucket_name,
        key=str(serving.endpoint.model_data_key),
        source=pulumi.FileAsset(build_demo_model()),
        content_type="application/gzip",
        server_side_encryption="aws:kms",
        kms_key_id=key.arn,
        opts=pulumi.ResourceOptions(provider=aws_provider),
    )
    return pulumi.Output.all(artifacts.arn, upload.id).apply(lambda values: values[0])


LEGACY_ENDPOINT = "endpoint"
"""The ModelEndpoint's name in a stack deployed with the single-model serving block."""


def _images(
    settings: Settings, repository: Any, aws_provider: aws.Provider
) -> dict[str, ServingImage]:
    """The serving images this program builds (``buildImage``, dev): one per tag."""
    tags = list(dict.fromkeys(str(s.image_tag) for s in settings.serving if s.build_image))
    if not tags:
        return {}
    providers = {"aws": aws_provider, "docker": docker.Provider("docker")}
    return {
        tag: ServingImage(
            "serving-image" if index == 0 else f"serving-image-{tag}",
            ServingImageArgs(repository_url=repository.repository_url, tag=tag),
            pulumi.ResourceOptions(providers=providers),
        )
        for index, tag in enumerate(tags)
    }


def _image_uri(
    serving: ServingSettings, repository: Any, images: dict[str, ServingImage]
) -> pulumi.Input[str]:
    """The model's image: pushed by CI (by URI or tag), or built here."""
    if serving.image_uri is not None:
        return serving.image_uri
    if serving.build_image:
        return images[str(serving.image_tag)].image_uri
    return pulumi.Output.concat(repository.repository_url, ":", str(serving.image_tag))


def _export_single_model_outputs(
    settings: Settings, outputs: dict[str, dict[str, pulumi.Input[Any]]]
) -> None:
    """Deprecated (kept for one minor version): the single-model outputs, for the legacy model
    (else the first served one). Use ``servingModels``."""
    if not outputs:
        return
    legacy = [s.model for s in settings.serving if s.legacy and s.model in outputs]
    model = legacy[0] if legacy else next(iter(outputs))
    chosen = outputs[model]
    if chosen["imageUri"] is not None:
        pulumi.export("servingImageUri", chosen["imageUri"])
    pulumi.export("endpointName", chosen["endpointName"])
    pulumi.export("endpointConfigName", chosen["endpointConfigName"])
    pulumi.export("alarmTopicArn", chosen["alarmTopicArn"])
    pulumi.export("rollbackAlarmNames", chosen["alarmNames"])
