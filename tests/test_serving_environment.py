"""The model container's environment: ModelEndpointArgs.environment and serving.defaults /
serving.models.<key>.environment (merged), on every variant's SageMaker model, bounded as
SageMaker CreateModel bounds it and checked with the reference server's own parsing."""

from __future__ import annotations

import copy
import json

import pulumi
import pytest
from conftest import ACCOUNT, REGION, after_registration
from test_serving import MODEL, endpoint_args
from test_serving_models import SERVING, run, stack_config

from mlops_platform.components import ArgsError, ModelEndpoint, Variants
from mlops_platform.serving.options import TIMEOUT_ENV, WORKERS_ENV, ConfigError, positive_int

PACKAGE = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/demo/3"
CHALLENGER = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/demo/4"
ENV = {WORKERS_ENV: "4", TIMEOUT_ENV: "120", "LOG_LEVEL": "info"}


@pulumi.runtime.test
def test_every_variant_model_gets_the_environment_beside_its_package(mocks):
    ModelEndpoint(
        "churn",
        endpoint_args(
            model_data_key=None,
            model_package_arn=PACKAGE,
            environment=ENV,
            variants=Variants(mode="ab", model_package_arn=CHALLENGER),
        ),
    )
    ModelEndpoint(
        "fraud",
        endpoint_args(
            environment={WORKERS_ENV: "2"},
            data_capture_percent=10,
            variants=Variants(mode="shadow", model_data_key="models/fraud/shadow.tar.gz"),
        ),
    )
    ModelEndpoint("plain", endpoint_args(endpoint_name="plain"))

    def check(m):
        champion = m.find(MODEL, "churn-model").inputs["primaryContainer"]
        assert champion == {"modelPackageName": PACKAGE, "environment": ENV}
        challenger = m.find(MODEL, "churn-challenger-model").inputs["primaryContainer"]
        assert challenger == {"modelPackageName": CHALLENGER, "environment": ENV}
        for name in ("fraud-model", "fraud-shadow-model"):
            container = m.find(MODEL, name).inputs["primaryContainer"]
            assert container["environment"] == {WORKERS_ENV: "2"}
            assert container["image"] and container["modelDataUrl"].endswith(".tar.gz")
        # none set: the container is what it was (no empty environment either)
        assert "environment" not in m.find(MODEL, "plain-model").inputs["primaryContainer"]

    return after_registration(mocks, check)


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({WORKERS_ENV: "0"}, f"environment.{WORKERS_ENV}: got '0'; must be a whole number"),
        ({TIMEOUT_ENV: "1.5"}, f"environment.{TIMEOUT_ENV}: got '1.5'; must be a whole number"),
        ({"1ST": "x"}, "environment.1ST: got '1ST'; expected an environment variable name"),
        ({"X": 4}, "environment.X: got 4; values are strings of at most 1024 characters (quote"),
        ({"X": "é" * 600}, "environment.X: got '1200 bytes'; at most 1024 bytes"),
        ({f"V{i}": "x" for i in range(101)}, "environment: got {"),
        ({f"V{i}": "x" * 1000 for i in range(40)}, "environment: got '40110 bytes'; names and"),
    ],
)
def test_bad_environments_name_the_variable(environment, message):
    with pytest.raises(ArgsError) as caught:
        endpoint_args(environment=environment)
    assert str(caught.value).startswith(message), caught.value


def test_the_component_parses_as_the_server_does():
    """Whatever the server starts with, the component accepts (and the reverse)."""
    for raw in ("1", " 8 ", "", "0", "-1", "two", "1e3", "٣"):
        try:
            positive_int({WORKERS_ENV: raw}, WORKERS_ENV, 1)
            server_ok = True
        except ConfigError:
            server_ok = False
        try:
            endpoint_args(environment={WORKERS_ENV: raw})
            component_ok = True
        except ArgsError:
            component_ok = False
        assert server_ok == component_ok, raw


def _containers(out: str) -> dict[str, dict]:
    return {
        r["name"]: r["inputs"]["primaryContainer"]
        for r in json.loads(out)["resources"]
        if r["type"] == MODEL
    }


def test_the_defaults_environment_merges_with_each_models(tmp_path, capsys):
    config = copy.deepcopy(stack_config("staging"))
    config[SERVING]["defaults"]["environment"] = {WORKERS_ENV: "2", TIMEOUT_ENV: "120"}
    config[SERVING]["models"]["churn"]["environment"] = {WORKERS_ENV: "4", "LOG_LEVEL": "debug"}
    code, out, err = run(tmp_path, config, capsys)
    assert code == 0, err
    containers = _containers(out)
    merged = {WORKERS_ENV: "4", TIMEOUT_ENV: "120", "LOG_LEVEL": "debug"}
    assert containers["churn-serving-model"]["environment"] == merged
    assert containers["churn-serving-challenger-model"]["environment"] == merged
    assert containers["demo-serving-model"]["environment"] == {WORKERS_ENV: "2", TIMEOUT_ENV: "120"}
    assert containers["fraud-serving-shadow-model"]["environment"][TIMEOUT_ENV] == "120"


@pytest.mark.parametrize(
    ("where", "environment", "expected"),
    [
        (
            ("models", "churn"),
            {WORKERS_ENV: "0"},
            f'{SERVING}.models.churn.environment.{WORKERS_ENV}: got "0"; must be a whole number '
            "of at least 1 (a number of worker processes)",
        ),
        (
            ("defaults",),
            {TIMEOUT_ENV: "abc"},
            f'{SERVING}.defaults.environment.{TIMEOUT_ENV}: got "abc"; must be a whole number',
        ),
        (
            ("models", "churn"),
            {WORKERS_ENV: 4},
            f"{SERVING}.models.churn.environment.{WORKERS_ENV}: got 4; values are strings",
        ),
        (
            ("defaults",),
            {"bad-name": "x"},
            f'{SERVING}.defaults.environment.bad-name: got "bad-name"; expected an environment',
        ),
    ],
)
def test_a_bad_environment_exits_2_naming_the_full_key(
    tmp_path, capsys, where, environment, expected
):
    config = copy.deepcopy(stack_config("staging"))
    target = config[SERVING]
    for part in where:
        target = target[part]
    target["environment"] = environment
    code, out, err = run(tmp_path, config, capsys)
    assert (code, out) == (2, ""), err
    assert len(err.splitlines()) == 1, err
    assert expected in err, err
