"""Training pipelines in the three stacks: the plans show the orchestrator and one pipeline per
served model with its service account and IRSA role; bad `pipelines` config exits 2 naming the
key."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from test_plan import _all, _delete, _set, run_main, stack_config, write_project

PIPELINES = "mlops-platform:pipelines"
DEMO = (PIPELINES, "models", "demo")
RELEASE = "kubernetes:helm.sh/v3:Release"
TEMPLATE = "kubernetes:argoproj.io/v1alpha1:WorkflowTemplate"
CRON = "kubernetes:argoproj.io/v1alpha1:CronWorkflow"


def of_type(plan: dict[str, Any], type_: str) -> list[dict[str, Any]]:
    return [r for r in plan["resources"] if r["type"] == type_]


def one(plan: dict[str, Any], type_: str, name: str) -> dict[str, Any]:
    (found,) = [r for r in of_type(plan, type_) if r["name"] == name]
    return found


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_each_stack_runs_argo_and_a_pipeline_per_model(plans, stack):
    plan = plans[stack]
    (release,) = [r for r in of_type(plan, RELEASE) if r["inputs"]["chart"] == "argo-workflows"]
    assert release["inputs"]["namespace"] == "pipelines"
    assert release["inputs"]["values"]["crds"]["full"] is False
    assert release["inputs"]["values"]["singleNamespace"] is True
    groups = plan["outputs"]["modelPackageGroups"]
    assert set(plan["outputs"]["trainingPipelines"]) == set(groups)
    for model in groups:
        template = one(plan, TEMPLATE, f"{model}-pipeline-template")
        assert template["inputs"]["metadata"]["name"] == f"{model}-training"
        account = one(
            plan, "kubernetes:core/v1:ServiceAccount", f"{model}-pipeline-service-account"
        )
        role = one(plan, "aws:iam/role:Role", f"{model}-pipeline-role-role")
        assert (
            account["inputs"]["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
            == (role["outputs"]["arn"])
        )
        assert plan["outputs"]["pipelineRoleArns"][model] == role["outputs"]["arn"]
        assert role["inputs"]["permissionsBoundary"]  # under the CI deploy role's boundary
        register = next(
            t for t in template["inputs"]["spec"]["templates"] if t["name"] == "register"
        )["container"]["args"]
        group = register[register.index("--group") + 1]
        assert group == groups[model]
        assert ("--approve" in register) is (stack == "dev")


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_staging_and_prod_retrain_on_a_schedule_and_log_to_mlflow(plans, stack):
    plan = plans[stack]
    crons = {c["name"]: c["inputs"]["spec"]["schedules"] for c in of_type(plan, CRON)}
    assert set(crons) == {f"{m}-pipeline-cron" for m in plan["outputs"]["trainingPipelines"]}
    assert crons["demo-pipeline-cron"] == ["0 3 * * 1"]
    document = json.loads(
        one(plan, "aws:iam/rolePolicy:RolePolicy", "demo-pipeline-role-pipeline")["inputs"][
            "policy"
        ]
    )
    statements = {s["Sid"]: s for s in document["Statement"]}
    (server,) = of_type(plan, "aws:sagemaker/mlflowTrackingServer:MlflowTrackingServer")
    assert statements["LogToTrackingServer"]["Resource"] == server["outputs"]["arn"]
    condition = statements["RegisterInOwnGroup"]["Condition"]["StringEquals"]
    assert condition == {"sagemaker:ModelApprovalStatus": "PendingManualApproval"}


def test_runners_may_submit_only_the_pipelines_templates(plans):
    plan = plans["prod"]
    account = one(plan, "kubernetes:core/v1:ServiceAccount", "github-runners-service-account")
    assert account["inputs"]["automountServiceAccountToken"] is True
    (policy,) = of_type(
        plan, "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"
    )
    expression = policy["inputs"]["spec"]["validations"][1]["expression"]
    assert (
        "'system:serviceaccount:arc-runners:github-runner': ['churn-training', 'demo-training']"
        in expression
    )


def _prod(config: dict[str, Any]) -> None:
    config.clear()
    config.update(copy.deepcopy(stack_config("prod")))


BAD = [
    (
        "unknown model",
        _set(
            (*DEMO[:2], "forecast"),
            {
                "repository": "https://github.com/a/b.git",
                "metrics": ["accuracy"],
                "gate": {"metric": "accuracy"},
            },
        ),
        'mlops-platform:pipelines.models.forecast: got "forecast"; unknown model',
    ),
    (
        "cron Argo rejects",
        _set((*DEMO, "schedule"), "0 3 * * 8"),
        'mlops-platform:pipelines.models.demo.schedule: got "0 3 * * 8"; day of week field',
    ),
    (
        "gate metric the evaluation does not produce",
        _set((*DEMO, "gate", "metric"), "f1"),
        'mlops-platform:pipelines.models.demo.gate.metric: got "f1"; the evaluation does not '
        "produce it (metrics: test_accuracy)",
    ),
    (
        "negative threshold",
        _set((*DEMO, "gate", "minImprovement"), -0.01),
        "mlops-platform:pipelines.models.demo.gate.minImprovement: got -0.01",
    ),
    (
        "negative relative threshold",
        _set((*DEMO, "gate", "minRelativeImprovement"), -1),
        "mlops-platform:pipelines.models.demo.gate.minRelativeImprovement: got -1; "
        "expected a number of 0 or more",
    ),
    (
        "auto-approval in prod",
        _all(_prod, _set((*DEMO, "autoApprove"), True)),
        "mlops-platform:pipelines.models.demo.autoApprove: got true; prod registers packages as "
        "PendingManualApproval",
    ),
    (
        "unknown pipeline key",
        _set((*DEMO, "shedule"), "@daily"),
        'mlops-platform:pipelines.models.demo.shedule: got "@daily"; unknown key',
    ),
    (
        "direction",
        _set((*DEMO, "gate", "direction"), "up"),
        'mlops-platform:pipelines.models.demo.gate.direction: got "up"; expected one of max, min',
    ),
    (
        "missing gate",
        _delete(*DEMO, "gate"),
        "mlops-platform:pipelines.models.demo.gate: got nothing (the key is missing)",
    ),
    (
        "missing image tag",
        _delete(PIPELINES, "imageTag"),
        "mlops-platform:pipelines.imageTag: got nothing",
    ),
    (
        "no training repository",
        _set(("mlops-platform:registry", "repositories"), ["serving"]),
        'mlops-platform:registry.repositories: got ["serving"]; mlops-platform:pipelines needs a '
        "'training' repository",
    ),
    (
        "auth mode",
        _set((PIPELINES, "authMode"), "server"),
        'mlops-platform:pipelines.authMode: got "server"; expected one of client, sso',
    ),
]


@pytest.mark.parametrize(("mutate", "expected"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_pipelines_config_exits_2_naming_the_key(tmp_path, capsys, mutate, expected):
    config = copy.deepcopy(stack_config("dev"))
    mutate(config)
    code, out, err = run_main(
        capsys, "--stack", "bad", "--project-dir", str(write_project(tmp_path, config))
    )
    assert (code, out) == (2, "")
    (line,) = err.splitlines()
    assert line.startswith("error: invalid config ") and expected in line, line
