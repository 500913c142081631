"""The CI deploy role under an independent IAM evaluation: moto's policy enforcement.

The role gets exactly the documents :class:`~components.ci.CiIdentity` attaches (the deploy policy
and the state access policy, from the same pure functions), is assumed, and then tries what a
deploy does and what it must not: moto evaluates every S3 request against the role's policies
(explicit deny, allow, implicit deny) once the set-up requests are spent
(``set_initial_no_auth_action_count``).

moto evaluates ``Action``/``NotAction`` and ``Resource`` faithfully; it does not evaluate
``aws:RequestedRegion`` (it treats the region condition of the allow as met, which is what an
in-region deploy sees), so the region confinement is pinned by the policy tests in test_ci.py.
"""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError
from conftest import ACCOUNT
from moto import mock_aws
from moto.core import set_initial_no_auth_action_count

from mlops_platform.components.ci import deploy_policy, state_access_policy

REGION = "eu-west-1"
STATE_BUCKET = "mlops-state-123456789012"
DVC_BUCKET = "dvc-data-bucket-1a2b3c4"
STATE_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/11111111-2222-4333-a444-555555555555"
BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/mlops-platform/ci-boundary"
ROLE = "ci-github-deploy"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "sts:AssumeRole",
        }
    ],
}
# Requests made with the set-up credentials before moto starts enforcing IAM.
SETUP_REQUESTS = 8


def _documents(*, empty_buckets: bool = False) -> dict[str, dict]:
    state_arn = f"arn:aws:s3:::{STATE_BUCKET}"
    return {
        "deploy": deploy_policy(
            partition="aws",
            account_id=ACCOUNT,
            region=REGION,
            boundary_arn=BOUNDARY,
            protected_arns=[BOUNDARY, f"arn:aws:iam::{ACCOUNT}:role/{ROLE}"],
            state_bucket_arn=state_arn,
            state_key_arn=STATE_KEY,
            empty_buckets=empty_buckets,
        ),
        "state": state_access_policy(
            state_bucket_arn=state_arn, state_key_arn=STATE_KEY, write=True
        ),
    }


def _deploy_session(documents: dict[str, dict]) -> boto3.Session:
    """Buckets with data, the role with its policies, and a session as the role (8 requests)."""
    s3 = boto3.client("s3", region_name=REGION)
    for bucket in (DVC_BUCKET, STATE_BUCKET):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_object(
            Bucket=bucket,
            Key="dvc/files/md5/ab/cdef"
            if bucket == DVC_BUCKET
            else ".pulumi/stacks/mlops-platform/prod.json",
            Body=b"{}",
        )
    iam = boto3.client("iam", region_name=REGION)
    iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(TRUST))
    for name, document in documents.items():
        iam.put_role_policy(RoleName=ROLE, PolicyName=name, PolicyDocument=json.dumps(document))
    credentials = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{ROLE}", RoleSessionName="release-prod"
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=REGION,
    )


def _denied(call) -> bool:
    try:
        call()
    except ClientError as error:
        return error.response["Error"]["Code"] == "AccessDenied"
    return False


@pytest.fixture(autouse=True)
def _aws_environment(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@mock_aws
@set_initial_no_auth_action_count(SETUP_REQUESTS)
def test_the_deploy_role_reads_no_data_and_cannot_reconfigure_the_state_bucket():
    s3 = _deploy_session(_documents()).client("s3")
    # Data: no object of the DVC remote (nor of any other platform bucket) can be read.
    assert _denied(lambda: s3.get_object(Bucket=DVC_BUCKET, Key="dvc/files/md5/ab/cdef"))
    assert _denied(lambda: s3.put_object(Bucket=DVC_BUCKET, Key="dvc/x", Body=b"x"))
    assert _denied(lambda: s3.delete_object(Bucket=DVC_BUCKET, Key="dvc/files/md5/ab/cdef"))
    # The state bucket's guards.
    policy = json.dumps({"Version": "2012-10-17", "Statement": []})
    assert _denied(lambda: s3.put_bucket_policy(Bucket=STATE_BUCKET, Policy=policy))
    assert _denied(lambda: s3.delete_bucket_policy(Bucket=STATE_BUCKET))
    assert _denied(
        lambda: s3.put_bucket_versioning(
            Bucket=STATE_BUCKET, VersioningConfiguration={"Status": "Suspended"}
        )
    )
    assert _denied(lambda: s3.delete_bucket_lifecycle(Bucket=STATE_BUCKET))
    assert _denied(lambda: s3.delete_bucket(Bucket=STATE_BUCKET))


@mock_aws
@set_initial_no_auth_action_count(SETUP_REQUESTS)
def test_the_deploy_role_may_do_what_a_deploy_needs():
    s3 = _deploy_session(_documents()).client("s3")
    # The Pulumi state: read and write checkpoints.
    key = ".pulumi/stacks/mlops-platform/prod.json"
    assert s3.get_object(Bucket=STATE_BUCKET, Key=key)["Body"].read() == b"{}"
    s3.put_object(Bucket=STATE_BUCKET, Key=key, Body=b'{"version": 3}')
    assert s3.list_objects_v2(Bucket=STATE_BUCKET)["KeyCount"] == 1
    # The platform's buckets: create and configure them.
    s3.create_bucket(
        Bucket="artifacts-bucket-9f8e7d6", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    s3.put_bucket_versioning(Bucket=DVC_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_tagging(Bucket=DVC_BUCKET, Tagging={"TagSet": [{"Key": "env", "Value": "prod"}]})
    tls_only = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{DVC_BUCKET}", f"arn:aws:s3:::{DVC_BUCKET}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }
    s3.put_bucket_policy(Bucket=DVC_BUCKET, Policy=json.dumps(tls_only))
    assert s3.get_bucket_versioning(Bucket=DVC_BUCKET)["Status"] == "Enabled"


@mock_aws
@set_initial_no_auth_action_count(SETUP_REQUESTS)
def test_emptying_force_destroy_buckets_deletes_but_still_reads_nothing():
    s3 = _deploy_session(_documents(empty_buckets=True)).client("s3")
    assert _denied(lambda: s3.get_object(Bucket=DVC_BUCKET, Key="dvc/files/md5/ab/cdef"))
    s3.delete_object(Bucket=DVC_BUCKET, Key="dvc/files/md5/ab/cdef")
    assert _denied(lambda: s3.delete_object(Bucket=STATE_BUCKET, Key="x")) is False
