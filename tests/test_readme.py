"""README.md says what the code does: resource counts per stack, the layout list."""

from __future__ import annotations

import re
import subprocess

import pytest
from conftest import ROOT

from mlops_platform.infra import counts, plan

README = (ROOT / "README.md").read_text(encoding="utf-8")


def layout_block() -> str:
    section = README.split("\n## Layout\n", 1)[1]
    return section.split("```", 2)[1]


@pytest.fixture(scope="module")
def plans() -> dict:
    return {stack: plan.make_plan(stack, ROOT).to_json() for stack in counts.STACKS}


def test_the_readme_counts_are_the_plans(plans):
    """`make readme-counts` regenerates the table when a change adds or removes resources."""
    start, end = README.index(counts.BEGIN), README.index(counts.END) + len(counts.END)
    assert README[start:end] == counts.readme_table(plans), "stale: run `make readme-counts`"


def test_the_header_the_summary_and_the_readme_count_alike(plans, capsys):
    prod = plans["prod"]
    cloud = counts.counts(prod["resources"])["cloud"]
    tree = plan.render_tree(plan.make_plan("prod", ROOT))
    assert f"({cloud} cloud resources, " in tree.splitlines()[0]
    assert plan.main(["--summary", "prod", "--project-dir", str(ROOT)]) == 0
    assert f"| cloud resources | {cloud} |" in capsys.readouterr().out
    assert f"| cloud resources | {counts.counts(plans['dev']['resources'])['cloud']} |" in README


def _tracked_top_level() -> set[str]:
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    names = set()
    for path in files:
        head, _, rest = path.partition("/")
        names.add(f"{head}/" if rest else head)
    return names


def test_the_layout_names_every_top_level_folder_and_only_existing_ones():
    block = layout_block()
    named = set(re.findall(r"(?:^|[\s,])(\.?[\w.<>-]+/?)(?=[\s,])", block))
    folders = {name for name in _tracked_top_level() if name.endswith("/")} - {".github/"}
    for folder in folders:
        assert re.search(rf"(^|\s){re.escape(folder)}", block, re.M), f"{folder} is not in Layout"
    first_column = {
        line.split()[0].rstrip(",") for line in block.splitlines() if line and not line[0].isspace()
    }
    for name in first_column:
        if "<" not in name:
            assert (ROOT / name).exists(), f"Layout names {name}, which does not exist"
    assert named  # parsed


@pytest.mark.parametrize(
    ("folder", "suffix"), [("infra", ".py"), ("components", ".py"), ("policy", ".py")]
)
def test_the_layout_names_every_module_of_the_library(folder, suffix):
    block = layout_block()
    entry = block.split(f"\n{folder}/", 1)[1]
    entry = re.split(r"\n\S", entry, maxsplit=1)[0]  # up to the next first-column name
    for path in sorted((ROOT / folder).glob(f"*{suffix}")):
        if path.name == "__init__.py":
            continue
        name = path.name if folder != "components" or path.stem.startswith("_") else path.stem
        assert re.search(rf"\b{re.escape(name)}\b", entry), f"{folder}/{path.name} is not in Layout"


def test_the_layout_names_every_public_component():
    from mlops_platform import components

    block = layout_block()
    entry = re.split(r"\n\S", block.split("\ncomponents/", 1)[1], maxsplit=1)[0]
    import pulumi

    classes = [
        name
        for name in components.__all__
        if isinstance(getattr(components, name), type)
        and issubclass(getattr(components, name), pulumi.ComponentResource)
    ]
    assert classes
    for name in classes:
        assert re.search(rf"\b{name}\b", entry), f"{name} is not in Layout"
