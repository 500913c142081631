"""CI/CD definitions: the GitHub workflows and .gitlab-ci.yml keep the CI contract and hardening.

Static checks on the parsed YAML, no network. `make lint-ci` (last test) validates the same files
against their published JSON schemas.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW_DIR = ROOT / ".github" / "workflows"
GITLAB_FILE = ROOT / ".gitlab-ci.yml"
STACKS = ("dev", "staging", "prod")

CHECKOUT = "actions/checkout"
CONFIGURE_AWS = "aws-actions/configure-aws-credentials"
ECR_LOGIN = "aws-actions/amazon-ecr-login"
PULUMI = "pulumi/actions"
UPLOAD = "actions/upload-artifact"
DOWNLOAD = "actions/download-artifact"
STICKY_COMMENT = "marocchino/sticky-pull-request-comment"

SHA_PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[^@\s]+)?@[0-9a-f]{40}$")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)\s*(?P<comment>#.*)?$")
VERSION_COMMENT = re.compile(r"^# v\d+\.\d+\.\d+$")
POLICY_PACK = "policy"
AWS_KEY_PATTERNS = (
    re.compile(r"AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY|aws-access-key-id|aws-secret-access-key"),
    re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
)


# --- loading ---------------------------------------------------------------------------------


def load_workflow(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    # YAML 1.1 (PyYAML) reads the bare key `on` as the boolean True.
    if True in data:
        data["on"] = data.pop(True)
    return data


WORKFLOW_PATHS = sorted(WORKFLOW_DIR.glob("*.y*ml"))
WORKFLOWS = {path.name: load_workflow(path) for path in WORKFLOW_PATHS}
GITLAB: dict[str, Any] = yaml.safe_load(GITLAB_FILE.read_text(encoding="utf-8"))
CI_FILES = [*WORKFLOW_PATHS, GITLAB_FILE]


def requirement_pin(name: str) -> str:
    text = (ROOT / "requirements.txt").read_text(encoding="utf-8")
    match = re.search(rf"^{re.escape(name)}==(\S+)$", text, re.MULTILINE)
    assert match, f"{name} is not pinned with == in requirements.txt"
    return match.group(1)


PULUMI_VERSION = requirement_pin("pulumi")  # the CLI follows the SDK


# --- GitHub helpers --------------------------------------------------------------------------


def all_jobs() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for file, workflow in WORKFLOWS.items():
        for job_id, job in workflow["jobs"].items():
            yield file, job_id, job


JOB_IDS = [f"{file}:{job_id}" for file, job_id, _ in all_jobs()]


def job(file: str, job_id: str) -> dict[str, Any]:
    return WORKFLOWS[file]["jobs"][job_id]


def action(step: dict[str, Any]) -> str | None:
    """owner/repo of a step's remote action, without the ref."""
    uses = step.get("uses")
    return uses.split("@", 1)[0] if uses else None


def steps_using(job_: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [step for step in job_["steps"] if action(step) == name]


def step_index(job_: dict[str, Any], predicate: Callable[[dict[str, Any]], bool]) -> int:
    for index, step in enumerate(job_["steps"]):
        if predicate(step):
            return index
    raise AssertionError("no step matches")


def runs(text: str) -> Callable[[dict[str, Any]], bool]:
    return lambda step: text in step.get("run", "")


def pulumi(command: str, stack: str) -> Callable[[dict[str, Any]], bool]:
    def matches(step: dict[str, Any]) -> bool:
        args = step.get("with", {})
        return (
            action(step) == PULUMI
            and args.get("command") == command
            and args.get("stack-name") == stack
        )

    return matches


def matrix_stacks(job_: dict[str, Any]) -> list[str]:
    return [entry["stack"] for entry in job_["strategy"]["matrix"]["include"]]


# --- GitHub: triggers and permissions --------------------------------------------------------


def test_the_expected_workflows_exist():
    assert set(WORKFLOWS) == {
        "ci.yml",
        "plan-comment.yml",
        "deploy-dev.yml",
        "release.yml",
        "release-model.yml",
        "drift.yml",
    }


def _is_cron(value: Any) -> bool:
    return isinstance(value, list) and all(len(entry["cron"].split()) == 5 for entry in value)


@pytest.mark.parametrize(
    ("file", "expected"),
    [
        ("ci.yml", {"pull_request": None, "push": {"branches": ["main"]}}),
        ("plan-comment.yml", {"workflow_run": {"workflows": ["ci"], "types": ["completed"]}}),
        ("deploy-dev.yml", {"push": {"branches": ["main"]}}),
        ("release.yml", {"push": {"tags": ["v*.*.*"]}}),
        ("release-model.yml", {"push": {"tags": ["*/v*.*.*"]}}),
        ("drift.yml", {"schedule": _is_cron, "workflow_dispatch": None}),
    ],
)
def test_triggers(file, expected):
    triggers = WORKFLOWS[file]["on"]
    assert set(triggers) == set(expected)
    for event, value in expected.items():
        if callable(value):
            assert value(triggers[event]), f"{file}: {event} = {triggers[event]!r}"
        else:
            assert triggers[event] == value, f"{file}: {event}"


def test_plan_comment_follows_the_ci_workflow_by_name():
    assert (
        WORKFLOWS["ci.yml"]["name"]
        in WORKFLOWS["plan-comment.yml"]["on"]["workflow_run"]["workflows"]
    )


@pytest.mark.parametrize("path", CI_FILES, ids=lambda p: p.name)
def test_no_pull_request_target(path):
    assert "pull_request_target" not in path.read_text(encoding="utf-8")


@pytest.mark.parametrize("file", sorted(WORKFLOWS))
def test_top_level_permissions_are_read_only(file):
    assert WORKFLOWS[file]["permissions"] == {"contents": "read"}


@pytest.mark.parametrize(("file", "job_id", "job_"), list(all_jobs()), ids=JOB_IDS)
def test_id_token_only_on_jobs_that_assume_aws_roles(file, job_id, job_):
    permissions = job_.get("permissions", {})
    assert isinstance(permissions, dict), "no permission shorthands such as write-all"
    assert (permissions.get("id-token") == "write") == bool(steps_using(job_, CONFIGURE_AWS))
    assert permissions.get("contents") in (None, "read")


@pytest.mark.parametrize(("file", "job_id", "job_"), list(all_jobs()), ids=JOB_IDS)
def test_every_job_has_a_timeout(file, job_id, job_):
    timeout = job_.get("timeout-minutes")
    assert isinstance(timeout, int)
    assert 0 < timeout <= 180


# --- GitHub: supply chain --------------------------------------------------------------------


@pytest.mark.parametrize("path", WORKFLOW_PATHS, ids=lambda p: p.name)
def test_remote_actions_are_pinned_to_a_commit_with_its_version(path):
    pinned = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = USES_LINE.match(line)
        if not match or match["ref"].startswith(("./", "docker://")):
            continue
        assert SHA_PINNED.match(match["ref"]), f"{path.name}:{number} not pinned: {line}"
        comment = (match["comment"] or "").strip()
        assert VERSION_COMMENT.match(comment), f"{path.name}:{number} needs '# vX.Y.Z': {line}"
        pinned.append(match["ref"])
    # The parsed file agrees with the line scan (no `uses` hidden in flow style).
    parsed = [
        step["uses"]
        for job_ in load_workflow(path)["jobs"].values()
        for step in job_["steps"]
        if "uses" in step and not step["uses"].startswith(("./", "docker://"))
    ]
    assert parsed == pinned


def test_each_action_is_pinned_to_one_commit_and_version_everywhere():
    seen: dict[str, set[str]] = {}
    for path in WORKFLOW_PATHS:
        for line in path.read_text(encoding="utf-8").splitlines():
            match = USES_LINE.match(line)
            if match and "@" in match["ref"]:
                name, sha = match["ref"].split("@", 1)
                seen.setdefault(name, set()).add(f"{sha} {match['comment']}")
    assert seen
    assert {name: pins for name, pins in seen.items() if len(pins) > 1} == {}


@pytest.mark.parametrize(("file", "job_id", "job_"), list(all_jobs()), ids=JOB_IDS)
def test_checkouts_do_not_keep_the_token(file, job_id, job_):
    for step in steps_using(job_, CHECKOUT):
        assert step["with"]["persist-credentials"] is False


@pytest.mark.parametrize(("file", "job_id", "job_"), list(all_jobs()), ids=JOB_IDS)
def test_scripts_get_expressions_through_env_not_inline(file, job_id, job_):
    # `${{ ... }}` inside `run` is pasted into the script before it runs (script injection).
    for step in job_["steps"]:
        assert "${{" not in step.get("run", ""), step.get("name", step["run"])


@pytest.mark.parametrize("path", CI_FILES, ids=lambda p: p.name)
def test_no_aws_keys_or_secrets(path):
    text = path.read_text(encoding="utf-8")
    for pattern in AWS_KEY_PATTERNS:
        assert not pattern.search(text)
    if path.parent == WORKFLOW_DIR:
        assert "secrets." not in text, "the contract needs no secrets (OIDC + awskms)"


def _pulumi_steps() -> Iterator[tuple[str, dict[str, Any]]]:
    for file, job_id, job_ in all_jobs():
        for step in steps_using(job_, PULUMI):
            yield f"{file}:{job_id}", step


@pytest.mark.parametrize(("where", "step"), list(_pulumi_steps()))
def test_pulumi_cli_comes_from_pulumi_actions_at_the_sdk_version(where, step):
    args = step["with"]
    assert str(args["pulumi-version"]) == PULUMI_VERSION, where
    if "command" in args:
        # Jobs over the stack matrix log in to each stack's own backend (governance sets
        # PULUMI_BACKEND_URL_<STACK>); jobs in an environment get its PULUMI_BACKEND_URL.
        assert args["cloud-url"] in (
            "${{ vars.PULUMI_BACKEND_URL }}",
            "${{ vars[format('PULUMI_BACKEND_URL_{0}', matrix.stack)] || vars.PULUMI_BACKEND_URL }}",
        ), where
        if args["stack-name"] == "${{ matrix.stack }}":
            assert "matrix.stack" in args["cloud-url"], where
        assert args["stack-name"] in (*STACKS, "${{ matrix.stack }}"), where
        assert args["refresh"] is True, where


@pytest.mark.parametrize(("file", "job_id"), [("ci.yml", "preview"), ("deploy-dev.yml", "deploy")])
def test_previews_and_deploys_run_the_policy_pack(file, job_id):
    for step in steps_using(job(file, job_id), PULUMI):
        assert step["with"]["policyPacks"] == POLICY_PACK


RELEASES = ("release.yml", "release-model.yml")


@pytest.mark.parametrize("file", RELEASES)
def test_releases_run_the_policy_pack(file):
    ups = [
        step
        for job_ in WORKFLOWS[file]["jobs"].values()
        for step in steps_using(job_, PULUMI)
        if step["with"].get("command") == "up"
    ]
    assert len(ups) == 2
    assert all(step["with"]["policyPacks"] == POLICY_PACK for step in ups)


# --- GitHub: stacks --------------------------------------------------------------------------

MATRIX = "stack-${{ matrix.stack }}"
STACK_JOBS = {
    # (file, job): concurrency group
    ("ci.yml", "preview"): MATRIX,
    ("drift.yml", "drift"): MATRIX,
    ("deploy-dev.yml", "deploy"): "stack-dev",
    ("release.yml", "build"): "stack-staging",
    ("release.yml", "staging"): "stack-staging",
    ("release.yml", "prod"): "stack-prod",
    ("release-model.yml", "staging"): "stack-staging",
    ("release-model.yml", "prod"): "stack-prod",
}


def test_every_job_that_touches_a_stack_is_queued_per_stack():
    touching = {
        (file, job_id)
        for file, job_id, job_ in all_jobs()
        if steps_using(job_, PULUMI) or steps_using(job_, CONFIGURE_AWS)
    }
    assert touching == set(STACK_JOBS)


@pytest.mark.parametrize(
    ("key", "group"), STACK_JOBS.items(), ids=[f"{file}:{job_id}" for file, job_id in STACK_JOBS]
)
def test_stack_concurrency_group(key, group):
    job_ = job(*key)
    assert job_["concurrency"] == {"group": group, "cancel-in-progress": False, "queue": "max"}
    if group == MATRIX:
        assert matrix_stacks(job_) == list(STACKS)


@pytest.mark.parametrize(("file", "job_id"), [("ci.yml", "preview"), ("drift.yml", "drift")])
def test_previews_use_each_stacks_preview_role(file, job_id):
    job_ = job(file, job_id)
    roles = {entry["stack"]: entry["role"] for entry in job_["strategy"]["matrix"]["include"]}
    assert roles == {
        stack: f"${{{{ vars.AWS_PREVIEW_ROLE_ARN_{stack.upper()} }}}}" for stack in STACKS
    }
    (aws,) = steps_using(job_, CONFIGURE_AWS)
    assert aws["with"]["role-to-assume"] == "${{ matrix.role }}"
    assert aws["with"]["aws-region"] == "${{ vars.AWS_REGION }}"
    assert "environment" not in job_


@pytest.mark.parametrize(
    ("file", "job_id", "environment"),
    [
        ("deploy-dev.yml", "deploy", "dev"),
        ("release.yml", "build", "staging"),
        ("release.yml", "staging", "staging"),
        ("release.yml", "prod", "prod"),
        ("release-model.yml", "staging", "staging"),
        ("release-model.yml", "prod", "prod"),
    ],
)
def test_deploys_use_the_environments_deploy_role(file, job_id, environment):
    job_ = job(file, job_id)
    assert job_["environment"] == environment
    for aws in steps_using(job_, CONFIGURE_AWS):
        assert aws["with"]["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
        assert aws["with"]["aws-region"] == "${{ vars.AWS_REGION }}"


# --- GitHub: pull requests -------------------------------------------------------------------


def test_preview_runs_for_branches_of_this_repository_only():
    preview = job("ci.yml", "preview")
    assert "github.event.pull_request.head.repo.full_name == github.repository" in preview["if"]
    assert preview["permissions"] == {
        "contents": "read",
        "id-token": "write",
        "pull-requests": "write",
    }
    (step,) = steps_using(preview, PULUMI)
    assert step["with"]["command"] == "preview"
    assert step["with"]["stack-name"] == "${{ matrix.stack }}"
    assert step["with"]["comment-on-pr"] is True


def test_offline_plan_needs_no_credentials_and_uploads_the_pr_number():
    plan = job("ci.yml", "plan")
    assert plan["if"] == "github.event_name == 'pull_request'"
    assert "permissions" not in plan  # the workflow's read-only token
    assert not steps_using(plan, CONFIGURE_AWS)
    (checkout,) = steps_using(plan, CHECKOUT)
    assert checkout["with"]["fetch-depth"] == 0  # the base commit, for --base-ref
    script = "\n".join(step.get("run", "") for step in plan["steps"])
    assert "for stack in dev staging prod" in script
    # Each stack against the PR's base commit; the comment is built from those diffs.
    assert '-m infra.plan --stack "$stack" --base-ref "$BASE_SHA" --format json' in script
    assert "-m infra.comment --dir offline-plan --stacks dev staging prod" in script
    step = next(s for s in plan["steps"] if "BASE_SHA" in s.get("env", {}))
    assert step["env"]["BASE_SHA"] == "${{ github.event.pull_request.base.sha }}"
    assert "offline-plan/pr-number" in script
    comment, plans = steps_using(plan, UPLOAD)
    assert comment["if"] == plans["if"] == "always()"
    assert comment["with"]["name"] == "offline-plan"
    assert "offline-plan/pr-number" in comment["with"]["path"]
    assert "offline-plan/comment.md" in comment["with"]["path"]
    assert plans["with"]["name"] == "offline-plans"  # the whole plans, for reviewers
    # The job still fails on a violation or bad config, after the uploads.
    fail = step_index(plan, lambda step: "steps.plan.outputs.failed" in step.get("if", ""))
    assert fail > plan["steps"].index(plans)


def test_tests_run_on_pull_requests_and_main():
    test = job("ci.yml", "test")
    assert "if" not in test
    assert any(step.get("run") == "make test" for step in test["steps"])
    (python,) = [step for step in test["steps"] if action(step) == "actions/setup-python"]
    assert python["with"]["python-version"] == "3.11"


def test_plan_comment_never_runs_pull_request_code():
    workflow = WORKFLOWS["plan-comment.yml"]
    ((job_id, comment),) = workflow["jobs"].items()
    assert comment["permissions"] == {"pull-requests": "write", "actions": "read"}
    assert not steps_using(comment, CHECKOUT)
    assert "github.event.workflow_run.event == 'pull_request'" in comment["if"]
    for step in comment["steps"]:
        script = step.get("run", "")
        for forbidden in ("make ", ".venv", "pip ", "python -m", "./"):
            assert forbidden not in script, f"{job_id}: {forbidden!r}"
    (download,) = steps_using(comment, DOWNLOAD)
    assert download["with"]["run-id"] == "${{ github.event.workflow_run.id }}"
    assert download["with"]["name"] == "offline-plan"
    (sticky,) = steps_using(comment, STICKY_COMMENT)
    assert sticky["with"]["header"] == "offline-plan"
    assert sticky["with"]["number_force"] == "${{ steps.pr.outputs.number }}"
    # The PR number read from the artifact is checked against the run's commit.
    check = next(step for step in comment["steps"] if step.get("id") == "pr")
    assert "RUN_HEAD_SHA" in check["env"]
    assert ".head.sha" in check["run"]
    # The comment is posted whole or replaced by a notice, never cut inside its markup.
    assert (
        '"$DIR/comment.md"' in check["run"] and "head -c" not in check["run"].split("pr-number")[1]
    )
    assert sticky["with"]["path"] == "${{ runner.temp }}/comment.md"


# --- GitHub: deploys and releases ------------------------------------------------------------


def test_dev_deploys_on_main():
    deploy = job("deploy-dev.yml", "deploy")
    up = step_index(deploy, pulumi("up", "dev"))
    assert step_index(deploy, lambda s: action(s) == CONFIGURE_AWS) < up


def test_drift_previews_expect_no_changes():
    drift = job("drift.yml", "drift")
    assert drift["if"] == "github.ref == 'refs/heads/main'"
    (step,) = steps_using(drift, PULUMI)
    args = step["with"]
    assert (args["command"], args["refresh"], args["expect-no-changes"]) == ("preview", True, True)


def test_release_builds_and_pushes_the_serving_and_training_images_to_staging():
    build = job("release.yml", "build")
    assert steps_using(build, ECR_LOGIN)
    push = step_index(build, runs("docker push"))
    script = build["steps"][push]["run"]
    assert "pulumi stack output repositoryUrls --stack staging" in script
    # Each image goes to the staging repository of its name (repositoryUrls' keys).
    assert "for image in serving training; do" in script
    assert "serving) dockerfile=serving/Dockerfile context=serving/ ;;" in script
    assert "training) dockerfile=examples/ml-project/training.Dockerfile context=. ;;" in script
    assert (ROOT / "examples/ml-project/training.Dockerfile").is_file()
    assert '--file "$dockerfile" --tag "$repo:$TAG" "$context"' in script
    assert 'gzip > "$RUNNER_TEMP/images/$image-image.tar.gz"' in script
    upload = step_index(build, lambda s: action(s) == UPLOAD)
    assert upload > push
    assert build["steps"][upload]["with"]["name"] == "images"


def assert_pins_then_up(job_: dict[str, Any], stack: str, *, model: str | None) -> int:
    """The job reads the outputs and pins inside itself (the stack's queue), after the role
    and the CLI and right before `pulumi up`; returns the index of the up."""
    assert job_["concurrency"]["group"] == f"stack-{stack}"
    pin = step_index(job_, runs("-m ops pin"))
    up = step_index(job_, pulumi("up", stack))
    assert step_index(job_, lambda s: action(s) == CONFIGURE_AWS) < pin
    assert step_index(job_, lambda s: action(s) == PULUMI and "command" not in s["with"]) < pin
    assert pin + 1 == up
    script = job_["steps"][pin]["run"]
    assert script.startswith("set -euo pipefail\n")
    lines = [line.strip() for line in script.splitlines()]
    outputs = f'pulumi stack output --json --stack {stack} > "$RUNNER_TEMP/outputs-before.json"'
    assert lines[1] == outputs
    released = f'--model "{model}" ' if model else ""
    assert f"-m ops pin {released}--stack-file Pulumi.{stack}.yaml" in script
    assert '--outputs "$RUNNER_TEMP/outputs-before.json" > "$RUNNER_TEMP/pins.tsv"' in script
    assert "while IFS=$'\\t' read -r key value; do" in lines
    assert f'pulumi config set --path "$key" "$value" --stack {stack}' in lines
    assert ("--model" in script) == (model is not None)
    return up


def test_platform_release_holds_every_model_deploys_staging_then_smoke_tests_each():
    staging = job("release.yml", "staging")
    assert staging["needs"] == "build"
    # A platform release releases no model: the pins are its only change to the config.
    assert yaml.safe_dump(staging).count("pulumi config set") == 1
    up = assert_pins_then_up(staging, "staging", model=None)
    smoke = step_index(staging, runs("-m ops smoke"))
    assert up < smoke
    script = staging["steps"][smoke]["run"]
    assert 'pulumi stack output --json --stack staging > "$RUNNER_TEMP/outputs.json"' in script
    assert 'models="$(.venv/bin/python -m ops models --outputs "$RUNNER_TEMP/outputs.json")"' in (
        script
    )
    assert 'ops smoke --model "$model" --outputs "$RUNNER_TEMP/outputs.json"' in script
    assert '--payload "$payload" --max-p95-ms 1000' in script


def test_prod_release_is_approved_pushes_its_image_holds_the_models_deploys_then_watches():
    prod = job("release.yml", "prod")
    assert prod["environment"] == "prod"
    assert prod["needs"] == "staging"
    assert steps_using(prod, DOWNLOAD)
    assert yaml.safe_dump(prod).count("pulumi config set") == 1
    push = step_index(prod, runs("docker push"))
    assert "repositoryUrls --stack prod" in prod["steps"][push]["run"]
    # The very images staging built (the artifact), both of them.
    assert "for image in serving training; do" in prod["steps"][push]["run"]
    (download,) = steps_using(prod, DOWNLOAD)
    assert download["with"]["name"] == "images"
    up = assert_pins_then_up(prod, "prod", model=None)
    watch = step_index(prod, runs("-m ops watch"))
    assert push < up < watch
    script = prod["steps"][watch]["run"]
    assert 'pulumi stack output --json --stack prod > "$RUNNER_TEMP/outputs.json"' in script
    assert '-m ops watch --model "$model" --outputs "$RUNNER_TEMP/outputs.json"' in script
    assert "--timeout 3600" in script


# --- GitHub: model releases ------------------------------------------------------------------


def github_filter(pattern: str) -> re.Pattern[str]:
    """A push filter as GitHub matches it: `*` matches anything but `/`, `**` anything."""
    regex = ""
    for part in re.split(r"(\*\*|\*)", pattern):
        regex += {"**": ".*", "*": "[^/]*"}.get(part, re.escape(part))
    return re.compile(f"^{regex}$")


@pytest.mark.parametrize(
    ("tag", "platform", "model"),
    [
        ("v1.2.3", True, False),
        ("churn/v1.2.3", False, True),
        ("fraud-detector/v10.0.1", False, True),
        ("a/b/v1.2.3", False, False),  # `*` does not match `/`
        ("churn/1.2.3", False, False),
        ("churn", False, False),
    ],
)
def test_tag_filters_start_one_release_or_none(tag, platform, model):
    (platform_filter,) = WORKFLOWS["release.yml"]["on"]["push"]["tags"]
    (model_filter,) = WORKFLOWS["release-model.yml"]["on"]["push"]["tags"]
    assert bool(github_filter(platform_filter).match(tag)) is platform
    assert bool(github_filter(model_filter).match(tag)) is model


def test_model_release_checks_the_tag_first_without_credentials():
    check = job("release-model.yml", "check")
    assert "environment" not in check and "permissions" not in check  # read-only token
    assert not steps_using(check, CONFIGURE_AWS) and not steps_using(check, PULUMI)
    first = check["steps"][0]
    assert "uses" not in first and '"$TAG" =~' in first["run"]
    served = check["steps"][step_index(check, runs("-m ops check-tag"))]
    assert served["id"] == "served"
    script = served["run"]
    assert '--tag "$TAG"' in script
    assert "--stack-file Pulumi.staging.yaml --stack-file Pulumi.prod.yaml" in script
    assert '>> "$GITHUB_OUTPUT"' in script
    assert 'echo "::error::' in script  # ops' one line, as an annotation
    assert check["outputs"] == {
        "model": "${{ steps.served.outputs.model }}",
        "version": "${{ steps.served.outputs.version }}",
    }


def run_tag_check(tag: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = job("release-model.yml", "check")["steps"][0]["run"]
    return subprocess.run(
        ["bash", "-e", "-c", script],
        env={"TAG": tag, "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize("tag", ["churn/v1.2.3", "fraud-detector/v0.10.0", "m1/v1.0.0"])
def test_the_first_step_accepts_model_release_tags(tag, tmp_path):
    result = run_tag_check(tag, tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


@pytest.mark.parametrize(
    "tag",
    ["Churn/v1.2.3", "churn/1.2.3", "churn/v1.2", "-churn/v1.2.3", "churn-/v1.2.3", "ch_urn/v1.0.0",
     "churn/v1.2.3-rc1", "churn/v1.2.3/x"],
)  # fmt: skip
def test_the_first_step_refuses_anything_else_with_one_error_line(tag, tmp_path):
    result = run_tag_check(tag, tmp_path)
    assert result.returncode == 1
    assert result.stdout.startswith(f"::error::{tag} is not a model release tag")
    assert result.stdout.count("\n") == 1 and result.stderr == ""


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_model_release_pins_inside_the_serialized_job_before_pulumi_up(stack):
    release = job("release-model.yml", stack)
    assert release["environment"] == stack
    # the environment's state backend, in the job that has the environment
    assert release["env"] == {
        "MODEL": "${{ needs.check.outputs.model }}",
        "PULUMI_BACKEND_URL": "${{ vars.PULUMI_BACKEND_URL }}",
    }
    assert release["needs"] == ("check" if stack == "staging" else ["check", "staging"])
    assert not steps_using(release, DOWNLOAD) and not steps_using(release, ECR_LOGIN)
    up = assert_pins_then_up(release, stack, model="$MODEL")
    assert release["steps"][up]["with"]["message"] == "release ${{ github.ref_name }}"
    # Fresh credentials after the up (it may take most of the first session's hour).
    again = [i for i, s in enumerate(release["steps"]) if action(s) == CONFIGURE_AWS]
    assert len(again) == 2 and again[1] == up + 1
    assert release["steps"][again[1]]["with"]["unset-current-credentials"] is True


def test_model_release_smoke_tests_the_model_in_staging():
    staging = job("release-model.yml", "staging")
    smoke = staging["steps"][-1]
    script = smoke["run"]
    assert 'pulumi stack output --json --stack staging > "$RUNNER_TEMP/outputs.json"' in script
    assert 'ops smoke --model "$MODEL" --outputs "$RUNNER_TEMP/outputs.json"' in script
    assert 'payload="serving/payloads/$MODEL.json"' in script
    assert '--payload "$payload" --max-p95-ms 1000' in script


def test_model_release_watches_the_models_canary_in_prod():
    prod = job("release-model.yml", "prod")
    watch = prod["steps"][-1]
    script = watch["run"]
    assert 'pulumi stack output --json --stack prod > "$RUNNER_TEMP/outputs.json"' in script
    assert 'ops watch --model "$MODEL" --outputs "$RUNNER_TEMP/outputs.json"' in script
    assert "--timeout 3600" in script


def test_release_tag_is_the_image_tag():
    assert WORKFLOWS["release.yml"]["env"]["TAG"] == "${{ github.ref_name }}"


# --- GitLab ----------------------------------------------------------------------------------

GITLAB_RESERVED = {
    "stages",
    "workflow",
    "variables",
    "default",
    "include",
    "image",
    "services",
    "cache",
    "before_script",
    "after_script",
}


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """GitLab `extends`: hashes merge deeply, everything else is replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def gitlab_job(name: str) -> dict[str, Any]:
    raw = GITLAB[name]
    parents = raw.get("extends", [])
    resolved: dict[str, Any] = {}
    for parent in [parents] if isinstance(parents, str) else parents:
        resolved = _merge(resolved, gitlab_job(parent))
    return _merge(resolved, {key: value for key, value in raw.items() if key != "extends"})


GITLAB_JOBS = {
    name: gitlab_job(name)
    for name in GITLAB
    if name not in GITLAB_RESERVED and not name.startswith(".")
}


def gitlab_script(job_: dict[str, Any]) -> str:
    return "\n".join([*job_.get("before_script", []), *job_["script"]])


def script_index(job_: dict[str, Any], text: str) -> int:
    for index, line in enumerate(job_["script"]):
        if text in line:
            return index
    raise AssertionError(f"no script line contains {text!r}")


def test_gitlab_stage_order():
    assert GITLAB["stages"] == [
        "lint",
        "test",
        "plan",
        "preview",
        "deploy-dev",
        "build",
        "deploy-staging",
        "deploy-prod",
    ]
    assert {job_["stage"] for job_ in GITLAB_JOBS.values()} == set(GITLAB["stages"])


def test_gitlab_image_and_pulumi_cli_are_pinned():
    image = GITLAB["default"]["image"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", image), image
    assert GITLAB["variables"]["PULUMI_VERSION"] == PULUMI_VERSION
    install = "\n".join(GITLAB[".pulumi"]["before_script"])
    assert "pulumi-v${PULUMI_VERSION}-linux-x64.tar.gz" in install
    assert "sha256sum --check" in install


@pytest.mark.parametrize("name", sorted(GITLAB_JOBS))
def test_gitlab_jobs_have_a_timeout(name):
    assert re.fullmatch(r"\d+m", GITLAB_JOBS[name]["timeout"])


ROLE = re.compile(r"^\$AWS_(?P<kind>PREVIEW|DEPLOY)_ROLE_ARN_(?P<env>DEV|STAGING|PROD)$")
GITLAB_AWS_JOBS = {
    # job: (role kind, stack)
    "preview-dev": ("PREVIEW", "dev"),
    "preview-staging": ("PREVIEW", "staging"),
    "preview-prod": ("PREVIEW", "prod"),
    "deploy-dev": ("DEPLOY", "dev"),
    "build": ("DEPLOY", "staging"),
    "deploy-staging": ("DEPLOY", "staging"),
    "deploy-prod": ("DEPLOY", "prod"),
    "release-model-staging": ("DEPLOY", "staging"),
    "release-model-prod": ("DEPLOY", "prod"),
}


def test_gitlab_aws_jobs_use_oidc_roles_from_the_contract():
    with_role = {
        name for name, job_ in GITLAB_JOBS.items() if "AWS_ROLE_ARN" in job_.get("variables", {})
    }
    with_token = {name for name, job_ in GITLAB_JOBS.items() if "id_tokens" in job_}
    assert with_role == with_token == set(GITLAB_AWS_JOBS)


@pytest.mark.parametrize(("name", "expected"), GITLAB_AWS_JOBS.items())
def test_gitlab_aws_job(name, expected):
    job_ = GITLAB_JOBS[name]
    kind, stack = expected
    assert job_["id_tokens"] == {"AWS_ID_TOKEN": {"aud": "sts.amazonaws.com"}}
    role = ROLE.match(job_["variables"]["AWS_ROLE_ARN"])
    assert role
    assert (role["kind"], role["env"].lower()) == (kind, stack)
    assert job_["resource_group"] == f"stack-{stack}"
    script = gitlab_script(job_)
    assert 'printf \'%s\' "$AWS_ID_TOKEN" > "$AWS_WEB_IDENTITY_TOKEN_FILE"' in script
    assert 'pulumi login "$PULUMI_BACKEND_URL"' in script
    if kind == "DEPLOY":
        assert job_["interruptible"] is False
    if name != "build":
        assert job_.get("environment", {}).get("name", stack) == stack


def test_gitlab_plan_keeps_the_offline_plans():
    plan = GITLAB_JOBS["plan"]
    assert "id_tokens" not in plan
    script = gitlab_script(plan)
    assert "for stack in dev staging prod" in script
    assert '-m infra.plan --stack "$stack" --base-ref "$base" --format json' in script
    assert '--write-plan "plan/$stack.md"' in script
    assert "-m infra.comment --dir plan/diff" in script
    assert plan["variables"]["GIT_DEPTH"] == "0"
    assert "git" in plan["variables"]["EXTRA_APT_PACKAGES"].split()
    assert plan["artifacts"]["paths"] == ["plan/"]
    assert plan["artifacts"]["when"] == "always"


def test_gitlab_dev_deploys_from_main():
    deploy = GITLAB_JOBS["deploy-dev"]
    assert deploy["rules"] == [
        {"if": '$CI_COMMIT_BRANCH == "main" && $CI_PIPELINE_SOURCE == "push"'}
    ]
    assert "pulumi up --yes --stack dev" in deploy["script"][0]


@pytest.mark.parametrize("name", ["build", "deploy-staging", "deploy-prod"])
def test_gitlab_releases_run_on_version_tags(name):
    (rule,) = GITLAB_JOBS[name]["rules"]
    assert rule["if"] == r"$CI_COMMIT_TAG =~ /^v\d+\.\d+\.\d+$/"


MODEL_TAG_RULE = r"$CI_COMMIT_TAG =~ /^[a-z0-9]([a-z0-9-]*[a-z0-9])?\/v\d+\.\d+\.\d+$/"


def gitlab_regex(rule: str) -> re.Pattern[str]:
    """The regex of a `$CI_COMMIT_TAG =~ /.../` rule, for Python (RE2 and re agree on these)."""
    body = rule.split("=~", 1)[1].strip()
    assert body.startswith("/") and body.endswith("/")
    return re.compile(body[1:-1].replace("\\/", "/"))


@pytest.mark.parametrize(
    ("tag", "platform", "model"),
    [
        ("v1.2.3", True, False),
        ("churn/v1.2.3", False, True),
        ("fraud-detector/v10.0.1", False, True),
        ("a/b/v1.2.3", False, False),
        ("Churn/v1.2.3", False, False),
        ("churn/v1.2", False, False),
    ],
)
def test_gitlab_tag_rules_start_one_release_or_none(tag, platform, model):
    assert bool(gitlab_regex(GITLAB[".release-rules"]["rules"][0]["if"]).search(tag)) is platform
    assert bool(gitlab_regex(MODEL_TAG_RULE).search(tag)) is model
    # Any tag with a '/' runs the check, which fails with one line unless it is a model tag.
    check = gitlab_regex(GITLAB_JOBS["release-model-check"]["rules"][0]["if"])
    assert bool(check.search(tag)) is ("/" in tag)


@pytest.mark.parametrize("name", ["release-model-staging", "release-model-prod"])
def test_gitlab_model_releases_run_on_model_tags(name):
    (rule,) = GITLAB_JOBS[name]["rules"]
    assert rule["if"] == MODEL_TAG_RULE


def test_gitlab_model_release_checks_the_tag_without_credentials():
    check = GITLAB_JOBS["release-model-check"]
    assert check["stage"] == "build"
    assert "id_tokens" not in check and "environment" not in check
    (line,) = check["script"]
    assert '-m ops check-tag --tag "$CI_COMMIT_TAG"' in line
    assert "--stack-file Pulumi.staging.yaml --stack-file Pulumi.prod.yaml" in line


def gitlab_helpers() -> str:
    return GITLAB[".release"]["before_script"][-1]


def test_gitlab_release_jobs_pin_with_the_shared_helper_and_restore_no_cache():
    helpers = gitlab_helpers()
    assert helpers.startswith("pin_models() {")
    assert 'pulumi stack output --json --stack "$1" > "outputs-before-$1.json"' in helpers
    assert '-m ops pin --stack-file "Pulumi.$1.yaml"' in helpers
    assert 'pulumi config set --path "$key" "$value" --stack "$1"' in helpers
    for name in ("deploy-staging", "deploy-prod", "release-model-staging", "release-model-prod"):
        job_ = GITLAB_JOBS[name]
        assert helpers in job_["before_script"], name
        assert job_["cache"] == [], name
    assert GITLAB_JOBS["deploy-dev"]["cache"] == []  # dev's deploy holds the deploy role too


@pytest.mark.parametrize(
    ("name", "stack", "model"),
    [
        ("deploy-staging", "staging", None),
        ("deploy-prod", "prod", None),
        ("release-model-staging", "staging", '"$MODEL"'),
        ("release-model-prod", "prod", '"$MODEL"'),
    ],
)
def test_gitlab_releases_pin_right_before_pulumi_up(name, stack, model):
    job_ = GITLAB_JOBS[name]
    assert job_["resource_group"] == f"stack-{stack}"
    pin = script_index(job_, "pin_models ")
    up = script_index(job_, f"pulumi up --yes --stack {stack}")
    assert pin + 1 == up
    assert job_["script"][pin] == " ".join(["pin_models", stack, *([model] if model else [])])
    assert gitlab_script(job_).count("pulumi config set") == 1  # the helper's, nothing else
    if model:
        assert job_["script"][0] == 'MODEL="${CI_COMMIT_TAG%%/*}"'


def test_gitlab_staging_deploys_then_smoke_tests():
    staging = GITLAB_JOBS["deploy-staging"]
    up = script_index(staging, "pulumi up --yes --stack staging")
    smoke = script_index(staging, "-m ops smoke")
    assert up < script_index(staging, "stack_outputs staging") < smoke
    assert "-m ops models --outputs outputs-staging.json" in staging["script"][smoke]
    assert '--payload "$(smoke_payload "$model")" --max-p95-ms 1000' in staging["script"][smoke]


def test_gitlab_model_release_smoke_tests_the_model_in_staging():
    staging = GITLAB_JOBS["release-model-staging"]
    assert staging["stage"] == "deploy-staging"
    assert staging["environment"]["name"] == "staging"
    smoke = script_index(staging, "-m ops smoke")
    assert script_index(staging, "stack_outputs staging") < smoke
    line = staging["script"][smoke]
    assert '--model "$MODEL" --outputs outputs-staging.json' in line
    assert '--payload "$(smoke_payload "$MODEL")" --max-p95-ms 1000' in line


def test_gitlab_model_release_prod_is_manual_and_watched():
    prod = GITLAB_JOBS["release-model-prod"]
    assert prod["stage"] == "deploy-prod"
    (rule,) = prod["rules"]
    assert (rule["when"], rule["allow_failure"]) == ("manual", False)
    assert prod["environment"]["name"] == "prod"
    watch = script_index(prod, "-m ops watch")
    assert script_index(prod, "stack_outputs prod") < watch
    assert '--model "$MODEL" --outputs outputs-prod.json --timeout 3600' in prod["script"][watch]


def test_gitlab_prod_is_manual_and_watched():
    prod = GITLAB_JOBS["deploy-prod"]
    (rule,) = prod["rules"]
    assert rule["when"] == "manual"
    assert rule["allow_failure"] is False
    assert prod["environment"]["name"] == "prod"
    push = script_index(prod, "docker push")
    up = script_index(prod, "pulumi up --yes --stack prod")
    watch = script_index(prod, "-m ops watch")
    assert push < up < watch
    assert "-m ops models --outputs outputs-prod.json" in prod["script"][watch]
    assert '--model "$model" --outputs outputs-prod.json --timeout 3600' in prod["script"][watch]


def test_gitlab_release_builds_both_images_and_prod_promotes_the_staged_digests():
    build = gitlab_script(GITLAB_JOBS["build"])
    assert "for image in serving training; do" in build
    assert "training) dockerfile=examples/ml-project/training.Dockerfile context=. ;;" in build
    assert '--file "$dockerfile" --tag "$repo:$CI_COMMIT_TAG" "$context"' in build
    assert GITLAB_JOBS["build"]["artifacts"]["reports"]["dotenv"] == "build.env"
    prod = gitlab_script(GITLAB_JOBS["deploy-prod"])
    assert 'training) staged="$TRAINING_IMAGE_STAGING" ;;' in prod
    assert 'serving) staged="$SERVING_IMAGE_STAGING" ;;' in prod
    assert 'repo="$(image_repo prod "$image")"' in prod


# --- schema validation -----------------------------------------------------------------------


def test_make_lint_ci_validates_the_ci_files_against_their_schemas():
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    if not (ROOT / ".venv" / "bin" / "check-jsonschema").exists():
        pytest.skip("check-jsonschema is not installed in .venv (run `make venv`)")
    # -o: never rebuild the venv from here (that would need the network).
    result = subprocess.run(
        ["make", "--no-print-directory", "-o", ".venv/.installed", "lint-ci"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_gitlab_previews_and_deploys_run_the_policy_pack():
    text = GITLAB_FILE.read_text(encoding="utf-8")
    assert 'POLICY_ARGS="--policy-pack policy"' in text
    commands = [line.strip().removeprefix("- ") for line in text.splitlines()]
    uses = [c for c in commands if c.startswith(("pulumi preview", "pulumi up"))]
    assert uses and all("$POLICY_ARGS" in line for line in uses)


def test_gitlab_pulumi_jobs_have_the_aws_cli_for_the_cluster_kubeconfig():
    """The cluster's kubeconfig runs `aws eks get-token`: every Pulumi job installs the CLI."""
    names = [
        name
        for name, job in yaml.safe_load(GITLAB_FILE.read_text()).items()
        if isinstance(job, dict) and not name.startswith(".") and "script" in gitlab_job(name)
        and "pulumi " in gitlab_script(gitlab_job(name))
    ]  # fmt: skip
    assert names
    for name in names:
        packages = gitlab_job(name).get("variables", {}).get("EXTRA_APT_PACKAGES", "")
        assert "awscli" in packages.split(), name


def test_jobs_that_reach_a_cluster_can_run_inside_its_vpc():
    """Staging and prod clusters have private endpoints: every job that runs Pulumi against a
    stack (preview, up, refresh) takes its runner from PULUMI_RUNNER_<STACK>."""
    reaching = {
        ("ci.yml", "preview"): "vars[format('PULUMI_RUNNER_{0}', matrix.stack)]",
        ("drift.yml", "drift"): "vars[format('PULUMI_RUNNER_{0}', matrix.stack)]",
        ("deploy-dev.yml", "deploy"): "vars.PULUMI_RUNNER_DEV",
        ("release.yml", "staging"): "vars.PULUMI_RUNNER_STAGING",
        ("release.yml", "prod"): "vars.PULUMI_RUNNER_PROD",
        ("release-model.yml", "staging"): "vars.PULUMI_RUNNER_STAGING",
        ("release-model.yml", "prod"): "vars.PULUMI_RUNNER_PROD",
    }
    for (workflow, job), variable in reaching.items():
        runs_on = WORKFLOWS[workflow]["jobs"][job]["runs-on"]
        assert runs_on == f"${{{{ {variable} || 'ubuntu-24.04' }}}}", (workflow, job)
    # Every other job that runs `pulumi up/preview/refresh` is one of those.
    for workflow, document in WORKFLOWS.items():
        for job, body in document["jobs"].items():
            text = yaml.safe_dump(body)
            if re.search(r"command: (up|preview|refresh)|pulumi (up|preview|refresh)", text):
                assert (workflow, job) in reaching, (workflow, job)


@pytest.mark.parametrize("file", (*RELEASES, "deploy-dev.yml"))
def test_release_jobs_restore_no_cache(file):
    """A release (and dev's deploy) deploys with the deploy role: nothing another workflow
    cached may reach it (zizmor's cache-poisoning audit)."""
    for name, job in WORKFLOWS[file]["jobs"].items():
        for step in job.get("steps", []):
            uses = step.get("uses", "")
            assert not uses.startswith("actions/cache"), (name, uses)
            assert "cache" not in (step.get("with") or {}), (name, uses)


def test_every_zizmor_suppression_gives_its_reason():
    for path in WORKFLOW_PATHS:
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines):
            if "zizmor: ignore[" in line:
                before = lines[number - 1].strip() if number else ""
                assert before.startswith("#") and len(before) > 20, (path.name, number + 1)
