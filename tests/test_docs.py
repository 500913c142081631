"""docs/components.md is generated from the code: complete, current, and its snippets run."""

from __future__ import annotations

import importlib.util
import sys
from types import SimpleNamespace

import pulumi
import pytest
from conftest import ROOT, after_registration

from mlops_platform import components

_spec = importlib.util.spec_from_file_location("docs_generate", ROOT / "docs" / "generate.py")
assert _spec and _spec.loader
generate = importlib.util.module_from_spec(_spec)
sys.modules["docs_generate"] = generate
_spec.loader.exec_module(generate)

COMPONENTS = generate.component_classes(components)


def test_every_exported_component_is_documented():
    assert generate.lint(components) == []


def test_components_md_is_current():
    committed = (ROOT / "docs" / "components.md").read_text(encoding="utf-8")
    assert committed == generate.render(components), "docs/components.md is stale: run make docs"


def test_readme_configuration_reference_is_current():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme == generate.readme_with_reference(readme), "README.md is stale: run make docs"


def test_readme_configuration_reference_lists_every_key():
    from mlops_platform.infra import schema

    reference = generate.render_config_reference()
    for key in schema.PROJECT_KEYS:
        assert f"| `mlops-platform:{key}` |" in reference, key
    for block, model in schema.BLOCKS.items():
        assert f"`mlops-platform:{block}`" in reference
        for name, info in model.model_fields.items():
            assert f"| `{info.alias or name}` |" in reference, (block, name)


@pytest.mark.parametrize(
    "reference", generate.REFERENCES, ids=[r.source for r in generate.REFERENCES]
)
def test_every_projects_configuration_reference_is_current_and_complete(reference):
    """The platform's, governance's and bootstrap's config tables come from their models."""
    text = reference.path.read_text(encoding="utf-8")
    assert text == generate.readme_with_reference(text, [reference]), "stale: run make docs"
    section = generate.render_config_reference(reference)
    assert section in text
    target = reference.load()
    for name, info in target.model.model_fields.items():
        alias = info.alias or name
        key = alias if alias.startswith("aws:") else f"{target.project}:{alias}"
        assert f"| `{key}` |" in section, key
        if key.startswith("aws:"):
            continue  # the provider's keys: their meaning says their shape
        for model in generate._models_in(info.annotation):
            for nested_name, nested in model.model_fields.items():
                assert f"| `{nested.alias or nested_name}` |" in section, (key, nested_name)


def test_every_component_has_a_section_with_its_tables():
    text = generate.render(components)
    for cls in COMPONENTS:
        section = text.split(f"\n## {cls.__name__}\n", 1)[1].split("\n## ", 1)[0]
        for heading in ("### Secure defaults", "### Usage", "### Inputs", "### Outputs"):
            assert heading in section, (cls.__name__, heading)


def test_field_docstrings_come_from_the_source():
    from mlops_platform.components import DvcRemoteArgs

    fields = {a.name: a for a in generate.dataclass_fields(DvcRemoteArgs)}
    assert fields["prefix"].doc == "Key prefix inside the bucket that DVC uses as its remote root."
    assert fields["prefix"].default == "'dvc'"
    assert fields["bucket"].default == "DataBucketArgs()"
    assert not fields["prefix"].required


def test_lint_names_what_is_missing():
    class Undocumented(pulumi.ComponentResource):
        value: pulumi.Output[str]

        def __init__(self, name, args: components.DvcRemoteArgs, opts=None):
            super().__init__("mlops:test:Undocumented", name, None, opts)

    package = SimpleNamespace(__all__=("Undocumented",), Undocumented=Undocumented)
    problems = generate.lint(package)
    assert "Undocumented: the class docstring has no purpose" in problems
    assert "Undocumented: SECURE_DEFAULTS is missing or empty" in problems
    assert "Undocumented.value: no docstring" in problems
    with pytest.raises(generate.DocError):
        generate.render(package)


@pytest.mark.parametrize("cls", COMPONENTS, ids=lambda c: c.__name__)
@pulumi.runtime.test
def test_usage_snippet_runs_under_the_mocks(mocks, cls):
    snippet = generate.example(cls)
    exec(compile(snippet, f"<{cls.__name__} example>", "exec"), {"__name__": "__example__"})

    def check(m):
        assert m.of_type(generate.type_token(cls)), f"the {cls.__name__} example builds none"

    return after_registration(mocks, check)
