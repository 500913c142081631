"""``python -m ops``: release steps for CI, one subcommand each.

```
python -m ops latest-approved (--group NAME | --model M --outputs FILE) [--region R]
python -m ops watch (--endpoint NAME --expected-config CONFIG | --model M --outputs FILE)
                    [--timeout S] [--interval S] [--region R]
python -m ops smoke (--endpoint NAME | --model M --outputs FILE) --payload FILE [--variant V]
                    [--content-type T] [--count N] [--max-p95-ms N] [--region R]
python -m ops check-tag --tag MODEL/vX.Y.Z --stack-file Pulumi.<stack>.yaml [--stack-file ...]
python -m ops pin --outputs FILE --stack-file Pulumi.<stack>.yaml [--model M] [--region R]
python -m ops models --outputs FILE
python -m ops gate --group G --metrics metrics.json --metric NAME --direction max|min
                   [--min-improvement X] [--min-relative-improvement R] [--floor V] [--region R]
python -m ops register --group G --model-data s3://... --image URI --metrics metrics.json
                       [--approve] [--code-revision SHA] [--data-revision REV] [--repository URL]
                       [--generated-by NAME] [--mlflow-run-id ID] [--description TEXT] [--region R]
python -m ops fetch --workdir DIR [--repo URL] [--revision REV] [--revision-file FILE]
                    [--remote-url s3://BUCKET/PREFIX]
python -m ops validate-data --schema data/schema.yaml --data data/train.csv
python -m ops train [--workdir DIR] [--run-id-file FILE]
python -m ops evaluate --metrics metrics.json --model-dir model --require M1,M2 --out model.tar.gz
                       [--metrics-out FILE]
python -m ops submit --model M --revision SHA [--namespace pipelines] [--wait] [--timeout S]
                     [--server URL --token-file F --ca-file F]
```

``--outputs FILE`` is ``pulumi stack output --json`` saved to a file: with ``--model`` the
command takes the model's endpoint, deployed config, variants or package group from the stack's
``servingModels`` output. ``check-tag``, ``pin`` and ``models`` are the per-model release's steps
(:mod:`ops.release`): ``pin`` prints ``<config path><TAB><value>`` lines for
``pulumi config set --path``.

The last four are the training pipeline's first steps (:mod:`ops.pipeline`); they need the
training environment (git, DVC, pandera).

Exit status: 0 = success; 1 = the check failed or AWS said no (one ``error: ...`` line on stderr,
never a traceback); 2 = usage error (for ``gate`` and ``register`` also a metrics file that
cannot be read or lacks the metric; for the release steps a bad tag, a model the stack file does
not serve or the outputs do not list, unreadable outputs). Results go to stdout, progress to
stderr.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from mlops_platform.ops.aws import describe_error, make_client
from mlops_platform.ops.gate import (
    DIRECTIONS,
    MetricsError,
    champion,
    decide,
    metric_of,
    read_metrics,
)
from mlops_platform.ops.models import latest_approved_package
from mlops_platform.ops.pipeline import StepError
from mlops_platform.ops.register import IMAGE, MODEL_DATA, Provenance, register_package
from mlops_platform.ops.release import (
    NoApprovedPackage,
    ReleaseError,
    output_names,
    output_string,
    parse_tag,
    plan_pins,
    read_outputs,
    read_stack_serving,
    require_package_group,
    serving_models,
)
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


def _finite_float(text: str) -> float:
    value = _number(text, float)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def _non_negative_finite(text: str) -> float:
    value = _finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text!r}")
    return value


def _matching(pattern: Any, what: str) -> Callable[[str], str]:
    def check(text: str) -> str:
        if not pattern.match(text):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return text

    return check


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
    latest.add_argument("--group", help="model package group name")
    _by_model(latest, "package group")

    watch = command(
        "watch", "Wait for an endpoint to be InService on the expected endpoint config."
    )
    watch.add_argument("--endpoint", help="endpoint name")
    watch.add_argument("--expected-config", help="endpoint config name the deployment rolled out")
    _by_model(watch, "endpoint and deployed config")
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
    smoke.add_argument("--endpoint", help="endpoint name")
    _by_model(smoke, "endpoint (each production variant of an A/B model in turn)")
    smoke.add_argument(
        "--variant", help="invoke only this production variant (InvokeEndpoint TargetVariant)"
    )
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

    gate = command(
        "gate",
        "Exit 0 when a candidate beats the group's newest Approved package by the margins "
        "(or the group has none), 1 when it does not.",
    )
    gate.add_argument("--group", required=True, help="model package group name")
    gate.add_argument("--metrics", required=True, type=Path, help="the candidate's metrics.json")
    gate.add_argument("--metric", required=True, help="the metric that decides")
    gate.add_argument("--direction", required=True, choices=DIRECTIONS, help="max or min is better")
    gate.add_argument(
        "--min-improvement",
        type=_non_negative_finite,
        default=0.0,
        help="smallest improvement over the champion, in the metric's units (default 0)",
    )
    gate.add_argument(
        "--min-relative-improvement",
        type=_non_negative_finite,
        default=0.0,
        help="smallest improvement as a fraction of the champion's value (default 0)",
    )
    gate.add_argument(
        "--floor",
        type=_finite_float,
        help="hard bound: at least this for max metrics, at most this for min metrics",
    )

    register = command(
        "register", "Register a model package (PendingManualApproval) and print its ARN."
    )
    register.add_argument("--group", required=True, help="model package group name")
    register.add_argument(
        "--model-data",
        required=True,
        type=_matching(MODEL_DATA, "s3://<bucket>/<key> of the model.tar.gz"),
        help="S3 URI of the model.tar.gz",
    )
    register.add_argument(
        "--image",
        required=True,
        type=_matching(IMAGE, "an image URI such as <registry>/<repository>:<tag>"),
        help="inference image URI",
    )
    register.add_argument("--metrics", required=True, type=Path, help="metrics.json to attach")
    register.add_argument(
        "--approve", action="store_true", help="register as Approved (only where allowed)"
    )
    register.add_argument("--code-revision", help="git commit of the model's code")
    register.add_argument("--data-revision", help="git revision naming the data (.dvc files)")
    register.add_argument("--repository", help="the model repository's URL")
    register.add_argument("--generated-by", help="what produced the model (workflow name)")
    register.add_argument("--mlflow-run-id", help="the MLflow run that logged the model")
    register.add_argument("--description", help="package description")
    _release_commands(commands, command)
    _pipeline_commands(commands)
    return parser


def _by_model(sub: argparse.ArgumentParser, what: str) -> None:
    sub.add_argument("--model", help=f"the served model whose {what} the outputs name")
    sub.add_argument(
        "--outputs", type=Path, help="`pulumi stack output --json` of the stack, saved to a file"
    )


def _release_commands(commands: Any, command: Callable[[str, str], Any]) -> None:
    """The per-model release's steps (:mod:`ops.release`)."""
    check = commands.add_parser(
        "check-tag",
        help="Check a <model>/vX.Y.Z release tag and that every stack file serves the model.",
    )
    check.add_argument("--tag", required=True, help="the tag, e.g. churn/v1.2.3")
    check.add_argument(
        "--stack-file",
        dest="stack_files",
        type=Path,
        action="append",
        required=True,
        help="Pulumi.<stack>.yaml of a stack the release deploys (repeat for each)",
    )

    pin = command(
        "pin",
        "Print the `pulumi config set --path` assignments of a release: the released model on "
        "its newest Approved package, every other latest-approved model on the one it serves.",
    )
    pin.add_argument(
        "--outputs",
        required=True,
        type=Path,
        help="`pulumi stack output --json` of the stack, read in the job that runs pulumi up",
    )
    pin.add_argument(
        "--stack-file", required=True, type=Path, help="the stack's Pulumi.<stack>.yaml"
    )
    pin.add_argument(
        "--model", help="the model released (omit for a platform release: every model is held)"
    )

    models = commands.add_parser(
        "models", help="Print the models of the stack outputs' servingModels, one per line."
    )
    models.add_argument(
        "--outputs", required=True, type=Path, help="`pulumi stack output --json`, saved to a file"
    )


def _pipeline_commands(commands: Any) -> None:
    """The pipeline's first steps (they take no --region: no AWS client of ours)."""
    fetch = commands.add_parser(
        "fetch", help="Check out a git revision and dvc pull its data (pipeline step)."
    )
    fetch.add_argument("--workdir", type=Path, default=Path.cwd(), help="the model repository")
    fetch.add_argument("--repo", help="clone this repository into --workdir first")
    fetch.add_argument("--revision", help="branch, tag or commit to check out")
    fetch.add_argument("--revision-file", type=Path, help="write the commit SHA here")
    fetch.add_argument(
        "--remote-url",
        help="pull from this DVC remote (the stack's) instead of the committed default",
    )

    validate = commands.add_parser(
        "validate-data", help="Check a CSV data set against the team's schema (pipeline step)."
    )
    validate.add_argument("--schema", required=True, type=Path, help="the schema YAML")
    validate.add_argument("--data", required=True, type=Path, help="the CSV data set")

    train = commands.add_parser("train", help="The team's dvc repro (pipeline step).")
    train.add_argument("--workdir", type=Path, default=Path.cwd(), help="the model repository")
    train.add_argument(
        "--run-id-file",
        type=Path,
        help="the training code writes its MLflow run id here ($MLOPS_MLFLOW_RUN_ID_FILE)",
    )

    evaluate = commands.add_parser(
        "evaluate", help="Check the metrics and pack the model for SageMaker (pipeline step)."
    )
    evaluate.add_argument("--metrics", required=True, type=Path, help="metrics.json")
    evaluate.add_argument("--model-dir", required=True, type=Path, help="the model directory")
    evaluate.add_argument(
        "--require",
        required=True,
        type=lambda text: [name for name in text.split(",") if name],
        help="comma-separated metrics that must be present",
    )
    evaluate.add_argument("--out", required=True, type=Path, help="the model.tar.gz to write")
    evaluate.add_argument("--metrics-out", type=Path, help="copy the metrics here")

    submit = commands.add_parser(
        "submit", help="Run a model's training pipeline from its WorkflowTemplate (CI)."
    )
    submit.add_argument("--model", required=True, help="the model (its template: <model>-training)")
    submit.add_argument("--revision", required=True, help="git revision to train")
    submit.add_argument("--namespace", default="pipelines", help="the pipelines namespace")
    submit.add_argument("--wait", action="store_true", help="wait for the run; fail if it fails")
    submit.add_argument(
        "--timeout",
        type=_positive_float,
        default=DEFAULT_TIMEOUT_S * 6,
        help="seconds --wait waits (default 21600)",
    )
    submit.add_argument("--interval", type=_positive_float, default=DEFAULT_INTERVAL_S)
    submit.add_argument("--server", help="Kubernetes API URL (default: the pod's cluster)")
    submit.add_argument("--token-file", type=Path, help="bearer token file (default: the pod's)")
    submit.add_argument("--ca-file", type=Path, help="CA bundle (default: the pod's)")


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
    _targets(args)
    if args.command in RELEASE_STEPS:
        return _release_step(args)
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
    if args.command in PIPELINE_STEPS:
        return _step(args)
    if args.command == "submit":
        return _submit(args, sleep=sleep, clock=clock)
    if args.command == "gate":
        candidate = metric_of(read_metrics(args.metrics), args.metric, str(args.metrics))
        verdict = decide(
            metric=args.metric,
            direction=args.direction,
            candidate=candidate,
            champion=champion(make_client("sagemaker", args.region), args.group),
            min_improvement=args.min_improvement,
            min_relative_improvement=args.min_relative_improvement,
            floor=args.floor,
        )
        return _report(verdict.ok, verdict.message)
    if args.command == "register":
        arn = register_package(
            make_client("sagemaker", args.region),
            group=args.group,
            model_data=args.model_data,
            image=args.image,
            metrics=read_metrics(args.metrics),
            approve=args.approve,
            provenance=Provenance(
                code_revision=args.code_revision,
                data_revision=args.data_revision,
                repository=args.repository,
                generated_by=args.generated_by,
                mlflow_run_id=args.mlflow_run_id,
            ),
            description=args.description,
        )
        print(arn)
        return 0
    runtime = make_client("sagemaker-runtime", args.region)
    lines = []
    for variant in args.variants:
        smoked = smoke_test(
            runtime,
            args.endpoint,
            args.payload,
            content_type=args.content_type,
            count=args.count,
            max_p95_ms=args.max_p95_ms,
            clock=timer,
            variant=variant,
        )
        if not smoked.ok:
            return _report(False, smoked.message)
        lines.append(smoked.message)
    return _report(True, "\n".join(lines))


# What each endpoint command needs, given directly or read from the outputs with --model.
_TARGETS = {
    "latest-approved": ("group",),
    "watch": ("endpoint", "expected_config"),
    "smoke": ("endpoint",),
}


def _targets(args: argparse.Namespace) -> None:
    """Fill in the endpoint, expected config or group of ``--model M --outputs FILE`` (and the
    variants ``smoke`` invokes); a :class:`ReleaseError` when the two ways are mixed or the
    outputs do not list the model."""
    needs = _TARGETS.get(args.command)
    if needs is None:
        return
    flags = " and ".join(f"--{name.replace('_', '-')}" for name in needs)
    given = [name for name in needs if getattr(args, name) is not None]
    by_model = args.model is not None or args.outputs is not None
    if by_model and given:
        raise ReleaseError(f"{args.command}: give {flags}, or --model with --outputs, not both")
    if not by_model and len(given) < len(needs):
        raise ReleaseError(f"{args.command}: give {flags}, or --model with --outputs")
    if by_model and (args.model is None or args.outputs is None):
        raise ReleaseError(f"{args.command}: --model and --outputs go together")
    if args.command == "smoke":
        args.variants = [args.variant]
    if not by_model:
        return
    outputs = read_outputs(args.outputs)
    if args.command == "latest-approved":
        args.group = require_package_group(outputs, args.model)
        return
    args.endpoint = output_string(outputs, args.model, "endpointName")
    if args.command == "watch":
        args.expected_config = output_string(outputs, args.model, "endpointConfigName")
        return
    variants = output_names(outputs, args.model, "variantNames")
    if args.variant is not None and variants and args.variant not in variants:
        raise ReleaseError(
            f"--variant {args.variant!r}: model {args.model!r} has the production variants "
            f"{', '.join(variants)}"
        )
    if args.variant is None and len(variants) > 1:  # A/B: every variant answers on its own
        args.variants = variants


RELEASE_STEPS = ("check-tag", "pin", "models")


def _release_step(args: argparse.Namespace) -> int:
    if args.command == "check-tag":
        model, version = parse_tag(args.tag)
        for path in args.stack_files:
            read_stack_serving(path).require(model)
        print(f"model={model}")
        print(f"version={version}")
        return 0
    if args.command == "models":
        models = serving_models(read_outputs(args.outputs))
        if models is None:
            raise ReleaseError(f"--outputs {args.outputs}: the stack outputs have no servingModels")
        for model in models:
            print(model)
        return 0
    stack = read_stack_serving(args.stack_file)
    outputs = read_outputs(args.outputs)
    clients: list[Any] = []

    def newest(group: str) -> str | None:
        if not clients:  # a client only when a look-up is needed
            clients.append(make_client("sagemaker", args.region))
        return latest_approved_package(group, client=clients[0])

    plan = plan_pins(stack, outputs, release=args.model, newest=newest)
    for note in plan.notes:
        _stderr(f"{stack.stack}: {note}")
    for key, value in plan.assignments():
        print(f"{key}\t{value}")
    return 0


PIPELINE_STEPS = ("fetch", "validate-data", "train", "evaluate")


def _step(args: argparse.Namespace) -> int:
    """The pipeline's first steps; a :class:`StepError` becomes one line and exit 1."""
    from mlops_platform.ops import pipeline

    try:
        if args.command == "fetch":
            sha = pipeline.fetch(
                args.workdir,
                repository=args.repo,
                revision=args.revision,
                remote_url=args.remote_url,
            )
            if args.revision_file is not None:
                args.revision_file.parent.mkdir(parents=True, exist_ok=True)
                args.revision_file.write_text(sha, encoding="utf-8")
            print(f"fetched {sha}")
        elif args.command == "validate-data":
            print(pipeline.validate_data(args.schema, args.data))
        elif args.command == "train":
            run_id = pipeline.train(args.workdir, run_id_file=args.run_id_file)
            print("trained: dvc repro finished" + (f" (MLflow run {run_id})" if run_id else ""))
        else:
            metrics = pipeline.evaluate(
                metrics_path=args.metrics,
                model_dir=args.model_dir,
                require=args.require,
                out=args.out,
                metrics_out=args.metrics_out,
            )
            print(f"evaluated: {', '.join(f'{k}={v:g}' for k, v in sorted(metrics.items()))}")
    except StepError as error:
        _stderr(f"error: {error}")
        return 1
    return 0


def _submit(
    args: argparse.Namespace, *, sleep: Callable[[float], None], clock: Callable[[], float]
) -> int:
    from mlops_platform.ops import submit

    try:
        cluster = submit.Cluster.in_cluster(
            server=args.server, token_file=args.token_file, ca_file=args.ca_file
        )
        template = f"{args.model}-training"
        name = submit.submit(
            cluster,
            namespace=args.namespace,
            template=template,
            revision=args.revision,
            model=args.model,
        )
        _stderr(f"submitted workflow {name} from {template} at {args.revision}")
        if not args.wait:
            print(name)
            return 0
        ok, line = submit.wait(
            cluster,
            namespace=args.namespace,
            name=name,
            timeout=args.timeout,
            interval=args.interval,
            sleep=sleep,
            clock=clock,
        )
    except submit.SubmitError as error:
        _stderr(f"error: {error}")
        return 1
    return _report(ok, line)


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
    except (MetricsError, ReleaseError) as error:  # input unfit for the command
        _stderr(f"error: {error}")
        return 2
    except NoApprovedPackage as error:
        _stderr(f"error: {error}")
        return 1
    except (ClientError, BotoCoreError) as error:
        _stderr(f"error: {describe_error(error)}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
