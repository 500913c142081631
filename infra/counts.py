"""The resource counts of each stack, one way for every place that shows them.

The plan's header (tree and markdown), ``--summary``, the diff and the README's table count the
same things: *cloud resources* are the resources a provider creates (``custom``, not the
providers themselves); *providers* and *components* (with the stack) are counted apart.

    make readme-counts   # python -m infra.counts README.md: regenerates the README's table

``tests/test_readme.py`` fails when the README's table is stale.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

BEGIN = "<!-- counts:begin (make readme-counts) -->"
END = "<!-- counts:end -->"
STACKS = ("dev", "staging", "prod")


def is_cloud(res: dict[str, Any]) -> bool:
    return bool(res["custom"]) and not res["type"].startswith("pulumi:providers:")


def counts(resources: list[dict[str, Any]]) -> dict[str, int]:
    """``{resources, cloud, providers, components, protected}`` of a plan's resources."""
    kinds = Counter(
        "cloud" if is_cloud(r) else "providers" if r["custom"] else "components" for r in resources
    )
    return {
        "resources": len(resources),
        "cloud": kinds["cloud"],
        "providers": kinds["providers"],
        "components": kinds["components"],  # the stack root included
        "protected": sum(1 for r in resources if r["protect"]),
    }


def headline(resources: list[dict[str, Any]]) -> str:
    c = counts(resources)
    return (
        f"{c['resources']} resources ({c['cloud']} cloud resources, {c['providers']} providers, "
        f"{c['components']} components and the stack), {c['protected']} protected"
    )


def readme_table(plans: dict[str, dict[str, Any]]) -> str:
    """The README's table: per stack its counts and its cloud resources per capability."""
    from mlops_platform.infra import estimate

    stacks = list(plans)
    rows: dict[str, dict[str, int]] = {s: counts(plans[s]["resources"]) for s in stacks}
    capability: dict[str, Counter[str]] = {}
    for stack, plan in plans.items():
        owner = estimate.owners(plan["resources"])
        capability[stack] = Counter(
            estimate.capability(owner[r["urn"]]) for r in plan["resources"] if is_cloud(r)
        )
    names = sorted({c for counter in capability.values() for c in counter})
    lines = [
        BEGIN,
        "<!-- generated from the offline plans of the stack files -->",
        "| | " + " | ".join(f"`{s}`" for s in stacks) + " |",
        "| --- |" + " ---: |" * len(stacks),
    ]
    for key, title in (
        ("cloud", "cloud resources"),
        ("protected", "protected"),
        ("components", "components (and the stack)"),
    ):
        lines.append(f"| {title} | " + " | ".join(str(rows[s][key]) for s in stacks) + " |")
    for name in names:
        lines.append(
            f"| · {name} | " + " | ".join(str(capability[s].get(name, 0)) for s in stacks) + " |"
        )
    lines.append(END)
    return "\n".join(lines)


def replace_section(text: str, section: str) -> str:
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"no '{BEGIN}' ... '{END}' section")
    return text[:start] + section + text[end + len(END) :]


def current_table(project_dir: Path | None = None) -> str:
    from mlops_platform.infra.plan import make_plan

    return readme_table({s: make_plan(s, project_dir).to_json() for s in STACKS})


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - exercised by make
    args = sys.argv[1:] if argv is None else argv
    readme = Path(args[0] if args else "README.md")
    text = readme.read_text(encoding="utf-8")
    readme.write_text(replace_section(text, current_table()), encoding="utf-8")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
