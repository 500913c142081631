"""Many models per environment: the model map, A/B and shadow variants, the upgrade from the
single-model block without replacements, and the bad input of all of it."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT

from mlops_platform.components import ArgsError, ModelEndpointArgs
from mlops_platform.components.serving import Variants
from mlops_platform.infra import plan

KEY = "arn:aws:kms:eu-west-1:111111111111:key/11111111-2222-4333-a444-555555555555"
PACKAGE = "arn:aws:sagemaker:eu-west-1:222222222222:model-package/mlops-platform-staging-churn/2"
SERVING = "mlops-platform:serving"
STATEFUL_OR_SERVING = (
    "aws:s3/",
    "aws:kms/",
    "aws:ecr/",
    "aws:sagemaker/",
    "aws:cloudwatch/metricAlarm",
    "aws:sns/",
    "aws:appautoscaling/",
    "aws:eks/cluster",
    "mlops:serving:",
)


def stack_config(stack: str) -> dict[str, Any]:
    import yaml

    return yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]


@pytest.fixture(scope="module")
def plans() -> dict[str, dict[str, Any]]:
    return {s: plan.make_plan(s, ROOT).to_json() for s in ("dev", "staging", "prod")}


def run(tmp_path: Path, config: dict[str, Any], capsys, stack: str = "staging"):
    import yaml

    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    project["main"] = str(ROOT / "infra")
    (tmp_path / "Pulumi.yaml").write_text(yaml.safe_dump(project))
    (tmp_path / f"Pulumi.{stack}.yaml").write_text(
        yaml.safe_dump({"config": config}, sort_keys=False)
    )
    code = plan.main(["--stack", stack, "--project-dir", str(tmp_path), "--format", "json"])
    out, err = capsys.readouterr()
    return code, out, err


# --- the upgrade from the single-model block ---------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_the_model_map_keeps_every_resource_of_a_single_model_stack(plans, stack):
    """The plans of the last single-model revision (their URNs are the fixture): each of their
    resources is in today's plan under its URN or as an alias of a renamed one, so an upgraded
    stack's ``pulumi up`` replaces nothing."""
    fixture = json.loads((ROOT / "tests" / "fixtures" / "single-model-urns.json").read_text())
    old = fixture["stacks"][stack]
    new = plans[stack]["resources"]
    known = {r["urn"] for r in new} | {alias for r in new for alias in r.get("aliases", [])}
    lost = [o["urn"] for o in old if o["urn"] not in known]
    assert lost == []
    renamed = [r for r in new if r.get("aliases") and r["urn"] not in {o["urn"] for o in old}]
    kinds = {r["type"] for r in renamed}
    assert "mlops:serving:ModelEndpoint" in kinds
    assert "aws:sagemaker/endpoint:Endpoint" in kinds
    assert "aws:sagemaker/endpointConfiguration:EndpointConfiguration" in kinds
    assert "aws:cloudwatch/metricAlarm:MetricAlarm" in kinds
    # every old stateful or serving resource survives by URN or alias
    old_serving = [o for o in old if o["type"].startswith(STATEFUL_OR_SERVING)]
    assert old_serving and all(o["urn"] in known for o in old_serving)


def test_an_aliased_resource_keeps_its_physical_name(plans):
    endpoint = next(r for r in plans["prod"]["resources"] if r["name"] == "demo-serving-endpoint")
    assert endpoint["aliases"] == [
        "urn:pulumi:prod::mlops-platform::mlops:serving:ModelEndpoint$"
        "aws:sagemaker/endpoint:Endpoint::endpoint-endpoint"
    ]
    assert endpoint["outputs"]["name"] == "mlops-platform-prod-demo"
    config = next(r for r in plans["prod"]["resources"] if r["name"] == "demo-serving-config")
    assert config["outputs"]["name"].startswith("endpoint-config-"), "its name in the state"


def test_only_the_legacy_model_is_aliased(plans):
    aliased = {
        r["name"]
        for r in plans["staging"]["resources"]
        if r["type"] == "mlops:serving:ModelEndpoint" and r.get("aliases")
    }
    assert aliased == {"demo-serving"}


# --- the model map -----------------------------------------------------------------------------


def test_defaults_apply_to_every_model_and_a_model_overrides_them(tmp_path, capsys):
    config = stack_config("prod")
    config[SERVING]["models"]["churn"] = {"instanceCount": 3, "canaryPercent": 10}
    code, out, _ = run(tmp_path, config, capsys, "prod")
    assert code == 0
    result = json.loads(out)
    configs = {
        r["name"]: r["inputs"]["productionVariants"][0]
        for r in result["resources"]
        if r["type"] == "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
    }
    assert configs["churn-serving-config"]["initialInstanceCount"] == 3
    assert configs["demo-serving-config"]["initialInstanceCount"] == 2
    assert {c["instanceType"] for c in configs.values()} == {"ml.m5.xlarge"}  # the default
    canary = {
        r["name"]: r["inputs"]["deploymentConfig"]["blueGreenUpdatePolicy"][
            "trafficRoutingConfiguration"
        ]["canarySize"]["value"]
        for r in result["resources"]
        if r["type"] == "aws:sagemaker/endpoint:Endpoint"
    }
    assert canary == {"demo-serving-endpoint": 5, "churn-serving-endpoint": 10}


def test_each_model_has_its_own_role_topic_alarms_and_group(plans):
    p = plans["prod"]
    for model in ("demo", "churn"):
        names = {r["name"] for r in p["resources"]}
        for child in ("execution", "alarms", "5xx-error-rate", "config", "endpoint", "scaling"):
            assert f"{model}-serving-{child}" in names
        assert p["outputs"]["modelPackageGroups"][model] == f"mlops-platform-prod-{model}"
        served = p["outputs"]["servingModels"][model]
        assert served["endpointName"] == f"mlops-platform-prod-{model}"
        assert served["modelPackageArn"].endswith(f"/mlops-platform-prod-{model}/1")
    roles = [r for r in p["resources"] if r["name"].endswith("-serving-execution")]
    policies = {
        r["name"]: json.loads(r["inputs"]["policy"]) for r in roles if "policy" in r["inputs"]
    }
    for name, document in policies.items():
        model = name.split("-")[0]
        guarded = next(s for s in document["Statement"] if s["Sid"] == "Guardrails")
        assert all(f"mlops-platform-prod-{model}-" in arn for arn in guarded["Resource"])


def test_registry_only_models_keep_their_groups(tmp_path, capsys):
    config = stack_config("prod")
    config["mlops-platform:modelRegistry"]["models"] = ["forecast"]
    code, out, _ = run(tmp_path, config, capsys, "prod")
    assert code == 0
    groups = json.loads(out)["outputs"]["modelPackageGroups"]
    assert set(groups) == {"demo", "churn", "forecast"}


# --- bad input: one line naming the full key path ----------------------------------------------

CHURN = f"{SERVING}.models.churn"


def _ab(**variants: Any) -> dict[str, Any]:
    return {"variants": {"mode": "ab", "modelPackageArn": PACKAGE, "instanceCount": 1, **variants}}


BAD = [
    (
        "model key not a slug",
        ("models", "Churn Model"),
        {},
        f'{SERVING}.models.Churn Model: got "Churn Model"; expected a model name: lowercase letters, digits and -',
    ),
    (
        "model key too long",
        ("models", "a" * 38),
        {},
        f'{SERVING}.models.{"a" * 38}: got "{"a" * 38}"; a model key names its endpoint, models, roles, alarms and pipeline: at most 37 characters in stack staging',
    ),
    (
        "unknown key in a model",
        ("models", "churn"),
        {"canarySize": 5},
        f"{CHURN}.canarySize: got 5; unknown key",
    ),
    (
        "unknown key in the defaults",
        ("defaults",),
        {"instanceKind": "x"},
        f"{SERVING}.defaults.instanceKind",
    ),
    (
        "weight above 1",
        ("models", "churn"),
        _ab(challengerWeight=1.5),
        f"{CHURN}.variants.challengerWeight: got 1.5; expected a number from 0 to 1",
    ),
    (
        "weights summing to 0",
        ("models", "churn"),
        _ab(championWeight=0, challengerWeight=0),
        f"{CHURN}.variants.challengerWeight: got 0.0; the weights are relative: championWeight + challengerWeight must be above 0",
    ),
    (
        "shadow sampling 0",
        ("models", "churn"),
        {"variants": {"mode": "shadow", "samplingPercent": 0, "modelPackageArn": PACKAGE}},
        f"{CHURN}.variants.samplingPercent: got 0; expected an integer from 1 to 100",
    ),
    (
        "shadow sampling above 100",
        ("models", "churn"),
        {"variants": {"mode": "shadow", "samplingPercent": 101, "modelPackageArn": PACKAGE}},
        f"{CHURN}.variants.samplingPercent: got 101",
    ),
    (
        "a/b without a challenger",
        ("models", "churn"),
        {"variants": {"mode": "ab"}},
        f"{CHURN}.variants.modelPackageArn: got null; mode ab: set exactly one of modelPackageArn and modelDataKey",
    ),
    (
        "a second model without a test",
        ("models", "churn"),
        {"variants": {"modelPackageArn": PACKAGE}},
        f'{CHURN}.variants.mode: got "single"; a second model needs mode ab or shadow',
    ),
    (
        "challenger equal to the champion",
        ("models", "churn"),
        {"modelSource": "pinned", "modelPackageArn": PACKAGE, **_ab()},
        f'{CHURN}.variants.modelPackageArn: got "{PACKAGE}"; the second variant must serve another model than the champion',
    ),
    (
        "a/b on serverless",
        ("models", "churn"),
        {"mode": "serverless", "dataCapturePercent": None, **_ab()},
        f'{CHURN}.variants.mode: got "ab"; serverless endpoints serve one variant',
    ),
    (
        "shadow without data capture",
        ("models", "churn"),
        {
            "dataCapturePercent": None,
            "variants": {"mode": "shadow", "modelPackageArn": PACKAGE, "instanceCount": 1},
        },
        f'{CHURN}.variants.mode: got "shadow"; a shadow variant\'s responses are only seen through data capture',
    ),
    (
        "canary on inf1",
        ("models", "demo"),
        {"instanceType": "ml.inf1.xlarge", "trafficRouting": "LINEAR", "instanceCount": 2},
        f'{SERVING}.models.demo.instanceType: got "ml.inf1.xlarge"; SageMaker\'s deployment guardrails exclude Inf1 instances: LINEAR would fall back to all at once without baking; use ALL_AT_ONCE or an Inf2',
    ),
    (
        "canary with an inf1 challenger",
        ("models", "churn"),
        {
            "trafficRouting": "CANARY",
            "instanceCount": 2,
            **_ab(instanceCount=2, instanceType="ml.inf1.2xlarge"),
        },
        f'{CHURN}.variants.instanceType: got "ml.inf1.2xlarge"; SageMaker\'s deployment guardrails exclude Inf1',
    ),
    (
        "legacy model not served",
        ("legacyModel",),
        "gone",
        f'{SERVING}.legacyModel: got "gone"; expected one of the served models',
    ),
    (
        "no models",
        ("models",),
        {},
        f"{SERVING}.models: got {{}}; expected a map of model name -> settings",
    ),
]


@pytest.mark.parametrize(
    ("path", "value", "expected"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_bad_model_config_exits_2_naming_the_full_key(tmp_path, capsys, path, value, expected):
    config = copy.deepcopy(stack_config("staging"))
    target = config[SERVING]
    for part in path[:-1]:
        target = target.setdefault(part, {})
    if isinstance(value, dict) and isinstance(target.get(path[-1]), dict) and value:
        target[path[-1]] = {**target[path[-1]], **value}
    else:
        target[path[-1]] = value
    code, out, err = run(tmp_path, config, capsys)
    assert (code, out) == (2, ""), err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: invalid config "), err
    assert expected in err, err


# --- the component ---------------------------------------------------------------------------


def endpoint_args(**kwargs: Any) -> ModelEndpointArgs:
    return ModelEndpointArgs(
        image_uri="111111111111.dkr.ecr.eu-west-1.amazonaws.com/serving:1",
        repository_arn="arn:aws:ecr:eu-west-1:111111111111:repository/serving",
        artifacts_bucket_arn="arn:aws:s3:::artifacts",
        kms_key_arn=KEY,
        **kwargs,
    )


def test_variants_validate_as_args():
    with pytest.raises(ArgsError, match=r"variants.champion_weight: got -0.1"):
        Variants(mode="ab", model_data_key="models/x/b.tar.gz", champion_weight=-0.1)
    with pytest.raises(ArgsError, match=r"variants.mode: got 'canary'"):
        Variants(mode="canary")  # type: ignore[arg-type]
    args = endpoint_args(
        traffic_routing="ALL_AT_ONCE",
        instance_count=1,
        variants=Variants(mode="ab", model_data_key="models/churn/b.tar.gz", instance_count=1),
    )
    assert args.variants.second == "challenger"
    with pytest.raises(ArgsError, match=r"variants.model_data_key: .* must be under model_prefix"):
        endpoint_args(variants=Variants(mode="ab", model_data_key="other/b.tar.gz"))
    with pytest.raises(ArgsError, match=r"variants.instance_count: got 1; CANARY shifts"):
        endpoint_args(
            variants=Variants(mode="ab", model_data_key="models/b.tar.gz", instance_count=1)
        )


def test_variant_names_stay_across_releases(tmp_path, capsys, plans):
    """A release (a new champion package) replaces the configuration; its variants keep their
    names, which blue/green requires."""
    before = plans["staging"]["outputs"]["servingModels"]["churn"]
    config = stack_config("staging")
    churn = config[SERVING]["models"]["churn"]
    churn["modelSource"] = "pinned"
    churn["modelPackageArn"] = PACKAGE.replace("/2", "/7")
    code, out, _ = run(tmp_path, config, capsys)
    assert code == 0
    after = json.loads(out)["outputs"]["servingModels"]["churn"]
    assert after["variantNames"] == before["variantNames"] == ["primary", "challenger"]
    assert after["modelPackageArn"].endswith("/7")


# --- a first deployment of dev: the demo model is uploaded by `pulumi up` ----------------------


def test_dev_uploads_the_demo_model_each_model_serves(plans):
    p = plans["dev"]
    uploads = {
        r["name"]: r for r in p["resources"] if r["type"] == "aws:s3/bucketObjectv2:BucketObjectv2"
    }
    assert set(uploads) == {"demo-demo-model", "churn-demo-model"}
    for model in ("demo", "churn"):
        upload = uploads[f"{model}-demo-model"]["inputs"]
        assert upload["key"] == f"models/{model}/model.tar.gz"
        assert upload["serverSideEncryption"] == "aws:kms"
        assert upload["kmsKeyId"] == p["outputs"]["kmsKeyArn"]
        sagemaker_model = next(r for r in p["resources"] if r["name"] == f"{model}-serving-model")
        assert uploads[f"{model}-demo-model"]["urn"] in sagemaker_model["dependencies"]
        assert sagemaker_model["inputs"]["primaryContainer"]["modelDataUrl"].endswith(
            f"/models/{model}/model.tar.gz"
        )
    assert not [
        r for r in plans["prod"]["resources"] if r["type"].startswith("aws:s3/bucketObjectv2")
    ]


def test_the_demo_model_archive_is_reproducible_and_serves(tmp_path):
    import tarfile

    from mlops_platform.serving.demo_model import demo_model_archive
    from mlops_platform.serving.model import load_model

    first = demo_model_archive(tmp_path / "a" / "model.tar.gz").read_bytes()
    second = demo_model_archive(tmp_path / "b" / "model.tar.gz").read_bytes()
    assert first == second, "the same bytes: a redeployment uploads nothing"
    with tarfile.open(tmp_path / "a" / "model.tar.gz") as archive:
        assert sorted(archive.getnames()) == ["metadata.json", "model.joblib"]
        archive.extractall(tmp_path / "model", filter="data")
    model = load_model(tmp_path / "model")
    assert model.predict([[5.1, 3.5, 1.4, 0.2]]) is not None


@pytest.mark.parametrize(
    ("stack", "settings", "expected"),
    [
        ("prod", {"modelSource": "data", "demoModel": True}, "prod serves registered models"),
        ("staging", {"demoModel": True}, "only with modelSource: data"),
    ],
)
def test_the_demo_model_is_for_data_models_outside_prod(
    tmp_path, capsys, stack, settings, expected
):
    config = stack_config(stack)
    config[SERVING]["models"]["churn"] = settings
    code, _, err = run(tmp_path, config, capsys, stack)
    assert code == 2 and "serving.models.churn.demoModel: got true" in err and expected in err


@pytest.mark.parametrize(
    ("block", "key", "shown"),
    [
        ({"model": "demo", "imageTag": "0.1.0", "instanceType": "ml.m5.large"}, "model", "demo"),
        ({"imageTag": "0.1.0", "models": {"demo": {}}}, "imageTag", "<model>"),
    ],
    ids=["the single-model block", "a model key left at the top"],
)
def test_the_single_model_block_points_at_the_migration(tmp_path, capsys, block, key, shown):
    config = copy.deepcopy(stack_config("staging"))
    config[SERVING] = block
    code, out, err = run(tmp_path, config, capsys)
    assert (code, out) == (2, ""), err
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"error: invalid config {SERVING}.{key}: got "), err
    assert (
        f"the single-model serving block became the model map: move its keys (without model) "
        f"under serving.models.{shown} or serving.defaults and set serving.legacyModel: {shown} "
        "so its resources are kept (README: Upgrading a single-model stack; CHANGELOG: the "
        "serving block)"
    ) in err
    assert "unknown key" not in err


def test_a_challenger_that_became_the_champion_stops_the_plan_naming_the_fix(capsys, monkeypatch):
    """The pinned challenger is now the newest approved package: one line naming the key and
    the promotion, before any resource is registered (no traffic changes unreviewed)."""
    from mlops_platform.infra.mocks import RecordingMocks

    original = RecordingMocks.latest_approved_package

    def newest(self, group, **kwargs):
        return PACKAGE if group.endswith("-churn") else original(self, group, **kwargs)

    monkeypatch.setattr(RecordingMocks, "latest_approved_package", newest)
    code = plan.main(["--stack", "staging", "--project-dir", str(ROOT), "--format", "json"])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err == (
        f'error: invalid config {CHURN}.variants.modelPackageArn: got "{PACKAGE}"; the '
        "challenger is now the newest Approved package of 'mlops-platform-staging-churn', which "
        "the champion serves (modelSource: latest-approved): the test is over; to promote it "
        f"remove {CHURN.removeprefix('mlops-platform:')}.variants, or pin the next challenger "
        '(README: "Promoting a challenger")\n'
    )
