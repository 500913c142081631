"""Customer managed KMS keys: ``EncryptionKey``.

One key encrypts a platform's buckets, repositories, logs and topics. Its key policy is explicit:
the account administers it through IAM (the standard statement that delegates to IAM policies),
named key administrators may manage but not use it, and named AWS services may use it only on
behalf of this account.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pulumi
import pulumi_aws as aws

from mlops_platform.components._aws import aws_context, policy_document, retained_with, stateful
from mlops_platform.components._docs import SecureDefault
from mlops_platform.components._validate import (
    IAM_PRINCIPAL_ARN,
    SERVICE_PRINCIPAL,
    ArgsError,
    check_bool,
    check_each,
    check_int,
    check_tags,
)

TYPE = "mlops:security:EncryptionKey"

LOGS_PRINCIPAL = re.compile(r"^logs\.[a-z]{2}(?:-[a-z]+)+-\d\.amazonaws\.com(?:\.cn)?$")
ALIAS = re.compile(r"^alias/[A-Za-z0-9/_-]{1,250}$")

# The administrator statement of the AWS default key policy: key management, no cryptographic
# operations. Administrators are still trusted: kms:Create* includes CreateGrant and kms:Put*
# PutKeyPolicy, with which they could grant themselves use.
KEY_ADMIN_ACTIONS = (
    "kms:CancelKeyDeletion",
    "kms:Create*",
    "kms:Delete*",
    "kms:Describe*",
    "kms:Disable*",
    "kms:Enable*",
    "kms:Get*",
    "kms:List*",
    "kms:Put*",
    "kms:Revoke*",
    "kms:RotateKeyOnDemand",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:Update*",
)
# What an AWS service needs to encrypt and decrypt with the key on a caller's behalf.
KEY_USE_ACTIONS = (
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:GenerateDataKey*",
    "kms:ReEncrypt*",
)


def statement_id(prefix: str, service: str) -> str:
    """An IAM ``Sid`` (alphanumeric) naming a service: ``logs.eu-west-1`` -> ``LogsEuWest1``."""
    short = re.sub(r"\.amazonaws\.com(?:\.cn)?$", "", service)
    return prefix + "".join(part.title() for part in re.split(r"[.-]", short))


def service_condition(service: str, *, partition: str, account_id: str) -> dict[str, Any]:
    """Confused-deputy protection for a service principal using the key.

    CloudWatch Logs documents an encryption-context condition naming the account's log groups
    (docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html); every other
    service is pinned to calls made on behalf of this account with ``aws:SourceAccount``.
    """
    if service.startswith("logs."):
        region = service.split(".")[1]
        return {
            "ArnLike": {
                "kms:EncryptionContext:aws:logs:arn": (
                    f"arn:{partition}:logs:{region}:{account_id}:*"
                )
            }
        }
    return {"StringEquals": {"aws:SourceAccount": account_id}}


def key_policy(
    *,
    partition: str,
    account_id: str,
    administrator_arns: Sequence[str] = (),
    service_principals: Sequence[str] = (),
) -> dict[str, Any]:
    """The key policy document (pure; the component fills in partition and account)."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "EnableIamPolicies",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ]
    if administrator_arns:
        statements.append(
            {
                "Sid": "KeyAdministrators",
                "Effect": "Allow",
                "Principal": {"AWS": sorted(administrator_arns)},
                "Action": list(KEY_ADMIN_ACTIONS),
                "Resource": "*",
            }
        )
    for service in sorted(service_principals):
        statements.append(
            {
                "Sid": statement_id("Service", service),
                "Effect": "Allow",
                "Principal": {"Service": service},
                "Action": list(KEY_USE_ACTIONS),
                "Resource": "*",
                "Condition": service_condition(service, partition=partition, account_id=account_id),
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


@dataclass(frozen=True, kw_only=True)
class EncryptionKeyArgs:
    """Arguments of :class:`EncryptionKey`. Every field has a secure default."""

    description: str = "mlops-platform customer managed key"
    """Shown in the KMS console."""
    alias: str | None = None
    """Alias such as ``alias/mlops-dev``; when omitted, an alias ``alias/<name>-<suffix>`` is
    generated so that two keys never collide."""
    deletion_window_in_days: int = 30
    """Waiting period before a scheduled deletion takes effect (7-30 days)."""
    rotation_period_in_days: int = 365
    """Automatic rotation is always on; this is its period (90-2560 days)."""
    administrator_arns: Sequence[pulumi.Input[str]] = ()
    """IAM roles or users that may manage (not use) the key, besides the account's IAM policies."""
    service_principals: Sequence[str] = ()
    """AWS services that may use the key for this account, e.g. ``logs.eu-west-1.amazonaws.com``
    or ``sns.amazonaws.com``."""
    protect: bool = True
    """Protect the key from ``pulumi destroy`` and retain it in AWS if it leaves the program."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags for the key, merged over the provider's default tags."""

    def __post_init__(self) -> None:
        if not isinstance(self.description, str) or not 0 < len(self.description) <= 8192:
            raise ArgsError("description", self.description, "expected 1-8192 characters")
        if self.alias is not None:
            if not isinstance(self.alias, str) or not ALIAS.match(self.alias):
                raise ArgsError(
                    "alias", self.alias, "expected 'alias/' followed by letters, digits, / _ -"
                )
            if self.alias.startswith("alias/aws/"):
                raise ArgsError("alias", self.alias, "'alias/aws/' is reserved for AWS keys")
        check_int("deletion_window_in_days", self.deletion_window_in_days, 7, 30)
        check_int("rotation_period_in_days", self.rotation_period_in_days, 90, 2560)
        check_each(
            "administrator_arns", self.administrator_arns, IAM_PRINCIPAL_ARN, "IAM role/user ARNs"
        )
        check_each(
            "service_principals",
            self.service_principals,
            SERVICE_PRINCIPAL,
            "AWS service principals such as sns.amazonaws.com",
        )
        for index, service in enumerate(self.service_principals):
            if service.startswith("logs.") and not LOGS_PRINCIPAL.match(service):
                raise ArgsError(
                    f"service_principals[{index}]",
                    service,
                    "CloudWatch Logs is named with its region: logs.<region>.amazonaws.com",
                )
        check_bool("protect", self.protect)
        check_tags("tags", self.tags)


class EncryptionKey(pulumi.ComponentResource):
    """A symmetric customer managed KMS key with rotation, an explicit key policy and an alias.

    The key policy delegates to the account's IAM policies (the AWS default statement), lets
    named administrators manage but not use the key, and lets named AWS services use it only on
    behalf of this account (CloudWatch Logs through its documented encryption context).

    Example::

        from mlops_platform.components import EncryptionKey, EncryptionKeyArgs

        key = EncryptionKey(
            "platform-key",
            EncryptionKeyArgs(service_principals=["logs.eu-west-1.amazonaws.com"]),
        )
    """

    SECURE_DEFAULTS: ClassVar[tuple[SecureDefault, ...]] = (
        SecureDefault("Rotation", "on, every 365 days", "rotation_period_in_days (90-2560)"),
        SecureDefault(
            "Key policy",
            "explicit: account IAM, administrators without use, services for this account only",
            "administrator_arns, service_principals",
        ),
        SecureDefault("Deletion window", "30 days", "deletion_window_in_days (7-30)"),
        SecureDefault("Policy lockout safety check", "never bypassed", "fixed"),
        SecureDefault("Protection", "protected and retained with its alias", "protect=False"),
    )

    arn: pulumi.Output[str]
    """ARN of the key (use it in IAM statements and as ``kms_key_arn`` of other components)."""
    key_id: pulumi.Output[str]
    """Id of the key."""
    alias_name: pulumi.Output[str]
    """The alias, ``alias/...``."""

    def __init__(
        self, name: str, args: EncryptionKeyArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)

        context = aws_context(self)
        policy = policy_document(
            key_policy,
            partition=context.partition,
            account_id=context.account_id,
            administrator_arns=list(args.administrator_arns),
            service_principals=list(args.service_principals),
        )
        self.key = aws.kms.Key(
            f"{name}-key",
            description=args.description,
            key_usage="ENCRYPT_DECRYPT",
            customer_master_key_spec="SYMMETRIC_DEFAULT",
            enable_key_rotation=True,
            rotation_period_in_days=args.rotation_period_in_days,
            deletion_window_in_days=args.deletion_window_in_days,
            bypass_policy_lockout_safety_check=False,
            policy=policy,
            tags=dict(args.tags),
            opts=stateful(self, args.protect),
        )
        self.alias = aws.kms.Alias(
            f"{name}-alias",
            name=args.alias,
            name_prefix=None if args.alias else f"alias/{name}-",
            target_key_id=self.key.key_id,
            opts=retained_with(self, args.protect),
        )

        self.arn = self.key.arn
        self.key_id = self.key.key_id
        self.alias_name = self.alias.name
        self.register_outputs({"arn": self.arn, "keyId": self.key_id, "aliasName": self.alias_name})
