"""ModelEndpoint, ServingImage and ModelRegistry: pure definitions and registered resources."""

from __future__ import annotations

import json

import pulumi
import pytest
from conftest import (
    ACCOUNT,
    KEY_ARN,
    REGION,
    after_registration,
    component_children_ok,
    policy,
    statement,
)

from mlops_platform.components import ArgsError
from mlops_platform.components.registry import ModelRegistry, ModelRegistryArgs, mlflow_role_policy
from mlops_platform.components.serving import (
    AlarmSubscription,
    ModelEndpoint,
    ModelEndpointArgs,
    ServingImage,
    ServingImageArgs,
    alarm_definitions,
    deployment_config,
    deployment_wait_seconds,
    execution_role_policy,
)

REPO_ARN = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/mlops/serving"
BUCKET_ARN = "arn:aws:s3:::artifacts-1234567"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/mlops/serving:v1.0.0"
PACKAGE = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/demo/3"
ENDPOINT = "aws:sagemaker/endpoint:Endpoint"
CONFIG = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
MODEL = "aws:sagemaker/model:Model"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


def endpoint_args(**overrides) -> ModelEndpointArgs:
    base = {
        "image_uri": IMAGE,
        "repository_arn": REPO_ARN,
        "artifacts_bucket_arn": BUCKET_ARN,
        "kms_key_arn": KEY_ARN,
        "model_data_key": "models/demo/model.tar.gz",
    }
    return ModelEndpointArgs(**{**base, **overrides})


# --- pure definitions ----------------------------------------------------------------------------


def test_canary_deployment_config_shifts_5_percent_and_rolls_back_on_alarms():
    config = deployment_config(
        traffic_routing="CANARY",
        canary_percent=5,
        linear_step_percent=10,
        bake_seconds=600,
        termination_wait_seconds=300,
        max_execution_seconds=3600,
        rollback_alarm_names=["a", "b"],
    )
    policy_ = config["blue_green_update_policy"]
    routing = policy_["traffic_routing_configuration"]
    assert routing == {
        "type": "CANARY",
        "wait_interval_in_seconds": 600,
        "canary_size": {"type": "CAPACITY_PERCENT", "value": 5},
    }
    assert policy_["termination_wait_in_seconds"] == 300
    assert policy_["maximum_execution_timeout_in_seconds"] == 3600
    assert config["auto_rollback_configuration"] == {
        "alarms": [{"alarm_name": "a"}, {"alarm_name": "b"}]
    }


def test_linear_and_all_at_once_routing():
    linear = deployment_config(
        traffic_routing="LINEAR",
        canary_percent=5,
        linear_step_percent=20,
        bake_seconds=60,
        termination_wait_seconds=0,
        max_execution_seconds=900,
        rollback_alarm_names=["a"],
    )["blue_green_update_policy"]["traffic_routing_configuration"]
    assert linear["linear_step_size"] == {"type": "CAPACITY_PERCENT", "value": 20}
    assert "canary_size" not in linear
    assert (
        deployment_wait_seconds(
            traffic_routing="LINEAR",
            bake_seconds=60,
            termination_wait_seconds=30,
            linear_step_percent=20,
        )
        == 5 * 60 + 30
    )
    assert (
        deployment_wait_seconds(
            traffic_routing="ALL_AT_ONCE",
            bake_seconds=60,
            termination_wait_seconds=30,
            linear_step_percent=20,
        )
        == 90
    )


def test_alarms_have_stable_names_and_watch_the_variant():
    alarms = alarm_definitions(
        endpoint_name="ep",
        variant_name="primary",
        error_rate_percent=1.0,
        p99_latency_ms=250,
        client_error_rate_percent=None,
    )
    assert [a["name"] for a in alarms] == ["ep-5xx-error-rate", "ep-p99-model-latency"]
    errors, latency = alarms
    assert errors["threshold"] == 1.0 and errors["comparison_operator"] == "GreaterThanThreshold"
    queries = {q["id"]: q for q in errors["metric_queries"]}
    assert queries["errors"]["metric"]["metric_name"] == "Invocation5XXErrors"
    assert queries["invocations"]["metric"]["metric_name"] == "Invocations"
    assert queries["rate"]["return_data"] is True
    assert queries["errors"]["metric"]["dimensions"] == {
        "EndpointName": "ep",
        "VariantName": "primary",
    }
    assert latency["metric_name"] == "ModelLatency" and latency["extended_statistic"] == "p99"
    assert latency["threshold"] == 250_000, "ModelLatency is in microseconds"


def test_execution_role_is_least_privilege():
    doc = execution_role_policy(
        partition="aws",
        account_id=ACCOUNT,
        region=REGION,
        repository_arn=REPO_ARN,
        bucket_arn=BUCKET_ARN,
        model_prefix="models",
        capture_prefix=None,
        kms_key_arn=KEY_ARN,
        alarm_names=["ep-5xx-error-rate"],
    )
    assert statement(doc, "PullImage")["Resource"] == REPO_ARN
    assert statement(doc, "ReadModel")["Resource"] == f"{BUCKET_ARN}/models/*"
    use_key = statement(doc, "UseKeyThroughS3")
    assert use_key["Action"] == "kms:Decrypt"
    assert use_key["Condition"] == {
        "StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}
    }
    assert statement(doc, "Guardrails")["Resource"] == [
        f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:ep-5xx-error-rate"
    ]
    assert "WriteDataCapture" not in [s["Sid"] for s in doc["Statement"]]
    wildcard = [s["Sid"] for s in doc["Statement"] if s["Resource"] == "*"]
    assert wildcard == ["EcrAuth", "Metrics"], "only actions without resource-level permissions"


def test_mlflow_role_registers_models_only_when_asked():
    common = {
        "partition": "aws",
        "region": REGION,
        "account_id": ACCOUNT,
        "bucket_arn": BUCKET_ARN,
        "kms_key_arn": KEY_ARN,
    }
    plain = mlflow_role_policy(**common, automatic_model_registration=False)
    assert [s["Sid"] for s in plain["Statement"]] == [
        "ListArtifacts",
        "Artifacts",
        "UseKeyThroughS3",
    ]
    assert statement(plain, "Artifacts")["Resource"] == f"{BUCKET_ARN}/mlflow/*"
    registering = mlflow_role_policy(**common, automatic_model_registration=True)
    assert "sagemaker:CreateModelPackage" in statement(registering, "RegisterModels")["Action"]


# --- ModelEndpoint -------------------------------------------------------------------------------


@pulumi.runtime.test
def test_provisioned_endpoint_defaults_to_a_5_percent_canary_with_rollback(mocks):
    ep = ModelEndpoint(
        "churn",
        endpoint_args(
            instance_count=2,
            min_instances=2,
            max_instances=4,
            data_capture_percent=10,
            alarm_subscriptions=[
                AlarmSubscription(protocol="email", endpoint="oncall@example.com")
            ],
        ),
    )

    def check(m):
        endpoint = m.find(ENDPOINT, "churn-endpoint")
        assert endpoint.inputs["name"] == "churn"
        routing = endpoint.inputs["deploymentConfig"]["blueGreenUpdatePolicy"][
            "trafficRoutingConfiguration"
        ]
        assert routing["type"] == "CANARY" and routing["canarySize"]["value"] == 5
        rollback = [
            a["alarmName"]
            for a in endpoint.inputs["deploymentConfig"]["autoRollbackConfiguration"]["alarms"]
        ]
        alarms = {a.inputs["name"]: a for a in m.of_type(ALARM)}
        assert rollback == list(alarms) == ["churn-5xx-error-rate", "churn-p99-model-latency"]
        for alarm in alarms.values():
            assert alarm.urn in endpoint.dependencies, "alarms exist before the endpoint"
            assert alarm.inputs["alarmActions"] == [
                m.find("aws:sns/topic:Topic", "churn-alarms").outputs["arn"]
            ]
        config = m.find(CONFIG, "churn-config")
        assert "name" not in config.inputs and "namePrefix" not in config.inputs, "always autonamed"
        assert endpoint.inputs["endpointConfigName"] == config.outputs["name"]
        variant = config.inputs["productionVariants"][0]
        assert variant["variantName"] == "primary"
        assert variant["instanceType"] == "ml.m5.large" and variant["initialInstanceCount"] == 2
        assert config.inputs["kmsKeyArn"] == KEY_ARN
        capture = config.inputs["dataCaptureConfig"]
        assert capture["enableCapture"] is True and capture["initialSamplingPercentage"] == 10
        assert capture["destinationS3Uri"] == "s3://artifacts-1234567/data-capture/churn"
        assert capture["kmsKeyId"] == KEY_ARN
        model = m.find(MODEL, "churn-model")
        assert model.inputs["primaryContainer"] == {
            "image": IMAGE,
            "mode": "SingleModel",
            "modelDataUrl": "s3://artifacts-1234567/models/demo/model.tar.gz",
        }
        assert model.inputs["enableNetworkIsolation"] is True
        role_policy = policy(m.find("aws:iam/rolePolicy:RolePolicy", "churn-execution"))
        assert (
            statement(role_policy, "WriteDataCapture")["Resource"] == f"{BUCKET_ARN}/data-capture/*"
        )
        trust = json.loads(
            m.find("aws:iam/role:Role", "churn-execution").inputs["assumeRolePolicy"]
        )
        assert trust["Statement"][0]["Condition"] == {
            "StringEquals": {"aws:SourceAccount": ACCOUNT}
        }
        assert model.retain_on_delete and config.retain_on_delete, "a rollback serves them again"
        target = m.find("aws:appautoscaling/target:Target", "churn-scaling")
        assert target.replace_with == [endpoint.urn], "re-registered when the endpoint is replaced"
        assert target.inputs["resourceId"] == "endpoint/churn/variant/primary"
        assert target.inputs["scalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
        assert (target.inputs["minCapacity"], target.inputs["maxCapacity"]) == (2, 4)
        scaling = m.find("aws:appautoscaling/policy:Policy", "churn-invocations")
        assert scaling.replace_with == [endpoint.urn]
        spec = scaling.inputs["targetTrackingScalingPolicyConfiguration"]
        assert spec["predefinedMetricSpecification"] == {
            "predefinedMetricType": "SageMakerVariantInvocationsPerInstance"
        }
        assert m.find("aws:sns/topic:Topic", "churn-alarms").inputs["kmsMasterKeyId"] == KEY_ARN
        assert (
            m.find("aws:sns/topicSubscription:TopicSubscription", "churn-alarms-0").inputs[
                "protocol"
            ]
            == "email"
        )
        component_children_ok(m, "mlops:serving:ModelEndpoint", "churn")

    return pulumi.Output.all(ep.endpoint_name, ep.endpoint_config_name).apply(
        lambda _: after_registration(mocks, check)
    )


@pulumi.runtime.test
def test_serverless_endpoint_has_no_capture_scaling_kms_or_isolation(mocks):
    ModelEndpoint(
        "dev",
        endpoint_args(mode="serverless", traffic_routing="ALL_AT_ONCE", serverless_memory_mb=3072),
    )

    def check(m):
        config = m.find(CONFIG, "dev-config")
        variant = config.inputs["productionVariants"][0]
        assert variant["serverlessConfig"] == {"memorySizeInMb": 3072, "maxConcurrency": 5}
        assert "instanceType" not in variant
        assert "dataCaptureConfig" not in config.inputs and "kmsKeyArn" not in config.inputs
        assert not m.of_type("aws:appautoscaling/target:Target")
        assert m.find(MODEL, "dev-model").inputs["enableNetworkIsolation"] is False
        routing = m.find(ENDPOINT, "dev-endpoint").inputs["deploymentConfig"][
            "blueGreenUpdatePolicy"
        ]
        assert routing["trafficRoutingConfiguration"]["type"] == "ALL_AT_ONCE"

    return after_registration(mocks, check)


@pulumi.runtime.test
def test_instances_with_local_nvme_storage_get_no_volume_key(mocks):
    ModelEndpoint("gpu", endpoint_args(instance_type="ml.g5.xlarge"))
    ModelEndpoint("cpu", endpoint_args(instance_type="ml.m5d.large", endpoint_name="cpu-d"))
    ModelEndpoint("plain", endpoint_args(instance_type="ml.c5.xlarge", endpoint_name="plain"))

    def check(m):
        assert "kmsKeyArn" not in m.find(CONFIG, "gpu-config").inputs
        assert "kmsKeyArn" not in m.find(CONFIG, "cpu-config").inputs
        assert m.find(CONFIG, "plain-config").inputs["kmsKeyArn"] == KEY_ARN

    return after_registration(mocks, check)


@pulumi.runtime.test
def test_endpoint_config_name_output_is_the_deployed_config(mocks):
    ep = ModelEndpoint("rel", endpoint_args())

    def check(name):
        assert name == mocks.find(CONFIG, "rel-config").outputs["name"]

    return ep.endpoint_config_name.apply(lambda n: after_registration(mocks, lambda _: check(n)))


@pulumi.runtime.test
def test_model_package_replaces_image_and_data(mocks):
    ModelEndpoint(
        "pkg",
        endpoint_args(model_data_key=None, model_package_arn=PACKAGE, client_error_rate_percent=5),
    )

    def check(m):
        assert m.find(MODEL, "pkg-model").inputs["primaryContainer"] == {
            "modelPackageName": PACKAGE
        }
        assert "pkg-4xx-error-rate" in [a.inputs["name"] for a in m.of_type(ALARM)]

    return after_registration(mocks, check)


@pulumi.runtime.test
def test_two_endpoints_do_not_collide(mocks):
    ModelEndpoint("a", endpoint_args())
    ModelEndpoint("b", endpoint_args())

    def check(m):
        names = [r.outputs["name"] for r in m.of_type(ALARM)]
        assert len(names) == 4 and len(set(names)) == 4
        assert len({r.outputs["name"] for r in m.of_type(CONFIG)}) == 2

    return after_registration(mocks, check)


@pulumi.runtime.test
def test_model_data_defaults_to_a_key_named_after_the_endpoint(mocks):
    ModelEndpoint("churn", endpoint_args(model_data_key=None))

    def check(m):
        container = m.find(MODEL, "churn-model").inputs["primaryContainer"]
        assert container["modelDataUrl"].endswith("/models/churn/model.tar.gz")

    return after_registration(mocks, check)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"model_package_arn": PACKAGE}, "model_data_key"),
        ({"model_data_key": "other/model.tar.gz"}, "model_data_key"),
        ({"model_data_key": None, "model_package_arn": "arn:aws:s3:::x"}, "model_package_arn"),
        ({"endpoint_name": "bad_name"}, "endpoint_name"),
        ({"mode": "async"}, "mode"),
        ({"instance_type": "m5.large"}, "instance_type"),
        ({"instance_count": 0}, "instance_count"),
        ({"min_instances": 2}, "min_instances"),
        ({"min_instances": 3, "max_instances": 2}, "min_instances"),
        ({"min_instances": 3, "max_instances": 4}, "instance_count"),
        ({"instance_count": 1}, "instance_count"),
        ({"traffic_routing": "LINEAR", "min_instances": 1, "max_instances": 4}, "instance_count"),
        ({"serverless_memory_mb": 1500}, "serverless_memory_mb"),
        ({"serverless_max_concurrency": 201}, "serverless_max_concurrency"),
        ({"data_capture_percent": 0}, "data_capture_percent"),
        ({"traffic_routing": "BLUE_GREEN"}, "traffic_routing"),
        ({"canary_percent": 0}, "canary_percent"),
        ({"canary_percent": 51}, "canary_percent"),
        ({"traffic_routing": "LINEAR", "linear_step_percent": 5}, "linear_step_percent"),
        ({"bake_seconds": 3601}, "bake_seconds"),
        ({"bake_seconds": 1200, "termination_wait_seconds": 600}, "bake_seconds"),
        (
            {"traffic_routing": "LINEAR", "linear_step_percent": 10, "bake_seconds": 300},
            "bake_seconds",
        ),
        ({"max_execution_seconds": 600, "bake_seconds": 600}, "max_execution_seconds"),
        ({"max_execution_seconds": 14401}, "max_execution_seconds"),
        ({"error_rate_percent": 0}, "error_rate_percent"),
        ({"p99_latency_ms": -1}, "p99_latency_ms"),
        ({"client_error_rate_percent": 0}, "client_error_rate_percent"),
        (
            {"mode": "serverless", "traffic_routing": "ALL_AT_ONCE", "data_capture_percent": 10},
            "data_capture_percent",
        ),
        ({"mode": "serverless"}, "traffic_routing"),
        (
            {
                "mode": "serverless",
                "traffic_routing": "ALL_AT_ONCE",
                "instance_type": "ml.g5.xlarge",
            },
            "instance_type",
        ),
        (
            {
                "mode": "serverless",
                "traffic_routing": "ALL_AT_ONCE",
                "enable_network_isolation": True,
            },
            "enable_network_isolation",
        ),
        (
            {
                "mode": "serverless",
                "traffic_routing": "ALL_AT_ONCE",
                "min_instances": 1,
                "max_instances": 2,
            },
            "min_instances",
        ),
        (
            {"alarm_subscriptions": [{"protocol": "email", "endpoint": "x"}]},
            "alarm_subscriptions[0]",
        ),
    ],
)
def test_impossible_endpoints_are_rejected(overrides, field):
    with pytest.raises(ArgsError) as caught:
        endpoint_args(**overrides)
    assert caught.value.field == field


def test_alarm_subscription_protocols():
    with pytest.raises(ArgsError, match="protocol"):
        AlarmSubscription(protocol="pager", endpoint="x")


# --- ServingImage ----------------------------------------------------------------------------------


@pulumi.runtime.test
def test_serving_image_pushes_by_digest_with_a_secret_token(mocks):
    import pulumi_docker as docker

    image = ServingImage(
        "img",
        ServingImageArgs(repository_url=IMAGE.rsplit(":", 1)[0], tag="v1.0.0"),
        pulumi.ResourceOptions(providers={"docker": docker.Provider("docker")}),
    )

    def check(uri):
        reg = mocks.find("docker:index/image:Image", "img-image")
        assert reg.inputs["imageName"] == IMAGE
        assert reg.inputs["build"]["platform"] == "linux/amd64"
        assert reg.inputs["build"]["dockerfile"].endswith("serving/Dockerfile")
        assert reg.inputs["registry"] == "[secret]"
        assert "offline-plan-token" not in json.dumps(reg.to_json())
        assert uri.startswith(IMAGE.rsplit(":", 1)[0] + "@sha256:")

    return image.image_uri.apply(lambda uri: after_registration(mocks, lambda _: check(uri)))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"tag": "v1 0"}, "tag"), ({"tag": "v1", "platform": "windows"}, "platform")],
)
def test_serving_image_invalid_args(kwargs, field):
    with pytest.raises(ArgsError) as caught:
        ServingImageArgs(repository_url="r", **kwargs)
    assert caught.value.field == field


# --- ModelRegistry ---------------------------------------------------------------------------------


@pulumi.runtime.test
def test_model_registry_groups_are_protected_and_mlflow_is_opt_in(mocks):
    ModelRegistry("reg", ModelRegistryArgs(models=["churn", "fraud"], name_prefix="mlops-dev"))

    def check(m):
        groups = m.of_type("aws:sagemaker/modelPackageGroup:ModelPackageGroup")
        assert [g.inputs["modelPackageGroupName"] for g in groups] == [
            "mlops-dev-churn",
            "mlops-dev-fraud",
        ]
        assert all(g.protect and g.retain_on_delete for g in groups)
        assert not m.of_type("aws:sagemaker/mlflowTrackingServer:MlflowTrackingServer")

    return after_registration(mocks, check)


@pulumi.runtime.test
def test_mlflow_tracking_server_with_its_own_bucket_and_role(mocks):
    reg = ModelRegistry(
        "reg", ModelRegistryArgs(enable_mlflow=True, mlflow_version="3.0", protect=False)
    )

    def check(url):
        server = mocks.find(
            "aws:sagemaker/mlflowTrackingServer:MlflowTrackingServer", "reg-tracking"
        )
        bucket = mocks.find("aws:s3/bucket:Bucket", "reg-mlflow-bucket").outputs["bucket"]
        assert server.inputs["artifactStoreUri"] == f"s3://{bucket}/mlflow"
        assert server.inputs["trackingServerName"] == "reg-mlflow"
        assert server.inputs["automaticModelRegistration"] is False
        assert (
            server.inputs["roleArn"] == mocks.find("aws:iam/role:Role", "reg-mlflow").outputs["arn"]
        )
        assert url == server.outputs["trackingServerUrl"]
        component_children_ok(mocks, "mlops:registry:ModelRegistry", "reg")

    return reg.tracking_server_url.apply(
        lambda url: after_registration(mocks, lambda _: check(url))
    )


@pytest.mark.parametrize("protect", [True, False])
@pulumi.runtime.test
def test_mlflow_tracking_server_is_protected_and_retained_with_its_role(mocks, protect):
    # The server holds every experiment and run: a destroy must not lose them, and a retained
    # server keeps the role it reads its artifacts with.
    ModelRegistry("reg", ModelRegistryArgs(enable_mlflow=True, protect=protect))

    def check(m):
        server = m.find("aws:sagemaker/mlflowTrackingServer:MlflowTrackingServer", "reg-tracking")
        assert (server.protect, server.retain_on_delete) == (protect, protect)
        role_policy = m.find("aws:iam/rolePolicy:RolePolicy", "reg-mlflow")
        assert role_policy.urn in server.dependencies
        for reg in (m.find("aws:iam/role:Role", "reg-mlflow"), role_policy):
            assert not reg.protect and reg.retain_on_delete == protect

    return after_registration(mocks, check)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"models": []}, "models"),
        ({"models": ["a_b"]}, "models[0]"),
        ({"models": ["a", "a"]}, "models"),
        ({"models": ["m" * 60], "name_prefix": "prefix"}, "models[0]"),
        ({"mlflow_size": "small"}, "mlflow_size"),
        ({"mlflow_version": "latest"}, "mlflow_version"),
        ({"mlflow_version": "2.16.2"}, "mlflow_version"),
        ({"weekly_maintenance_window_start": "Tuesday 3am"}, "weekly_maintenance_window_start"),
    ],
)
def test_model_registry_invalid_args(kwargs, field):
    with pytest.raises(ArgsError) as caught:
        ModelRegistryArgs(**kwargs)
    assert caught.value.field == field


@pytest.mark.parametrize("routing", ["CANARY", "LINEAR"])
def test_canary_and_linear_are_refused_on_inf1_which_guardrails_exclude(routing):
    with pytest.raises(ArgsError, match=r"^instance_type: got 'ml.inf1.xlarge'; SageMaker's dep"):
        endpoint_args(
            instance_type="ml.inf1.xlarge", traffic_routing=routing, linear_step_percent=50
        )
    # all at once is what SageMaker does with Inf1 anyway; Inf2 has guardrails
    assert endpoint_args(instance_type="ml.inf1.xlarge", traffic_routing="ALL_AT_ONCE")
    assert endpoint_args(
        instance_type="ml.inf2.xlarge", traffic_routing=routing, linear_step_percent=50
    )
