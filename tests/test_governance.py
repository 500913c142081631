"""governance/ and components/governance.py: rulesets, tags, environments and CI variables.

Three kinds of test: the pure pieces (ref patterns, plan limits, CODEOWNERS, what workflows
produce); the cross-checks between this repository's CI definitions, CiIdentity's trust and
what the governance project creates, each shown to fail on a renamed job, environment or tag;
and the governance program run under the recording mocks with the platform stacks' outputs
taken from their own offline plans.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from typing import Any, get_args

import jsonschema
import pulumi
import pytest
import regress
import yaml
from conftest import ROOT, after_registration, project_module

from mlops_platform.components import (
    ArgsError,
    DeploymentEnvironment,
    GithubRepositoryGovernance,
    GithubRepositoryGovernanceArgs,
    GitlabProjectGovernance,
    GitlabProjectGovernanceArgs,
    ProjectVariable,
    ProtectedEnvironment,
    workflows,
)
from mlops_platform.components import governance as gov
from mlops_platform.components._schema import declared_fields, declared_hint, describe
from mlops_platform.components.ci import github_subjects, gitlab_subjects
from mlops_platform.components.registry import GROUP_NAME
from mlops_platform.infra import plan, schema
from mlops_platform.infra.settings import ConfigError

GOVERNANCE = ROOT / "governance"
PROJECT = "mlops-platform-governance"
NS = f"{PROJECT}:"
WORKFLOWS = {
    p.name: yaml.safe_load(p.read_text(encoding="utf-8"))
    for p in sorted((ROOT / ".github" / "workflows").glob("*.yml"))
}
GITLAB_CI = yaml.safe_load((ROOT / ".gitlab-ci.yml").read_text(encoding="utf-8"))
RULESET = "github:index/repositoryRuleset:RepositoryRuleset"
ENVIRONMENT = "github:index/repositoryEnvironment:RepositoryEnvironment"
POLICY = "github:index/repositoryEnvironmentDeploymentPolicy:RepositoryEnvironmentDeploymentPolicy"
REPO_VAR = "github:index/actionsVariable:ActionsVariable"
ENV_VAR = "github:index/actionsEnvironmentVariable:ActionsEnvironmentVariable"
GL_VAR = "gitlab:index/projectVariable:ProjectVariable"


cfg = project_module("governance", "governance_config")


@pytest.fixture(scope="module")
def example() -> plan.StackFiles:
    return plan.load_stack_files(GOVERNANCE, "example")


@pytest.fixture(scope="module")
def references(example) -> dict[str, tuple[dict[str, Any], tuple[str, ...]]]:
    """The platform stacks' outputs, from their own offline plans (what the plan CLI passes)."""
    return plan.local_stack_references(example, GOVERNANCE)


@pytest.fixture(scope="module")
def governance_plan(example, references) -> dict[str, Any]:
    return plan.run_program(example, "example", references).to_json()


def example_config() -> Any:
    files = plan.load_stack_files(GOVERNANCE, "example")
    raw = {
        k.removeprefix(NS): json.loads(v)
        for k, v in files.config.items()
        if k in (NS + "github", NS + "gitlab", NS + "platformStacks")
    }
    return cfg.GovernanceConfig.model_validate(raw)


def resources(p: dict[str, Any], type_: str) -> list[dict[str, Any]]:
    return [r for r in p["resources"] if r["type"] == type_]


def by_name(p: dict[str, Any], type_: str, name: str) -> dict[str, Any]:
    (found,) = [r for r in resources(p, type_) if r["name"] == name]
    return found


# --- ref patterns --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("v*", "v1.2.3", True),
        ("v*", "churn/v1.2.3", False),  # * never matches /
        ("*/v*", "churn/v1.2.3", True),
        ("*/v*", "a/b/v1.2.3", False),
        ("**/v*", "a/b/v1.2.3", True),
        ("v?.0", "v1.0", True),
        ("main", "main", True),
        ("main", "main2", False),
        ("release/*", "release/1.0", True),
        ("v1.0", "v1x0", False),  # the dot is literal
    ],
)
def test_ref_patterns_follow_github_fnmatch(pattern, name, matches):
    assert gov.ref_matches(pattern, name) is matches


def models_of_the_platform() -> set[str]:
    stacks = {}
    for stack in ("dev", "staging", "prod"):
        files = plan.load_stack_files(ROOT, stack)
        block = json.loads(files.config.get("mlops-platform:modelRegistry", "{}"))
        stacks[stack] = set(block.get("models", []))
    return set().union(*stacks.values())


def test_release_tag_patterns_cover_every_model_without_naming_them():
    models = models_of_the_platform() | {"churn", "fraud-detector", "M0d3l", "a"}
    for model in sorted(models):
        assert GROUP_NAME.match(model) and "/" not in model  # model names have no '/'
        for version in ("v1.0.0", "v12.3.4-rc.1"):
            assert gov.matched_by_any(gov.RELEASE_TAG_PATTERNS, f"{model}/{version}"), model
    assert gov.matched_by_any(gov.RELEASE_TAG_PATTERNS, "v2.0.0")
    for other in ("nightly-2030-01-01", "feature/x/v1", "1.0.0"):
        assert not gov.matched_by_any(gov.RELEASE_TAG_PATTERNS, other), other


def test_covers_samples_the_filter_pattern():
    assert gov.covers(["v*"], "v*.*.*")
    assert not gov.covers(["v1*"], "v*.*.*")
    assert gov.covers(["**"], "a/**")
    assert "a/b" in "".join(gov.sample_refs("**"))


@pytest.mark.parametrize(
    ("plan_name", "visibility", "missing"),
    [
        ("free", "public", ()),
        ("team", "public", ()),
        (
            "free",
            "private",
            ("rulesets", "code-owner-review", "environments", "environment-protection"),
        ),
        ("pro", "private", ("environment-protection",)),
        ("team", "private", ("environment-protection",)),
        ("enterprise", "private", ()),
        ("enterprise", "internal", ()),
    ],
)
def test_plan_limits(plan_name, visibility, missing):
    assert gov.missing_github_features(plan_name, visibility) == missing


def test_gitlab_free_lacks_approvals_and_protected_environments():
    assert gov.missing_gitlab_features("free") == gov.GITLAB_FEATURES
    assert gov.missing_gitlab_features("premium") == ()


def test_codeowners_renders_one_line_per_rule_in_order():
    text = gov.render_codeowners({"*": ["@org/team"], "/infra/": ["@org/platform", "@alice"]})
    assert text.splitlines()[-2:] == ["* @org/team", "/infra/ @org/platform @alice"]
    assert text.startswith("# Managed by the governance project")


# --- what workflows produce ----------------------------------------------------------------------


def test_check_names_expand_matrices_as_github_names_them():
    workflow = {
        "on": {"pull_request": {}},
        "jobs": {
            "lint": {"runs-on": "x"},
            "test": {"name": "unit", "runs-on": "x"},
            "preview": {
                "name": "preview (${{ matrix.stack }})",
                "strategy": {"matrix": {"include": [{"stack": "dev"}, {"stack": "prod"}]}},
            },
            "build": {"strategy": {"matrix": {"os": ["linux", "mac"], "py": ["3.11"]}}},
            "named": {"name": "e2e", "strategy": {"matrix": {"shard": [1, 2]}}},
            "reusable": {"uses": "org/repo/.github/workflows/x.yml@main"},
        },
    }
    assert workflows.check_names(workflow) == [
        "lint",
        "unit",
        "preview (dev)",
        "preview (prod)",
        "build (linux, 3.11)",
        "build (mac, 3.11)",
        "e2e (1)",
        "e2e (2)",
    ]


def test_matrix_exclude_and_include_extend():
    job = {
        "strategy": {
            "matrix": {
                "os": ["a", "b"],
                "exclude": [{"os": "b"}],
                "include": [{"os": "a", "extra": "x"}, {"os": "c"}],
            }
        }
    }
    assert workflows.matrix_combinations(job) == [{"os": "a", "extra": "x"}, {"os": "c"}]


def test_triggers_read_pyyaml_on_as_true_and_short_forms():
    assert workflows.triggers({True: {"push": None}}) == {"push": {}}
    assert workflows.triggers({"on": "push"}) == {"push": {}}
    assert workflows.triggers({"on": ["push", "pull_request"]}) == {"push": {}, "pull_request": {}}
    with pytest.raises(workflows.WorkflowError):
        workflows.check_names({"on": "push"})


# --- cross-checks: this repository's CI, CiIdentity and the governance config ------------------


def test_required_checks_are_exactly_what_the_pull_request_workflows_produce():
    config = example_config()
    assert set(config.github.required_checks) == workflows.pull_request_checks(WORKFLOWS)
    cfg.check_against_workflows(config.github, WORKFLOWS)


def renamed_job(found: dict[str, Any], file_name: str, job: str, new: str) -> dict[str, Any]:
    changed = copy.deepcopy(found)
    jobs = changed[file_name]["jobs"]
    changed[file_name]["jobs"] = {(new if k == job else k): v for k, v in jobs.items()}
    return changed


def test_renaming_a_ci_job_fails_the_required_checks():
    config = example_config()
    with pytest.raises(ConfigError, match=r"github\.requiredChecks\[0\]: got \"test\"; no pull"):
        cfg.check_against_workflows(
            config.github, renamed_job(WORKFLOWS, "ci.yml", "test", "tests")
        )
    # a matrix job's name: its expression renamed on the workflow side
    changed = copy.deepcopy(WORKFLOWS)
    changed["ci.yml"]["jobs"]["preview"]["name"] = "pulumi preview (${{ matrix.stack }})"
    with pytest.raises(ConfigError, match=r"requiredChecks\[2\]: got \"preview \(dev\)\""):
        cfg.check_against_workflows(config.github, changed)


def test_environments_and_tags_are_the_ones_the_workflows_deploy_with():
    config = example_config().github
    found = workflows.deployments(WORKFLOWS)
    assert set(found) == set(config.environments) == {"dev", "staging", "prod"}
    assert found["dev"].branches == {"main"} and not found["dev"].tags
    # the platform's release tags and the models' (release.yml, release-model.yml)
    assert found["prod"].tags == found["staging"].tags == {"v*.*.*", "*/v*.*.*"}
    for name, deployment in found.items():
        env = config.environments[name]
        assert all(gov.covers(env.deploy_branches, b) for b in deployment.branches)
        assert all(gov.covers(env.deploy_tags, t) for t in deployment.tags)
        assert all(gov.covers(config.release_tag_patterns, t) for t in deployment.tags)


def test_renaming_an_environment_in_a_workflow_fails():
    config = example_config().github
    changed = copy.deepcopy(WORKFLOWS)
    changed["release.yml"]["jobs"]["prod"]["environment"] = "production"
    with pytest.raises(ConfigError, match=r"github\.environments\.production: got nothing"):
        cfg.check_against_workflows(config, changed)


def test_a_release_tag_filter_outside_the_protected_patterns_fails():
    config = example_config().github
    changed = copy.deepcopy(WORKFLOWS)
    changed["release.yml"]["on"] = {"push": {"tags": ["release-*"]}}
    with pytest.raises(ConfigError, match=r"environments\.prod\.deployTags: .*'release-\*'"):
        cfg.check_against_workflows(config, changed)
    wider = config.model_copy(
        update={
            "environments": {
                k: v.model_copy(update={"deploy_tags": ("release-*", *gov.RELEASE_TAG_PATTERNS)})
                for k, v in config.environments.items()
            }
        }
    )
    with pytest.raises(ConfigError, match=r"github\.releaseTagPatterns: .*protect them"):
        cfg.check_against_workflows(wider, changed)


def platform_ci_config(stack: str) -> dict[str, Any]:
    files = plan.load_stack_files(ROOT, stack)
    return {
        "environment": files.config["mlops-platform:environment"],
        **json.loads(files.config["mlops-platform:ci"]),
    }


def oidc_mismatches(
    subjects: dict[str, list[str]], governed: dict[str, Any], protected_branches: set[str]
) -> list[str]:
    """What a CI role trusts that governance does not protect: a GitHub environment it does not
    create (or creates open to every ref), a GitLab tag it does not protect, a branch that is
    not the protected default branch."""
    problems = []
    environments = governed["environments"]
    for role, role_subjects in subjects.items():
        for subject in role_subjects:
            if ":environment:" in subject:
                env = subject.rsplit(":", 1)[1]
                if env not in environments or not environments[env]:
                    problems.append(f"{role}: {subject}: no protected environment {env!r}")
            elif ":ref:refs/heads/" in subject or ":ref_type:branch:ref:" in subject:
                branch = subject.rsplit(":", 1)[1].removeprefix("refs/heads/")
                if branch != "*" and branch not in protected_branches:
                    problems.append(f"{role}: {subject}: branch {branch!r} is not protected")
            elif ":ref_type:tag:ref:" in subject:
                pattern = subject.rsplit(":", 1)[1]
                if not gov.covers(governed["gitlabTags"], pattern):
                    problems.append(f"{role}: {subject}: tags {pattern!r} are not protected")
    return problems


def governed_from(p: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    envs = {r["inputs"]["environment"]: [] for r in resources(p, ENVIRONMENT)}
    for policy_res in resources(p, POLICY):
        envs[policy_res["inputs"]["environment"]].append(
            policy_res["inputs"].get("branchPattern") or policy_res["inputs"].get("tagPattern")
        )
    branch = by_name(p, RULESET, "github-default-branch")["inputs"]["conditions"]["refName"]
    protected = {ref.removeprefix("refs/heads/") for ref in branch["includes"]}
    gitlab_tags = [
        r["inputs"]["tag"] for r in resources(p, "gitlab:index/tagProtection:TagProtection")
    ]
    gitlab_branch = resources(p, "gitlab:index/branchProtection:BranchProtection")[0]
    protected.add(gitlab_branch["inputs"]["branch"])
    return {"environments": envs, "gitlabTags": gitlab_tags}, protected


def ci_subjects(ci: dict[str, Any]) -> dict[str, list[str]]:
    """The subjects CiIdentity's roles trust for one platform stack's ci block."""
    env, branch = ci["environment"], ci.get("defaultBranch", "main")
    return {
        "github-preview": github_subjects(ci["githubRepository"], environment=None, branch=branch),
        "github-deploy": github_subjects(ci["githubRepository"], environment=env, branch=branch),
        "gitlab-deploy": gitlab_subjects(ci["gitlabProject"], environment=env, branch=branch),
    }


def test_ci_roles_trust_only_what_governance_protects(governance_plan):
    governed, protected = governed_from(governance_plan)
    config = example_config()
    for stack in ("dev", "staging", "prod"):
        ci = platform_ci_config(stack)
        assert ci["githubRepository"] == config.github.repository
        assert ci["gitlabProject"] == config.gitlab.project
        assert oidc_mismatches(ci_subjects(ci), governed, protected) == [], stack
    # and the environments the deploy roles trust are the ones governance creates
    trusted = {platform_ci_config(s)["environment"] for s in ("dev", "staging", "prod")}
    assert trusted == set(governed["environments"])


def planned_subjects(stack: str) -> dict[str, list[str]]:
    """The ``sub`` values the CI roles of a platform stack's offline plan trust, read from their
    trust policies (not recomputed), by role name without the ``ci-`` prefix."""
    subjects: dict[str, list[str]] = {}
    for res in plan.make_plan(stack, ROOT).to_json()["resources"]:
        if res["type"] != "aws:iam/role:Role" or not res["name"].startswith("ci-"):
            continue
        policy = res["inputs"]["assumeRolePolicy"]
        policy = json.loads(policy) if isinstance(policy, str) else policy
        for statement in policy["Statement"]:
            for condition in (statement.get("Condition") or {}).values():
                for key, value in condition.items():
                    if key.endswith(":sub"):
                        values = [value] if isinstance(value, str) else value
                        subjects.setdefault(res["name"].removeprefix("ci-"), []).extend(values)
    return {role: sorted(values) for role, values in subjects.items()}


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_the_planned_trust_policies_trust_only_what_governance_protects(governance_plan, stack):
    """The same cross-check on what the roles really trust: a CiIdentity change that bypassed
    the subject helpers would show up here."""
    governed, protected = governed_from(governance_plan)
    planned = planned_subjects(stack)
    assert {"github-preview", "github-deploy", "gitlab-deploy"} <= set(planned)
    for role, subjects in ci_subjects(platform_ci_config(stack)).items():
        assert planned[role] == sorted(subjects), (stack, role)
    assert oidc_mismatches(planned, governed, protected) == [], stack


def test_a_renamed_environment_or_tag_on_either_side_is_a_mismatch(governance_plan):
    governed, protected = governed_from(governance_plan)
    ci = {**platform_ci_config("prod"), "environment": "production"}
    assert oidc_mismatches(ci_subjects(ci), governed, protected) == [
        "github-deploy: repo:my-org/mlops-platform:environment:production: no protected "
        "environment 'production'"
    ]
    fewer = {**governed, "gitlabTags": ["*/v*"]}
    assert any(
        "tags 'v*'" in p
        for p in oidc_mismatches(ci_subjects(platform_ci_config("prod")), fewer, protected)
    )
    other_branch = {**platform_ci_config("dev"), "defaultBranch": "trunk"}
    assert any(
        "'trunk' is not protected" in p
        for p in oidc_mismatches(ci_subjects(other_branch), governed, protected)
    )


def test_every_variable_the_workflows_read_is_provisioned_and_none_is_stale(governance_plan):
    repo = {r["inputs"]["variableName"] for r in resources(governance_plan, REPO_VAR)}
    per_env: dict[str, set[str]] = {}
    for r in resources(governance_plan, ENV_VAR):
        per_env.setdefault(r["inputs"]["environment"], set()).add(r["inputs"]["variableName"])
    assert variable_gaps(workflows.variables_read(WORKFLOWS), repo, per_env) == ([], [])


def variable_gaps(
    uses, repo: set[str], per_env: dict[str, set[str]]
) -> tuple[list[str], list[str]]:
    missing = [
        f"{u.job}: {u.name}"
        for u in uses
        if not u.optional and u.name not in repo | per_env.get(u.environment or "", set())
    ]
    read = {u.name for u in uses}
    stale = sorted(n for n in repo | set().union(*per_env.values()) if n not in read)
    return missing, stale


def test_a_variable_renamed_in_a_workflow_is_caught(governance_plan):
    changed = copy.deepcopy(WORKFLOWS)
    step = changed["deploy-dev.yml"]["jobs"]["deploy"]["steps"][4]
    step["with"]["role-to-assume"] = "${{ vars.AWS_ROLE_ARN }}"
    repo = {r["inputs"]["variableName"] for r in resources(governance_plan, REPO_VAR)}
    per_env: dict[str, set[str]] = {}
    for r in resources(governance_plan, ENV_VAR):
        per_env.setdefault(r["inputs"]["environment"], set()).add(r["inputs"]["variableName"])
    missing, _ = variable_gaps(workflows.variables_read(changed), repo, per_env)
    assert missing == ["deploy-dev.yml:deploy: AWS_ROLE_ARN"]


def test_gitlab_variables_environments_and_tags_match_the_pipeline(governance_plan):
    keys = {r["inputs"]["key"]: r["inputs"] for r in resources(governance_plan, GL_VAR)}
    found = workflows.gitlab_deployments(GITLAB_CI)
    assert set(found) == {
        r["inputs"]["environment"]
        for r in resources(
            governance_plan, "gitlab:index/projectProtectedEnvironment:ProjectProtectedEnvironment"
        )
    }
    needed = {
        n
        for d in found.values()
        for n in d.variables
        if n.startswith(("AWS_DEPLOY_ROLE_ARN_", "PULUMI_BACKEND_URL_"))
    }
    needed |= {
        n
        for n in workflows.gitlab_variables_read(workflows.gitlab_jobs(GITLAB_CI))
        if n.startswith(("AWS_PREVIEW_ROLE_ARN_", "PULUMI_BACKEND_URL_", "AWS_REGION"))
    }
    assert needed <= set(keys)
    assert all(keys[k]["protected"] for k in keys if k.startswith("AWS_DEPLOY_ROLE_ARN_"))
    assert not any(keys[k]["protected"] for k in keys if k.startswith("AWS_PREVIEW_ROLE_ARN_"))
    # the release jobs' tag rule: every tag it accepts is a protected tag
    for env in ("staging", "prod"):
        assert any("v\\d+" in c for c in found[env].conditions)
    tags = [
        r["inputs"]["tag"]
        for r in resources(governance_plan, "gitlab:index/tagProtection:TagProtection")
    ]
    assert gov.matched_by_any(tags, "v1.2.3") and gov.matched_by_any(tags, "demo/v1.2.3")


def test_the_actions_allow_list_covers_every_action_and_all_are_sha_pinned():
    config = example_config().github
    for action, ref in workflows.actions_used(WORKFLOWS).items():
        assert len(ref) == 40 and all(c in "0123456789abcdef" for c in ref), action
        owner = action.split("/", 1)[0]
        if owner in ("actions", "github"):
            continue
        assert any(gov.ref_matches(p.split("@")[0], action) for p in config.allowed_actions), action


# --- the governance plan -------------------------------------------------------------------------


def test_plan_shows_rulesets_environments_and_variables_from_the_platform(
    governance_plan, references
):
    p = governance_plan
    assert p["project"] == PROJECT and {"resources", "outputs", "policy"} <= set(p)
    branch = by_name(p, RULESET, "github-default-branch")["inputs"]
    rules = branch["rules"]
    assert rules["pullRequest"]["requiredApprovingReviewCount"] == 2
    assert rules["pullRequest"]["requireCodeOwnerReview"] is True
    assert rules["pullRequest"]["dismissStaleReviewsOnPush"] is True
    assert rules["pullRequest"]["requireLastPushApproval"] is True
    assert rules["pullRequest"]["requiredReviewThreadResolution"] is True
    assert rules["nonFastForward"] is True and rules["deletion"] is True
    assert rules["requiredLinearHistory"] is True
    checks = rules["requiredStatusChecks"]
    assert checks["strictRequiredStatusChecksPolicy"] is True
    assert {c["context"] for c in checks["requiredChecks"]} == workflows.pull_request_checks(
        WORKFLOWS
    )
    assert {c["integrationId"] for c in checks["requiredChecks"]} == {gov.GITHUB_ACTIONS_APP_ID}
    assert {a["actorType"]: a["bypassMode"] for a in branch["bypassActors"]} == {
        "Team": "pull_request",
        "Integration": "always",
    }
    tags = by_name(p, RULESET, "github-release-tags")["inputs"]
    assert tags["target"] == "tag"
    assert tags["conditions"]["refName"]["includes"] == ["refs/tags/v*", "refs/tags/*/v*"]
    assert tags["rules"] == {
        "creation": True,
        "update": True,
        "deletion": True,
        "nonFastForward": True,
    }
    # values derived from the platform stacks' own plans
    prod = references["organization/mlops-platform/prod"][0]
    env_vars = {
        (r["inputs"]["environment"], r["inputs"]["variableName"]): r["inputs"]["value"]
        for r in resources(p, ENV_VAR)
    }
    assert env_vars[("prod", "AWS_DEPLOY_ROLE_ARN")] == prod["ciDeployRoleArn"]
    assert env_vars[("prod", "PULUMI_BACKEND_URL")] == prod["ciBackendUrl"]
    repo_vars = {r["inputs"]["variableName"]: r["inputs"]["value"] for r in resources(p, REPO_VAR)}
    assert repo_vars["AWS_PREVIEW_ROLE_ARN_PROD"] == prod["ciPreviewRoleArn"]
    assert repo_vars["AWS_REGION"] == prod["region"] == "eu-west-1"
    assert repo_vars["PULUMI_RUNNER_PROD"] == prod["githubRunnerLabels"][0]
    assert repo_vars["PULUMI_BACKEND_URL_DEV"].startswith("s3://mlops-state-111111111111?")
    token = by_name(
        p,
        "github:index/workflowRepositoryPermissions:WorkflowRepositoryPermissions",
        "github-workflow-token",
    )
    assert token["inputs"] == {
        "canApprovePullRequestReviews": False,
        "defaultWorkflowPermissions": "read",
        "repository": "mlops-platform",
    }
    actions = by_name(
        p,
        "github:index/actionsRepositoryPermissions:ActionsRepositoryPermissions",
        "github-actions",
    )
    assert (
        actions["inputs"]["shaPinningRequired"] is True
        and actions["inputs"]["allowedActions"] == "selected"
    )


def test_secrets_never_reach_the_plan(governance_plan):
    providers = {
        r["name"]: r["inputs"]
        for r in governance_plan["resources"]
        if r["type"].startswith("pulumi:providers:")
    }
    assert providers["github"]["appAuth"] == "[secret]"
    assert providers["gitlab"]["token"] == "[secret]"
    assert plan.SECRET_PLACEHOLDER not in json.dumps(governance_plan)


def test_accepted_plan_gap_is_reported_not_silent(governance_plan):
    (gap,) = governance_plan["outputs"]["governanceGaps"]
    assert gap.startswith("github: environment-protection: not available on GitHub team")
    prod = by_name(governance_plan, ENVIRONMENT, "github-env-prod")["inputs"]
    assert "reviewers" not in prod and "waitTimer" not in prod
    assert any("governance gap (accepted)" in d for d in governance_plan["diagnostics"])


def test_enterprise_plan_gets_the_approval_gate(example, references):
    config = dict(example.config)
    block = json.loads(config[NS + "github"])
    config[NS + "github"] = json.dumps({**block, "plan": "enterprise", "acceptMissing": []})
    p = plan.run_program(
        plan.StackFiles(PROJECT, example.main, config, example.secret_keys), "e", references
    ).to_json()
    prod = by_name(p, ENVIRONMENT, "github-env-prod")["inputs"]
    assert prod["canAdminsBypass"] is False and prod["preventSelfReview"] is True
    (reviewers,) = prod["reviewers"]
    assert len(reviewers["teams"]) == 1 and isinstance(reviewers["teams"][0], int)
    assert p["outputs"]["governanceGaps"] == []
    dev = by_name(p, ENVIRONMENT, "github-env-dev")["inputs"]
    assert "reviewers" not in dev and dev["waitTimer"] == 0


def test_plan_cli_prints_the_governance_plan_in_the_json_contract():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "infra.plan",
            "--project",
            "governance",
            "--stack",
            "example",
            "--format",
            "json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["project"] == PROJECT and document["stack"] == "example"
    assert {r["type"] for r in document["resources"]} >= {RULESET, ENVIRONMENT, REPO_VAR, GL_VAR}
    bad = subprocess.run(
        [sys.executable, "-m", "infra.plan", "--project", "nope", "--stack", "example"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--project" in bad.stderr


# --- bad input: exit 2, one line naming the key --------------------------------------------------


def with_github(example, **changes) -> dict[str, str]:
    config = dict(example.config)
    config[NS + "github"] = json.dumps({**json.loads(config[NS + "github"]), **changes})
    return config


def with_env(example, env: str, **changes) -> dict[str, str]:
    block = json.loads(example.config[NS + "github"])
    block["environments"][env] = {**block["environments"][env], **changes}
    return with_github(example, environments=block["environments"])


BAD = [
    (
        "prod without approval",
        lambda e: with_env(e, "prod", requireApproval=False, reviewerTeams=[]),
        "github.environments.prod.requireApproval",
    ),
    (
        "reviewers missing",
        lambda e: with_env(e, "staging", requireApproval=True),
        "github.environments.staging.reviewerTeams",
    ),
    (
        "unknown check",
        lambda e: with_github(e, requiredChecks=["test", "lint"]),
        "github.requiredChecks[1]",
    ),
    (
        "zero PR approvals",
        lambda e: with_github(e, requiredApprovals=0),
        "github.requiredApprovals",
    ),
    ("plan lacks it", lambda e: with_github(e, acceptMissing=[]), "github.plan"),
    ("unknown key", lambda e: with_github(e, requiredCheks=["test"]), "github.requiredCheks"),
    ("bad type", lambda e: with_github(e, requiredApprovals="two"), "github.requiredApprovals"),
    (
        "missing repository",
        lambda e: (
            {k: v for k, v in with_github(e).items()}
            | {
                NS + "github": json.dumps(
                    {
                        k: v
                        for k, v in json.loads(e.config[NS + "github"]).items()
                        if k != "repository"
                    }
                )
            }
        ),
        "github.repository",
    ),
    (
        "bad stack reference",
        lambda e: {**e.config, NS + "platformStacks": json.dumps({"dev": "mlops-platform/dev"})},
        "platformStacks.dev",
    ),
    (
        "gitlab zero approvals in prod",
        lambda e: {
            **e.config,
            NS + "gitlab": json.dumps(
                {
                    **json.loads(e.config[NS + "gitlab"]),
                    "environments": {"prod": {"requiredApprovals": 0}},
                }
            ),
        },
        "gitlab.environments.prod.requiredApprovals",
    ),
    ("unknown block", lambda e: {**e.config, NS + "gihub": "{}"}, NS + "gihub"),
    (
        "merge with linear history",
        lambda e: with_github(e, allowedMergeMethods=["merge"]),
        "github.allowedMergeMethods",
    ),
]


@pytest.mark.parametrize(("case", "make", "key"), BAD, ids=[b[0] for b in BAD])
def test_bad_config_stops_with_one_line_naming_the_key(example, references, case, make, key):
    files = plan.StackFiles(PROJECT, example.main, make(example), example.secret_keys)
    with pytest.raises(pulumi.RunError) as caught:
        plan.run_program(files, "bad", references)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"invalid config {key if key.startswith(NS) else NS + key}: got ")


def test_a_plain_text_token_is_refused_without_echoing_it(example, references):
    config = {**example.config, NS + "githubToken": "ghp_plaintext"}
    secret_keys = [k for k in example.secret_keys]
    files = plan.StackFiles(PROJECT, example.main, config, secret_keys)
    with pytest.raises(pulumi.RunError) as caught:
        plan.run_program(files, "bad", references)
    message = str(caught.value)
    assert message.startswith(f"invalid config {NS}githubToken: got [secret]; ")
    assert "ghp_plaintext" not in message and "--secret githubToken" in message


def token_auth(example, **changes) -> plan.StackFiles:
    """The example authenticated with the secret githubToken instead of the App."""
    block = {k: v for k, v in json.loads(example.config[NS + "github"]).items() if k != "app"}
    config = {**example.config, NS + "github": json.dumps({**block, **changes})}
    config[NS + "githubToken"] = "ghp_secret_value"
    return plan.StackFiles(
        PROJECT, example.main, config, [*example.secret_keys, NS + "githubToken"]
    )


def test_codeowners_needs_the_app_that_may_write_the_protected_branch(example, references):
    """Only the App bypasses the default-branch ruleset: with a token, the CODEOWNERS file could
    be written once, before the ruleset exists, and every later update would fail at
    ``pulumi up``. Refused in one line; without codeowners, token auth plans."""
    with pytest.raises(pulumi.RunError) as caught:
        plan.run_program(token_auth(example), "bad", references)
    message = str(caught.value)
    assert "\n" not in message and "ghp_secret_value" not in message
    assert message.startswith(f"invalid config {NS}github.codeowners: got ")
    assert "needs github.app" in message
    done = plan.run_program(token_auth(example, codeowners={}), "token", references)
    assert not any(
        r["type"] == "github:index/repositoryFile:RepositoryFile" for r in done.resources
    )


def test_bad_config_exits_2_from_the_cli(tmp_path, example):
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from mlops_platform.infra import plan; sys.exit(plan.main(sys.argv[1:]))",
            "--project-dir",
            str(ROOT),
            "--project",
            "governance",
            "--stack",
            "missing",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2 and result.stderr.count("\n") == 1


# --- one declaration per setting: the config models, their JSON Schema and the docs -------------

SCHEMA_PATH = ROOT / cfg.SCHEMA_FILE


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    document = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(document)
    return jsonschema.Draft202012Validator(document)


def example_file() -> dict[str, Any]:
    return yaml.safe_load((GOVERNANCE / "Pulumi.example.yaml").read_text(encoding="utf-8"))


def test_the_checked_in_schema_is_current(capsys):
    assert SCHEMA_PATH.read_text(encoding="utf-8") == schema.render_schema(cfg.STACK_FILES)
    assert schema.main(["--check"], cfg.STACK_FILES) == 0, capsys.readouterr().err


def test_the_example_validates_and_points_editors_at_the_schema(validator):
    assert sorted(validator.iter_errors(example_file()), key=str) == []
    first = (GOVERNANCE / "Pulumi.example.yaml").read_text(encoding="utf-8").splitlines()[0]
    assert first == f"# yaml-language-server: $schema=../{cfg.SCHEMA_FILE}"
    for pattern in re.findall(r'"pattern": "((?:[^"\\]|\\.)*)"', SCHEMA_PATH.read_text()):
        regress.Regex(json.loads(f'"{pattern}"'))  # editors evaluate JavaScript regexes


SCHEMA_REJECTS = [
    ("out of range", ("github", "requiredApprovals"), 0, "github.requiredApprovals"),
    ("not a number", ("github", "requiredApprovals"), "two", "github.requiredApprovals"),
    ("unknown plan", ("github", "plan"), "gold", "github.plan"),
    ("typo", ("github", "requiredCheks"), ["test"], "github.requiredCheks"),
    ("pattern", ("github", "environments", "prod", "reviewerTeams"), ["A B"], "reviewerTeams[0]"),
    ("no owners", ("github", "codeowners", "*"), [], "github.codeowners.*"),
    ("app id", ("github", "app", "id"), 234567, "github.app.id"),
    ("stack reference", ("platformStacks", "dev"), "dev", "platformStacks.dev"),
    ("gitlab tier", ("gitlab", "tier"), "gold", "gitlab.tier"),
    ("unknown block", ("gihub",), {}, "gihub"),
]


@pytest.mark.parametrize(
    "case", [c[1:] for c in SCHEMA_REJECTS], ids=[c[0] for c in SCHEMA_REJECTS]
)
def test_the_schema_rejects_what_the_program_rejects(validator, references, tmp_path, case):
    path, value, key = case
    document = copy.deepcopy(example_file())
    target = document["config"]
    head = f"{NS}{path[0]}"
    target = target.setdefault(head, {}) if len(path) > 1 else target
    for part in path[1:-1]:
        target = target.setdefault(part, {})
    target[path[-1] if len(path) > 1 else head] = value
    assert list(validator.iter_errors(document)), "the schema accepted it"
    project = yaml.safe_load((GOVERNANCE / "Pulumi.yaml").read_text(encoding="utf-8"))
    (tmp_path / "Pulumi.yaml").write_text(yaml.safe_dump({**project, "main": str(GOVERNANCE)}))
    (tmp_path / "Pulumi.bad.yaml").write_text(yaml.safe_dump(document))
    files = plan.load_stack_files(tmp_path, "bad")
    with pytest.raises(ConfigError) as caught:
        plan.run_program(files, "bad", references)
    assert str(caught.value).startswith("invalid config "), caught.value
    assert caught.value.key.endswith(key), caught.value


def test_a_quoted_number_is_read_with_a_deprecation_warning(validator, references, tmp_path):
    """As in the platform's stack files (0.1.0 read them so): the plan is the same, with a
    warning naming the key; the schema flags the quotes in editors."""
    plans = {}
    for name, value in (("plain", 2), ("quoted", "2")):
        document = copy.deepcopy(example_file())
        document["config"][f"{NS}github"]["requiredApprovals"] = value
        project = tmp_path / name
        project.mkdir()
        meta = yaml.safe_load((GOVERNANCE / "Pulumi.yaml").read_text(encoding="utf-8"))
        (project / "Pulumi.yaml").write_text(yaml.safe_dump({**meta, "main": str(GOVERNANCE)}))
        (project / "Pulumi.example.yaml").write_text(yaml.safe_dump(document))
        files = plan.load_stack_files(project, "example")
        plans[name] = plan.run_program(files, "example", references).to_json()
        assert bool(list(validator.iter_errors(document))) is (name == "quoted")
    warned = [d for d in plans["quoted"]["diagnostics"] if "github.requiredApprovals" in d]
    assert len(warned) == 1 and "deprecated" in warned[0]
    assert {**plans["quoted"], "diagnostics": []} == {**plans["plain"], "diagnostics": []}


def test_a_plain_text_secret_is_refused_by_the_schema(validator):
    document = example_file()
    document["config"][NS + "gitlabToken"] = "glpat-plaintext"
    assert list(validator.iter_errors(document))


def test_the_blocks_are_the_args_declarations():
    """The config, the error line, the JSON Schema and docs/components.md read one declaration."""
    hint = declared_hint(GithubRepositoryGovernanceArgs, "required_approvals")
    assert describe(hint) == "expected an integer from 1 to 10"
    info = cfg.GithubConfig.model_fields["required_approvals"]
    assert (info.alias, info.default, info.metadata) == (
        "requiredApprovals",
        1,
        [*get_args(hint)[1:]],
    )
    document = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    approvals = document["$defs"]["GithubConfig"]["properties"]["requiredApprovals"]
    assert (approvals["minimum"], approvals["maximum"], approvals["default"]) == (1, 10, 1)
    assert approvals["description"] == "Approving reviews a pull request needs (1-10)."
    components = (ROOT / "docs" / "components.md").read_text(encoding="utf-8")
    assert "| `required_approvals` | `int` | `1` | an integer from 1 to 10 |" in components
    # only this project's own keys are declared in governance_config.py
    args_fields = {d.name for d in declared_fields(GithubRepositoryGovernanceArgs)}
    own = set(cfg.GithubConfig.model_fields) - args_fields
    assert own == {"app", "base_url", "workflows"}
    source = (GOVERNANCE / "governance_config.py").read_text(encoding="utf-8")
    assert "BaseModel" not in source and "isinstance(" not in source


# --- the components on their own -----------------------------------------------------------------


def gh_args(**changes) -> GithubRepositoryGovernanceArgs:
    base = {
        "repository": "models",
        "plan": "team",
        "visibility": "private",
        "required_checks": ("train",),
        "release_teams": ("ml-release",),
    }
    return GithubRepositoryGovernanceArgs(**{**base, **changes})


@pytest.mark.parametrize(
    ("changes", "field_name"),
    [
        ({"required_checks": ()}, "required_checks"),
        ({"release_teams": ()}, "release_teams"),
        ({"required_approvals": 0}, "required_approvals"),
        ({"visibility": "internal"}, "visibility"),
        ({"plan": "gold"}, "plan"),
        ({"codeowners": {"*": ["@org/team"]}}, "release_app_ids"),
        ({"codeowners": {"*": ["not an owner"]}, "release_app_ids": (1,)}, "codeowners.*[0]"),
        ({"release_tag_patterns": ("v[0-9]*",)}, "release_tag_patterns[0]"),
        ({"variables": {"GITHUB_X": "y"}}, "variables.GITHUB_X"),
        ({"accept_missing": ("everything",)}, "accept_missing[0]"),
        ({"plan": "free"}, "plan"),
        (
            {"environments": (DeploymentEnvironment(name="a"), DeploymentEnvironment(name="a"))},
            "environments",
        ),
    ],
)
def test_github_args_name_the_bad_field(changes, field_name):
    with pytest.raises(ArgsError) as caught:
        gh_args(**changes)
    assert caught.value.field == field_name


@pytest.mark.parametrize(
    ("changes", "field_name"),
    [
        ({"deploy_tags": ()}, "deploy_tags"),
        ({"require_approval": True}, "reviewer_teams"),
        ({"reviewer_users": ("alice",)}, "require_approval"),
        (
            {"require_approval": True, "reviewer_users": tuple(f"u{i}" for i in range(7))},
            "reviewer_teams",
        ),
        ({"wait_timer_minutes": 50000}, "wait_timer_minutes"),
        ({"deploy_branches": "main"}, "deploy_branches"),
    ],
)
def test_environment_args_name_the_bad_field(changes, field_name):
    with pytest.raises(ArgsError) as caught:
        DeploymentEnvironment(name="prod", **changes)
    assert caught.value.field == field_name


def test_accept_missing_may_still_be_a_set():
    """The Args took a set before their fields were declared; they still do, and check it."""
    features = frozenset({"rulesets", "code-owner-review", "environments"})
    args = gh_args(plan="free", accept_missing=features)
    assert args.accept_missing == features and len(args.gaps()) == 2
    assert GitlabProjectGovernanceArgs(
        project="g/p", tier="free", accept_missing={"code-owner-review", "approval-rules"}
    ).gaps()
    with pytest.raises(ArgsError, match=r"^accept_missing\[0\]: got 'nope'; expected one of"):
        gh_args(accept_missing={"nope"})


@pulumi.runtime.test
def test_free_private_repository_accepting_the_gaps_creates_no_rulesets(mocks):
    repo = GithubRepositoryGovernance(
        "models",
        gh_args(
            plan="free",
            accept_missing=(
                "rulesets",
                "code-owner-review",
                "environments",
                "environment-protection",
            ),
            environments=(
                DeploymentEnvironment(
                    name="prod", require_approval=True, reviewer_users=("alice",)
                ),
            ),
        ),
    )

    def check(m):
        assert not m.of_type(RULESET) and not m.of_type(ENVIRONMENT)
        assert m.of_type("github:index/workflowRepositoryPermissions:WorkflowRepositoryPermissions")
        assert len(repo.gaps) == 4 and repo.branch_ruleset_id is None
        assert repo.environment_names == []

    return after_registration(mocks, check)


@pulumi.runtime.test
def test_public_repository_environment_reviewers_are_looked_up_by_name(mocks):
    GithubRepositoryGovernance(
        "oss",
        gh_args(
            visibility="public",
            required_checks_app_id=None,
            environments=(
                DeploymentEnvironment(
                    name="prod",
                    require_approval=True,
                    reviewer_teams=("ml-release",),
                    reviewer_users=("alice",),
                    wait_timer_minutes=10,
                ),
            ),
        ),
    )

    def check(m):
        env = m.find(ENVIRONMENT, "oss-env-prod").inputs
        (reviewers,) = env["reviewers"]
        assert all(isinstance(i, int) and i > 0 for i in reviewers["teams"] + reviewers["users"])
        assert env["waitTimer"] == 10
        tokens = [t for t, _ in m.invokes]
        assert "github:index/getTeam:getTeam" in tokens and "github:index/getUser:getUser" in tokens
        ruleset = m.find(RULESET, "oss-default-branch").inputs
        assert ruleset["rules"]["requiredStatusChecks"]["requiredChecks"] == [{"context": "train"}]

    return after_registration(mocks, check)


def test_gitlab_args():
    with pytest.raises(ArgsError) as caught:
        GitlabProjectGovernanceArgs(project="g/p", tier="free")
    assert caught.value.field == "tier"
    with pytest.raises(ArgsError):
        ProtectedEnvironment(name="prod", required_approvals=1)
    with pytest.raises(ArgsError):
        ProtectedEnvironment(name="prod", approver_groups=("g/rel",))
    with pytest.raises(ArgsError):
        GitlabProjectGovernanceArgs(
            project="g/p",
            tier="premium",
            variables=(ProjectVariable(key="A", value="1"), ProjectVariable(key="A", value="2")),
        )
    with pytest.raises(ArgsError):
        GitlabProjectGovernanceArgs(project="nogroup", tier="premium")


@pulumi.runtime.test
def test_gitlab_free_tier_keeps_protected_branches_and_tags_only(mocks):
    project = GitlabProjectGovernance(
        "gl",
        GitlabProjectGovernanceArgs(
            project="g/p",
            tier="free",
            accept_missing=gov.GITLAB_FEATURES,
            environments=(ProtectedEnvironment(name="prod"),),
            variables=(ProjectVariable(key="ROLE", value="arn", environment_scope="prod"),),
        ),
    )

    def check(m):
        branch = m.find(
            "gitlab:index/branchProtection:BranchProtection", "gl-default-branch"
        ).inputs
        assert branch["pushAccessLevel"] == "no one" and branch["allowForcePush"] is False
        assert "codeOwnerApprovalRequired" not in branch
        assert not m.of_type("gitlab:index/projectApprovalRule:ProjectApprovalRule")
        assert not m.of_type("gitlab:index/projectProtectedEnvironment:ProjectProtectedEnvironment")
        assert m.find(GL_VAR, "gl-var-ROLE-prod").inputs["environmentScope"] == "prod"
        assert len(project.gaps) == 3

    return after_registration(mocks, check)


@pulumi.runtime.test
def test_gitlab_named_approvers_get_a_regular_rule_on_the_protected_branch(mocks):
    GitlabProjectGovernance(
        "gl",
        GitlabProjectGovernanceArgs(
            project="g/p",
            tier="ultimate",
            approver_groups=("g/reviewers",),
            environments=(
                ProtectedEnvironment(
                    name="prod",
                    deployer_groups=("g/ops",),
                    approver_groups=("g/rel",),
                    required_approvals=2,
                ),
            ),
        ),
    )

    def check(m):
        rule = m.find("gitlab:index/projectApprovalRule:ProjectApprovalRule", "gl-approval").inputs
        branch = m.find("gitlab:index/branchProtection:BranchProtection", "gl-default-branch")
        assert rule["ruleType"] == "regular" and rule["protectedBranchIds"] == [
            branch.outputs["branchProtectionId"]
        ]
        assert len(rule["groupIds"]) == 1
        env = m.find(
            "gitlab:index/projectProtectedEnvironment:ProjectProtectedEnvironment", "gl-env-prod"
        ).inputs
        assert list(env["deployAccessLevelsAttributes"][0]) == ["groupId"]
        assert env["approvalRules"][0]["requiredApprovals"] == 2

    return after_registration(mocks, check)


def test_mocks_refuse_unknown_github_invokes():
    from pulumi.runtime.mocks import MockCallArgs

    from mlops_platform.infra.mocks import RecordingMocks, UnmockedInvokeError

    with pytest.raises(UnmockedInvokeError):
        RecordingMocks().call(
            MockCallArgs(token="github:index/getRepository:getRepository", args={}, provider="")
        )


def test_platform_stacks_in_different_regions_are_an_error(example, references):
    moved = dict(references)
    outputs, secret = moved["organization/mlops-platform/dev"]
    moved["organization/mlops-platform/dev"] = ({**outputs, "region": "us-east-1"}, secret)
    diagnostics = plan.run_program(example, "regions", moved).diagnostics
    (error,) = [d for d in diagnostics if "region outputs differ" in d]
    assert error.startswith(f"invalid config {NS}platformStacks: got ")
