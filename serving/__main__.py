"""Command line: ``python -m serving [serve] [--host HOST] [--port PORT] [--model-dir DIR]``.

SageMaker starts the container as ``docker run IMAGE serve``; the optional ``serve`` argument is
accepted and ignored. The model directory defaults to ``$SM_MODEL_DIR`` or ``/opt/ml/model``.
``SAGEMAKER_MODEL_SERVER_WORKERS`` (default: one per vCPU), ``SAGEMAKER_MODEL_SERVER_TIMEOUT``
(default 60 s) and ``SERVING_MAX_CONCURRENCY`` (default 128 per worker) are read from the
environment; a bad value stops the start with one line naming the variable (exit status 2).
SIGTERM (``docker stop``) and Ctrl-C stop the server cleanly, finishing requests in progress.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

DEFAULT_MODEL_DIR = "/opt/ml/model"
DEFAULT_PORT = 8080

logger = logging.getLogger("serving")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; the ``--model-dir`` default reads ``SM_MODEL_DIR`` now."""
    parser = argparse.ArgumentParser(
        prog="python -m serving",
        description="SageMaker-compatible inference server: GET /ping, POST /invocations.",
        epilog="environment: SAGEMAKER_MODEL_SERVER_WORKERS (default: one worker per vCPU), "
        "SAGEMAKER_MODEL_SERVER_TIMEOUT (seconds, default 60), SERVING_MAX_CONCURRENCY "
        "(requests per worker, default 128).",
    )
    parser.add_argument(
        "command",
        nargs="?",
        choices=["serve"],
        help="accepted and ignored (SageMaker runs the container as 'IMAGE serve')",
    )
    parser.add_argument("--host", default="0.0.0.0", help="address to bind (default: %(default)s)")
    parser.add_argument(
        "--port", type=_port, default=DEFAULT_PORT, help="port to bind (default: %(default)s)"
    )
    parser.add_argument(
        "--model-dir",
        default=os.environ.get("SM_MODEL_DIR") or DEFAULT_MODEL_DIR,
        metavar="DIR",
        help="directory holding model.joblib and metadata.json "
        "(default: $SM_MODEL_DIR or /opt/ml/model; now %(default)s)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server until SIGTERM/SIGINT: 0 on a clean stop, 2 on a bad environment variable,
    1 if the port cannot be bound."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S %z",
    )
    # the server's imports (gunicorn, uvicorn, numpy, scikit-learn) load after --help
    from .options import ConfigError
    from .server import serve, serve_options

    try:
        options = serve_options(
            os.environ, model_dir=args.model_dir, host=args.host, port=args.port
        )
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return serve(options)


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not in 0-65535")
    return port


if __name__ == "__main__":
    sys.exit(main())
