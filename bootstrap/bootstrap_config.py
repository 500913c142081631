"""The bootstrap project's configuration (namespace ``mlops-platform-bootstrap``): one
declaration per setting, the platform's way (``infra/schema.py``).

The ``aws:`` keys are the platform's own declarations (``infra.schema.aws_settings``: region,
accounts, default tags, profile); the key alias and the retention of old state versions reuse
the declarations of ``EncryptionKeyArgs.alias`` and
``DataBucketArgs.noncurrent_version_expiry_days``, with this project's defaults and docs.
``__main__.py`` validates the stack's config with this model (``infra.settings.validate``: one
line naming the key, the value and what is allowed). ``Pulumi.yaml`` repeats the two project
keys for the Pulumi CLI; tests/test_bootstrap.py checks that it says what this model says.
``make schema`` writes the JSON Schema of the stack files (``docs/bootstrap-config.schema.json``).
"""

from __future__ import annotations

import sys

from pydantic import Field, create_model

from mlops_platform.components import DataBucketArgs, EncryptionKeyArgs
from mlops_platform.components._schema import CONFIG, declared_hint, not_null
from mlops_platform.infra import schema

PROJECT = "mlops-platform-bootstrap"
NS = f"{PROJECT}:"
DEFAULT_KEY_ALIAS = "alias/mlops-platform-pulumi"
DEFAULT_RETENTION_DAYS = 365
SECRETS: dict[str, str] = {}  # the bootstrap holds no secret setting
SCHEMA_FILE = "docs/bootstrap-config.schema.json"

BootstrapConfig = create_model(
    "BootstrapConfig",
    __config__=CONFIG,
    __doc__="The bootstrap's config, as the program reads it: project keys without their "
    "namespace, AWS keys with theirs, in the order they are checked.",
    **schema.aws_settings(
        tags="`{tags: {<key>: <value>, ...}}` on every resource of the bootstrap.",
        tags_required=False,
    ),
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
        not_null(declared_hint(DataBucketArgs, "noncurrent_version_expiry_days")),
        Field(
            DEFAULT_RETENTION_DAYS,
            alias="noncurrentVersionExpiryDays",
            description="Days an overwritten state file version is kept in the bucket (1-3650).",
        ),
    ),
)
STACK_FILES = schema.ProjectConfig(
    PROJECT, BootstrapConfig, SECRETS, SCHEMA_FILE, "bootstrap/bootstrap_config.py"
)

if __name__ == "__main__":  # `make schema`: python bootstrap/bootstrap_config.py [--check]
    sys.exit(schema.main(sys.argv[1:], STACK_FILES))
