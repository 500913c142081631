"""Container images: ``ContainerRegistry``, one or more hardened ECR repositories."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components._aws import policy_json, retained_with, stateful
from components._validate import (
    IAM_PRINCIPAL_ARN,
    KMS_KEY_ARN,
    ArgsError,
    check_bool,
    check_choice,
    check_each,
    check_force_delete,
    check_int,
    check_pattern,
    check_tags,
)

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
    """ECR repositories with immutable tags, scan on push, KMS and lifecycle by default."""

    repository_urls: pulumi.Output[dict[str, str]]
    repository_arns: pulumi.Output[dict[str, str]]
    registry_url: pulumi.Output[str]

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
                    policy=pulumi.Output.all(*args.pull_principal_arns).apply(
                        lambda arns: policy_json(pull_policy(arns))
                    ),
                    opts=retained_with(self, args.protect),
                )
            self.repositories[repository] = repo

        self.repository_urls = pulumi.Output.all(
            **{k: r.repository_url for k, r in self.repositories.items()}
        )
        self.repository_arns = pulumi.Output.all(**{k: r.arn for k, r in self.repositories.items()})
        first = next(iter(self.repositories.values()))
        self.registry_url = first.repository_url.apply(lambda url: url.split("/", 1)[0])
        self.register_outputs(
            {
                "repositoryUrls": self.repository_urls,
                "repositoryArns": self.repository_arns,
                "registryUrl": self.registry_url,
            }
        )
