"""The recording mock engine itself: it must fail loudly where the stock one is silent."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pytest
from conftest import ACCOUNT, after_registration

from mlops_platform.components._aws import partition_of
from mlops_platform.infra import mocks as recording


def test_unmocked_invoke_fails_loudly(mocks):
    @pulumi.runtime.test
    def program():
        return aws.ec2.get_ami_output(most_recent=True, owners=["amazon"]).id

    with pytest.raises(Exception, match="no mock for invoke 'aws:ec2/getAmi:getAmi'"):
        program()


def test_duplicate_urns_are_rejected(mocks):
    @pulumi.runtime.test
    def register_twice():
        aws.s3.Bucket("same")
        aws.s3.Bucket("same")

    with pytest.raises(Exception, match=r"duplicate URN .*aws:s3/bucket:Bucket::same"):
        register_twice()


@pulumi.runtime.test
def test_secret_inputs_are_masked(mocks):
    aws.ssm.Parameter("token", type="SecureString", value=pulumi.Output.secret("hunter2"))

    def check(m):
        reg = m.find("aws:ssm/parameter:Parameter", "token")
        assert reg.inputs["value"] == recording.SECRET
        assert "hunter2" not in repr(reg.to_json())

    return after_registration(mocks, check)


@pulumi.runtime.test
def test_generic_resources_get_an_id_and_arn(mocks):
    aws.cloudwatch.Dashboard("board", dashboard_name="board", dashboard_body="{}")

    def check(m):
        board = m.find("aws:cloudwatch/dashboard:Dashboard", "board")
        assert board.id.startswith("board-")
        assert board.outputs["arn"].startswith(f"arn:aws:cloudwatch:eu-west-1:{ACCOUNT}:board-")

    return after_registration(mocks, check)


@pulumi.runtime.test
def test_deprecated_resources_are_reported_as_warnings(mocks):
    aws.s3.BucketV2("old")

    def check(m):
        assert any("deprecated" in w for w in m.warnings()), m.log

    return after_registration(mocks, check)


@pytest.mark.parametrize(
    ("region", "partition"),
    [("eu-west-1", "aws"), ("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov")],
)
def test_partition_follows_the_region(region, partition):
    assert partition_of(region) == partition


def test_plain_values_are_json_ready():
    assert recording.plain({"b": 1.0, "a": [2.5, None]}) == {"a": [2.5, None], "b": 1}
    assert list(recording.plain({"b": 1, "a": 2})) == ["a", "b"]
