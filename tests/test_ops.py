"""ops: release tooling for SageMaker endpoints (latest approved model, watch, smoke).

No test reaches AWS and none waits: the model registry runs on moto, DescribeEndpoint and
InvokeEndpoint sequences are scripted with botocore's Stubber (whose clients refuse any call that
was not scripted), and ``sleep``/``clock`` are fakes that only move a number forward.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError
from botocore.response import StreamingBody
from botocore.stub import Stubber
from moto import mock_aws

from mlops_platform.ops import (
    SmokeResult,
    WatchResult,
    assess,
    cli,
    latest_approved_package,
    newest_package,
    percentile,
    smoke_test,
    watch_endpoint,
)
from mlops_platform.ops.smoke import check_response

REGION = "eu-west-1"
ACCOUNT = "123456789012"
ENDPOINT = "churn"
NEW_CONFIG = "churn-config-new"
OLD_CONFIG = "churn-config-old"
T0 = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and region; nothing from the developer's AWS set-up leaks in."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SAGEMAKER", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")


class FakeClock:
    """A clock that only moves when ``sleep`` is called; records every sleep."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def scripted_timer(latencies_ms: list[float]) -> Callable[[], float]:
    """A clock read twice per invocation (before, after) that makes each one take the given ms."""

    def ticks() -> Iterator[float]:
        now = 100.0
        for latency in latencies_ms:
            yield now
            now += latency / 1000
            yield now
            now += 1.0  # time between invocations must not count

    it = ticks()
    return lambda: next(it)


def run_main(capsys: pytest.CaptureFixture[str], *argv: str, **kwargs: Any) -> tuple[int, str, str]:
    code = cli.main(list(argv), **kwargs)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_error_line(err: str, *fragments: str) -> None:
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith("error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err


# --- latest approved model package ------------------------------------------------------------


@pytest.fixture
def registry() -> Iterator[Any]:
    """A moto SageMaker client with an empty model registry."""
    with mock_aws():
        yield boto3.client("sagemaker", region_name=REGION)


def register(client: Any, group: str, *statuses: str) -> list[str]:
    """Create the group (if needed) and one model package per approval status, oldest first."""
    if group not in {
        g["ModelPackageGroupName"]
        for g in client.list_model_package_groups()["ModelPackageGroupSummaryList"]
    }:
        client.create_model_package_group(ModelPackageGroupName=group)
    return [
        client.create_model_package(ModelPackageGroupName=group, ModelApprovalStatus=status)[
            "ModelPackageArn"
        ]
        for status in statuses
    ]


def test_newest_approved_package_wins_over_newer_rejected_and_pending(registry: Any) -> None:
    arns = register(registry, "churn", "Approved", "Rejected", "Approved", "PendingManualApproval")
    register(registry, "fraud", "Approved")  # another group's newer approval must not leak in

    assert latest_approved_package("churn", client=registry) == arns[2]
    assert arns[2].endswith("model-package/churn/3")


def test_approving_a_newer_package_makes_it_the_latest(registry: Any) -> None:
    arns = register(registry, "churn", "Approved", "PendingManualApproval")
    assert latest_approved_package("churn", client=registry) == arns[0]

    registry.update_model_package(ModelPackageArn=arns[1], ModelApprovalStatus="Approved")

    assert latest_approved_package("churn", client=registry) == arns[1]


def test_no_approved_package_is_none(registry: Any) -> None:
    register(registry, "churn", "PendingManualApproval", "Rejected")
    assert latest_approved_package("churn", client=registry) is None


def test_cli_latest_approved_prints_only_the_arn(
    registry: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    arns = register(registry, "churn", "Approved", "Approved", "Rejected")

    code, out, err = run_main(capsys, "latest-approved", "--group", "churn")

    assert (code, out, err) == (0, f"{arns[1]}\n", "")


def test_cli_latest_approved_none_approved_exits_1(
    registry: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    register(registry, "churn", "Rejected")

    code, out, err = run_main(capsys, "latest-approved", "--group", "churn")

    assert (code, out) == (1, "")
    assert err == "error: no approved model package in group 'churn'\n"


def summary(version: int, created: datetime) -> dict[str, Any]:
    return {
        "ModelPackageGroupName": "churn",
        "ModelPackageVersion": version,
        "ModelPackageArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/churn/{version}",
        "CreationTime": created,
        "ModelPackageStatus": "Completed",
        "ModelApprovalStatus": "Approved",
    }


def test_latest_approved_reads_every_page() -> None:
    """Filtered listings can return empty pages that still carry a NextToken."""
    client = boto3.client("sagemaker", region_name=REGION)
    query = {
        "ModelPackageGroupName": "churn",
        "ModelApprovalStatus": "Approved",
        "SortBy": "CreationTime",
        "SortOrder": "Descending",
    }
    with Stubber(client) as stub:
        stub.add_response(
            "list_model_packages", {"ModelPackageSummaryList": [], "NextToken": "p2"}, query
        )
        stub.add_response(
            "list_model_packages",
            {"ModelPackageSummaryList": [summary(7, T0 + timedelta(days=7))], "NextToken": "p3"},
            {**query, "NextToken": "p2"},
        )
        stub.add_response(
            "list_model_packages",
            {"ModelPackageSummaryList": [summary(5, T0 + timedelta(days=5))]},
            {**query, "NextToken": "p3"},
        )

        assert latest_approved_package("churn", client=client) == summary(7, T0)["ModelPackageArn"]
        stub.assert_no_pending_responses()


def test_newest_package_breaks_creation_time_ties_by_version() -> None:
    assert (
        newest_package([summary(1, T0), summary(3, T0), summary(2, T0)])
        == (summary(3, T0)["ModelPackageArn"])
    )
    assert newest_package([]) is None


# --- watch ------------------------------------------------------------------------------------


def described(status: str, config: str = NEW_CONFIG, reason: str | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "EndpointName": ENDPOINT,
        "EndpointArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{ENDPOINT}",
        "EndpointConfigName": config,
        "EndpointStatus": status,
        "CreationTime": T0,
        "LastModifiedTime": T0,
    }
    if reason is not None:
        response["FailureReason"] = reason
    return response


def stubbed_sagemaker(*responses: dict[str, Any] | ClientError) -> tuple[Any, Stubber]:
    """A SageMaker client whose DescribeEndpoint answers ``responses`` in order, then refuses."""
    client = boto3.client("sagemaker", region_name=REGION)
    stub = Stubber(client)
    for response in responses:
        if isinstance(response, ClientError):
            stub.add_client_error(
                "describe_endpoint",
                service_error_code=response.response["Error"]["Code"],
                service_message=response.response["Error"]["Message"],
            )
        else:
            stub.add_response("describe_endpoint", response, {"EndpointName": ENDPOINT})
    stub.activate()
    return client, stub


def aws_error(code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "DescribeEndpoint")


NOT_FOUND = aws_error(
    "ValidationException",
    f'Could not find endpoint "arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{ENDPOINT}".',
)


def watch(
    *responses: dict[str, Any] | ClientError, timeout: float = 600, interval: float = 30
) -> tuple[WatchResult, FakeClock, list[str]]:
    client, stub = stubbed_sagemaker(*responses)
    clock = FakeClock()
    progress: list[str] = []
    result = watch_endpoint(
        client,
        ENDPOINT,
        NEW_CONFIG,
        timeout=timeout,
        interval=interval,
        sleep=clock.sleep,
        clock=clock,
        progress=progress.append,
    )
    stub.assert_no_pending_responses()
    return result, clock, progress


def test_watch_in_service_on_expected_config_returns_at_once() -> None:
    result, clock, progress = watch(described("InService"))

    assert result.ok and (result.status, result.config) == ("InService", NEW_CONFIG)
    assert clock.sleeps == []
    assert len(progress) == 1


def test_watch_waits_through_updating_until_in_service() -> None:
    result, clock, progress = watch(
        described("Updating"), described("Updating"), described("InService")
    )

    assert result.ok
    assert clock.sleeps == [30, 30]
    assert [line.split("': ")[1] for line in progress] == [
        f"Updating on config '{NEW_CONFIG}'",
        f"InService on config '{NEW_CONFIG}'",
    ]


def test_watch_reports_rollback_to_the_old_config() -> None:
    result, _, _ = watch(
        described("Updating"),
        described("RollingBack"),
        described("InService", OLD_CONFIG),
    )

    assert not result.ok
    assert f"rolled back to '{OLD_CONFIG}'" in result.message
    assert result.config == OLD_CONFIG


def test_watch_failed_names_the_failure_reason() -> None:
    reason = "The primary container for production variant AllTraffic did not pass the ping health check."
    result, _, _ = watch(described("Creating"), described("Failed", reason=reason))

    assert not result.ok and result.status == "Failed"
    assert reason in result.message


def test_watch_times_out_with_the_last_status() -> None:
    responses = [described("Updating")] * 4 + [described("SystemUpdating")]
    result, clock, _ = watch(*responses, timeout=100, interval=30)

    assert not result.ok
    assert clock.sleeps == [30, 30, 30, 10]  # never sleeps past the deadline
    assert result.message == (
        f"timed out after 100s waiting for endpoint '{ENDPOINT}': "
        f"last status SystemUpdating on config '{NEW_CONFIG}'"
    )


def test_watch_keeps_waiting_while_out_of_service() -> None:
    result, clock, _ = watch(described("OutOfService"), described("InService"))
    assert result.ok and clock.sleeps == [30]


def test_watch_endpoint_not_found() -> None:
    result, clock, progress = watch(NOT_FOUND)

    assert not result.ok
    assert result.message == f"endpoint '{ENDPOINT}' not found"
    assert clock.sleeps == [] and progress == []


def test_watch_other_aws_errors_propagate() -> None:
    with pytest.raises(ClientError, match="AccessDeniedException"):
        watch(aws_error("AccessDeniedException", "not allowed"))


@pytest.mark.parametrize(
    ("status", "config", "ok", "fragment"),
    [
        ("InService", NEW_CONFIG, True, "InService"),
        ("InService", OLD_CONFIG, False, f"rolled back to '{OLD_CONFIG}'"),
        ("Failed", NEW_CONFIG, False, "Failed: boom"),
        ("UpdateRollbackFailed", OLD_CONFIG, False, "UpdateRollbackFailed: boom"),
        ("Deleting", NEW_CONFIG, False, "being deleted"),
        ("Creating", NEW_CONFIG, None, None),
        ("Updating", NEW_CONFIG, None, None),
        ("SystemUpdating", NEW_CONFIG, None, None),
        ("RollingBack", NEW_CONFIG, None, None),
        ("OutOfService", NEW_CONFIG, None, None),
        ("SomeFutureStatus", NEW_CONFIG, None, None),
    ],
)
def test_assess_decides_per_status(
    status: str, config: str, ok: bool | None, fragment: str | None
) -> None:
    verdict = assess(ENDPOINT, NEW_CONFIG, described(status, config, reason="boom"))
    if ok is None:
        assert verdict is None
    else:
        assert verdict is not None and verdict.ok is ok
        assert fragment in verdict.message and "\n" not in verdict.message


def test_failure_reason_is_kept_on_one_line() -> None:
    verdict = assess(ENDPOINT, NEW_CONFIG, described("Failed", reason="line one\nline two"))
    assert verdict is not None and verdict.message.endswith("Failed: line one line two")


# --- smoke ------------------------------------------------------------------------------------

PAYLOAD = b'{"instances": [[1.0, 2.0, 3.0]]}'


def body(data: bytes) -> StreamingBody:
    return StreamingBody(io.BytesIO(data), len(data))


def stubbed_runtime(*answers: bytes | ClientError) -> tuple[Any, Stubber]:
    """A sagemaker-runtime client whose InvokeEndpoint answers ``answers`` in order."""
    client = boto3.client("sagemaker-runtime", region_name=REGION)
    stub = Stubber(client)
    expected = {
        "EndpointName": ENDPOINT,
        "Body": PAYLOAD,
        "ContentType": "application/json",
        "Accept": "application/json",
    }
    for answer in answers:
        if isinstance(answer, ClientError):
            stub.add_client_error(
                "invoke_endpoint",
                service_error_code=answer.response["Error"]["Code"],
                service_message=answer.response["Error"]["Message"],
                http_status_code=424,
                modeled_fields={"OriginalStatusCode": 500, "OriginalMessage": "boom"},
            )
        else:
            stub.add_response(
                "invoke_endpoint",
                {"Body": body(answer), "ContentType": "application/json"},
                expected,
            )
    stub.activate()
    return client, stub


def smoke(client: Any, latencies_ms: list[float], max_p95_ms: float | None = None) -> SmokeResult:
    return smoke_test(
        client,
        ENDPOINT,
        PAYLOAD,
        content_type="application/json",
        count=len(latencies_ms),
        max_p95_ms=max_p95_ms,
        clock=scripted_timer(latencies_ms),
    )


GOOD = b'{"predictions": [0.93]}'
MODEL_ERROR = ClientError(
    {"Error": {"Code": "ModelError", "Message": "Received server error (500)"}}, "InvokeEndpoint"
)


def test_smoke_all_good_summarises_latency() -> None:
    client, stub = stubbed_runtime(*[GOOD] * 20)

    result = smoke(client, [float(ms) for ms in range(1, 21)], max_p95_ms=50)

    stub.assert_no_pending_responses()
    assert result.ok
    assert (result.p50_ms, result.p95_ms, result.max_ms) == pytest.approx((10, 19, 20))
    assert result.message == (
        f"smoke ok: endpoint '{ENDPOINT}': 20 invocations, p50 10.0 ms, p95 19.0 ms, max 20.0 ms"
    )


def test_smoke_stops_at_the_first_model_error() -> None:
    client, stub = stubbed_runtime(GOOD, GOOD, MODEL_ERROR)

    result = smoke_test(
        client,
        ENDPOINT,
        PAYLOAD,
        content_type="application/json",
        count=20,
        max_p95_ms=None,
        clock=scripted_timer([5.0] * 20),
    )

    stub.assert_no_pending_responses()  # the 4th invocation never happened
    assert not result.ok
    assert result.message.startswith(f"invocation 3/20 of endpoint '{ENDPOINT}' failed: ModelError")
    assert "model returned HTTP 500" in result.message
    assert result.latencies_ms == pytest.approx((5.0, 5.0))


def test_smoke_p95_over_budget_fails() -> None:
    client, _ = stubbed_runtime(*[GOOD] * 20)

    result = smoke(client, [10.0] * 18 + [500.0] * 2, max_p95_ms=200)

    assert not result.ok
    assert result.message.startswith("p95 latency 500.0 ms exceeds budget 200 ms")


def test_smoke_one_slow_call_in_twenty_is_within_p95() -> None:
    client, _ = stubbed_runtime(*[GOOD] * 20)
    assert smoke(client, [10.0] * 19 + [500.0], max_p95_ms=200).ok


def test_smoke_non_json_body_fails() -> None:
    client, _ = stubbed_runtime(GOOD, b"<html>502 Bad Gateway</html>")

    result = smoke(client, [5.0, 5.0])

    assert not result.ok
    assert "invocation 2/2" in result.message and "not JSON" in result.message


def test_non_2xx_status_is_a_bad_answer() -> None:
    assert check_response({"ResponseMetadata": {"HTTPStatusCode": 503}}, GOOD) == "HTTP 503"
    assert check_response({"ResponseMetadata": {"HTTPStatusCode": 200}}, GOOD) is None


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([3.0, 1.0, 2.0], 50, 2.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.0),
        ([7.0], 95, 7.0),
        ([1.0, 2.0], 100, 2.0),
    ],
)
def test_percentile_is_nearest_rank(values: list[float], q: float, expected: float) -> None:
    assert percentile(values, q) == expected


# --- CLI --------------------------------------------------------------------------------------


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Route the CLI's client factory to per-service clients the test provides; record regions."""
    provided: dict[str, Any] = {"regions": []}

    def make_client(service: str, region: str | None = None) -> Any:
        provided["regions"].append(region)
        return provided[service]

    monkeypatch.setattr(cli, "make_client", make_client)
    return provided


WATCH = ("watch", "--endpoint", ENDPOINT, "--expected-config", NEW_CONFIG)


def test_cli_watch_success(clients: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    clients["sagemaker"], _ = stubbed_sagemaker(described("Updating"), described("InService"))
    clock = FakeClock()

    code, out, err = run_main(
        capsys, *WATCH, "--interval", "5", "--region", "us-east-1", sleep=clock.sleep, clock=clock
    )

    assert code == 0
    assert out == f"endpoint '{ENDPOINT}' is InService on config '{NEW_CONFIG}'\n"
    assert clock.sleeps == [5]
    assert len(err.splitlines()) == 2 and "Updating" in err and "error" not in err
    assert clients["regions"] == ["us-east-1"]


@pytest.mark.parametrize(
    ("responses", "fragment"),
    [
        (
            [described("RollingBack"), described("InService", OLD_CONFIG)],
            f"rolled back to '{OLD_CONFIG}'",
        ),
        ([described("Failed", reason="image not found")], "Failed: image not found"),
        ([described("Updating")] * 3, "timed out after 60s"),
        ([NOT_FOUND], f"endpoint '{ENDPOINT}' not found"),
        (
            [aws_error("AccessDeniedException", "User is not\nauthorized")],
            "error: DescribeEndpoint failed: AccessDeniedException: User is not authorized",
        ),
    ],
)
def test_cli_watch_failures_exit_1_with_one_error_line(
    clients: dict[str, Any], capsys: pytest.CaptureFixture[str], responses: list[Any], fragment: str
) -> None:
    clients["sagemaker"], _ = stubbed_sagemaker(*responses)
    clock = FakeClock()

    code, out, err = run_main(capsys, *WATCH, "--timeout", "60", sleep=clock.sleep, clock=clock)

    assert (code, out) == (1, "")
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and fragment in errors[0], err
    assert err.splitlines()[-1] == errors[0] and "Traceback" not in err


@pytest.fixture
def payload_file(tmp_path: Path) -> Path:
    path = tmp_path / "payload.json"
    path.write_bytes(PAYLOAD)
    return path


def smoke_argv(payload: Path, *extra: str) -> list[str]:
    return ["smoke", "--endpoint", ENDPOINT, "--payload", str(payload), *extra]


def test_cli_smoke_success(
    clients: dict[str, Any], capsys: pytest.CaptureFixture[str], payload_file: Path
) -> None:
    clients["sagemaker-runtime"], stub = stubbed_runtime(*[GOOD] * 3)
    argv = smoke_argv(payload_file, "--count", "3", "--max-p95-ms", "100")

    code, out, err = run_main(capsys, *argv, timer=scripted_timer([4.0, 8.0, 6.0]))

    stub.assert_no_pending_responses()
    assert (code, err) == (0, "")
    assert (
        out
        == f"smoke ok: endpoint '{ENDPOINT}': 3 invocations, p50 6.0 ms, p95 8.0 ms, max 8.0 ms\n"
    )


@pytest.mark.parametrize(
    ("script", "fragment"),
    [
        (
            ([GOOD, MODEL_ERROR], [5.0, 5.0]),
            "invocation 2/3 of endpoint 'churn' failed: ModelError",
        ),
        (([GOOD] * 3, [5.0, 300.0, 300.0]), "p95 latency 300.0 ms exceeds budget 100 ms"),
    ],
)
def test_cli_smoke_failures_exit_1_with_one_error_line(
    clients: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    payload_file: Path,
    script: tuple[list[Any], list[float]],
    fragment: str,
) -> None:
    answers, latencies = script
    clients["sagemaker-runtime"], _ = stubbed_runtime(*answers)
    argv = smoke_argv(payload_file, "--count", "3", "--max-p95-ms", "100")

    code, out, err = run_main(capsys, *argv, timer=scripted_timer(latencies))

    assert (code, out) == (1, "")
    assert_one_error_line(err, fragment)


class Unreachable:
    """A client whose every call fails the way botocore fails without credentials or network."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def __getattr__(self, name: str) -> Callable[..., Any]:
        def fail(*args: Any, **kwargs: Any) -> Any:
            raise self.error

        return fail


@pytest.mark.parametrize(
    "error",
    [
        NoCredentialsError(),
        EndpointConnectionError(endpoint_url="https://api.sagemaker.eu-west-1.amazonaws.com/"),
    ],
    ids=["no-credentials", "no-connection"],
)
@pytest.mark.parametrize("command", ["latest-approved", "watch", "smoke"])
def test_cli_botocore_errors_are_one_line(
    clients: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    payload_file: Path,
    error: Exception,
    command: str,
) -> None:
    clients["sagemaker"] = clients["sagemaker-runtime"] = Unreachable(error)
    argv = {
        "latest-approved": ["latest-approved", "--group", "churn"],
        "watch": list(WATCH),
        "smoke": smoke_argv(payload_file),
    }[command]

    code, out, err = run_main(capsys, *argv, sleep=pytest.fail)

    assert (code, out) == (1, "")
    assert_one_error_line(err, str(error))


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["deploy"],
        ["latest-approved"],
        ["watch", "--endpoint", ENDPOINT],
        [*WATCH, "--interval", "0"],
        [*WATCH, "--timeout", "soon"],
        ["smoke", "--endpoint", ENDPOINT, "--payload", "/nonexistent/payload.json"],
        ["smoke", "--endpoint", ENDPOINT, "--payload", __file__, "--count", "0"],
        ["smoke", "--endpoint", ENDPOINT, "--payload", __file__, "--max-p95-ms", "-1"],
    ],
)
def test_cli_usage_errors_exit_2(
    clients: dict[str, Any], capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    code, out, err = run_main(capsys, *argv)

    assert (code, out) == (2, "")
    assert "error:" in err and "Traceback" not in err
    assert clients["regions"] == []  # no client was even created


def test_clients_honour_region_and_endpoint_url_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plain boto3 clients: --region wins over the environment; AWS_ENDPOINT_URL_* applies."""
    from mlops_platform.ops.aws import make_client

    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", "http://localhost:4566")

    assert make_client("sagemaker").meta.region_name == REGION
    assert make_client("sagemaker", "us-west-2").meta.region_name == "us-west-2"
    assert make_client("sagemaker").meta.endpoint_url == "http://localhost:4566"
    assert make_client("sagemaker-runtime").meta.endpoint_url.endswith(f"{REGION}.amazonaws.com")
