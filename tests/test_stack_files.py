"""Stack files are read as the Pulumi CLI reads them: YAML 1.2 (Go's yaml.v3), one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ROOT

from mlops_platform.infra import plan


def write_stack(tmp_path: Path, text: str, stack: str = "t") -> Path:
    """A project running this repository's program, with a stack file given as raw text."""
    project = (ROOT / "Pulumi.yaml").read_text(encoding="utf-8")
    (tmp_path / "Pulumi.yaml").write_text(project.replace("main: infra/", f"main: {ROOT}/infra/"))
    (tmp_path / f"Pulumi.{stack}.yaml").write_text(text)
    return tmp_path


def dev_with(old: str, new: str) -> str:
    text = (ROOT / "Pulumi.dev.yaml").read_text(encoding="utf-8")
    assert old in text
    return text.replace(old, new, 1)


def run(capsys, project: Path, stack: str = "t") -> tuple[int, str, str]:
    code = plan.main(["--stack", stack, "--project-dir", str(project), "--format", "json"])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: yes\nb: no\nc: on\nd: off\n", {"a": "yes", "b": "no", "c": "on", "d": "off"}),
        ("a: true\nb: False\n", {"a": True, "b": False}),
        ("a: 0o17\nb: 0x1F\nc: 1_000\n", {"a": 15, "b": 31, "c": 1000}),
        (
            "a: 2024-01-01\nb: 2024-01-01T10:00:00Z\n",
            {"a": "2024-01-01", "b": "2024-01-01T10:00:00Z"},
        ),
        ("a: \"011111111111\"\nb: '0123'\n", {"a": "011111111111", "b": "0123"}),
        ("a: 0\nb: -7\nc: 1.5\n", {"a": 0, "b": -7, "c": 1.5}),
    ],
    ids=["1.1 booleans are strings", "booleans", "1.2 numbers", "timestamps", "quoted", "plain"],
)
def test_values_are_what_yaml_v3_reads(tmp_path, text, expected):
    path = tmp_path / "Pulumi.x.yaml"
    path.write_text(text)
    assert plan.read_yaml(path) == expected


def test_yes_reaches_the_settings_as_the_string_the_cli_passes(tmp_path, capsys):
    project = write_stack(
        tmp_path,
        dev_with(
            "  mlops-platform:registry:\n", "  mlops-platform:registry:\n    scanOnPush: yes\n"
        ),
    )
    code, out, err = run(capsys, project)
    assert (code, out) == (2, "")
    assert (
        err
        == 'error: invalid config mlops-platform:registry.scanOnPush: got "yes"; expected true or false\n'
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "[011111111111]",
            "Pulumi.t.yaml:{where}: 011111111111 is an unquoted number with a leading zero (the Pulumi "
            'CLI reads it as octal 1227133513); quote account ids and other digit strings: "011111111111"',
        ),
        (
            "[111111111111]",
            "Pulumi.t.yaml:{where}: 111111111111 is an unquoted number; AWS account ids are strings: "
            'quote it, "111111111111"',
        ),
        (
            "[089]",
            "Pulumi.t.yaml:{where}: 089 is an unquoted number with a leading zero (the Pulumi CLI cannot read it)",
        ),
    ],
    ids=["octal trap", "account id", "not even octal"],
)
def test_unquoted_account_ids_are_refused_with_a_hint(tmp_path, capsys, value, expected):
    text = dev_with('["111111111111"]', value)
    line = next(n for n, row in enumerate(text.splitlines(), 1) if value in row)
    where = f"{line}:{text.splitlines()[line - 1].index(value) + 2}"
    project = write_stack(tmp_path, text)
    code, out, err = run(capsys, project)
    assert (code, out) == (2, "")
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: " + expected.format(where=where)), err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("config:\n  aws:region: [eu-west-1\n", "Pulumi.t.yaml:3:1: "),
        ("config:\n  a: 1\n   b: 2\n", "Pulumi.t.yaml:3:5: mapping values are not allowed here"),
        ("config:\n  a: 1\n  a: 2\n", 'Pulumi.t.yaml:3:3: found duplicate key "a"'),
        ("config:\n\ttabbed: 1\n", "Pulumi.t.yaml:2:1: "),
    ],
    ids=["unclosed flow", "bad indentation", "duplicate key", "tab"],
)
def test_syntax_errors_name_file_line_and_column_on_one_line(tmp_path, capsys, text, expected):
    code, out, err = run(capsys, write_stack(tmp_path, text))
    assert (code, out) == (2, "")
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"error: {expected}"), err


def test_project_file_errors_name_it(tmp_path, capsys):
    (tmp_path / "Pulumi.yaml").write_text("name: demo\nmain: [\n")
    (tmp_path / "Pulumi.t.yaml").write_text("config: {}\n")
    code, _, err = run(capsys, tmp_path)
    assert code == 2 and err.startswith("error: Pulumi.yaml:3:1: ") and len(err.splitlines()) == 1


def test_the_settings_still_refuse_numeric_account_ids_from_other_sources():
    """`pulumi config set` writes strings, but a program can get JSON numbers (e.g. from
    PULUMI_CONFIG): the settings keep their own check."""
    files = plan.load_stack_files(ROOT, "dev")
    config = dict(files.config, **{"aws:allowedAccountIds": "[111111111111]"})
    with pytest.raises(Exception, match="12-digit account ids as strings"):
        plan.run_program(
            plan.StackFiles(files.project, files.main, config, files.secret_keys), "dev"
        )


def test_the_repositorys_stack_files_read_the_same_with_both_parsers():
    """The three stack files mean the same in YAML 1.1 and 1.2 (nothing relies on either)."""
    import yaml

    for stack in ("dev", "staging", "prod"):
        path = ROOT / f"Pulumi.{stack}.yaml"
        assert plan.read_yaml(path) == yaml.safe_load(path.read_text()), stack


# --- placeholders: example values to replace before the first `pulumi up` -------------------------

from mlops_platform.infra import placeholders  # noqa: E402


@pytest.mark.parametrize(
    ("value", "secure", "expected"),
    [
        ("111111111111", False, "AWS documentation account id"),
        ("arn:aws:iam::123456789012:role/admin", False, "AWS documentation account id"),
        ("mlops-state-333333333333", False, "AWS documentation account id"),
        ("v1:REPLACE-WITH-pulumi-config-set-secret", True, "not a Pulumi ciphertext"),
        ("oncall@example.com", False, "reserved example domain"),
        ("https://gitlab.example/", False, "reserved example domain"),
        ("203.0.113.0/24", False, "documentation address range"),
        ("2001:db8::/48", False, "documentation address range"),
        ("https://github.com/my-org", False, "example owner"),
        ("your-team/infra", False, "example owner"),
        ("123456", False, "counting-sequence id"),
        ("CHANGEME", False, "marked as a placeholder"),
        # real-looking values are not flagged
        ("v1:c2FsdA==:Y2lwaGVydGV4dA==", True, None),
        ("604891234567", False, None),
        ("arn:aws:iam::604891234567:role/platform-admin", False, None),
        ("acme/mlops-platform", False, None),
        ("10.0.0.0/16", False, None),
        ("ml-oncall@acme.io", False, None),
        ("2847193", False, None),
        ("eu-west-1", False, None),
        ("ml-platform-team", False, None),
    ],
)
def test_placeholder_conventions(value, secure, expected):
    why = placeholders.why_placeholder(value, secure=secure)
    assert (why is None) if expected is None else (expected in why), why


def test_every_example_in_the_stack_files_is_listed(capsys):
    code = plan.main(
        ["--check-placeholders", "--stack", "dev", "--format", "json", "--project-dir", str(ROOT)]
    )
    found = {item["key"]: item for item in json.loads(capsys.readouterr().out)}
    assert code == 1
    assert set(found) == {
        "aws:allowedAccountIds[0]",
        "mlops-platform:cluster.publicAccessCidrs[0]",
        "mlops-platform:cluster.adminPrincipalArns[0]",
        "mlops-platform:runners.github.configUrl",
        "mlops-platform:runners.github.appId",
        "mlops-platform:runners.github.installationId",
        "mlops-platform:githubAppPrivateKey",
        "mlops-platform:gitlabRunnerToken",
        "mlops-platform:ci.githubRepository",
        "mlops-platform:ci.stateBucket",
        "mlops-platform:ci.stateKeyArn",
        "mlops-platform:ci.gitlabProject",
        "mlops-platform:pipelines.models.demo.repository",
        "mlops-platform:pipelines.models.churn.repository",
    }
    text = (ROOT / "Pulumi.dev.yaml").read_text().splitlines()
    for item in found.values():  # the line holds the value
        assert item["value"] in text[item["line"] - 1], item


def test_a_filled_in_stack_has_no_placeholders(tmp_path, capsys):
    text = (ROOT / "Pulumi.prod.yaml").read_text()
    for old, new in [
        ("333333333333", "604891234567"),
        ("my-org", "acme"),
        ("my-group", "acme-ml"),
        ("ml-oncall@example.com", "ml-oncall@acme.io"),
        ('appId: "123456"', 'appId: "2847193"'),
        ('installationId: "12345678"', 'installationId: "51234987"'),
        ("v1:REPLACE-WITH-pulumi-config-set-secret", "v1:c2FsdA==:Y2lwaGVydGV4dA=="),
    ]:
        text = text.replace(old, new)
    project = write_stack(tmp_path, text, stack="prod")
    code = plan.main(["--check-placeholders", "--project-dir", str(project)])
    assert (code, capsys.readouterr().out) == (0, "no placeholders in Pulumi.prod.yaml\n")


def test_check_placeholders_bad_input_is_one_line(tmp_path, capsys):
    assert plan.main(["--check-placeholders", "--stack", "qa", "--project-dir", str(ROOT)]) == 2
    assert "no Pulumi.qa.yaml" in capsys.readouterr().err
    assert plan.main(["--check-placeholders", "--summary", "dev"]) == 2
    assert len(capsys.readouterr().err.splitlines()) == 1
