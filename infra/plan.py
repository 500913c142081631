"""The offline plan: what ``pulumi up --stack <stack>`` would create, without AWS or the CLI.

    python -m infra.plan --stack dev                     # human tree
    python -m infra.plan --stack prod --format json      # machine-readable (DESIGN.md contract)
    python -m infra.plan --stack prod --format markdown  # pull-request comment
    python -m infra.plan --stack prod --format mermaid   # component diagram
    python -m infra.plan --stack dev --compare prod      # what differs (tree, json, markdown)
    python -m infra.plan --summary dev staging prod      # stacks side by side (markdown)
    python -m infra.plan --project governance --stack example   # another project of the checkout

It runs the real program (``main`` of Pulumi.yaml, i.e. ``infra/__main__.py``) under Pulumi's
mock engine with the stack's configuration from ``Pulumi.yaml`` and ``Pulumi.<stack>.yaml``.

The plan runs the policy pack's rules (``policy/rules.py``) over what it recorded and reports
their findings in ``policy``; a finding the stack waived (``mlops-platform:policy.waivers``) is
reported with ``waived: true`` and its reason, and does not fail the plan.

Exit status: 0 planned; 1 unwaived mandatory policy violation(s), the full plan still printed;
2 invalid configuration or usage, one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import re
import runpy
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from mlops_platform.infra import compare, diagram, estimate

FORMATS = ("tree", "json", "markdown", "mermaid")
STACK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
SECRET_PLACEHOLDER = "offline-plan-secret"


class PlanError(Exception):
    """The plan cannot be made: bad usage, files or configuration. One line, exit 2."""


@dataclass
class Plan:
    project: str
    stack: str
    resources: list[dict[str, Any]]
    outputs: dict[str, Any]
    policy: list[dict[str, Any]] = field(default_factory=list)
    diagnostics: list[str] = field(default_factory=list)
    estimate: dict[str, Any] = field(default_factory=dict)

    @property
    def mandatory_violations(self) -> list[dict[str, Any]]:
        """Mandatory findings the stack did not waive: any of them makes the plan exit 1."""
        return [v for v in self.policy if v.get("severity") == "mandatory" and not v.get("waived")]

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "stack": self.stack,
            "resources": self.resources,
            "outputs": self.outputs,
            "policy": self.policy,
            "diagnostics": self.diagnostics,
            "estimate": self.estimate,
        }


# --- reading the project and stack files ---------------------------------------------------------


def find_project_dir(start: Path | None = None) -> Path:
    """The nearest directory holding Pulumi.yaml, from ``start`` (default: cwd) upwards, else
    the source checkout this module belongs to."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        if (directory / "Pulumi.yaml").is_file():
            return directory
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "Pulumi.yaml").is_file():
        return checkout
    raise PlanError(f"no Pulumi.yaml in {here} or its parents; run from the project directory")


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(error, "problem", None) or "invalid YAML"
        raise PlanError(f"{path.name}{where}: {problem}") from None


def config_string(value: Any) -> str:
    """A config value as the Pulumi CLI hands it to the program: strings as they are,
    everything else JSON-encoded (``true``, ``7``, ``{"a": 1}``)."""
    return value if isinstance(value, str) else json.dumps(value)


def _without_secure(value: Any) -> tuple[Any, bool]:
    """Replaces ``{secure: ...}`` ciphertexts (unreadable offline) by a placeholder."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return SECRET_PLACEHOLDER, True
        items = {k: _without_secure(v) for k, v in value.items()}
        return {k: v for k, (v, _) in items.items()}, any(s for _, s in items.values())
    if isinstance(value, list):
        items = [_without_secure(v) for v in value]
        return [v for v, _ in items], any(s for _, s in items)
    return value, False


def _full_key(key: str, project: str) -> str:
    return key if ":" in key else f"{project}:{key}"


@dataclass(frozen=True)
class StackFiles:
    project: str
    main: Path
    config: dict[str, str]
    secret_keys: list[str]


def load_stack_files(project_dir: Path, stack: str) -> StackFiles:
    """Project name, program path and the merged config of ``Pulumi.yaml`` + stack file."""
    if not STACK_NAME.match(stack):
        raise PlanError(f"--stack: got {stack!r}; expected a stack name such as dev")
    project_file = _read_yaml(project_dir / "Pulumi.yaml")
    if not isinstance(project_file, dict) or not project_file.get("name"):
        raise PlanError("Pulumi.yaml: expected a project with a name")
    project = str(project_file["name"])
    main = project_dir / str(project_file.get("main", "."))

    stack_path = project_dir / f"Pulumi.{stack}.yaml"
    if not stack_path.is_file():
        known = sorted(
            p.name[len("Pulumi.") : -len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml")
        )
        raise PlanError(
            f"--stack: got {stack!r}; no Pulumi.{stack}.yaml (stacks: {', '.join(known)})"
        )
    stack_file = _read_yaml(stack_path) or {}
    if not isinstance(stack_file, dict) or not isinstance(stack_file.get("config") or {}, dict):
        raise PlanError(f"Pulumi.{stack}.yaml: expected a 'config' map")

    raw: dict[str, Any] = {}
    # Project-level declarations: shorthand values and `default`s apply unless the stack sets
    # the key; a `value` always applies.
    for key, declared in (project_file.get("config") or {}).items():
        if isinstance(declared, dict) and ("default" in declared or "value" in declared):
            raw[_full_key(key, project)] = declared.get("value", declared.get("default"))
        elif not isinstance(declared, dict):
            raw[_full_key(key, project)] = declared
    for key, value in (stack_file.get("config") or {}).items():
        raw[_full_key(str(key), project)] = value

    config: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in raw.items():
        clear, secret = _without_secure(value)
        config[key] = config_string(clear)
        if secret:
            secret_keys.append(key)
    return StackFiles(project, main, config, secret_keys)


# --- running the program -------------------------------------------------------------------------


def run_program(
    files: StackFiles,
    stack: str,
    stack_references: dict[str, tuple[dict[str, Any], tuple[str, ...]]] | None = None,
) -> Plan:
    """Runs the stack program under the recording mocks and collects what it registered.

    ``stack_references`` answers the program's ``pulumi.StackReference`` reads: name ->
    (outputs, names of the secret ones)."""
    import pulumi
    from mlops_platform.infra import mocks as recording
    from pulumi.runtime.settings import get_root_resource
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    accounts = _json_or_none(files.config.get("aws:allowedAccountIds"))
    region = files.config.get("aws:region", "us-east-1")
    account = (
        accounts[0]
        if isinstance(accounts, list) and accounts and isinstance(accounts[0], str)
        else None
    )
    exported: dict[str, Any] = {}
    with recording.private_event_loop():
        recorder = recording.install(
            project=files.project,
            stack=stack,
            region=region if isinstance(region, str) else "us-east-1",
            account_id=account or "123456789012",
            config=files.config,
            secret_keys=files.secret_keys,
        )
        for name, (outputs, secret) in (stack_references or {}).items():
            recorder.add_stack_reference(name, outputs, secret=secret)

        async def program() -> None:
            runpy.run_path(str(files.main), run_name="__main__")
            root = get_root_resource()
            for name, value in dict(getattr(root, "outputs", {})).items():
                output = pulumi.Output.from_input(value)
                resolved = await output.future()
                secret = await output.is_secret()
                exported[name] = recording.SECRET if secret else recording.plain(resolved)
            await recorder.in_construction_order()

        from mlops_platform.infra import stack as stack_module

        resolve = stack_module.resolve_latest_package
        stack_module.resolve_latest_package = recorder.latest_approved_package
        try:
            _sync_await(run_pulumi_func(program))
        finally:
            stack_module.resolve_latest_package = resolve

    resources = []
    for reg in recorder.registrations:
        if reg.type == "pulumi:pulumi:Stack":
            reg.outputs = dict(exported)
        resources.append(reg.to_json())
    plan = Plan(
        project=files.project,
        stack=stack,
        resources=resources,
        outputs=exported,
        policy=check_policy(resources, files),
        diagnostics=recorder.warnings(),
    )
    plan.estimate = estimate.estimate(plan.to_json())
    return plan


def check_policy(resources: list[dict[str, Any]], files: StackFiles) -> list[dict[str, Any]]:
    """The policy pack's findings on the recorded resources, as the JSON contract's entries."""
    from mlops_platform.policy import context
    from mlops_platform.policy.rules import Resource, evaluate, rule_ids

    try:
        stack_context = context.from_config(files.config, rule_ids(), files.project)
    except context.WaiverError as error:  # settings reject these first; kept for other programs
        raise PlanError(f"invalid config {files.project}:policy.{error}") from None
    inputs = {res["urn"]: res["inputs"] for res in resources}
    records = [
        Resource(
            type=res["type"],
            name=res["name"],
            urn=res["urn"],
            props=res["inputs"],
            protect=res["protect"],
            retain_on_delete=res["retainOnDelete"],
            # A provider reference is "<provider urn>::<provider id>".
            provider=inputs.get((res.get("provider") or "").rsplit("::", 1)[0]),
            dependencies=tuple(res["dependencies"]),
        )
        for res in resources
        if res["custom"]
    ]
    return [finding.to_json() for finding in evaluate(records, stack_context)]


def _json_or_none(text: str | None) -> Any:
    try:
        return json.loads(text) if text is not None else None
    except ValueError:
        return None


def make_plan(stack: str, project_dir: Path | None = None) -> Plan:
    """Loads the stack's files and runs the program; raises PlanError or ConfigError."""
    project_dir = project_dir or find_project_dir()
    files = load_stack_files(project_dir, stack)
    return run_program(files, stack, local_stack_references(files, project_dir))


# A fully qualified stack reference, as DIY backends and Pulumi Cloud name stacks.
STACK_REFERENCE = re.compile(r"^[A-Za-z0-9_.-]+/([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+)$")


def local_projects(project_dir: Path) -> dict[str, Path]:
    """The Pulumi projects beside the one planned, by name: its parent's (when the parent is a
    project, as the checkout root is for governance/) and the subdirectories' of that root."""
    here = project_dir.resolve()
    root = here.parent if (here.parent / "Pulumi.yaml").is_file() else here
    found = {}
    for directory in (root, *sorted(d for d in root.iterdir() if d.is_dir())):
        project_file = directory / "Pulumi.yaml"
        if project_file.is_file() and directory.resolve() != here:
            document = _read_yaml(project_file)
            if isinstance(document, dict) and document.get("name"):
                found[str(document["name"])] = directory
    return found


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def local_stack_references(
    files: StackFiles, project_dir: Path
) -> dict[str, tuple[dict[str, Any], tuple[str, ...]]]:
    """Offline answers to the program's stack references: a config value naming a stack of
    another project of this checkout (``organization/mlops-platform/prod``) is answered with
    that stack's own offline plan outputs, so that what the program derives from them is real.
    A stack that cannot be planned is a PlanError naming the config key."""
    projects = local_projects(project_dir)
    answers: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {}
    for key, raw in sorted(files.config.items()):
        if not key.startswith(f"{files.project}:"):
            continue
        for text in _strings(_json_or_none(raw) if raw[:1] in "[{" else raw):
            match = STACK_REFERENCE.match(text)
            if not match or match.group(1) not in projects or text in answers:
                continue
            try:
                other = make_plan(match.group(2), projects[match.group(1)])
            except PlanError as error:
                raise PlanError(f"{key}: stack reference {text!r}: {error}") from None
            secret = tuple(k for k, v in other.outputs.items() if v == "[secret]")
            answers[text] = (other.outputs, secret)
    return answers


# --- rendering -----------------------------------------------------------------------------------


def _label(res: dict[str, Any]) -> str:
    flags = [f for f, on in (("protect", res["protect"]), ("retain", res["retainOnDelete"])) if on]
    physical = ""
    if res["custom"] and not res["type"].startswith("pulumi:providers:"):
        outputs = res["outputs"]
        name = outputs.get("bucket") or outputs.get("name") or outputs.get("arn")
        if isinstance(name, str):
            physical = f" -> {name}"
    suffix = f"  [{', '.join(flags)}]" if flags else ""
    return f"{res['type']}  {res['name']}{physical}{suffix}"


def _tree_lines(resources: list[dict[str, Any]]) -> list[str]:
    children: dict[str | None, list[dict[str, Any]]] = {}
    for res in resources:
        children.setdefault(res["parent"], []).append(res)
    lines: list[str] = []

    def walk(res: dict[str, Any], prefix: str, last: bool, root: bool) -> None:
        lines.append(_label(res) if root else f"{prefix}{'└─ ' if last else '├─ '}{_label(res)}")
        kids = children.get(res["urn"], [])
        deeper = "" if root else prefix + ("   " if last else "│  ")
        for index, kid in enumerate(kids):
            walk(kid, deeper, index == len(kids) - 1, False)

    for top in children.get(None, []):
        walk(top, "", True, True)
    return lines


def _output_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text.replace("\n", "\\n")


def _summary(plan: Plan) -> str:
    custom = sum(1 for r in plan.resources if r["custom"])
    protected = sum(1 for r in plan.resources if r["protect"])
    return (
        f"{len(plan.resources)} resources ({custom} cloud resources, "
        f"{len(plan.resources) - custom} components/stack), {protected} protected"
    )


def _policy_lines(plan: Plan) -> list[str]:
    if not plan.policy:
        return ["no policy violations"]
    return [
        f"{v['severity']}{' (waived: ' + v['reason'] + ')' if v.get('waived') else ''}: "
        f"{v['rule']}: {v.get('resource', '')}: {v['message']} ({v['urn']})"
        for v in plan.policy
    ]


def _money(value: float | None) -> str:
    return "n/a" if value is None else f"${value:,.2f}"


def _cost_headline(est: dict[str, Any]) -> str:
    if est.get("monthlyCostUsd") is None:
        return f"monthly cost: {est.get('error', 'n/a')}"
    return f"monthly cost: {_money(est['monthlyCostUsd'])} (on-demand, {est['region']})"


def _estimate_lines(plan: Plan) -> list[str]:
    est = plan.estimate
    lines = [_cost_headline(est)]
    for comp in est.get("perComponent", []):
        lines.append(f"  {comp['component']} ({comp['capability']}): {_money(comp['monthlyUsd'])}")
    if est.get("unpriced"):
        lines.append(f"  not priced (no table entry): {', '.join(est['unpriced'])}")
    path = " -> ".join(step["name"] for step in est.get("criticalPath", []))
    lines.append(f"first deployment: ~{est.get('deployMinutes', 0):g} min; critical path: {path}")
    lines += [f"  assumes: {text}" for text in est.get("assumptions", [])]
    return lines


def _findings(plan: Plan) -> tuple[int, int]:
    mandatory = len(plan.mandatory_violations)
    advisory = sum(1 for v in plan.policy if v.get("severity") == "advisory")
    return mandatory, advisory


def render_tree(plan: Plan) -> str:
    lines = [f"{plan.project} / {plan.stack}: {_summary(plan)}", ""]
    lines += _tree_lines(plan.resources)
    lines += ["", "Outputs:"]
    lines += [f"  {k}: {_output_text(v)}" for k, v in sorted(plan.outputs.items())]
    lines += ["", "Estimate:"] + [f"  {line}" for line in _estimate_lines(plan)]
    lines += ["", "Policy:"] + [f"  {line}" for line in _policy_lines(plan)]
    if plan.diagnostics:
        lines += ["", "Diagnostics:"] + [f"  {d}" for d in plan.diagnostics]
    return "\n".join(lines) + "\n"


def render_json(plan: Plan) -> str:
    return json.dumps(plan.to_json(), indent=2, sort_keys=False) + "\n"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")


def render_markdown(plan: Plan) -> str:
    by_type = Counter(r["type"] for r in plan.resources if r["custom"])
    verdict = (
        f"❌ {len(plan.mandatory_violations)} mandatory policy violation(s)"
        if plan.mandatory_violations
        else "✅ no mandatory policy violation"
    )
    est = plan.estimate
    lines = [
        f"### Offline plan: `{plan.project}` / `{plan.stack}`",
        "",
        f"{_summary(plan)} · {verdict}",
        "",
        f"{_cost_headline(est)} · first deployment ~{est.get('deployMinutes', 0):g} min",
        "",
        "<details><summary>Estimate: cost per component, critical path, assumptions</summary>",
        "",
    ]
    lines += [f"- {_md_cell(line.strip())}" for line in _estimate_lines(plan)]
    lines += [
        "",
        "</details>",
        "",
        "| resource type | count |",
        "| --- | ---: |",
    ]
    lines += [f"| `{t}` | {n} |" for t, n in sorted(by_type.items())]
    lines += ["", "<details><summary>Resource tree</summary>", "", "```"]
    lines += _tree_lines(plan.resources)
    lines += ["```", "", "</details>", "", "<details><summary>Stack outputs</summary>", ""]
    lines += ["| output | value |", "| --- | --- |"]
    lines += [f"| `{k}` | `{_md_cell(_output_text(v))}` |" for k, v in sorted(plan.outputs.items())]
    lines += ["", "</details>", "", "**Policy**", ""]
    lines += [f"- {_md_cell(line)}" for line in _policy_lines(plan)]
    if plan.diagnostics:
        lines += ["", "**Diagnostics**", ""] + [f"- {_md_cell(d)}" for d in plan.diagnostics]
    return "\n".join(lines) + "\n"


def render_mermaid(plan: Plan) -> str:
    return diagram.mermaid(plan.to_json())


RENDERERS = {
    "tree": render_tree,
    "json": render_json,
    "markdown": render_markdown,
    "mermaid": render_mermaid,
}


def capability_counts(plan: Plan) -> Counter[str]:
    """Cloud resources per capability (of their top-level component)."""
    owner = estimate.owners(plan.resources)
    return Counter(
        estimate.capability(owner[r["urn"]])
        for r in plan.resources
        if r["custom"] and not r["type"].startswith("pulumi:providers:")
    )


def render_summary(plans: Sequence[Plan | str]) -> str:
    """Stacks side by side: resources by capability, cost, deploy minutes, findings. A stack
    that could not be planned appears as its error (a str)."""
    names = [p.stack if isinstance(p, Plan) else p.split(":", 1)[0] for p in plans]
    ok = [p for p in plans if isinstance(p, Plan)]
    counts = {p.stack: capability_counts(p) for p in ok}
    capabilities = sorted({c for count in counts.values() for c in count})

    def row(title: str, cell: Any) -> str:
        values = [cell(p) if isinstance(p, Plan) else "—" for p in plans]
        return f"| {title} | " + " | ".join(values) + " |"

    lines = [
        "| | " + " | ".join(f"`{n}`" for n in names) + " |",
        "| --- |" + " ---: |" * len(names),
        row("monthly cost (USD)", lambda p: _money(p.estimate.get("monthlyCostUsd"))),
        row("first deployment (min)", lambda p: f"{p.estimate.get('deployMinutes', 0):g}"),
        row("mandatory findings", lambda p: str(_findings(p)[0])),
        row("advisory findings", lambda p: str(_findings(p)[1])),
        row("cloud resources", lambda p: str(sum(counts[p.stack].values()))),
    ]
    lines += [row(f"· {c}", lambda p, c=c: str(counts[p.stack].get(c, 0))) for c in capabilities]
    errors = [p for p in plans if isinstance(p, str)]
    if errors:
        lines += [""] + [f"- `{_md_cell(e)}`" for e in errors]
    return "\n".join(lines) + "\n"


# --- command line --------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        raise PlanError(message)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = _Parser(
        prog="python -m infra.plan",
        description="Show what `pulumi up` would create for a stack, offline.",
    )
    parser.add_argument("--stack", help="stack name: dev, staging or prod")
    parser.add_argument("--format", choices=FORMATS, default=None, help="output format")
    parser.add_argument("--compare", metavar="STACK", help="list what differs from this stack")
    parser.add_argument(
        "--summary", nargs="+", metavar="STACK", help="stacks side by side (markdown or json)"
    )
    parser.add_argument(
        "--project-dir", type=Path, help="directory of Pulumi.yaml (default: found from cwd)"
    )
    parser.add_argument(
        "--project",
        metavar="DIR",
        help="plan another Pulumi project of the checkout, by its directory (e.g. governance)",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of program errors")
    args = parser.parse_args(argv)
    if args.stack is None and args.summary is None:
        parser.error("the following arguments are required: --stack (or --summary STACK ...)")
    if args.stack is not None and args.summary is not None:
        parser.error("give either --stack or --summary, not both")
    if args.compare and args.format == "mermaid":
        parser.error("--compare: formats are tree, json and markdown")
    if args.summary and args.format not in (None, "markdown", "json"):
        parser.error("--summary: formats are markdown and json")
    if args.summary and args.compare:
        parser.error("--compare needs --stack, not --summary")
    args.format = args.format or ("markdown" if args.summary else "tree")
    return args


def _plan_or_error(stack: str, args: argparse.Namespace) -> Plan:
    """make_plan with the CLI's error handling: PlanError/RunError as they are, any other
    program error as a one-line PlanError (unless --debug)."""
    from pulumi import RunError

    try:
        return make_plan(stack, _project_dir(args))
    except (PlanError, RunError):
        raise
    except Exception as error:  # a program error: still one line unless --debug
        if args.debug:
            raise
        message = " ".join(str(error).split()) or type(error).__name__
        raise PlanError(f"the stack program failed: {type(error).__name__}: {message}") from None


def _project_dir(args: argparse.Namespace) -> Path | None:
    """``--project governance``: that directory of the checkout (or of ``--project-dir``)."""
    if not getattr(args, "project", None):
        return args.project_dir
    base = args.project_dir or find_project_dir()
    directory = base / args.project
    if not (directory / "Pulumi.yaml").is_file():
        known = sorted(p.parent.name for p in base.glob("*/Pulumi.yaml"))
        raise PlanError(
            f"--project: got {args.project!r}; no Pulumi.yaml there (projects: {', '.join(known)})"
        )
    return directory


def _summary_json(plans: Sequence[Plan | str]) -> str:
    rows = [
        {
            "stack": p.stack,
            "estimate": {k: p.estimate.get(k) for k in ("monthlyCostUsd", "deployMinutes")},
            "findings": dict(zip(("mandatory", "advisory"), _findings(p), strict=True)),
            "capabilities": dict(sorted(capability_counts(p).items())),
        }
        if isinstance(p, Plan)
        else {"stack": p.split(":", 1)[0], "error": p.split(": ", 1)[-1]}
        for p in plans
    ]
    return json.dumps(rows, indent=2) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    from pulumi import RunError  # ConfigError is one: a clean, one-line stop

    try:
        args = parse_args(argv)
    except PlanError as error:
        print(f"error: {error} (see --help)", file=sys.stderr)
        return 2
    if args.summary:
        plans: list[Plan | str] = []
        for stack in args.summary:
            try:
                plans.append(_plan_or_error(stack, args))
            except (PlanError, RunError) as error:
                plans.append(f"{stack}: {error}")
        if args.format == "json":
            sys.stdout.write(_summary_json(plans))
        else:
            sys.stdout.write(render_summary(plans))
        return 0
    try:
        plan = _plan_or_error(args.stack, args)
        other = _plan_or_error(args.compare, args) if args.compare else None
    except (PlanError, RunError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if other is not None:
        diff = compare.compare(plan.to_json(), other.to_json())
        if args.format == "json":
            sys.stdout.write(json.dumps(diff, indent=2) + "\n")
        elif args.format == "markdown":
            sys.stdout.write(compare.render_markdown(diff))
        else:
            sys.stdout.write(compare.render_tree(diff))
        return 0
    sys.stdout.write(RENDERERS[args.format](plan))
    return 1 if plan.mandatory_violations else 0


if __name__ == "__main__":
    sys.exit(main())
