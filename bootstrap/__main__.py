"""Bootstrap of one AWS account for mlops-platform: the Pulumi state bucket and secrets key.

Runs once per account on a local file backend (the bucket cannot hold its own first state); see
README.md. Reads only this project's stack config: ``aws:region``, ``aws:allowedAccountIds``,
``aws:defaultTags``, ``aws:profile`` and ``mlops-platform-bootstrap:*``. Everything is validated
before the first resource is registered, and a bad value stops with one line.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pulumi
import pulumi_aws as aws

from mlops_platform.components import (
    DataBucket,
    DataBucketArgs,
    EncryptionKey,
    EncryptionKeyArgs,
)
from mlops_platform.infra import schema, settings

cfg = schema.project_module(Path(__file__).resolve().parent, "bootstrap_config")

# Every key checked against its declaration (bootstrap_config.py); a typo is an error, never a
# silent default.
stack = settings.read(cfg.STACK_FILES)
names = settings.config_names(cfg.BootstrapConfig, project=cfg.PROJECT)
region = stack.aws_region

key_args = settings.build_args(
    EncryptionKeyArgs,
    cfg.NS,
    names,
    description="Pulumi secrets provider and state bucket of mlops-platform",
    alias=stack.alias,
    protect=True,
    tags={"purpose": "pulumi-state"},
)
bucket_args = settings.build_args(
    DataBucketArgs,
    cfg.NS,
    names,
    noncurrent_version_expiry_days=stack.noncurrent_version_expiry_days,
    force_destroy=False,
    protect=True,
    tags={"purpose": "pulumi-state"},
)

provider = aws.Provider(
    "aws",
    region=region,
    allowed_account_ids=stack.aws_allowed_account_ids,
    default_tags=stack.aws_default_tags.model_dump() if stack.aws_default_tags else None,
    profile=stack.aws_profile,
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
