"""bootstrap/: the state bucket and secrets key, run the way the language host runs the program."""

from __future__ import annotations

import json
import runpy
from typing import Any, get_args

import jsonschema
import pulumi
import pytest
import yaml
from conftest import ROOT, policy, project_module, statement
from pulumi.runtime.settings import get_root_resource
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from mlops_platform.infra import mocks as recording
from mlops_platform.infra import plan, schema
from mlops_platform.infra.mocks import RecordingMocks, Registration

BOOTSTRAP = ROOT / "bootstrap"


cfg = project_module("bootstrap", "bootstrap_config")
PROJECT = "mlops-platform-bootstrap"
REGION = "eu-central-1"
ACCOUNT = "444444444444"
CONFIG = {
    "aws:region": REGION,
    "aws:allowedAccountIds": json.dumps([ACCOUNT]),
    "aws:defaultTags": json.dumps({"tags": {"project": "mlops-platform", "owner": "platform"}}),
}

BUCKET = "aws:s3/bucket:Bucket"
KEY = "aws:kms/key:Key"
ALIAS = "aws:kms/alias:Alias"
PROVIDER = "pulumi:providers:aws"


def run(config: dict[str, str]) -> tuple[RecordingMocks, dict[str, Any]]:
    """Runs bootstrap/__main__.py under the recording mocks; returns them and the stack outputs."""
    exported: dict[str, Any] = {}
    with recording.private_event_loop():
        mocks = recording.install(
            project=PROJECT, stack="acct", region=REGION, account_id=ACCOUNT, config=config
        )

        async def program() -> None:
            runpy.run_path(str(BOOTSTRAP), run_name="__main__")
            for name, value in dict(get_root_resource().outputs).items():
                exported[name] = await pulumi.Output.from_input(value).future()
            await mocks.in_construction_order()

        _sync_await(run_pulumi_func(program))
    return mocks, exported


@pytest.fixture(scope="module")
def bootstrap() -> tuple[RecordingMocks, dict[str, Any]]:
    return run(CONFIG)


def only(mocks: RecordingMocks, type_: str) -> Registration:
    (reg,) = mocks.of_type(type_)
    return reg


def child(mocks: RecordingMocks, type_: str) -> Registration:
    return only(mocks, f"aws:s3/{type_}")


def test_provider_is_explicit_and_pinned_to_the_account(bootstrap):
    mocks, _ = bootstrap
    provider = only(mocks, PROVIDER)
    assert provider.inputs["region"] == REGION
    assert json.loads(provider.inputs["allowedAccountIds"]) == [ACCOUNT]
    assert json.loads(provider.inputs["defaultTags"])["tags"]["owner"] == "platform"
    custom = [r for r in mocks.registrations if r.custom and r.type != PROVIDER]
    assert len(custom) >= 9
    for reg in custom:
        assert reg.provider.startswith(provider.urn + "::"), reg.name
    assert mocks.warnings() == []


def test_state_bucket_is_protected_retained_and_never_force_destroyed(bootstrap):
    mocks, _ = bootstrap
    bucket = only(mocks, BUCKET)
    assert bucket.protect and bucket.retain_on_delete
    assert bucket.inputs["forceDestroy"] is False
    # Inherited protection: nothing in the bootstrap can be deleted by `pulumi destroy`.
    for reg in mocks.registrations:
        if reg.custom and reg.type != PROVIDER:
            assert reg.protect, reg.name


def test_state_bucket_is_encrypted_with_the_bootstrap_key(bootstrap):
    mocks, outputs = bootstrap
    key_arn = only(mocks, KEY).outputs["arn"]
    (rule,) = child(
        mocks,
        "bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    ).inputs["rules"]
    default = rule["applyServerSideEncryptionByDefault"]
    assert default == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": key_arn}
    assert rule["bucketKeyEnabled"] is True
    assert outputs["kmsKeyArn"] == key_arn
    assert key_arn.startswith(f"arn:aws:kms:{REGION}:{ACCOUNT}:key/")


def test_state_bucket_blocks_public_access_and_plain_http(bootstrap):
    mocks, _ = bootstrap
    block = child(mocks, "bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    for flag in (
        "blockPublicAcls",
        "blockPublicPolicy",
        "ignorePublicAcls",
        "restrictPublicBuckets",
    ):
        assert block[flag] is True, flag
    arn = only(mocks, BUCKET).outputs["arn"]
    deny = statement(policy(child(mocks, "bucketPolicy:BucketPolicy")), "DenyInsecureTransport")
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*" and deny["Action"] == "s3:*"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert sorted(deny["Resource"]) == [arn, f"{arn}/*"]


def test_state_bucket_keeps_old_state_versions_for_a_year(bootstrap):
    mocks, _ = bootstrap
    versioning = child(mocks, "bucketVersioning:BucketVersioning").inputs
    assert versioning["versioningConfiguration"]["status"] == "Enabled"
    rules = child(mocks, "bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs[
        "rules"
    ]
    (expiry,) = [r for r in rules if "noncurrentVersionExpiration" in r]
    assert expiry["noncurrentVersionExpiration"]["noncurrentDays"] == 365


def test_key_rotates_and_has_the_default_alias(bootstrap):
    mocks, _ = bootstrap
    key = only(mocks, KEY)
    assert key.inputs["enableKeyRotation"] is True
    assert key.inputs["customerMasterKeySpec"] == "SYMMETRIC_DEFAULT"
    assert key.protect and key.retain_on_delete
    alias = only(mocks, ALIAS)
    assert alias.inputs["name"] == "alias/mlops-platform-pulumi"
    assert alias.inputs["targetKeyId"] == key.outputs["keyId"]
    assert alias.protect and alias.retain_on_delete


def test_outputs_are_what_pulumi_login_and_stack_init_accept(bootstrap):
    mocks, outputs = bootstrap
    bucket = only(mocks, BUCKET).outputs["bucket"]
    assert set(outputs) == {"stateBucket", "stateBucketUrl", "secretsProvider", "kmsKeyArn"}
    assert outputs["stateBucket"] == bucket
    assert bucket.startswith("pulumi-state-bucket-")
    assert outputs["stateBucketUrl"] == f"s3://{bucket}?region={REGION}&awssdk=v2"
    assert outputs["secretsProvider"] == f"awskms://alias/mlops-platform-pulumi?region={REGION}"


def test_example_stack_file_runs_with_configured_alias_and_retention():
    files = plan.load_stack_files(BOOTSTRAP, "example")
    assert files.project == PROJECT
    config = {
        **files.config,
        f"{PROJECT}:keyAlias": "alias/team-a/pulumi",
        f"{PROJECT}:noncurrentVersionExpiryDays": "730",
    }
    mocks, outputs = run(config)
    assert only(mocks, ALIAS).inputs["name"] == "alias/team-a/pulumi"
    assert outputs["secretsProvider"] == "awskms://alias/team-a/pulumi?region=eu-west-1"
    assert outputs["stateBucketUrl"].endswith("?region=eu-west-1&awssdk=v2")
    assert json.loads(only(mocks, PROVIDER).inputs["allowedAccountIds"]) == ["111111111111"]
    rules = child(mocks, "bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs[
        "rules"
    ]
    assert [
        r["noncurrentVersionExpiration"]["noncurrentDays"]
        for r in rules
        if "noncurrentVersionExpiration" in r
    ] == [730]


def test_project_defaults_match_the_program():
    files = plan.load_stack_files(BOOTSTRAP, "example")
    assert files.config[f"{PROJECT}:keyAlias"] == "alias/mlops-platform-pulumi"
    assert files.config[f"{PROJECT}:noncurrentVersionExpiryDays"] == "365"


def test_pulumi_yaml_says_what_the_declarations_say():
    """Pulumi.yaml repeats the project keys for the CLI: type, default and doc are the model's."""
    declared = yaml.safe_load((BOOTSTRAP / "Pulumi.yaml").read_text(encoding="utf-8"))["config"]
    fields = {info.alias: info for info in cfg.BootstrapConfig.model_fields.values()}
    assert sorted(declared) == sorted(k for k in fields if not k.startswith("aws:"))
    for key, spec in declared.items():
        info = fields[key]
        assert spec == {
            "type": {str: "string", int: "integer"}[info.annotation],
            "default": info.default,
            "description": info.description,
        }, key


def test_the_aws_keys_are_the_platforms_declarations():
    platform = {i.alias: i for i in schema.StackConfig.model_fields.values()}
    for info in cfg.BootstrapConfig.model_fields.values():
        if info.alias in ("aws:region", "aws:allowedAccountIds"):
            assert repr(info) == repr(platform[info.alias]), info.alias
    tags = cfg.BootstrapConfig.model_fields["aws_default_tags"]
    assert not tags.is_required() and schema.DefaultTags in get_args(tags.annotation)


def test_the_checked_in_schema_is_current_and_the_example_validates(capsys):
    path = ROOT / cfg.SCHEMA_FILE
    assert path.read_text(encoding="utf-8") == schema.render_schema(cfg.STACK_FILES)
    assert schema.main(["--check"], cfg.STACK_FILES) == 0, capsys.readouterr().err
    document = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(document)
    validator = jsonschema.Draft202012Validator(document)
    example = BOOTSTRAP / "Pulumi.example.yaml"
    assert list(validator.iter_errors(yaml.safe_load(example.read_text(encoding="utf-8")))) == []
    first = example.read_text(encoding="utf-8").splitlines()[0]
    assert first == f"# yaml-language-server: $schema=../{cfg.SCHEMA_FILE}"
    for key, value in [
        ("aws:allowedAccountIds", [444444444444]),
        (f"{PROJECT}:keyAlias", "pulumi"),
        ("keyAlias", "pulumi"),
        (f"{PROJECT}:noncurrentVersionExpiryDays", 0),
        (f"{PROJECT}:keyAlas", "alias/typo"),
        ("aws:defaultTags", {"owner": "x"}),
    ]:
        bad = {"config": {"aws:region": REGION, "aws:allowedAccountIds": [ACCOUNT], key: value}}
        assert list(validator.iter_errors(bad)), key


def without(key: str) -> dict[str, str]:
    return {k: v for k, v in CONFIG.items() if k != key}


@pytest.mark.parametrize(
    ("config", "key", "shown"),
    [
        (without("aws:region"), "aws:region", "nothing (the key is missing)"),
        ({**CONFIG, "aws:region": "Frankfurt"}, "aws:region", '"Frankfurt"'),
        (without("aws:allowedAccountIds"), "aws:allowedAccountIds", "nothing"),
        (  # the item, as the platform names it
            {**CONFIG, "aws:allowedAccountIds": "[444444444444]"},
            "aws:allowedAccountIds[0]",
            "444444444444; expected 12-digit account ids as strings",
        ),
        ({**CONFIG, "aws:allowedAccountIds": "[]"}, "aws:allowedAccountIds", "[]"),
        (  # the tags belong under `tags:`
            {**CONFIG, "aws:defaultTags": '{"owner": "x"}'},
            "aws:defaultTags.owner",
            '"x"; unknown key; allowed: tags',
        ),
        (
            {**CONFIG, "aws:defaultTags": '{"tags": {"aws:x": "y"}}'},
            "aws:defaultTags.tags.aws:x",
            "'aws:'",
        ),
        (  # a typo, silently ignored before: the provider is explicit
            {**CONFIG, "aws:regoin": "eu-west-1"},
            "aws:regoin",
            '"eu-west-1"; unknown key; allowed: aws:region, aws:allowedAccountIds',
        ),
        (  # pulumi-aws 6's name: the installed provider (7) reads assumeRoles
            {**CONFIG, "aws:assumeRole": '{"roleArn": "arn:aws:iam::444444444444:role/x"}'},
            "aws:assumeRole",
            "aws:assumeRoles",
        ),
        (  # AWS refuses tag keys over 128 characters
            {**CONFIG, "aws:defaultTags": json.dumps({"tags": {"k" * 129: "v"}})},
            "aws:defaultTags.tags." + "k" * 129,
            "1-128 characters",
        ),
        ({**CONFIG, f"{PROJECT}:keyAlias": "pulumi"}, f"{PROJECT}:keyAlias", '"pulumi"'),
        ({**CONFIG, f"{PROJECT}:keyAlias": "alias/aws/s3"}, f"{PROJECT}:keyAlias", "reserved"),
        (
            {**CONFIG, f"{PROJECT}:noncurrentVersionExpiryDays": "0"},
            f"{PROJECT}:noncurrentVersionExpiryDays",
            "1 to 3650",
        ),
    ],
)
def test_bad_config_stops_with_one_line_before_anything_is_created(config, key, shown):
    with pytest.raises(pulumi.RunError) as caught:
        run(config)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"invalid config {key}: got ")
    assert shown in message
    assert isinstance(caught.value, pulumi.RunError)  # ConfigError: printed as one line


def test_the_providers_other_settings_pass_as_before(bootstrap):
    """Settings of the AWS provider the program does not read are no error (issue 16 keeps
    every stack file that ran); neither are an empty profile and a null retention."""
    mocks, outputs = bootstrap
    for extra in (
        {"aws:skipCredentialsValidation": "true"},
        {"aws:assumeRoles": '[{"roleArn": "arn:aws:iam::444444444444:role/x"}]'},
        {"aws:sharedCredentialsFiles": '["~/.aws/credentials"]'},
        {f"{PROJECT}:noncurrentVersionExpiryDays": "null"},
    ):
        again, again_outputs = run({**CONFIG, **extra})
        assert [(r.type, r.name, r.inputs) for r in again.registrations] == [
            (r.type, r.name, r.inputs) for r in mocks.registrations
        ], extra
        assert again_outputs == outputs
    assert set(cfg.AWS_PROVIDER_KEYS) >= {"region", "profile", "defaultTags", "assumeRoles"}
    empty_profile, _ = run({**CONFIG, "aws:profile": ""})
    assert only(empty_profile, PROVIDER).inputs["profile"] == ""  # as before: no profile


def test_missing_region_registers_nothing():
    with recording.private_event_loop():
        mocks = recording.install(project=PROJECT, stack="acct", config=without("aws:region"))
        with pytest.raises(pulumi.RunError, match=r"^invalid config aws:region: got nothing"):
            _sync_await(
                run_pulumi_func(lambda: runpy.run_path(str(BOOTSTRAP), run_name="__main__"))
            )
    assert [r.type for r in mocks.registrations if r.type != "pulumi:pulumi:Stack"] == []


def test_a_misspelt_bootstrap_key_is_an_error_not_a_default():
    """``keyAlas`` must not silently deploy the default alias."""
    import mlops_platform.infra.mocks

    config = {
        "aws:region": "eu-west-1",
        "aws:allowedAccountIds": '["123456789012"]',
        "mlops-platform-bootstrap:keyAlas": "alias/typo",
    }
    with mlops_platform.infra.mocks.private_event_loop():
        mlops_platform.infra.mocks.install(
            project="mlops-platform-bootstrap", stack="acct", config=config
        )
        import runpy

        from pulumi.runtime.stack import run_pulumi_func
        from pulumi.runtime.sync_await import _sync_await

        with pytest.raises(
            pulumi.RunError, match=r"mlops-platform-bootstrap:keyAlas: got .*unknown key"
        ):
            _sync_await(
                run_pulumi_func(lambda: runpy.run_path(str(BOOTSTRAP), run_name="__main__"))
            )


def test_the_program_holds_no_hand_written_reads_or_checks():
    """Every key is read and checked through its declaration (bootstrap_config.py)."""
    source = (BOOTSTRAP / "__main__.py").read_text(encoding="utf-8")
    for hand_written in ("isinstance(", "json.loads", "def fail(", "def read(", "pulumi.Config("):
        assert hand_written not in source, hand_written
