"""The plan diff (--base, --base-ref) and the PR comment, from real plan pairs."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT

from mlops_platform.infra import comment, diff, plan, replacement


def stack_config(stack: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]


def plan_of(tmp: Path, stack: str, config: dict[str, Any]) -> dict[str, Any]:
    """The real plan of this repository's program with a changed stack config."""
    tmp.mkdir(parents=True, exist_ok=True)
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    project["main"] = str(ROOT / "infra")
    (tmp / "Pulumi.yaml").write_text(yaml.safe_dump(project))
    (tmp / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": config}))
    return plan.make_plan(stack, tmp).to_json()


@pytest.fixture(scope="module")
def prod() -> dict[str, Any]:
    return plan.make_plan("prod", ROOT).to_json()


@pytest.fixture(scope="module")
def dev() -> dict[str, Any]:
    return plan.make_plan("dev", ROOT).to_json()


@pytest.fixture(scope="module")
def prod_release(tmp_path_factory) -> dict[str, Any]:
    """prod with a smaller instance for one model (churn) and a new repository namespace: that
    model's endpoint configuration and the (protected) repositories are replaced."""
    config = stack_config("prod")
    config["mlops-platform:serving"]["models"]["churn"]["instanceType"] = "ml.m5.large"
    config["mlops-platform:registry"]["namespace"] = "ml/prod"
    return plan_of(tmp_path_factory.mktemp("release"), "prod", config)


@pytest.fixture(scope="module")
def prod_violation(tmp_path_factory) -> dict[str, Any]:
    """prod with scan on push off: a mandatory violation (ecr-scan-on-push)."""
    config = stack_config("prod")
    config["mlops-platform:registry"]["scanOnPush"] = False
    config["mlops-platform:data"]["noncurrentVersionExpiryDays"] = 180
    return plan_of(tmp_path_factory.mktemp("violation"), "prod", config)


def by_name(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in result["changes"]}


# --- what forces a replacement, from the SDKs --------------------------------------------------

CONFIG = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"


@pytest.mark.parametrize(
    ("type_", "path", "source"),
    [
        (CONFIG, "productionVariants[0].instanceType", "api"),  # no UpdateEndpointConfig
        (CONFIG, "tags.env", None),
        (CONFIG, "name", "identity"),  # name / namePrefix: the autonamed physical name
        ("aws:sagemaker/model:Model", "primaryContainer.image", "api"),
        ("aws:sagemaker/endpoint:Endpoint", "endpointConfigName", None),  # UpdateEndpoint
        ("aws:sagemaker/endpoint:Endpoint", "name", "identity"),  # imported by name
        ("aws:s3/bucket:Bucket", "bucket", "identity"),
        ("aws:s3/bucket:Bucket", "forceDestroy", None),
        ("aws:ecr/repository:Repository", "name", "identity"),
        ("aws:ecr/repository:Repository", "imageTagMutability", None),
        ("aws:cloudwatch/logGroup:LogGroup", "retentionInDays", None),
        ("aws:eks/cluster:Cluster", "version", None),  # upgraded in place
        ("aws:eks/cluster:Cluster", "bootstrapSelfManagedAddons", "docs"),
        ("aws:eks/nodeGroup:NodeGroup", "scalingConfig.minSize", None),
        ("aws:eks/nodeGroup:NodeGroup", "clusterName", "identity"),
        ("aws:ec2/flowLog:FlowLog", "trafficType", "api"),
        ("kubernetes:core/v1:Namespace", "metadata.name", "docs"),  # "Cannot be updated."
        ("kubernetes:core/v1:Namespace", "metadata.labels", None),
        ("pulumi:providers:aws", "region", None),
        ("mlops:serving:ModelEndpoint", "anything", None),
    ],
)
def test_forcing_properties_come_from_the_installed_sdks(type_, path, source):
    reason = replacement.forces_replacement(type_, path)
    assert (reason.source if reason else None) == source, reason


def test_a_docs_reason_quotes_the_sdk():
    reason = replacement.forces_replacement("aws:eks/cluster:Cluster", "bootstrapSelfManagedAddons")
    assert reason.detail == "Changing this value will force a new cluster to be created."


def test_replace_on_changes_is_the_engines_rule():
    reason = replacement.forces_replacement("aws:s3/bucket:Bucket", "tags.x", ("tags",))
    assert reason.source == "engine"


# --- diffs of real plan pairs ----------------------------------------------------------------


def test_a_plan_against_itself_changes_nothing(prod):
    result = diff.diff(prod, copy.deepcopy(prod))
    assert result["changes"] == []
    assert result["summary"]["same"] == sum(
        1
        for r in prod["resources"]
        if r["custom"] and not r["type"].startswith("pulumi:providers:")
    )
    assert result["cost"]["delta"] == 0
    assert result["policy"]["new"] == result["policy"]["fixed"] == []


def test_a_release_replaces_the_endpoint_config_and_updates_the_endpoint(prod, prod_release):
    result = diff.diff(prod, prod_release)
    changes = by_name(result)
    config = changes["churn-serving-config"]
    assert config["op"] == "replace"
    assert [r["property"] for r in config["replaceReasons"]] == ["productionVariants"]
    assert config["replaceReasons"][0]["source"] == "api"
    assert {"path": "productionVariants[0].instanceType", "old": "ml.m5.xlarge",
            "new": "ml.m5.large", "forcesReplacement": True} in config["properties"]  # fmt: skip
    # The endpoint follows its new configuration: an update (blue/green), not a replacement.
    endpoint = changes["churn-serving-endpoint"]
    assert endpoint["op"] == "update" and endpoint["causedBy"] == "churn-serving-config"
    assert [p["path"] for p in endpoint["properties"]] == ["endpointConfigName"]
    assert result["cost"]["delta"] < 0  # ml.m5.large is cheaper than ml.m5.xlarge


def test_one_models_settings_change_only_that_models_resources(tmp_path, prod):
    config = stack_config("prod")
    config["mlops-platform:serving"]["models"]["churn"]["instanceType"] = "ml.m5.large"
    config["mlops-platform:serving"]["models"]["churn"]["canaryPercent"] = 10
    changed = by_name(diff.diff(prod, plan_of(tmp_path, "prod", config)))
    assert {"churn-serving-config", "churn-serving-endpoint"} <= set(changed)
    assert all(name.startswith("churn-serving-") for name in changed), sorted(changed)


def test_a_new_repository_name_replaces_protected_repositories(prod, prod_release):
    result = diff.diff(prod, prod_release)
    repo = by_name(result)["registry-serving"]
    assert repo["op"] == "replace" and repo["protect"]
    assert repo["replaceReasons"][0]["property"] == "name"
    assert repo["replaceReasons"][0]["source"] == "identity"
    protected = {(p["name"], p["op"]) for p in result["protected"]}
    assert {("registry-serving", "replace"), ("registry-training", "replace")} <= protected
    # Its lifecycle policy takes the repository name: it is replaced with it.
    assert by_name(result)["registry-serving-lifecycle"]["op"] == "replace"
    assert result["outputs"]["changed"]["repositoryUrls"][1]["serving"].endswith("/ml/prod/serving")


def test_a_violation_is_new_and_its_fix_is_fixed(prod, prod_violation):
    forward = diff.diff(prod, prod_violation)
    assert {f["rule"] for f in forward["policy"]["new"]} == {"ecr-scan-on-push"}
    assert forward["policy"]["mandatory"] == 2 and forward["policy"]["fixed"] == []
    backward = diff.diff(prod_violation, prod)
    assert {f["rule"] for f in backward["policy"]["fixed"]} == {"ecr-scan-on-push"}
    assert backward["policy"]["new"] == [] and backward["policy"]["mandatory"] == 0


def test_ignored_paths_and_equal_json_documents_are_no_change(prod):
    head = copy.deepcopy(prod)
    group = next(r for r in head["resources"] if r["type"] == "aws:eks/nodeGroup:NodeGroup")
    assert "scalingConfig.desiredSize" in group["ignoreChanges"]
    group["inputs"]["scalingConfig"]["desiredSize"] = 99
    provider = next(r for r in head["resources"] if r["type"] == "pulumi:providers:aws")
    tags = json.loads(provider["inputs"]["defaultTags"])
    provider["inputs"]["defaultTags"] = json.dumps(dict(reversed(list(tags.items()))))
    assert diff.diff(prod, head)["changes"] == []


def test_an_alias_keeps_a_renamed_resource(prod):
    """pulumi-aws aliases Bucket to its old BucketV2 type: a stack deployed with the old type
    is matched, not deleted and re-created."""
    base = copy.deepcopy(prod)
    bucket = next(r for r in base["resources"] if r["name"] == "artifacts-bucket")
    (alias,) = bucket["aliases"]
    assert "aws:s3/bucketV2:BucketV2" in alias
    bucket["urn"] = alias
    result = diff.diff(base, prod)
    assert result["summary"]["create"] == result["summary"]["delete"] == 0
    assert result["changes"] == []


def test_creates_and_deletes(prod, dev):
    head = copy.deepcopy(prod)
    head["resources"] = [r for r in head["resources"] if r["name"] != "demo-serving-invocations"]
    result = diff.diff(prod, head)
    assert [(e["op"], e["name"]) for e in result["changes"]] == [
        ("delete", "demo-serving-invocations")
    ]
    assert diff.diff(head, prod)["summary"]["create"] == 1


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda p: p.update(stack="dev"), "the base plan is of stack 'dev', this plan of 'prod'"),
        (lambda p: p.update(project="other"), "the base plan is of project 'other'"),
        (lambda p: p.pop("resources"), "the base is not a plan"),
    ],
)
def test_a_base_of_another_stack_or_project_is_refused(prod, mutate, expected):
    base = copy.deepcopy(prod)
    mutate(base)
    with pytest.raises(diff.DiffError, match=re.escape(expected)):
        diff.diff(base, prod)


# --- the command line ------------------------------------------------------------------------


def run_main(capsys, *argv: str) -> tuple[int, str, str]:
    code = plan.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_base_file_bad_input_exits_2_with_one_line(tmp_path, capsys, dev):
    (tmp_path / "dev.json").write_text(json.dumps(dev))
    (tmp_path / "junk.json").write_text("{not json")
    cases = [
        (tmp_path / "dev.json", "--base: the base plan is of stack 'dev', this plan of 'prod'"),
        (tmp_path / "junk.json", "--base: " + str(tmp_path / "junk.json") + " is not JSON"),
        (tmp_path / "missing.json", "--base: cannot read"),
    ]
    for path, expected in cases:
        code, out, err = run_main(capsys, "--stack", "prod", "--base", str(path))
        assert (code, out) == (2, ""), err
        assert len(err.splitlines()) == 1 and err.startswith(f"error: {expected}"), err


def test_base_file_formats_and_exit_codes(tmp_path, capsys, prod, prod_violation):
    base = tmp_path / "base.json"
    base.write_text(json.dumps(prod_violation))
    code, out, _ = run_main(capsys, "--stack", "prod", "--base", str(base), "--format", "json")
    assert code == 0  # the head (this checkout's prod) has no violation
    result = json.loads(out)
    assert result["base"] == str(base) and len(result["policy"]["fixed"]) == 2
    code, out, _ = run_main(capsys, "--stack", "prod", "--base", str(base))
    assert out.startswith(f"mlops-platform / prod against {base}: 0 to create, 5 to update")
    code, out, _ = run_main(capsys, "--stack", "prod", "--base", str(base), "--format", "markdown")
    assert "✔️ fixed: mandatory: ecr-scan-on-push" in out


def test_base_ref_that_does_not_exist_exits_2(capsys):
    code, out, err = run_main(capsys, "--stack", "dev", "--base-ref", "no-such-branch-xyz")
    assert (code, out) == (2, "")
    assert err.startswith("error: --base-ref: no revision 'no-such-branch-xyz' in ")
    assert len(err.splitlines()) == 1


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def clone_of_this_checkout(tmp_path: Path, paths: tuple[str, ...]) -> Path:
    """A git clone of this repository with ``paths`` copied from the working tree (uncommitted
    changes included) and not yet committed."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(clone)], check=True)
    for path in paths:
        source = ROOT / path
        target = clone / path
        if source.is_dir():
            shutil.rmtree(target)
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, target)
    return clone


def plan_cli(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlops_platform.infra.plan", *argv],
        capture_output=True, text=True, check=False, cwd=cwd,
    )  # fmt: skip


def test_base_ref_plans_the_base_revision_with_its_own_code(tmp_path):
    """A clone whose HEAD commit changes a component default and a stack file: the base plan
    (HEAD, from a worktree) runs that commit's code, the head runs this checkout's."""
    clone = clone_of_this_checkout(
        tmp_path, ("infra", "components", "policy", "Pulumi.yaml", "Pulumi.dev.yaml")
    )
    storage = clone / "components" / "storage.py"
    text = storage.read_text()
    assert "abort_incomplete_multipart_upload_days: Annotated[int, between(1, 365)] = 7" in text
    storage.write_text(
        text.replace(
            "abort_incomplete_multipart_upload_days: Annotated[int, between(1, 365)] = 7",
            "abort_incomplete_multipart_upload_days: Annotated[int, between(1, 365)] = 9",
        )
    )
    git = ["git", "-C", str(clone), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "commit", "--quiet", "-am", "base"], check=True)
    stack = clone / "Pulumi.dev.yaml"
    stack.write_text(
        stack.read_text().replace("deletionWindowInDays: 7", "deletionWindowInDays: 10")
    )
    done = plan_cli(
        "--stack", "dev", "--base-ref", "HEAD", "--format", "json", "--project-dir", str(clone),
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    paths = {
        (e["name"], p["path"], p["old"], p["new"])
        for e in result["changes"]
        for p in e["properties"]
    }
    assert ("platform-key-key", "deletionWindowInDays", 7, 10) in paths  # the stack file
    # the base ran its own components (9 days), the head this checkout's (7)
    assert (
        "artifacts-lifecycle",
        "rules[0].abortIncompleteMultipartUpload.daysAfterInitiation",
        9,
        7,
    ) in paths
    listed = subprocess.run([*git, "worktree", "list"], capture_output=True, text=True, check=True)
    assert len(listed.stdout.splitlines()) == 1  # the temporary worktree is gone


GOVERNANCE_TREE = ("infra", "components", "policy", "governance", "Pulumi.yaml", "Pulumi.dev.yaml",
                   "Pulumi.staging.yaml", "Pulumi.prod.yaml")  # fmt: skip


def committed_clone(tmp_path: Path, paths: tuple[str, ...]) -> Path:
    clone = clone_of_this_checkout(tmp_path, paths)
    git = ["git", "-C", str(clone), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "add", "--all"], check=True)
    subprocess.run([*git, "commit", "--quiet", "--allow-empty", "-m", "base"], check=True)
    return clone


def test_base_ref_plans_another_project_of_the_checkout(tmp_path):
    """``--project governance --base-ref`` plans the governance stack at the base revision (the
    base plan looks for the stack file in the project planned, not in the checkout root)."""
    clone = committed_clone(tmp_path, GOVERNANCE_TREE)
    done = plan_cli(
        "--project", "governance", "--stack", "example", "--base-ref", "HEAD", "--format", "json",
        "--project-dir", str(clone), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["changes"] == []
    assert result["summary"]["same"] > 0
    assert result["project"] == "mlops-platform-governance"


def test_base_ref_plans_with_the_same_stack_references(tmp_path):
    """The head plan's ``--stack-reference`` answers the base plan's references too: otherwise
    a PR comment would show the difference between the file given and the local dev plan as a
    change of the governance stack."""
    clone = committed_clone(tmp_path, GOVERNANCE_TREE)
    outputs = plan.make_plan("dev", ROOT).to_json()["outputs"]
    assert outputs["githubRunnerLabels"] != ["mlops-big"]
    outputs["githubRunnerLabels"] = ["mlops-big"]  # the DEV_RUNNER variable would change
    reference = tmp_path / "dev-outputs.json"
    reference.write_text(json.dumps(outputs))
    done = plan_cli(
        "--project", "governance", "--stack", "example", "--base-ref", "HEAD", "--format", "json",
        "--project-dir", str(clone), "--stack-reference",
        f"organization/mlops-platform/dev={reference.name}",  # relative to the caller's directory
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["changes"] == []
    # and the reference does reach the plan: against a base plan without it, the variable moves
    alone = plan_cli(
        "--project", "governance", "--stack", "example", "--format", "json",
        "--project-dir", str(clone), cwd=tmp_path,
    )  # fmt: skip
    assert alone.returncode == 0, alone.stderr
    base = tmp_path / "base.json"
    base.write_text(alone.stdout)
    moved = plan_cli(
        "--project", "governance", "--stack", "example", "--base", str(base), "--format", "json",
        "--project-dir", str(clone), "--stack-reference",
        f"organization/mlops-platform/dev={reference}", cwd=tmp_path,
    )  # fmt: skip
    assert moved.returncode == 0, moved.stderr
    changed = {p["new"] for e in json.loads(moved.stdout)["changes"] for p in e["properties"]}
    assert "mlops-big" in changed


# --- the PR comment --------------------------------------------------------------------------


def many_models(plan_json: dict[str, Any], count: int) -> dict[str, Any]:
    """A prod plan serving ``count`` models, made from the real one: the endpoint component and
    its children copied per model (renamed URNs, parents, dependencies and physical names)."""
    head = copy.deepcopy(plan_json)
    resources = head["resources"]
    root = next(r for r in resources if r["type"] == "mlops:serving:ModelEndpoint")
    stem = root["name"]  # e.g. demo-serving: its children are demo-serving-*
    family, frontier = [root], {root["urn"]}
    for res in resources:
        if res["parent"] in frontier and res is not root:
            family.append(res)
            frontier.add(res["urn"])
    urns = {r["urn"] for r in family}
    for index in range(1, count):

        def rename(text: str, index: int = index) -> str:
            return text.replace(stem, f"model{index}-{stem}")

        for res in family:
            clone = json.loads(rename(json.dumps(res)))
            clone["dependencies"] = [rename(d) if d in urns else d for d in res["dependencies"]]
            resources.append(clone)
    return head


def check_markup(text: str) -> None:
    """Complete markup: balanced <details>, tables with whole rows, code spans closed."""
    assert text.count("<details>") == text.count("</details>")
    assert text.count("<summary>") == text.count("</summary>")
    widths: list[int] = []
    for line in text.splitlines():
        unescaped = re.sub(r"\\.", "", line)
        assert unescaped.count("`") % 2 == 0, line
        if line.startswith("|"):
            widths.append(unescaped.count("|"))
        elif widths:
            assert len(set(widths)) == 1, widths
            widths = []


def results(*pairs: tuple[str, dict[str, Any], dict[str, Any]]) -> list[comment.StackResult]:
    out = []
    for stack, base, head in pairs:
        result = diff.diff(base, head)
        out.append(comment.StackResult(stack, 1 if result["policy"]["mandatory"] else 0, result))
    return out


def test_the_comment_leads_with_the_summary_and_flags_replacements(dev, prod, prod_release):
    text = comment.build(
        results(("dev", dev, dev), ("prod", prod, prod_release)),
        base_label="main",
        details_url="https://github.com/o/r/actions/runs/1",
    )
    check_markup(text)
    table = text.split("\n\n")[1].splitlines()
    assert table[0].startswith("| stack | + create | ~ update | ± replace |")
    assert table[2].startswith("| `dev` | 0 | 0 | 0 | 0 |") and table[2].endswith("| ✅ |")
    assert table[3].startswith("| `prod` | 0 |")
    assert "**`prod` replaces**" in text and "`churn-serving-config`" in text
    assert "forced by `productionVariants`" in text
    assert "**`prod` touches protected**" in text
    assert "± `registry-serving` (replace) — **blocked**" in text
    assert text.index("### Policy findings") < text.index("### Changes") < text.index("<details>")
    assert text.rstrip().endswith(
        "artifact of [the ci run](https://github.com/o/r/actions/runs/1)."
    )


def test_a_change_to_an_unpriced_size_shows_no_delta_figure(tmp_path, prod):
    """ml.m5.xlarge (priced) -> ml.m5.2xlarge (not in the price table): the head leaves the
    endpoint out of its total, which would read as a saving; the delta is unknown instead."""
    config = stack_config("prod")
    config["mlops-platform:serving"]["models"]["churn"]["instanceType"] = "ml.m5.2xlarge"
    head = plan_of(tmp_path, "prod", config)
    result = diff.diff(prod, head)
    cost = result["cost"]
    assert cost["unpriced"] == ["sagemaker-hosting:ml.m5.2xlarge"]
    assert cost["delta"] < 0 and cost["complete"] is False
    assert "(delta unknown: the price table lacks what changed)" in diff.render_tree(result)
    text = comment.build([comment.StackResult("prod", 0, result)])
    row = next(line for line in text.splitlines() if line.startswith("| `prod` |"))
    assert "| unknown ⚠ |" in row and f"{comment.MINUS}$" not in row
    assert "`prod` cost delta unknown" in text
    # a priced change keeps its figure
    same = diff.diff(prod, copy.deepcopy(prod))["cost"]
    assert same["complete"] is True and same["delta"] == 0


def test_the_comment_shows_a_prod_violations_text(dev, prod, prod_violation):
    text = comment.build(results(("dev", dev, dev), ("prod", prod, prod_violation)))
    check_markup(text)
    assert "| ❌ 2 mandatory, 2 new |" in text
    assert (
        "- 🆕 mandatory: ecr-scan-on-push: registry-serving: imageScanningConfiguration.scanOnPush is not true"
        in text
    )


def test_a_fifty_model_stack_fits_and_says_where_the_rest_is(dev, prod):
    served = len(prod["outputs"]["servingModels"])
    head = many_models(prod, 51 - served)  # the stack's own models and the copies: 50
    assert sum(r["type"] == "aws:sagemaker/endpoint:Endpoint" for r in head["resources"]) == 50
    pairs = results(("dev", dev, dev), ("staging", prod, head), ("prod", prod, head))
    text = comment.build(pairs, base_label="main")
    assert len(text.encode()) <= comment.DEFAULT_LIMIT < comment.GITHUB_LIMIT
    check_markup(text)
    creates = pairs[2].diff["summary"]["create"]
    assert creates >= (50 - served) * 7
    assert f"| `prod` | {creates} | 0 | 0 | 0 |" in text
    assert "more changed resource(s) of `prod` are in the whole plans" in text
    assert "**Not shown, to stay within GitHub's limit:**" in text
    # a small limit still gives whole markup, the summary first
    small = comment.build(pairs, base_label="main", limit=6000)
    assert len(small.encode()) <= 6000
    check_markup(small)
    assert "| `prod` |" in small


def test_text_from_plans_cannot_open_markup(prod):
    head = copy.deepcopy(prod)
    head["policy"] = [{"rule": "x", "severity": "mandatory", "urn": "u", "resource": "r",
                       "message": "</details> | `tick <b>bold</b> **x**"}]  # fmt: skip
    text = comment.build([comment.StackResult("prod", 1, diff.diff(prod, head))])
    check_markup(text)
    assert "&lt;/details&gt; \\| \\`tick &lt;b&gt;" in text


def test_the_ci_files_become_results_with_stdout_findings_and_stderr_errors(
    tmp_path, prod, prod_violation
):
    (tmp_path / "prod.diff.json").write_text(json.dumps(diff.diff(prod, prod_violation)))
    (tmp_path / "prod.rc").write_text("1\n")
    (tmp_path / "prod.err").write_text("")
    (tmp_path / "dev.rc").write_text("2\n")
    (tmp_path / "dev.err").write_text(
        'error: invalid config mlops-platform:registry.scanOnPush: got "yes"\n'
    )
    out = tmp_path / "comment.md"
    code = subprocess.run(
        [sys.executable, "-m", "mlops_platform.infra.comment", "--dir", str(tmp_path), "--stacks",
         "dev", "staging", "prod", "--base-label", "main"],
        stdout=out.open("w"), check=False,
    ).returncode  # fmt: skip
    text = out.read_text()
    assert code == 0
    assert "| `dev` | — | — | — | — | — | — | ⛔ invalid configuration (exit 2) |" in text
    assert 'mlops-platform:registry.scanOnPush: got "yes"' in text
    assert "| `staging` | — |" in text and "no result (exit 3)" in text
    assert "imageScanningConfiguration.scanOnPush is not true" in text
    check_markup(text)
