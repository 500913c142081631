"""The pull-request comment: what a change does to each stack, within GitHub's size limit.

    python -m infra.comment --dir offline-plan --stacks dev staging prod \\
        --base-label main --details-url "$RUN_URL" > comment.md

``--dir`` holds, per stack, ``<stack>.diff.json`` (``python -m infra.plan --stack S --base-ref
REF --format json``), ``<stack>.rc`` (its exit status) and ``<stack>.err`` (its stderr). The
comment is, in this order: one summary table (per stack: creates, updates, replacements,
deletes, monthly cost and its delta, policy verdict), the replacements and protected resources a
change touches, then per stack its policy findings, then the changed resources, collapsed.

It fits by construction: every block is complete markdown (a table row, a list item, a whole
``<details>`` element) and is added only while the comment stays under ``--limit`` bytes
(default 65,000, below GitHub's 65,536 characters even counting bytes); what does not fit is
counted and the comment says where the rest is (the whole plans, a workflow artifact). Text from
the plans is escaped, so no value can open or close markup.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_platform.infra.diff import OPS, SYMBOL, finding_line, money, short

GITHUB_LIMIT = 65_536
DEFAULT_LIMIT = 65_000
MAX_PROPERTIES = 4  # changed properties shown per resource row
MAX_CELL = 160  # characters of a value in a cell
MAX_FINDING = 600  # characters of one finding
MAX_CALLOUTS = 15  # replacements / protected resources listed per stack in the summary
MINUS = "\u2212"  # the minus sign (U+2212), not a hyphen


@dataclass
class StackResult:
    """One stack's outcome: a diff (exit 0 or 1) or an error (exit 2, or a crash)."""

    stack: str
    exit_code: int
    diff: dict[str, Any] | None = None
    error: str = ""


@dataclass
class _Budget:
    limit: int
    used: int = 0
    parts: list[str] = field(default_factory=list)

    @staticmethod
    def size(text: str) -> int:
        return len(text.encode("utf-8"))

    def fits(self, text: str, reserve: int = 0) -> bool:
        return self.used + self.size(text) + reserve <= self.limit

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.used += self.size(text)

    def text(self) -> str:
        return "".join(self.parts)


# --- escaping ------------------------------------------------------------------------------------


def text(value: Any, limit: int = MAX_FINDING) -> str:
    """Free text in markdown: one line, no HTML, no table breaks."""
    plain = short(value, limit)
    return (
        plain.replace("\\", "\\\\")
        .replace("`", "\\`")
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("|", "\\|")
        .replace("*", "\\*")
        .replace("_", "\\_")
        .replace("[", "\\[")
    )


def code(value: Any, limit: int = MAX_CELL) -> str:
    """A value as an inline code span that is safe in a table cell."""
    plain = short(value, limit).replace("`", "'").replace("|", "\\|")
    return f"`{plain}`" if plain else "``"


# --- blocks --------------------------------------------------------------------------------------


def _verdict(result: StackResult) -> str:
    if result.diff is None:
        if "--base-ref" in result.error or "--base:" in result.error:
            return f"⚠️ no base plan to compare with (exit {result.exit_code})"
        kind = "invalid configuration" if result.exit_code == 2 else "the plan failed"
        return f"⛔ {kind} (exit {result.exit_code})"
    policy = result.diff["policy"]
    new = sum(1 for f in policy["new"] if f.get("severity") == "mandatory" and not f.get("waived"))
    if policy["mandatory"]:
        fresh = f", {new} new" if new else ""
        return f"❌ {policy['mandatory']} mandatory{fresh}"
    advisory = sum(1 for f in policy["findings"] if f.get("severity") != "mandatory")
    return "✅" + (f" ({advisory} advisory)" if advisory else "")


def _signed(delta: float | None) -> str:
    if delta is None:
        return "n/a"
    return money(delta, signed=True).replace("-", MINUS, 1)


def summary_table(results: Sequence[StackResult]) -> str:
    lines = [
        f"| stack | + create | ~ update | ± replace | {MINUS} delete | monthly cost | Δ cost "
        "| policy |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for result in results:
        if result.diff is None:
            lines.append(f"| `{result.stack}` | — | — | — | — | — | — | {_verdict(result)} |")
            continue
        s, cost = result.diff["summary"], result.diff["cost"]
        unpriced = " ⚠" if cost.get("unpriced") or not cost.get("complete", True) else ""
        delta = _signed(cost["delta"]) if cost.get("complete", True) else "unknown"
        lines.append(
            f"| `{result.stack}` | {s['create']} | {s['update']} | "
            f"{'**' + str(s['replace']) + '**' if s['replace'] else 0} | "
            f"{'**' + str(s['delete']) + '**' if s['delete'] else 0} | "
            f"{money(cost['head'])} | {delta}{unpriced} | {_verdict(result)} |"
        )
    return "\n".join(lines) + "\n"


def _callouts(results: Sequence[StackResult]) -> list[str]:
    """One list item per stack and kind: replacements, protected resources, deletions."""
    items = []
    for result in results:
        if result.diff is None:
            items.append(f"- `{result.stack}`: {text(result.error, 400)}")
            continue
        changes = result.diff["changes"]
        replaced = [e for e in changes if e["op"] == "replace"]
        protected = [e for e in changes if e["protect"]]
        deleted = [e for e in changes if e["op"] == "delete"]
        for title, entries, describe in (
            ("replaces", replaced, _replace_callout),
            ("touches protected", protected, _protected_callout),
            ("deletes", deleted, lambda e: f"`{e['name']}` ({code(e['type'])})"),
        ):
            if not entries:
                continue
            shown = [describe(e) for e in entries[:MAX_CALLOUTS]]
            more = len(entries) - len(shown)
            tail = f"; and {more} more (see Changes)" if more > 0 else ""
            items.append(
                f"- **`{result.stack}` {title}** {len(entries)}: " + "; ".join(shown) + tail
            )
        cost = result.diff["cost"]
        unpriced = cost.get("unpriced")
        if not cost.get("complete", True):
            items.append(
                f"- `{result.stack}` cost delta unknown: the price table lacks what changed"
                + (": " + ", ".join(code(u) for u in unpriced) if unpriced else "")
            )
        elif unpriced:
            items.append(
                f"- `{result.stack}` cost delta leaves out what the price table lacks: "
                + ", ".join(code(u) for u in unpriced)
            )
    return items


def _replace_callout(entry: dict[str, Any]) -> str:
    forced = ", ".join(code(r["property"], 60) for r in entry["replaceReasons"])
    outage = " — deleted before re-created: an outage" if entry.get("deleteBeforeReplace") else ""
    cause = f" (follows {code(entry['causedBy'], 60)})" if entry.get("causedBy") else ""
    return f"`{entry['name']}` ({code(entry['type'])}) forced by {forced}{cause}{outage}"


def _protected_callout(entry: dict[str, Any]) -> str:
    blocked = (
        " — **blocked**: Pulumi refuses to replace or delete a protected resource"
        if entry["op"] in ("replace", "delete")
        else ""
    )
    return f"{SYMBOL[entry['op']]} `{entry['name']}` ({entry['op']}){blocked}"


def _finding_item(finding: dict[str, Any], new: bool) -> str:
    mark = "🆕 " if new else ""
    return f"- {mark}{text(finding_line(finding))}\n"


def _change_row(entry: dict[str, Any]) -> str:
    props = entry["properties"]
    shown = []
    for change in props[:MAX_PROPERTIES]:
        flag = " ⚠ forces replacement" if change.get("forcesReplacement") else ""
        if entry["op"] in ("create", "delete"):
            break
        shown.append(
            f"{code(change['path'], 80)}: {code(change['old'], 60)} → "
            f"{code(change['new'], 60)}{flag}"
        )
    if len(props) > MAX_PROPERTIES and entry["op"] not in ("create", "delete"):
        shown.append(f"and {len(props) - MAX_PROPERTIES} more")
    if entry["op"] == "replace" and entry.get("deleteBeforeReplace"):
        shown.append("deleted before re-created (an outage)")
    if entry["op"] == "replace" and entry["replaceReasons"]:
        reason = entry["replaceReasons"][0]
        shown.append(f"why: {text(reason['source'] + ': ' + reason['detail'], 200)}")
    marks = " 🔒" if entry["protect"] else ""
    return (
        f"| {SYMBOL[entry['op']].replace('-', MINUS)} | `{entry['name']}`{marks} | "
        f"{code(entry['type'])} | {'<br>'.join(shown)} |\n"
    )


# --- the comment ---------------------------------------------------------------------------------


def build(
    results: Sequence[StackResult],
    *,
    base_label: str = "the base",
    head_label: str = "",
    details_url: str = "",
    limit: int = DEFAULT_LIMIT,
) -> str:
    """The comment for the given stacks; at most ``limit`` bytes of UTF-8."""
    run = f"[the ci run]({details_url})" if details_url else "the ci run"
    footer = (
        f"\n---\nWhole plans (JSON and tree per stack): the `offline-plans` artifact of {run}.\n"
    )
    budget = _Budget(limit)
    reserve = budget.size(footer) + 400  # the "not shown" notice
    on = f" at `{head_label}`" if head_label else ""
    budget.add(f"## Offline plan: what this change does, against `{base_label}`{on}\n\n")
    budget.add(summary_table(results))
    callouts = _callouts(results)
    if callouts:
        budget.add("\n")
    for item in callouts:
        if budget.fits(item + "\n", reserve):
            budget.add(item + "\n")
    skipped = {
        "findings": _policy_section(budget, results, reserve),
        "changed resources": _changes_section(budget, results, reserve),
    }
    if any(skipped.values()):
        parts = [f"{n} {kind}" for kind, n in skipped.items() if n]
        budget.add(f"\n**Not shown, to stay within GitHub's limit:** {', '.join(parts)}.\n")
    budget.add(footer)
    return budget.text()


def _ordered_findings(policy: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """(finding, mark): new ones first, then mandatory, unwaived; fixed ones last."""
    new = {(f.get("rule"), f.get("urn")) for f in policy["new"]}
    current = sorted(
        policy["findings"],
        key=lambda f: (
            (f.get("rule"), f.get("urn")) not in new,
            f.get("severity") != "mandatory",
            bool(f.get("waived")),
        ),
    )
    marked = [(f, "🆕 " if (f.get("rule"), f.get("urn")) in new else "") for f in current]
    return marked + [(f, "✔️ fixed: ") for f in policy["fixed"]]


def _policy_section(budget: _Budget, results: Sequence[StackResult], reserve: int) -> int:
    """Per stack its findings, one list item each; returns how many did not fit."""
    skipped = 0
    budget.add("\n### Policy findings\n")
    for result in results:
        if result.diff is None:
            continue
        findings = _ordered_findings(result.diff["policy"])
        title = f"\n**`{result.stack}`** {_verdict(result)}"
        if not findings:
            line = f"{title}: no findings\n"
            if budget.fits(line, reserve):
                budget.add(line)
            continue
        if not budget.fits(title + "\n\n", reserve):
            skipped += len(findings)
            continue
        budget.add(title + "\n\n")
        for finding, mark in findings:
            item = f"- {mark}{text(finding_line(finding))}\n"
            if budget.fits(item, reserve):
                budget.add(item)
            else:
                skipped += 1
    return skipped


def _changes_section(budget: _Budget, results: Sequence[StackResult], reserve: int) -> int:
    """Per stack a collapsed table of its changed resources; returns how many did not fit."""
    skipped = 0
    budget.add("\n### Changes\n")
    closing = "\n</details>\n"
    for result in results:
        if result.diff is None:
            continue
        changes, outputs = result.diff["changes"], result.diff["outputs"]
        if not changes and not any(outputs.values()):
            line = f"\n`{result.stack}`: no changes\n"
            if budget.fits(line, reserve):
                budget.add(line)
            continue
        s = result.diff["summary"]
        counts = ", ".join(f"{s[op]} to {op}" for op in OPS if s[op]) or "outputs only"
        opening = (
            f"\n<details><summary><code>{result.stack}</code>: {counts}</summary>\n\n"
            "| | resource | type | changed properties |\n| :---: | --- | --- | --- |\n"
        )
        if not budget.fits(opening + closing, reserve):
            skipped += len(changes)
            continue
        budget.add(opening)
        left = 0
        for entry in changes:
            row = _change_row(entry)
            # Rows in order until one does not fit (a table with a gap would mislead).
            if left == 0 and budget.fits(row, reserve + budget.size(closing) + 200):
                budget.add(row)
            else:
                left += 1
        if left:
            budget.add(
                f"\n… {left} more changed resource(s) of `{result.stack}` are in the whole plans.\n"
            )
            skipped += left
        output_lines = _output_lines(outputs)
        if output_lines and budget.fits(output_lines, reserve + budget.size(closing)):
            budget.add(output_lines)
        budget.add(closing)
    return skipped


def _output_lines(outputs: dict[str, Any]) -> str:
    lines = [f"- + {code(k, 60)}: {code(v)}" for k, v in outputs["added"].items()]
    lines += [f"- {MINUS} {code(k, 60)}" for k in outputs["removed"]]
    lines += [
        f"- ~ {code(k, 60)}: {code(a, 80)} → {code(b, 80)}"
        for k, (a, b) in outputs["changed"].items()
    ]
    return ("\n**Outputs**\n\n" + "\n".join(lines) + "\n") if lines else ""


# --- command line --------------------------------------------------------------------------------


def load(directory: Path, stack: str) -> StackResult:
    """A stack's result from the files the CI job wrote (see the module docstring)."""
    rc_file, err_file = directory / f"{stack}.rc", directory / f"{stack}.err"
    rc_text = rc_file.read_text(encoding="utf-8").strip() if rc_file.is_file() else ""
    code_ = int(rc_text) if rc_text.isdigit() else 3
    error = (
        err_file.read_text(encoding="utf-8", errors="replace").strip() if err_file.is_file() else ""
    )
    diff_file = directory / f"{stack}.diff.json"
    if code_ in (0, 1) and diff_file.is_file():
        try:
            return StackResult(stack, code_, json.loads(diff_file.read_text(encoding="utf-8")))
        except ValueError:
            error = f"{diff_file.name} is not JSON"
    last = error.splitlines()[-1] if error else f"no result (exit {code_})"
    return StackResult(stack, code_, None, last)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.comment", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--dir", type=Path, required=True, help="directory of the stacks' results")
    parser.add_argument("--stacks", nargs="+", required=True, metavar="STACK")
    parser.add_argument(
        "--base-label", default="the base", help="what the plans were diffed against"
    )
    parser.add_argument("--head-label", default="", help="the commit planned")
    parser.add_argument("--details-url", default="", help="where the whole plans are (the run)")
    parser.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help="bytes at most")
    args = parser.parse_args(argv)
    results = [load(args.dir, stack) for stack in args.stacks]
    sys.stdout.write(
        build(
            results,
            base_label=args.base_label,
            head_label=args.head_label,
            details_url=args.details_url,
            limit=min(args.limit, GITHUB_LIMIT),
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
