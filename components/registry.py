"""Container images: ``ContainerRegistry``, one or more hardened ECR repositories."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal, get_args

import pulumi
import pulumi_aws as aws
from pydantic import Field

from mlops_platform.components._aws import (
    aws_context,
    policy_document,
    policy_json,
    retained_with,
    stateful,
)
from mlops_platform.components._docs import SecureDefault
from mlops_platform.components._schema import Allowed, Matches, between, check_declared
from mlops_platform.components._validate import (
    IAM_PATH_NAME,
    IAM_PRINCIPAL_ARN,
    KMS_KEY,
    POLICY_ARN,
    ArgsError,
    Tags,
    check_force_delete,
)
from mlops_platform.components.serving import sagemaker_role
from mlops_platform.components.storage import DataBucket, DataBucketArgs

TYPE = "mlops:registry:ContainerRegistry"

# ECR repository names: lowercase path components separated by '/', each of [a-z0-9] runs
# joined by '.', '_' or '-' (ECR CreateRepository API, repositoryName).
REPOSITORY_NAME = re.compile(r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$")
TagMutability = Literal["IMMUTABLE", "MUTABLE"]
TAG_MUTABILITY = get_args(TagMutability)
PULL_ACTIONS = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
)


def lifecycle_policy(*, untagged_expiry_days: int, keep_tagged_images: int) -> dict[str, Any]:
    """ECR lifecycle policy: expire untagged images after D days, keep the last N tagged ones.

    ``tagPatternList: ["*"]`` selects every tagged image (one wildcard; ECR allows four).
    """
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": f"Expire untagged images after {untagged_expiry_days} days",
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": untagged_expiry_days,
                },
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 2,
                "description": f"Keep the last {keep_tagged_images} tagged images",
                "selection": {
                    "tagStatus": "tagged",
                    "tagPatternList": ["*"],
                    "countType": "imageCountMoreThan",
                    "countNumber": keep_tagged_images,
                },
                "action": {"type": "expire"},
            },
        ]
    }


def pull_policy(principal_arns: Sequence[str]) -> dict[str, Any]:
    """Repository policy that lets the given principals pull (never push) images."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AllowPull",
                "Effect": "Allow",
                "Principal": {"AWS": sorted(principal_arns)},
                "Action": list(PULL_ACTIONS),
            }
        ],
    }


@dataclass(frozen=True, kw_only=True)
class ContainerRegistryArgs:
    """Arguments of :class:`ContainerRegistry`. Every field has a secure default."""

    repositories: Annotated[
        Sequence[Annotated[str, Matches(REPOSITORY_NAME, "lowercase ECR repository names")]],
        Field(min_length=1),
        Allowed("expected a non-empty list of lowercase ECR repository names"),
    ] = ("serving",)
    """Logical repository names, e.g. ``("training", "serving")``."""
    namespace: Annotated[str | None, Matches(REPOSITORY_NAME, "a lowercase ECR name prefix")] = None
    """Prefix for the physical repository names (``<namespace>/<repository>``), e.g.
    ``mlops-platform/dev``; when omitted, Pulumi autonames each repository."""
    image_tag_mutability: TagMutability = "IMMUTABLE"
    """``IMMUTABLE`` (a tag always names the same image) or ``MUTABLE``."""
    scan_on_push: bool = True
    """Scan every pushed image for vulnerabilities."""
    kms_key_arn: Annotated[pulumi.Input[str] | None, KMS_KEY] = None
    """Customer managed key for encryption at rest; the AWS managed ECR key when omitted
    (encryption is always KMS)."""
    keep_tagged_images: Annotated[int, between(1, 10000)] = 30
    """How many tagged images each repository keeps (1-10000); older ones expire."""
    untagged_expiry_days: Annotated[int, between(1, 3650)] = 7
    """Days after which untagged images expire (1-3650)."""
    pull_principal_arns: Sequence[
        Annotated[
            pulumi.Input[str],
            Matches(
                IAM_PRINCIPAL_ARN,
                "IAM principal ARNs (arn:aws:iam::<account>:root|role/...|user/...)",
            ),
        ]
    ] = ()
    """IAM principals (roles, users or account roots) granted pull access by repository policy."""
    force_delete: bool = False
    """Let ``pulumi destroy`` delete repositories that still hold images. Only for throw-away
    stacks; requires ``protect=False``."""
    protect: bool = True
    """Protect repositories from ``pulumi destroy`` and retain them if they leave the program."""
    tags: Tags = field(default_factory=dict)
    """Tags for every repository, merged over the provider's default tags."""

    def __post_init__(self) -> None:
        check_declared(self)
        if len(set(self.repositories)) != len(self.repositories):
            raise ArgsError("repositories", list(self.repositories), "names must be unique")
        for repository in self.repositories:
            full = f"{self.namespace}/{repository}" if self.namespace else repository
            if len(full) > 256:
                raise ArgsError("repositories", full, "ECR names are at most 256 characters")
        check_force_delete("force_delete", self.force_delete, self.protect, "repository")


class ContainerRegistry(pulumi.ComponentResource):
    """ECR repositories with immutable tags, scan on push, KMS and lifecycle by default.

    One repository per logical name; the children are named ``<name>-<repository>``, so adding
    a repository never touches the others.

    Example::

        import pulumi
        from mlops_platform.components import ContainerRegistry, ContainerRegistryArgs

        registry = ContainerRegistry(
            "images", ContainerRegistryArgs(repositories=["training", "serving"])
        )
        pulumi.export("servingRepository", registry.repository_urls["serving"])
    """

    SECURE_DEFAULTS: ClassVar[tuple[SecureDefault, ...]] = (
        SecureDefault("Tags", "``IMMUTABLE``", "image_tag_mutability"),
        SecureDefault("Vulnerability scan", "on push", "scan_on_push"),
        SecureDefault(
            "Encryption at rest", "KMS (the AWS managed ECR key)", "kms_key_arn (your key)"
        ),
        SecureDefault(
            "Lifecycle",
            "untagged images expire after 7 days; the last 30 tagged images are kept",
            "untagged_expiry_days, keep_tagged_images",
        ),
        SecureDefault(
            "Access", "no repository policy (account IAM only)", "pull_principal_arns (pull only)"
        ),
        SecureDefault(
            "Deletion",
            "protected and retained with the lifecycle policy; no force-delete",
            "protect=False, then force_delete=True",
        ),
    )

    repository_urls: pulumi.Output[dict[str, str]]
    """Repository URL per logical name, e.g. ``{"serving": "<registry>/<name>"}``."""
    repository_arns: pulumi.Output[dict[str, str]]
    """Repository ARN per logical name."""
    registry_url: pulumi.Output[str]
    """``<account>.dkr.ecr.<region>.amazonaws.com``, for ``docker login``."""

    def __init__(
        self, name: str, args: ContainerRegistryArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        encryption: dict[str, Any] = {"encryption_type": "KMS"}
        if args.kms_key_arn is not None:
            encryption["kms_key"] = args.kms_key_arn
        lifecycle = policy_json(
            lifecycle_policy(
                untagged_expiry_days=args.untagged_expiry_days,
                keep_tagged_images=args.keep_tagged_images,
            )
        )

        self.repositories: dict[str, aws.ecr.Repository] = {}
        for repository in args.repositories:
            child_name = f"{name}-{repository.replace('/', '-')}"
            repo = aws.ecr.Repository(
                child_name,
                name=f"{args.namespace}/{repository}" if args.namespace else None,
                image_tag_mutability=args.image_tag_mutability,
                image_scanning_configuration={"scan_on_push": args.scan_on_push},
                encryption_configurations=[encryption],
                force_delete=args.force_delete,
                tags=dict(args.tags),
                opts=stateful(self, args.protect),
            )
            aws.ecr.LifecyclePolicy(
                f"{child_name}-lifecycle",
                repository=repo.name,
                policy=lifecycle,
                opts=retained_with(self, args.protect),
            )
            if args.pull_principal_arns:
                aws.ecr.RepositoryPolicy(
                    f"{child_name}-pull",
                    repository=repo.name,
                    policy=policy_document(
                        pull_policy, principal_arns=list(args.pull_principal_arns)
                    ),
                    opts=retained_with(self, args.protect),
                )
            self.repositories[repository] = repo

        self.repository_urls = pulumi.Output.all(
            **{k: r.repository_url for k, r in self.repositories.items()}
        )
        self.repository_arns = pulumi.Output.all(**{k: r.arn for k, r in self.repositories.items()})
        # <account>.dkr.ecr.<region>.<dns suffix>, from the standard invokes (a repository's URL
        # is computed by ECR, which a consumer's mocks do not do).
        context = aws_context(self)
        self.registry_url = pulumi.Output.all(context.account_id, context.region).apply(
            lambda v: registry_host(account_id=v[0], region=v[1])
        )
        self.register_outputs(
            {
                "repositoryUrls": self.repository_urls,
                "repositoryArns": self.repository_arns,
                "registryUrl": self.registry_url,
            }
        )


def registry_host(*, account_id: str, region: str) -> str:
    """The account's ECR registry in a region (``docker login`` host)."""
    suffix = "amazonaws.com.cn" if str(region).startswith("cn-") else "amazonaws.com"
    return f"{account_id}.dkr.ecr.{region}.{suffix}"


# --- ModelRegistry -------------------------------------------------------------------------------

MODEL_REGISTRY_TYPE = "mlops:registry:ModelRegistry"
GROUP_NAME = re.compile(r"^[a-zA-Z0-9](?:-*[a-zA-Z0-9]){0,62}$")
MlflowSize = Literal["Small", "Medium", "Large"]
MLFLOW_SIZES = get_args(MlflowSize)
# The provider reads the version back as major.minor: a patch level would diff on every run.
MLFLOW_VERSION = re.compile(r"^\d+\.\d+$")
MAINTENANCE_WINDOW = re.compile(r"^(?:MON|TUE|WED|THU|FRI|SAT|SUN):(?:[01]\d|2[0-3]):[0-5]\d$")
MLFLOW_PREFIX = "mlflow"


def mlflow_role_policy(
    *,
    partition: str,
    region: str,
    account_id: str,
    bucket_arn: str,
    kms_key_arn: str,
    automatic_model_registration: bool,
) -> dict[str, Any]:
    """The tracking server's role: its artifact prefix, the key through S3 and, with automatic
    registration, the model package groups it creates."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ListArtifacts",
            "Effect": "Allow",
            "Action": ["s3:GetBucketLocation", "s3:ListBucket"],
            "Resource": bucket_arn,
        },
        {
            "Sid": "Artifacts",
            "Effect": "Allow",
            "Action": [
                "s3:AbortMultipartUpload",
                "s3:DeleteObject",
                "s3:GetObject",
                "s3:PutObject",
            ],
            "Resource": f"{bucket_arn}/{MLFLOW_PREFIX}/*",
        },
        {
            "Sid": "UseKeyThroughS3",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": kms_key_arn,
        },
    ]
    if automatic_model_registration:
        base = f"arn:{partition}:sagemaker:{region}:{account_id}"
        statements.append(
            {
                "Sid": "RegisterModels",
                "Effect": "Allow",
                "Action": [
                    "sagemaker:AddTags",
                    "sagemaker:CreateModelPackage",
                    "sagemaker:CreateModelPackageGroup",
                    "sagemaker:DescribeModelPackageGroup",
                    "sagemaker:UpdateModelPackage",
                ],
                "Resource": [
                    f"{base}:model-package-group/*",
                    f"{base}:model-package/*",
                ],
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


@dataclass(frozen=True, kw_only=True)
class ModelRegistryArgs:
    """Arguments of :class:`ModelRegistry`: package groups, and optionally MLflow tracking."""

    models: Annotated[
        Sequence[Annotated[str, Matches(GROUP_NAME, "model names of letters, digits and -")]],
        Field(min_length=1),
        Allowed("expected a non-empty list of model names"),
    ] = ("demo",)
    """One SageMaker model package group per model."""
    name_prefix: Annotated[str | None, Matches(GROUP_NAME, "letters, digits and -")] = None
    """Group names are ``<prefix>-<model>``; the component name by default."""
    enable_mlflow: bool = False
    """Create a managed MLflow tracking server with its own artifact bucket."""
    mlflow_version: Annotated[str | None, Matches(MLFLOW_VERSION, "major.minor, such as 3.0")] = (
        None
    )
    """MLflow version, e.g. ``3.0``; SageMaker's default when omitted."""
    mlflow_size: MlflowSize = "Small"
    """``Small``, ``Medium`` or ``Large``."""
    automatic_model_registration: bool = False
    """Let MLflow register models into SageMaker Model Registry by itself. It creates groups of
    its own (``<model>-<suffix>``), so the platform registers explicitly by default."""
    weekly_maintenance_window_start: Annotated[
        str | None, Matches(MAINTENANCE_WINDOW, "DDD:HH:MM such as TUE:03:30")
    ] = None
    """Maintenance window start such as ``TUE:03:30`` (UTC)."""
    artifact_bucket: DataBucketArgs = field(default_factory=DataBucketArgs)
    """The MLflow artifact bucket (its key, retention and protection)."""
    iam_path: Annotated[str, IAM_PATH_NAME] = "/"
    """IAM path of the MLflow role."""
    permissions_boundary_arn: Annotated[pulumi.Input[str] | None, POLICY_ARN] = None
    """Permissions boundary of the MLflow role (required when CI deploys create it)."""
    protect: bool = True
    """Protect the package groups (they hold every registered model version) and the MLflow
    tracking server (it holds every experiment and run) and retain them, with the server's role."""
    tags: Tags = field(default_factory=dict)
    """Tags for every taggable child."""

    def __post_init__(self) -> None:
        check_declared(self)
        prefix = self.name_prefix or "x"
        for index, model in enumerate(self.models):
            if not GROUP_NAME.match(f"{prefix}-{model}"):
                raise ArgsError(
                    f"models[{index}]",
                    f"{prefix}-{model}",
                    "expected a group name of at most 63 characters",
                )
        if len(set(self.models)) != len(self.models):
            raise ArgsError("models", list(self.models), "names must be unique")


class ModelRegistry(pulumi.ComponentResource):
    """SageMaker model package groups, and an optional managed MLflow tracking server.

    Training pipelines register model versions into a group; releases deploy the newest
    approved version. With MLflow on, the tracking server stores artifacts in a hardened
    bucket of its own and runs under a role limited to that bucket.

    Example::

        from mlops_platform.components import ModelRegistry, ModelRegistryArgs

        registry = ModelRegistry(
            "models", ModelRegistryArgs(models=["churn", "fraud"], enable_mlflow=True)
        )
    """

    SECURE_DEFAULTS: ClassVar[tuple[SecureDefault, ...]] = (
        SecureDefault(
            "Package groups", "protected and retained (they hold every version)", "protect"
        ),
        SecureDefault("MLflow", "off", "enable_mlflow"),
        SecureDefault(
            "MLflow artifacts",
            "a hardened DataBucket; the server's role may use its ``mlflow/`` prefix only",
            "artifact_bucket",
        ),
        SecureDefault(
            "Automatic model registration",
            "off (the platform registers explicitly)",
            "automatic_model_registration",
        ),
        SecureDefault(
            "MLflow role",
            "trusts SageMaker for this account only",
            "iam_path, permissions_boundary_arn",
        ),
    )

    group_names: dict[str, str]
    """Model package group name per model (known before deployment)."""
    tracking_server_arn: pulumi.Output[str] | None
    """ARN of the MLflow tracking server; ``None`` without MLflow."""
    tracking_server_url: pulumi.Output[str] | None
    """URL of the MLflow tracking server; ``None`` without MLflow."""
    mlflow_bucket_arn: pulumi.Output[str] | None
    """ARN of the MLflow artifact bucket (clients upload run artifacts there); ``None``
    without MLflow."""

    def __init__(
        self, name: str, args: ModelRegistryArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(MODEL_REGISTRY_TYPE, name, None, opts)
        prefix = args.name_prefix or name
        tags = dict(args.tags)
        self.group_names = {model: f"{prefix}-{model}" for model in args.models}
        self.groups = {
            model: aws.sagemaker.ModelPackageGroup(
                f"{name}-{model}",
                model_package_group_name=group,
                model_package_group_description=f"Versions of the {model} model",
                tags=tags,
                opts=stateful(self, args.protect),
            )
            for model, group in self.group_names.items()
        }

        self.tracking_server_arn = None
        self.tracking_server_url = None
        self.mlflow_bucket_arn = None
        if args.enable_mlflow:
            bucket = DataBucket(
                f"{name}-mlflow", args.artifact_bucket, pulumi.ResourceOptions(parent=self)
            )
            context = aws_context(self)
            role, role_policy = sagemaker_role(
                f"{name}-mlflow",
                self,
                description=f"MLflow tracking server of {prefix}",
                account_id=context.account_id,
                policy=policy_document(
                    mlflow_role_policy,
                    partition=context.partition,
                    region=context.region,
                    account_id=context.account_id,
                    bucket_arn=bucket.arn,
                    kms_key_arn=bucket.kms_key_arn,
                    automatic_model_registration=args.automatic_model_registration,
                ),
                tags=tags,
                path=args.iam_path,
                permissions_boundary=args.permissions_boundary_arn,
                retain=args.protect,
            )
            server = aws.sagemaker.MlflowTrackingServer(
                f"{name}-tracking",
                tracking_server_name=f"{prefix}-mlflow",
                artifact_store_uri=bucket.bucket_name.apply(lambda b: f"s3://{b}/{MLFLOW_PREFIX}"),
                role_arn=role.arn,
                tracking_server_size=args.mlflow_size,
                mlflow_version=args.mlflow_version,
                automatic_model_registration=args.automatic_model_registration,
                weekly_maintenance_window_start=args.weekly_maintenance_window_start,
                tags=tags,
                opts=pulumi.ResourceOptions.merge(
                    stateful(self, args.protect), pulumi.ResourceOptions(depends_on=[role_policy])
                ),
            )
            self.tracking_server_arn = server.arn
            self.tracking_server_url = server.tracking_server_url
            self.mlflow_bucket_arn = bucket.arn

        self.register_outputs(
            {
                "groupNames": self.group_names,
                "trackingServerArn": self.tracking_server_arn,
                "trackingServerUrl": self.tracking_server_url,
            }
        )
