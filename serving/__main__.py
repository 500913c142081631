"""Command line: ``python -m serving [serve] [--host HOST] [--port PORT] [--model-dir DIR]``.

SageMaker starts the container as ``docker run IMAGE serve``; the optional ``serve`` argument is
accepted and ignored. The model directory defaults to ``$SM_MODEL_DIR`` or ``/opt/ml/model``.
SIGTERM (``docker stop``) and Ctrl-C stop the server cleanly.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

DEFAULT_MODEL_DIR = "/opt/ml/model"
DEFAULT_PORT = 8080

logger = logging.getLogger("serving")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; the ``--model-dir`` default reads ``SM_MODEL_DIR`` now."""
    parser = argparse.ArgumentParser(
        prog="python -m serving",
        description="SageMaker-compatible inference server: GET /ping, POST /invocations.",
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
    """Run the server until SIGTERM/SIGINT; 0 on a clean stop, 1 if the port cannot be bound."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
    )
    from .server import make_server  # numpy and scikit-learn load after --help

    try:
        server, _ = make_server(args.model_dir, args.host, args.port)
    except OSError as exc:
        logger.error("cannot listen on %s:%s: %s", args.host, args.port, exc)
        return 1

    def stop(signum: int, _frame: FrameType | None) -> None:
        logger.info("received %s, shutting down", signal.Signals(signum).name)
        # shutdown() waits for serve_forever() to return, so it must not run on this thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    logger.info("listening on http://%s:%d (model dir %s)", args.host, server.port, args.model_dir)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


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
