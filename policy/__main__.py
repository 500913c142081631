"""The CrossGuard policy pack: ``pulumi preview --policy-pack policy/`` (see README, Policy).

Wiring only: one ResourceValidationPolicy or StackValidationPolicy per rule of
``policy/rules.py``, around the same pure functions the offline plan runs.
"""

from pulumi_policy import (
    EnforcementLevel,
    PolicyPack,
    ResourceValidationPolicy,
    StackValidationPolicy,
)

from mlops_platform.policy import crossguard
from mlops_platform.policy.rules import RULES, Rule

context = crossguard.stack_context()


def wrap(rule: Rule) -> ResourceValidationPolicy | StackValidationPolicy:
    level = crossguard.enforcement_level(rule, context)
    if rule.is_stack_rule:
        return StackValidationPolicy(
            name=rule.id,
            description=rule.full_description,
            enforcement_level=level,
            validate=crossguard.validate_stack(rule, context),
        )
    return ResourceValidationPolicy(
        name=rule.id,
        description=rule.full_description,
        enforcement_level=level,
        validate=crossguard.validate_resource(rule, context),
    )


PolicyPack(
    name="mlops-platform-guardrails",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[wrap(rule) for rule in RULES],
)
