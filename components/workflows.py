"""What CI definitions produce and need, read from their parsed YAML: pure functions.

The governance components protect a repository for the pipelines it runs: the required status
checks must be the check runs the GitHub workflows report, every environment a job deploys to must
exist (GitHub creates a missing one on first use, unprotected), and every variable a job reads
must be provisioned. These functions compute those sets from workflow documents the way GitHub
names them, so that the governance program can refuse a configuration that disagrees and the
tests can show that a rename on either side is caught.

- :func:`check_names`: the check-run names of a workflow's jobs (``name:`` with ``${{ matrix.x }}``
  substituted, or the job id; matrix jobs expanded, with GitHub's ``(value, ...)`` suffix when the
  name does not use the matrix);
- :func:`pull_request_checks`: those of the workflows a pull request runs;
- :func:`deployments`: for each environment the jobs use, the branches and tags (push filters)
  whose workflows deploy to it;
- :func:`variables_read`: the ``vars.NAME`` each job reads, with the job's environment;
- :func:`actions_used`: the ``owner/repo`` of every action a step uses;
- :func:`gitlab_deployments`, :func:`gitlab_variables_read`: the same for ``.gitlab-ci.yml``.

Workflow files are parsed by the caller (``yaml.safe_load``); PyYAML reads the key ``on`` as the
boolean ``True`` (YAML 1.1), which :func:`triggers` accepts too.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

MATRIX_EXPRESSION = re.compile(r"\$\{\{\s*matrix\.([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}")
# vars.NAME, and vars[format('PREFIX_{0}', matrix.key)] (the PULUMI_RUNNER_<STACK> idiom).
VARS_DOT = re.compile(r"\bvars\.([A-Za-z_][A-Za-z0-9_]*)")
VARS_FORMAT = re.compile(
    r"vars\[\s*format\(\s*'([A-Za-z0-9_]*)\{0\}([A-Za-z0-9_]*)'\s*,\s*matrix\.([A-Za-z_][\w-]*)\s*\)\s*\]"
)
GITLAB_VARIABLE = re.compile(r"\$\{?([A-Z][A-Z0-9_]*)\}?")


class WorkflowError(ValueError):
    """A workflow document this module cannot read (not a map, jobs not a map...)."""


def _jobs(workflow: Mapping[str, Any]) -> Mapping[str, Any]:
    jobs = workflow.get("jobs")
    if not isinstance(jobs, Mapping):
        raise WorkflowError("expected a workflow with a 'jobs' map")
    return jobs


def triggers(workflow: Mapping[str, Any]) -> dict[str, Any]:
    """The ``on:`` block as a map (``on: push`` and ``on: [push, pull_request]`` included)."""
    raw = workflow.get("on", workflow.get(True))  # PyYAML: `on` is YAML 1.1's true
    if isinstance(raw, str):
        return {raw: {}}
    if isinstance(raw, list):
        return {str(event): {} for event in raw}
    if isinstance(raw, Mapping):
        return {str(k): (v or {}) for k, v in raw.items()}
    return {}


def matrix_combinations(job: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The matrix a job runs, as GitHub expands it: the product of the dimensions, minus
    ``exclude``, with ``include`` entries extending matching combinations or added on their
    own. A job without a matrix has one empty combination."""
    strategy = job.get("strategy") or {}
    matrix = strategy.get("matrix") if isinstance(strategy, Mapping) else None
    if not isinstance(matrix, Mapping):
        return [{}]
    dimensions = {
        k: v for k, v in matrix.items() if k not in ("include", "exclude") and isinstance(v, list)
    }
    combos: list[dict[str, Any]] = (
        [
            dict(zip(dimensions, values, strict=True))
            for values in itertools.product(*dimensions.values())
        ]
        if dimensions
        else []
    )
    for excluded in matrix.get("exclude") or []:
        combos = [c for c in combos if not all(c.get(k) == v for k, v in excluded.items())]
    for included in matrix.get("include") or []:
        original = {k: v for k, v in included.items() if k in dimensions}
        matches = [
            c for c in combos if original and all(c.get(k) == v for k, v in original.items())
        ]
        if matches:
            for combo in matches:
                combo.update(included)
        else:
            combos.append(dict(included))
    return combos or [{}]


def _job_names(job_id: str, job: Mapping[str, Any]) -> list[str]:
    combos = matrix_combinations(job)
    name = job.get("name")
    names = []
    for combo in combos:
        if isinstance(name, str) and MATRIX_EXPRESSION.search(name):
            names.append(MATRIX_EXPRESSION.sub(lambda m, c=combo: str(c.get(m.group(1), "")), name))
        else:
            base = name if isinstance(name, str) else job_id
            values = [str(v) for v in combo.values() if not isinstance(v, Mapping | list)]
            names.append(f"{base} ({', '.join(values)})" if values else base)
    return names


def check_names(workflow: Mapping[str, Any]) -> list[str]:
    """The check runs a workflow reports, one per job and matrix combination, in file order.

    Jobs that call a reusable workflow (``uses:`` on the job) report ``<job> / <callee job>``
    checks this module cannot see; they are left out."""
    names: list[str] = []
    for job_id, job in _jobs(workflow).items():
        if isinstance(job, Mapping) and "uses" not in job:
            names.extend(_job_names(str(job_id), job))
    return names


def pull_request_checks(workflows: Mapping[str, Mapping[str, Any]]) -> set[str]:
    """The check names of every workflow a pull request triggers (``pull_request``): what a
    ruleset may require. ``pull_request_target`` runs the base branch's copy and is left out."""
    return {
        name
        for workflow in workflows.values()
        if "pull_request" in triggers(workflow)
        for name in check_names(workflow)
    }


def job_environment(job: Mapping[str, Any]) -> str | None:
    env = job.get("environment")
    if isinstance(env, Mapping):
        env = env.get("name")
    return env if isinstance(env, str) else None


@dataclass
class Deployment:
    """Where an environment is deployed from: the push filters of the workflows using it."""

    branches: set[str] = field(default_factory=set)
    tags: set[str] = field(default_factory=set)
    other_events: set[str] = field(default_factory=set)
    jobs: list[str] = field(default_factory=list)


def deployments(workflows: Mapping[str, Mapping[str, Any]]) -> dict[str, Deployment]:
    """For each environment a job references, the branch and tag filters of its workflow's
    ``push`` trigger, the other events that start it, and the jobs (``file:job``)."""
    found: dict[str, Deployment] = {}
    for file_name, workflow in workflows.items():
        on = triggers(workflow)
        push = on.get("push") or {}
        for job_id, job in _jobs(workflow).items():
            env = job_environment(job) if isinstance(job, Mapping) else None
            if env is None:
                continue
            deployment = found.setdefault(env, Deployment())
            deployment.jobs.append(f"{file_name}:{job_id}")
            deployment.branches.update(push.get("branches") or [])
            deployment.tags.update(push.get("tags") or [])
            deployment.other_events.update(e for e in on if e != "push")
    return found


@dataclass(frozen=True)
class VariableUse:
    """A ``vars.NAME`` a job reads; ``environment`` is the job's (None: repository level)."""

    name: str
    job: str
    environment: str | None
    optional: bool
    """Read with a fallback (``vars.X || 'default'``): the job runs without it."""


def _texts(node: Any) -> Iterable[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, Mapping):
        for value in node.values():
            yield from _texts(value)
    elif isinstance(node, list):
        for value in node:
            yield from _texts(value)


def _names_in(text: str, combos: list[dict[str, Any]]) -> list[tuple[str, bool]]:
    found = []
    for expression in re.findall(r"\$\{\{(.*?)\}\}", text, flags=re.S):
        optional = "||" in expression
        for match in VARS_FORMAT.finditer(expression):
            prefix, suffix, key = match.groups()
            for combo in combos:
                if key in combo:
                    found.append((f"{prefix}{str(combo[key]).upper()}{suffix}", optional))
        for match in VARS_DOT.finditer(VARS_FORMAT.sub("", expression)):
            found.append((match.group(1), optional))
    return found


def variables_read(workflows: Mapping[str, Mapping[str, Any]]) -> list[VariableUse]:
    """Every repository/environment variable each job reads (workflow-level ``env`` counts for
    every job), with ``vars[format('X_{0}', matrix.k)]`` expanded over the job's matrix."""
    uses = []
    for file_name, workflow in workflows.items():
        shared = list(_texts(workflow.get("env") or {}))
        for job_id, job in _jobs(workflow).items():
            if not isinstance(job, Mapping):
                continue
            combos = matrix_combinations(job)
            env = job_environment(job)
            seen: dict[str, bool] = {}
            for text in [*shared, *_texts(dict(job))]:
                for name, optional in _names_in(text, combos):
                    seen[name] = seen.get(name, True) and optional
            uses += [
                VariableUse(name, f"{file_name}:{job_id}", env, optional)
                for name, optional in sorted(seen.items())
            ]
    return uses


def actions_used(workflows: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """``owner/repo[/path]`` -> the ref of every action a step uses (local ``./`` actions and
    ``docker://`` images are left out)."""
    used = {}
    for workflow in workflows.values():
        for job in _jobs(workflow).values():
            for step in (job.get("steps") or []) if isinstance(job, Mapping) else []:
                uses = step.get("uses") if isinstance(step, Mapping) else None
                if isinstance(uses, str) and "@" in uses and not uses.startswith(("./", "docker:")):
                    action, ref = uses.split("@", 1)
                    used[action] = ref
    return used


# --- GitLab CI -----------------------------------------------------------------------------------

GITLAB_RESERVED = frozenset(
    {
        "default",
        "include",
        "stages",
        "variables",
        "workflow",
        "image",
        "services",
        "cache",
        "before_script",
        "after_script",
    }
)


def _gitlab_job(doc: Mapping[str, Any], name: str, depth: int = 0) -> dict[str, Any]:
    """A job with its ``extends`` templates merged (the job's own keys win)."""
    job = doc.get(name)
    if not isinstance(job, Mapping) or depth > 10:
        return {}
    merged: dict[str, Any] = {}
    parents = job.get("extends") or []
    for parent in [parents] if isinstance(parents, str) else parents:
        merged.update(_gitlab_job(doc, parent, depth + 1))
    merged.update({k: v for k, v in job.items() if k != "extends"})
    return merged


def gitlab_jobs(doc: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The jobs of a ``.gitlab-ci.yml`` (hidden ``.templates`` and reserved keys left out)."""
    return {
        name: _gitlab_job(doc, name)
        for name, value in doc.items()
        if isinstance(name, str)
        and not name.startswith(".")
        and name not in GITLAB_RESERVED
        and isinstance(value, Mapping)
    }


@dataclass
class GitlabDeployment:
    """Where a GitLab environment is deployed from: the ``if:`` conditions of its jobs' rules."""

    conditions: set[str] = field(default_factory=set)
    jobs: list[str] = field(default_factory=list)
    variables: set[str] = field(default_factory=set)


def gitlab_deployments(doc: Mapping[str, Any]) -> dict[str, GitlabDeployment]:
    """For each environment a job deploys to: its jobs, the rules' ``if:`` expressions and the
    CI/CD variables the jobs read (``$NAME`` anywhere in the job, templates included)."""
    found: dict[str, GitlabDeployment] = {}
    for name, job in gitlab_jobs(doc).items():
        env = job.get("environment")
        env = env.get("name") if isinstance(env, Mapping) else env
        if not isinstance(env, str):
            continue
        deployment = found.setdefault(env, GitlabDeployment())
        deployment.jobs.append(name)
        for rule in job.get("rules") or []:
            if isinstance(rule, Mapping) and isinstance(rule.get("if"), str):
                deployment.conditions.add(rule["if"])
        deployment.variables.update(gitlab_variables_read({name: job}))
    return found


def gitlab_variables_read(jobs: Mapping[str, Mapping[str, Any]]) -> set[str]:
    """``$NAME`` / ``${NAME}`` the jobs reference that GitLab does not predefine (``CI_*``,
    ``GITLAB_*``) and the jobs do not set themselves in ``variables:``."""
    names: set[str] = set()
    for job in jobs.values():
        own = set((job.get("variables") or {}).keys())
        for text in _texts(dict(job)):
            names.update(GITLAB_VARIABLE.findall(text))
        names -= own
    return {n for n in names if not n.startswith(("CI_", "GITLAB_"))}
