"""The CrossGuard pack (policy/__main__.py, policy/crossguard.py) without the Pulumi CLI.

The pack is loaded with a stand-in ``PolicyPack`` (the real one starts a gRPC server and never
returns); its policies are the real pulumi_policy classes, called with the real argument
classes, as the analyzer would call them.
"""

from __future__ import annotations

import json
import runpy
import tomllib
from pathlib import Path
from typing import Any, ClassVar

import pulumi_policy
import pytest
import yaml
from conftest import ROOT
from pulumi_policy import (
    EnforcementLevel,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.policy import PolicyCustomTimeouts
from pulumi_policy.proxy import UNKNOWN_BOOLEAN_VALUE, unknown_checking_proxy

from mlops_platform.policy import crossguard
from mlops_platform.policy.context import Context
from mlops_platform.policy.rules import RULES, UNKNOWN, rule_ids

WAIVER = "Scanning runs in the registry's enhanced scanning; see SEC-123"
PROVIDER_PROPS = {"defaultTags": json.dumps({"tags": {"env": "prod", "owner": "team"}})}


class FakePack:
    packs: ClassVar[list[FakePack]] = []

    def __init__(self, name: str, policies: list[Any], enforcement_level: Any = None, **_: Any):
        self.name = name
        self.policies = policies
        self.enforcement_level = enforcement_level
        FakePack.packs.append(self)


def load_pack(monkeypatch, config: dict[str, Any] | None = None) -> FakePack:
    """Runs policy/__main__.py as the analyzer would, with the stack config in PULUMI_CONFIG."""
    monkeypatch.setattr(pulumi_policy, "PolicyPack", FakePack)
    monkeypatch.setenv("PULUMI_PROJECT", "mlops-platform")
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(config or {}))
    FakePack.packs.clear()
    runpy.run_path(str(ROOT / "policy" / "__main__.py"), run_name="__main__")
    [pack] = FakePack.packs
    return pack


def options(protect: bool = False) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def provider() -> PolicyProviderResource:
    return PolicyProviderResource(
        "pulumi:providers:aws", unknown_checking_proxy(PROVIDER_PROPS), "urn:aws", "aws"
    )


def resource_args(type_: str, name: str, props: dict[str, Any]) -> ResourceValidationArgs:
    return ResourceValidationArgs(
        type_, unknown_checking_proxy(props), f"urn:{name}", name, options(), provider()
    )


def run(policy: Any, args: Any) -> list[tuple[str, str | None]]:
    reports: list[tuple[str, str | None]] = []
    policy.validate(args, lambda message, urn=None: reports.append((message, urn)))
    return reports


PROD = {"mlops-platform:environment": "prod"}


def test_the_pack_wires_every_rule_once_with_its_level(monkeypatch):
    pack = load_pack(monkeypatch, PROD)
    assert pack.name == "mlops-platform-guardrails"
    assert [p.name for p in pack.policies] == [r.id for r in RULES]
    assert {p.name for p in pack.policies} == rule_ids()
    for policy, rule in zip(pack.policies, RULES, strict=True):
        kind = StackValidationPolicy if rule.is_stack_rule else ResourceValidationPolicy
        assert isinstance(policy, kind), rule.id
        assert policy.enforcement_level.value == rule.level, rule.id
        assert rule.controls in policy.description


def test_project_file_runs_the_pack_in_the_project_venv():
    project = yaml.safe_load((ROOT / "policy" / "PulumiPolicy.yaml").read_text())
    assert project["runtime"] == {"name": "python", "options": {"virtualenv": "../.venv"}}
    assert (ROOT / "policy" / project["runtime"]["options"]["virtualenv"]).resolve() == (
        ROOT / ".venv"
    ).resolve()


def test_a_resource_policy_reports_the_rule_on_the_resource(monkeypatch):
    pack = load_pack(monkeypatch, PROD)
    policy = next(p for p in pack.policies if p.name == "ecr-immutable-tags")
    bad = resource_args(
        "aws:ecr/repository:Repository", "serving", {"imageTagMutability": "MUTABLE"}
    )
    assert run(policy, bad) == [
        ("imageTagMutability is MUTABLE: a pushed tag can be overwritten", "urn:serving")
    ]
    good = resource_args(
        "aws:ecr/repository:Repository", "serving", {"imageTagMutability": "IMMUTABLE"}
    )
    assert run(policy, good) == []
    other = resource_args("aws:s3/bucket:Bucket", "data", {})
    assert run(policy, other) == []


def test_a_waived_rule_runs_advisory_and_says_why(monkeypatch):
    config = {
        **PROD,
        "mlops-platform:policy": json.dumps({"waivers": {"ecr-scan-on-push": WAIVER}}),
    }
    pack = load_pack(monkeypatch, config)
    policy = next(p for p in pack.policies if p.name == "ecr-scan-on-push")
    assert policy.enforcement_level == EnforcementLevel.ADVISORY
    reports = run(
        policy,
        resource_args(
            "aws:ecr/repository:Repository", "serving", {"imageScanningConfiguration": {}}
        ),
    )
    assert reports == [
        (f"waived ({WAIVER}): imageScanningConfiguration.scanOnPush is not true", "urn:serving")
    ]
    unwaived = next(p for p in pack.policies if p.name == "ecr-kms")
    assert unwaived.enforcement_level == EnforcementLevel.MANDATORY


def test_dev_rules_follow_the_stack_environment(monkeypatch):
    pack = load_pack(monkeypatch, {"mlops-platform:environment": "dev"})
    policy = next(p for p in pack.policies if p.name == "ecr-immutable-tags")
    mutable = resource_args(
        "aws:ecr/repository:Repository", "serving", {"imageTagMutability": "MUTABLE"}
    )
    assert run(policy, mutable) == []


def stack_resource(type_: str, name: str, props: dict[str, Any], protect: bool = False):
    return PolicyResource(
        type_,
        unknown_checking_proxy(props),
        f"urn:{name}",
        name,
        options(protect),
        provider(),
        None,
        [],
        {},
    )


def test_a_stack_policy_relates_resources_through_dependencies(monkeypatch):
    pack = load_pack(monkeypatch, PROD)
    policy = next(p for p in pack.policies if p.name == "s3-public-access-block")
    bucket = stack_resource("aws:s3/bucket:Bucket", "data", {"forceDestroy": False})
    block = stack_resource(
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "data-public-access",
        dict.fromkeys(
            ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"),
            True,
        ),
    )
    assert run(policy, StackValidationArgs([bucket, block])) == [
        ("no aws.s3.BucketPublicAccessBlock for this bucket", "urn:data")
    ]
    block.property_dependencies["bucket"] = [bucket]
    assert run(policy, StackValidationArgs([bucket, block])) == []


def test_protect_comes_from_the_resource_options(monkeypatch):
    pack = load_pack(monkeypatch, PROD)
    policy = next(p for p in pack.policies if p.name == "prod-protect-stateful")
    unprotected = resource_args("aws:kms/key:Key", "key", {"enableKeyRotation": True})
    # CrossGuard does not report retainOnDelete: only protect is judged here.
    assert run(policy, unprotected) == [
        ("not protected: pulumi destroy would delete it", "urn:key")
    ]
    protected = ResourceValidationArgs(
        "aws:kms/key:Key", unknown_checking_proxy({}), "urn:key", "key", options(True), provider()
    )
    assert run(policy, protected) == []


def test_unknown_values_become_markers_instead_of_aborting_the_policy():
    props = unknown_checking_proxy(
        {"a": UNKNOWN_BOOLEAN_VALUE, "b": [1, {"c": UNKNOWN_BOOLEAN_VALUE}], "d": "x"}
    )
    assert crossguard.plain(props) == {"a": UNKNOWN, "b": [1, {"c": UNKNOWN}], "d": "x"}
    assert crossguard.plain(pulumi_policy.Secret("hunter2")) == "[secret]"


def test_stack_context_comes_from_pulumi_config_and_fails_closed(monkeypatch):
    waivers = {"waivers": {"ecr-scan-on-push": WAIVER}}
    env = {
        "PULUMI_PROJECT": "mlops-platform",
        "PULUMI_CONFIG": json.dumps(
            {"mlops-platform:environment": "staging", "mlops-platform:policy": json.dumps(waivers)}
        ),
    }
    assert crossguard.stack_context(env) == Context("staging", {"ecr-scan-on-push": WAIVER})
    bad = {**waivers, "waivers": {"ecr-scan-on-push": ""}}
    env["PULUMI_CONFIG"] = json.dumps(
        {"mlops-platform:environment": "staging", "mlops-platform:policy": bad}
    )
    assert crossguard.stack_context(env) == Context("staging", {})
    assert crossguard.stack_context({"PULUMI_CONFIG": "not json"}) == Context("prod", {})
    monkeypatch.delenv("PULUMI_CONFIG", raising=False)
    assert crossguard.stack_context() == Context("prod", {})


def test_the_pack_is_shipped_with_the_package():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setuptools["package-dir"]["mlops_platform.policy"] == "policy"
    assert setuptools["package-data"]["mlops_platform.policy"] == ["PulumiPolicy.yaml"]
    pins = (ROOT / "requirements.txt").read_text().splitlines()
    assert any(line.startswith("pulumi-policy==") for line in pins)
    assert pulumi_policy.__name__ == "pulumi_policy"
    assert Path(crossguard.__file__).parent == ROOT / "policy"


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_pack_and_plan_agree_on_the_real_stacks(monkeypatch, stack, plans):
    """The pack, fed the plan's resources as CrossGuard would see them, reports what the plan
    reports (nothing, for the three stacks)."""
    config = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    pack = load_pack(
        monkeypatch, {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}
    )
    plan = plans[stack]
    inputs = {r["urn"]: r["inputs"] for r in plan["resources"]}
    by_urn: dict[str, PolicyResource] = {}
    for r in plan["resources"]:
        if not r["custom"]:
            continue
        prov = inputs.get((r["provider"] or "").rsplit("::", 1)[0])
        by_urn[r["urn"]] = PolicyResource(
            r["type"],
            unknown_checking_proxy(r["inputs"]),
            r["urn"],
            r["name"],
            options(r["protect"]),
            PolicyProviderResource(
                "pulumi:providers:aws", unknown_checking_proxy(prov or {}), "p", "aws"
            )
            if prov is not None
            else None,
            None,
            [],
            {},
        )
    for r in plan["resources"]:
        if r["urn"] in by_urn:
            by_urn[r["urn"]].dependencies.extend(
                by_urn[d] for d in r["dependencies"] if d in by_urn
            )
    reports = []
    for policy in pack.policies:
        if isinstance(policy, StackValidationPolicy):
            reports += run(policy, StackValidationArgs(list(by_urn.values())))
        else:
            for res in by_urn.values():
                args = ResourceValidationArgs(
                    res.resource_type, res.props, res.urn, res.name, res.opts, res.provider
                )
                reports += run(policy, args)
    assert reports == [] == plan["policy"]
