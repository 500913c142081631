"""EncryptionKey: key policy (pure) and the registered resources."""

from __future__ import annotations

import re

import pulumi
import pytest
from conftest import ACCOUNT, after_registration, component_children_ok, policy, statement

from mlops_platform.components import ArgsError, EncryptionKey, EncryptionKeyArgs
from mlops_platform.components.security import KEY_ADMIN_ACTIONS, key_policy, statement_id

KEY = "aws:kms/key:Key"
ALIAS = "aws:kms/alias:Alias"
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/platform-admin"


def test_key_policy_delegates_to_iam_only_by_default():
    doc = key_policy(partition="aws", account_id=ACCOUNT)
    assert [s["Sid"] for s in doc["Statement"]] == ["EnableIamPolicies"]
    root = doc["Statement"][0]
    assert root["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert root["Effect"] == "Allow"


def test_key_administrators_manage_but_cannot_use_the_key():
    doc = key_policy(partition="aws", account_id=ACCOUNT, administrator_arns=[ADMIN])
    admin = statement(doc, "KeyAdministrators")
    assert admin["Principal"] == {"AWS": [ADMIN]}
    assert admin["Action"] == list(KEY_ADMIN_ACTIONS)
    assert not {"kms:Decrypt", "kms:Encrypt", "kms:*"} & set(admin["Action"])


def test_services_are_pinned_to_this_account():
    doc = key_policy(
        partition="aws-cn",
        account_id=ACCOUNT,
        service_principals=["sns.amazonaws.com", "logs.cn-north-1.amazonaws.com.cn"],
    )
    logs = statement(doc, "ServiceLogsCnNorth1")
    assert logs["Principal"] == {"Service": "logs.cn-north-1.amazonaws.com.cn"}
    assert logs["Condition"] == {
        "ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:aws-cn:logs:cn-north-1:{ACCOUNT}:*"}
    }
    sns = statement(doc, "ServiceSns")
    assert sns["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    assert "kms:*" not in sns["Action"]


@pytest.mark.parametrize(
    ("service", "sid"),
    [
        ("logs.eu-west-1.amazonaws.com", "SvcLogsEuWest1"),
        ("sagemaker.amazonaws.com", "SvcSagemaker"),
    ],
)
def test_statement_ids_are_alphanumeric(service, sid):
    assert statement_id("Svc", service) == sid
    assert re.fullmatch(r"[A-Za-z0-9]+", sid)


@pulumi.runtime.test
def test_secure_defaults(mocks):
    EncryptionKey("platform-key", EncryptionKeyArgs())

    def check(m):
        key = m.find(KEY, "platform-key-key")
        assert key.inputs["enableKeyRotation"] is True
        assert key.inputs["rotationPeriodInDays"] == 365
        assert key.inputs["deletionWindowInDays"] == 30
        assert key.inputs["keyUsage"] == "ENCRYPT_DECRYPT"
        assert key.inputs["bypassPolicyLockoutSafetyCheck"] is False
        doc = policy(key)
        assert statement(doc, "EnableIamPolicies")["Principal"] == {
            "AWS": f"arn:aws:iam::{ACCOUNT}:root"
        }
        assert key.protect and key.retain_on_delete
        alias = m.find(ALIAS, "platform-key-alias")
        assert alias.inputs["namePrefix"] == "alias/platform-key-"
        assert alias.inputs["targetKeyId"] == key.outputs["keyId"]
        assert not alias.protect, "only the key itself is stateful"
        assert alias.retain_on_delete, "a retained key keeps its alias"
        component_children_ok(m, "mlops:security:EncryptionKey", "platform-key")

    return after_registration(mocks, check)


@pulumi.runtime.test
def test_explicit_alias_admins_services_and_unprotected(mocks):
    EncryptionKey(
        "k",
        EncryptionKeyArgs(
            alias="alias/mlops-dev",
            administrator_arns=[ADMIN],
            service_principals=["sns.amazonaws.com"],
            deletion_window_in_days=7,
            protect=False,
            tags={"team": "ml"},
        ),
    )

    def check(m):
        key = m.find(KEY, "k-key")
        assert not key.protect and not key.retain_on_delete
        assert key.inputs["deletionWindowInDays"] == 7
        assert key.inputs["tags"] == {"team": "ml"}
        doc = policy(key)
        assert statement(doc, "KeyAdministrators")["Principal"] == {"AWS": [ADMIN]}
        assert statement(doc, "ServiceSns")["Principal"] == {"Service": "sns.amazonaws.com"}
        alias = m.find(ALIAS, "k-alias")
        assert alias.inputs["name"] == "alias/mlops-dev"
        assert "namePrefix" not in alias.inputs

    return after_registration(mocks, check)


@pulumi.runtime.test
def test_two_keys_in_one_stack_do_not_collide(mocks):
    a = EncryptionKey("a", EncryptionKeyArgs())
    b = EncryptionKey("b", EncryptionKeyArgs())

    def check(m):
        keys = m.of_type(KEY)
        aliases = m.of_type(ALIAS)
        assert len(keys) == 2 and len({k.outputs["arn"] for k in keys}) == 2
        assert len({al.outputs["name"] for al in aliases}) == 2

    return pulumi.Output.all(a.arn, b.arn).apply(lambda _: after_registration(mocks, check))


@pulumi.runtime.test
def test_component_outputs_are_the_keys(mocks):
    key = EncryptionKey("k", EncryptionKeyArgs())

    def check(values):
        arn, key_id, alias = values
        assert arn == f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/{key_id}"
        assert alias.startswith("alias/k-")

    return pulumi.Output.all(key.arn, key.key_id, key.alias_name).apply(check)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"alias": "mlops"}, "alias"),
        ({"alias": "alias/aws/s3"}, "alias"),
        ({"description": ""}, "description"),
        ({"deletion_window_in_days": 6}, "deletion_window_in_days"),
        ({"deletion_window_in_days": 31}, "deletion_window_in_days"),
        ({"rotation_period_in_days": 89}, "rotation_period_in_days"),
        ({"rotation_period_in_days": True}, "rotation_period_in_days"),
        ({"administrator_arns": ["arn:aws:iam::1:role/x"]}, "administrator_arns[0]"),
        ({"administrator_arns": "arn:aws:iam::123456789012:root"}, "administrator_arns"),
        ({"service_principals": ["sns"]}, "service_principals[0]"),
        (
            {"service_principals": ["sns.amazonaws.com", "logs.amazonaws.com"]},
            "service_principals[1]",
        ),
        ({"protect": "yes"}, "protect"),
        ({"tags": {"aws:reserved": "x"}}, "tags.aws:reserved"),
    ],
)
def test_invalid_args_fail_fast_naming_the_field(kwargs, field):
    with pytest.raises(ArgsError) as caught:
        EncryptionKeyArgs(**kwargs)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: got ")
