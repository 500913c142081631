"""The validation gate: may a candidate model be registered, given the group's champion?

The champion is the newest Approved model package of the group; its metrics travel with it as
``CustomerMetadataProperties`` (``metric.<name>``, written by :mod:`ops.register`). The decision
is the pure function :func:`decide`; :func:`champion` reads the registry.

A candidate passes when it is better than the champion by the margins (``min_improvement`` in
the metric's own units, ``min_relative_improvement`` as a fraction of the champion's value), or
when the group has no champion yet; and, either way, when it is not beyond the hard ``floor``
(at least ``floor`` for ``max`` metrics, at most ``floor`` for ``min`` metrics).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_platform.ops.models import approved_summaries, newest_package

DIRECTIONS = ("max", "min")
METRIC_PREFIX = "metric."
# What SageMaker accepts in a CustomerMetadataProperties key, less the prefix.
METRIC_NAME = re.compile(r"^[A-Za-z0-9_.:/=+@-]{1,100}$")
# Differences are rounded so that 0.95 - 0.94 counts as 0.01, not 0.010000000000000009.
PRECISION = 12


class MetricsError(ValueError):
    """A metrics file that cannot be read, or lacks the metric asked for (usage: exit 2)."""


def read_metrics(path: Path) -> dict[str, float]:
    """The numeric metrics of a ``metrics.json`` (a flat JSON object of numbers).

    Non-numeric entries (strings, lists, booleans, nested objects) are not metrics and are left
    out; a file that is missing, not JSON or not an object is a :class:`MetricsError`.
    """
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise MetricsError(f"cannot read metrics file {str(path)!r}: {error.strerror}") from None
    except ValueError as error:
        raise MetricsError(f"metrics file {str(path)!r} is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise MetricsError(f"metrics file {str(path)!r}: expected a JSON object of numbers")
    metrics: dict[str, float] = {}
    for name, value in document.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if not math.isfinite(value):
            raise MetricsError(f"metrics file {str(path)!r}: {name} is {value!r}, not finite")
        if not METRIC_NAME.match(name):
            raise MetricsError(
                f"metrics file {str(path)!r}: metric name {name!r} may hold only letters, "
                "digits and _.:/=+@- (at most 100 characters)"
            )
        metrics[name] = float(value)
    return metrics


def metric_of(metrics: Mapping[str, float], name: str, source: str) -> float:
    """``metrics[name]``, or a :class:`MetricsError` naming the metrics that exist."""
    if name not in metrics:
        known = ", ".join(sorted(metrics)) or "none"
        raise MetricsError(f"metric {name!r} is not in {source} (its metrics: {known})")
    return metrics[name]


@dataclass(frozen=True)
class Champion:
    """The newest Approved package of a group and the metrics recorded on it."""

    arn: str
    metrics: dict[str, float]

    @property
    def label(self) -> str:
        """``model-package/<group>/<version>``: short enough for a one-line reason."""
        return self.arn.split(":", 5)[-1]


def metrics_from_properties(properties: Mapping[str, str]) -> dict[str, float]:
    """The ``metric.<name>`` entries of CustomerMetadataProperties, as numbers."""
    metrics: dict[str, float] = {}
    for key, value in properties.items():
        if key.startswith(METRIC_PREFIX):
            try:
                metrics[key.removeprefix(METRIC_PREFIX)] = float(value)
            except ValueError:
                continue  # not written by us: not a metric
    return metrics


def champion(client: Any, group: str) -> Champion | None:
    """The group's champion (newest Approved package) with its metrics; None when it has none."""
    arn = newest_package(approved_summaries(client, group))
    if arn is None:
        return None
    described = client.describe_model_package(ModelPackageName=arn)
    return Champion(arn, metrics_from_properties(described.get("CustomerMetadataProperties", {})))


@dataclass(frozen=True)
class GateResult:
    """How the gate decided."""

    ok: bool
    """True when the candidate may be registered."""
    message: str
    """One line: both values and the margin that decided."""


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def decide(
    *,
    metric: str,
    direction: str,
    candidate: float,
    champion: Champion | None,
    min_improvement: float = 0.0,
    min_relative_improvement: float = 0.0,
    floor: float | None = None,
) -> GateResult:
    """The gate's verdict for one candidate value against the champion (None: no champion).

    ``direction`` is ``max`` (higher is better) or ``min``. Improvement is measured in the good
    direction; a candidate equal to the champion is not better. The relative improvement is the
    improvement over ``|champion|``; against a champion of exactly 0 only the absolute margin
    applies.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction: expected max or min, got {direction!r}")
    if min_improvement < 0 or min_relative_improvement < 0:
        raise ValueError("improvement margins must be 0 or more")
    better = "higher" if direction == "max" else "lower"
    if floor is not None:
        beyond = candidate < floor if direction == "max" else candidate > floor
        if beyond:
            bound = "at least" if direction == "max" else "at most"
            return GateResult(
                False,
                f"candidate {metric} {_fmt(candidate)} is beyond the hard floor: it must be "
                f"{bound} {_fmt(floor)}",
            )
    if champion is None:
        return GateResult(
            True, f"no approved champion yet: candidate {metric} {_fmt(candidate)} may register"
        )
    if metric not in champion.metrics:
        known = ", ".join(sorted(champion.metrics)) or "none"
        return GateResult(
            False,
            f"champion {champion.label} has no recorded {metric} (its metrics: {known}); "
            f"cannot compare candidate {_fmt(candidate)}",
        )
    reference = champion.metrics[metric]
    sign = 1.0 if direction == "max" else -1.0
    improvement = round(sign * (candidate - reference), PRECISION)
    relative = round(improvement / abs(reference), PRECISION) if reference else None
    both = f"candidate {metric} {_fmt(candidate)} vs champion {_fmt(reference)} ({champion.label})"
    if improvement <= 0:
        return GateResult(False, f"{both}: not better ({better} is better)")
    if improvement < min_improvement:
        return GateResult(
            False,
            f"{both}: improvement {_fmt(improvement)} is below the minimum {_fmt(min_improvement)}",
        )
    if relative is not None and relative < min_relative_improvement:
        return GateResult(
            False,
            f"{both}: relative improvement {_fmt(relative)} is below the minimum "
            f"{_fmt(min_relative_improvement)}",
        )
    return GateResult(True, f"{both}: better by {_fmt(improvement)}")
