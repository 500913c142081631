"""Per-model releases: the tag check, the pins, and smoke/watch/latest-approved by model.

The stack outputs are fixtures shaped like the issue-12 contract (``servingModels.<m>`` with
endpointName, endpointConfigName, variantNames, modelSource, modelPackageGroup,
modelPackageArn, ...), the stack files like its ``serving: {defaults, models}`` block; nothing
here runs the stack program. The model registry is moto (in process, and as a local server for
the workflows' own pin steps, which run in bash against a fake ``pulumi`` on PATH).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.response import StreamingBody
from botocore.stub import Stubber
from moto import mock_aws
from test_ops import aws_env  # noqa: F401  (autouse: fake credentials, no AWS config)

from mlops_platform.ops import cli
from mlops_platform.ops.release import (
    NoApprovedPackage,
    ReleaseError,
    StackServing,
    parse_tag,
    plan_pins,
    read_stack_serving,
)

ROOT = Path(__file__).resolve().parents[1]
REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's
PREFIX = "mlops-platform-staging"

STACK_FILE = f"""\
config:
  aws:region: {REGION}
  mlops-platform:environment: staging
  mlops-platform:serving:
    defaults:
      modelSource: latest-approved
      instanceType: ml.m5.large
    models:
      demo: {{imageTag: "0.1.0"}}
      churn:
        imageTag: "0.1.0"
        variants: {{mode: ab, championWeight: 0.9, challengerWeight: 0.1,
                   modelPackageArn: "arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{PREFIX}-churn/1"}}
      fraud:
        modelSource: pinned
        modelPackageArn: arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{PREFIX}-fraud/2
      scorer: {{modelSource: data, modelDataKey: models/scorer/model.tar.gz, imageTag: "0.1.0"}}
"""


def arn(model: str, version: int) -> str:
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{PREFIX}-{model}/{version}"


def served(
    model: str,
    *,
    source: str = "latest-approved",
    version: int | None = 1,
    variants: tuple[str, ...] = ("primary",),
) -> dict[str, Any]:
    """One model's entry of the servingModels output, as the contract describes it."""
    package = source != "data"
    return {
        "endpointName": f"{PREFIX}-{model}",
        "endpointConfigName": f"{model}-config-{version or 0:07d}",
        "alarmNames": [f"{PREFIX}-{model}-primary-latency", f"{PREFIX}-{model}-primary-errors"],
        "variantNames": list(variants),
        "shadowVariantNames": [],
        "alarmTopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:{PREFIX}-alarms",
        "modelSource": source,
        "modelPackageGroup": f"{PREFIX}-{model}" if package else None,
        "modelPackageArn": arn(model, version) if package and version else None,
        "imageUri": None if package else f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/serving:0.1.0",
    }


def outputs(**models: dict[str, Any]) -> dict[str, Any]:
    """Stack outputs with servingModels, the deprecated single-model outputs and the groups."""
    first = next(iter(models.values()), None)
    deprecated = {} if first is None else {
        "endpointName": first["endpointName"],
        "endpointConfigName": first["endpointConfigName"],
        "alarmTopicArn": first["alarmTopicArn"],
        "rollbackAlarmNames": first["alarmNames"],
    }  # fmt: skip
    return {
        "registryUrl": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com",
        "kubeconfig": "[secret]",
        "servingModels": models,
        "modelPackageGroups": {m: f"{PREFIX}-{m}" for m in models},
        **deprecated,
    }


DEPLOYED = outputs(
    demo=served("demo", version=1),
    churn=served("churn", version=1, variants=("primary", "challenger")),
    fraud=served("fraud", source="pinned", version=2),
    scorer=served("scorer", source="data", version=None),
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A checkout: Pulumi.yaml and a staging and a prod stack file (prod serves no scorer)."""
    (tmp_path / "Pulumi.yaml").write_text("name: mlops-platform\nruntime: python\n")
    (tmp_path / "Pulumi.staging.yaml").write_text(STACK_FILE)
    prod = STACK_FILE.replace("mlops-platform-staging", "mlops-platform-prod")
    (tmp_path / "Pulumi.prod.yaml").write_text(prod.split("      scorer:")[0])
    return tmp_path


@pytest.fixture
def stack(project: Path) -> StackServing:
    return read_stack_serving(project / "Pulumi.staging.yaml")


def write_outputs(path: Path, value: Any) -> Path:
    path.write_text(json.dumps(value), encoding="utf-8")
    return path


def run_main(capsys: pytest.CaptureFixture[str], *argv: str, **kwargs: Any) -> tuple[int, str, str]:
    code = cli.main(list(argv), **kwargs)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_error_line(err: str, *fragments: str) -> None:
    assert err.count("\n") == 1 and err.startswith("error: "), err
    for fragment in fragments:
        assert fragment in err, err


# --- the registry ------------------------------------------------------------------------------


def register(client: Any, model: str, *statuses: str) -> list[str]:
    """Packages of ``<prefix>-<model>``, oldest first, one per approval status."""
    group = f"{PREFIX}-{model}"
    known = {
        g["ModelPackageGroupName"]
        for g in client.list_model_package_groups()["ModelPackageGroupSummaryList"]
    }
    if group not in known:
        client.create_model_package_group(ModelPackageGroupName=group)
    return [
        client.create_model_package(ModelPackageGroupName=group, ModelApprovalStatus=status)[
            "ModelPackageArn"
        ]
        for status in statuses
    ]


@pytest.fixture
def registry() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("sagemaker", region_name=REGION)


def newest_from(client: Any) -> Callable[[str], str | None]:
    from mlops_platform.ops.models import latest_approved_package

    return lambda group: latest_approved_package(group, client=client)


def no_lookups(group: str) -> str | None:
    raise AssertionError(f"looked up {group}: a platform release looks nothing up")


# --- the tag and the stack file ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "expected"),
    [("churn/v1.2.3", ("churn", "v1.2.3")), ("fraud-detector/v10.0.0", ("fraud-detector", "v10.0.0"))],
)  # fmt: skip
def test_parse_tag(tag: str, expected: tuple[str, str]) -> None:
    assert parse_tag(tag) == expected


@pytest.mark.parametrize(
    "tag", ["v1.2.3", "Churn/v1.2.3", "churn/1.2.3", "churn/v1.2", "a/b/v1.2.3", "-x/v1.0.0", "x-/v1.0.0"]
)  # fmt: skip
def test_parse_tag_refuses_others(tag: str) -> None:
    with pytest.raises(ReleaseError, match=r"expected <model>/vMAJOR\.MINOR\.PATCH"):
        parse_tag(tag)


def test_stack_file_is_read_with_its_defaults(stack: StackServing) -> None:
    assert (stack.stack, stack.project) == ("staging", "mlops-platform")
    assert list(stack.models) == ["demo", "churn", "fraud", "scorer"]
    sources = {m: stack.source(m) for m in stack.models}
    assert sources == {
        "demo": "latest-approved",  # from defaults
        "churn": "latest-approved",
        "fraud": "pinned",  # its own key wins
        "scorer": "data",
    }
    assert stack.key("churn", "modelSource") == "mlops-platform:serving.models.churn.modelSource"


def test_a_yaml_error_in_the_stack_file_is_one_line(project: Path) -> None:
    path = project / "Pulumi.staging.yaml"
    path.write_text("config:\n  mlops-platform:serving: {models: [\n")
    with pytest.raises(ReleaseError, match=r"^Pulumi\.staging\.yaml:\d+:\d+: "):
        read_stack_serving(path)


# --- the pins ----------------------------------------------------------------------------------


def test_a_release_pins_its_model_to_the_newest_approved_and_holds_the_others(
    stack: StackServing, registry: Any
) -> None:
    register(registry, "demo", "Approved", "Approved")  # demo 2 waits for its own release
    register(registry, "churn", "Approved", "Approved", "PendingManualApproval", "Rejected")

    plan = plan_pins(stack, DEPLOYED, release="churn", newest=newest_from(registry))

    assert plan.assignments() == [
        ("mlops-platform:serving.models.demo.modelSource", "pinned"),
        ("mlops-platform:serving.models.demo.modelPackageArn", arn("demo", 1)),
        ("mlops-platform:serving.models.churn.modelSource", "pinned"),
        ("mlops-platform:serving.models.churn.modelPackageArn", arn("churn", 2)),
    ]
    assert [(p.model, p.released) for p in plan.pins] == [("demo", False), ("churn", True)]
    assert plan.notes == (
        f"demo: held on {arn('demo', 1)} (the package it serves)",
        f"churn: released: {arn('churn', 2)} (the newest Approved package of {PREFIX}-churn)",
        "fraud: modelSource pinned: deploys what the stack file says",
        "scorer: modelSource data: deploys what the stack file says",
    )


def test_a_platform_release_holds_every_model_and_looks_nothing_up(stack: StackServing) -> None:
    plan = plan_pins(stack, DEPLOYED, release=None, newest=no_lookups)

    assert plan.assignments() == [
        ("mlops-platform:serving.models.demo.modelSource", "pinned"),
        ("mlops-platform:serving.models.demo.modelPackageArn", arn("demo", 1)),
        ("mlops-platform:serving.models.churn.modelSource", "pinned"),
        ("mlops-platform:serving.models.churn.modelPackageArn", arn("churn", 1)),
    ]
    assert not any(pin.released for pin in plan.pins)


@pytest.mark.parametrize(
    "deployed",
    [{}, {"endpointName": "mlops-platform-staging-endpoint", "endpointConfigName": "c-1"}],
    ids=["first-deployment", "single-model-outputs"],
)
def test_nothing_is_pinned_without_per_model_outputs(
    stack: StackServing, deployed: dict[str, Any]
) -> None:
    plan = plan_pins(stack, deployed, release="churn", newest=no_lookups)

    assert plan.assignments() == []
    assert plan.notes == (
        "the stack outputs have no servingModels (a first deployment): nothing pinned",
    )


def test_a_model_new_in_the_stack_file_has_nothing_to_hold(stack: StackServing) -> None:
    deployed = outputs(demo=served("demo", version=3))  # churn added since the last deploy

    plan = plan_pins(stack, deployed, release="demo", newest=lambda group: arn("demo", 4))

    assert plan.assignments() == [
        ("mlops-platform:serving.models.demo.modelSource", "pinned"),
        ("mlops-platform:serving.models.demo.modelPackageArn", arn("demo", 4)),
    ]
    assert "churn: not deployed yet: nothing to hold it on" in plan.notes[1]


def test_releasing_a_model_not_deployed_yet_leaves_its_lookup_to_the_program(
    stack: StackServing,
) -> None:
    deployed = {**outputs(demo=served("demo")), "modelPackageGroups": {"demo": f"{PREFIX}-demo"}}

    plan = plan_pins(stack, deployed, release="churn", newest=no_lookups)

    assert [pin.model for pin in plan.pins] == ["demo"]
    assert plan.notes[1] == (
        "churn: not deployed yet: its newest Approved package is looked up by the program"
    )


def test_the_stack_file_decides_the_source_the_outputs_the_package(stack: StackServing) -> None:
    # demo was pinned and is latest-approved again in the file: held until its own release;
    # fraud was latest-approved and is pinned in the file now: the committed pin deploys.
    deployed = outputs(
        demo=served("demo", source="pinned", version=5),
        churn=served("churn"),
        fraud=served("fraud", version=7),
    )

    plan = plan_pins(stack, deployed, release=None, newest=no_lookups)

    assert [(p.model, p.package_arn) for p in plan.pins] == [
        ("demo", arn("demo", 5)),
        ("churn", arn("churn", 1)),
    ]


def test_releasing_a_model_without_an_approved_package_fails(
    stack: StackServing, registry: Any
) -> None:
    register(registry, "churn", "PendingManualApproval")
    with pytest.raises(
        NoApprovedPackage, match=f"no approved model package in group '{PREFIX}-churn'"
    ):
        plan_pins(stack, DEPLOYED, release="churn", newest=newest_from(registry))


def test_releasing_a_model_the_stack_does_not_serve_names_its_key(stack: StackServing) -> None:
    with pytest.raises(ReleaseError) as raised:
        plan_pins(stack, DEPLOYED, release="ranker", newest=no_lookups)
    assert str(raised.value) == (
        "mlops-platform:serving.models.ranker: the staging stack does not serve model 'ranker' "
        "(Pulumi.staging.yaml serves: demo, churn, fraud, scorer)"
    )


def test_an_output_that_is_not_a_package_arn_is_refused(stack: StackServing) -> None:
    deployed = outputs(demo={**served("demo"), "modelPackageArn": "[secret]"})
    with pytest.raises(ReleaseError, match=r"servingModels\.demo\.modelPackageArn: expected"):
        plan_pins(stack, deployed, release=None, newest=no_lookups)


# --- two releases of one stack -----------------------------------------------------------------


def apply(stack: StackServing, assignments: list[tuple[str, str]]) -> StackServing:
    """``pulumi config set --path`` of each assignment, on a copy of the serving block."""
    models = {name: dict(keys) for name, keys in stack.models.items()}
    for key, value in assignments:
        prefix = f"{stack.project}:serving.models."
        assert key.startswith(prefix)
        model, name = key.removeprefix(prefix).split(".")
        models[model][name] = value
    return StackServing(stack.stack, stack.project, models, stack.defaults)


def deploy(stack: StackServing, newest: Callable[[str], str | None]) -> dict[str, Any]:
    """What `pulumi up` serves: the pinned package, or the newest Approved one at program time."""
    models = {}
    for model in stack.models:
        source = stack.source(model)
        if source == "pinned":
            version = int(str(stack.models[model].get("modelPackageArn")).rsplit("/", 1)[1])
        elif source == "latest-approved":
            version = int(str(newest(f"{PREFIX}-{model}")).rsplit("/", 1)[1])
        else:
            version = None
        models[model] = served(model, source=str(source), version=version)
    return outputs(**models)


def release(stack: StackServing, deployed: dict[str, Any], model: str, newest: Any) -> dict:
    plan = plan_pins(stack, deployed, release=model, newest=newest)
    return deploy(apply(stack, plan.assignments()), newest)


def package_of(deployed: dict[str, Any], model: str) -> str:
    return deployed["servingModels"][model]["modelPackageArn"]


def test_serialized_releases_of_two_models_keep_each_others_version(
    stack: StackServing, registry: Any
) -> None:
    register(registry, "demo", "Approved")
    register(registry, "churn", "Approved")
    newest = newest_from(registry)
    before = deploy(stack, newest)  # demo 1, churn 1
    register(registry, "demo", "Approved")  # demo 2 and churn 2 approved, tags pushed together
    register(registry, "churn", "Approved")

    after_churn = release(stack, before, "churn", newest)  # runs first in the stack's queue
    register(registry, "churn", "Approved")  # churn 3: approved, not released
    after_demo = release(stack, after_churn, "demo", newest)  # reads the outputs churn left

    assert package_of(after_churn, "demo") == arn("demo", 1)  # churn's release kept demo
    assert package_of(after_churn, "churn") == arn("churn", 2)
    assert package_of(after_demo, "demo") == arn("demo", 2)
    assert package_of(after_demo, "churn") == arn("churn", 2)  # neither undone nor moved to 3

    # Why the pins are read inside the serialized job: pins read before churn's release
    # finished would have put churn back on the package it served before.
    stale = release(stack, before, "demo", newest)
    assert package_of(stale, "churn") == arn("churn", 1)

    # Without any pins, a deploy moves every latest-approved model to its newest package.
    assert package_of(deploy(stack, newest), "churn") == arn("churn", 3)


# --- the CLI: check-tag, pin, models -----------------------------------------------------------


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The CLI's client factory returns the clients the test provides; records each creation."""
    provided: dict[str, Any] = {"made": []}

    def make_client(service: str, region: str | None = None) -> Any:
        provided["made"].append((service, region))
        if service not in provided:
            raise AssertionError(f"no {service} client expected")
        return provided[service]

    monkeypatch.setattr(cli, "make_client", make_client)
    return provided


def test_cli_check_tag_prints_github_outputs(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["check-tag", "--tag", "churn/v1.4.0"]
    for name in ("staging", "prod"):
        argv += ["--stack-file", str(project / f"Pulumi.{name}.yaml")]

    assert run_main(capsys, *argv) == (0, "model=churn\nversion=v1.4.0\n", "")


@pytest.mark.parametrize(
    ("tag", "fragment"),
    [
        ("churn/1.4.0", "tag 'churn/1.4.0': expected <model>/vMAJOR.MINOR.PATCH"),
        ("ranker/v1.0.0", "mlops-platform:serving.models.ranker: the staging stack does not serve"),
        # scorer is served in staging only: the release would stop half-way.
        ("scorer/v1.0.0", "mlops-platform:serving.models.scorer: the prod stack does not serve"),
    ],
)
def test_cli_check_tag_fails_with_one_line(
    project: Path, capsys: pytest.CaptureFixture[str], tag: str, fragment: str
) -> None:
    argv = ["check-tag", "--tag", tag]
    for name in ("staging", "prod"):
        argv += ["--stack-file", str(project / f"Pulumi.{name}.yaml")]

    code, out, err = run_main(capsys, *argv)

    assert (code, out) == (2, "")
    assert_one_error_line(err, fragment)


def pin_argv(project: Path, deployed: Any, *extra: str) -> list[str]:
    path = write_outputs(project / "outputs.json", deployed)
    return [
        "pin",
        "--outputs",
        str(path),
        "--stack-file",
        str(project / "Pulumi.staging.yaml"),
        *extra,
    ]


def test_cli_pin_prints_tab_separated_assignments_and_notes(
    project: Path, registry: Any, clients: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    register(registry, "churn", "Approved", "Approved")
    clients["sagemaker"] = registry

    code, out, err = run_main(
        capsys, *pin_argv(project, DEPLOYED, "--model", "churn", "--region", "eu-west-1")
    )

    assert code == 0
    assert out.splitlines() == [
        "mlops-platform:serving.models.demo.modelSource\tpinned",
        f"mlops-platform:serving.models.demo.modelPackageArn\t{arn('demo', 1)}",
        "mlops-platform:serving.models.churn.modelSource\tpinned",
        f"mlops-platform:serving.models.churn.modelPackageArn\t{arn('churn', 2)}",
    ]
    assert err.splitlines()[0] == f"staging: demo: held on {arn('demo', 1)} (the package it serves)"
    assert len(err.splitlines()) == 4 and "error" not in err
    assert clients["made"] == [("sagemaker", "eu-west-1")]


def test_cli_pin_of_a_platform_release_creates_no_client(
    project: Path, clients: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_main(capsys, *pin_argv(project, DEPLOYED))

    assert code == 0 and len(out.splitlines()) == 4
    assert clients["made"] == []


def test_cli_pin_on_a_first_deployment_prints_nothing(
    project: Path, clients: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_main(capsys, *pin_argv(project, {}, "--model", "churn"))

    assert (code, out) == (0, "")
    assert (
        err
        == "staging: the stack outputs have no servingModels (a first deployment): nothing pinned\n"
    )


@pytest.mark.parametrize(
    "case",
    [
        (DEPLOYED, "ranker", 2, "mlops-platform:serving.models.ranker: the staging stack does not"),
        ([1, 2], "churn", 2, "expected the JSON object of `pulumi stack output --json`"),
        ({"servingModels": ["demo"]}, "churn", 2, "servingModels: expected a map"),
        (DEPLOYED, "churn", 1, f"no approved model package in group '{PREFIX}-churn'"),
    ],
    ids=["unserved-model", "not-an-object", "bad-serving-models", "nothing-approved"],
)
def test_cli_pin_failures_are_one_line(
    project: Path,
    registry: Any,
    clients: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    case: tuple[Any, str, int, str],
) -> None:
    deployed, model, code, fragment = case
    clients["sagemaker"] = registry

    result = run_main(capsys, *pin_argv(project, deployed, "--model", model))

    assert result[:2] == (code, "")
    assert_one_error_line(result[2], fragment)


def test_cli_pin_unreadable_outputs(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "outputs.json").write_text("Error: no stack named 'staging' found\n")
    argv = ["pin", "--outputs", str(project / "outputs.json")]
    argv += ["--stack-file", str(project / "Pulumi.staging.yaml")]

    code, out, err = run_main(capsys, *argv)

    assert (code, out) == (2, "")
    assert_one_error_line(err, "outputs.json: not JSON")


def test_cli_models_lists_the_served_models(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_outputs(project / "outputs.json", DEPLOYED)
    assert run_main(capsys, "models", "--outputs", str(path)) == (
        0,
        "demo\nchurn\nfraud\nscorer\n",
        "",
    )
    write_outputs(path, {"endpointName": "e"})
    code, out, err = run_main(capsys, "models", "--outputs", str(path))
    assert (code, out) == (2, "")
    assert_one_error_line(err, "the stack outputs have no servingModels")


# --- smoke, watch and latest-approved by model -------------------------------------------------

PAYLOAD = b'{"instances": [[1.0, 2.0]]}'
GOOD = b'{"predictions": [1]}'


@pytest.fixture
def files(project: Path) -> dict[str, Path]:
    payload = project / "payload.json"
    payload.write_bytes(PAYLOAD)
    return {"outputs": write_outputs(project / "outputs.json", DEPLOYED), "payload": payload}


def stubbed_runtime(endpoint: str, variants: list[str | None], count: int) -> tuple[Any, Stubber]:
    client = boto3.client("sagemaker-runtime", region_name=REGION)
    stub = Stubber(client)
    for variant in variants:
        expected = {
            "EndpointName": endpoint,
            "Body": PAYLOAD,
            "ContentType": "application/json",
            "Accept": "application/json",
            **({"TargetVariant": variant} if variant else {}),
        }
        for _ in range(count):
            body = StreamingBody(io.BytesIO(GOOD), len(GOOD))
            stub.add_response("invoke_endpoint", {"Body": body}, expected)
    stub.activate()
    return client, stub


def ticking() -> Callable[[], float]:
    now = [0.0]

    def tick() -> float:
        now[0] += 0.005
        return now[0]

    return tick


def smoke_argv(files: dict[str, Path], model: str, *extra: str) -> list[str]:
    return ["smoke", "--model", model, "--outputs", str(files["outputs"]), "--payload",
            str(files["payload"]), "--count", "2", *extra]  # fmt: skip


def test_cli_smoke_by_model_invokes_the_endpoint_the_outputs_name(
    files: dict[str, Path], clients: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    clients["sagemaker-runtime"], stub = stubbed_runtime(f"{PREFIX}-demo", [None], 2)

    code, out, err = run_main(capsys, *smoke_argv(files, "demo"), timer=ticking())

    stub.assert_no_pending_responses()
    assert (code, err) == (0, "")
    assert out.startswith(f"smoke ok: endpoint '{PREFIX}-demo': 2 invocations")


def test_cli_smoke_of_an_ab_model_invokes_each_production_variant(
    files: dict[str, Path], clients: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint = f"{PREFIX}-churn"
    clients["sagemaker-runtime"], stub = stubbed_runtime(endpoint, ["primary", "challenger"], 2)

    code, out, _ = run_main(capsys, *smoke_argv(files, "churn"), timer=ticking())

    stub.assert_no_pending_responses()  # 2 routed to primary, then 2 to challenger
    assert code == 0
    assert [line.split(":")[1] for line in out.splitlines()] == [
        f" endpoint '{endpoint}' variant 'primary'",
        f" endpoint '{endpoint}' variant 'challenger'",
    ]


def test_cli_smoke_one_variant(
    files: dict[str, Path], clients: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    clients["sagemaker-runtime"], stub = stubbed_runtime(f"{PREFIX}-churn", ["challenger"], 2)

    argv = smoke_argv(files, "churn", "--variant", "challenger")
    code, _, _ = run_main(capsys, *argv, timer=ticking())

    stub.assert_no_pending_responses()
    assert code == 0


def watch_stub(endpoint: str, *described: tuple[str, str]) -> Any:
    client = boto3.client("sagemaker", region_name=REGION)
    stub = Stubber(client)
    for status, config in described:
        response = {
            "EndpointName": endpoint,
            "EndpointArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{endpoint}",
            "EndpointConfigName": config,
            "EndpointStatus": status,
            "CreationTime": "2025-01-01T00:00:00Z",
            "LastModifiedTime": "2025-01-01T00:00:00Z",
        }
        stub.add_response("describe_endpoint", response, {"EndpointName": endpoint})
    stub.activate()
    return client


@pytest.mark.parametrize(
    "case",
    [
        ("churn-config-0000001", 0, "is InService on config 'churn-config-0000001'"),
        ("churn-config-0000000", 1, "rolled back to 'churn-config-0000000'"),
    ],
)
def test_cli_watch_by_model_expects_the_config_the_outputs_name(
    files: dict[str, Path],
    clients: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    case: tuple[str, int, str],
) -> None:
    config, code, fragment = case
    clients["sagemaker"] = watch_stub(f"{PREFIX}-churn", ("InService", config))

    argv = ["watch", "--model", "churn", "--outputs", str(files["outputs"])]
    result = run_main(capsys, *argv, sleep=pytest.fail)

    assert result[0] == code
    assert fragment in (result[1] if code == 0 else result[2])


def test_cli_latest_approved_by_model_reads_the_group_from_the_outputs(
    files: dict[str, Path],
    registry: Any,
    clients: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    arns = register(registry, "churn", "Approved", "Approved", "Rejected")
    clients["sagemaker"] = registry

    argv = ["latest-approved", "--model", "churn", "--outputs", str(files["outputs"])]
    assert run_main(capsys, *argv) == (0, f"{arns[1]}\n", "")


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["watch", "--model", "ranker"], "model 'ranker': not in the stack outputs' servingModels "
         "(they list: demo, churn, fraud, scorer)"),
        (["smoke", "--model", "ranker"], "model 'ranker': not in the stack outputs' servingModels"),
        (["latest-approved", "--model", "ranker"], "model 'ranker': not in the stack outputs'"),
        (["latest-approved", "--model", "scorer"], "name no model package group for it"),
        (["smoke", "--model", "churn", "--variant", "shadow"],
         "--variant 'shadow': model 'churn' has the production variants primary, challenger"),
        (["watch", "--model", "demo", "--endpoint", "x"], "watch: give --endpoint and "
         "--expected-config, or --model with --outputs, not both"),
    ],
)  # fmt: skip
def test_cli_by_model_usage_errors_exit_2_before_any_client(
    files: dict[str, Path],
    clients: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    fragment: str,
) -> None:
    full = [*argv, "--outputs", str(files["outputs"])]
    if argv[0] == "smoke":
        full += ["--payload", str(files["payload"])]
    if argv[-1] == "scorer":  # a data model: no group in servingModels nor modelPackageGroups
        deployed = {**DEPLOYED, "modelPackageGroups": {"demo": f"{PREFIX}-demo"}}
        write_outputs(files["outputs"], deployed)

    code, out, err = run_main(capsys, *full)

    assert (code, out) == (2, "")
    assert_one_error_line(err, fragment)
    assert clients["made"] == []


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["watch", "--endpoint", "e"], "watch: give --endpoint and --expected-config, or --model"),
        (["smoke", "--payload", __file__], "smoke: give --endpoint, or --model with --outputs"),
        (["latest-approved", "--model", "demo"], "latest-approved: --model and --outputs go together"),
        (["latest-approved"], "latest-approved: give --group, or --model with --outputs"),
    ],
)  # fmt: skip
def test_cli_one_of_the_two_ways(
    clients: dict[str, Any], capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str
) -> None:
    code, out, err = run_main(capsys, *argv)

    assert (code, out) == (2, "")
    assert_one_error_line(err, fragment)
    assert clients["made"] == []


def test_a_serving_models_output_printed_as_a_json_string_is_read_too(
    files: dict[str, Path], clients: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    write_outputs(
        files["outputs"], {**DEPLOYED, "servingModels": json.dumps(DEPLOYED["servingModels"])}
    )
    clients["sagemaker"] = watch_stub(f"{PREFIX}-demo", ("InService", "demo-config-0000001"))

    argv = ["watch", "--model", "demo", "--outputs", str(files["outputs"])]
    assert run_main(capsys, *argv, sleep=pytest.fail)[0] == 0


# --- the workflows' pin steps, run in bash -----------------------------------------------------
# The real step scripts, the real `python -m ops pin`, a fake `pulumi` on PATH that prints the
# outputs fixture and records every `config set`, and moto's SageMaker as a local server reached
# through AWS_ENDPOINT_URL (as a job would reach a VPC endpoint or LocalStack).

FAKE_PULUMI = """#!/bin/sh
# pulumi stack output --json --stack S  |  pulumi config set --path K V --stack S
if [ "$1 $2 $3" = "stack output --json" ]; then cat "$FAKE_OUTPUTS"; exit 0; fi
if [ "$1 $2 $3" = "config set --path" ]; then printf '%s|%s|%s\\n' "$4" "$5" "$7" >> "$FAKE_LOG"; exit 0; fi
echo "fake pulumi: unexpected $*" >&2; exit 3
"""


@pytest.fixture(scope="module")
def moto_url(moto_server: str) -> str:
    return moto_server


@pytest.fixture
def checkout(project: Path) -> dict[str, Any]:
    """The project directory as a job's checkout: `.venv/bin/python` runs this interpreter,
    `pulumi` is the fake; returns the environment a step runs with."""
    (project / ".venv" / "bin").mkdir(parents=True)
    python = project / ".venv" / "bin" / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    fakes = project / "fake-bin"
    fakes.mkdir()
    (fakes / "pulumi").write_text(FAKE_PULUMI)
    for path in (python, fakes / "pulumi"):
        path.chmod(0o755)
    (project / "runner-temp").mkdir()
    (project / "ops").symlink_to(ROOT / "ops")  # `python -m ops` from the checkout's root
    env = {
        "PATH": f"{fakes}:/usr/bin:/bin",
        "HOME": str(project),
        "RUNNER_TEMP": str(project / "runner-temp"),
        "FAKE_OUTPUTS": str(write_outputs(project / "fake-outputs.json", DEPLOYED)),
        "FAKE_LOG": str(project / "config-set.log"),
        **{k: v for k, v in os.environ.items() if k.startswith("AWS_")},
    }
    return {"dir": project, "env": env, "log": project / "config-set.log"}


def run_bash(checkout: dict[str, Any], script: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=checkout["dir"],
        env={**checkout["env"], **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def config_sets(checkout: dict[str, Any]) -> list[list[str]]:
    log = checkout["log"]
    return [line.split("|") for line in log.read_text().splitlines()] if log.exists() else []


def github_step(file: str, job: str, name: str) -> str:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / file).read_text())
    (step,) = [s for s in workflow["jobs"][job]["steps"] if s.get("name") == name]
    return step["run"]


def seeded(moto_url: str) -> Any:
    """A client of the moto server, reset to an empty registry."""
    request = urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    return boto3.client("sagemaker", region_name=REGION, endpoint_url=moto_url)


def test_the_model_release_pin_step_sets_the_pins_in_the_checkout(
    checkout: dict[str, Any], moto_url: str
) -> None:
    client = seeded(moto_url)
    register(client, "demo", "Approved", "Approved")
    register(client, "churn", "Approved", "Approved", "Approved")
    script = github_step(
        "release-model.yml", "staging", "Pin the released model and hold every other model"
    )

    result = run_bash(checkout, script, MODEL="churn", AWS_ENDPOINT_URL=moto_url)

    assert result.returncode == 0, result.stderr
    assert config_sets(checkout) == [
        ["mlops-platform:serving.models.demo.modelSource", "pinned", "staging"],
        ["mlops-platform:serving.models.demo.modelPackageArn", arn("demo", 1), "staging"],
        ["mlops-platform:serving.models.churn.modelSource", "pinned", "staging"],
        ["mlops-platform:serving.models.churn.modelPackageArn", arn("churn", 3), "staging"],
    ]
    assert "staging: churn: released:" in result.stderr


def test_the_platform_release_hold_step_holds_every_model(checkout: dict[str, Any]) -> None:
    script = github_step("release.yml", "prod", "Hold every model on the package it serves")
    prod = read_stack_serving(checkout["dir"] / "Pulumi.prod.yaml")
    assert list(prod.models) == ["demo", "churn", "fraud"]

    # No AWS at all: nothing listens on this endpoint.
    result = run_bash(checkout, script, AWS_ENDPOINT_URL="http://127.0.0.1:9")

    assert result.returncode == 0, result.stderr
    assert [(key.split(".")[2], value) for key, value, _ in config_sets(checkout)] == [
        ("demo", "pinned"),
        ("demo", arn("demo", 1)),
        ("churn", "pinned"),
        ("churn", arn("churn", 1)),
    ]
    assert {stack for _, _, stack in config_sets(checkout)} == {"prod"}


def test_the_pin_step_of_a_first_deployment_sets_nothing(checkout: dict[str, Any]) -> None:
    write_outputs(Path(checkout["env"]["FAKE_OUTPUTS"]), {})
    script = github_step(
        "release-model.yml", "prod", "Pin the released model and hold every other model"
    )

    result = run_bash(checkout, script, MODEL="churn")

    assert result.returncode == 0, result.stderr
    assert config_sets(checkout) == []


def test_the_pin_step_stops_the_job_on_a_model_the_stack_does_not_serve(
    checkout: dict[str, Any],
) -> None:
    script = github_step(
        "release-model.yml", "staging", "Pin the released model and hold every other model"
    )

    result = run_bash(checkout, script, MODEL="ranker")

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: mlops-platform:serving.models.ranker: the staging stack does not serve model "
        "'ranker' (Pulumi.staging.yaml serves: demo, churn, fraud, scorer)"
    ]
    assert config_sets(checkout) == []


def test_the_gitlab_pin_helper_does_the_same(checkout: dict[str, Any], moto_url: str) -> None:
    client = seeded(moto_url)
    register(client, "demo", "Approved", "Approved")
    register(client, "churn", "Approved")
    gitlab = yaml.safe_load((ROOT / ".gitlab-ci.yml").read_text())
    helpers = gitlab[".release"]["before_script"][-1]

    result = run_bash(checkout, f"{helpers}\npin_models staging demo\n", AWS_ENDPOINT_URL=moto_url)

    assert result.returncode == 0, result.stderr
    assert [(key.split(".")[2], value) for key, value, _ in config_sets(checkout)] == [
        ("demo", "pinned"),
        ("demo", arn("demo", 2)),
        ("churn", "pinned"),
        ("churn", arn("churn", 1)),
    ]
