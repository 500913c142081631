"""Container images: ``ContainerRegistry``, one or more hardened ECR repositories."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pulumi
import pulumi_aws as aws
from mlops_platform.components._aws import (
    aws_context,
    policy_document,
    policy_json,
    retained_with,
    stateful,
)
from mlops_platform.components._docs import SecureDefault
from mlops_platform.components._validate import (
    IAM_PRINCIPAL_ARN,
    KMS_KEY_ARN,
    ArgsError,
    check_bool,
    check_choice,
    check_each,
    check_force_delete,
    check_iam,
    check_int,
    check_pattern,
    check_tags,
)
from mlops_platform.components.serving import sagemaker_role
from mlops_platform.components.storage import DataBucket, DataBucketArgs

TYPE = "mlops:registry:ContainerRegistry"

# ECR repository names: lowercase path components separated by '/', each of [a-z0-9] runs
# joined by '.', '_' or '-' (ECR CreateRepository API, repositoryName).
REPOSITORY_NAME = re.compile(r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$")
TAG_MUTABILITY = ("IMMUTABLE", "MUTABLE")
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

    repositories: Sequence[str] = ("serving",)
    """Logical repository names, e.g. ``("training", "serving")``."""
    namespace: str | None = None
    """Prefix for the physical repository names (``<namespace>/<repository>``), e.g.
    ``mlops-platform/dev``; when omitted, Pulumi autonames each repository."""
    image_tag_mutability: str = "IMMUTABLE"
    """``IMMUTABLE`` (a tag always names the same image) or ``MUTABLE``."""
    scan_on_push: bool = True
    """Scan every pushed image for vulnerabilities."""
    kms_key_arn: pulumi.Input[str] | None = None
    """Customer managed key for encryption at rest; the AWS managed ECR key when omitted
    (encryption is always KMS)."""
    keep_tagged_images: int = 30
    """How many tagged images each repository keeps (1-10000); older ones expire."""
    untagged_expiry_days: int = 7
    """Days after which untagged images expire (1-3650)."""
    pull_principal_arns: Sequence[pulumi.Input[str]] = ()
    """IAM principals (roles, users or account roots) granted pull access by repository policy."""
    force_delete: bool = False
    """Let ``pulumi destroy`` delete repositories that still hold images. Only for throw-away
    stacks; requires ``protect=False``."""
    protect: bool = True
    """Protect repositories from ``pulumi destroy`` and retain them if they leave the program."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags for every repository, merged over the provider's default tags."""

    def __post_init__(self) -> None:
        if isinstance(self.repositories, str) or not self.repositories:
            raise ArgsError("repositories", self.repositories, "expected a non-empty list of names")
        check_each(
            "repositories", self.repositories, REPOSITORY_NAME, "lowercase ECR repository names"
        )
        if len(set(self.repositories)) != len(self.repositories):
            raise ArgsError("repositories", list(self.repositories), "names must be unique")
        if self.namespace is not None:
            check_pattern(
                "namespace", self.namespace, REPOSITORY_NAME, "a lowercase ECR name prefix"
            )
        for repository in self.repositories:
            full = f"{self.namespace}/{repository}" if self.namespace else repository
            if len(full) > 256:
                raise ArgsError("repositories", full, "ECR names are at most 256 characters")
        check_choice("image_tag_mutability", self.image_tag_mutability, TAG_MUTABILITY)
        check_bool("scan_on_push", self.scan_on_push)
        if self.kms_key_arn is not None:
            check_pattern("kms_key_arn", self.kms_key_arn, KMS_KEY_ARN, "a KMS key ARN")
        check_int("keep_tagged_images", self.keep_tagged_images, 1, 10000)
        check_int("untagged_expiry_days", self.untagged_expiry_days, 1, 3650)
        check_each(
            "pull_principal_arns",
            self.pull_principal_arns,
            IAM_PRINCIPAL_ARN,
            "IAM principal ARNs (arn:aws:iam::<account>:root|role/...|user/...)",
        )
        check_force_delete("force_delete", self.force_delete, self.protect, "repository")
        check_tags("tags", self.tags)


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
MLFLOW_SIZES = ("Small", "Medium", "Large")
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

    models: Sequence[str] = ("demo",)
    """One SageMaker model package group per model."""
    name_prefix: str | None = None
    """Group names are ``<prefix>-<model>``; the component name by default."""
    enable_mlflow: bool = False
    """Create a managed MLflow tracking server with its own artifact bucket."""
    mlflow_version: str | None = None
    """MLflow version, e.g. ``3.0``; SageMaker's default when omitted."""
    mlflow_size: str = "Small"
    """``Small``, ``Medium`` or ``Large``."""
    automatic_model_registration: bool = False
    """Let MLflow register models into SageMaker Model Registry by itself. It creates groups of
    its own (``<model>-<suffix>``), so the platform registers explicitly by default."""
    weekly_maintenance_window_start: str | None = None
    """Maintenance window start such as ``TUE:03:30`` (UTC)."""
    artifact_bucket: DataBucketArgs = field(default_factory=DataBucketArgs)
    """The MLflow artifact bucket (its key, retention and protection)."""
    iam_path: str = "/"
    """IAM path of the MLflow role."""
    permissions_boundary_arn: pulumi.Input[str] | None = None
    """Permissions boundary of the MLflow role (required when CI deploys create it)."""
    protect: bool = True
    """Protect the package groups (they hold every registered model version) and the MLflow
    tracking server (it holds every experiment and run) and retain them, with the server's role."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags for every taggable child."""

    def __post_init__(self) -> None:
        if isinstance(self.models, str) or not self.models:
            raise ArgsError("models", self.models, "expected a non-empty list of model names")
        prefix = self.name_prefix or "x"
        check_each("models", self.models, GROUP_NAME, "model names of letters, digits and -")
        for index, model in enumerate(self.models):
            check_pattern(
                f"models[{index}]",
                f"{prefix}-{model}",
                GROUP_NAME,
                "a group name of at most 63 characters",
            )
        if len(set(self.models)) != len(self.models):
            raise ArgsError("models", list(self.models), "names must be unique")
        if self.name_prefix is not None:
            check_pattern("name_prefix", self.name_prefix, GROUP_NAME, "letters, digits and -")
        check_bool("enable_mlflow", self.enable_mlflow)
        if self.mlflow_version is not None:
            check_pattern(
                "mlflow_version", self.mlflow_version, MLFLOW_VERSION, "major.minor, such as 3.0"
            )
        check_choice("mlflow_size", self.mlflow_size, MLFLOW_SIZES)
        check_bool("automatic_model_registration", self.automatic_model_registration)
        if self.weekly_maintenance_window_start is not None:
            check_pattern(
                "weekly_maintenance_window_start",
                self.weekly_maintenance_window_start,
                MAINTENANCE_WINDOW,
                "DDD:HH:MM such as TUE:03:30",
            )
        if not isinstance(self.artifact_bucket, DataBucketArgs):
            raise ArgsError("artifact_bucket", self.artifact_bucket, "expected DataBucketArgs")
        check_iam(self.iam_path, self.permissions_boundary_arn)
        check_bool("protect", self.protect)
        check_tags("tags", self.tags)


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

        self.register_outputs(
            {
                "groupNames": self.group_names,
                "trackingServerArn": self.tracking_server_arn,
                "trackingServerUrl": self.tracking_server_url,
            }
        )
