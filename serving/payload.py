"""Pure request and response logic of the inference server: no HTTP, no model.

A request body plus its ``Content-Type`` becomes a 2-D float array of instances
(:func:`decode_instances`), or a :class:`PayloadError` carrying the HTTP status and one clear
sentence for the client. Model output becomes JSON-native values (:func:`predictions_to_json`)
and the response body (:func:`encode_json`).

Each format has two paths. The fast one hands the whole body to a C parser (orjson for JSON,
NumPy's ``loadtxt`` for CSV) and accepts the result only when it is exactly what the strict path
would produce: a 2-D array of finite numbers of the right width, with no boolean or null in the
JSON. Anything else (a malformed, unusual or invalid body) is parsed again by the strict path,
which is the reference for what is accepted and words every error.
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

import numpy as np
import orjson

JSON = "application/json"
CSV = "text/csv"
SUPPORTED_CONTENT_TYPES = (JSON, CSV)
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
"""SageMaker real-time inference rejects request bodies over 6 MB; so do we."""
_CHARSETS = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})


class PayloadError(ValueError):
    """A request the client must fix; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status

    @property
    def message(self) -> str:
        """The sentence sent to the client as ``{"error": message}``."""
        return str(self.args[0])


def parse_content_type(header: str | None) -> tuple[str, dict[str, str]]:
    """Split a ``Content-Type`` header into a lowercase media type and its parameters.

    ``"Text/CSV; charset=UTF-8"`` gives ``("text/csv", {"charset": "UTF-8"})``; a missing or
    blank header gives ``("", {})``.
    """
    if not header:
        return "", {}
    media_type, *raw_params = header.split(";")
    params: dict[str, str] = {}
    for raw in raw_params:
        key, sep, value = raw.partition("=")
        if sep:
            params[key.strip().lower()] = value.strip().strip('"')
    return media_type.strip().lower(), params


def accepts_json(header: str | None) -> bool:
    """Whether an ``Accept`` header allows an ``application/json`` response.

    A missing header, ``*/*``, ``application/*`` and ``application/json`` (with any parameters)
    do, unless their quality is ``q=0``.
    """
    if not header or not header.strip():
        return True
    for media_range in header.split(","):
        media_type, params = parse_content_type(media_range)
        if media_type not in ("*/*", "application/*", JSON):
            continue
        try:
            if float(params.get("q", "1")) > 0:
                return True
        except ValueError:
            continue
    return False


def decode_instances(body: bytes, content_type: str | None, n_features: int | None) -> np.ndarray:
    """Parse a request body into a float64 array of shape ``(n_instances, n_features)``.

    Raises :class:`PayloadError` with status 415 for an unsupported or missing content type or
    charset, and 400 for a body that is not valid UTF-8, malformed, empty, non-numeric,
    non-finite or of the wrong width. ``n_features=None`` only requires equal widths.
    """
    media_type, params = parse_content_type(content_type)
    if media_type not in SUPPORTED_CONTENT_TYPES:
        shown = repr(media_type) if media_type else "missing"
        raise PayloadError(
            f"Content-Type {shown} is not supported; use application/json or text/csv.", 415
        )
    charset = params.get("charset", "utf-8").lower()
    if charset not in _CHARSETS:
        raise PayloadError(f"charset {charset!r} is not supported; send UTF-8.", 415)
    if media_type == JSON:
        fast = _fast_json(body, n_features)  # orjson validates the UTF-8 itself
        if fast is not None:
            return fast
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PayloadError(f"The request body is not valid UTF-8 (byte {exc.start}).") from exc
    if media_type == JSON:
        return _strict_json(text, n_features)
    return parse_csv_instances(text, n_features)


def parse_json_instances(text: str, n_features: int | None) -> np.ndarray:
    """Parse ``{"instances": [[f1, f2, ...], ...]}`` into a 2-D float64 array.

    Other top-level keys are ignored. Booleans, strings, nulls, ``NaN``/``Infinity`` literals and
    numbers too large for a float are rejected.
    """
    fast = _fast_json(text, n_features)
    return fast if fast is not None else _strict_json(text, n_features)


def _strict_json(text: str, n_features: int | None) -> np.ndarray:
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except _NonFiniteLiteral as exc:
        raise PayloadError(f"The JSON body contains {exc}, which is not a finite number.") from exc
    except json.JSONDecodeError as exc:
        raise PayloadError(
            f"The body is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})."
        ) from exc
    except RecursionError as exc:
        raise PayloadError("The JSON body is nested too deeply.") from exc
    if not isinstance(document, dict) or "instances" not in document:
        raise PayloadError('The JSON body must be an object with an "instances" list.')
    instances = document["instances"]
    if not isinstance(instances, list):
        raise PayloadError('"instances" must be a list of instances, each a list of numbers.')
    rows: list[list[float]] = []
    labels: list[str] = []
    for index, instance in enumerate(instances):
        label = f"Instance {index}"
        if not isinstance(instance, list):
            raise PayloadError(f"{label} must be a list of numbers, got {_json_type(instance)}.")
        rows.append([_json_number(value, label, column) for column, value in enumerate(instance)])
        labels.append(label)
    return _to_matrix(rows, labels, n_features)


def parse_csv_instances(text: str, n_features: int | None) -> np.ndarray:
    """Parse CSV rows (one instance per line, comma-separated numbers, no header).

    Blank lines are skipped; fields may be quoted and padded with spaces. Errors name the
    1-based line and column.
    """
    fast = _fast_csv(text, n_features)
    return fast if fast is not None else _strict_csv(text, n_features)


def _strict_csv(text: str, n_features: int | None) -> np.ndarray:
    rows: list[list[float]] = []
    labels: list[str] = []
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        for record in reader:
            if not record or all(not field.strip() for field in record):
                continue
            line = reader.line_num
            rows.append([_csv_number(field, line, col) for col, field in enumerate(record, 1)])
            labels.append(f"Line {line}")
    except csv.Error as exc:
        raise PayloadError(f"The CSV body is malformed at line {reader.line_num}: {exc}.") from exc
    return _to_matrix(rows, labels, n_features)


def encode_json(payload: Any) -> bytes:
    """A response body: compact UTF-8 JSON of JSON-native values (:func:`predictions_to_json`).

    orjson writes it; the standard library takes over for what orjson refuses (integers wider
    than 64 bits).
    """
    try:
        return orjson.dumps(payload)
    except orjson.JSONEncodeError:
        return json.dumps(payload, allow_nan=False, separators=(",", ":")).encode("utf-8")


def predictions_to_json(predictions: Any) -> list[Any]:
    """Model output as a list of JSON-native values (``int``, ``float``, ``str``, ``bool``, lists).

    NumPy arrays and scalars are converted; non-finite floats become ``None`` because JSON
    cannot represent them. A scalar prediction is wrapped in a one-element list.
    """
    converted = _native(predictions)
    return converted if isinstance(converted, list) else [converted]


_NOT_NUMBERS = (b"true", b"false", b"null")
"""JSON literals NumPy would silently turn into numbers (``True`` is 1) or NaN."""
_NOT_NUMBERS_TEXT = tuple(literal.decode() for literal in _NOT_NUMBERS)


def _fast_json(body: bytes | str, n_features: int | None) -> np.ndarray | None:
    """The instances via orjson and one NumPy conversion, or None to use the strict path."""
    literals = _NOT_NUMBERS if isinstance(body, bytes) else _NOT_NUMBERS_TEXT
    if any(literal in body for literal in literals):  # type: ignore[operator]
        return None
    try:
        document = orjson.loads(body)
        instances = document["instances"]
        if type(instances) is not list:
            return None
        matrix = np.array(instances)
    except (orjson.JSONDecodeError, TypeError, KeyError, ValueError, OverflowError):
        return None
    # Strings, objects, ragged or nested rows give another dtype or shape: the strict path
    # words the error.
    if matrix.dtype.kind not in "iuf" or matrix.ndim != 2:
        return None
    return _checked(matrix.astype(np.float64, copy=False), n_features)


def _fast_csv(text: str, n_features: int | None) -> np.ndarray | None:
    """The rows via NumPy's C parser (unquoted, plain numbers), or None to use the strict path."""
    if not text.strip():
        return None
    try:
        matrix = np.loadtxt(
            io.StringIO(text), delimiter=",", dtype=np.float64, ndmin=2, comments=None
        )
    except ValueError:
        return None
    return _checked(matrix, n_features)


def _checked(matrix: np.ndarray, n_features: int | None) -> np.ndarray | None:
    rows, width = matrix.shape
    if not rows or not width or (n_features is not None and width != n_features):
        return None
    if not np.isfinite(matrix).all():
        return None
    return matrix


class _NonFiniteLiteral(ValueError):
    """Raised by the JSON decoder on ``NaN``, ``Infinity`` and ``-Infinity``."""


def _reject_constant(name: str) -> Any:
    raise _NonFiniteLiteral(name)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return "a number"


def _json_number(value: Any, label: str, column: int) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PayloadError(f"{label}, feature {column} must be a number, got {_json_type(value)}.")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise PayloadError(f"{label}, feature {column} is not a finite number.")
    return number


def _csv_number(field: str, line: int, column: int) -> float:
    stripped = field.strip()
    where = f"Line {line}, column {column}"
    if not stripped:
        raise PayloadError(f"{where} is empty; every field must be a number.")
    try:
        if "_" in stripped:
            raise ValueError(stripped)
        number = float(stripped)
    except ValueError as exc:
        raise PayloadError(f"{where}: {_shorten(stripped)!r} is not a number.") from exc
    if not math.isfinite(number):
        raise PayloadError(f"{where}: {_shorten(stripped)!r} is not a finite number.")
    return number


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _to_matrix(rows: list[list[float]], labels: list[str], n_features: int | None) -> np.ndarray:
    if not rows:
        raise PayloadError("The request contains no instances; send at least one.")
    expected = n_features if n_features is not None else len(rows[0])
    for label, row in zip(labels, rows, strict=True):
        if len(row) != expected:
            wanted = "the model expects" if n_features is not None else "the first has"
            raise PayloadError(f"{label} has {len(row)} features; {wanted} {expected}.")
    if expected == 0:
        raise PayloadError("Instances must contain at least one feature.")
    return np.asarray(rows, dtype=np.float64)


def _native(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [_native(item) for item in value.tolist()]
    if isinstance(value, np.generic):
        return _native(value.item())
    if isinstance(value, list | tuple):
        return [_native(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value
