"""S3 storage for ML data: ``DataBucket`` (hardened bucket) and ``DvcRemote`` (bucket + access).

Policy documents, lifecycle rules and the DVC config text are pure functions below; the
components only wire them to resources.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pulumi
import pulumi_aws as aws

from mlops_platform.components._aws import (
    policy_document,
    retained_with,
    service_endpoint,
    stateful,
)
from mlops_platform.components._docs import SecureDefault
from mlops_platform.components._validate import (
    KEY_PREFIX,
    KMS_KEY_ARN,
    ArgsError,
    check_force_delete,
    check_iam,
    check_int,
    check_optional_int,
    check_pattern,
    check_tags,
)
from mlops_platform.components.security import EncryptionKey, EncryptionKeyArgs

DATA_BUCKET_TYPE = "mlops:storage:DataBucket"
DVC_REMOTE_TYPE = "mlops:storage:DvcRemote"

REMOTE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")


# --- pure documents ------------------------------------------------------------------------------


def tls_only_bucket_policy(bucket_arn: str) -> dict[str, Any]:
    """Deny every request that does not use TLS 1.2 or newer (FSBP S3.5, CIS 2.1.1)."""
    resources = [bucket_arn, f"{bucket_arn}/*"]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": resources,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                "Sid": "DenyOutdatedTls",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": resources,
                "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}},
            },
        ],
    }


# An empty ``filter {}`` makes the provider warn ("one (and only one) of ... is required",
# terraform-provider-aws#42714); an empty prefix selects every object without the warning.
ALL_OBJECTS = {"prefix": ""}


def lifecycle_rules(
    *, abort_incomplete_multipart_upload_days: int, noncurrent_version_expiry_days: int | None
) -> list[dict[str, Any]]:
    """Lifecycle rules as ``BucketLifecycleConfiguration`` inputs (snake_case dicts)."""
    rules: list[dict[str, Any]] = [
        {
            "id": "abort-incomplete-multipart-uploads",
            "status": "Enabled",
            "filter": dict(ALL_OBJECTS),
            "abort_incomplete_multipart_upload": {
                "days_after_initiation": abort_incomplete_multipart_upload_days
            },
        }
    ]
    if noncurrent_version_expiry_days is not None:
        rules.append(
            {
                "id": "expire-noncurrent-versions",
                "status": "Enabled",
                "filter": dict(ALL_OBJECTS),
                "noncurrent_version_expiration": {
                    "noncurrent_days": noncurrent_version_expiry_days
                },
                # Delete markers left behind once every noncurrent version has expired.
                "expiration": {"expired_object_delete_marker": True},
            }
        )
    return rules


DVC_READ_ACTIONS = ("s3:GetObject",)
DVC_WRITE_ACTIONS = (
    "s3:AbortMultipartUpload",
    "s3:DeleteObject",
    "s3:GetObject",
    "s3:ListMultipartUploadParts",
    "s3:PutObject",
)


def dvc_access_policy(
    *, bucket_arn: str, prefix: str, kms_key_arn: str, region: str, write: bool
) -> dict[str, Any]:
    """Least-privilege policy for DVC against ``s3://<bucket>/<prefix>``.

    Listing is granted on the whole bucket (it is dedicated to the remote): S3 answers a
    ``HeadObject`` for a missing key with 403 instead of 404 unless the caller may list the
    bucket, which breaks ``dvc push``/``status``. Object access is confined to the prefix, and the
    key may be used only through S3 in the bucket's region.
    """
    bucket_actions = ["s3:GetBucketLocation", "s3:ListBucket"]
    if write:
        bucket_actions.append("s3:ListBucketMultipartUploads")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ListRemote",
                "Effect": "Allow",
                "Action": bucket_actions,
                "Resource": bucket_arn,
            },
            {
                "Sid": "ReadWrite" if write else "Read",
                "Effect": "Allow",
                "Action": list(DVC_WRITE_ACTIONS if write else DVC_READ_ACTIONS),
                "Resource": f"{bucket_arn}/{prefix}/*",
            },
            {
                "Sid": "UseKeyThroughS3",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"] if write else ["kms:Decrypt"],
                "Resource": kms_key_arn,
                "Condition": {"StringEquals": {"kms:ViaService": service_endpoint("s3", region)}},
            },
        ],
    }


def dvc_config(remote_name: str, url: str) -> str:
    """A ``.dvc/config`` that makes ``url`` the default remote."""
    return f"[core]\n    remote = {remote_name}\n['remote \"{remote_name}\"']\n    url = {url}\n"


# --- DataBucket ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DataBucketArgs:
    """Arguments of :class:`DataBucket`. Every field has a secure default."""

    kms_key_arn: pulumi.Input[str] | None = None
    """Key for SSE-KMS; a dedicated :class:`EncryptionKey` is created when omitted."""
    noncurrent_version_expiry_days: int | None = 90
    """Days a replaced or deleted object version is kept (1-3650); ``None`` keeps them forever."""
    abort_incomplete_multipart_upload_days: int = 7
    """Days after which unfinished multipart uploads are removed (1-365)."""
    force_destroy: bool = False
    """Let ``pulumi destroy`` delete a bucket that still holds objects. Only for throw-away
    stacks; requires ``protect=False``."""
    protect: bool = True
    """Protect the bucket from ``pulumi destroy`` and retain it in AWS if it leaves the program."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags for every taggable child, merged over the provider's default tags."""

    def __post_init__(self) -> None:
        if self.kms_key_arn is not None:
            check_pattern("kms_key_arn", self.kms_key_arn, KMS_KEY_ARN, "a KMS key ARN")
        check_optional_int(
            "noncurrent_version_expiry_days", self.noncurrent_version_expiry_days, 1, 3650
        )
        check_int(
            "abort_incomplete_multipart_upload_days",
            self.abort_incomplete_multipart_upload_days,
            1,
            365,
        )
        check_force_delete("force_destroy", self.force_destroy, self.protect, "bucket")
        check_tags("tags", self.tags)


class DataBucket(pulumi.ComponentResource):
    """A private, versioned, SSE-KMS encrypted, TLS-only S3 bucket with lifecycle rules.

    For data sets, model artifacts and anything else that must never be public. Pass a key ARN
    to share one key between buckets; otherwise the bucket gets its own ``EncryptionKey``.

    Example::

        from mlops_platform.components import DataBucket, DataBucketArgs

        artifacts = DataBucket("artifacts", DataBucketArgs(noncurrent_version_expiry_days=365))
    """

    SECURE_DEFAULTS: ClassVar[tuple[SecureDefault, ...]] = (
        SecureDefault("Public access", "blocked (all four public access block flags)", "fixed"),
        SecureDefault("Object ownership", "``BucketOwnerEnforced`` (ACLs disabled)", "fixed"),
        SecureDefault("Versioning", "enabled", "fixed"),
        SecureDefault(
            "Encryption at rest",
            "SSE-KMS with a dedicated key and S3 bucket key; SSE-C uploads blocked",
            "kms_key_arn (another key)",
        ),
        SecureDefault("Transport", "TLS 1.2+ only (bucket policy denies the rest)", "fixed"),
        SecureDefault(
            "Lifecycle",
            "old versions expire after 90 days; unfinished uploads after 7",
            "noncurrent_version_expiry_days, abort_incomplete_multipart_upload_days",
        ),
        SecureDefault(
            "Deletion",
            "protected and retained with its guards; no force-destroy",
            "protect=False, then force_destroy=True",
        ),
    )

    bucket_name: pulumi.Output[str]
    """Physical bucket name (autonamed)."""
    arn: pulumi.Output[str]
    """ARN of the bucket."""
    kms_key_arn: pulumi.Output[str]
    """Key that encrypts the bucket: the one passed in, or the dedicated key."""

    def __init__(
        self, name: str, args: DataBucketArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(DATA_BUCKET_TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)

        self.key: EncryptionKey | None = None
        if args.kms_key_arn is None:
            self.key = EncryptionKey(
                f"{name}-key",
                EncryptionKeyArgs(
                    description=f"Encrypts the {name} bucket", protect=args.protect, tags=tags
                ),
                child,
            )
            key_arn: pulumi.Input[str] = self.key.arn
        else:
            key_arn = args.kms_key_arn

        self.bucket = aws.s3.Bucket(
            f"{name}-bucket",
            force_destroy=args.force_destroy,
            object_lock_enabled=False,
            tags=tags,
            opts=stateful(self, args.protect),
        )
        public_access = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=retained_with(self, args.protect),
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=self.bucket.id,
            rule={"object_ownership": "BucketOwnerEnforced"},
            opts=retained_with(self, args.protect),
        )
        versioning = aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=self.bucket.id,
            versioning_configuration={"status": "Enabled"},
            opts=retained_with(self, args.protect),
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=self.bucket.id,
            rules=[
                {
                    "apply_server_side_encryption_by_default": {
                        "sse_algorithm": "aws:kms",
                        "kms_master_key_id": key_arn,
                    },
                    "bucket_key_enabled": True,
                    # Customer-provided keys bypass KMS and its audit trail.
                    "blocked_encryption_types": ["SSE-C"],
                }
            ],
            opts=retained_with(self, args.protect),
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=self.bucket.id,
            rules=lifecycle_rules(
                abort_incomplete_multipart_upload_days=args.abort_incomplete_multipart_upload_days,
                noncurrent_version_expiry_days=args.noncurrent_version_expiry_days,
            ),
            # Noncurrent-version rules act on versions: enable versioning first.
            opts=retained_with(self, args.protect, depends_on=[versioning]),
        )
        aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=self.bucket.id,
            policy=policy_document(tls_only_bucket_policy, bucket_arn=self.bucket.arn),
            # S3 rejects concurrent changes to the policy and the public access block.
            opts=retained_with(self, args.protect, depends_on=[public_access]),
        )

        self.bucket_name = self.bucket.bucket
        self.arn = self.bucket.arn
        self.kms_key_arn = pulumi.Output.from_input(key_arn)
        self.register_outputs(
            {"bucketName": self.bucket_name, "arn": self.arn, "kmsKeyArn": self.kms_key_arn}
        )


# --- DvcRemote -----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DvcRemoteArgs:
    """Arguments of :class:`DvcRemote`. Every field has a secure default."""

    prefix: str = "dvc"
    """Key prefix inside the bucket that DVC uses as its remote root."""
    remote_name: str = "storage"
    """Name of the remote in the generated ``.dvc/config``."""
    bucket: DataBucketArgs = field(default_factory=DataBucketArgs)
    """The hardened bucket behind the remote."""
    iam_path: str = "/"
    """IAM path of the two managed policies."""

    def __post_init__(self) -> None:
        if not isinstance(self.prefix, str) or not KEY_PREFIX.match(self.prefix):
            raise ArgsError(
                "prefix",
                self.prefix,
                "expected a key prefix such as 'dvc' or 'team/dvc' (no leading or trailing '/')",
            )
        check_pattern(
            "remote_name", self.remote_name, REMOTE_NAME, "a name of letters, digits, _ and -"
        )
        if not isinstance(self.bucket, DataBucketArgs):
            raise ArgsError("bucket", self.bucket, "expected DataBucketArgs")
        check_iam(self.iam_path, None)


class DvcRemote(pulumi.ComponentResource):
    """A DataBucket used as a DVC remote, with read-only and read-write IAM managed policies.

    Attach the read-only policy to whoever pulls data (training jobs, people) and the read-write
    policy to whoever pushes it (CI). ``dvc_config`` is a ready ``.dvc/config``.

    Example::

        import pulumi
        from mlops_platform.components import DvcRemote, DvcRemoteArgs

        remote = DvcRemote("data", DvcRemoteArgs(prefix="team/dvc"))
        pulumi.export("dvcConfig", remote.dvc_config)
    """

    SECURE_DEFAULTS: ClassVar[tuple[SecureDefault, ...]] = (
        SecureDefault(
            "Bucket", "a hardened DataBucket (see its table)", "bucket=DataBucketArgs(...)"
        ),
        SecureDefault(
            "Access",
            "two least-privilege policies: objects under the prefix only, the key only via S3 "
            "in the bucket's region; nothing is attached by the component",
            "fixed (attach the policies where needed)",
        ),
        SecureDefault("Remote root", "``dvc/`` prefix, never the bucket root", "prefix"),
    )

    dvc_remote_url: pulumi.Output[str]
    """``s3://<bucket>/<prefix>``: the URL for ``dvc remote add``."""
    dvc_config: pulumi.Output[str]
    """A ``.dvc/config`` making this remote the default (``remote_name``)."""
    read_only_policy_arn: pulumi.Output[str]
    """Managed policy for ``dvc pull``, ``fetch`` and ``status``."""
    read_write_policy_arn: pulumi.Output[str]
    """Managed policy for ``dvc push`` as well."""

    def __init__(
        self, name: str, args: DvcRemoteArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(DVC_REMOTE_TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.bucket = DataBucket(f"{name}-data", args.bucket, child)
        tags = dict(args.bucket.tags)

        def access_policy(write: bool) -> pulumi.Output[str]:
            return policy_document(
                dvc_access_policy,
                bucket_arn=self.bucket.arn,
                prefix=args.prefix,
                kms_key_arn=self.bucket.kms_key_arn,
                region=self.bucket.bucket.region,
                write=write,
            )

        self.read_only_policy = aws.iam.Policy(
            f"{name}-read-only",
            description=f"DVC pull from the {name} remote",
            path=args.iam_path,
            policy=access_policy(write=False),
            tags=tags,
            opts=child,
        )
        self.read_write_policy = aws.iam.Policy(
            f"{name}-read-write",
            description=f"DVC push and pull to the {name} remote",
            path=args.iam_path,
            policy=access_policy(write=True),
            tags=tags,
            opts=child,
        )

        self.dvc_remote_url = pulumi.Output.concat(
            "s3://", self.bucket.bucket_name, "/", args.prefix
        )
        self.dvc_config = self.dvc_remote_url.apply(lambda url: dvc_config(args.remote_name, url))
        self.read_only_policy_arn = self.read_only_policy.arn
        self.read_write_policy_arn = self.read_write_policy.arn
        self.register_outputs(
            {
                "dvcRemoteUrl": self.dvc_remote_url,
                "dvcConfig": self.dvc_config,
                "readOnlyPolicyArn": self.read_only_policy_arn,
                "readWritePolicyArn": self.read_write_policy_arn,
            }
        )
