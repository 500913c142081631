"""The bootstrap project's configuration (namespace ``mlops-platform-bootstrap``): one
declaration per setting, the platform's way (``infra/schema.py``).

The ``aws:`` keys the program reads are the platform's own declarations
(``infra.schema.aws_settings``: region, accounts, default tags), except that an empty
``aws:profile`` means no profile, as it always has here; the other settings of the installed AWS
provider (``AWS_PROVIDER_KEYS``) are accepted as they are, and any other ``aws:`` key is a typo
and an error. The key alias and the retention of old state versions reuse
the declarations of ``EncryptionKeyArgs.alias`` and
``DataBucketArgs.noncurrent_version_expiry_days``, with this project's defaults and docs.
``__main__.py`` validates the stack's config with this model (``infra.settings.validate``: one
line naming the key, the value and what is allowed). ``Pulumi.yaml`` repeats the two project
keys for the Pulumi CLI; tests/test_bootstrap.py checks that it says what this model says.
``make schema`` writes the JSON Schema of the stack files (``docs/bootstrap-config.schema.json``).
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

from pulumi_aws.config import _ExportableConfig as AwsConfig  # the provider's settings
from pydantic import BeforeValidator, Field, create_model
from pydantic.alias_generators import to_camel

from mlops_platform.components import DataBucketArgs, EncryptionKeyArgs
from mlops_platform.components._schema import CONFIG, declared_hint, not_null
from mlops_platform.infra import schema

PROJECT = "mlops-platform-bootstrap"
NS = f"{PROJECT}:"
DEFAULT_KEY_ALIAS = "alias/mlops-platform-pulumi"
DEFAULT_RETENTION_DAYS = 365
SECRETS: dict[str, str] = {}  # the bootstrap holds no secret setting
SCHEMA_FILE = "docs/bootstrap-config.schema.json"
AWS_PROVIDER_KEYS = tuple(
    to_camel(name) for name, value in vars(AwsConfig).items() if isinstance(value, property)
)
"""Every ``aws:`` setting of the installed provider (``pulumi_aws.config``), camelCase."""


RETENTION = declared_hint(DataBucketArgs, "noncurrent_version_expiry_days")


def _retention_default(value: Any) -> Any:
    """``null`` is the default retention, as it always has been here."""
    return DEFAULT_RETENTION_DAYS if value is None else value


BootstrapConfig = create_model(
    "BootstrapConfig",
    __config__=CONFIG,
    __doc__="The bootstrap's config, as the program reads it: project keys without their "
    "namespace, AWS keys with theirs, in the order they are checked.",
    **{
        **schema.aws_settings(
            tags="`{tags: {<key>: <value>, ...}}` on every resource of the bootstrap.",
            tags_required=False,
        ),
        "aws_profile": (
            str | None,
            Field(
                None,
                alias="aws:profile",
                description="AWS CLI profile of the provider; empty: none.",
            ),
        ),
    },
    # Named after the Args fields they fill, so that an ArgsError names their keys.
    alias=(
        not_null(declared_hint(EncryptionKeyArgs, "alias")),
        Field(
            DEFAULT_KEY_ALIAS,
            alias="keyAlias",
            description="Alias of the KMS key; the platform's stacks use "
            "awskms://<alias>?region=<region>.",
        ),
    ),
    noncurrent_version_expiry_days=(
        Annotated[
            not_null(RETENTION),
            BeforeValidator(_retention_default, json_schema_input_type=RETENTION),
        ],
        Field(
            DEFAULT_RETENTION_DAYS,
            alias="noncurrentVersionExpiryDays",
            description="Days an overwritten state file version is kept in the bucket (1-3650; "
            "null: the default).",
        ),
    ),
)
STACK_FILES = schema.ProjectConfig(
    PROJECT,
    BootstrapConfig,
    SECRETS,
    SCHEMA_FILE,
    "bootstrap/bootstrap_config.py",
    provider_keys=AWS_PROVIDER_KEYS,
)

if __name__ == "__main__":  # `make schema`: python bootstrap/bootstrap_config.py [--check]
    sys.exit(schema.main(sys.argv[1:], STACK_FILES))
