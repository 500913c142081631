"""The Terraform-plan export (``--format terraform-plan``): types, attributes, blocks, references.

Whether the scanners read it as intended is checked by ``make audit`` (checkov over the three
exported plans); these tests pin the mapping itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mlops_platform.infra import plan as plan_module
from mlops_platform.infra import terraform

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def exported() -> dict[str, dict[str, Any]]:
    """The three stacks' Terraform plans, made once for this module."""
    out = {}
    for stack in ("dev", "staging", "prod"):
        made = plan_module.make_plan(stack, ROOT)
        out[stack] = terraform.export(made.to_json(), made.property_dependencies)
    return out


def _resource(doc: dict[str, Any], address: str) -> dict[str, Any]:
    for res in doc["planned_values"]["root_module"]["resources"]:
        if res["address"] == address:
            return res
    raise LookupError(address)


def _config(doc: dict[str, Any], address: str) -> dict[str, Any]:
    for res in doc["configuration"]["root_module"]["resources"]:
        if res["address"] == address:
            return res
    raise LookupError(address)


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("aws:s3/bucket:Bucket", "aws_s3_bucket"),
        (
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            "aws_s3_bucket_server_side_encryption_configuration",
        ),
        ("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "aws_iam_role_policy_attachment"),
        ("aws:iam/openIdConnectProvider:OpenIdConnectProvider", "aws_iam_openid_connect_provider"),
        ("aws:ec2/vpc:Vpc", "aws_vpc"),
        ("aws:ec2/launchTemplate:LaunchTemplate", "aws_launch_template"),
        (
            "aws:sagemaker/mlflowTrackingServer:MlflowTrackingServer",
            "aws_sagemaker_mlflow_tracking_server",
        ),
        ("aws:appautoscaling/target:Target", "aws_appautoscaling_target"),
        ("aws:cloudwatch/metricAlarm:MetricAlarm", "aws_cloudwatch_metric_alarm"),
        ("kubernetes:core/v1:Namespace", "kubernetes_namespace_v1"),
        ("kubernetes:networking.k8s.io/v1:NetworkPolicy", "kubernetes_network_policy_v1"),
        ("kubernetes:helm.sh/v3:Release", "helm_release"),
    ],
)
def test_types_follow_the_bridge_naming(token, expected):
    assert terraform.terraform_type(token) == expected


def test_an_unknown_package_is_an_error():
    with pytest.raises(terraform.ExportError, match="docker"):
        terraform.terraform_type("docker:index/image:Image")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("kmsMasterKeyId", "kms_master_key_id"),
        ("ipv6CidrBlock", "ipv6_cidr_block"),
        ("bucket", "bucket"),
        ("httpPutResponseHopLimit", "http_put_response_hop_limit"),
    ],
)
def test_snake_case(name, expected):
    assert terraform.snake(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("rules", "rule"),
        ("metric_queries", "metric_query"),
        ("ingress", "ingress"),
        ("taints", "taint"),
        ("statuses", "status"),
    ],
)
def test_singular(name, expected):
    assert terraform.singular(name) == expected


def test_the_format_is_what_scanners_detect(exported):
    doc = exported["prod"]
    assert doc["format_version"] and doc["terraform_version"]
    planned = doc["planned_values"]["root_module"]["resources"]
    assert {r["address"] for r in planned} == {r["address"] for r in doc["resource_changes"]}
    assert all(c["change"]["actions"] == ["create"] for c in doc["resource_changes"])
    addresses = [r["address"] for r in planned]
    assert len(addresses) == len(set(addresses))


def test_blocks_are_lists_and_pluralized_names_singular(exported):
    doc = exported["prod"]
    sse = _resource(doc, "aws_s3_bucket_server_side_encryption_configuration.dvc-data-encryption")
    rule = sse["values"]["rule"]
    assert isinstance(rule, list) and len(rule) == 1
    assert rule[0]["apply_server_side_encryption_by_default"][0]["sse_algorithm"] == "aws:kms"
    assert rule[0]["bucket_key_enabled"] is True
    lifecycle = _resource(doc, "aws_s3_bucket_lifecycle_configuration.dvc-data-lifecycle")
    assert [r["id"] for r in lifecycle["values"]["rule"]] == [
        "abort-incomplete-multipart-uploads",
        "expire-noncurrent-versions",
    ]
    assert lifecycle["values"]["rule"][0]["filter"] == [{"prefix": ""}]
    oidc = _resource(doc, "aws_iam_openid_connect_provider.ci-github-oidc")
    assert oidc["values"]["client_id_list"] == ["sts.amazonaws.com"]
    template = _resource(doc, "aws_launch_template.cluster-system")
    assert template["values"]["metadata_options"][0]["http_tokens"] == "required"
    assert template["values"]["block_device_mappings"][0]["ebs"][0]["encrypted"] == "true"
    alarm_subscription = _config(doc, "aws_sns_topic_subscription.demo-serving-alarms-0")
    assert "topic_arn" in alarm_subscription["expressions"]


def test_maps_stay_maps(exported):
    bucket = _resource(exported["prod"], "aws_s3_bucket.dvc-data-bucket")
    assert isinstance(bucket["values"]["tags"], dict)


def test_outputs_used_as_inputs_are_references_known_after_apply(exported):
    doc = exported["prod"]
    address = "aws_s3_bucket_public_access_block.dvc-data-public-access"
    values = _resource(doc, address)["values"]
    assert "bucket" not in values  # unknown until the bucket exists, as in a first plan
    assert values["block_public_acls"] is True
    expressions = _config(doc, address)["expressions"]
    assert expressions["bucket"]["references"] == [
        "aws_s3_bucket.dvc-data-bucket.id",
        "aws_s3_bucket.dvc-data-bucket",
    ]
    change = next(c for c in doc["resource_changes"] if c["address"] == address)
    assert change["change"]["after_unknown"]["bucket"] is True
    sse = _config(doc, "aws_s3_bucket_server_side_encryption_configuration.dvc-data-encryption")
    key = sse["expressions"]["rule"][0]["apply_server_side_encryption_by_default"][0]
    assert key["kms_master_key_id"]["references"][0] == "aws_kms_key.platform-key-key.arn"


def test_documents_that_embed_outputs_stay_known_and_reference_them(exported):
    doc = exported["prod"]
    address = "aws_s3_bucket_policy.dvc-data-policy"
    policy = json.loads(_resource(doc, address)["values"]["policy"])
    assert policy["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    refs = _config(doc, address)["expressions"]["policy"]["references"]
    assert "aws_s3_bucket.dvc-data-bucket" in refs


def test_every_list_property_maps_by_the_rule_or_the_renames(exported):
    """A list attribute whose Terraform name is neither the rule's nor a listed rename would
    reach the scanners under a wrong name; list them all so a new one is looked at."""
    names = {
        (r["type"], key)
        for doc in exported.values()
        for r in doc["planned_values"]["root_module"]["resources"]
        for key, value in r["values"].items()
        if isinstance(value, list)
    }
    assert ("aws_iam_openid_connect_provider", "client_id_list") in names
    assert ("aws_eks_node_group", "taint") in names
    assert ("aws_ecr_repository", "encryption_configuration") in names
    assert ("aws_cloudwatch_metric_alarm", "metric_query") in names
    # No block list kept a plural Pulumi name that the rule should have singularized.
    assert not any(name.endswith("ies") for _, name in names)


def test_components_and_providers_are_not_resources(exported):
    types = {r["type"] for r in exported["prod"]["planned_values"]["root_module"]["resources"]}
    assert not any(t.startswith(("mlops", "pulumi")) for t in types)
    assert "aws_eks_cluster" in types
    assert "helm_release" in types


def test_helm_values_are_one_yaml_document(exported):
    doc = exported["prod"]
    release = next(
        r for r in doc["planned_values"]["root_module"]["resources"] if r["type"] == "helm_release"
    )
    assert isinstance(release["values"]["values"], list)
    assert isinstance(release["values"]["values"][0], str)


def test_cli_prints_terraform_plan_json(capsys):
    code = plan_module.main(["--stack", "dev", "--format", "terraform-plan"])
    out = capsys.readouterr().out
    assert code == 0
    assert json.loads(out)["planned_values"]["root_module"]["resources"]


def test_compare_refuses_terraform_plan(capsys):
    assert (
        plan_module.main(["--stack", "dev", "--compare", "prod", "--format", "terraform-plan"]) == 2
    )


def test_a_plan_without_exportable_resources_is_an_error_not_an_empty_export(capsys):
    """The governance project holds only GitHub and GitLab resources: an empty Terraform plan
    would pass every scanner while checking nothing, so the export refuses it in one line."""
    code = plan_module.main(
        ["--project", "governance", "--stack", "example", "--format", "terraform-plan"]
    )
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert "mlops-platform-governance/example has no AWS or Kubernetes resource" in captured.err
    assert "github, gitlab" in captured.err
