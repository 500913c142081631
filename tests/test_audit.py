"""``make audit`` (policy/audit.py): the skips file, the scanned-files proof, the verdict.

checkov itself runs in ``make audit`` (its own venv); these tests feed the evaluation checkov's
report shape, so they run without it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_platform.policy import audit

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def targets(tmp_path) -> dict[str, Path]:
    return audit.scan_targets(ROOT, tmp_path)


def _check(check_id: str, file_path: str, resource: str = "aws_s3_bucket.data") -> dict:
    return {
        "check_id": check_id,
        "file_path": file_path,
        "resource": resource,
        "check_name": f"name of {check_id}",
    }


def _report(passed=(), failed=()) -> dict:
    return {"results": {"passed_checks": list(passed), "failed_checks": list(failed)}}


def _all_scanned(targets: dict[str, Path]) -> dict:
    return _report(passed=[_check("CKV_X_1", str(path.resolve())) for path in targets.values()])


def test_every_shipped_file_is_a_target(targets):
    assert {"dev", "staging", "prod", ".gitlab-ci.yml", "serving/Dockerfile"} <= set(targets)
    assert "examples/ml-project/training.Dockerfile" in targets
    assert ".github/workflows/ci.yml" in targets
    assert "examples/ml-project/.github/workflows/train-and-build.yml" in targets


def test_the_repository_skips_file_is_valid_and_reasoned(targets):
    skips = audit.load_skips((ROOT / audit.SKIPS_FILE).read_text(), targets)
    for per_target in skips.values():
        for skip in per_target.values():
            assert len(skip.reason) >= audit.MIN_REASON


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("skips:\n  CKV_AWS_18:\n    prod: ''\n", "CKV_AWS_18.prod: a skip needs a written reason"),
        (
            "skips:\n  CKV_AWS_18:\n    prod:\n      resources: [a]\n",
            "CKV_AWS_18.prod: a skip needs",
        ),
        (
            "skips:\n  CKV_AWS_18:\n    qa: because we say so\n",
            "CKV_AWS_18.qa: unknown target 'qa'",
        ),
        ("skips:\n  CKV_AWS_18: just a reason\n", "CKV_AWS_18: map each target"),
        (
            "skips:\n  CKV_AWS_18:\n    prod: {reason: a good reason here, why: x}\n",
            "CKV_AWS_18.prod: unknown key 'why'",
        ),
        ("skips: [1, 2]\n", "'skips' must map check ids"),
        ("skips: {a: [\n", "not valid YAML"),
    ],
)
def test_a_bad_skip_is_one_line_naming_the_check(targets, text, expected):
    with pytest.raises(audit.AuditError) as error:
        audit.load_skips(text, targets)
    message = str(error.value)
    assert expected in message
    assert "\n" not in message


def test_a_skip_without_reason_exits_2_naming_the_check(tmp_path, capsys, monkeypatch):
    root = tmp_path / "repo"
    for relative in (
        ".github/workflows/ci.yml",
        "serving/Dockerfile",
        "examples/ml-project/training.Dockerfile",
        ".gitlab-ci.yml",
    ):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text("x\n")
    (root / "policy").mkdir()
    (root / audit.SKIPS_FILE).write_text("skips:\n  CKV_AWS_144:\n    prod: ok\n")
    plans = tmp_path / "plans"
    plans.mkdir()
    for stack in audit.STACKS:
        (plans / f"{stack}.tfplan.json").write_text("{}")
    monkeypatch.setattr(audit, "run_checkov", lambda files: pytest.fail("checkov must not run"))
    assert audit.main(["--plans", str(plans), "--root", str(root)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "audit: policy/checkov-skips.yaml: CKV_AWS_144.prod: a skip needs a written reason "
        "(at least 10 characters)"
    ]


def test_a_failure_fails_unless_skipped_for_that_target(targets):
    failed = _check("CKV_AWS_18", str(targets["prod"].resolve()))
    skips = {"CKV_AWS_18": {"staging": audit.Skip("staging logs elsewhere")}}
    outcome = audit.evaluate([_all_scanned(targets), _report(failed=[failed])], targets, skips)
    assert not outcome.ok
    assert [(f.check, f.target) for f in outcome.failures] == [("CKV_AWS_18", "prod")]
    assert outcome.unused == ["CKV_AWS_18.staging"]

    skips = {"CKV_AWS_18": {"prod": audit.Skip("the log bucket itself")}}
    outcome = audit.evaluate([_all_scanned(targets), _report(failed=[failed])], targets, skips)
    assert outcome.ok
    assert len(outcome.skipped) == 1


def test_a_skip_limited_to_resources_covers_only_those(targets):
    plan = str(targets["prod"].resolve())
    failures = [
        _check("CKV_AWS_355", plan, "aws_iam_role_policy.ci-github-deploy"),
        _check("CKV_AWS_355", plan, "aws_iam_policy.new-and-wrong"),
    ]
    skips = {
        "CKV_AWS_355": {
            "prod": audit.Skip("the deploy role", ("aws_iam_role_policy.ci-github-deploy",))
        }
    }
    outcome = audit.evaluate([_all_scanned(targets), _report(failed=failures)], targets, skips)
    assert [f.resource for f in outcome.failures] == ["aws_iam_policy.new-and-wrong"]


def test_a_file_checkov_dropped_fails_the_audit(targets):
    """checkov drops workflow files its schema rejects without a word: a target with no result
    at all counts as not scanned."""
    reported = [
        _check("CKV_X_1", str(path.resolve()))
        for name, path in targets.items()
        if name != ".github/workflows/ci.yml"
    ]
    outcome = audit.evaluate([_report(passed=reported)], targets, {})
    assert outcome.unscanned == [".github/workflows/ci.yml"]
    assert not outcome.ok
    lines = audit.report_lines(outcome)
    assert any(line.startswith("NOT SCANNED .github/workflows/ci.yml") for line in lines)


def test_checkov_paths_of_every_framework_are_recognised(targets):
    """checkov reports absolute paths (dockerfile), ``/``-rooted relative ones (workflows,
    GitLab CI) and the plans as given."""
    paths = {
        "serving/Dockerfile": str((ROOT / "serving/Dockerfile").resolve()),
        ".gitlab-ci.yml": "/.gitlab-ci.yml",
        ".github/workflows/ci.yml": "/.github/workflows/ci.yml",
    }
    for target, reported in paths.items():
        assert audit._target_of(reported, targets, ROOT) == target


def test_a_target_may_list_several_skips_and_patterns(targets):
    text = """
skips:
  CKV_AWS_355:
    prod:
      - reason: the deploy role cannot name what Pulumi autonames in advance
        resources: [aws_iam_role_policy.ci-github-deploy]
      - reason: actions without resource-level permissions, one role per model
        resources: ["aws_iam_role_policy.*-pipeline-role-pipeline"]
"""
    skips = audit.load_skips(text, targets)
    plan = str(targets["prod"].resolve())
    failures = [
        _check("CKV_AWS_355", plan, "aws_iam_role_policy.ci-github-deploy"),
        _check("CKV_AWS_355", plan, "aws_iam_role_policy.churn-pipeline-role-pipeline"),
        _check("CKV_AWS_355", plan, "aws_iam_role_policy.runner-role"),
    ]
    outcome = audit.evaluate([_all_scanned(targets), _report(failed=failures)], targets, skips)
    assert [f.resource for f in outcome.failures] == ["aws_iam_role_policy.runner-role"]
    assert len(outcome.skipped) == 2
    with pytest.raises(audit.AuditError, match=r"CKV_AWS_355.prod: a skip needs a written reason"):
        audit.load_skips(
            text.replace("the deploy role cannot name", "x")
            .split("  - reason: actions")[0]
            .replace("reason: x what Pulumi autonames in advance", "reason: short"),
            targets,
        )
