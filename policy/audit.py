"""``make audit``: checkov, an independent rule suite, over what the project ships.

    .venv-audit/bin/python policy/audit.py --plans build/audit

Scans, in one checkov run, the three stacks' Terraform plans (``python -m infra.plan --format
terraform-plan``), the GitHub workflows (the repository's and the model-team template's),
``serving/Dockerfile``, ``examples/ml-project/training.Dockerfile`` and ``.gitlab-ci.yml``.
Every failing check must be fixed or skipped in ONE reviewed file, ``policy/checkov-skips.yaml``,
with a written reason per check and target (a stack, or a file's path). The audit fails (exit 1) on:

- a failing check that is not skipped;
- a file checkov did not scan (it drops workflow files its bundled schema rejects without a
  word, so the audit compares the files checkov reports with the files that exist);
- a skip without a reason, or for an unknown target (exit 2, one line naming the check).

checkov's GitHub Actions loader reads ``false`` as the string ``'false'`` and its bundled
(2023) workflow schema knows neither ``concurrency.queue`` nor ``ubuntu-24.04``, so it would drop
every workflow here. The audit lets checkov scan every workflow file whatever that schema says;
whether the files are valid workflows is ``make lint-ci``'s job (the current SchemaStore schema).

This file runs in checkov's own virtualenv (its pins clash with the platform's); it imports
checkov only in :func:`run_checkov`, so the tests import the rest from ``.venv``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
SKIPS_FILE = "policy/checkov-skips.yaml"
STACKS = ("dev", "staging", "prod")
FRAMEWORKS = ("terraform_plan", "github_actions", "dockerfile", "gitlab_ci")
MIN_REASON = 10


class AuditError(Exception):
    """Bad skips file or usage: one line, exit 2."""


@dataclass(frozen=True)
class Skip:
    """Accepting one check on one target: all its resources, or only those listed (an address
    or a shell-style pattern such as ``aws_iam_role_policy.*-pipeline-role-pipeline``, for
    resources the stacks make once per model)."""

    reason: str
    resources: tuple[str, ...] = ()
    alternatives: tuple[Skip, ...] = ()
    """Further entries of the same check and target (each with its own reason and resources)."""

    def covers(self, resource: str) -> bool:
        own = not self.resources or any(fnmatchcase(resource, p) for p in self.resources)
        return own or any(other.covers(resource) for other in self.alternatives)


@dataclass(frozen=True)
class Finding:
    check: str
    target: str
    resource: str
    name: str


@dataclass
class Outcome:
    failures: list[Finding] = field(default_factory=list)
    skipped: list[tuple[Finding, Skip]] = field(default_factory=list)
    unscanned: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)
    passed: int = 0

    @property
    def ok(self) -> bool:
        return not self.failures and not self.unscanned


# --- what is scanned -----------------------------------------------------------------------------


def scan_targets(root: Path, plans_dir: Path) -> dict[str, Path]:
    """Target name -> file: the stacks' plans by stack name, every other file by its path."""
    targets = {stack: plans_dir / f"{stack}.tfplan.json" for stack in STACKS}
    files = [
        *sorted((root / ".github/workflows").glob("*.yml")),
        *sorted((root / "examples/ml-project/.github/workflows").glob("*.yml")),
        root / "serving/Dockerfile",
        root / "examples/ml-project/training.Dockerfile",
        root / ".gitlab-ci.yml",
    ]
    for path in files:
        targets[path.relative_to(root).as_posix()] = path
    return targets


# --- the skips file ------------------------------------------------------------------------------


def _skip(where: str, entry: Any) -> Skip:
    """One entry: a reason, or ``{reason, resources}``; a list of those gives a target several."""
    reason, resources = entry, ()
    if isinstance(entry, dict):
        reason = entry.get("reason")
        resources = entry.get("resources") or ()
        unknown = sorted(set(entry) - {"reason", "resources"})
        if unknown:
            raise AuditError(f"{SKIPS_FILE}: {where}: unknown key {unknown[0]!r}")
        if isinstance(resources, str) or not all(isinstance(r, str) for r in resources):
            raise AuditError(f"{SKIPS_FILE}: {where}.resources: expected addresses")
    if not isinstance(reason, str) or len(reason.strip()) < MIN_REASON:
        raise AuditError(
            f"{SKIPS_FILE}: {where}: a skip needs a written reason "
            f"(at least {MIN_REASON} characters)"
        )
    return Skip(" ".join(reason.split()), tuple(resources))


def load_skips(text: str, targets: Iterable[str]) -> dict[str, dict[str, Skip]]:
    """``{check: {target: Skip}}`` from the skips file; a bad entry raises one line."""
    known = set(targets)
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise AuditError(f"{SKIPS_FILE}: not valid YAML ({error.__class__.__name__})") from None
    skips = data.get("skips") if isinstance(data, dict) else None
    if skips is None:
        skips = {}
    if not isinstance(skips, dict):
        raise AuditError(f"{SKIPS_FILE}: 'skips' must map check ids to targets")
    result: dict[str, dict[str, Skip]] = {}
    for check, per_target in skips.items():
        if not isinstance(per_target, dict) or not per_target:
            raise AuditError(
                f"{SKIPS_FILE}: {check}: map each target (a stack or a file) to its reason"
            )
        result[str(check)] = {}
        for target, entry in per_target.items():
            where = f"{check}.{target}"
            if target not in known:
                raise AuditError(
                    f"{SKIPS_FILE}: {where}: unknown target {target!r}; targets are "
                    f"{', '.join(sorted(known))}"
                )
            entries = entry if isinstance(entry, list) and entry else [entry]
            parsed = [_skip(where, item) for item in entries]
            result[str(check)][str(target)] = replace(parsed[0], alternatives=tuple(parsed[1:]))
    return result


# --- checkov's results ---------------------------------------------------------------------------


def _target_of(file_path: str, targets: Mapping[str, Path], root: Path) -> str | None:
    """checkov reports ``/x.yml``, ``x.yml`` or an absolute path, depending on the framework."""
    clean = file_path.lstrip("/")
    for target, path in targets.items():
        absolute = path.resolve().as_posix()
        if file_path == absolute or absolute.endswith("/" + clean) or clean == target:
            return target
    return None


def evaluate(
    reports: Sequence[Mapping[str, Any]],
    targets: Mapping[str, Path],
    skips: Mapping[str, Mapping[str, Skip]],
    root: Path = ROOT,
) -> Outcome:
    """Failures not skipped, files not scanned, skips that matched nothing."""
    outcome = Outcome()
    scanned: set[str] = set()
    used: set[tuple[str, str]] = set()
    for report in reports:
        results = report.get("results") or {}
        for kind in ("passed_checks", "failed_checks", "skipped_checks"):
            for check in results.get(kind) or []:
                target = _target_of(check.get("file_path", ""), targets, root)
                if target is None:
                    continue
                scanned.add(target)
                if kind == "passed_checks":
                    outcome.passed += 1
                if kind != "failed_checks":
                    continue
                finding = Finding(
                    check["check_id"],
                    target,
                    check.get("resource", ""),
                    check.get("check_name", ""),
                )
                skip = skips.get(finding.check, {}).get(target)
                if skip is not None and skip.covers(finding.resource):
                    outcome.skipped.append((finding, skip))
                    used.add((finding.check, target))
                else:
                    outcome.failures.append(finding)
    outcome.unscanned = sorted(set(targets) - scanned)
    outcome.unused = sorted(
        f"{check}.{target}"
        for check, per_target in skips.items()
        for target in per_target
        if (check, target) not in used
    )
    return outcome


def report_lines(outcome: Outcome) -> list[str]:
    lines = [
        f"FAILED {f.check} {f.target} {f.resource}: {f.name} (fix it, or skip it with a reason "
        f"in {SKIPS_FILE})"
        for f in outcome.failures
    ]
    lines += [
        f"NOT SCANNED {target}: checkov reported no check for it (dropped by its schema?)"
        for target in outcome.unscanned
    ]
    lines += [f"unused skip {name}: no such failure any more; remove it" for name in outcome.unused]
    lines.append(
        f"checkov: {outcome.passed} passed, {len(outcome.failures)} failed, "
        f"{len(outcome.skipped)} skipped with a reason, {len(outcome.unscanned)} files not scanned"
    )
    return lines


# --- running checkov -----------------------------------------------------------------------------


def run_checkov(files: Sequence[Path]) -> list[dict[str, Any]]:
    """One checkov run over every file (each is scanned once), its JSON reports."""
    import checkov.github_actions.runner as gha_runner
    import checkov.github_actions.utils as gha_utils
    from checkov.main import Checkov

    def is_workflow(document: Any) -> bool:
        return isinstance(document, dict) and "jobs" in document

    # See the module docstring: make lint-ci validates the workflows against the current schema.
    gha_utils.is_schema_valid = is_workflow
    gha_runner.is_schema_valid = is_workflow
    with tempfile.TemporaryDirectory() as out:
        argv = [arg for path in files for arg in ("-f", str(path))]
        argv += ["--framework", *FRAMEWORKS, "--skip-download", "--soft-fail"]
        argv += ["--output", "json", "--output-file-path", out, "--compact"]
        with contextlib.redirect_stdout(io.StringIO()):  # the report is read from the file
            Checkov(argv=argv).run()
        data = json.loads((Path(out) / "results_json.json").read_text(encoding="utf-8"))
    return data if isinstance(data, list) else [data]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="policy/audit.py", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--plans", type=Path, required=True, help="directory of <stack>.tfplan.json"
    )
    parser.add_argument("--root", type=Path, default=ROOT, help="repository root")
    args = parser.parse_args(argv)
    targets = scan_targets(args.root, args.plans)
    missing = [str(path) for path in targets.values() if not path.is_file()]
    try:
        if missing:
            raise AuditError(f"no such file: {missing[0]} (make audit writes the plans first)")
        skips = load_skips((args.root / SKIPS_FILE).read_text(encoding="utf-8"), targets)
    except AuditError as error:
        print(f"audit: {error}", file=sys.stderr)
        return 2
    outcome = evaluate(run_checkov(list(targets.values())), targets, skips, args.root)
    for line in report_lines(outcome):
        print(line)
    return 0 if outcome.ok else 1


if __name__ == "__main__":
    sys.exit(main())
