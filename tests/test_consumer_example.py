"""examples/consumer: a model team's Pulumi project that imports the components and reads the
platform's outputs with pulumi.StackReference. Its StackReference is answered with the outputs
of the platform's real prod plan, so renaming a platform output the team reads breaks here."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import runpy
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pulumi
import pytest
import yaml
from conftest import ROOT, after_registration
from pulumi.runtime.mocks import MockResourceArgs

from mlops_platform import components
from mlops_platform.infra.mocks import (
    RecordingMocks,
    UnmockedStackReferenceError,
    install,
    private_event_loop,
)

CONSUMER = ROOT / "examples" / "consumer"
PLATFORM_STACK = "my-org/mlops-platform/prod"
KUBECONFIG = "apiVersion: v1\nkind: Config\nclusters: []\n"


def load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


team_stack = load("consumer_team_stack", CONSUMER / "team_stack.py")


@pytest.fixture(scope="module")
def platform_outputs() -> dict:
    """The stack outputs of the platform's prod stack, as the offline plan CLI reports them."""
    result = subprocess.run(
        [sys.executable, "-m", "infra.plan", "--stack", "prod", "--format", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)["outputs"]


def test_the_team_reads_only_outputs_the_platform_exports(platform_outputs):
    assert set(team_stack.PLATFORM_OUTPUTS) <= set(platform_outputs)


def test_the_outputs_the_team_reads_are_documented_as_stable():
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("## Stack outputs", 1)[1]
    documented = set(re.findall(r"`(\w+)`", section.split("\n## ", 1)[0]))
    assert set(team_stack.PLATFORM_OUTPUTS) <= documented


def resolve(value):
    return pulumi.Output.from_input(value).future()


@pulumi.runtime.test
def test_team_stack_builds_on_the_platform_outputs(mocks, platform_outputs):
    mocks.add_stack_reference(
        PLATFORM_STACK, {**platform_outputs, "kubeconfig": KUBECONFIG}, secret=("kubeconfig",)
    )
    stack = team_stack.build(team_stack.Team(name="churn", platform_stack=PLATFORM_STACK))
    key = platform_outputs["kmsKeyArn"]

    def check(m):
        repo = m.find("aws:ecr/repository:Repository", "churn-images-training")
        assert repo.inputs["name"] == "teams/churn/training"
        assert repo.inputs["encryptionConfigurations"] == [{"encryptionType": "KMS", "kmsKey": key}]
        sse = m.find(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            "churn-reports-encryption",
        )
        rule = sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]
        assert rule["kmsMasterKeyId"] == key
        assert not m.of_type("aws:kms/key:Key"), "the team uses the platform's key"

    def outputs(values):
        variables, dvc_config, kubeconfig = values
        assert variables == {
            "AWS_REGION": "eu-west-1",
            "MLOPS_REGISTRY_URL": platform_outputs["registryUrl"],
            "MLOPS_SERVING_REPOSITORY": platform_outputs["repositoryUrls"]["serving"],
            "MLOPS_TRAINING_REPOSITORY": f"{mocks.account_id}.dkr.ecr.eu-west-1.amazonaws.com/teams/churn/training",
            "MLOPS_ENDPOINT_NAME": platform_outputs["endpointName"],
            "MLOPS_CLUSTER_NAME": platform_outputs["clusterName"],
            "MLOPS_RUNNER_LABELS": "mlops-cpu,mlops-gpu",
        }
        assert dvc_config == platform_outputs["dvcConfig"]
        assert kubeconfig == KUBECONFIG

    kubeconfig = stack.outputs["kubeconfig"]
    secret = pulumi.Output.from_input(kubeconfig.is_secret())
    return pulumi.Output.all(
        after_registration(mocks, check),
        pulumi.Output.all(
            stack.outputs["githubVariables"], stack.outputs["dvcConfig"], kubeconfig
        ).apply(outputs),
        secret.apply(lambda is_secret: assert_true(is_secret, "kubeconfig must stay a secret")),
    )


def assert_true(value, message):
    assert value, message


def test_an_unmocked_stack_reference_fails_loudly():
    read = MockResourceArgs(
        typ="pulumi:pulumi:StackReference",
        name="ref",
        inputs={"name": "other/stack/dev"},
        provider="",
        resource_id="other/stack/dev",
    )
    with pytest.raises(
        UnmockedStackReferenceError, match=r"'other/stack/dev'.*add_stack_reference"
    ):
        RecordingMocks().new_resource(read)


def test_main_runs_like_the_language_host(platform_outputs):
    """``pulumi up`` in examples/consumer: __main__.py with the directory on sys.path and the
    stack's config (Pulumi.dev.yaml)."""
    from pulumi.runtime.settings import get_root_resource
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    project = yaml.safe_load((CONSUMER / "Pulumi.yaml").read_text(encoding="utf-8"))["name"]
    config = yaml.safe_load((CONSUMER / "Pulumi.dev.yaml").read_text(encoding="utf-8"))["config"]
    config = {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}
    exported: dict[str, tuple[object, bool]] = {}

    async def program() -> None:
        runpy.run_path(".", run_name="__main__")
        for name, value in dict(get_root_resource().outputs).items():
            output = pulumi.Output.from_input(value)
            exported[name] = (await output.future(), await output.is_secret())

    cwd, path = os.getcwd(), list(sys.path)
    with private_event_loop():
        recorder = install(
            project=project, stack="dev", region="eu-west-1", account_id="111111111111",
            config=config,
        )  # fmt: skip
        recorder.add_stack_reference(config[f"{project}:platformStack"], platform_outputs)
        try:
            os.chdir(CONSUMER)
            sys.path.insert(0, ".")
            _sync_await(run_pulumi_func(program))
        finally:
            os.chdir(cwd)
            sys.path[:] = path
            sys.modules.pop("team_stack", None)
    assert exported["dvcConfig"] == (platform_outputs["dvcConfig"], False)
    assert exported["kubeconfig"] == (platform_outputs["kubeconfig"], True)
    assert exported["githubVariables"][0]["MLOPS_RUNNER_LABELS"] == "mlops-cpu,mlops-gpu"
    assert exported["githubVariables"][0]["MLOPS_TRAINING_REPOSITORY"] == (
        "111111111111.dkr.ecr.eu-west-1.amazonaws.com/teams/churn/training"
    )


def test_requirements_pin_the_library_at_its_current_version():
    text = (CONSUMER / "requirements.txt").read_text(encoding="utf-8")
    assert (
        f"mlops-platform @ git+https://github.com/my-org/mlops-platform@v{components.__version__}"
        in text
    )


# --- `mlops-plan`: the offline plan, cost and policy of a team's own project --------------------

MLOPS_PLAN = Path(sys.executable).parent / "mlops-plan"


def mlops_plan(tmp_path: Path, *argv: str, project: Path = CONSUMER) -> subprocess.CompletedProcess:
    """The installed command, run from outside the repository as a team would."""
    return subprocess.run(
        [str(MLOPS_PLAN), "--stack", "dev", "--project-dir", str(project), *argv],
        cwd=tmp_path, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip


@pytest.fixture(scope="module")
def platform_plan(tmp_path_factory, platform_outputs) -> Path:
    path = tmp_path_factory.mktemp("platform") / "prod.json"
    path.write_text(json.dumps({"project": "mlops-platform", "stack": "prod", "resources": [],
                                "outputs": platform_outputs}))  # fmt: skip
    return path


@pytest.mark.skipif(not MLOPS_PLAN.exists(), reason="mlops-plan is not installed in the venv")
def test_mlops_plan_plans_a_team_project_with_the_platforms_rules(tmp_path, platform_plan):
    """The example passes the platform's rules as it ships (its environment and the default
    provider's tags in Pulumi.dev.yaml); without those tags, the tag rule fails it."""
    reference = f"--stack-reference=my-org/mlops-platform/dev={platform_plan}"
    done = mlops_plan(tmp_path, reference, "--format", "json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["project"] == "churn-model"
    assert [f for f in result["policy"] if f["severity"] == "mandatory"] == []
    assert result["estimate"]["region"] == "eu-west-1"  # the default provider's region
    assert result["estimate"]["monthlyCostUsd"] > 0
    assert result["outputs"]["githubVariables"]["MLOPS_SERVING_REPOSITORY"].endswith("/serving")
    untagged = tmp_path / "untagged"
    shutil.copytree(CONSUMER, untagged)
    stack = yaml.safe_load((untagged / "Pulumi.dev.yaml").read_text(encoding="utf-8"))
    del stack["config"]["aws:defaultTags"]
    (untagged / "Pulumi.dev.yaml").write_text(yaml.safe_dump(stack), encoding="utf-8")
    done = mlops_plan(tmp_path, reference, "--format", "json", project=untagged)
    assert done.returncode == 1, done.stderr  # the platform's tag rule applies
    mandatory = [f for f in json.loads(done.stdout)["policy"] if f["severity"] == "mandatory"]
    assert {f["rule"] for f in mandatory} == {"tags-required"}
    assert all("missing tags: env, owner" in f["message"] for f in mandatory)


@pytest.mark.skipif(not MLOPS_PLAN.exists(), reason="mlops-plan is not installed in the venv")
def test_mlops_plan_can_leave_the_tag_rule_out(tmp_path, platform_plan):
    reference = f"--stack-reference=my-org/mlops-platform/dev={platform_plan}"
    done = mlops_plan(tmp_path, reference, "--skip-rule", "tags-required", "--format", "json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["policySkipped"] == ["tags-required"]
    assert all(f["rule"] != "tags-required" for f in result["policy"])


@pytest.mark.skipif(not MLOPS_PLAN.exists(), reason="mlops-plan is not installed in the venv")
@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ((), "the program reads pulumi.StackReference('my-org/mlops-platform/dev'): give its "
             "outputs with --stack-reference my-org/mlops-platform/dev=FILE"),
        (("--skip-rule", "no-such-rule"), "--skip-rule: unknown rule 'no-such-rule'"),
        (("--stack-reference", "x"), "--stack-reference: got 'x'; expected NAME=FILE"),
        (("--stack-reference", "x=/no/such.json"), "--stack-reference x: cannot read /no/such.json"),
    ],
)  # fmt: skip
def test_mlops_plan_bad_input_is_one_line(tmp_path, argv, expected):
    done = mlops_plan(tmp_path, *argv)
    assert (done.returncode, done.stdout) == (2, "")
    assert len(done.stderr.splitlines()) == 1 and expected in done.stderr, done.stderr
