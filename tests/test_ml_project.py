"""examples/ml-project, the model team's template: its training writes a model the platform's
serving code loads, its CI workflow runs on the platform's runners, and the real ``dvc``
(pinned in the template's requirements, installed in .venv-dvc by ``make venv-dvc``) pushes to
and pulls from an S3 API (moto's server on 127.0.0.1) with exactly the ``.dvc/config`` the
platform's stack exports.
"""

from __future__ import annotations

import filecmp
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import boto3
import numpy as np
import pytest
import yaml
from conftest import ROOT
from test_workflows import SHA_PINNED, USES_LINE, VERSION_COMMENT, load_workflow

from mlops_platform.infra import plan
from mlops_platform.serving.model import load_model

TEMPLATE = ROOT / "examples" / "ml-project"
DVC_BIN = ROOT / ".venv-dvc" / "bin"
WORKFLOWS = sorted((TEMPLATE / ".github" / "workflows").glob("*.yml"))
# The platform's self-hosted runner scale sets (actions-runner-controller). One place for the
# names: align with the cluster's runner component when it lands.
RUNNER_SCALE_SETS = ("mlops-cpu", "mlops-gpu")
REGION = "eu-west-1"
SAMPLE = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
    return result.stdout


# --- training ---------------------------------------------------------------------------------


def test_training_writes_a_model_the_serving_code_loads(tmp_path):
    data = tmp_path / "data" / "iris.csv"
    run(sys.executable, TEMPLATE / "src" / "make_dataset.py", data, cwd=tmp_path)
    run(
        sys.executable, TEMPLATE / "src" / "train.py", "--data", data, "--out", tmp_path / "model",
        "--metrics", tmp_path / "metrics.json", cwd=tmp_path,
    )  # fmt: skip

    model = load_model(tmp_path / "model")
    assert model.n_features == 4
    assert list(model.predict(np.asarray(SAMPLE))) == ["setosa", "virginica"]
    assert model.metadata["classes"] == ["setosa", "versicolor", "virginica"]
    assert (tmp_path / "metrics.json").read_text().count("test_accuracy") == 1


def pins(path: Path) -> dict[str, str]:
    found = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)$", path.read_text(encoding="utf-8"), re.M)
    return {name.lower(): version for name, version in found}


def test_training_uses_the_versions_the_serving_image_runs():
    template, serving = (
        pins(TEMPLATE / "requirements.txt"),
        pins(ROOT / "serving" / "requirements.txt"),
    )
    for name in ("scikit-learn", "numpy", "scipy", "joblib", "threadpoolctl"):
        assert template[name] == serving[name], name


def test_template_requirements_are_all_pinned():
    lines = (TEMPLATE / "requirements.txt").read_text(encoding="utf-8").splitlines()
    requirements = [line for line in lines if line.strip() and not line.startswith("#")]
    assert requirements and all(re.fullmatch(r"[A-Za-z0-9_.-]+==\S+", r) for r in requirements)


def test_pipeline_trains_from_the_dvc_tracked_data():
    stage = yaml.safe_load((TEMPLATE / "dvc.yaml").read_text(encoding="utf-8"))["stages"]["train"]
    assert "data/iris.csv" in stage["deps"] and "src/train.py" in stage["deps"]
    assert stage["outs"] == ["model"]
    params = yaml.safe_load((TEMPLATE / "params.yaml").read_text(encoding="utf-8"))["train"]
    for name in params:
        assert f"${{train.{name}}}" in stage["cmd"], name


# --- the team's CI workflow -------------------------------------------------------------------


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_runs_on_the_platform_runners_with_oidc_only(path):
    workflow = load_workflow(path)
    text = path.read_text(encoding="utf-8")
    assert workflow["permissions"] == {"contents": "read"}
    assert "secrets." not in text and "AWS_SECRET_ACCESS_KEY" not in text
    for job_id, job in workflow["jobs"].items():
        assert job["runs-on"] in RUNNER_SCALE_SETS, job_id
        assert 0 < job["timeout-minutes"] <= 180, job_id
        assumes_role = any(
            step.get("uses", "").startswith("aws-actions/configure-aws-credentials@")
            for step in job["steps"]
        )
        assert (job.get("permissions", {}).get("id-token") == "write") == assumes_role, job_id
        for step in job["steps"]:
            assert "${{" not in step.get("run", ""), step
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_actions_are_pinned_like_the_platforms(path):
    platform_pins = {
        match["ref"]
        for workflow in (ROOT / ".github" / "workflows").glob("*.yml")
        for line in workflow.read_text(encoding="utf-8").splitlines()
        if (match := USES_LINE.match(line))
    }
    for line in path.read_text(encoding="utf-8").splitlines():
        match = USES_LINE.match(line)
        if match:
            assert SHA_PINNED.match(match["ref"]) and VERSION_COMMENT.match(match["comment"])
            assert match["ref"] in platform_pins, f"{match['ref']}: the platform pins another"


def test_workflow_trains_with_dvc_and_pushes_the_serving_image():
    (path,) = WORKFLOWS
    workflow = load_workflow(path)
    train, image = workflow["jobs"]["train"], workflow["jobs"]["image"]
    scripts = "\n".join(step.get("run", "") for step in train["steps"])
    assert "dvc pull" in scripts and "dvc repro" in scripts and "dvc push" in scripts
    assert image["needs"] == "train"
    build = "\n".join(step.get("run", "") for step in image["steps"])
    assert "docker push" in build and "mlops_platform.serving as s" in build
    assert image["env"]["REPOSITORY"] == "${{ vars.MLOPS_SERVING_REPOSITORY }}"
    from mlops_platform import components

    assert f"mlops-platform@v{components.__version__}" in workflow["env"]["MLOPS_PLATFORM"]


# --- dvc against an S3 emulator ---------------------------------------------------------------


@pytest.fixture(scope="module")
def platform_dvc() -> tuple[str, str]:
    """(dvcConfig, dvcRemoteUrl) exported by the platform's prod stack."""
    outputs = plan.make_plan("prod", ROOT).to_json()["outputs"]
    return outputs["dvcConfig"], outputs["dvcRemoteUrl"]


@pytest.fixture(scope="module")
def s3(moto_server: str) -> tuple[str, object]:
    """moto's S3 (and KMS): (endpoint URL, boto3 session)."""
    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )
    return moto_server, session


def platform_bucket(session, endpoint: str, bucket: str) -> str:
    """The bucket as DataBucket makes it: versioned, SSE-KMS by default with a bucket key."""
    s3 = session.client("s3", endpoint_url=endpoint)
    key = session.client("kms", endpoint_url=endpoint).create_key()["KeyMetadata"]["Arn"]
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": "aws:kms",
                        "KMSMasterKeyID": key,
                    },
                    "BucketKeyEnabled": True,
                }
            ]
        },
    )
    return key


def dvc_env(tmp_path: Path) -> dict[str, str]:
    """The dvc venv first on PATH (its python runs the train stage), fake credentials, no
    analytics, a throw-away HOME; nothing of the caller's AWS set-up."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DVC_"))}
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env.update(
        PATH=f"{DVC_BIN}{os.pathsep}{env.get('PATH', '')}",
        HOME=str(home),
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION=REGION,
        DVC_NO_ANALYTICS="1",
        GIT_AUTHOR_NAME="ci",
        GIT_AUTHOR_EMAIL="ci@example.com",
        GIT_COMMITTER_NAME="ci",
        GIT_COMMITTER_EMAIL="ci@example.com",
    )
    return env


def tree(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


def test_dvc_push_then_pull_into_a_clean_clone_with_the_platforms_config(
    tmp_path, platform_dvc, s3
):
    if not (DVC_BIN / "dvc").exists():
        pytest.skip("dvc is not installed in .venv-dvc (run `make venv-dvc`)")
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    dvc_config, remote_url = platform_dvc
    endpoint, session = s3
    bucket, prefix = remote_url.removeprefix("s3://").split("/", 1)
    key_arn = platform_bucket(session, endpoint, bucket)
    env = dvc_env(tmp_path)
    dvc = str(DVC_BIN / "dvc")

    # The team's repository: the template, with .dvc/config as the platform exports it.
    repo = tmp_path / "team"
    shutil.copytree(TEMPLATE, repo, ignore=shutil.ignore_patterns("__pycache__"))
    run("git", "init", "-q", "-b", "main", cwd=repo, env=env)
    run(dvc, "init", "-q", cwd=repo, env=env)
    (repo / ".dvc" / "config").write_text(dvc_config, encoding="utf-8")  # stack output, as is
    # Only the emulator differs from AWS: its endpoint, in the untracked local config.
    run(dvc, "remote", "modify", "--local", "storage", "endpointurl", endpoint, cwd=repo, env=env)
    run("python", "src/make_dataset.py", "data/iris.csv", cwd=repo, env=env)
    run(dvc, "add", "-q", "data/iris.csv", cwd=repo, env=env)
    run(dvc, "repro", "-q", cwd=repo, env=env)
    pushed = run(dvc, "push", cwd=repo, env=env)
    assert "pushed" in pushed
    run("git", "add", "-A", cwd=repo, env=env)
    run("git", "commit", "-q", "-m", "data, pipeline and model", cwd=repo, env=env)

    # Everything landed under the remote's prefix, encrypted with the bucket's key.
    s3_client = session.client("s3", endpoint_url=endpoint)
    objects = s3_client.list_objects_v2(Bucket=bucket)["Contents"]
    assert objects and all(o["Key"].startswith(f"{prefix}/files/md5/") for o in objects)
    head = s3_client.head_object(Bucket=bucket, Key=objects[0]["Key"])
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == key_arn

    # A clean clone: no data, no model, no cache, no local config.
    clone = tmp_path / "clone"
    run("git", "clone", "-q", str(repo), str(clone), cwd=tmp_path, env=env)
    assert not (clone / "data" / "iris.csv").exists() and not (clone / "model").exists()
    assert (clone / ".dvc" / "config").read_text(encoding="utf-8") == dvc_config
    run(dvc, "remote", "modify", "--local", "storage", "endpointurl", endpoint, cwd=clone, env=env)
    pulled = run(dvc, "pull", cwd=clone, env=env)
    assert "fetched" in pulled or "added" in pulled

    assert filecmp.cmp(repo / "data" / "iris.csv", clone / "data" / "iris.csv", shallow=False)
    assert tree(clone / "model") == tree(repo / "model") == ["metadata.json", "model.joblib"]
    for name in tree(repo / "model"):
        assert filecmp.cmp(repo / "model" / name, clone / "model" / name, shallow=False)
    assert "up to date" in run(dvc, "status", cwd=clone, env=env).lower()
    model = load_model(clone / "model")
    assert list(model.predict(np.asarray(SAMPLE))) == ["setosa", "virginica"]
