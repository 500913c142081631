"""How long a model key may be: every physical name it feeds (endpoint, models with the A/B
challenger's and the shadow's, roles, alarms, topic, autoscaling policy, package group, the
pipeline's role and Argo objects) fits its AWS limit, and a key one character longer is a config
error at plan time naming the key and the stack's maximum."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from test_serving_models import PACKAGE, SERVING, run, stack_config

from mlops_platform.components._names import AUTONAME_SUFFIX, PhysicalName, longest_key
from mlops_platform.infra.naming import model_key_limit, model_names

# The limits as botocore's service models state them (the request member's ``max``), by the
# plan's resource type; Kubernetes object names used as DNS labels: 63; Argo CronWorkflows: 52.
LIMITS = {
    "aws:iam/role:Role": 64,  # iam CreateRole.RoleName
    "aws:iam/rolePolicy:RolePolicy": 128,  # iam PutRolePolicy.PolicyName
    "aws:sagemaker/model:Model": 63,  # sagemaker CreateModel.ModelName
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration": 63,
    "aws:sagemaker/endpoint:Endpoint": 63,
    "aws:sagemaker/modelPackageGroup:ModelPackageGroup": 63,  # EntityName
    "aws:cloudwatch/metricAlarm:MetricAlarm": 255,
    "aws:sns/topic:Topic": 256,
    "aws:appautoscaling/policy:Policy": 256,
    "kubernetes:argoproj.io/v1alpha1:WorkflowTemplate": 63,
    "kubernetes:argoproj.io/v1alpha1:CronWorkflow": 52,
}


def physical_name(resource: dict[str, Any]) -> str | None:
    outputs = resource.get("outputs", {})
    if resource["type"].startswith("kubernetes:"):
        return (resource["inputs"].get("metadata") or {}).get("name")
    return outputs.get("modelPackageGroupName") or outputs.get("name")


def with_models(limit: int) -> dict[str, Any]:
    """prod (canary, autoscaling, 4XX alarms, pipelines) with an A/B model and a shadow model
    whose keys are ``limit`` characters long, each with a scheduled training pipeline."""
    config = copy.deepcopy(stack_config("prod"))
    ab, shadow = "a" * limit, "b" * limit
    config[SERVING]["models"][ab] = {"variants": {"mode": "ab", "modelPackageArn": PACKAGE}}
    config[SERVING]["models"][shadow] = {"variants": {"mode": "shadow", "modelPackageArn": PACKAGE}}
    pipelines = config["mlops-platform:pipelines"]["models"]
    pipelines[ab] = pipelines[shadow] = pipelines["churn"]
    return config


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_the_limit_is_the_tightest_name_of_the_stack(stack):
    limit = model_key_limit("mlops-platform", stack)
    at_limit = model_names("mlops-platform", stack, "m" * limit.length)
    over = model_names("mlops-platform", stack, "m" * (limit.length + 1))
    assert all(n.fits for n in at_limit)
    assert any(n.length == n.limit for n in at_limit)
    assert [n.what for n in over if not n.fits] == [limit.binding.what]
    # the A/B challenger's SageMaker model (<key>-serving-challenger-model-1234567, 63) sets it
    assert limit.length == 63 - AUTONAME_SUFFIX - len("-serving-challenger-model")


def test_a_long_stack_prefix_makes_the_endpoint_name_the_tightest():
    limit = model_key_limit("a-rather-long-project-name", "production-eu-west-1")
    assert limit.binding.what == "the SageMaker endpoint"
    assert limit.length == 63 - len("a-rather-long-project-name-production-eu-west-1-")


def test_longest_key_grows_with_every_occurrence_of_the_key():
    def names(key: str) -> list[PhysicalName]:
        return [PhysicalName("twice", f"{key}-{key}", 21, autonamed=False)]

    assert longest_key(names).length == 10


def test_a_key_at_the_limit_plans_and_every_name_fits(tmp_path, capsys):
    limit = model_key_limit("mlops-platform", "prod").length
    code, out, err = run(tmp_path, with_models(limit), capsys, "prod")
    assert code == 0, err
    resources = json.loads(out)["resources"]
    keyed = [
        (r, physical_name(r))
        for r in resources
        if ("a" * limit in r["name"] or "b" * limit in r["name"]) and r["type"] in LIMITS
    ]
    kinds = {r["type"] for r, _ in keyed}
    assert kinds == set(LIMITS), set(LIMITS) - kinds  # every kind of name is exercised
    too_long = [(r["name"], n, len(n)) for r, n in keyed if n and len(n) > LIMITS[r["type"]]]
    assert too_long == []
    # as long as allowed: the challenger's model name is exactly at SageMaker's limit
    challenger = next(n for r, n in keyed if r["name"] == f"{'a' * limit}-serving-challenger-model")
    assert len(challenger) == 63
    # the names infra.naming predicts are the names the components give
    predicted = {
        n.name
        for key in ("a" * limit, "b" * limit)
        for n in model_names("mlops-platform", "prod", key)
    }
    from_key = [(r, n) for r, n in keyed if n and ("a" * limit in n or "b" * limit in n)]
    for r, name in from_key:
        if name not in predicted:
            assert name.rsplit("-", 1)[0] in predicted, (r["type"], name)


@pytest.mark.parametrize(
    ("where", "config_key"),
    [
        ("serving", "mlops-platform:serving.models.{key}"),
        ("registry", "mlops-platform:modelRegistry.models[0]"),
    ],
)
def test_a_key_one_character_over_fails_at_plan_time(tmp_path, capsys, where, config_key):
    limit = model_key_limit("mlops-platform", "staging").length
    key = "m" * (limit + 1)
    config = copy.deepcopy(stack_config("staging"))
    if where == "serving":
        config[SERVING]["models"][key] = {"variants": {"mode": "ab", "modelPackageArn": PACKAGE}}
    else:
        config["mlops-platform:modelRegistry"]["models"] = [key]
    code, out, err = run(tmp_path, config, capsys)
    assert (code, out) == (2, ""), err
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f'error: invalid config {config_key.format(key=key)}: got "{key}"; ')
    assert f"at most {limit} characters in stack staging" in err
    assert "the challenger variant's SageMaker model's name would be 64 characters" in err


def test_a_model_without_a_second_variant_may_take_a_longer_key(tmp_path, capsys):
    """The limit follows what the model serves: a single-variant model has no challenger's
    model name to fit, so the keys that deploy today keep planning; switching it to A/B later
    is an error at plan time naming the key, before anything changes."""
    ab = model_key_limit("mlops-platform", "staging").length
    single = model_key_limit("mlops-platform", "staging", ()).length
    assert single > ab
    config = copy.deepcopy(stack_config("staging"))
    config[SERVING]["models"]["m" * single] = {}
    (tmp_path / "single").mkdir()
    code, _, err = run(tmp_path / "single", config, capsys)
    assert code == 0, err
    config[SERVING]["models"]["m" * single] = {
        "variants": {"mode": "ab", "modelPackageArn": PACKAGE}
    }
    (tmp_path / "ab").mkdir()
    code, _, err = run(tmp_path / "ab", config, capsys)
    assert code == 2 and f"at most {ab} characters in stack staging" in err, err
    over = "m" * (single + 1)
    config[SERVING]["models"] = {**stack_config("staging")[SERVING]["models"], over: {}}
    (tmp_path / "over").mkdir()
    code, _, err = run(tmp_path / "over", config, capsys)
    assert code == 2 and f"at most {single} characters in stack staging" in err, err
