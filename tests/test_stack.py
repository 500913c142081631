"""The stack program for dev, staging and prod: it builds, and differs where intended."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from conftest import ROOT
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from mlops_platform.infra import mocks as recording
from mlops_platform.infra import plan
from mlops_platform.infra import settings as settings_module
from mlops_platform.infra import stack as stack_module

STATEFUL = (
    "aws:s3/bucket:Bucket",
    "aws:kms/key:Key",
    "aws:ecr/repository:Repository",
    "aws:sagemaker/modelPackageGroup:ModelPackageGroup",
    "aws:sagemaker/mlflowTrackingServer:MlflowTrackingServer",
    "aws:cloudwatch/logGroup:LogGroup",
)
GUARDS = (
    "aws:kms/alias:Alias",
    "aws:ecr/lifecyclePolicy:LifecyclePolicy",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    "aws:s3/bucketVersioning:BucketVersioning",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "aws:s3/bucketPolicy:BucketPolicy",
    "aws:s3/bucketLogging:BucketLogging",
)
RELEASES = (
    "aws:sagemaker/model:Model",
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration",
)
SERVING_OUTPUTS = {
    "modelPackageGroups",
    "endpointName",
    "endpointConfigName",
    "alarmTopicArn",
    "rollbackAlarmNames",
}
STABLE_OUTPUTS = {
    "environment",
    "region",
    "kmsKeyArn",
    "kmsKeyAlias",
    "registryUrl",
    "repositoryUrls",
    "dvcRemoteUrl",
    "dvcConfig",
    "dvcReadOnlyPolicyArn",
    "dvcReadWritePolicyArn",
    "artifactsBucket",
    "artifactsBucketArn",
}


def documented_outputs() -> set[str]:
    """The output names in the README's "Stack outputs" section."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Stack outputs\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"`([a-z]\w+)`", section))


def test_every_stack_output_is_documented_as_stable(plans):
    exported = set().union(*(set(p["outputs"]) for p in plans.values()))
    assert exported - documented_outputs() == set(), "document new outputs in README.md"


def of_type(p: dict[str, Any], type_: str) -> list[dict[str, Any]]:
    return [r for r in p["resources"] if r["type"] == type_]


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_stack_builds_cleanly(plans, stack):
    p = plans[stack]
    assert p["diagnostics"] == [], "no warnings (deprecated APIs report here)"
    assert set(p["outputs"]) >= STABLE_OUTPUTS | SERVING_OUTPUTS
    assert p["outputs"]["environment"] == stack
    providers = of_type(p, "pulumi:providers:aws")
    assert len(providers) == 1
    provider = providers[0]
    assert provider["inputs"]["region"] == "eu-west-1"
    assert json.loads(provider["inputs"]["defaultTags"])["tags"]["env"] == stack
    for res in p["resources"]:
        if res["custom"] and res["type"].startswith("aws:"):
            assert res["provider"].startswith(provider["urn"] + "::"), res["urn"]


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_everything_is_encrypted_with_the_platform_key(plans, stack):
    p = plans[stack]
    key_arn = p["outputs"]["kmsKeyArn"]
    assert len(of_type(p, "aws:kms/key:Key")) == 1, "buckets share the platform key"
    for sse in of_type(
        p, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    ):
        rule = sse["inputs"]["rules"][0]["applyServerSideEncryptionByDefault"]
        if sse["name"] == "access-logs-encryption":  # S3 log delivery writes only SSE-S3
            assert rule == {"sseAlgorithm": "AES256"}
            continue
        assert rule["kmsMasterKeyId"] == key_arn
    for repo in of_type(p, "aws:ecr/repository:Repository"):
        assert repo["inputs"]["encryptionConfigurations"] == [
            {"encryptionType": "KMS", "kmsKey": key_arn}
        ]


def is_guard(res: dict[str, Any]) -> bool:
    mlflow_role = res["name"] == "models-mlflow" and res["type"].startswith("aws:iam/role")
    return res["type"] in GUARDS or mlflow_role


def test_prod_protects_and_retains_stateful_resources(plans):
    for stack, protected in (("dev", False), ("staging", False), ("prod", True)):
        stateful = [r for r in plans[stack]["resources"] if r["type"] in STATEFUL]
        mlflow = logged = stack != "dev"
        models = len(plans[stack]["outputs"]["servingModels"])
        # DVC, artifacts, and MLflow's (staging, prod) or GitLab's cache (dev); the access logs'
        buckets = 3 + logged
        # key, buckets, repositories, a group per model, flow and control-plane logs (+ MLflow)
        assert len(stateful) == 1 + buckets + 2 + models + 2 + mlflow
        for res in stateful:
            # A runner cache is disposable in every environment.
            expected = protected and not res["name"].startswith("gitlab-runner-")
            assert res["protect"] is expected, (stack, res["name"])
            assert res["retainOnDelete"] is expected, (stack, res["name"])
        # Their guards (policies, public access blocks, encryption, lifecycle, alias; the MLflow
        # server's role) stay with them when retained; nothing else is protected or retained.
        guards = [r for r in plans[stack]["resources"] if is_guard(r)]
        # ... and the access logging of the data, model and artifact buckets
        assert len(guards) == 1 + 2 + 6 * buckets + 2 * mlflow + 3 * logged
        assert {(r["protect"], r["retainOnDelete"]) for r in guards} <= {(False, protected)}
        # A release retains the models and configuration it replaces: a rollback serves them
        # (a model and a configuration per endpoint, and the second model of an A/B or shadow).
        releases = [r for r in plans[stack]["resources"] if r["type"] in RELEASES]
        second = sum(
            bool(m["variantNames"][1:] or m["shadowVariantNames"])
            for m in plans[stack]["outputs"]["servingModels"].values()
        )
        assert len(releases) == 2 * models + second and all(
            r["retainOnDelete"] and not r["protect"] for r in releases
        )
        # The cluster is protected (not retained: its nodes and add-ons go with it).
        (cluster,) = of_type(plans[stack], "aws:eks/cluster:Cluster")
        assert (cluster["protect"], cluster["retainOnDelete"]) == (protected, False)
        others = [
            r
            for r in plans[stack]["resources"]
            if r["type"] not in STATEFUL + RELEASES and not is_guard(r) and r is not cluster
        ]
        assert not any(r["protect"] or r["retainOnDelete"] for r in others)


def test_registry_differs_per_environment(plans):
    def repos(stack: str) -> list[dict[str, Any]]:
        return of_type(plans[stack], "aws:ecr/repository:Repository")

    assert {r["inputs"]["imageTagMutability"] for r in repos("dev")} == {"MUTABLE"}
    assert {r["inputs"]["forceDelete"] for r in repos("dev")} == {True}
    for stack in ("staging", "prod"):
        assert {r["inputs"]["imageTagMutability"] for r in repos(stack)} == {"IMMUTABLE"}
        assert {r["inputs"]["forceDelete"] for r in repos(stack)} == {False}
        assert {r["inputs"]["name"] for r in repos(stack)} == {
            f"mlops-platform/{stack}/training",
            f"mlops-platform/{stack}/serving",
        }


def test_only_dev_buckets_may_be_force_destroyed(plans):
    for stack, force in (("dev", True), ("staging", False), ("prod", False)):
        buckets = of_type(plans[stack], "aws:s3/bucket:Bucket")
        assert {b["inputs"]["forceDestroy"] for b in buckets} == {force}


def test_noncurrent_version_retention_grows_towards_prod(plans):
    def days(stack: str) -> int:
        lifecycle = next(
            r
            for r in of_type(
                plans[stack], "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
            )
            if r["name"] == "dvc-data-lifecycle"
        )
        rule = next(
            r for r in lifecycle["inputs"]["rules"] if r["id"] == "expire-noncurrent-versions"
        )
        return rule["noncurrentVersionExpiration"]["noncurrentDays"]

    assert days("dev") < days("staging") < days("prod")


def test_stack_files_disable_default_providers():
    import yaml

    for stack in ("dev", "staging", "prod"):
        config = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
        assert config["pulumi:disable-default-providers"] == ["*"]


def _one(p: dict[str, Any], type_: str) -> dict[str, Any]:
    (res,) = of_type(p, type_)
    return res


def _named(p: dict[str, Any], type_: str, name: str) -> dict[str, Any]:
    (res,) = [r for r in of_type(p, type_) if r["name"] == name]
    return res


CONFIG = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
ENDPOINT = "aws:sagemaker/endpoint:Endpoint"


def test_every_stack_serves_two_models_or_more(plans):
    for p in plans.values():
        served = p["outputs"]["servingModels"]
        assert len(served) >= 2
        assert len(of_type(p, ENDPOINT)) == len(served)
        assert set(p["outputs"]["modelPackageGroups"]) >= set(served)


def test_serving_differs_per_environment(plans):
    dev, staging, prod = plans["dev"], plans["staging"], plans["prod"]
    for config in of_type(dev, CONFIG):
        assert "serverlessConfig" in config["inputs"]["productionVariants"][0], "dev: serverless"
    assert of_type(dev, "docker:index/image:Image"), "dev builds the serving image"
    assert len(of_type(dev, "docker:index/image:Image")) == 1, "one build for the models' tag"
    assert not of_type(prod, "docker:index/image:Image"), "CI pushes the prod image"
    for stack, p in (("staging", staging), ("prod", prod)):
        config = _named(p, CONFIG, "demo-serving-config")["inputs"]
        assert config["dataCaptureConfig"]["enableCapture"] is True
        model = _named(p, "aws:sagemaker/model:Model", "demo-serving-model")["inputs"]
        assert model["primaryContainer"]["modelPackageName"].endswith(
            f":model-package/mlops-platform-{stack}-demo/1"
        )
    routing = _named(prod, ENDPOINT, "demo-serving-endpoint")["inputs"]["deploymentConfig"]
    blue_green = routing["blueGreenUpdatePolicy"]["trafficRoutingConfiguration"]
    assert blue_green["type"] == "CANARY" and blue_green["canarySize"]["value"] == 5
    prod_variant = _named(prod, CONFIG, "demo-serving-config")["inputs"]["productionVariants"][0]
    assert prod_variant["initialInstanceCount"] >= 2
    assert len(of_type(prod, "aws:appautoscaling/policy:Policy")) == 2, "one per model"
    staging_routing = _named(staging, ENDPOINT, "demo-serving-endpoint")["inputs"]
    assert staging_routing["deploymentConfig"]["blueGreenUpdatePolicy"][
        "trafficRoutingConfiguration"
    ]["type"] == ("ALL_AT_ONCE")


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_rollback_alarms_exist_by_name(plans, stack):
    p = plans[stack]
    alarms = {a["inputs"]["name"]: a for a in of_type(p, "aws:cloudwatch/metricAlarm:MetricAlarm")}
    topics = {t["outputs"]["arn"]: t for t in of_type(p, "aws:sns/topic:Topic")}
    for model, served in p["outputs"]["servingModels"].items():
        endpoint = _named(p, ENDPOINT, f"{model}-serving-endpoint")
        rollback = endpoint["inputs"]["deploymentConfig"]["autoRollbackConfiguration"]["alarms"]
        names = [a["alarmName"] for a in rollback]
        assert names == served["alarmNames"] and set(names) <= set(alarms)
        assert all(n.startswith(f"mlops-platform-{stack}-{model}-") for n in names)
        assert {alarms[n]["urn"] for n in names} <= set(endpoint["dependencies"])
        # Every alarm of the model, per variant, notifies the model's own encrypted topic.
        own = [a for n, a in alarms.items() if n.startswith(f"mlops-platform-{stack}-{model}-")]
        variants = served["variantNames"] + served["shadowVariantNames"]
        assert {_variant(a) for a in own} == set(variants)
        (topic,) = {a["inputs"]["alarmActions"][0] for a in own}
        assert topic == served["alarmTopicArn"]
        assert topics[topic]["inputs"]["kmsMasterKeyId"] == p["outputs"]["kmsKeyArn"]
    legacy = p["outputs"]["servingModels"]["demo"]
    assert p["outputs"]["rollbackAlarmNames"] == legacy["alarmNames"], "deprecated output: demo"
    key_policy = json.loads(_one(p, "aws:kms/key:Key")["inputs"]["policy"])
    services = [s["Principal"].get("Service") for s in key_policy["Statement"]]
    assert "cloudwatch.amazonaws.com" in services, "alarms can publish to the encrypted topic"


def _variant(alarm: dict[str, Any]) -> str:
    """The VariantName an alarm watches (a plain metric, or the metrics of a rate)."""
    inputs = alarm["inputs"]
    if "dimensions" in inputs:
        return inputs["dimensions"]["VariantName"]
    (variant,) = {
        q["metric"]["dimensions"]["VariantName"] for q in inputs["metricQueries"] if "metric" in q
    }
    return variant


def test_staging_runs_an_ab_test_and_a_shadow_test(plans):
    p = plans["staging"]
    churn = _named(p, CONFIG, "churn-serving-config")["inputs"]
    weights = {v["variantName"]: v["initialVariantWeight"] for v in churn["productionVariants"]}
    assert weights == {"primary": 0.8, "challenger": 0.2}
    assert "shadowProductionVariants" not in churn
    challenger = _named(p, "aws:sagemaker/model:Model", "churn-serving-challenger-model")
    assert challenger["inputs"]["primaryContainer"]["modelPackageName"].endswith(
        "model-package/mlops-platform-staging-churn/2"
    )
    # A regression of either variant rolls a release back.
    churn_rollback = p["outputs"]["servingModels"]["churn"]["alarmNames"]
    assert any("-challenger-" in name for name in churn_rollback)

    fraud = _named(p, CONFIG, "fraud-serving-config")["inputs"]
    assert [v["variantName"] for v in fraud["productionVariants"]] == ["primary"]
    (shadow,) = fraud["shadowProductionVariants"]
    assert (shadow["variantName"], shadow["initialVariantWeight"]) == ("shadow", 0.25)
    assert fraud["dataCaptureConfig"]["enableCapture"] is True, "shadow responses are captured"
    # The shadow's alarms notify, but never roll production back.
    assert not any("-shadow-" in n for n in p["outputs"]["servingModels"]["fraud"]["alarmNames"])
    assert any(
        a["inputs"]["name"].endswith("fraud-shadow-5xx-error-rate")
        for a in of_type(p, "aws:cloudwatch/metricAlarm:MetricAlarm")
    )


def test_no_secret_reaches_the_plan(plans):
    text = json.dumps(plans["dev"])
    assert "offline-plan-token" not in text
    image = _one(plans["dev"], "docker:index/image:Image")
    assert image["inputs"]["registry"] == "[secret]"


def test_a_model_without_an_approved_package_waits_with_a_warning(monkeypatch):
    """A first deployment: no group has an approved package yet. The plan (and ``pulumi up``)
    goes on without those endpoints and says why in one line per model."""
    from mlops_platform.infra.mocks import RecordingMocks

    monkeypatch.setattr(RecordingMocks, "latest_approved_package", lambda self, group, **_: None)
    result = plan.make_plan("prod", ROOT).to_json()
    assert of_type(result, ENDPOINT) == []
    assert result["outputs"]["servingModels"] == {}
    assert "endpointName" not in result["outputs"]
    warnings = [d for d in result["diagnostics"] if "no approved model package" in d]
    assert [w.split(":")[1].split(".")[2] for w in warnings] == ["demo", "churn"]
    assert warnings[0].endswith(
        "mlops-platform:serving.models.demo: no approved model package in group "
        "'mlops-platform-prod-demo' yet, so no endpoint for it: approve one in SageMaker Model "
        "Registry and run `pulumi up` again (or serve modelSource data or pinned)"
    )
    assert of_type(result, "aws:sagemaker/modelPackageGroup:ModelPackageGroup"), "groups exist"


def test_a_package_from_another_account_stops_the_plan(capsys, monkeypatch):
    from mlops_platform.infra.mocks import RecordingMocks

    foreign = "arn:aws:sagemaker:eu-west-1:999999999999:model-package/mlops-platform-prod-demo/7"
    monkeypatch.setattr(RecordingMocks, "latest_approved_package", lambda self, group, **_: foreign)
    code = plan.main(["--stack", "prod", "--project-dir", str(ROOT)])
    _, err = capsys.readouterr()
    assert code == 2
    assert err == (
        f"error: model package {foreign} is in account 999999999999, not one this stack "
        "deploys to (aws:allowedAccountIds: 333333333333)\n"
    )


def test_the_lookup_uses_the_stacks_region_and_profile(monkeypatch):
    from types import SimpleNamespace

    from mlops_platform.infra import stack as stack_module

    seen = {}

    def fake(group, *, region, profile):
        seen.update(group=group, region=region, profile=profile)
        return "arn:aws:sagemaker:eu-west-1:333333333333:model-package/g/1"

    monkeypatch.setattr(stack_module, "resolve_latest_package", fake)
    settings = SimpleNamespace(
        serving=(
            SimpleNamespace(
                model="m",
                package_group="g",
                endpoint=SimpleNamespace(variants=SimpleNamespace(second=None)),
            ),
        ),
        region="eu-west-1",
        profile="prod-admin",
        allowed_account_ids=("333333333333",),
        project="mlops-platform",
    )
    assert stack_module.release_packages(settings)["m"].endswith("/g/1")
    assert seen == {"group": "g", "region": "eu-west-1", "profile": "prod-admin"}


# --- compute: network, cluster, runners ------------------------------------------------------------

K8S_PROVIDER = "pulumi:providers:kubernetes"


def find(p: dict[str, Any], type_: str, name: str) -> dict[str, Any]:
    [res] = [r for r in of_type(p, type_) if r["name"] == name]
    return res


@pytest.mark.parametrize(
    ("stack", "zones", "nats", "public"),
    [("dev", 2, 1, True), ("staging", 2, 2, False), ("prod", 3, 3, False)],
)
def test_network_and_cluster_per_environment(plans, stack, zones, nats, public):
    p = plans[stack]
    assert len(of_type(p, "aws:ec2/subnet:Subnet")) == 2 * zones
    assert len(of_type(p, "aws:ec2/natGateway:NatGateway")) == nats
    eks = find(p, "aws:eks/cluster:Cluster", "cluster-eks")
    vpc = eks["inputs"]["vpcConfig"]
    assert vpc["endpointPrivateAccess"] is True
    assert vpc["endpointPublicAccess"] is public
    if public:
        assert "0.0.0.0/0" not in vpc["publicAccessCidrs"]
    else:
        assert "publicAccessCidrs" not in vpc
    assert eks["inputs"]["name"] == f"mlops-platform-{stack}"
    assert eks["inputs"]["encryptionConfig"]["provider"]["keyArn"] == p["outputs"]["kmsKeyArn"]
    subnets = {r["id"] for r in of_type(p, "aws:ec2/subnet:Subnet") if "-private-" in r["name"]}
    assert set(vpc["subnetIds"]) == subnets
    assert eks["inputs"]["deletionProtection"] is (stack == "prod")
    groups = {g["name"]: g["inputs"] for g in of_type(p, "aws:eks/nodeGroup:NodeGroup")}
    assert groups["cluster-gpu"]["amiType"] == "AL2023_x86_64_NVIDIA"
    assert groups["cluster-gpu"]["taints"] == [
        {"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}
    ]
    assert groups["cluster-gpu"]["scalingConfig"]["minSize"] == 0
    capacity = {name: g["capacityType"] for name, g in groups.items()}
    assert capacity["cluster-system"] == "ON_DEMAND"
    if stack == "prod":
        assert set(capacity.values()) == {"ON_DEMAND"}
    for template in of_type(p, "aws:ec2/launchTemplate:LaunchTemplate"):
        assert template["inputs"]["metadataOptions"]["httpTokens"] == "required"
        assert template["inputs"]["metadataOptions"]["httpPutResponseHopLimit"] == 1
    addons = {a["inputs"]["addonName"]: a["inputs"] for a in of_type(p, "aws:eks/addon:Addon")}
    assert all(
        a["addonVersion"].endswith(tuple(f"eksbuild.{i}" for i in range(10)))
        for a in addons.values()
    )
    assert set(addons) == {
        "vpc-cni", "kube-proxy", "eks-pod-identity-agent", "coredns", "aws-ebs-csi-driver"
    }  # fmt: skip


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_ci_roles_reach_the_cluster_through_access_entries(plans, stack):
    p = plans[stack]
    admins = {
        r["inputs"]["principalArn"]
        for r in of_type(p, "aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
        if r["inputs"]["policyArn"].endswith("/AmazonEKSClusterAdminPolicy")
    }
    viewers = {
        r["inputs"]["principalArn"]
        for r in of_type(p, "aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
        if r["inputs"]["policyArn"].endswith("/AmazonEKSAdminViewPolicy")
    }
    assert p["outputs"]["ciDeployRoleArn"] in admins
    assert p["outputs"]["ciPreviewRoleArn"] in viewers
    assert not admins & viewers


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_kubernetes_resource_uses_the_clusters_provider(plans, stack):
    p = plans[stack]
    [provider] = of_type(p, K8S_PROVIDER)
    assert provider["inputs"]["kubeconfig"] == "[secret]"
    assert p["outputs"]["kubeconfig"] == "[secret]"
    kube = [r for r in p["resources"] if r["type"].startswith("kubernetes:")]
    assert kube
    for res in kube:
        assert res["provider"].startswith(provider["urn"] + "::"), res["urn"]


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_runners_land_on_their_pools_with_the_app_secret_by_reference(plans, stack):
    p = plans[stack]
    releases = {r["name"]: r["inputs"] for r in of_type(p, "kubernetes:helm.sh/v3:Release")}
    cpu = releases["github-runners-cpu"]["values"]
    gpu = releases["github-runners-gpu"]["values"]
    assert cpu["githubConfigUrl"] == "https://github.com/my-org"
    [secret] = [
        r for r in of_type(p, "kubernetes:core/v1:Secret") if r["name"].startswith("github-runners")
    ]
    assert cpu["githubConfigSecret"] == secret["outputs"]["metadata"]["name"]
    assert cpu["minRunners"] == 0 == gpu["minRunners"]
    # The cpu sets build images (dind, privileged): alone on the tainted builds pool.
    # The chart's dind pod, rendered by the component with the daemon pinned by digest.
    assert "containerMode" not in cpu
    [dind] = cpu["template"]["spec"]["initContainers"][1:]
    assert dind["name"] == "dind" and dind["securityContext"] == {"privileged": True}
    assert re.fullmatch(r"docker:[\w.-]+-dind@sha256:[0-9a-f]{64}", dind["image"])
    assert cpu["template"]["spec"]["nodeSelector"] == {"mlops-platform/pool": "builds"}
    assert cpu["template"]["spec"]["tolerations"] == [
        {
            "key": "mlops-platform/privileged",
            "operator": "Equal",
            "value": "true",
            "effect": "NoSchedule",
        }
    ]
    (builds,) = [
        g
        for g in of_type(p, "aws:eks/nodeGroup:NodeGroup")
        if g["inputs"]["labels"]["mlops-platform/pool"] == "builds"
    ]
    assert builds["inputs"]["taints"] == [
        {"key": "mlops-platform/privileged", "value": "true", "effect": "NO_SCHEDULE"}
    ]
    others = [g for g in of_type(p, "aws:eks/nodeGroup:NodeGroup") if g is not builds]
    assert all("mlops-platform/privileged" not in str(g["inputs"].get("taints")) for g in others)
    # Every runner image is pinned by tag and digest.
    for values in releases.values():
        for container in values.get("template", {}).get("spec", {}).get("containers", []):
            assert re.fullmatch(r"[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}", container["image"])
    assert gpu["template"]["spec"]["nodeSelector"] == {"mlops-platform/pool": "gpu"}
    # The toleration matches the GPU node group's taint (nvidia.com/gpu=true:NO_SCHEDULE).
    assert {
        "key": "nvidia.com/gpu",
        "operator": "Equal",
        "value": "true",
        "effect": "NoSchedule",
    } in (gpu["template"]["spec"]["tolerations"])
    assert secret["inputs"]["stringData"] == "[secret]"
    role = find(p, "aws:iam/role:Role", "github-runners-role-role")
    assert cpu["template"]["spec"]["serviceAccountName"]
    accounts = [
        r for r in of_type(p, "kubernetes:core/v1:ServiceAccount")
        if r["name"].startswith("github-runners")
    ]  # fmt: skip
    annotations = [a["inputs"]["metadata"]["annotations"] for a in accounts]
    assert {"eks.amazonaws.com/role-arn": role["outputs"]["arn"]} in annotations
    # The runner role reaches the platform's registry and data, and no IAM.
    [inline] = [
        r for r in of_type(p, "aws:iam/rolePolicy:RolePolicy")
        if r["inputs"]["role"] == role["id"]
    ]  # fmt: skip
    doc = json.loads(inline["inputs"]["policy"])
    actions = [a for s in doc["Statement"] for a in s["Action"]]
    assert not any(a.startswith("iam:") or a == "*" for a in actions)
    resources = json.dumps(doc)
    for repo in of_type(p, "aws:ecr/repository:Repository"):
        assert repo["outputs"]["arn"] in resources
    assert p["outputs"]["artifactsBucketArn"] in resources


def test_secrets_never_appear_in_plain_text():
    """The GitHub App key and the GitLab token, set as secrets, are masked everywhere."""
    files = plan.load_stack_files(ROOT, "dev")
    key = (
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEsupersecretkeymaterial\n-----END RSA PRIVATE KEY-----"
    )
    token = "glrt-supersecret-runner-token"
    config = dict(files.config)
    config["mlops-platform:githubAppPrivateKey"] = key
    config["mlops-platform:gitlabRunnerToken"] = token
    with recording.private_event_loop():
        recorder = recording.install(
            project="mlops-platform", stack="dev", region="eu-west-1", account_id="111111111111",
            config=config, secret_keys=files.secret_keys,
        )  # fmt: skip
        _sync_await(run_pulumi_func(lambda: stack_module.build(settings_module.load())))
    text = json.dumps([r.to_json() for r in recorder.registrations])
    assert recorder.registrations
    assert "supersecret" not in text
    # The values did reach the cluster, as Kubernetes Secrets whose data is a Pulumi secret.
    secrets = [r for r in recorder.registrations if r.type == "kubernetes:core/v1:Secret"]
    assert {r.name for r in secrets} == {"github-runners-github-app", "gitlab-runner-token"}
    assert all(r.inputs["stringData"] == recording.SECRET for r in secrets)
