"""The environment variables the model server reads, and how each is parsed.

No dependency beyond the standard library: the platform's components validate a model's
container environment with the same parsing (``ModelEndpointArgs.environment``) without
importing the server (gunicorn, uvicorn).
"""

from __future__ import annotations

from collections.abc import Mapping

WORKERS_ENV = "SAGEMAKER_MODEL_SERVER_WORKERS"
TIMEOUT_ENV = "SAGEMAKER_MODEL_SERVER_TIMEOUT"
MAX_CONCURRENCY_ENV = "SERVING_MAX_CONCURRENCY"

WHOLE_NUMBERS = {
    WORKERS_ENV: "a number of worker processes",
    TIMEOUT_ENV: "a number of seconds",
    MAX_CONCURRENCY_ENV: "a number of requests",
}
"""The variables that hold a whole number of at least 1, and what each counts."""


class ConfigError(ValueError):
    """An environment variable the server cannot start with; the message names it."""

    def __init__(self, name: str, value: str, allowed: str) -> None:
        self.name = name
        self.value = value
        self.allowed = allowed
        super().__init__(f"{name}={value!r}: {allowed}")


def positive_int(environ: Mapping[str, str], name: str, default: int) -> int:
    """The variable ``name`` as a whole number of at least 1; unset or empty: ``default``."""
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        raise ConfigError(
            name, raw, f"must be a whole number of at least 1 ({WHOLE_NUMBERS[name]})"
        )
    return int(raw)


def check_environment(environ: Mapping[str, str]) -> None:
    """Raises :class:`ConfigError` for the first variable the server could not start with."""
    for name in WHOLE_NUMBERS:
        positive_int(environ, name, 1)
