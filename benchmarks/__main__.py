"""Offline-plan speed, in fresh processes, as a user runs it.

Prints:
- the import floor: ``import pulumi, pulumi_aws, pulumi_kubernetes, pulumi_docker``;
- the prod plan: ``python -m infra.plan --stack prod --format json``, and its ratio to the floor
  (target: within 4x on a 2-core machine);
- the cost of each additional resource: the prod stack plus N extra DataBuckets (8 resources
  each), plan time against resource count (target: under 10 ms per resource);
- many models: the prod plan serving 1, 10 and 50 models (copies of the stack's defaults), the
  cost per additional model and per additional resource (target: under 10 ms per resource);
- the config validation library (pydantic): its import, measured inside a process that has
  already loaded the provider modules (as the plan has when settings load), as a share of the
  prod plan (target: at most 5%).

Each figure is the median of ``--repeat`` runs (default 5) of the CPU time (user + system) the
fresh process used: on a shared, noisy machine that is what the plan costs, where wall time
also counts the waits for a core. The ratios compare figures measured side by side in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMPORTS = "import pulumi, pulumi_aws, pulumi_kubernetes, pulumi_docker"
# pulumi_aws loads its service modules lazily, on first use; these are the ones the stacks use.
USED = {
    "s3": "Bucket",
    "kms": "Key",
    "ecr": "Repository",
    "iam": "Role",
    "sagemaker": "Endpoint",
    "cloudwatch": "MetricAlarm",
    "sns": "Topic",
    "appautoscaling": "Target",
    "ec2": "Vpc",
    "eks": "Cluster",
}
# pulumi_kubernetes likewise: the Kubernetes resources the cluster and the runners use.
KUBERNETES_USED = ("core.v1.Secret", "helm.v3.Release", "rbac.v1.Role")
SERVICES = (*USED, *(f"k8s.{name.split('.')[0]}" for name in KUBERNETES_USED))
MODULES = (
    IMPORTS
    + "; "
    + "; ".join(f"pulumi_aws.{m}.{c}" for m, c in USED.items())
    + "; "
    + "; ".join(f"pulumi_kubernetes.{name}" for name in KUBERNETES_USED)
)
# What the settings' declarations import (components/_schema.py), timed after the modules above.
VALIDATION_IMPORT = (
    MODULES
    + "\nimport time\nstart = time.process_time()\n"
    + "import annotated_types, pydantic, pydantic.alias_generators, pydantic.fields\n"
    + "import pydantic_core\n"
    + "from pydantic import BaseModel, ConfigDict, Field, InstanceOf, ValidationError\n"
    + "from pydantic import create_model\n"
    + "print(time.process_time() - start)"
)
GROWN_PROGRAM = """
import os
from mlops_platform.components import DataBucket, DataBucketArgs
from mlops_platform.infra import settings, stack

platform = stack.build(settings.load())
opts = __import__("pulumi").ResourceOptions(providers={"aws": platform.provider})
for i in range(int(os.environ["EXTRA_BUCKETS"])):
    # protected, as prod requires (the policy pack would fail the plan otherwise)
    DataBucket(f"extra-{i}", DataBucketArgs(kms_key_arn=platform.key.arn), opts)
"""


def row(what: str, figure: str, note: str) -> None:
    print(f"{what:<28} {figure:>16}   {note}")


def timed(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, str]:
    """The CPU seconds (user + system) of one fresh process, and its standard output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env=env, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, result.stdout


def median_time(argv: list[str], cwd: Path, repeat: int, env: dict[str, str] | None = None):
    runs = [timed(argv, cwd, env) for _ in range(repeat)]
    return statistics.median(t for t, _ in runs), runs[-1][1]


def grown_project(directory: Path) -> Path:
    (directory / "prog").mkdir()
    (directory / "prog" / "__main__.py").write_text(GROWN_PROGRAM)
    project = (ROOT / "Pulumi.yaml").read_text().replace("main: infra/", "main: prog/")
    (directory / "Pulumi.yaml").write_text(project)
    (directory / "Pulumi.prod.yaml").write_text((ROOT / "Pulumi.prod.yaml").read_text())
    return directory


def models_project(directory: Path, count: int) -> Path:
    """A project running this repository's program with prod's config serving ``count`` models
    (``demo`` and copies taking the defaults)."""
    import yaml

    directory.mkdir()
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    project["main"] = str(ROOT / "infra")
    (directory / "Pulumi.yaml").write_text(yaml.safe_dump(project))
    config = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())
    serving = config["config"]["mlops-platform:serving"]
    serving["models"] = {"demo": {}, **{f"model{i:02d}": {} for i in range(1, count)}}
    pipelines = config["config"]["mlops-platform:pipelines"]["models"]
    config["config"]["mlops-platform:pipelines"]["models"] = {"demo": pipelines["demo"]}
    (directory / "Pulumi.prod.yaml").write_text(yaml.safe_dump(config))
    return directory


def many_models(py: str, repeat: int, counts: tuple[int, ...] = (1, 10, 50)) -> None:
    argv = [py, "-m", "mlops_platform.infra.plan", "--stack", "prod", "--format", "json"]
    figures = []
    with tempfile.TemporaryDirectory() as tmp:
        for count in counts:
            project = models_project(Path(tmp) / f"models-{count}", count)
            seconds, out = median_time(argv, project, repeat)
            figures.append((count, len(json.loads(out)["resources"]), seconds))
    for count, resources, seconds in figures:
        row(f"prod plan, {count} model(s)", f"{seconds * 1000:.0f} ms", f"{resources} resources")
    (c0, n0, t0), (c1, n1, t1) = figures[0], figures[-1]
    row(
        "per additional model",
        f"{(t1 - t0) / (c1 - c0) * 1000:.1f} ms",
        f"{(n1 - n0) / (c1 - c0):.0f} resources each",
    )
    row(
        "per additional resource",
        f"{(t1 - t0) / (n1 - n0) * 1000:.2f} ms",
        "target: under 10 ms (models)",
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--extra", type=int, default=40, help="extra DataBuckets for the slope")
    args = parser.parse_args()
    py = sys.executable

    floor, _ = median_time([py, "-c", IMPORTS], ROOT, args.repeat)
    modules, _ = median_time([py, "-c", MODULES], ROOT, args.repeat)
    prod, out = median_time(
        [py, "-m", "infra.plan", "--stack", "prod", "--format", "json"], ROOT, args.repeat
    )
    resources = len(json.loads(out)["resources"])
    validation = statistics.median(
        float(timed([py, "-c", VALIDATION_IMPORT], ROOT)[1]) for _ in range(args.repeat)
    )
    row("import floor", f"{floor * 1000:.0f} ms", IMPORTS)
    row("prod plan", f"{prod * 1000:.0f} ms", f"{resources} resources")
    row("prod plan / import floor", f"{prod / floor:.2f}x", "target: at most 4x")
    row("provider modules used", f"{modules * 1000:.0f} ms", ", ".join(SERVICES))
    row("prod plan / modules floor", f"{prod / modules:.2f}x", "the plan's own work on top")
    row(
        "pydantic import / prod plan",
        f"{validation / prod * 100:.1f}%",
        f"{validation * 1000:.0f} ms; target: at most 5%",
    )

    with tempfile.TemporaryDirectory() as tmp:
        project = grown_project(Path(tmp))
        argv = [py, "-m", "mlops_platform.infra.plan", "--stack", "prod", "--format", "json"]
        figures = []
        for extra in (0, args.extra):
            env = {**os.environ, "EXTRA_BUCKETS": str(extra)}
            seconds, out = median_time(argv, project, args.repeat, env)
            figures.append((len(json.loads(out)["resources"]), seconds))
    (n0, t0), (n1, t1) = figures
    per_resource = (t1 - t0) / (n1 - n0) * 1000
    row("grown plan", f"{t0 * 1000:.0f} -> {t1 * 1000:.0f} ms", f"{n0} -> {n1} resources")
    row("per additional resource", f"{per_resource:.2f} ms", "target: under 10 ms (buckets)")
    many_models(py, args.repeat)


if __name__ == "__main__":
    main()
