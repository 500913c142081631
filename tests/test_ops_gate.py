"""ops gate and ops register: the training pipeline's last two steps, on moto's model registry.

The decision itself (:func:`decide`) is table-tested; the CLI runs against moto (no AWS), with
the exit codes the issue fixes: 0 may register, 1 may not (one line naming both values),
2 bad usage or a metric the metrics file lacks.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from test_ops import aws_env  # noqa: F401  (autouse: fake credentials, no AWS set-up)

from mlops_platform.ops import Champion, cli, decide, read_metrics, register_package
from mlops_platform.ops.gate import MetricsError, metrics_from_properties
from mlops_platform.ops.register import Provenance, format_metric, package_properties

REGION = "eu-west-1"
GROUP = "mlops-platform-dev-churn"
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlops-platform/dev/serving:v1.2.0"
MODEL_DATA = "s3://artifacts-bucket/models/churn/run-1/model.tar.gz"
ARN = f"arn:aws:sagemaker:{REGION}:123456789012:model-package/{GROUP}/3"


@pytest.fixture
def registry() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("sagemaker", region_name=REGION)
        client.create_model_package_group(ModelPackageGroupName=GROUP)
        yield client


def metrics_file(tmp_path: Path, **metrics: Any) -> Path:
    path = tmp_path / f"metrics-{len(list(tmp_path.iterdir()))}.json"
    path.write_text(json.dumps(metrics), encoding="utf-8")
    return path


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    assert err.endswith("\n") and err.count("\n") == 1 and err.startswith("error: "), err
    assert "Traceback" not in err
    return err


def champ(**metrics: float) -> Champion:
    return Champion(ARN, dict(metrics))


# --- the decision ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "ok", "fragment"),
    [
        # no champion: the first model of a group registers (floors still apply)
        ({"candidate": 0.5, "champion": None}, True, "no approved champion yet"),
        ({"candidate": 0.5, "champion": None, "floor": 0.8}, False, "must be at least 0.8"),
        # max: better, equal, worse, margins
        ({"candidate": 0.95, "champion": champ(acc=0.93)}, True, "better by 0.02"),
        ({"candidate": 0.93, "champion": champ(acc=0.93)}, False, "not better"),
        ({"candidate": 0.91, "champion": champ(acc=0.93)}, False, "not better (higher is better)"),
        (
            {"candidate": 0.94, "champion": champ(acc=0.93), "min_improvement": 0.02},
            False,
            "improvement 0.01 is below the minimum 0.02",
        ),
        (
            {"candidate": 0.95, "champion": champ(acc=0.94), "min_improvement": 0.01},
            True,
            "better by 0.01",
        ),
        (
            {"candidate": 0.94, "champion": champ(acc=0.93), "min_relative_improvement": 0.05},
            False,
            "relative improvement 0.0107527 is below the minimum 0.05",
        ),
        # a champion of 0: only the absolute margin applies
        ({"candidate": 0.1, "champion": champ(acc=0.0), "min_relative_improvement": 9}, True, ""),
        # hard floor beats a better score
        (
            {"candidate": 0.6, "champion": champ(acc=0.5), "floor": 0.7},
            False,
            "beyond the hard floor",
        ),
        # the champion never recorded the metric: fail closed
        ({"candidate": 0.9, "champion": champ(f1=0.8)}, False, "has no recorded acc"),
    ],
)
def test_decide_max(kwargs: dict[str, Any], ok: bool, fragment: str) -> None:
    verdict = decide(metric="acc", direction="max", **kwargs)
    assert verdict.ok is ok and fragment in verdict.message and "\n" not in verdict.message


@pytest.mark.parametrize(
    ("candidate", "floor", "ok", "fragment"),
    [
        (0.20, None, True, "better by 0.05"),
        (0.30, None, False, "lower is better"),
        (0.20, 0.1, False, "must be at most 0.1"),
    ],
)
def test_decide_min(candidate: float, floor: float | None, ok: bool, fragment: str) -> None:
    verdict = decide(
        metric="rmse", direction="min", candidate=candidate, champion=champ(rmse=0.25), floor=floor
    )
    assert verdict.ok is ok and fragment in verdict.message


def test_decide_names_both_values() -> None:
    verdict = decide(metric="acc", direction="max", candidate=0.91, champion=champ(acc=0.93))
    assert "0.91" in verdict.message and "0.93" in verdict.message
    assert f"model-package/{GROUP}/3" in verdict.message


@pytest.mark.parametrize(
    "kwargs",
    [{"direction": "up"}, {"direction": "max", "min_improvement": -0.1}],
)
def test_decide_rejects_bad_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        decide(metric="acc", candidate=1.0, champion=None, **kwargs)


# --- metrics files and package metadata ---------------------------------------------------------


def test_read_metrics_keeps_numbers_only(tmp_path: Path) -> None:
    path = metrics_file(tmp_path, acc=0.9, rows=120, note="x", flag=True, nested={"a": 1})
    assert read_metrics(path) == {"acc": 0.9, "rows": 120.0}


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (None, "cannot read"),
        ("{not json", "is not JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"acc": NaN}', "not finite"),
        ('{"bad name!": 1}', "metric name"),
    ],
)
def test_read_metrics_rejects_unusable_files(
    tmp_path: Path, content: str | None, fragment: str
) -> None:
    path = tmp_path / "metrics.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(MetricsError, match=fragment):
        read_metrics(path)


def test_metrics_round_trip_through_package_properties() -> None:
    properties = package_properties(
        {"acc": 0.9473684210526315, "rows": 120.0, "loss": 1e-05},
        Provenance(data_revision="abc123", mlflow_run_id="0a1b2c"),
    )
    assert properties == {
        "metric.acc": "0.9473684210526315",
        "metric.rows": "120",
        "metric.loss": "1e-05",
        "data.revision": "abc123",
        "mlflow.run_id": "0a1b2c",
    }
    assert metrics_from_properties({**properties, "metric.junk": "n/a"}) == {
        "acc": 0.9473684210526315,
        "rows": 120.0,
        "loss": 1e-05,
    }
    assert format_metric(3.0) == "3"


def test_package_properties_respect_the_registry_limits() -> None:
    with pytest.raises(MetricsError, match="at most 50"):
        package_properties({f"m{i}": 1.0 for i in range(51)}, Provenance())
    with pytest.raises(MetricsError, match=r"data\.revision"):
        package_properties({}, Provenance(data_revision="main;rm -rf"))


# --- register ----------------------------------------------------------------------------------


def test_register_creates_a_pending_package_with_metrics_and_revisions(registry: Any) -> None:
    arn = register_package(
        registry,
        group=GROUP,
        model_data=MODEL_DATA,
        image=IMAGE,
        metrics={"acc": 0.95},
        provenance=Provenance(
            code_revision="0123abc",
            data_revision="0123abc",
            repository="https://github.com/my-org/churn",
            generated_by="churn-train-x7k2p",
        ),
    )
    described = registry.describe_model_package(ModelPackageName=arn)
    assert described["ModelApprovalStatus"] == "PendingManualApproval"
    assert described["CustomerMetadataProperties"] == {
        "metric.acc": "0.95",
        "data.revision": "0123abc",
    }
    assert described["MetadataProperties"] == {
        "CommitId": "0123abc",
        "Repository": "https://github.com/my-org/churn",
        "GeneratedBy": "churn-train-x7k2p",
    }
    (container,) = described["InferenceSpecification"]["Containers"]
    assert (container["Image"], container["ModelDataUrl"]) == (IMAGE, MODEL_DATA)


def test_cli_register_prints_the_arn_and_approves_only_when_asked(
    registry: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    metrics = metrics_file(tmp_path, acc=0.9)
    argv = ["register", "--group", GROUP, "--model-data", MODEL_DATA, "--image", IMAGE]
    argv += ["--metrics", str(metrics)]

    pending = run_main(capsys, *argv)
    approved = run_main(capsys, *argv, "--approve", "--mlflow-run-id", "r1")

    assert pending[0] == approved[0] == 0 and pending[2] == approved[2] == ""
    statuses = [
        registry.describe_model_package(ModelPackageName=out.strip())["ModelApprovalStatus"]
        for _, out, _ in (pending, approved)
    ]
    assert statuses == ["PendingManualApproval", "Approved"]
    assert approved[1].strip().endswith(f"model-package/{GROUP}/2")


# --- gate through the CLI ------------------------------------------------------------------------


def approve(registry: Any, **metrics: float) -> str:
    return register_package(
        registry, group=GROUP, model_data=MODEL_DATA, image=IMAGE, metrics=metrics, approve=True
    )


def gate_argv(metrics: Path, *extra: str) -> list[str]:
    return ["gate", "--group", GROUP, "--metrics", str(metrics), "--metric", "acc", *extra]


def test_cli_gate_first_model_of_a_group_passes(
    registry: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_main(
        capsys, *gate_argv(metrics_file(tmp_path, acc=0.5), "--direction", "max")
    )
    assert (code, err) == (0, "") and "no approved champion yet" in out


def test_cli_gate_compares_with_the_newest_approved_package(
    registry: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    approve(registry, acc=0.80)
    approve(registry, acc=0.93)  # the champion: newest Approved
    register_package(  # newer, but pending: never the champion
        registry, group=GROUP, model_data=MODEL_DATA, image=IMAGE, metrics={"acc": 0.99}
    )

    better = run_main(capsys, *gate_argv(metrics_file(tmp_path, acc=0.95), "--direction", "max"))
    worse = run_main(capsys, *gate_argv(metrics_file(tmp_path, acc=0.91), "--direction", "max"))

    assert better[0] == 0 and "0.95 vs champion 0.93" in better[1]
    assert worse[:2] == (1, "")
    line = one_error_line(worse[2])
    assert "candidate acc 0.91 vs champion 0.93" in line and f"{GROUP}/2" in line


def test_cli_gate_margins_and_floor(
    registry: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    approve(registry, acc=0.90)
    metrics = metrics_file(tmp_path, acc=0.92)

    assert run_main(capsys, *gate_argv(metrics, "--direction", "max"))[0] == 0
    assert run_main(capsys, *gate_argv(metrics, "--direction", "min"))[0] == 1
    margin = run_main(
        capsys, *gate_argv(metrics, "--direction", "max", "--min-improvement", "0.05")
    )
    relative = run_main(
        capsys, *gate_argv(metrics, "--direction", "max", "--min-relative-improvement", "0.1")
    )
    floor = run_main(capsys, *gate_argv(metrics, "--direction", "max", "--floor", "0.95"))
    for code, _, err in (margin, relative, floor):
        assert code == 1
        one_error_line(err)
    assert "below the minimum 0.05" in margin[2] and "must be at least 0.95" in floor[2]


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--direction", "up"], "invalid choice"),
        (["--direction", "max", "--min-improvement", "-0.1"], "must be 0 or more"),
        (["--direction", "max", "--min-relative-improvement", "-1"], "must be 0 or more"),
        (["--direction", "max", "--floor", "nan"], "finite"),
        (["--direction", "max", "--metric", "f1"], "metric 'f1' is not in"),
    ],
)
def test_cli_gate_usage_errors_exit_2(
    registry: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    fragment: str,
) -> None:
    code, out, err = run_main(capsys, *gate_argv(metrics_file(tmp_path, acc=0.9), *extra))
    assert (code, out) == (2, "") and fragment in err and "Traceback" not in err


def test_cli_gate_missing_metrics_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_main(capsys, *gate_argv(tmp_path / "none.json", "--direction", "max"))
    assert code == 2 and "cannot read metrics file" in one_error_line(err)


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--model-data", "https://bucket/model.tar.gz"), ("--image", "not an image")],
)
def test_cli_register_usage_errors_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, value: str
) -> None:
    argv = {"--model-data": MODEL_DATA, "--image": IMAGE, flag: value}
    code, _, err = run_main(
        capsys,
        "register",
        "--group",
        GROUP,
        "--metrics",
        str(metrics_file(tmp_path, acc=1)),
        *[item for pair in argv.items() for item in pair],
    )
    assert code == 2 and flag in err


def test_cli_register_into_a_missing_group_fails_in_one_line(
    registry: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["register", "--group", "no-such-group", "--model-data", MODEL_DATA, "--image", IMAGE]
    code, out, err = run_main(capsys, *argv, "--metrics", str(metrics_file(tmp_path, acc=1)))
    assert (code, out) == (1, "")
    assert "CreateModelPackage failed" in one_error_line(err)
    assert "Model Package Group does not exist" in err


@pytest.mark.parametrize("command", ["gate", "register"])
def test_cli_unreachable_registry_is_one_line_exit_1(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    command: str,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens on port 9
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    metrics = metrics_file(tmp_path, acc=0.9)
    argv = {
        "gate": gate_argv(metrics, "--direction", "max"),
        "register": [
            "register", "--group", GROUP, "--model-data", MODEL_DATA, "--image", IMAGE,
            "--metrics", str(metrics),
        ],
    }[command]  # fmt: skip

    code, out, err = run_main(capsys, *argv)

    assert (code, out) == (1, "")
    assert "Could not connect to the endpoint URL" in one_error_line(err)
