"""Adapters between CrossGuard and the pure rules: what ``policy/__main__.py`` wires together.

CrossGuard hands a resource policy ``ResourceValidationArgs`` (type, camelCase inputs, options,
provider) and a stack policy ``StackValidationArgs`` (every resource with its dependencies);
both are turned into :class:`policy.rules.Resource` records, exactly what the offline plan builds
from its own records. Values unknown during a preview become ``[unknown]`` instead of aborting the
whole policy, so a rule still judges what it can see.

The stack's context (environment, waivers) comes from the stack configuration the CLI passes to
a policy pack in ``PULUMI_CONFIG``: a waived rule runs as advisory, its findings say why.
CrossGuard reports no ``retainOnDelete``; ``prod-protect-stateful`` checks ``protect`` here and
both options in the offline plan.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pulumi.runtime
from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    Secret,
    StackValidationArgs,
)
from pulumi_policy.proxy import UnknownValueError

from mlops_platform.policy import context as stack_config
from mlops_platform.policy.rules import MANDATORY, UNKNOWN, Resource, Rule, rule_ids

SECRET = "[secret]"


def plain(value: Any) -> Any:
    """A plain copy of CrossGuard properties: proxies unwrapped, unknowns as ``[unknown]``."""
    if isinstance(value, Secret):
        return SECRET
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return {key: _item(value, key) for key in value}
    if isinstance(value, Sequence):
        return [_item(value, index) for index in range(len(value))]
    return value


def _item(container: Any, key: Any) -> Any:
    try:
        return plain(container[key])
    except UnknownValueError:
        return UNKNOWN


def resource_from_args(args: ResourceValidationArgs) -> Resource:
    return Resource(
        type=args.resource_type,
        name=args.name,
        urn=args.urn,
        props=plain(args.props),
        protect=bool(args.opts.protect),
        retain_on_delete=None,
        provider=plain(args.provider.props) if args.provider is not None else None,
    )


def resource_from_stack(res: PolicyResource) -> Resource:
    dependencies = {d.urn for d in res.dependencies}
    dependencies |= {d.urn for deps in res.property_dependencies.values() for d in deps}
    return Resource(
        type=res.resource_type,
        name=res.name,
        urn=res.urn,
        props=plain(res.props),
        protect=bool(res.opts.protect),
        retain_on_delete=None,
        provider=plain(res.provider.props) if res.provider is not None else None,
        dependencies=tuple(sorted(dependencies)),
    )


def stack_context(environ: Mapping[str, str] | None = None) -> stack_config.Context:
    """Environment and waivers from the stack configuration the CLI passes to the pack. A bad
    waiver block (``pulumi up`` itself stops on it) waives nothing here: fail closed."""
    env = os.environ if environ is None else environ
    config = dict(pulumi.runtime.get_config_env()) if environ is None else _config_env(env)
    project = env.get("PULUMI_PROJECT") or stack_config.DEFAULT_PROJECT
    try:
        return stack_config.from_config(config, rule_ids(), project)
    except stack_config.WaiverError:
        config.pop(f"{project}:policy", None)
        return stack_config.from_config(config, rule_ids(), project)


def _config_env(env: Mapping[str, str]) -> dict[str, Any]:
    import json

    try:
        config = json.loads(env.get("PULUMI_CONFIG", "{}"))
    except ValueError:
        return {}
    return config if isinstance(config, dict) else {}


def enforcement_level(rule: Rule, context: stack_config.Context) -> EnforcementLevel:
    """The rule's level, or advisory when the stack waived it (its findings stay visible)."""
    if rule.id in context.waivers or rule.level != MANDATORY:
        return EnforcementLevel.ADVISORY
    return EnforcementLevel.MANDATORY


def _say(rule: Rule, message: str, context: stack_config.Context) -> str:
    reason = context.waivers.get(rule.id)
    return f"waived ({reason}): {message}" if reason else message


def validate_resource(
    rule: Rule, context: stack_config.Context
) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type not in rule.types:
            return
        for res, message in rule.run([resource_from_args(args)], context):
            report_violation(_say(rule, message, context), res.urn)

    return validate


def validate_stack(
    rule: Rule, context: stack_config.Context
) -> Callable[[StackValidationArgs, ReportViolation], None]:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = [resource_from_stack(r) for r in args.resources]
        for res, message in rule.run(resources, context):
            report_violation(_say(rule, message, context), res.urn)

    return validate
