"""The training pipeline's first steps, as commands: fetch, validate-data, train, evaluate.

Each WorkflowTemplate container calls one of them (``components/pipelines.py``); CI and people
run the same commands in the model's repository. They run in the training environment (the
model template's requirements: DVC, pandera, MLflow, the team's tools) and call ``git`` and
``dvc`` as programs. A failure is one ``error:`` line and a non-zero exit, so a failed step stops
the workflow before anything is registered.

The data schema a team declares (``data/schema.yaml``) is a small YAML document that this module
turns into a pandera ``DataFrameSchema``::

    columns:
      sepal length (cm): {type: float, min: 0, max: 20, nullable: false}
      species: {type: str, allowed: [setosa, versicolor, virginica]}
    rows: {min: 100}          # row count bounds (optional)
    strict: true              # no columns beyond these (default true)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mlops_platform.ops.gate import MetricsError, read_metrics

TYPES = ("int", "float", "str", "bool")
COLUMN_KEYS = frozenset({"type", "min", "max", "nullable", "allowed", "unique"})
SCHEMA_KEYS = frozenset({"columns", "rows", "strict"})
# The DVC remote `fetch --remote-url` adds to the checkout's local config (never committed).
PLATFORM_REMOTE = "mlops-platform"
# Where the training code writes its MLflow run id (`train --run-id-file`), for `register`.
RUN_ID_ENV = "MLOPS_MLFLOW_RUN_ID_FILE"


class StepError(RuntimeError):
    """A step that cannot go on: one line, exit 1."""


def _run(argv: Sequence[str], cwd: Path, what: str, env: Mapping[str, str] | None = None) -> str:
    try:
        result = subprocess.run(
            list(argv), cwd=cwd, env=env, capture_output=True, text=True, check=False
        )
    except OSError as error:
        raise StepError(f"{what}: cannot run {argv[0]}: {error.strerror}") from None
    if result.returncode != 0:
        lines = [line for line in (result.stderr or result.stdout).splitlines() if line.strip()]
        detail = lines[-1].strip() if lines else f"exit status {result.returncode}"
        raise StepError(f"{what} failed: {detail}")
    return result.stdout


def fetch(
    workdir: Path,
    *,
    repository: str | None = None,
    revision: str | None = None,
    remote_url: str | None = None,
) -> str:
    """Check out ``revision`` of the model repository in ``workdir`` (cloning ``repository``
    first when given) and ``dvc pull`` the data its ``.dvc`` files name; return the SHA.

    With ``remote_url`` (the stack's DVC remote) the data comes from there, whatever remote the
    repository's committed ``.dvc/config`` names: each stack's pipeline may read only its own
    remote, so a default remote committed for another stack must not decide where it pulls."""
    workdir = Path(workdir)
    if remote_url is not None and "://" not in remote_url:
        raise StepError(
            f"--remote-url: expected a DVC remote URL such as s3://bucket/dvc, got {remote_url!r}"
        )
    if repository is not None:
        _run(["git", "clone", "--quiet", repository, str(workdir)], Path.cwd(), "git clone")
    if not (workdir / ".git").exists():
        raise StepError(f"{workdir} is not a git checkout (give --repo to clone one)")
    if revision is not None:
        try:
            _run(["git", "checkout", "--quiet", revision], workdir, "git checkout")
        except StepError:
            raise StepError(
                f"revision {revision!r} is not in the repository (a branch, tag or commit)"
            ) from None
    sha = _run(["git", "rev-parse", "HEAD"], workdir, "git rev-parse").strip()
    # The data (the .dvc files' outputs), not the stages' outputs: train reproduces those, and
    # a data file missing from the remote must fail here, not be skipped.
    tracked = _run(["git", "ls-files", "*.dvc", "**/*.dvc"], workdir, "git ls-files").split()
    if tracked:
        pull = ["dvc", "pull"]
        if remote_url is not None:
            add = ["dvc", "remote", "add", "--local", "--force", PLATFORM_REMOTE, remote_url]
            _run(add, workdir, "dvc remote add")
            pull += ["--remote", PLATFORM_REMOTE]
        _run([*pull, *sorted(set(tracked))], workdir, f"dvc pull of {sha[:12]}")
    return sha


def load_schema(path: Path) -> dict[str, Any]:
    """The team's schema document, checked for shape (a :class:`StepError` names the key)."""
    import yaml

    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise StepError(f"cannot read schema {str(path)!r}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise StepError(
            f"schema {str(path)!r} is not YAML: {' '.join(str(error).split())}"
        ) from None
    if not isinstance(document, Mapping) or not isinstance(document.get("columns"), Mapping):
        raise StepError(f"schema {str(path)!r}: expected a map with 'columns'")
    for key in document:
        if key not in SCHEMA_KEYS:
            raise StepError(f"schema {str(path)!r}: unknown key {key!r}")
    for name, column in document["columns"].items():
        if not isinstance(column, Mapping) or column.get("type") not in TYPES:
            raise StepError(f"schema columns.{name}.type: expected one of {', '.join(TYPES)}")
        for key in column:
            if key not in COLUMN_KEYS:
                raise StepError(f"schema columns.{name}: unknown key {key!r}")
    rows = document.get("rows", {})
    if not isinstance(rows, Mapping) or set(rows) - {"min", "max"}:
        raise StepError("schema rows: expected {min: N, max: N}")
    return dict(document)


def dataframe_schema(document: Mapping[str, Any]) -> Any:
    """The pandera ``DataFrameSchema`` of a schema document."""
    import pandera.pandas as pa

    dtypes = {"int": "int64", "float": "float64", "str": "str", "bool": "bool"}
    columns = {}
    for name, column in document["columns"].items():
        checks = []
        if "min" in column:
            checks.append(pa.Check.ge(column["min"]))
        if "max" in column:
            checks.append(pa.Check.le(column["max"]))
        if "allowed" in column:
            checks.append(pa.Check.isin(list(column["allowed"])))
        columns[name] = pa.Column(
            dtypes[column["type"]],
            checks=checks,
            nullable=bool(column.get("nullable", False)),
            unique=bool(column.get("unique", False)),
            coerce=column["type"] == "float",  # integers in a float column are fine
        )
    rows = document.get("rows", {})
    checks = []
    if "min" in rows:
        checks.append(
            pa.Check(lambda df: len(df) >= rows["min"], error=f"at least {rows['min']} rows")
        )
    if "max" in rows:
        checks.append(
            pa.Check(lambda df: len(df) <= rows["max"], error=f"at most {rows['max']} rows")
        )
    return pa.DataFrameSchema(columns, checks=checks, strict=bool(document.get("strict", True)))


def validate_data(schema_path: Path, data_path: Path) -> str:
    """Check a CSV data set against the team's schema; return a one-line summary.

    Raises :class:`StepError` with the first failures (column, check, a failing value).
    """
    import pandas as pd
    import pandera.errors

    schema = dataframe_schema(load_schema(schema_path))
    try:
        frame = pd.read_csv(data_path)
    except (OSError, ValueError) as error:
        raise StepError(f"cannot read data set {str(data_path)!r}: {error}") from None
    try:
        schema.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as error:
        cases = error.failure_cases
        first = cases.head(3).to_dict("records")
        described = "; ".join(
            f"{case.get('column') or 'data set'}: {case.get('check')} "
            f"(got {case.get('failure_case')!r})"
            for case in first
        )
        raise StepError(
            f"data set {str(data_path)!r} breaks the schema in {len(cases)} place(s): {described}"
        ) from None
    return f"data set {str(data_path)!r}: {len(frame)} rows match {str(schema_path)!r}"


def train(workdir: Path, *, run_id_file: Path | None = None) -> str | None:
    """The team's ``dvc repro`` (the pipeline in its ``dvc.yaml``).

    With ``run_id_file``, the training code finds that path in ``MLOPS_MLFLOW_RUN_ID_FILE`` and
    writes the id of the MLflow run it logged there; the file exists (empty) even when it does
    not, so the step's output parameter always does. Returns the run id, if any."""
    if run_id_file is None:
        _run(["dvc", "repro"], Path(workdir), "dvc repro")
        return None
    run_id_file = Path(run_id_file).resolve()
    run_id_file.parent.mkdir(parents=True, exist_ok=True)
    run_id_file.write_text("", encoding="utf-8")
    env = {**os.environ, RUN_ID_ENV: str(run_id_file)}
    _run(["dvc", "repro"], Path(workdir), "dvc repro", env=env)
    run_id = run_id_file.read_text(encoding="utf-8").strip()
    return run_id or None


def evaluate(
    *,
    metrics_path: Path,
    model_dir: Path,
    require: Sequence[str],
    out: Path,
    metrics_out: Path | None = None,
) -> dict[str, float]:
    """Check that the training produced ``require``d metrics; pack ``model_dir`` as the
    ``model.tar.gz`` SageMaker loads (files at the archive's root). Returns the metrics."""
    try:
        metrics = read_metrics(metrics_path)
    except MetricsError as error:
        raise StepError(str(error)) from None
    missing = [name for name in require if name not in metrics]
    if missing:
        raise StepError(
            f"the evaluation did not produce {', '.join(missing)} in {str(metrics_path)!r} "
            f"(it has: {', '.join(sorted(metrics)) or 'nothing'})"
        )
    model_dir = Path(model_dir)
    files = sorted(p for p in model_dir.rglob("*") if p.is_file()) if model_dir.is_dir() else []
    if not files:
        raise StepError(f"model directory {str(model_dir)!r} is missing or empty")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out, "w:gz") as archive:
        for path in files:
            archive.add(path, arcname=str(path.relative_to(model_dir)))
    if metrics_out is not None:
        Path(metrics_out).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(metrics_path, metrics_out)
    return metrics
