"""DataBucket and DvcRemote: pure documents and registered resources."""

from __future__ import annotations

import configparser

import pulumi
import pytest
from conftest import ACCOUNT, KEY_ARN, after_registration, component_children_ok, policy, statement

from mlops_platform.components import (
    AccessLogBucket,
    AccessLogBucketArgs,
    ArgsError,
    DataBucket,
    DataBucketArgs,
    DvcRemote,
    DvcRemoteArgs,
)
from mlops_platform.components.storage import (
    ACCESS_LOG_ROOT,
    access_log_bucket_policy,
    dvc_access_policy,
    dvc_config,
    lifecycle_rules,
    log_lifecycle_rules,
    tls_only_bucket_policy,
)

BUCKET = "aws:s3/bucket:Bucket"
S3 = "aws:s3/"
BUCKET_ARN = "arn:aws:s3:::data-1234567"


# --- pure documents ------------------------------------------------------------------------------


def test_tls_only_policy_denies_plain_http_and_old_tls_on_bucket_and_objects():
    doc = tls_only_bucket_policy(BUCKET_ARN)
    for sid, condition in [
        ("DenyInsecureTransport", {"Bool": {"aws:SecureTransport": "false"}}),
        ("DenyOutdatedTls", {"NumericLessThan": {"s3:TlsVersion": "1.2"}}),
    ]:
        stmt = statement(doc, sid)
        assert stmt["Effect"] == "Deny" and stmt["Principal"] == "*"
        assert stmt["Resource"] == [BUCKET_ARN, f"{BUCKET_ARN}/*"]
        assert stmt["Condition"] == condition


def test_lifecycle_rules_without_noncurrent_expiry_only_abort_uploads():
    rules = lifecycle_rules(
        abort_incomplete_multipart_upload_days=3, noncurrent_version_expiry_days=None
    )
    assert [r["id"] for r in rules] == ["abort-incomplete-multipart-uploads"]
    assert rules[0]["abort_incomplete_multipart_upload"] == {"days_after_initiation": 3}
    assert rules[0]["filter"] == {"prefix": ""}


def test_dvc_read_only_policy_cannot_write_or_delete():
    doc = dvc_access_policy(
        bucket_arn=BUCKET_ARN, prefix="dvc", kms_key_arn=KEY_ARN, region="eu-west-1", write=False
    )
    objects = statement(doc, "Read")
    assert objects["Action"] == ["s3:GetObject"]
    assert objects["Resource"] == f"{BUCKET_ARN}/dvc/*"
    assert statement(doc, "UseKeyThroughS3")["Action"] == ["kms:Decrypt"]
    assert "s3:ListBucketMultipartUploads" not in statement(doc, "ListRemote")["Action"]


def test_dvc_read_write_policy_is_scoped_to_prefix_and_key():
    doc = dvc_access_policy(
        bucket_arn=BUCKET_ARN,
        prefix="team/dvc",
        kms_key_arn=KEY_ARN,
        region="cn-north-1",
        write=True,
    )
    objects = statement(doc, "ReadWrite")
    assert {"s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:AbortMultipartUpload"} <= set(
        objects["Action"]
    )
    assert objects["Resource"] == f"{BUCKET_ARN}/team/dvc/*"
    key = statement(doc, "UseKeyThroughS3")
    assert key["Resource"] == KEY_ARN
    assert set(key["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey"}
    assert key["Condition"] == {
        "StringEquals": {"kms:ViaService": "s3.cn-north-1.amazonaws.com.cn"}
    }
    assert all("*" not in a for s in doc["Statement"] for a in s["Action"])


def test_dvc_config_is_a_valid_dvc_ini_with_a_default_remote():
    parser = configparser.ConfigParser()
    parser.read_string(dvc_config("storage", "s3://b/dvc"))
    assert parser["core"]["remote"] == "storage"
    assert parser["'remote \"storage\"'"]["url"] == "s3://b/dvc"


# --- DataBucket ----------------------------------------------------------------------------------


@pulumi.runtime.test
def test_data_bucket_secure_defaults(mocks):
    DataBucket("data", DataBucketArgs(kms_key_arn=KEY_ARN))

    def check(m):
        bucket = m.find(BUCKET, "data-bucket")
        assert bucket.inputs["forceDestroy"] is False
        assert bucket.protect and bucket.retain_on_delete
        name = bucket.outputs["bucket"]
        pab = m.find(S3 + "bucketPublicAccessBlock:BucketPublicAccessBlock", "data-public-access")
        for flag in (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        ):
            assert pab.inputs[flag] is True, flag
        ownership = m.find(S3 + "bucketOwnershipControls:BucketOwnershipControls", "data-ownership")
        assert ownership.inputs["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
        versioning = m.find(S3 + "bucketVersioning:BucketVersioning", "data-versioning")
        assert versioning.inputs["versioningConfiguration"] == {"status": "Enabled"}
        sse = m.find(
            S3 + "bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            "data-encryption",
        )
        assert sse.inputs["rules"] == [
            {
                "applyServerSideEncryptionByDefault": {
                    "sseAlgorithm": "aws:kms",
                    "kmsMasterKeyId": KEY_ARN,
                },
                "bucketKeyEnabled": True,
                "blockedEncryptionTypes": ["SSE-C"],
            }
        ]
        lifecycle = m.find(
            S3 + "bucketLifecycleConfiguration:BucketLifecycleConfiguration", "data-lifecycle"
        )
        rules = {r["id"]: r for r in lifecycle.inputs["rules"]}
        assert rules["abort-incomplete-multipart-uploads"]["abortIncompleteMultipartUpload"] == {
            "daysAfterInitiation": 7
        }
        assert rules["expire-noncurrent-versions"]["noncurrentVersionExpiration"] == {
            "noncurrentDays": 90
        }
        assert versioning.urn in lifecycle.dependencies
        bucket_policy = m.find(S3 + "bucketPolicy:BucketPolicy", "data-policy")
        assert pab.urn in bucket_policy.dependencies, "policy waits for the public access block"
        deny = statement(policy(bucket_policy), "DenyInsecureTransport")
        assert deny["Resource"] == [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"]
        for child in m.children(m.find("mlops:storage:DataBucket", "data").urn):
            assert child.inputs.get("bucket", name) == name
            if child.type != BUCKET:
                assert not child.protect, f"{child.name} is configuration, not state"
                assert child.retain_on_delete, f"a retained bucket keeps its {child.name}"
        assert not m.of_type("aws:kms/key:Key"), "a given key means no dedicated key"
        component_children_ok(m, "mlops:storage:DataBucket", "data")

    return after_registration(mocks, check)


@pulumi.runtime.test
def test_data_bucket_creates_a_dedicated_key_when_none_given(mocks):
    bucket = DataBucket("data", DataBucketArgs(protect=False, force_destroy=True))

    def check(m):
        key = m.find("aws:kms/key:Key", "data-key-key")
        assert not key.protect
        sse = m.of_type(
            S3 + "bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
        )[0]
        rule = sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]
        assert rule["kmsMasterKeyId"] == key.outputs["arn"]
        b = m.find(BUCKET, "data-bucket")
        assert b.inputs["forceDestroy"] is True and not b.protect and not b.retain_on_delete
        component_children_ok(m, "mlops:storage:DataBucket", "data")

    return bucket.kms_key_arn.apply(lambda _: after_registration(mocks, check))


@pulumi.runtime.test
def test_two_data_buckets_do_not_collide(mocks):
    DataBucket("a", DataBucketArgs(kms_key_arn=KEY_ARN))
    DataBucket("b", DataBucketArgs(kms_key_arn=KEY_ARN))

    def check(m):
        names = [r.outputs["bucket"] for r in m.of_type(BUCKET)]
        assert len(names) == 2 and len(set(names)) == 2
        assert len({r.urn for r in m.registrations}) == len(m.registrations)

    return after_registration(mocks, check)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kms_key_arn": "alias/foo"}, "kms_key_arn"),
        ({"noncurrent_version_expiry_days": 0}, "noncurrent_version_expiry_days"),
        ({"noncurrent_version_expiry_days": 3651}, "noncurrent_version_expiry_days"),
        ({"abort_incomplete_multipart_upload_days": 0}, "abort_incomplete_multipart_upload_days"),
        ({"force_destroy": True}, "force_destroy"),
        ({"force_destroy": 1, "protect": False}, "force_destroy"),
        ({"tags": {"": "x"}}, "tags."),
        ({"tags": {"k": 1}}, "tags.k"),
    ],
)
def test_data_bucket_invalid_args(kwargs, field):
    with pytest.raises(ArgsError) as caught:
        DataBucketArgs(**kwargs)
    assert caught.value.field == field


# --- DvcRemote -----------------------------------------------------------------------------------


@pulumi.runtime.test
def test_dvc_remote_outputs_and_least_privilege_policies(mocks):
    remote = DvcRemote(
        "dvc", DvcRemoteArgs(prefix="ml/dvc", bucket=DataBucketArgs(kms_key_arn=KEY_ARN))
    )

    def check(values):
        url, config, ro_arn, rw_arn = values
        bucket = mocks.find(BUCKET, "dvc-data-bucket").outputs["bucket"]
        assert url == f"s3://{bucket}/ml/dvc"
        assert f"url = {url}" in config and "remote = storage" in config
        ro = mocks.find("aws:iam/policy:Policy", "dvc-read-only")
        rw = mocks.find("aws:iam/policy:Policy", "dvc-read-write")
        assert ro.outputs["arn"] == ro_arn and rw.outputs["arn"] == rw_arn
        assert statement(policy(ro), "Read")["Resource"] == f"arn:aws:s3:::{bucket}/ml/dvc/*"
        assert "s3:PutObject" in statement(policy(rw), "ReadWrite")["Action"]
        use_key = statement(policy(rw), "UseKeyThroughS3")
        assert use_key["Resource"] == KEY_ARN
        assert use_key["Condition"] == {
            "StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}
        }
        component_children_ok(mocks, "mlops:storage:DvcRemote", "dvc")

    return pulumi.Output.all(
        remote.dvc_remote_url,
        remote.dvc_config,
        remote.read_only_policy_arn,
        remote.read_write_policy_arn,
    ).apply(lambda v: after_registration(mocks, lambda _: check(v)))


@pulumi.runtime.test
def test_dvc_remote_works_with_defaults_only(mocks):
    remote = DvcRemote("x", DvcRemoteArgs())

    def check(url):
        assert url.startswith("s3://x-data-bucket-") and url.endswith("/dvc")
        assert mocks.find("aws:kms/key:Key", "x-data-key-key").protect

    return remote.dvc_remote_url.apply(lambda url: after_registration(mocks, lambda _: check(url)))


@pulumi.runtime.test
def test_two_dvc_remotes_do_not_collide(mocks):
    DvcRemote("team-a", DvcRemoteArgs(bucket=DataBucketArgs(kms_key_arn=KEY_ARN)))
    DvcRemote("team-b", DvcRemoteArgs(bucket=DataBucketArgs(kms_key_arn=KEY_ARN)))

    def check(m):
        buckets = {r.outputs["bucket"] for r in m.of_type(BUCKET)}
        policies = {r.outputs["arn"] for r in m.of_type("aws:iam/policy:Policy")}
        assert len(buckets) == 2 and len(policies) == 4
        for name in ("team-a", "team-b"):
            component_children_ok(m, "mlops:storage:DvcRemote", name)

    return after_registration(mocks, check)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"prefix": "/dvc"}, "prefix"),
        ({"prefix": "dvc/"}, "prefix"),
        ({"prefix": ""}, "prefix"),
        ({"remote_name": "my remote"}, "remote_name"),
        ({"bucket": {"force_destroy": True}}, "bucket"),
    ],
)
def test_dvc_remote_invalid_args(kwargs, field):
    with pytest.raises(ArgsError) as caught:
        DvcRemoteArgs(**kwargs)
    assert caught.value.field == field


# --- S3 server access logs -----------------------------------------------------------------------


def test_access_log_bucket_policy_admits_only_this_accounts_log_delivery():
    doc = access_log_bucket_policy(bucket_arn=BUCKET_ARN, account_id="123456789012")
    stmt = statement(doc, "S3ServerAccessLogsPolicy")
    assert stmt["Effect"] == "Allow"
    assert stmt["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert stmt["Action"] == "s3:PutObject"
    assert stmt["Resource"] == f"{BUCKET_ARN}/{ACCESS_LOG_ROOT}*"
    assert stmt["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}
    assert "aws:SourceArn" in stmt["Condition"]["ArnLike"]
    assert statement(doc, "DenyInsecureTransport")["Effect"] == "Deny"


def test_log_lifecycle_expires_logs():
    (rule,) = log_lifecycle_rules(expiry_days=30)
    assert rule["expiration"] == {"days": 30}
    assert rule["status"] == "Enabled"


@pulumi.runtime.test
def test_access_log_bucket_is_sse_s3_versioned_and_private(mocks):
    AccessLogBucket("logs", AccessLogBucketArgs(expiry_days=90))

    def check(m):
        sse = m.find(
            f"{S3}bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            "logs-encryption",
        )
        assert sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"] == {
            "sseAlgorithm": "AES256"
        }
        pab = m.find(f"{S3}bucketPublicAccessBlock:BucketPublicAccessBlock", "logs-public-access")
        assert all(
            pab.inputs[k]
            for k in (
                "blockPublicAcls",
                "blockPublicPolicy",
                "ignorePublicAcls",
                "restrictPublicBuckets",
            )
        )
        doc = policy(m.find(f"{S3}bucketPolicy:BucketPolicy", "logs-policy"))
        assert statement(doc, "S3ServerAccessLogsPolicy")["Condition"]["StringEquals"] == {
            "aws:SourceAccount": ACCOUNT
        }
        lifecycle = m.find(
            f"{S3}bucketLifecycleConfiguration:BucketLifecycleConfiguration", "logs-lifecycle"
        )
        assert lifecycle.inputs["rules"][0]["expiration"] == {"days": 90}
        bucket = m.find(BUCKET, "logs-bucket")
        assert bucket.protect and bucket.retain_on_delete
        component_children_ok(m, "mlops:storage:AccessLogBucket", "logs")

    return after_registration(mocks, check)


@pulumi.runtime.test
def test_data_bucket_logs_to_the_access_log_bucket(mocks):
    DataBucket("data", DataBucketArgs(kms_key_arn=KEY_ARN, access_log_bucket="logs-1234567"))
    DataBucket("quiet", DataBucketArgs(kms_key_arn=KEY_ARN))

    def check(m):
        logging = m.find(f"{S3}bucketLogging:BucketLogging", "data-access-logs")
        assert logging.inputs["targetBucket"] == "logs-1234567"
        assert logging.inputs["targetPrefix"] == f"{ACCESS_LOG_ROOT}data/"
        assert logging.inputs["bucket"] == m.find(BUCKET, "data-bucket").outputs["bucket"]
        assert logging.inputs["targetObjectKeyFormat"] == {
            "partitionedPrefix": {"partitionDateSource": "EventTime"}
        }
        assert logging.retain_on_delete
        assert [r.name for r in m.of_type(f"{S3}bucketLogging:BucketLogging")] == [
            "data-access-logs"
        ]

    return after_registration(mocks, check)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"access_log_prefix": "logs/data/"}, "access_log_prefix"),
        ({"access_log_prefix": f"{ACCESS_LOG_ROOT}data"}, "access_log_prefix"),
    ],
)
def test_access_log_prefix_must_be_under_the_log_root(kwargs, field):
    with pytest.raises(ArgsError, match=field):
        DataBucketArgs(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"expiry_days": 0}, "expiry_days"), ({"force_destroy": True}, "force_destroy")],
)
def test_access_log_bucket_invalid_args(kwargs, field):
    with pytest.raises(ArgsError, match=field):
        AccessLogBucketArgs(**kwargs)
