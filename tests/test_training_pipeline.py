"""The training pipeline end to end on this machine: the rendered WorkflowTemplate's own steps
run against moto's server on 127.0.0.1 (S3 as the DVC remote and artifact store, SageMaker's
model registry) with the model template of examples/ml-project and file-based MLflow.

A small stand-in for Argo runs the template: it clones the git artifact at the requested
revision, runs each DAG task's container command (``python -m mlops_platform.ops ...``, in
.venv-dvc: the training environment) in dependency order with Argo's paths mapped to a
temporary directory, uploads the ``model`` output artifact to the key the template names, and
stops at the first failing step, as Argo does. Outcomes: the first model of a group registers;
a better one registers as PendingManualApproval with its metrics; a worse one stops at the gate
with a one-line reason; a data set that breaks the schema stops before training; a missing
revision fails the fetch; MLflow receives each trained run and the package records its id;
a failed run registers nothing. The team's committed ``.dvc/config`` names another stack's
remote as its default: the fetch pulls from the stack's own remote, which the template names.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from conftest import ROOT
from test_ml_project import dvc_env

from mlops_platform.components.pipelines import (
    GateSettings,
    TrainingPipelineArgs,
    dvc_remote_url,
    validate_manifest,
    workflow_template,
)

TEMPLATE = ROOT / "examples" / "ml-project"
DVC_BIN = ROOT / ".venv-dvc" / "bin"
REGION = "eu-west-1"
GROUP = "mlops-platform-dev-iris"
DVC_BUCKET = "dvc-remote-bucket"
# The remote the team committed as its default: another stack's, which this stack cannot read.
OTHER_STACK_REMOTE = "s3://prod-dvc-remote-bucket/dvc"
ARTIFACTS = "artifacts-bucket"
SERVING_IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlops-platform/dev/serving:v1"
ARGO_PATHS = {"/work/repo": "repo", "/work/out": "out"}

pytestmark = pytest.mark.skipif(
    not (DVC_BIN / "dvc").exists() or shutil.which("git") is None,
    reason="needs git and .venv-dvc (make venv-dvc)",
)


@dataclass
class Run:
    """How one emulated workflow ended."""

    steps: list[str]
    failed: str | None
    stderr: str
    stdout: dict[str, str]


def git(*args: str, cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture(scope="module")
def moto(moto_server: str) -> str:
    return moto_server


@pytest.fixture(scope="module")
def world(moto: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The buckets, the model package group and the model team's repository (on disk)."""
    base = tmp_path_factory.mktemp("pipeline")
    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )
    s3 = session.client("s3", endpoint_url=moto)
    for bucket in (DVC_BUCKET, ARTIFACTS):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    sagemaker = session.client("sagemaker", endpoint_url=moto)
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)

    env = dvc_env(base)  # the dvc venv on PATH, fake credentials, a throw-away HOME
    env = {k: v for k, v in env.items() if not k.startswith("MLFLOW_")}
    env.update(
        AWS_ENDPOINT_URL=moto,
        MLFLOW_TRACKING_URI=(base / "mlruns").as_uri(),
        MLFLOW_ALLOW_FILE_STORE="true",  # file-based tracking, as the tests' stand-in
    )
    home = Path(env["HOME"])
    # Git config for the clones Argo's git artifact would make: the emulator's endpoint.
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n", encoding="utf-8")

    repo = base / "team"
    shutil.copytree(TEMPLATE, repo, ignore=shutil.ignore_patterns("__pycache__"))
    dvc = str(DVC_BIN / "dvc")
    git("init", "-q", "-b", "main", cwd=repo, env=env)
    subprocess.run([dvc, "init", "-q"], cwd=repo, env=env, check=True)
    # The committed default is another stack's remote (no such bucket here); the team pushes
    # each stack's data to that stack's remote by name (README "Training pipelines"). The
    # emulator's endpoint comes from AWS_ENDPOINT_URL, which DVC's S3 client honours.
    for argv in (
        ["remote", "add", "-d", "prod", OTHER_STACK_REMOTE],
        ["remote", "add", "dev", f"s3://{DVC_BUCKET}/dvc"],
    ):
        subprocess.run([dvc, *argv], cwd=repo, env=env, check=True)
    subprocess.run(
        [str(DVC_BIN / "python"), "src/make_dataset.py", "data/iris.csv"],
        cwd=repo, env=env, check=True, capture_output=True,
    )  # fmt: skip
    return {"base": base, "env": env, "repo": repo, "s3": s3, "sagemaker": sagemaker, "runs": 0}


def commit(world: dict[str, Any], message: str, *, c: float | None = None) -> str:
    """Version the data with DVC, set the train.C parameter, commit; return the SHA."""
    repo, env, dvc = world["repo"], world["env"], str(DVC_BIN / "dvc")
    if c is not None:
        params = yaml.safe_load((repo / "params.yaml").read_text(encoding="utf-8"))
        params["train"]["C"] = c
        (repo / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    for argv in (["add", "-q", "data/iris.csv"], ["push", "-q", "-r", "dev"]):
        result = subprocess.run(
            [dvc, *argv], cwd=repo, env=env, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stderr
    git("add", "-A", cwd=repo, env=env)
    git("commit", "-q", "-m", message, cwd=repo, env=env)
    return git("rev-parse", "HEAD", cwd=repo, env=env)


def pipeline_args(world: dict[str, Any]) -> TrainingPipelineArgs:
    return TrainingPipelineArgs(
        model="iris",
        oidc_provider_arn="arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/X",
        oidc_issuer="https://oidc.eks.eu-west-1.amazonaws.com/id/X",
        repository_url="https://github.com/my-org/iris-classifier.git",
        image="123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlops-platform/dev/training:v1",
        serving_image=SERVING_IMAGE,
        model_package_group=GROUP,
        metrics=["test_accuracy"],
        gate=GateSettings(metric="test_accuracy", min_improvement=0.01, floor=0.5),
        dvc_bucket_arn=f"arn:aws:s3:::{DVC_BUCKET}",
        artifacts_bucket=ARTIFACTS,
        artifacts_bucket_arn=f"arn:aws:s3:::{ARTIFACTS}",
        kms_key_arn="arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-4333-a444-555555555555",
        data_path="data/iris.csv",
        schema_path="data/schema.yaml",
    )


def substitute(text: str, values: dict[str, str], root: Path) -> str:
    for argo_path, local in ARGO_PATHS.items():
        text = text.replace(argo_path, str(root / local))
    return re.sub(r"\{\{([\w.-]+)\}\}", lambda m: values[m.group(1)], text)


def run_template(world: dict[str, Any], revision: str) -> Run:
    """Run the rendered WorkflowTemplate's DAG the way Argo would, on this machine."""
    manifest = workflow_template(
        pipeline_args(world),
        image="unused",
        serving_image=SERVING_IMAGE,
        artifacts_bucket=ARTIFACTS,
        tracking_uri=world["env"]["MLFLOW_TRACKING_URI"],
        dvc_remote_url=dvc_remote_url(f"arn:aws:s3:::{DVC_BUCKET}", "dvc"),
    )
    validate_manifest(manifest)
    spec = manifest["spec"]
    templates = {t["name"]: t for t in spec["templates"]}
    world["runs"] += 1
    root = world["base"] / f"run-{world['runs']}"
    (root / "out").mkdir(parents=True)
    name = f"iris-training-{world['runs']}"
    values = {"workflow.name": name, "workflow.parameters.revision": revision}
    outputs: dict[str, dict[str, str]] = {}
    done: list[str] = []
    stdout: dict[str, str] = {}
    for task in templates[spec["entrypoint"]]["dag"]["tasks"]:
        template = templates[task["template"]]
        step_values = dict(values)
        for argument in task.get("arguments", {}).get("parameters", []):
            source = re.fullmatch(
                r"\{\{tasks\.([\w-]+)\.outputs\.parameters\.([\w-]+)\}\}", argument["value"]
            )
            assert source, argument
            step_values[f"inputs.parameters.{argument['name']}"] = outputs[source[1]][source[2]]
        for artifact in template.get("inputs", {}).get("artifacts", []):
            if "git" in artifact:  # Argo clones the repository at the revision
                target = Path(substitute(artifact["path"], step_values, root))
                subprocess.run(
                    ["git", "clone", "-q", str(world["repo"]), str(target)],
                    env=world["env"],
                    check=True,
                )
                checkout = subprocess.run(
                    ["git", "checkout", "-q", substitute(artifact["git"]["revision"], step_values, root)],
                    cwd=target, env=world["env"], capture_output=True, text=True, check=False,
                )  # fmt: skip
                if checkout.returncode != 0:
                    return Run(done, task["name"], "git artifact: " + checkout.stderr, stdout)
        container = template["container"]
        argv = [
            substitute(a, step_values, root) for a in [*container["command"], *container["args"]]
        ]
        argv[0] = str(DVC_BIN / "python")
        env = dict(world["env"])
        env.update(
            {
                e["name"]: e["value"]
                for e in container.get("env", [])
                if e["name"] != "MLFLOW_TRACKING_URI"
            }
        )
        cwd = Path(substitute(container.get("workingDir", "/work/out"), step_values, root))
        result = subprocess.run(
            argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
        )
        stdout[task["name"]] = result.stdout
        if result.returncode != 0:
            return Run(done, task["name"], result.stderr, stdout)
        done.append(task["name"])
        outputs[task["name"]] = {
            p["name"]: Path(substitute(p["valueFrom"]["path"], step_values, root)).read_text()
            for p in template.get("outputs", {}).get("parameters", [])
        }
        for artifact in template.get("outputs", {}).get("artifacts", []):
            key = substitute(artifact["s3"]["key"], step_values, root)
            if key.startswith("models/"):  # what register points the package at
                world["s3"].upload_file(
                    substitute(artifact["path"], step_values, root), ARTIFACTS, key
                )
    return Run(done, None, "", stdout)


def packages(world: dict[str, Any]) -> list[dict[str, Any]]:
    summaries = world["sagemaker"].list_model_packages(ModelPackageGroupName=GROUP)[
        "ModelPackageSummaryList"
    ]
    return sorted(
        (
            world["sagemaker"].describe_model_package(ModelPackageName=s["ModelPackageArn"])
            for s in summaries
        ),
        key=lambda p: p["ModelPackageVersion"],
    )


def mlflow_runs(world: dict[str, Any]) -> list[Path]:
    return sorted((world["base"] / "mlruns").glob("*/*/meta.yaml"))


def tracked_run(world: dict[str, Any], package: dict[str, Any], run: Run) -> Path:
    """The MLflow run directory a package names (``mlflow.run_id``): the one the train step
    logged and passed on to register."""
    run_id = package["CustomerMetadataProperties"]["mlflow.run_id"]
    assert f"(MLflow run {run_id})" in run.stdout["train"]
    (run_dir,) = [m.parent for m in mlflow_runs(world) if m.parent.name == run_id]
    return run_dir


ALL_STEPS = ["fetch", "validate-data", "train", "evaluate", "gate", "register"]


def test_pipeline_outcomes_end_to_end(world: dict[str, Any]) -> None:
    # 1. The first model of a group (no champion) registers, pending, with its metrics.
    first = commit(world, "first model", c=0.003)
    run = run_template(world, first)
    assert (run.failed, run.steps) == (None, ALL_STEPS), run.stderr
    assert "no approved champion yet" in run.stdout["gate"]
    (package,) = packages(world)
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    assert package["CustomerMetadataProperties"]["metric.test_accuracy"] == "0.8421"
    assert package["CustomerMetadataProperties"]["data.revision"] == first
    assert package["MetadataProperties"]["CommitId"] == first
    container = package["InferenceSpecification"]["Containers"][0]
    assert container["Image"] == SERVING_IMAGE
    key = container["ModelDataUrl"].removeprefix(f"s3://{ARTIFACTS}/")
    assert key == "models/iris/iris-training-1/model.tar.gz"
    assert world["s3"].head_object(Bucket=ARTIFACTS, Key=key)["ContentLength"] > 0
    # MLflow received the run: parameters, metrics and the model; the package names the run.
    (run_meta,) = mlflow_runs(world)
    assert tracked_run(world, package, run) == run_meta.parent
    assert (run_meta.parent / "params" / "C").read_text() == "0.003"
    assert (run_meta.parent / "metrics" / "test_accuracy").read_text().split()[1] == "0.8421"
    assert list((world["base"] / "mlruns").glob("*/models/*/artifacts/MLmodel")), "no model"
    # A person approves it: it becomes the champion.
    world["sagemaker"].update_model_package(
        ModelPackageArn=package["ModelPackageArn"],
        ModelApprovalStatus="Approved",
        # moto 5.2.5 drops the properties an UpdateModelPackage does not repeat (AWS keeps
        # them); repeating them changes nothing on AWS.
        CustomerMetadataProperties=package["CustomerMetadataProperties"],
    )

    # 2. A better model registers as pending, with its metrics.
    better = commit(world, "better model", c=1.0)
    run = run_template(world, better)
    assert run.failed is None, run.stderr
    assert "0.9737 vs champion 0.8421" in run.stdout["gate"]
    registered = packages(world)
    assert len(registered) == 2
    assert registered[1]["ModelApprovalStatus"] == "PendingManualApproval"
    assert registered[1]["CustomerMetadataProperties"]["metric.test_accuracy"] == "0.9737"
    assert tracked_run(world, registered[1], run) != run_meta.parent

    # 3. A worse model stops at the gate with one line naming both values; nothing registers.
    worse = commit(world, "worse model", c=0.01)
    run = run_template(world, worse)
    assert run.failed == "gate" and run.steps == ALL_STEPS[:4]
    (line,) = run.stderr.splitlines()
    assert line.startswith("error: candidate test_accuracy 0.7895 vs champion 0.8421"), line
    assert len(packages(world)) == 2
    assert len(mlflow_runs(world)) == 3  # it was trained and tracked, just not registered

    # 4. A data set that breaks the schema stops before training; nothing trains or registers.
    data = world["repo"] / "data" / "iris.csv"
    rows = data.read_text(encoding="utf-8").splitlines()
    rows[5] = rows[5].replace("setosa", "unknown-species")
    rows[7] = "-1," + rows[7].split(",", 1)[1]
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")
    broken = commit(world, "broken data", c=1.0)
    run = run_template(world, broken)
    assert run.failed == "validate-data" and run.steps == ["fetch"]
    (line,) = run.stderr.splitlines()
    assert "breaks the schema in 2 place(s)" in line and "unknown-species" in line, line
    assert len(packages(world)) == 2 and len(mlflow_runs(world)) == 3

    # 5. A revision that does not exist fails the first step.
    run = run_template(world, "no-such-branch")
    assert run.failed == "fetch" and run.steps == []
    assert len(packages(world)) == 2


def test_fetch_names_a_missing_revision_in_one_line(world: dict[str, Any], tmp_path: Path) -> None:
    result = subprocess.run(
        [str(DVC_BIN / "python"), "-m", "mlops_platform.ops", "fetch", "--repo", str(world["repo"]),
         "--revision", "v9.9.9", "--workdir", str(tmp_path / "clone")],
        env=world["env"], capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert (
        result.stderr
        == "error: revision 'v9.9.9' is not in the repository (a branch, tag or commit)\n"
    )


def test_template_declares_the_platforms_pipeline_settings() -> None:
    """The template's pipeline.yaml uses the metrics train.py writes and the schema it ships."""
    declared = yaml.safe_load((TEMPLATE / "pipeline.yaml").read_text(encoding="utf-8"))
    assert declared["gate"]["metric"] in declared["metrics"]
    assert (TEMPLATE / declared["schemaPath"]).is_file()
    assert "test_accuracy" in (TEMPLATE / "src" / "train.py").read_text(encoding="utf-8")
    json.dumps(declared)  # plain data, as a stack file holds it


def test_template_ci_submits_the_pipeline_on_main_from_the_platforms_runners() -> None:
    from test_workflows import load_workflow

    workflow = load_workflow(TEMPLATE / ".github" / "workflows" / "train-and-build.yml")
    job = workflow["jobs"]["pipeline"]
    assert job["runs-on"] == "mlops-cpu" and job["if"] == "github.event_name == 'push'"
    assert job["permissions"] == {"contents": "read"}  # no AWS role: the pipeline has its own
    assert job["env"]["REVISION"] == "${{ github.sha }}"
    scripts = "\n".join(step.get("run", "") for step in job["steps"])
    assert (
        'python -m mlops_platform.ops submit --model "$MODEL" --revision "$REVISION" --wait'
        in scripts
    )


def test_fetch_pulls_from_the_stacks_remote_not_the_committed_default(
    world: dict[str, Any], tmp_path: Path
) -> None:
    sha = commit(world, "data for the remote test", c=0.5)
    committed = (world["repo"] / ".dvc" / "config").read_text(encoding="utf-8")
    assert f"url = {OTHER_STACK_REMOTE}" in committed and "remote = prod" in committed

    def fetch(workdir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(DVC_BIN / "python"), "-m", "mlops_platform.ops", "fetch", "--repo", str(world["repo"]),
             "--revision", sha, "--workdir", str(workdir), *extra],
            env=world["env"], capture_output=True, text=True, check=False,
        )  # fmt: skip

    # A bare dvc pull reads the committed default: another stack's bucket, a failed fetch.
    bare = fetch(tmp_path / "bare")
    assert bare.returncode == 1 and bare.stderr.startswith("error: dvc pull of "), bare.stderr
    # With the stack's remote the data arrives; the committed config is left as it was.
    ours = fetch(tmp_path / "ours", "--remote-url", f"s3://{DVC_BUCKET}/dvc")
    assert ours.returncode == 0, ours.stderr
    assert (tmp_path / "ours" / "data" / "iris.csv").stat().st_size > 0
    assert (tmp_path / "ours" / ".dvc" / "config").read_text(encoding="utf-8") == committed
    local = (tmp_path / "ours" / ".dvc" / "config.local").read_text(encoding="utf-8")
    assert f"url = s3://{DVC_BUCKET}/dvc" in local


def test_fetch_rejects_a_remote_that_is_not_a_url(world: dict[str, Any], tmp_path: Path) -> None:
    result = subprocess.run(
        [str(DVC_BIN / "python"), "-m", "mlops_platform.ops", "fetch", "--repo", str(world["repo"]),
         "--workdir", str(tmp_path / "clone"), "--remote-url", "dvc-remote-bucket"],
        env=world["env"], capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr == (
        "error: --remote-url: expected a DVC remote URL such as s3://bucket/dvc, "
        "got 'dvc-remote-bucket'\n"
    )
