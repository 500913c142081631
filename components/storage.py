"""S3 storage for ML data: ``DataBucket`` (hardened bucket) and ``DvcRemote`` (bucket + access).

Policy documents, lifecycle rules and the DVC config text are pure functions below; the
components only wire them to resources.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar

import pulumi
import pulumi_aws as aws

from mlops_platform.components._aws import (
    aws_context,
    policy_document,
    retained_with,
    service_endpoint,
    stateful,
)
from mlops_platform.components._docs import SecureDefault
from mlops_platform.components._schema import Matches, between, check_declared
from mlops_platform.components._validate import (
    IAM_PATH_NAME,
    KEY_PREFIX,
    KMS_KEY,
    ArgsError,
    Tags,
    check_force_delete,
)
from mlops_platform.components.security import EncryptionKey, EncryptionKeyArgs

DATA_BUCKET_TYPE = "mlops:storage:DataBucket"
DVC_REMOTE_TYPE = "mlops:storage:DvcRemote"
ACCESS_LOG_BUCKET_TYPE = "mlops:storage:AccessLogBucket"

LOGGING_SERVICE = "logging.s3.amazonaws.com"
"""The principal that delivers S3 server access logs."""
ACCESS_LOG_ROOT = "s3-access-logs/"
"""Key prefix under which the log bucket receives access logs (one sub-prefix per bucket)."""
LOG_PREFIX = re.compile(r"^[A-Za-z0-9!_.*'()/-]{1,512}/$")

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


def access_log_bucket_policy(*, bucket_arn: str, account_id: str) -> dict[str, Any]:
    """The log bucket's policy (AWS docs, "Permissions for log delivery"): TLS only, and the S3
    logging service may put objects under :data:`ACCESS_LOG_ROOT` for source buckets of this
    account only (``aws:SourceAccount``, ``aws:SourceArn``), which a bucket-owner-enforced bucket
    requires instead of the legacy log-delivery ACL."""
    document = tls_only_bucket_policy(bucket_arn)
    document["Statement"].append(
        {
            "Sid": "S3ServerAccessLogsPolicy",
            "Effect": "Allow",
            "Principal": {"Service": LOGGING_SERVICE},
            "Action": "s3:PutObject",
            "Resource": f"{bucket_arn}/{ACCESS_LOG_ROOT}*",
            "Condition": {
                "ArnLike": {"aws:SourceArn": "arn:*:s3:::*"},
                "StringEquals": {"aws:SourceAccount": account_id},
            },
        }
    )
    return document


def log_lifecycle_rules(
    *, expiry_days: int, abort_incomplete_multipart_upload_days: int = 7
) -> list[dict[str, Any]]:
    """Access logs expire after ``expiry_days``; replaced versions a day later."""
    return [
        {
            "id": "expire-access-logs",
            "status": "Enabled",
            "filter": dict(ALL_OBJECTS),
            "expiration": {"days": expiry_days},
            "noncurrent_version_expiration": {"noncurrent_days": 1},
            "abort_incomplete_multipart_upload": {
                "days_after_initiation": abort_incomplete_multipart_upload_days
            },
        }
    ]


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


def _hardened_bucket(
    parent: pulumi.Resource,
    name: str,
    *,
    protect: bool,
    force_destroy: bool,
    tags: dict[str, str],
    encryption: dict[str, Any],
    lifecycle: list[dict[str, Any]],
    policy: Callable[[pulumi.Output[str]], pulumi.Output[str]],
) -> aws.s3.Bucket:
    """A bucket and its guards (public access block, owner-enforced ownership, versioning,
    default encryption ``encryption``, lifecycle, bucket policy), retained along with it."""
    bucket = aws.s3.Bucket(
        f"{name}-bucket",
        force_destroy=force_destroy,
        object_lock_enabled=False,
        tags=tags,
        opts=stateful(parent, protect),
    )
    public_access = aws.s3.BucketPublicAccessBlock(
        f"{name}-public-access",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=retained_with(parent, protect),
    )
    aws.s3.BucketOwnershipControls(
        f"{name}-ownership",
        bucket=bucket.id,
        rule={"object_ownership": "BucketOwnerEnforced"},
        opts=retained_with(parent, protect),
    )
    versioning = aws.s3.BucketVersioning(
        f"{name}-versioning",
        bucket=bucket.id,
        versioning_configuration={"status": "Enabled"},
        opts=retained_with(parent, protect),
    )
    aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-encryption",
        bucket=bucket.id,
        rules=[encryption],
        opts=retained_with(parent, protect),
    )
    aws.s3.BucketLifecycleConfiguration(
        f"{name}-lifecycle",
        bucket=bucket.id,
        rules=lifecycle,
        # Noncurrent-version rules act on versions: enable versioning first.
        opts=retained_with(parent, protect, depends_on=[versioning]),
    )
    aws.s3.BucketPolicy(
        f"{name}-policy",
        bucket=bucket.id,
        policy=policy(bucket.arn),
        # S3 rejects concurrent changes to the policy and the public access block.
        opts=retained_with(parent, protect, depends_on=[public_access]),
    )
    return bucket


# --- DataBucket ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DataBucketArgs:
    """Arguments of :class:`DataBucket`. Every field has a secure default."""

    kms_key_arn: Annotated[pulumi.Input[str] | None, KMS_KEY] = None
    """Key for SSE-KMS; a dedicated :class:`EncryptionKey` is created when omitted."""
    noncurrent_version_expiry_days: Annotated[int | None, between(1, 3650)] = 90
    """Days a replaced or deleted object version is kept (1-3650); ``None`` keeps them forever."""
    abort_incomplete_multipart_upload_days: Annotated[int, between(1, 365)] = 7
    """Days after which unfinished multipart uploads are removed (1-365)."""
    force_destroy: bool = False
    """Let ``pulumi destroy`` delete a bucket that still holds objects. Only for throw-away
    stacks; requires ``protect=False``."""
    protect: bool = True
    """Protect the bucket from ``pulumi destroy`` and retain it in AWS if it leaves the program."""
    access_log_bucket: pulumi.Input[str] | None = None
    """Name of the bucket that receives this bucket's S3 server access logs (an
    :class:`AccessLogBucket`); none: no server access logs (CloudTrail S3 data events are the
    alternative, see the README)."""
    access_log_prefix: Annotated[
        str | None, Matches(LOG_PREFIX, f"a key prefix under {ACCESS_LOG_ROOT} ending in '/'")
    ] = None
    """Key prefix of this bucket's logs; default ``s3-access-logs/<component name>/``."""
    tags: Tags = field(default_factory=dict)
    """Tags for every taggable child, merged over the provider's default tags."""

    def __post_init__(self) -> None:
        check_declared(self)
        if self.access_log_prefix is not None and not self.access_log_prefix.startswith(
            ACCESS_LOG_ROOT
        ):
            raise ArgsError(
                "access_log_prefix",
                self.access_log_prefix,
                f"must start with {ACCESS_LOG_ROOT} (where the log bucket accepts logs)",
            )
        check_force_delete("force_destroy", self.force_destroy, self.protect, "bucket")


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
        SecureDefault(
            "Access logs",
            "S3 server access logs to an AccessLogBucket when one is given",
            "access_log_bucket, access_log_prefix",
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

        self.bucket = _hardened_bucket(
            self,
            name,
            protect=args.protect,
            force_destroy=args.force_destroy,
            tags=tags,
            encryption={
                "apply_server_side_encryption_by_default": {
                    "sse_algorithm": "aws:kms",
                    "kms_master_key_id": key_arn,
                },
                "bucket_key_enabled": True,
                # Customer-provided keys bypass KMS and its audit trail.
                "blocked_encryption_types": ["SSE-C"],
            },
            lifecycle=lifecycle_rules(
                abort_incomplete_multipart_upload_days=args.abort_incomplete_multipart_upload_days,
                noncurrent_version_expiry_days=args.noncurrent_version_expiry_days,
            ),
            policy=lambda arn: policy_document(tls_only_bucket_policy, bucket_arn=arn),
        )
        if args.access_log_bucket is not None:
            aws.s3.BucketLogging(
                f"{name}-access-logs",
                bucket=self.bucket.id,
                target_bucket=args.access_log_bucket,
                target_prefix=args.access_log_prefix or f"{ACCESS_LOG_ROOT}{name}/",
                # Date-partitioned keys: one prefix per day, as Athena's projection expects.
                target_object_key_format={
                    "partitioned_prefix": {"partition_date_source": "EventTime"}
                },
                opts=retained_with(self, args.protect),
            )

        self.bucket_name = self.bucket.bucket
        self.arn = self.bucket.arn
        self.kms_key_arn = pulumi.Output.from_input(key_arn)
        self.register_outputs(
            {"bucketName": self.bucket_name, "arn": self.arn, "kmsKeyArn": self.kms_key_arn}
        )


# --- AccessLogBucket -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AccessLogBucketArgs:
    """Arguments of :class:`AccessLogBucket`. Every field has a secure default."""

    expiry_days: Annotated[int, between(1, 3650)] = 365
    """Days an access log object is kept (1-3650)."""
    force_destroy: bool = False
    """Let ``pulumi destroy`` delete the bucket with its logs; requires ``protect=False``."""
    protect: bool = True
    """Protect the bucket from ``pulumi destroy`` and retain it in AWS if it leaves the program."""
    tags: Tags = field(default_factory=dict)
    """Tags for every taggable child, merged over the provider's default tags."""

    def __post_init__(self) -> None:
        check_declared(self)
        check_force_delete("force_destroy", self.force_destroy, self.protect, "bucket")


class AccessLogBucket(pulumi.ComponentResource):
    """The target of S3 server access logs: a private, versioned, TLS-only bucket that only the
    S3 logging service of this account writes to, under ``s3-access-logs/``.

    Give its ``bucket_name`` to :class:`DataBucket` (``access_log_bucket``) for every bucket
    whose reads and writes you need to audit. Log delivery supports only SSE-S3 default
    encryption on the target bucket (no KMS key); everything else is as hardened as a
    DataBucket.

    Example::

        from mlops_platform.components import (
            AccessLogBucket, AccessLogBucketArgs, DataBucket, DataBucketArgs,
        )

        logs = AccessLogBucket("access-logs", AccessLogBucketArgs(expiry_days=365))
        data = DataBucket("data", DataBucketArgs(access_log_bucket=logs.bucket_name))
    """

    SECURE_DEFAULTS: ClassVar[tuple[SecureDefault, ...]] = (
        SecureDefault("Public access", "blocked (all four public access block flags)", "fixed"),
        SecureDefault("Object ownership", "``BucketOwnerEnforced`` (ACLs disabled)", "fixed"),
        SecureDefault(
            "Writers",
            "only ``logging.s3.amazonaws.com`` for buckets of this account, under the log prefix",
            "fixed",
        ),
        SecureDefault(
            "Encryption at rest",
            "SSE-S3 (the only default encryption S3 log delivery supports)",
            "fixed",
        ),
        SecureDefault("Transport", "TLS 1.2+ only", "fixed"),
        SecureDefault("Retention", "logs expire after 365 days", "expiry_days"),
        SecureDefault("Deletion", "protected and retained; no force-destroy", "protect=False"),
    )

    bucket_name: pulumi.Output[str]
    """Physical bucket name (give it to ``DataBucketArgs.access_log_bucket``)."""
    arn: pulumi.Output[str]
    """ARN of the bucket."""

    def __init__(
        self, name: str, args: AccessLogBucketArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(ACCESS_LOG_BUCKET_TYPE, name, None, opts)
        account_id = aws_context(self).account_id
        self.bucket = _hardened_bucket(
            self,
            name,
            protect=args.protect,
            force_destroy=args.force_destroy,
            tags=dict(args.tags),
            encryption={"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}},
            lifecycle=log_lifecycle_rules(expiry_days=args.expiry_days),
            policy=lambda arn: policy_document(
                access_log_bucket_policy, bucket_arn=arn, account_id=account_id
            ),
        )
        self.bucket_name = self.bucket.bucket
        self.arn = self.bucket.arn
        self.register_outputs({"bucketName": self.bucket_name, "arn": self.arn})


# --- DvcRemote -----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DvcRemoteArgs:
    """Arguments of :class:`DvcRemote`. Every field has a secure default."""

    prefix: Annotated[
        str,
        Matches(
            KEY_PREFIX, "a key prefix such as 'dvc' or 'team/dvc' (no leading or trailing '/')"
        ),
    ] = "dvc"
    """Key prefix inside the bucket that DVC uses as its remote root."""
    remote_name: Annotated[str, Matches(REMOTE_NAME, "a name of letters, digits, _ and -")] = (
        "storage"
    )
    """Name of the remote in the generated ``.dvc/config``."""
    bucket: DataBucketArgs = field(default_factory=DataBucketArgs)
    """The hardened bucket behind the remote."""
    iam_path: Annotated[str, IAM_PATH_NAME] = "/"
    """IAM path of the two managed policies."""

    def __post_init__(self) -> None:
        check_declared(self)


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
        # The provider's region (a bucket lives in it), from the standard invoke: consumers'
        # mocks answer getRegion but do not compute a bucket's ``region``.
        region = aws_context(self).region

        def access_policy(write: bool) -> pulumi.Output[str]:
            return policy_document(
                dvc_access_policy,
                bucket_arn=self.bucket.arn,
                prefix=args.prefix,
                kms_key_arn=self.bucket.kms_key_arn,
                region=region,
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

        self.dvc_remote_url = self.bucket.bucket_name.apply(lambda b: f"s3://{b}/{args.prefix}")
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
