"""``python -m ops``: release steps for CI, one subcommand each.

```
python -m ops latest-approved --group NAME [--region R]
python -m ops watch --endpoint NAME --expected-config CONFIG [--timeout S] [--interval S]
                    [--region R]
python -m ops smoke --endpoint NAME --payload FILE [--content-type T] [--count N]
                    [--max-p95-ms N] [--region R]
```

Exit status: 0 = success; 1 = the check failed or AWS said no (one ``error: ...`` line on stderr,
never a traceback); 2 = usage error. Results go to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from mlops_platform.ops.aws import describe_error, make_client
from mlops_platform.ops.models import latest_approved_package
from mlops_platform.ops.smoke import smoke_test
from mlops_platform.ops.watch import watch_endpoint

DEFAULT_TIMEOUT_S = 3600.0
DEFAULT_INTERVAL_S = 30.0
DEFAULT_COUNT = 20


def _positive_float(text: str) -> float:
    value = _number(text, float)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text!r}")
    return value


def _non_negative_float(text: str) -> float:
    value = _number(text, float)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    value = _number(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value


def _number(text: str, kind: type[int] | type[float]) -> Any:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def _payload(text: str) -> bytes:
    try:
        return Path(text).read_bytes()
    except OSError as error:
        raise argparse.ArgumentTypeError(f"cannot read {text!r}: {error.strerror}") from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for all subcommands."""
    parser = argparse.ArgumentParser(
        prog="python -m ops", description="Release tooling for SageMaker endpoints."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--region", help="AWS region (default: the AWS environment's)")
        return sub

    latest = command(
        "latest-approved", "Print the ARN of the newest Approved model package of a group."
    )
    latest.add_argument("--group", required=True, help="model package group name")

    watch = command(
        "watch", "Wait for an endpoint to be InService on the expected endpoint config."
    )
    watch.add_argument("--endpoint", required=True, help="endpoint name")
    watch.add_argument(
        "--expected-config", required=True, help="endpoint config name the deployment rolled out"
    )
    watch.add_argument(
        "--timeout",
        type=_non_negative_float,
        default=DEFAULT_TIMEOUT_S,
        help=f"seconds before giving up (default {DEFAULT_TIMEOUT_S:g})",
    )
    watch.add_argument(
        "--interval",
        type=_positive_float,
        default=DEFAULT_INTERVAL_S,
        help=f"seconds between polls (default {DEFAULT_INTERVAL_S:g})",
    )

    smoke = command("smoke", "Invoke an endpoint N times; fail on any error or slow p95.")
    smoke.add_argument("--endpoint", required=True, help="endpoint name")
    smoke.add_argument(
        "--payload", required=True, type=_payload, help="file whose bytes are the request body"
    )
    smoke.add_argument("--content-type", default="application/json", help="request Content-Type")
    smoke.add_argument(
        "--count",
        type=_positive_int,
        default=DEFAULT_COUNT,
        help=f"number of invocations (default {DEFAULT_COUNT})",
    )
    smoke.add_argument(
        "--max-p95-ms", type=_positive_float, help="fail when p95 latency exceeds this (ms)"
    )
    return parser


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run(
    args: argparse.Namespace,
    *,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
    timer: Callable[[], float],
) -> int:
    """Run a parsed command; AWS errors propagate to :func:`main`."""
    if args.command == "latest-approved":
        arn = latest_approved_package(args.group, client=make_client("sagemaker", args.region))
        if arn is None:
            _stderr(f"error: no approved model package in group '{args.group}'")
            return 1
        print(arn)
        return 0
    if args.command == "watch":
        watched = watch_endpoint(
            make_client("sagemaker", args.region),
            args.endpoint,
            args.expected_config,
            timeout=args.timeout,
            interval=args.interval,
            sleep=sleep,
            clock=clock,
            progress=_stderr,
        )
        return _report(watched.ok, watched.message)
    smoked = smoke_test(
        make_client("sagemaker-runtime", args.region),
        args.endpoint,
        args.payload,
        content_type=args.content_type,
        count=args.count,
        max_p95_ms=args.max_p95_ms,
        clock=timer,
    )
    return _report(smoked.ok, smoked.message)


def _report(ok: bool, message: str) -> int:
    """Success on stdout (exit 0); a failure as one ``error:`` line on stderr (exit 1)."""
    if not ok:
        _stderr(f"error: {message}")
        return 1
    print(message)
    return 0


def main(
    argv: Sequence[str] | None = None,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    timer: Callable[[], float] = time.perf_counter,
) -> int:
    """Parse ``argv`` and run the command; returns the exit status.

    ``sleep``/``clock`` drive ``watch`` and ``timer`` times ``smoke``; tests inject fakes.
    """
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # argparse: 2 on usage errors, 0 for --help
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        return run(args, sleep=sleep, clock=clock, timer=timer)
    except (ClientError, BotoCoreError) as error:
        _stderr(f"error: {describe_error(error)}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
