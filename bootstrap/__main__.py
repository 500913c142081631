"""Bootstrap of one AWS account for mlops-platform: the Pulumi state bucket and secrets key.

Runs once per account on a local file backend (the bucket cannot hold its own first state); see
README.md. Reads only this project's stack config: ``aws:region``, ``aws:allowedAccountIds``,
``aws:defaultTags``, ``aws:profile`` and ``mlops-platform-bootstrap:*``. Everything is validated
before the first resource is registered, and a bad value stops with one line.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any, NoReturn

import pulumi
import pulumi_aws as aws

from mlops_platform.components import (
    ArgsError,
    DataBucket,
    DataBucketArgs,
    EncryptionKey,
    EncryptionKeyArgs,
)
from mlops_platform.infra.settings import all_config, aws_regions

DEFAULT_KEY_ALIAS = "alias/mlops-platform-pulumi"
DEFAULT_RETENTION_DAYS = 365
ACCOUNT_ID = re.compile(r"^\d{12}$")


def fail(key: str, value: Any, allowed: str) -> NoReturn:
    shown = "nothing (the key is missing)" if value is None else json.dumps(value)
    raise pulumi.RunError(f"invalid config {key}: got {shown}; {allowed}")


def read(config: pulumi.Config, key: str) -> Any:
    """A config value as the CLI passed it: JSON documents parsed, plain strings as they are."""
    raw = config.get(key)
    try:
        return None if raw is None else json.loads(raw)
    except ValueError:
        return raw


aws_config = pulumi.Config("aws")
project_config = pulumi.Config()
ns = f"{pulumi.get_project()}:"
KNOWN_KEYS = ("keyAlias", "noncurrentVersionExpiryDays")

# A typo must not fall back to a default silently.
for full_key, value in sorted(all_config().items()):
    if full_key.startswith(ns) and full_key.removeprefix(ns) not in KNOWN_KEYS:
        fail(full_key, value, f"unknown key; allowed: {', '.join(ns + k for k in KNOWN_KEYS)}")

region = aws_config.get("region")
if region not in aws_regions():
    fail("aws:region", region, "expected an AWS region such as eu-west-1")

accounts = read(aws_config, "allowedAccountIds")
if (
    not isinstance(accounts, list)
    or not accounts
    or not all(isinstance(a, str) and ACCOUNT_ID.match(a) for a in accounts)
):
    fail("aws:allowedAccountIds", accounts, "expected a list of 12-digit account ids as strings")

default_tags = read(aws_config, "defaultTags")
if default_tags is not None and (
    not isinstance(default_tags, dict)
    or set(default_tags) != {"tags"}
    or not isinstance(default_tags["tags"], dict)
    or not all(isinstance(v, str) for v in default_tags["tags"].values())
):
    fail("aws:defaultTags", default_tags, "expected {tags: {<key>: <string value>, ...}}")

profile = aws_config.get("profile")
alias = project_config.get("keyAlias")
alias = DEFAULT_KEY_ALIAS if alias is None else alias
retention = read(project_config, "noncurrentVersionExpiryDays")
retention = DEFAULT_RETENTION_DAYS if retention is None else retention

try:
    key_args = EncryptionKeyArgs(
        description="Pulumi secrets provider and state bucket of mlops-platform",
        alias=alias,
        protect=True,
        tags={"purpose": "pulumi-state"},
    )
    bucket_args = DataBucketArgs(
        noncurrent_version_expiry_days=retention,
        force_destroy=False,
        protect=True,
        tags={"purpose": "pulumi-state"},
    )
except ArgsError as error:
    config_key = {
        "alias": "keyAlias",
        "noncurrent_version_expiry_days": "noncurrentVersionExpiryDays",
    }
    fail(ns + config_key.get(error.field, error.field), error.value, error.allowed)

provider = aws.Provider(
    "aws",
    region=region,
    allowed_account_ids=accounts,
    default_tags=default_tags,
    profile=profile,
)
# protect is inherited by every child, so the alias and the bucket's guards (policy, public
# access block, encryption) cannot be deleted either; the key and bucket are also retained.
opts = pulumi.ResourceOptions(providers={"aws": provider}, protect=True)
key = EncryptionKey("pulumi-secrets", key_args, opts)
state = DataBucket("pulumi-state", dataclasses.replace(bucket_args, kms_key_arn=key.arn), opts)

pulumi.export("stateBucket", state.bucket_name)
pulumi.export(
    "stateBucketUrl",
    pulumi.Output.concat("s3://", state.bucket_name, f"?region={region}&awssdk=v2"),
)
pulumi.export(
    "secretsProvider", pulumi.Output.concat("awskms://", key.alias_name, f"?region={region}")
)
pulumi.export("kmsKeyArn", key.arn)
