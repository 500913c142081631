"""One declaration per setting: the Args declarations drive validation (of Args built in Python
and of stack config), the error lines, the JSON Schema of the stack files and the docs."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import regress
import yaml
from conftest import ROOT

from mlops_platform.components import (
    ArgsError,
    ContainerRegistryArgs,
    EncryptionKeyArgs,
    ModelEndpointArgs,
    NodePool,
)
from mlops_platform.components._schema import check_declared, declared_fields, describe
from mlops_platform.infra import plan, schema, settings

SCHEMA_PATH = ROOT / schema.SCHEMA_FILE
STACKS = ("dev", "staging", "prod")


def stack_file(stack: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    document = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(document)
    return jsonschema.Draft202012Validator(document)


# --- the generated schema ----------------------------------------------------------------------


def test_the_checked_in_schema_is_current():
    assert SCHEMA_PATH.read_text() == schema.render_schema(), "stale: run make schema"


def test_schema_check_command_fails_when_stale(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(schema, "render_schema", lambda *_: "{}\n")
    assert schema.main(["--check"]) == 1
    assert "stale: run make schema" in capsys.readouterr().err


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_file_validates_against_the_schema(validator, stack):
    errors = sorted(validator.iter_errors(stack_file(stack)), key=str)
    assert errors == []


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_file_points_editors_at_the_schema(stack):
    first = (ROOT / f"Pulumi.{stack}.yaml").read_text().splitlines()[0]
    assert first == f"# yaml-language-server: $schema=./{schema.SCHEMA_FILE}"


def test_every_pattern_is_an_ecmascript_regex():
    """Editors evaluate ``pattern`` with JavaScript's RegExp, not Python's ``re``."""
    patterns = re.findall(r'"pattern": "((?:[^"\\]|\\.)*)"', SCHEMA_PATH.read_text())
    assert len(patterns) > 20
    for pattern in patterns:
        regress.Regex(json.loads(f'"{pattern}"'))


def test_the_schema_covers_every_key_the_program_reads():
    properties = json.loads(SCHEMA_PATH.read_text())["properties"]["config"]["properties"]
    for key in settings.PROJECT_KEYS:
        assert f"mlops-platform:{key}" in properties and key in properties
    for key in settings.AWS_KEYS:
        assert f"aws:{key}" in properties
    assert "pulumi:disable-default-providers" in properties


SCHEMA_REJECTS = [
    ("typo in a block", ("mlops-platform:registry", "keepTaggedImage"), 3),
    ("integer out of range", ("mlops-platform:serving", "models", "demo", "canaryPercent"), 80),
    ("unknown enum value", ("mlops-platform:registry", "imageTagMutability"), "immutable"),
    ("pattern", ("mlops-platform:cluster", "adminPrincipalArns"), ["admin"]),
    ("node pool field", ("mlops-platform:cluster", "nodePools", "system", "minSize"), "three"),
    ("unknown top-level key", ("mlops-platform:regsitry",), {}),
    ("plain-text secret", ("mlops-platform:githubAppPrivateKey",), "-----BEGIN"),
    ("numeric account id", ("aws:allowedAccountIds",), [333333333333]),
]


@pytest.mark.parametrize(
    ("path", "value"), [c[1:] for c in SCHEMA_REJECTS], ids=[c[0] for c in SCHEMA_REJECTS]
)
def test_the_schema_rejects_what_the_program_rejects(validator, tmp_path, capsys, path, value):
    document = copy.deepcopy(stack_file("prod"))
    target = document["config"]
    for part in path[:-1]:
        target = target.setdefault(part, {})
    target[path[-1]] = value
    assert list(validator.iter_errors(document)), "the schema accepted it"
    # ... and so does the program, with one line naming the key.
    if path[0] == "mlops-platform:githubAppPrivateKey":
        return  # a plain text in place of a `secure:` value: covered by the plan's secret tests
    if path[0] == "aws:allowedAccountIds":
        return  # refused as unquoted YAML before the settings see it (tests/test_stack_files.py)
    project = tmp_path / "p"
    project.mkdir()
    (project / "Pulumi.yaml").write_text(
        yaml.safe_dump(
            {**yaml.safe_load((ROOT / "Pulumi.yaml").read_text()), "main": str(ROOT / "infra")}
        )
    )
    (project / "Pulumi.bad.yaml").write_text(yaml.safe_dump(document))
    code = plan.main(["--stack", "bad", "--project-dir", str(project)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1, err
    assert ".".join(str(p) for p in path).split(".")[0] in err


QUOTED = [
    ("number", ("mlops-platform:registry", "keepTaggedImages"), 30),
    ("node pool number", ("mlops-platform:cluster", "nodePools", "system", "minSize"), 2),
    ("boolean", ("mlops-platform:registry", "scanOnPush"), True),
]


def _project_with(tmp_path: Path, document: dict[str, Any], stack: str, name: str = "p") -> Path:
    project = tmp_path / name
    project.mkdir()
    (project / "Pulumi.yaml").write_text(
        yaml.safe_dump(
            {**yaml.safe_load((ROOT / "Pulumi.yaml").read_text()), "main": str(ROOT / "infra")}
        )
    )
    (project / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(document))
    return project


@pytest.mark.parametrize(("path", "value"), [c[1:] for c in QUOTED], ids=[c[0] for c in QUOTED])
def test_a_quoted_number_or_boolean_in_a_block_is_deprecated_not_refused(
    validator, tmp_path, path, value
):
    """0.1.0 read ``keepTaggedImages: "30"`` as 30: such a stack file still plans the same,
    with a warning naming the key; the schema (editors) already flags it."""
    plain, quoted = copy.deepcopy(stack_file("prod")), copy.deepcopy(stack_file("prod"))
    for document, written in ((plain, value), (quoted, str(value).lower())):
        target = document["config"]
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = written
    assert list(validator.iter_errors(quoted)) and not list(validator.iter_errors(plain))
    before = plan.make_plan("prod", _project_with(tmp_path, plain, "prod", "plain")).to_json()
    after = plan.make_plan("prod", _project_with(tmp_path, quoted, "prod", "quoted")).to_json()
    key = ".".join(path)
    warned = [d for d in after["diagnostics"] if key in d]
    assert len(warned) == 1 and "deprecated" in warned[0], after["diagnostics"]
    assert not any(key in d for d in before["diagnostics"])
    assert {**after, "diagnostics": []} == {**before, "diagnostics": []}


def test_a_quoted_value_out_of_range_is_still_an_error(tmp_path, capsys):
    document = copy.deepcopy(stack_file("prod"))
    document["config"]["mlops-platform:registry"]["keepTaggedImages"] = "0"
    project = _project_with(tmp_path, document, "bad")
    code = plan.main(["--stack", "bad", "--project-dir", str(project)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "mlops-platform:registry.keepTaggedImages: got 0; expected an integer from 1" in err


def test_secrets_are_secure_objects(validator):
    document = copy.deepcopy(stack_file("prod"))
    document["config"]["mlops-platform:githubAppPrivateKey"] = {"secure": "v1:abc"}
    assert list(validator.iter_errors(document)) == []
    document["config"]["mlops-platform:registry"] = {"secure": "v1:abc"}
    assert list(validator.iter_errors(document))


# --- one line naming the full key, from the declaration -----------------------------------------

NESTED = [
    (
        ("mlops-platform:serving", "models", "churn", "canaryPercent"),
        80,
        "invalid config mlops-platform:serving.models.churn.canaryPercent: got 80; "
        "expected an integer from 1 to 50",
    ),
    (
        ("mlops-platform:cluster", "nodePools", "runners", "minSize"),
        "3 nodes",
        'invalid config mlops-platform:cluster.nodePools.runners.minSize: got "3 nodes"; '
        "expected an integer from 0 to 1000",
    ),
    (
        ("mlops-platform:runners", "github", "scaleSets", "cpu", "maxRunners"),
        True,
        "invalid config mlops-platform:runners.github.scaleSets.cpu.maxRunners: got true; "
        "expected an integer from 1 to 1000",
    ),
    (
        ("mlops-platform:serving", "defaults", "alarmSubscriptions", 0, "protocol"),
        5,
        "invalid config mlops-platform:serving.defaults.alarmSubscriptions[0].protocol: got 5; "
        "expected one of email, email-json, https, sqs, lambda, sms",
    ),
    (
        ("mlops-platform:cluster", "nodePools", "gpu", "labels", "team"),
        7,
        "invalid config mlops-platform:cluster.nodePools.gpu.labels.team: got 7; "
        "a label value: up to 63 letters, digits, '-_.'",
    ),
    (
        ("mlops-platform:cluster", "nodePools", "gpu", "maxSzie"),
        4,
        "invalid config mlops-platform:cluster.nodePools.gpu.maxSzie: got 4; unknown key; "
        "allowed: pool, instanceTypes, capacityType, minSize, maxSize, desiredSize, "
        "diskSizeGb, maxUnavailablePercent, imdsHopLimit, labels",
    ),
]


@pytest.mark.parametrize(
    ("path", "value", "line"), NESTED, ids=[n[2].split(":")[1] for n in NESTED]
)
def test_a_wrong_type_deep_inside_a_block_names_the_full_key(tmp_path, capsys, path, value, line):
    config = copy.deepcopy(stack_file("prod")["config"])
    target: Any = config
    for part in path[:-1]:
        target = target.setdefault(part, {}) if isinstance(part, str) else target[part]
    target[path[-1]] = value
    project = tmp_path
    (project / "Pulumi.yaml").write_text(
        yaml.safe_dump(
            {**yaml.safe_load((ROOT / "Pulumi.yaml").read_text()), "main": str(ROOT / "infra")}
        )
    )
    (project / "Pulumi.bad.yaml").write_text(yaml.safe_dump({"config": config}))
    code = plan.main(["--stack", "bad", "--project-dir", str(project)])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err == f"error: {line}\n"


# --- the Args declarations, used directly from Python -------------------------------------------


def test_args_validate_strictly_when_built_in_python():
    with pytest.raises(ArgsError) as caught:
        ContainerRegistryArgs(keep_tagged_images="30")  # type: ignore[arg-type]
    assert (caught.value.field, caught.value.value) == ("keep_tagged_images", "30")
    assert caught.value.allowed == "expected an integer from 1 to 10000"
    with pytest.raises(ArgsError, match=r"deletion_window_in_days: got True"):
        EncryptionKeyArgs(deletion_window_in_days=True)  # type: ignore[arg-type]


def test_nested_args_name_their_place():
    pool = NodePool(name="gpu", pool="gpu", instance_types=("g6.xlarge",), min_size=-1)
    with pytest.raises(ArgsError) as caught:
        check_declared(pool, "node_pools[2]")
    assert caught.value.field == "node_pools[2].min_size"


def test_the_docs_and_the_errors_read_the_same_declaration():
    hint = next(d.hint for d in declared_fields(ModelEndpointArgs) if d.name == "canary_percent")
    assert describe(hint) == "expected an integer from 1 to 50"
    readme = (ROOT / "README.md").read_text()
    assert "| `canaryPercent` | `5` | an integer from 1 to 50 |" in readme
    document = json.loads(SCHEMA_PATH.read_text())
    canary = document["$defs"]["ServingModelConfig"]["properties"]["canaryPercent"]
    assert (canary["minimum"], canary["maximum"], canary["default"]) == (1, 50, 5)


def test_settings_hold_no_hand_written_type_coercion():
    source = Path(settings.__file__).read_text()
    for coercer in ("def _int(", "def _bool(", "def _str_list(", "def _str_map(", "def _number("):
        assert coercer not in source
    assert "isinstance(value, bool)" not in source
