"""What the rules need to know about the stack: its environment and its waivers.

Both the CrossGuard pack and the offline plan read them from the stack's configuration, the
``namespace:key -> string`` map the Pulumi CLI hands a program (and a policy pack, through the
``PULUMI_CONFIG`` environment variable):

    mlops-platform:environment: prod
    mlops-platform:policy:
      waivers:
        ecr-scan-on-push: "Scanning runs in the registry's enhanced scanning; see SEC-123"

One waiver in ``Pulumi.<stack>.yaml`` therefore applies to ``pulumi preview --policy-pack
policy/`` and to ``python -m infra.plan`` alike. ``infra/settings.py`` validates the block with
:func:`parse_waivers` (a bad waiver stops ``pulumi up`` and the plan with exit 2); the pack, which
cannot stop on bad configuration, falls back to no waivers (fail closed).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ENVIRONMENTS = ("dev", "staging", "prod")
DEFAULT_PROJECT = "mlops-platform"
MIN_REASON = 10


class WaiverError(ValueError):
    """A malformed waiver: ``key`` (relative to the policy block), the value, what is allowed."""

    def __init__(self, key: str, value: Any, allowed: str) -> None:
        self.key = key
        self.value = value
        self.allowed = allowed
        super().__init__(f"{key}: got {value!r}; {allowed}")


@dataclass(frozen=True)
class Context:
    """The stack the rules run for. An unknown environment is treated as prod (fail closed)."""

    environment: str = "prod"
    waivers: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_prod(self) -> bool:
        return self.environment not in ("dev", "staging")


def parse_waivers(block: Any, known_rules: frozenset[str] | set[str]) -> dict[str, str]:
    """The ``waivers`` of a policy block: ``{rule-id: written reason}``; raises WaiverError."""
    if block is None:
        return {}
    if not isinstance(block, dict):
        raise WaiverError("", block, "expected a map {waivers: {<rule-id>: <reason>}}")
    unknown = sorted(set(block) - {"waivers"})
    if unknown:
        raise WaiverError(unknown[0], block[unknown[0]], "unknown key; allowed: waivers")
    waivers = block.get("waivers")
    if waivers is None:
        return {}
    if not isinstance(waivers, dict):
        raise WaiverError("waivers", waivers, "expected a map of <rule-id>: <written reason>")
    for rule, reason in waivers.items():
        if rule not in known_rules:
            raise WaiverError(
                f"waivers.{rule}", reason, "unknown rule id; see the rule table in README.md"
            )
        if not isinstance(reason, str) or len(reason.strip()) < MIN_REASON:
            raise WaiverError(
                f"waivers.{rule}",
                reason,
                f"a waiver needs a written reason (at least {MIN_REASON} characters)",
            )
    return {rule: reason.strip() for rule, reason in waivers.items()}


def _value(raw: Any) -> Any:
    """A config value: the CLI passes objects as JSON strings."""
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def from_config(
    config: Mapping[str, str], known_rules: frozenset[str] | set[str], project: str | None = None
) -> Context:
    """The context of a stack from its raw config map; raises WaiverError on a bad waiver."""
    ns = f"{project or DEFAULT_PROJECT}:"
    environment = config.get(ns + "environment")
    waivers = parse_waivers(_value(config.get(ns + "policy")), known_rules)
    return Context(
        environment=environment if environment in ENVIRONMENTS else "prod",
        waivers=waivers,
    )
