"""The offline plan: what ``pulumi up --stack <stack>`` would create, without AWS or the CLI.

    python -m infra.plan --stack dev                     # human tree
    python -m infra.plan --stack prod --format json      # machine-readable (DESIGN.md contract)
    python -m infra.plan --stack prod --format markdown  # pull-request comment
    python -m infra.plan --stack prod --format mermaid   # component diagram
    python -m infra.plan --stack prod --format terraform-plan  # for checkov, trivy, conftest
    python -m infra.plan --stack dev --compare prod      # what differs (tree, json, markdown)
    python -m infra.plan --summary dev staging prod      # stacks side by side (markdown)
    python -m infra.plan --stack prod --base-ref main    # what this change does to prod
    python -m infra.plan --stack prod --base main.json   # the same, against a saved plan
    python -m infra.plan --check-placeholders            # example values left in stack files
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
import os
import re
import runpy
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_platform.infra import compare, diagram, estimate
from mlops_platform.infra import diff as plan_diff

FORMATS = ("tree", "json", "markdown", "mermaid", "terraform-plan")
# The demo model's archive, which `pulumi up` builds (serving/demo_model.py) and the plan names.
DEMO_MODEL_STANDIN = "demo-model/model.tar.gz (built by pulumi up from serving/demo_model.py)"
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
    skipped_rules: list[str] = field(default_factory=list)
    property_dependencies: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    """Per resource URN, the URNs each input property came from (for ``terraform-plan``)."""

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
            # Rules not applied (--skip-rule): only when some were, so plans stay as they were.
            **({"policySkipped": self.skipped_rules} if self.skipped_rules else {}),
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


# --- YAML as the Pulumi CLI reads it ------------------------------------------------------------
# The CLI reads project and stack files with Go's yaml.v3: YAML 1.2 (``yes``/``no``/``on``/``off``
# are strings, not booleans), timestamps stay strings, and, for compatibility, a plain number
# with a leading zero is still octal (``011111111111`` is 1227133513). ruamel.yaml in its default
# YAML 1.2 mode reads the same values, except that last case, which is refused here: an account
# id must be quoted.

_LEADING_ZERO = re.compile(r"[-+]?0[0-9_]+")
_ACCOUNT_ID = re.compile(r"[0-9]{12}")


class _StackFileError(Exception):
    def __init__(self, problem: str, node: Any) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = node.start_mark


def _cli_yaml() -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.constructor import SafeConstructor

    class CliConstructor(SafeConstructor):
        def construct_yaml_int(self, node: Any) -> Any:
            text = str(node.value)
            if _LEADING_ZERO.fullmatch(text):
                octal = int(text.replace("_", ""), 8) if set(text) <= set("+-01234567_") else None
                read = f"reads it as octal {octal}" if octal is not None else "cannot read it"
                raise _StackFileError(
                    f"{text} is an unquoted number with a leading zero (the Pulumi CLI {read}); "
                    f'quote account ids and other digit strings: "{text}"',
                    node,
                )
            if _ACCOUNT_ID.fullmatch(text):
                raise _StackFileError(
                    f"{text} is an unquoted number; AWS account ids are strings: quote it, "
                    f'"{text}"',
                    node,
                )
            return super().construct_yaml_int(node)

    CliConstructor.add_constructor("tag:yaml.org,2002:int", CliConstructor.construct_yaml_int)
    CliConstructor.add_constructor(
        "tag:yaml.org,2002:timestamp", SafeConstructor.construct_yaml_str
    )
    reader = YAML(typ="safe", pure=True)
    reader.Constructor = CliConstructor
    return reader


def read_yaml(path: Path) -> Any:
    """A project or stack file's content as the Pulumi CLI reads it (YAML 1.2); a syntax error
    or an unquoted account id is a PlanError naming the file, line and column."""
    from ruamel.yaml.error import YAMLError

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise PlanError(f"{path.name}: cannot read it ({error})") from None
    try:
        return _cli_yaml().load(text)
    except (YAMLError, _StackFileError) as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        detail = str(problem).split(" with value ")[0]  # a duplicate key: its name is enough
        raise PlanError(f"{path.name}{where}: {' '.join(detail.split())}") from None


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
    project_file = read_yaml(project_dir / "Pulumi.yaml")
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
    stack_file = read_yaml(stack_path) or {}
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


StackReferences = dict[str, tuple[dict[str, Any], tuple[str, ...]]]


def run_program(
    files: StackFiles,
    stack: str,
    stack_references: StackReferences | None = None,
    skip_rules: Sequence[str] = (),
) -> Plan:
    """Runs the stack program under the recording mocks and collects what it registered.

    ``stack_references`` answers the program's ``pulumi.StackReference`` reads (name ->
    outputs and the names of secret ones); ``skip_rules`` are policy rules not applied."""
    import pulumi
    from pulumi.runtime.settings import get_root_resource
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    from mlops_platform.infra import mocks as recording

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

        resolve, build = stack_module.resolve_latest_package, stack_module.build_demo_model
        stack_module.resolve_latest_package = recorder.latest_approved_package
        stack_module.build_demo_model = lambda: DEMO_MODEL_STANDIN
        try:
            _sync_await(run_pulumi_func(program))
        finally:
            stack_module.resolve_latest_package, stack_module.build_demo_model = resolve, build

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
        policy=[f for f in check_policy(resources, files) if f["rule"] not in skip_rules],
        diagnostics=recorder.warnings(),
        skipped_rules=sorted(skip_rules),
        property_dependencies={
            reg.urn: reg.property_dependencies
            for reg in recorder.registrations
            if reg.property_dependencies
        },
    )
    plan.estimate = estimate.estimate(plan.to_json(), files.config.get("aws:region"))
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
    default_providers = {"aws": default_provider_inputs(files.config, "aws")}
    records = [
        Resource(
            type=res["type"],
            name=res["name"],
            urn=res["urn"],
            props=res["inputs"],
            protect=res["protect"],
            retain_on_delete=res["retainOnDelete"],
            # A provider reference is "<provider urn>::<provider id>"; without one, the
            # package's default provider, configured from the stack's config (aws:defaultTags).
            provider=inputs.get(res["provider"].rsplit("::", 1)[0])
            if res.get("provider")
            else default_providers.get(res["type"].split(":", 1)[0]),
            dependencies=tuple(res["dependencies"]),
        )
        for res in resources
        if res["custom"]
    ]
    return [finding.to_json() for finding in evaluate(records, stack_context)]


def default_provider_inputs(config: Mapping[str, str], package: str) -> dict[str, Any]:
    """The inputs of a package's default provider: its keys of the stack's config
    (``aws:defaultTags`` -> ``defaultTags``), structured values decoded."""
    inputs: dict[str, Any] = {}
    for key, raw in config.items():
        namespace, _, name = key.partition(":")
        if namespace == package:
            decoded = _json_or_none(raw) if raw[:1] in "[{" else None
            inputs[name] = raw if decoded is None else decoded
    return inputs


def _json_or_none(text: str | None) -> Any:
    try:
        return json.loads(text) if text is not None else None
    except ValueError:
        return None


def make_plan(
    stack: str,
    project_dir: Path | None = None,
    stack_references: StackReferences | None = None,
    skip_rules: Sequence[str] = (),
) -> Plan:
    """Loads the stack's files and runs the program; raises PlanError or ConfigError."""
    project_dir = project_dir or find_project_dir()
    files = load_stack_files(project_dir, stack)
    references = {**local_stack_references(files, project_dir), **(stack_references or {})}
    return run_program(files, stack, references, skip_rules)


def read_stack_reference(spec: str) -> tuple[str, tuple[dict[str, Any], tuple[str, ...]]]:
    """``NAME=FILE``: what ``pulumi.StackReference(NAME)`` reads, from a plan's JSON (its
    ``outputs``; ``[secret]`` ones are secrets) or a JSON map of outputs, such as
    ``pulumi stack output --json``."""
    name, sep, path = spec.partition("=")
    if not sep or not name or not path:
        raise PlanError(
            f"--stack-reference: got {spec!r}; expected NAME=FILE, "
            "e.g. my-org/mlops-platform/dev=dev.json"
        )
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise PlanError(f"--stack-reference {name}: cannot read {path}: {error.strerror}") from None
    except ValueError:
        raise PlanError(f"--stack-reference {name}: {path} is not JSON") from None
    if isinstance(data, dict) and isinstance(data.get("resources"), list):
        data = data.get("outputs")
    if not isinstance(data, dict):
        raise PlanError(f"--stack-reference {name}: {path} holds no map of outputs")
    secret = tuple(sorted(k for k, v in data.items() if v == "[secret]"))
    return name, (data, secret)


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
            document = read_yaml(project_file)
            if isinstance(document, dict) and document.get("name"):
                found[str(document["name"])] = directory
    return found


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
        decoded = _json_or_none(raw) if raw[:1] in "[{" else raw
        for _, text in plan_diff.string_leaves(decoded):
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
    from mlops_platform.infra import counts

    return counts.headline(plan.resources)  # the same counts as --summary and the README


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


def render_terraform_plan(plan: Plan) -> str:
    """Terraform plan JSON (``terraform show -json``) for checkov, trivy and conftest."""
    from mlops_platform.infra import terraform

    document = terraform.export(plan.to_json(), plan.property_dependencies)
    if not document["resource_changes"]:
        # An empty plan would pass every scanner while checking nothing.
        kinds = sorted({r["type"].split(":", 1)[0] for r in plan.resources if r.get("custom")})
        raise PlanError(
            f"--format terraform-plan: {plan.project}/{plan.stack} has no AWS or Kubernetes "
            f"resource to export (its resources: {', '.join(kinds) or 'none'}); "
            "scanners would check nothing"
        )
    return json.dumps(document, indent=2, sort_keys=False) + "\n"


RENDERERS = {
    "tree": render_tree,
    "json": render_json,
    "markdown": render_markdown,
    "mermaid": render_mermaid,
    "terraform-plan": render_terraform_plan,
}


def capability_counts(plan: Plan) -> Counter[str]:
    """Cloud resources per capability (of their top-level component)."""
    from mlops_platform.infra.counts import is_cloud

    owner = estimate.owners(plan.resources)
    return Counter(estimate.capability(owner[r["urn"]]) for r in plan.resources if is_cloud(r))


def _model_cost(plan: Plan, model: str) -> str:
    """A served model's monthly cost (its endpoint component), or — where the stack lacks it;
    the variants a model runs say which experiment it is (A/B, shadow)."""
    served = (plan.outputs.get("servingModels") or {}).get(model)
    if not isinstance(served, dict):
        return "—"
    cost = sum(
        c["monthlyUsd"]
        for c in plan.estimate.get("perComponent", [])
        if c["component"] == f"{model}-serving"
    )
    kind = " A/B" if served.get("variantNames", [])[1:] else ""
    kind += " shadow" if served.get("shadowVariantNames") else ""
    return _money(cost) + kind


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
    served = sorted({m for p in ok for m in (p.outputs.get("servingModels") or {})})
    lines += [row(f"model `{m}` (USD/month)", lambda p, m=m: _model_cost(p, m)) for m in served]
    errors = [p for p in plans if isinstance(p, str)]
    if errors:
        lines += [""] + [f"- `{_md_cell(e)}`" for e in errors]
    return "\n".join(lines) + "\n"


# --- what a change does: --base, --base-ref ----------------------------------------------------


def write_plan(plan: Plan, path: Path) -> None:
    """The plan as a file: JSON for ``.json``, markdown for ``.md``, else the tree."""
    renderer = {".json": render_json, ".md": render_markdown}.get(path.suffix, render_tree)
    try:
        path.write_text(renderer(plan), encoding="utf-8")
    except OSError as error:
        raise PlanError(f"--write-plan: cannot write {path}: {error.strerror}") from None


def read_base_plan(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise PlanError(f"--base: cannot read {path}: {error.strerror}") from None
    except ValueError as error:
        raise PlanError(f"--base: {path} is not JSON ({error})") from None


def _git(project_dir: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["git", "-C", str(project_dir), *argv],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
    except FileNotFoundError:
        raise PlanError("--base-ref: git is not installed") from None


# The library's folders, as the distribution maps them under mlops_platform (pyproject.toml).
LIBRARY_PACKAGES = ("components", "infra", "ops", "policy", "serving")


def plan_at_ref(
    ref: str, stack: str, project_dir: Path, options: Sequence[str] = ()
) -> dict[str, Any]:
    """The JSON plan of ``stack`` at git revision ``ref``, made in a temporary worktree of it,
    with the same planner ``options`` as the head plan (``--stack-reference``, ``--skip-rule``).

    In this repository the base revision's own planner and library run (its folders are put
    first on the import path as ``mlops_platform.*``), so the base plan is what main's code
    plans. In a team's project the installed planner plans the base revision's files.
    """
    top = _git(project_dir, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise PlanError(f"--base-ref: {project_dir} is not in a git checkout")
    root = Path(top.stdout.strip())
    sha = _git(project_dir, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if sha.returncode != 0 or not sha.stdout.strip():
        raise PlanError(f"--base-ref: no revision {ref!r} in {root} (fetch it first?)")
    relative = project_dir.resolve().relative_to(root.resolve())
    with tempfile.TemporaryDirectory(prefix="mlops-plan-base-") as temp:
        worktree = Path(temp) / "base"
        added = _git(
            root, "worktree", "add", "--detach", "--quiet", str(worktree), sha.stdout.strip()
        )
        if added.returncode != 0:
            message = " ".join(added.stderr.split()) or "git worktree add failed"
            raise PlanError(f"--base-ref {ref}: {message}")
        try:
            return _plan_in(
                worktree, worktree / relative, stack, ref, Path(temp) / "overlay", options=options
            )
        finally:
            _git(root, "worktree", "remove", "--force", str(worktree))


def _plan_in(
    worktree: Path, project: Path, stack: str, ref: str, overlay: Path, *, options: Sequence[str]
) -> dict[str, Any]:
    env = dict(os.environ)
    if (worktree / "infra" / "plan.py").is_file():  # this repository at that revision
        package = overlay / "mlops_platform"
        package.mkdir(parents=True)
        for name in LIBRARY_PACKAGES:
            if (worktree / name).is_dir():
                (package / name).symlink_to(worktree / name, target_is_directory=True)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(overlay), env.get("PYTHONPATH")]))
        command = [sys.executable, "-m", "infra.plan"]
    else:
        command = [sys.executable, "-m", "mlops_platform.infra.plan"]
    command += ["--stack", stack, "--format", "json", "--project-dir", str(project), *options]
    try:
        done = subprocess.run(
            command,
            cwd=worktree,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
        )
    except subprocess.TimeoutExpired:
        raise PlanError(f"--base-ref {ref}: the base plan took more than 15 minutes") from None
    if done.returncode not in (0, 1):
        lines = done.stderr.strip().splitlines()
        raise PlanError(
            f"--base-ref {ref}: the base plan failed: {lines[-1] if lines else done.returncode}"
        )
    try:
        return json.loads(done.stdout)
    except ValueError:
        raise PlanError(f"--base-ref {ref}: the base plan printed no JSON") from None


def _print_diff(plan: Plan, args: argparse.Namespace) -> int:
    from mlops_platform.infra import comment

    if args.base:
        base, label = read_base_plan(args.base), str(args.base)
    else:
        project_dir = (_project_dir(args) or find_project_dir()).resolve()
        options = [
            *(f"--stack-reference={_absolute_reference(s)}" for s in args.stack_reference),
            *(f"--skip-rule={rule}" for rule in args.skip_rule),
        ]
        base = plan_at_ref(args.base_ref, args.stack, project_dir, options)
        label = args.base_ref
    try:
        result = plan_diff.diff(base, plan.to_json())
    except plan_diff.DiffError as error:
        raise PlanError(f"--base{'-ref' if args.base_ref else ''}: {error}") from None
    result["base"] = label
    code = 1 if plan.mandatory_violations else 0
    if args.format == "json":
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    elif args.format == "markdown":
        sys.stdout.write(
            comment.build([comment.StackResult(plan.stack, code, result)], base_label=label)
        )
    else:
        sys.stdout.write(plan_diff.render_tree(result, label))
    return code


def _absolute_reference(spec: str) -> str:
    """``NAME=FILE`` with FILE made absolute (the base plan runs in another directory)."""
    name, _, file = spec.partition("=")
    return f"{name}={Path(file).resolve()}"


def _check_placeholders(args: argparse.Namespace) -> int:
    from mlops_platform.infra import placeholders

    project_dir = args.project_dir or find_project_dir()
    if args.stack:
        load_stack_files(project_dir, args.stack)  # the same checks (name, file, YAML)
        stacks = [args.stack]
    else:
        stacks = sorted(
            p.name[len("Pulumi.") : -len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml")
        )
        for stack in stacks:
            read_yaml(project_dir / f"Pulumi.{stack}.yaml")
    found = [item for s in stacks for item in placeholders.scan(project_dir / f"Pulumi.{s}.yaml")]
    if args.format == "json":
        sys.stdout.write(json.dumps([item.to_json() for item in found], indent=2) + "\n")
    else:
        sys.stdout.write(placeholders.render(found, stacks))
    return 1 if found else 0


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
    base = parser.add_mutually_exclusive_group()
    base.add_argument(
        "--base", type=Path, metavar="PLAN.json", help="report what changes against this plan"
    )
    base.add_argument(
        "--base-ref",
        metavar="REF",
        help="report what changes against the plan of this git revision (e.g. main)",
    )
    parser.add_argument(
        "--write-plan",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="also write the plan to FILE (.json, .md, else tree); may repeat",
    )
    parser.add_argument(
        "--stack-reference",
        action="append",
        default=[],
        metavar="NAME=FILE",
        help="answer pulumi.StackReference(NAME) with the outputs in FILE (a plan's JSON or "
        "`pulumi stack output --json`); may repeat",
    )
    parser.add_argument(
        "--skip-rule",
        action="append",
        default=[],
        metavar="RULE",
        help="do not apply this policy rule (e.g. tags-required for a project with its own "
        "tagging); may repeat",
    )
    parser.add_argument(
        "--check-placeholders",
        action="store_true",
        help="list the stack files' example values (all stacks, or --stack); exit 1 if any",
    )
    args = parser.parse_args(argv)
    from mlops_platform.policy.rules import rule_ids

    unknown = sorted(set(args.skip_rule) - rule_ids())
    if unknown:
        parser.error(f"--skip-rule: unknown rule {unknown[0]!r}; see the rule table in README.md")
    args.stack_references = dict(read_stack_reference(spec) for spec in args.stack_reference)
    if args.check_placeholders:
        if args.summary or args.compare or args.base or args.base_ref:
            parser.error("--check-placeholders takes only --stack, --format and --project-dir")
        if args.format not in (None, "tree", "json"):
            parser.error("--check-placeholders: formats are tree and json")
        args.format = args.format or "tree"
        return args
    if args.stack is None and args.summary is None:
        parser.error("the following arguments are required: --stack (or --summary STACK ...)")
    if args.stack is not None and args.summary is not None:
        parser.error("give either --stack or --summary, not both")
    if args.compare and args.format in ("mermaid", "terraform-plan"):
        parser.error("--compare: formats are tree, json and markdown")
    if args.summary and args.format not in (None, "markdown", "json"):
        parser.error("--summary: formats are markdown and json")
    if args.summary and args.compare:
        parser.error("--compare needs --stack, not --summary")
    if (args.base or args.base_ref) and (args.summary or args.compare):
        parser.error("--base/--base-ref need --stack, without --summary or --compare")
    if (args.base or args.base_ref) and args.format == "mermaid":
        parser.error("--base/--base-ref: formats are tree, json and markdown")
    args.format = args.format or ("markdown" if args.summary else "tree")
    return args


def _plan_or_error(stack: str, args: argparse.Namespace) -> Plan:
    """make_plan with the CLI's error handling: PlanError/RunError as they are, any other
    program error as a one-line PlanError (unless --debug)."""
    from pulumi import RunError

    try:
        return make_plan(stack, _project_dir(args), args.stack_references, args.skip_rule)
    except (PlanError, RunError):
        raise
    except Exception as error:  # a program error: still one line unless --debug
        if args.debug:
            raise
        from mlops_platform.infra.mocks import UnmockedStackReferenceError

        if isinstance(error, UnmockedStackReferenceError):
            name = str(error).split("'")[1] if str(error).count("'") >= 2 else "NAME"
            raise PlanError(
                f"the program reads pulumi.StackReference({name!r}): give its outputs with "
                f"--stack-reference {name}=FILE (a plan's JSON or `pulumi stack output --json`)"
            ) from None
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
    if not args.debug:
        # A failing program leaves SDK tasks whose errors asyncio would print at exit (many
        # lines); the one-line error below says what failed.
        import logging
        import warnings

        logging.getLogger("asyncio").setLevel(logging.CRITICAL)
        warnings.filterwarnings("ignore", message="coroutine .* was never awaited")
        warnings.filterwarnings("ignore", message="Enable tracemalloc")
    if args.check_placeholders:
        try:
            return _check_placeholders(args)
        except PlanError as error:
            print(f"error: {error}", file=sys.stderr)
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
        for path in args.write_plan:
            write_plan(plan, path)
        if args.base or args.base_ref:
            return _print_diff(plan, args)
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
    try:
        rendered = RENDERERS[args.format](plan)
    except PlanError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    sys.stdout.write(rendered)
    return 1 if plan.mandatory_violations else 0


if __name__ == "__main__":
    sys.exit(main())
