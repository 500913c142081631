"""The offline plan CLI: JSON contract, formats, exit codes, one-line errors."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT

from mlops_platform.infra import plan

STACK_KEYS = {
    "urn",
    "type",
    "name",
    "custom",
    "parent",
    "inputs",
    "outputs",
    "dependencies",
    "protect",
    "retainOnDelete",
}


def stack_config(stack: str = "dev") -> dict[str, Any]:
    return yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]


def write_project(tmp_path: Path, config: dict[str, Any], stack: str = "bad") -> Path:
    """A project dir whose Pulumi.yaml runs this repo's program with the given stack config."""
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    project["main"] = str(ROOT / "infra")
    (tmp_path / "Pulumi.yaml").write_text(yaml.safe_dump(project))
    (tmp_path / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": config}))
    return tmp_path


def run_main(capsys, *argv: str) -> tuple[int, str, str]:
    code = plan.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def prod_json() -> dict[str, Any]:
    return plan.make_plan("prod", ROOT).to_json()


def test_json_contract(prod_json):
    assert prod_json["project"] == "mlops-platform"
    assert prod_json["stack"] == "prod"
    assert prod_json["policy"] == []
    resources = prod_json["resources"]
    assert resources[0]["type"] == "pulumi:pulumi:Stack"
    assert (
        resources[0]["urn"]
        == "urn:pulumi:prod::mlops-platform::pulumi:pulumi:Stack::mlops-platform-prod"
    )
    assert any(r["type"] == "pulumi:providers:aws" for r in resources)
    assert {r["custom"] for r in resources} == {True, False}
    urns = [r["urn"] for r in resources]
    assert len(urns) == len(set(urns))
    for res in resources:
        assert set(res) >= STACK_KEYS, res["urn"]
        assert res["urn"].endswith(f"::{res['name']}")
        if res["type"] != "pulumi:pulumi:Stack":
            assert res["parent"] in urns, f"{res['urn']} has an unknown parent"
            assert urns.index(res["parent"]) < urns.index(res["urn"]), "parents come first"
        assert set(res["dependencies"]) <= set(urns)
    json.dumps(prod_json)  # serialisable as is


def test_json_outputs_are_realistic(prod_json):
    outputs = prod_json["outputs"]
    assert outputs["registryUrl"] == "333333333333.dkr.ecr.eu-west-1.amazonaws.com"
    assert outputs["repositoryUrls"]["serving"] == (
        "333333333333.dkr.ecr.eu-west-1.amazonaws.com/mlops-platform/prod/serving"
    )
    assert outputs["dvcRemoteUrl"].startswith("s3://dvc-data-bucket-")
    assert outputs["kmsKeyArn"].startswith("arn:aws:kms:eu-west-1:333333333333:key/")
    bucket = next(r for r in prod_json["resources"] if r["name"] == "artifacts-bucket")
    assert bucket["outputs"]["bucket"] == outputs["artifactsBucket"]
    assert bucket["outputs"]["arn"] == f"arn:aws:s3:::{outputs['artifactsBucket']}"
    assert bucket["protect"] is True and bucket["retainOnDelete"] is True
    stack = prod_json["resources"][0]
    assert stack["outputs"] == outputs


def test_dependencies_include_implicit_and_explicit_edges(prod_json):
    by_name = {r["name"]: r for r in prod_json["resources"]}
    policy = by_name["artifacts-policy"]
    assert by_name["artifacts-bucket"]["urn"] in policy["dependencies"]  # output used as input
    assert by_name["artifacts-public-access"]["urn"] in policy["dependencies"]  # depends_on


def test_plan_is_identical_between_runs(prod_json):
    assert plan.make_plan("prod", ROOT).to_json() == prod_json


@pytest.mark.parametrize("fmt", ["tree", "markdown", "json"])
def test_formats_print_the_plan(capsys, fmt):
    code, out, err = run_main(
        capsys, "--stack", "staging", "--format", fmt, "--project-dir", str(ROOT)
    )
    assert code == 0 and err == ""
    assert "mlops-platform" in out and "staging" in out
    assert "registry-serving" in out
    if fmt == "markdown":
        assert "| `aws:s3/bucket:Bucket` | 4 |" in out  # DVC, artifacts, MLflow, access logs
        assert "<details>" in out
    if fmt == "tree":
        assert "└─ " in out and "Outputs:" in out


def test_project_dir_is_found_from_a_subdirectory(monkeypatch):
    monkeypatch.chdir(ROOT / "components")
    assert plan.find_project_dir() == ROOT


def test_config_strings_match_what_the_cli_passes():
    assert plan.config_string("eu-west-1") == "eu-west-1"
    assert plan.config_string(True) == "true"
    assert plan.config_string(7) == "7"
    assert json.loads(plan.config_string({"a": [1]})) == {"a": [1]}


def test_secure_values_become_secret_placeholders(tmp_path):
    config = stack_config()
    config["mlops-platform:registry"]["namespace"] = {"secure": "v1:abc"}
    files = plan.load_stack_files(write_project(tmp_path, config), "bad")
    assert "mlops-platform:registry" in files.secret_keys
    assert plan.SECRET_PLACEHOLDER in files.config["mlops-platform:registry"]


def test_project_defaults_apply_and_stack_keys_without_namespace(tmp_path):
    config = stack_config()
    del config["mlops-platform:protectStatefulResources"]
    config["environment"] = config.pop("mlops-platform:environment")
    files = plan.load_stack_files(write_project(tmp_path, config), "bad")
    assert files.config["mlops-platform:protectStatefulResources"] == "true"  # Pulumi.yaml default
    assert files.config["mlops-platform:environment"] == "dev"


# --- bad input: exit 2, one line naming the key, the value and what is allowed -----------------

REGISTRY = "mlops-platform:registry"
DATA = "mlops-platform:data"
ENCRYPTION = "mlops-platform:encryption"
TAGS = "aws:defaultTags"
SERVING = "mlops-platform:serving"
# dev serves demo and churn: demo's own keys, and the defaults both take
DEMO = (SERVING, "models", "demo")
DEMO_KEY = f"{SERVING}.models.demo"
DEFAULTS = (SERVING, "defaults")
DEFAULTS_KEY = f"{SERVING}.defaults"
NETWORK = "mlops-platform:network"
CLUSTER = "mlops-platform:cluster"
POOLS = (CLUSTER, "nodePools")
RUNNERS = "mlops-platform:runners"
GH = (RUNNERS, "github")
SETS = (*GH, "scaleSets")


def _environment(env: str):
    return _all(_set(("mlops-platform:environment",), env), _set((TAGS, "tags", "env"), env))


POLICY = "mlops-platform:policy"


def _set(path: tuple[str, ...], value: Any):
    def mutate(config: dict[str, Any]) -> None:
        target = config
        for key in path[:-1]:
            target = target.setdefault(key, {})
        target[path[-1]] = value

    return mutate


def _delete(*path: str):
    def mutate(config: dict[str, Any]) -> None:
        target = config
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return mutate


def _all(*mutations):
    def mutate(config: dict[str, Any]) -> None:
        for mutation in mutations:
            mutation(config)

    return mutate


BAD_CONFIGS = [
    # (case id, mutation, text the error line must contain)
    (
        "missing environment",
        _delete("mlops-platform:environment"),
        "mlops-platform:environment: got nothing",
    ),
    (
        "bad environment",
        _set(("mlops-platform:environment",), "production"),
        '"production"; expected one of dev, staging, prod',
    ),
    ("unknown project key", _set(("mlops-platform:regsitry",), {}), "mlops-platform:regsitry"),
    (
        "a privileged dind set without the builds pool",
        _delete(CLUSTER, "nodePools", "builds"),
        f'{RUNNERS}.github.scaleSets.cpu.containerMode: got "dind"; needs a node pool with '
        "pool: builds",
    ),
    (
        "a staging runner image without a digest",
        _all(
            _environment("staging"),
            _set((CLUSTER, "publicEndpoint"), False),
            _delete(CLUSTER, "publicAccessCidrs"),
            _set((*SETS, "cpu", "runnerImage"), "ghcr.io/actions/actions-runner:2.336.0"),
        ),
        f'{RUNNERS}.github.scaleSets.cpu.runnerImage: got "ghcr.io/actions/actions-runner:2.336.0"; '
        "an image pinned by digest",
    ),
    (
        "a staging dind image without a digest",
        _all(
            _environment("staging"),
            _set((CLUSTER, "publicEndpoint"), False),
            _delete(CLUSTER, "publicAccessCidrs"),
            _set((*SETS, "cpu", "dindImage"), "docker:dind"),
        ),
        f'{RUNNERS}.github.scaleSets.cpu.dindImage: got "docker:dind"; an image pinned by digest',
    ),
    (
        "a dind set on a cluster without native sidecars",
        _set((CLUSTER, "kubernetesVersion"), "1.28"),
        f'{RUNNERS}.github.scaleSets.cpu.containerMode: got "dind"; needs '
        f"{CLUSTER}.kubernetesVersion 1.29 or later",
    ),
    (
        "a GitLab job capability beyond the runtime's defaults",
        _set((RUNNERS, "gitlab", "jobCapabilities"), ["SYS_ADMIN"]),
        f'{RUNNERS}.gitlab.jobCapabilities[0]: got "SYS_ADMIN"; expected one of AUDIT_WRITE',
    ),
    (
        "a GitLab job group without a user",
        _set((RUNNERS, "gitlab", "jobRunAsGroup"), 1000),
        f"{RUNNERS}.gitlab.jobRunAsGroup: got 1000; only with jobRunAsUser",
    ),
    (
        "a staging GitLab job image without a digest",
        _all(
            _environment("staging"),
            _set((CLUSTER, "publicEndpoint"), False),
            _delete(CLUSTER, "publicAccessCidrs"),
            _set((RUNNERS, "gitlab", "jobImage"), "alpine:3.22"),
        ),
        f'{RUNNERS}.gitlab.jobImage: got "alpine:3.22"; an image pinned by digest',
    ),
    (
        "access logs kept for no day",
        _set(("mlops-platform:accessLogs", "expiryDays"), 0),
        "mlops-platform:accessLogs.expiryDays: got 0",
    ),
    (
        "unknown access-log key",
        _set(("mlops-platform:accessLogs", "retention"), 30),
        "mlops-platform:accessLogs.retention",
    ),
    (
        "unknown registry key",
        _set((REGISTRY, "imageTagMutabilty"), "MUTABLE"),
        f"{REGISTRY}.imageTagMutabilty",
    ),
    (
        "bad tag mutability",
        _set((REGISTRY, "imageTagMutability"), "immutable"),
        "expected one of IMMUTABLE, MUTABLE",
    ),
    (
        "zero images kept",
        _set((REGISTRY, "keepTaggedImages"), 0),
        f"{REGISTRY}.keepTaggedImages: got 0; expected an integer from 1 to 10000",
    ),
    (
        "images kept not a number",
        _set((REGISTRY, "keepTaggedImages"), "many"),
        f'{REGISTRY}.keepTaggedImages: got "many"; expected an integer',
    ),
    (
        "repositories a string",
        _set((REGISTRY, "repositories"), "serving"),
        f"{REGISTRY}.repositories",
    ),
    (
        "bad repository name",
        _set((REGISTRY, "repositories"), ["Serving Image"]),
        f"{REGISTRY}.repositories[0]",
    ),
    (
        "bad pull principal",
        _set((REGISTRY, "pullPrincipalArns"), ["*"]),
        f"{REGISTRY}.pullPrincipalArns[0]",
    ),
    (
        "registry not a map",
        _set((REGISTRY,), "serving"),
        f'{REGISTRY}: got "serving"; expected a map',
    ),
    (
        "force delete protected",
        _set(("mlops-platform:protectStatefulResources",), True),
        f"{REGISTRY}.forceDelete: got true; forceDelete=True needs mlops-platform:protectStatefulResources=False",
    ),
    (
        "zero noncurrent days",
        _set((DATA, "noncurrentVersionExpiryDays"), 0),
        f"{DATA}.noncurrentVersionExpiryDays: got 0",
    ),
    ("absolute dvc prefix", _set((DATA, "dvcPrefix"), "/dvc"), f'{DATA}.dvcPrefix: got "/dvc"'),
    ("unknown data key", _set((DATA, "bucketName"), "x"), f"{DATA}.bucketName"),
    (
        "force destroy not bool",
        _set((DATA, "forceDestroy"), "yes"),
        f'{DATA}.forceDestroy: got "yes"; expected true or false',
    ),
    (
        "long deletion window",
        _set((ENCRYPTION, "deletionWindowInDays"), 45),
        f"{ENCRYPTION}.deletionWindowInDays: got 45; expected an integer from 7 to 30",
    ),
    (
        "short rotation",
        _set((ENCRYPTION, "rotationPeriodInDays"), 30),
        f"{ENCRYPTION}.rotationPeriodInDays",
    ),
    (
        "bad admin arn",
        _set((ENCRYPTION, "administratorArns"), ["admin"]),
        f"{ENCRYPTION}.administratorArns[0]",
    ),
    (
        "protect not bool",
        _set(("mlops-platform:protectStatefulResources",), "maybe"),
        'protectStatefulResources: got "maybe"',
    ),
    ("unknown region", _set(("aws:region",), "eu-west-9"), 'aws:region: got "eu-west-9"'),
    ("missing region", _delete("aws:region"), "aws:region: got nothing"),
    ("missing accounts", _delete("aws:allowedAccountIds"), "aws:allowedAccountIds: got nothing"),
    (
        "short account id",
        _set(("aws:allowedAccountIds",), ["123"]),
        'aws:allowedAccountIds[0]: got "123"; expected 12-digit account ids as strings',
    ),
    ("missing owner tag", _delete(TAGS, "tags", "owner"), f"{TAGS}.tags.owner"),
    (
        "env tag mismatch",
        _set((TAGS, "tags", "env"), "prod"),
        f'{TAGS}.tags.env: got "prod"; must equal',
    ),
    (
        "tags not nested",
        _set((TAGS,), {"env": "dev"}),
        f'{TAGS}.env: got "dev"; unknown key; allowed: tags',
    ),
    ("missing default tags", _delete(TAGS), f"{TAGS}: got nothing (the key is missing)"),
    ("reserved tag", _set((TAGS, "tags", "aws:x"), "y"), f"{TAGS}.tags.aws:x"),
    ("unsupported aws key", _set(("aws:accessKey",), "AKIA"), "aws:accessKey"),
    (
        "canary size 0",
        _set((*DEMO, "canaryPercent"), 0),
        f"{DEMO_KEY}.canaryPercent: got 0; expected an integer from 1 to 50",
    ),
    ("canary above 50%", _set((*DEMO, "canaryPercent"), 60), f"{DEMO_KEY}.canaryPercent: got 60"),
    (
        "bake beyond the provider wait",
        _set((*DEMO, "bakeSeconds"), 3000),
        f"{DEMO_KEY}.bakeSeconds: got 3000; the deployment's waits",
    ),
    ("instance count 0", _set((*DEMO, "instanceCount"), 0), f"{DEMO_KEY}.instanceCount: got 0"),
    (
        "not an ml. instance",
        _set((*DEMO, "instanceType"), "m5.large"),
        f'{DEMO_KEY}.instanceType: got "m5.large"; expected an ml.* instance type',
    ),
    (
        "capture on serverless",
        _set((*DEMO, "dataCapturePercent"), 10),
        f"{DEMO_KEY}.dataCapturePercent: got 10; serverless endpoints support no data capture",
    ),
    (
        "canary on serverless",
        _set((*DEMO, "trafficRouting"), "CANARY"),
        f'{DEMO_KEY}.trafficRouting: got "CANARY"',
    ),
    (
        "alarm threshold 0",
        _set((*DEMO, "errorRatePercent"), 0),
        f"{DEMO_KEY}.errorRatePercent: got 0; expected a number above 0",
    ),
    ("latency threshold negative", _set((*DEMO, "p99LatencyMs"), -5), f"{DEMO_KEY}.p99LatencyMs"),
    (
        "unknown serving key",
        _set((*DEMO, "canarySize"), 5),
        f"{DEMO_KEY}.canarySize: got 5; unknown key",
    ),
    (
        "missing image tag",
        _all(_delete(*DEFAULTS, "imageTag"), _set((SERVING, "models"), {"demo": {}})),
        f"{DEMO_KEY}.imageTag: got nothing (the key is missing); set exactly one of imageTag and imageUri",
    ),
    (
        "image tag and uri",
        _set((*DEMO, "imageUri"), "111111111111.dkr.ecr.eu-west-1.amazonaws.com/x:1"),
        f'{DEFAULTS_KEY}.imageTag: got "0.1.0"; set exactly one',
    ),
    (
        "image uri with build",
        _all(
            _delete(*DEFAULTS, "imageTag"),
            _set((*DEFAULTS, "imageUri"), "111111111111.dkr.ecr.eu-west-1.amazonaws.com/x:1"),
        ),
        f"{DEFAULTS_KEY}.buildImage: got true",
    ),
    (
        "bad image uri",
        _all(
            _delete(*DEFAULTS, "imageTag"),
            _delete(*DEFAULTS, "buildImage"),
            _set((*DEFAULTS, "imageUri"), "docker.io/library/python:3"),
        ),
        f'{DEFAULTS_KEY}.imageUri: got "docker.io/library/python:3"',
    ),
    ("bad image tag", _set((*DEMO, "imageTag"), "v 1"), f"{DEMO_KEY}.imageTag"),
    ("bad model source", _set((*DEMO, "modelSource"), "newest"), f"{DEMO_KEY}.modelSource"),
    (
        "package arn with data source",
        _set(
            (*DEMO, "modelPackageArn"),
            "arn:aws:sagemaker:eu-west-1:111111111111:model-package/x/1",
        ),
        f"{DEMO_KEY}.modelPackageArn: got",
    ),
    (
        "latest approved without a registry",
        _all(
            _set((*DEMO, "modelSource"), "latest-approved"),
            _set((*DEMO, "demoModel"), False),
            _delete("mlops-platform:modelRegistry"),
        ),
        f'{DEMO_KEY}.modelSource: got "latest-approved"; latest-approved needs a modelRegistry block',
    ),
    (
        "bad subscription protocol",
        _set((*DEMO, "alarmSubscriptions"), [{"protocol": "pager", "endpoint": "x"}]),
        f"{DEMO_KEY}.alarmSubscriptions[0].protocol",
    ),
    (
        "no serving repository",
        _set((REGISTRY, "repositories"), ["training"]),
        f"{REGISTRY}.repositories",
    ),
    (
        "bad mlflow size",
        _set(("mlops-platform:modelRegistry", "mlflowSize"), "tiny"),
        "mlops-platform:modelRegistry.mlflowSize",
    ),
    (
        "pinned without a package",
        _all(_set((*DEMO, "modelSource"), "pinned"), _set((*DEMO, "demoModel"), False)),
        f"{DEMO_KEY}.modelPackageArn: got nothing (the key is missing); required with modelSource: pinned",
    ),
    (
        "alias arn for the state key",
        _set(
            ("mlops-platform:ci", "stateKeyArn"), "arn:aws:kms:eu-west-1:111111111111:alias/pulumi"
        ),
        "mlops-platform:ci.stateKeyArn",
    ),
    (
        "wildcard repository",
        _set(("mlops-platform:ci", "githubRepository"), "my-org/*"),
        'mlops-platform:ci.githubRepository: got "my-org/*"',
    ),
    (
        "bad state bucket",
        _set(("mlops-platform:ci", "stateBucket"), "Not_A_Bucket"),
        'mlops-platform:ci.stateBucket: got "Not_A_Bucket"',
    ),
    (
        "missing state key",
        _delete("mlops-platform:ci", "stateKeyArn"),
        "mlops-platform:ci.stateKeyArn: got nothing",
    ),
    (
        "state key not an arn",
        _set(("mlops-platform:ci", "stateKeyArn"), "alias/pulumi"),
        'mlops-platform:ci.stateKeyArn: got "alias/pulumi"; expected a KMS key ARN',
    ),
    (
        "unknown ci key",
        _set(("mlops-platform:ci", "roleName"), "x"),
        'mlops-platform:ci.roleName: got "x"; unknown key',
    ),
    (
        "session too long",
        _set(("mlops-platform:ci", "maxSessionHours"), 24),
        "mlops-platform:ci.maxSessionHours: got 24",
    ),
    (
        "bad memory size",
        _set((*DEMO, "serverlessMemoryMb"), 1500),
        f"{DEMO_KEY}.serverlessMemoryMb: got 1500; expected one of 1024",
    ),
    # --- network and cluster
    (
        "overlapping subnets",
        _set((NETWORK, "privateSubnetCidrs"), ["10.10.0.0/19", "10.10.16.0/20"]),
        f'{NETWORK}.privateSubnetCidrs[1]: got "10.10.16.0/20"; overlaps privateSubnetCidrs[0]=10.10.0.0/19',
    ),
    (
        "subnet outside the VPC",
        _set((NETWORK, "publicSubnetCidrs"), ["10.10.224.0/24", "10.99.0.0/24"]),
        f'{NETWORK}.publicSubnetCidrs[1]: got "10.99.0.0/24"; must lie inside 10.10.0.0/16',
    ),
    (
        "bad VPC CIDR",
        _set((NETWORK, "cidrBlock"), "10.10.0.0/33"),
        f'{NETWORK}.cidrBlock: got "10.10.0.0/33"; expected an IPv4 CIDR block',
    ),
    (
        "more zones than the region offers",
        _all(_set(("aws:region",), "us-west-1"), _set((NETWORK, "availabilityZones"), 3)),
        f"{NETWORK}.availabilityZones: got 3; us-west-1 offers 2 zones",
    ),
    ("one zone", _set((NETWORK, "availabilityZones"), 1), f"{NETWORK}.availabilityZones: got 1"),
    (
        "unknown NAT mode",
        _set((NETWORK, "natGateways"), "none"),
        f'{NETWORK}.natGateways: got "none"; expected one of single, per-az',
    ),
    ("unknown network key", _set((NETWORK, "cidr"), "10.0.0.0/16"), f"{NETWORK}.cidr: got"),
    (
        "cluster without network",
        _delete(NETWORK),
        f"{NETWORK}: got nothing (the key is missing); required with {CLUSTER}",
    ),
    (
        "runner pool min above max",
        _set((*POOLS, "runners", "minSize"), 9),
        f"{CLUSTER}.nodePools.runners.minSize: got 9; must not exceed maxSize=4",
    ),
    (
        "GPU instance type in a CPU pool",
        _set((*POOLS, "runners", "instanceTypes"), ["g6.xlarge"]),
        f'{CLUSTER}.nodePools.runners.instanceTypes[0]: got "g6.xlarge"; GPU instance types',
    ),
    (
        "unknown instance type",
        _set((*POOLS, "system", "instanceTypes"), ["m9z.large"]),
        f'{CLUSTER}.nodePools.system.instanceTypes[0]: got "m9z.large"; expected an EC2 instance',
    ),
    (
        "CPU instance type in the GPU pool",
        _set((*POOLS, "gpu", "instanceTypes"), ["m7i.large"]),
        f'{CLUSTER}.nodePools.gpu.instanceTypes[0]: got "m7i.large"; a gpu pool takes',
    ),
    (
        "unknown pool kind",
        _set((*POOLS, "batch"), {"instanceTypes": ["m7i.large"]}),
        f'{CLUSTER}.nodePools.batch.pool: got "batch"; expected one of system, runners, gpu',
    ),
    (
        "unknown node pool key",
        _set((*POOLS, "gpu", "amiType"), "CUSTOM"),
        f'{CLUSTER}.nodePools.gpu.amiType: got "CUSTOM"; unknown key',
    ),
    (
        "min size not a number",
        _set((*POOLS, "gpu", "minSize"), "zero"),
        f'{CLUSTER}.nodePools.gpu.minSize: got "zero"; expected an integer',
    ),
    (
        "public endpoint open to the world",
        _set((CLUSTER, "publicAccessCidrs"), ["0.0.0.0/0"]),
        f'{CLUSTER}.publicAccessCidrs[0]: got "0.0.0.0/0"; expected a range of /8 or smaller',
    ),
    (
        "public endpoint in staging",
        _environment("staging"),
        f"{CLUSTER}.publicEndpoint: got true; the API endpoint is private in staging and prod",
    ),
    (
        "spot in prod",
        _all(
            _environment("prod"),
            _delete(*DEFAULTS, "demoModel"),
            _set((CLUSTER, "publicEndpoint"), False),
            _delete(CLUSTER, "publicAccessCidrs"),
        ),
        'capacityType: got "SPOT"; prod node pools run ON_DEMAND',
    ),
    (
        "unpinned Kubernetes patch version",
        _set((CLUSTER, "kubernetesVersion"), "1.35.2"),
        f'{CLUSTER}.kubernetesVersion: got "1.35.2"',
    ),
    (
        "unknown add-on",
        _set((CLUSTER, "addonVersions", "istio"), "v1.0.0-eksbuild.1"),
        f"{CLUSTER}.addonVersions.istio",
    ),
    (
        "audit logs off",
        _set((CLUSTER, "logTypes"), ["api"]),
        f'{CLUSTER}.logTypes: got ["api"]; must include audit, authenticator',
    ),
    (
        "no cluster administrator",
        _all(_delete(CLUSTER, "adminPrincipalArns"), _delete("mlops-platform:ci")),
        f"{CLUSTER}.adminPrincipalArns: got []; name at least one cluster administrator",
    ),
    (
        "node pools not a map",
        _set((CLUSTER, "nodePools"), ["system"]),
        f'{CLUSTER}.nodePools: got ["system"]; expected a map',
    ),
    # --- CI runners
    (
        "missing GitHub App secret",
        _delete("mlops-platform:githubAppPrivateKey"),
        "mlops-platform:githubAppPrivateKey: got nothing (the key is missing); required with "
        f"{RUNNERS}.github: `pulumi config set --secret githubAppPrivateKey`",
    ),
    (
        "GitHub App key in plain text is refused and not echoed",
        _set(("mlops-platform:githubAppPrivateKey",), "-----BEGIN RSA PRIVATE KEY-----"),
        "mlops-platform:githubAppPrivateKey: got [secret]; the GitHub App's private key",
    ),
    (
        "missing GitLab runner token",
        _delete("mlops-platform:gitlabRunnerToken"),
        f"mlops-platform:gitlabRunnerToken: got nothing (the key is missing); required with "
        f"{RUNNERS}.gitlab",
    ),
    (
        "runner min above max",
        _set((*SETS, "cpu", "minRunners"), 9),
        f"{RUNNERS}.github.scaleSets.cpu.minRunners: got 9; must not exceed maxRunners (4)",
    ),
    (
        "GPU runner set without GPUs",
        _set((*SETS, "gpu", "gpus"), 0),
        f"{RUNNERS}.github.scaleSets.gpu.gpus: got 0; expected an integer from 1 to 8",
    ),
    (
        "scale set without maxRunners",
        _delete(*SETS, "cpu", "maxRunners"),
        f"{RUNNERS}.github.scaleSets.cpu.maxRunners: got nothing (the key is missing)",
    ),
    (
        "unknown container mode",
        _set((*SETS, "cpu", "containerMode"), "docker"),
        f'{RUNNERS}.github.scaleSets.cpu.containerMode: got "docker"; expected one of dind',
    ),
    (
        "GitHub config URL not GitHub",
        _set((*GH, "configUrl"), "http://github.com/my-org"),
        f'{RUNNERS}.github.configUrl: got "http://github.com/my-org"',
    ),
    (
        "GitHub App id not digits",
        _set((*GH, "appId"), "my-app"),
        f'{RUNNERS}.github.appId: got "my-app"; expected a string of digits',
    ),
    (
        "missing GitHub config URL",
        _delete(*GH, "configUrl"),
        f"{RUNNERS}.github.configUrl: got nothing (the key is missing)",
    ),
    (
        "extra runner statement grants IAM",
        _set(
            (RUNNERS, "extraStatements"),
            [{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"}],
        ),
        f"{RUNNERS}.extraStatements[0].Action",
    ),
    (
        "extra runner statement not a list",
        _set((RUNNERS, "extraStatements"), {"Effect": "Allow"}),
        f"{RUNNERS}.extraStatements: got",
    ),
    (
        "GitLab concurrency 0",
        _set((RUNNERS, "gitlab", "concurrent"), 0),
        f"{RUNNERS}.gitlab.concurrent: got 0; expected an integer from 1 to 1000",
    ),
    (
        "runners without a cluster",
        _all(_delete(CLUSTER), _delete(NETWORK)),
        f"{CLUSTER}: got nothing (the key is missing); required with {RUNNERS}",
    ),
    ("empty runners block", _set((RUNNERS,), {}), f"{RUNNERS}: got {{}}; configure github"),
    # The rest of the surface, one bad value per key family (input safety review).
    (
        "default providers enabled",
        _set(("pulumi:disable-default-providers",), []),
        'pulumi:disable-default-providers: got []; expected ["*"]',
    ),
    ("environment a number", _set(("mlops-platform:environment",), 1), 'environment: got "1"'),
    ("no accounts", _set(("aws:allowedAccountIds",), []), "aws:allowedAccountIds: got []"),
    ("tag value a number", _set((TAGS, "tags", "cost"), 5), f"{TAGS}.tags.cost: got 5"),
    (
        "untagged expiry 0",
        _set((REGISTRY, "untaggedExpiryDays"), 0),
        f"{REGISTRY}.untaggedExpiryDays: got 0; expected an integer from 1 to 3650",
    ),
    (
        "namespace with spaces",
        _set((REGISTRY, "namespace"), "Team A"),
        f'{REGISTRY}.namespace: got "Team A"',
    ),
    (
        "scan on push a string",
        _set((REGISTRY, "scanOnPush"), "yes"),
        f'{REGISTRY}.scanOnPush: got "yes"',
    ),
    (
        "aws-reserved alias",
        _set((ENCRYPTION, "alias"), "alias/aws/s3"),
        f'{ENCRYPTION}.alias: got "alias/aws/s3"',
    ),
    (
        "bad service principal",
        _set((ENCRYPTION, "servicePrincipals"), ["logs"]),
        f"{ENCRYPTION}.servicePrincipals[0]",
    ),
    (
        "deletion window a float",
        _set((ENCRYPTION, "deletionWindowInDays"), 7.5),
        f"{ENCRYPTION}.deletionWindowInDays: got 7.5; expected an integer",
    ),
    (
        "multipart days 400",
        _set((DATA, "abortIncompleteMultipartUploadDays"), 400),
        f"{DATA}.abortIncompleteMultipartUploadDays: got 400",
    ),
    (
        "remote name with spaces",
        _set((DATA, "dvcRemoteName"), "my remote"),
        f'{DATA}.dvcRemoteName: got "my remote"',
    ),
    (
        "registry-only model not a slug",
        _set(("mlops-platform:modelRegistry", "models"), ["Fraud Model"]),
        'mlops-platform:modelRegistry.models[0]: got "Fraud Model"; expected a model name',
    ),
    (
        "maintenance window prose",
        _set(("mlops-platform:modelRegistry", "maintenanceWindow"), "Sunday"),
        'modelRegistry.maintenanceWindow: got "Sunday"',
    ),
    (
        "endpoint name symbols",
        _set((*DEMO, "endpointName"), "my_endpoint!"),
        f'{DEMO_KEY}.endpointName: got "my_endpoint!"',
    ),
    (
        "model data outside models/",
        _set((*DEMO, "modelDataKey"), "data/x.tar.gz"),
        f'{DEMO_KEY}.modelDataKey: got "data/x.tar.gz"',
    ),
    (
        "unknown mode",
        _set((*DEMO, "mode"), "batch"),
        f'{DEMO_KEY}.mode: got "batch"; expected one of provisioned, serverless',
    ),
    (
        "linear step 5%",
        _set((*DEMO, "linearStepPercent"), 5),
        f"{DEMO_KEY}.linearStepPercent: got 5",
    ),
    (
        "subscriptions a string",
        _set((*DEMO, "alarmSubscriptions"), "oncall@example.com"),
        f"{DEMO_KEY}.alarmSubscriptions: got",
    ),
    (
        "pinned package not a model package",
        _all(
            _set((*DEMO, "modelSource"), "pinned"),
            _set((*DEMO, "modelPackageArn"), "arn:aws:s3:::bucket/x"),
        ),
        f'{DEMO_KEY}.modelPackageArn: got "arn:aws:s3:::bucket/x"; expected a model package ARN',
    ),
    (
        "wildcard default branch",
        _set(("mlops-platform:ci", "defaultBranch"), "*"),
        'mlops-platform:ci.defaultBranch: got "*"',
    ),
    (
        "gitlab host as a URL",
        _set(("mlops-platform:ci", "gitlabHost"), "https://gitlab.com/"),
        "mlops-platform:ci.gitlabHost",
    ),
    (
        "no github repository",
        _delete("mlops-platform:ci", "githubRepository"),
        "mlops-platform:ci.githubRepository: got nothing",
    ),
    ("policy not a map", _set((POLICY,), "off"), f'{POLICY}: got "off"; expected a map'),
    ("unknown policy key", _set((POLICY, "disable"), ["s3-tls-only"]), f"{POLICY}.disable: got"),
    (
        "waivers not a map",
        _set((POLICY, "waivers"), ["s3-tls-only"]),
        f'{POLICY}.waivers: got ["s3-tls-only"]; expected a map of <rule-id>: <written reason>',
    ),
    (
        "waiver of an unknown rule",
        _set((POLICY, "waivers"), {"s3-tls": "Legacy clients cannot do TLS 1.2"}),
        f'{POLICY}.waivers.s3-tls: got "Legacy clients cannot do TLS 1.2"; unknown rule id',
    ),
    (
        "waiver without a reason",
        _set((POLICY, "waivers"), {"s3-tls-only": ""}),
        f'{POLICY}.waivers.s3-tls-only: got ""; a waiver needs a written reason',
    ),
    (
        "waiver with a token reason",
        _set((POLICY, "waivers"), {"ecr-kms": "ok"}),
        f'{POLICY}.waivers.ecr-kms: got "ok"; a waiver needs a written reason (at least 10',
    ),
    (
        "waiver reason not text",
        _set((POLICY, "waivers"), {"ecr-kms": True}),
        f"{POLICY}.waivers.ecr-kms: got true; a waiver needs a written reason",
    ),
    (
        "secret unknown key is not echoed",
        _set(("aws:secretKey",), {"secure": "v1:x"}),
        "aws:secretKey: got [secret]; unknown key",
    ),
    (
        "secret for a plain setting",
        _set(("aws:profile",), {"secure": "v1:x"}),
        "aws:profile: got [secret]; not a secret setting",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "expected"), [c[1:] for c in BAD_CONFIGS], ids=[c[0] for c in BAD_CONFIGS]
)
def test_bad_config_exits_2_with_one_line(tmp_path, capsys, mutate, expected):
    config = copy.deepcopy(stack_config("dev"))
    mutate(config)
    code, out, err = run_main(
        capsys, "--stack", "bad", "--project-dir", str(write_project(tmp_path, config))
    )
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: invalid config ")
    assert expected in lines[0]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--stack", "qa"], "no Pulumi.qa.yaml (stacks: dev, prod, staging)"),
        (["--stack", "../etc"], "expected a stack name"),
        (["--stack", "dev", "--format", "html"], "invalid choice: 'html'"),
        ([], "the following arguments are required: --stack"),
    ],
)
def test_usage_errors_exit_2_with_one_line(capsys, argv, expected):
    code, out, err = run_main(capsys, *argv, "--project-dir", str(ROOT))
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and expected in err


def test_broken_yaml_exits_2(tmp_path, capsys):
    write_project(tmp_path, {})
    (tmp_path / "Pulumi.bad.yaml").write_text("config:\n  aws:region: [unclosed\n")
    code, _, err = run_main(capsys, "--stack", "bad", "--project-dir", str(tmp_path))
    # file:line:column, then the parser's problem (tests/test_stack_files.py has more cases)
    assert code == 2 and err.startswith("error: Pulumi.bad.yaml:3:1: ")
    assert len(err.splitlines()) == 1


def test_program_errors_are_one_line_unless_debug(tmp_path, capsys):
    (tmp_path / "prog").mkdir()
    (tmp_path / "prog" / "__main__.py").write_text("raise RuntimeError('boom\\nsecond line')\n")
    (tmp_path / "Pulumi.yaml").write_text("name: demo\nmain: prog/\n")
    (tmp_path / "Pulumi.x.yaml").write_text("config: {}\n")
    code, _, err = run_main(capsys, "--stack", "x", "--project-dir", str(tmp_path))
    assert code == 2
    assert err == "error: the stack program failed: RuntimeError: boom second line\n"
    with pytest.raises(RuntimeError, match="boom"):
        plan.main(["--stack", "x", "--project-dir", str(tmp_path), "--debug"])


def cli(cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """The installed plan CLI in a fresh interpreter, as a user runs it from their project."""
    return subprocess.run(
        [sys.executable, "-m", "mlops_platform.infra.plan", *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def test_cli_subprocess_bad_config_has_no_traceback(tmp_path):
    config = stack_config("dev")
    config["mlops-platform:registry"]["keepTaggedImages"] = -1
    project = write_project(tmp_path, config)
    result = cli(project, "--stack", "bad", "--format", "json")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        "error: invalid config mlops-platform:registry.keepTaggedImages: got -1; "
        "expected an integer from 1 to 10000\n"
    )


def test_cli_subprocess_prints_the_json_plan():
    result = cli(ROOT, "--stack", "dev", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert json.loads(result.stdout)["stack"] == "dev"


def test_an_image_uri_from_ci_is_served_as_is(tmp_path):
    digest = (
        "111111111111.dkr.ecr.eu-west-1.amazonaws.com/mlops-platform/dev/serving@sha256:" + "a" * 64
    )
    config = stack_config("dev")
    defaults = config["mlops-platform:serving"]["defaults"]
    del defaults["imageTag"]
    defaults.update(imageUri=digest, buildImage=False)
    result = plan.make_plan("bad", write_project(tmp_path, config)).to_json()
    models = [r for r in result["resources"] if r["type"] == "aws:sagemaker/model:Model"]
    assert {m["name"] for m in models} == {"demo-serving-model", "churn-serving-model"}
    assert {m["inputs"]["primaryContainer"]["image"] for m in models} == {digest}
    assert not [r for r in result["resources"] if r["type"].startswith("docker:")]
    assert result["outputs"]["servingImageUri"] == digest
    assert {m["imageUri"] for m in result["outputs"]["servingModels"].values()} == {digest}


def test_registry_namespace_from_config_is_used(tmp_path):
    config = stack_config("dev")
    config["mlops-platform:registry"]["namespace"] = "team-a"
    result = plan.make_plan("bad", write_project(tmp_path, config)).to_json()
    names = {
        r["inputs"]["name"]
        for r in result["resources"]
        if r["type"] == "aws:ecr/repository:Repository"
    }
    assert names == {"team-a/training", "team-a/serving"}


# --- policy: the pack's rules run in the plan --------------------------------------------------


def unsafe_prod(tmp_path: Path, **extra: Any) -> Path:
    """Prod with mutable image tags: valid configuration, but ecr-immutable-tags forbids it."""
    config = stack_config("prod")
    config[REGISTRY]["imageTagMutability"] = "MUTABLE"
    config.update(extra)
    return write_project(tmp_path, config)


def test_an_unsafe_stack_exits_1_naming_the_rule_and_resources(tmp_path, capsys):
    code, out, err = run_main(capsys, "--stack", "bad", "--project-dir", str(unsafe_prod(tmp_path)))
    assert code == 1 and err == ""
    assert "Policy:" in out  # the full plan is still printed
    for repository in ("registry-training", "registry-serving"):
        assert f"mandatory: ecr-immutable-tags: {repository}: imageTagMutability is MUTABLE" in out


def test_unsafe_stack_json_lists_the_findings(tmp_path):
    result = plan.make_plan("bad", unsafe_prod(tmp_path))
    assert [(v["rule"], v["resource"], v["severity"], v["waived"]) for v in result.policy] == [
        ("ecr-immutable-tags", "registry-training", "mandatory", False),
        ("ecr-immutable-tags", "registry-serving", "mandatory", False),
    ]
    assert all(v["urn"].endswith(f"::{v['resource']}") for v in result.policy)
    assert result.mandatory_violations == result.policy


def test_a_waiver_keeps_the_finding_but_not_the_failure(tmp_path, capsys):
    reason = "Nightly images are retagged until RISK-42 lands"
    project = unsafe_prod(tmp_path, **{POLICY: {"waivers": {"ecr-immutable-tags": reason}}})
    code, out, _ = run_main(
        capsys, "--stack", "bad", "--format", "json", "--project-dir", str(project)
    )
    assert code == 0
    findings = json.loads(out)["policy"]
    assert {(v["rule"], v["waived"], v["reason"]) for v in findings} == {
        ("ecr-immutable-tags", True, reason)
    }
    code, out, _ = run_main(
        capsys, "--stack", "bad", "--format", "markdown", "--project-dir", str(project)
    )
    assert code == 0 and "✅ no mandatory policy violation" in out
    assert f"mandatory (waived: {reason}): ecr-immutable-tags" in out


def test_cli_subprocess_unsafe_stack_exits_1(tmp_path):
    result = cli(unsafe_prod(tmp_path), "--stack", "bad", "--format", "json")
    assert result.returncode == 1 and result.stderr == ""
    assert {v["rule"] for v in json.loads(result.stdout)["policy"]} == {"ecr-immutable-tags"}


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_the_stacks_have_no_policy_finding(plans, stack):
    assert plans[stack]["policy"] == []


def test_prod_state_survives_a_destroy(plans):
    """Destroy safety: every stateful resource of prod is protected (pulumi destroy refuses)
    and retained on delete (dropping it from the program leaves it in AWS)."""
    from mlops_platform.policy.rules import STATEFUL

    stateful = [r for r in plans["prod"]["resources"] if r["type"] in STATEFUL]
    assert {r["type"] for r in stateful} == {
        "aws:s3/bucket:Bucket",
        "aws:kms/key:Key",
        "aws:ecr/repository:Repository",
        "aws:sagemaker/modelPackageGroup:ModelPackageGroup",
        "aws:sagemaker/mlflowTrackingServer:MlflowTrackingServer",
        "aws:cloudwatch/logGroup:LogGroup",  # flow logs and the EKS audit trail
    }
    assert [r["name"] for r in stateful if not (r["protect"] and r["retainOnDelete"])] == []
