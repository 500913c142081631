"""ops fetch / validate-data / train / evaluate in this process: their failure lines and what
they write. (tests/test_training_pipeline.py runs them for real in the training environment.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from mlops_platform.ops import cli, pipeline
from mlops_platform.ops.pipeline import StepError

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def git_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key, value in {
        "GIT_AUTHOR_NAME": "ci",
        "GIT_AUTHOR_EMAIL": "ci@example.com",
        "GIT_COMMITTER_NAME": "ci",
        "GIT_COMMITTER_EMAIL": "ci@example.com",
        "HOME": str(tmp_path / "home"),
    }.items():
        monkeypatch.setenv(key, value)


def repository(path: Path, *, dvc_file: bool = False) -> str:
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=path, check=True)
    (path / "README.md").write_text("model\n", encoding="utf-8")
    if dvc_file:
        (path / "data.csv.dvc").write_text("outs:\n- md5: 0\n  path: data.csv\n", "utf-8")
    subprocess.run(["git", "add", "-A"], cwd=path, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "one"], cwd=path, check=True)
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, check=True
    ).stdout.strip()


def fake_dvc(directory: Path, script: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ``dvc`` on PATH that runs ``script`` (and records its arguments)."""
    directory.mkdir(parents=True, exist_ok=True)
    dvc = directory / "dvc"
    dvc.write_text(f'#!/bin/sh\necho "$@" >> "{directory}/calls"\n{script}\n', encoding="utf-8")
    dvc.chmod(0o755)
    monkeypatch.setenv("PATH", f"{directory}{os.pathsep}{os.environ['PATH']}")
    return directory / "calls"


@needs_git
def test_fetch_clones_checks_out_and_pulls_only_the_data(
    tmp_path: Path, git_env: None, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    sha = repository(tmp_path / "origin", dvc_file=True)
    calls = fake_dvc(tmp_path / "bin", "exit 0", monkeypatch)
    out_file = tmp_path / "out" / "revision"

    code, out, err = run_main(
        capsys, "fetch", "--repo", str(tmp_path / "origin"), "--workdir", str(tmp_path / "clone"),
        "--revision", "main", "--revision-file", str(out_file),
    )  # fmt: skip

    assert (code, out, err) == (0, f"fetched {sha}\n", "")
    assert out_file.read_text() == sha
    assert calls.read_text().split() == ["pull", "data.csv.dvc"]


@needs_git
def test_fetch_failures_are_one_line(
    tmp_path: Path, git_env: None, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    repository(tmp_path / "origin", dvc_file=True)
    fake_dvc(
        tmp_path / "bin",
        'echo "ERROR: failed to pull data from the cloud" >&2; exit 1',
        monkeypatch,
    )

    not_a_checkout = run_main(capsys, "fetch", "--workdir", str(tmp_path))
    missing_data = run_main(capsys, "fetch", "--workdir", str(tmp_path / "origin"))

    assert not_a_checkout[0] == 1 and "is not a git checkout" in not_a_checkout[2]
    assert missing_data[0] == 1
    assert missing_data[2].endswith("failed: ERROR: failed to pull data from the cloud\n")
    assert missing_data[2].count("\n") == 1


@needs_git
def test_fetch_with_the_stacks_remote_pulls_from_it(
    tmp_path: Path, git_env: None, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    repository(tmp_path / "origin", dvc_file=True)
    calls = fake_dvc(tmp_path / "bin", "exit 0", monkeypatch)
    code, _, err = run_main(
        capsys, "fetch", "--workdir", str(tmp_path / "origin"), "--remote-url", "s3://dvc-b/dvc"
    )
    assert (code, err) == (0, "")
    assert calls.read_text().splitlines() == [
        "remote add --local --force mlops-platform s3://dvc-b/dvc",
        "pull --remote mlops-platform data.csv.dvc",
    ]


def test_train_hands_the_training_code_a_file_for_its_mlflow_run_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    fake_dvc(tmp_path / "bin", 'printf run-0123abc > "$MLOPS_MLFLOW_RUN_ID_FILE"', monkeypatch)
    run_id = tmp_path / "out" / "mlflow-run-id"
    code, out, _ = run_main(
        capsys, "train", "--workdir", str(tmp_path), "--run-id-file", str(run_id)
    )
    assert (code, out) == (0, "trained: dvc repro finished (MLflow run run-0123abc)\n")
    assert run_id.read_text() == "run-0123abc"
    # Training that logs no run leaves the file empty: the output parameter still exists.
    fake_dvc(tmp_path / "bin", "exit 0", monkeypatch)
    code, out, _ = run_main(
        capsys, "train", "--workdir", str(tmp_path), "--run-id-file", str(run_id)
    )
    assert (code, out, run_id.read_text()) == (0, "trained: dvc repro finished\n", "")


def test_train_runs_dvc_repro_and_reports_its_last_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    calls = fake_dvc(tmp_path / "bin", 'echo "stage train failed" >&2; exit 1', monkeypatch)
    code, _, err = run_main(capsys, "train", "--workdir", str(tmp_path))
    assert code == 1 and err == "error: dvc repro failed: stage train failed\n"
    assert calls.read_text().split() == ["repro"]


def test_a_missing_program_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(StepError, match="cannot run dvc"):
        pipeline.train(tmp_path)


def model_dir(tmp_path: Path) -> Path:
    model = tmp_path / "model"
    (model / "sub").mkdir(parents=True)
    (model / "model.joblib").write_bytes(b"weights")
    (model / "sub" / "extra.json").write_text("{}", encoding="utf-8")
    return model


def test_evaluate_packs_the_model_at_the_archive_root(tmp_path: Path, capsys) -> None:
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"acc": 0.9, "rows": 10}), encoding="utf-8")
    out = tmp_path / "out" / "model.tar.gz"

    code, stdout, _ = run_main(
        capsys, "evaluate", "--metrics", str(metrics), "--model-dir", str(model_dir(tmp_path)),
        "--require", "acc", "--out", str(out), "--metrics-out", str(tmp_path / "out" / "m.json"),
    )  # fmt: skip

    assert (code, stdout) == (0, "evaluated: acc=0.9, rows=10\n")
    with tarfile.open(out) as archive:
        assert sorted(archive.getnames()) == ["model.joblib", "sub/extra.json"]
    assert json.loads((tmp_path / "out" / "m.json").read_text()) == {"acc": 0.9, "rows": 10}


@pytest.mark.parametrize(
    ("metrics", "make_model", "fragment"),
    [
        ({"rows": 10}, True, "did not produce acc"),
        ({"acc": 0.9}, False, "is missing or empty"),
        (None, True, "cannot read metrics file"),
    ],
)
def test_evaluate_failures(tmp_path: Path, metrics, make_model: bool, fragment: str) -> None:
    path = tmp_path / "metrics.json"
    if metrics is not None:
        path.write_text(json.dumps(metrics), encoding="utf-8")
    model = model_dir(tmp_path) if make_model else tmp_path / "none"
    with pytest.raises(StepError, match=fragment):
        pipeline.evaluate(
            metrics_path=path, model_dir=model, require=["acc"], out=tmp_path / "m.tgz"
        )


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (None, "cannot read schema"),
        ("columns: [", "is not YAML"),
        ("rows: {min: 1}", "expected a map with 'columns'"),
        ("columns: {a: {type: float}}\nextra: 1", "unknown key 'extra'"),
        ("columns: {a: {type: decimal}}", "columns.a.type"),
        ("columns: {a: {type: int, minimum: 0}}", "unknown key 'minimum'"),
        ("columns: {a: {type: int}}\nrows: {least: 3}", "schema rows"),
    ],
)
def test_bad_schemas_name_the_key(tmp_path: Path, text: str | None, fragment: str) -> None:
    path = tmp_path / "schema.yaml"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(StepError, match=fragment):
        pipeline.load_schema(path)


def test_the_templates_schema_loads() -> None:
    from conftest import ROOT

    schema = pipeline.load_schema(ROOT / "examples" / "ml-project" / "data" / "schema.yaml")
    assert schema["columns"]["species"]["allowed"] == ["setosa", "versicolor", "virginica"]
    assert schema["rows"] == {"min": 100}
