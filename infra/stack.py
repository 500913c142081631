"""Composition only: settings in, components wired, stack outputs exported.

Environment differences live in ``Pulumi.<stack>.yaml`` and reach the components through
``infra.settings``; nothing here branches on the environment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import pulumi
import pulumi_aws as aws
import pulumi_docker as docker
from mlops_platform.components import (
    ContainerRegistry,
    DataBucket,
    DvcRemote,
    EncryptionKey,
)
from mlops_platform.components._aws import service_endpoint
from mlops_platform.components.ci import PLATFORM_IAM_PATH, CiIdentity, CiIdentityArgs
from mlops_platform.components.compute import Cluster
from mlops_platform.components.network import Network
from mlops_platform.components.registry import ModelRegistry
from mlops_platform.components.runners import GithubRunners, GitlabRunner, RunnerAccess
from mlops_platform.components.serving import ModelEndpoint, ServingImage, ServingImageArgs
from mlops_platform.infra.settings import Settings


def _latest_approved_package(group: str, *, region: str, profile: str | None) -> str | None:
    import boto3  # imported only when a look-up runs (never in the offline plan)
    from mlops_platform.ops.models import latest_approved_package

    # The same credentials as the stack's provider: its region and aws:profile.
    session = boto3.Session(profile_name=profile, region_name=region)
    return latest_approved_package(group, client=session.client("sagemaker"))


# Finds the newest approved model package of a group at program time, with boto3 and the
# deploying credentials. The offline plan swaps in the mock engine's stand-in (no AWS there).
resolve_latest_package: Callable[..., str | None] = _latest_approved_package

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
    endpoint: ModelEndpoint | None = None
    ci: CiIdentity | None = None
    network: Network | None = None
    cluster: Cluster | None = None
    github_runners: GithubRunners | None = None
    gitlab_runner: GitlabRunner | None = None


def provider(settings: Settings) -> aws.Provider:
    """The one AWS provider every component uses (default providers are disabled)."""
    return aws.Provider(
        "aws",
        region=settings.region,
        allowed_account_ids=list(settings.allowed_account_ids),
        default_tags={"tags": dict(settings.default_tags)},
        profile=settings.profile,
    )


def release_package(settings: Settings) -> str | None:
    """The model package to serve when the stack follows the registry's newest approval."""
    serving = settings.serving
    if serving is None or serving.package_group is None:
        return None
    arn = resolve_latest_package(
        serving.package_group, region=settings.region, profile=settings.profile
    )
    if arn is None:
        raise pulumi.RunError(
            f"no approved model package in group '{serving.package_group}': approve one in "
            f"SageMaker Model Registry, or set {settings.project}:serving.modelSource to data "
            "or pinned"
        )
    account = arn.split(":")[4]
    if account not in settings.allowed_account_ids:
        raise pulumi.RunError(
            f"model package {arn} is in account {account}, not one this stack deploys to "
            f"(aws:allowedAccountIds: {', '.join(settings.allowed_account_ids)})"
        )
    return arn


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
    pulumi.export("ciBackendUrl", backend_url(args))
    if ci.gitlab_deploy_role_arn is not None:
        pulumi.export("ciGitlabPreviewRoleArn", ci.gitlab_preview_role_arn)
        pulumi.export("ciGitlabDeployRoleArn", ci.gitlab_deploy_role_arn)


def build(settings: Settings) -> Platform:
    """Creates the platform for one environment and exports its stable outputs."""
    # Look-ups that can fail come first: a failure then leaves nothing half-built.
    package_arn = release_package(settings)
    aws_provider = provider(settings)
    opts = pulumi.ResourceOptions(providers={"aws": aws_provider})

    # Roles and policies the platform creates live under one IAM path and, when CI deploys,
    # under the boundary of the CI deploy role: that is all the deploy role may manage in IAM.
    ci = CiIdentity("ci", settings.ci, opts) if settings.ci is not None else None
    iam = {
        "iam_path": PLATFORM_IAM_PATH,
        "permissions_boundary_arn": ci.boundary_arn if ci is not None else None,
    }
    if ci is not None:
        export_ci(ci, settings.ci)

    encryption = settings.encryption
    principals = set(encryption.service_principals)
    if settings.serving is not None:
        principals.add(ALARM_PUBLISHER)
    if settings.network is not None:  # flow logs and control-plane logs are encrypted
        principals.add(service_endpoint("logs", settings.region))
    encryption = replace(encryption, service_principals=tuple(sorted(principals)))
    key = EncryptionKey("platform-key", encryption, opts)
    registry = ContainerRegistry("registry", replace(settings.registry, kms_key_arn=key.arn), opts)
    dvc = DvcRemote(
        "dvc",
        replace(
            settings.dvc,
            bucket=replace(settings.dvc.bucket, kms_key_arn=key.arn),
            iam_path=PLATFORM_IAM_PATH,
        ),
        opts,
    )
    artifacts = DataBucket("artifacts", replace(settings.artifacts, kms_key_arn=key.arn), opts)

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
        bucket_args = replace(registry_args.artifact_bucket, kms_key_arn=key.arn)
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

    endpoint = None
    if settings.serving is not None:
        endpoint = serve(
            settings,
            aws_provider=aws_provider,
            key=key,
            registry=registry,
            artifacts=artifacts,
            package_arn=package_arn,
            iam=iam,
        )
    return Platform(
        aws_provider,
        key,
        registry,
        dvc,
        artifacts,
        models,
        endpoint,
        ci,
        network,
        cluster,
        github_runners,
        gitlab_runner,
    )


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
        github = GithubRunners("github-runners", replace(settings.runners.github, **wiring), opts)
        pulumi.export("githubRunnerLabels", github.runner_labels)
        pulumi.export("githubRunnerRoleArn", github.role_arn)
    if settings.runners.gitlab is not None:
        gitlab = GitlabRunner("gitlab-runner", replace(settings.runners.gitlab, **wiring), opts)
        pulumi.export("gitlabRunnerRoleArn", gitlab.role_arn)
        pulumi.export("gitlabRunnerCacheBucket", gitlab.cache_bucket_name)
    return github, gitlab


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
    package_arn: str | None,
    iam: dict,
) -> ModelEndpoint:
    """The serving image (built here, or pushed by CI) and the endpoint that runs it."""
    serving = settings.serving
    assert serving is not None
    repository = registry.repositories["serving"]
    if serving.image_uri is not None:
        image_uri: pulumi.Input[str] = serving.image_uri
    elif serving.build_image:
        image = ServingImage(
            "serving-image",
            ServingImageArgs(repository_url=repository.repository_url, tag=str(serving.image_tag)),
            pulumi.ResourceOptions(
                providers={"aws": aws_provider, "docker": docker.Provider("docker")}
            ),
        )
        image_uri = image.image_uri
    else:
        image_uri = pulumi.Output.concat(repository.repository_url, ":", serving.image_tag)
    wiring = {"model_package_arn": package_arn} if package_arn else {}
    endpoint_args = replace(
        serving.endpoint,
        image_uri=image_uri,
        repository_arn=repository.arn,
        artifacts_bucket_arn=artifacts.arn,
        kms_key_arn=key.arn,
        **wiring,
        **iam,
    )
    endpoint = ModelEndpoint(
        "endpoint", endpoint_args, pulumi.ResourceOptions(providers={"aws": aws_provider})
    )
    if endpoint_args.model_package_arn is None:  # a model package names its own image
        pulumi.export("servingImageUri", image_uri)
    pulumi.export("endpointName", endpoint.endpoint_name)
    pulumi.export("endpointConfigName", endpoint.endpoint_config_name)
    pulumi.export("alarmTopicArn", endpoint.topic_arn)
    pulumi.export("rollbackAlarmNames", endpoint.alarm_names)
    return endpoint
