"""What differs between two stacks' plans: pure functions over two plan JSON documents.

Resources are matched by (type, name), which is what the stack program keeps stable across
environments (physical names carry stack-specific suffixes and are not compared). For matched
resources only the *key properties* below are compared, plus ``protect`` and
``retainOnDelete`` of every resource: they are what a reviewer asks "how does prod differ?"
about, whereas ARNs, generated names and tags differ by construction.
"""

from __future__ import annotations

import re
from typing import Any

KEY_PROPERTIES: dict[str, tuple[str, ...]] = {
    "aws:ec2/vpc:Vpc": ("cidrBlock",),
    "aws:ec2/subnet:Subnet": ("cidrBlock", "availabilityZone"),
    "aws:ec2/flowLog:FlowLog": ("trafficType",),
    "aws:cloudwatch/logGroup:LogGroup": ("retentionInDays",),
    "aws:eks/cluster:Cluster": (
        "version",
        "vpcConfig.endpointPublicAccess",
        "vpcConfig.publicAccessCidrs",
        "enabledClusterLogTypes",
        "deletionProtection",
    ),
    "aws:eks/nodeGroup:NodeGroup": (
        "instanceTypes",
        "capacityType",
        "scalingConfig.minSize",
        "scalingConfig.maxSize",
        "amiType",
    ),
    "aws:eks/addon:Addon": ("addonVersion",),
    "kubernetes:helm.sh/v3:Release": ("chart", "version"),
    "aws:kms/key:Key": ("deletionWindowInDays", "rotationPeriodInDays"),
    "aws:ecr/repository:Repository": ("imageTagMutability", "forceDelete"),
    "aws:s3/bucket:Bucket": ("forceDestroy",),
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration": (
        "productionVariants[0].instanceType",
        "productionVariants[0].initialInstanceCount",
        "productionVariants[0].initialVariantWeight",
        "productionVariants[1].variantName",
        "productionVariants[1].initialVariantWeight",
        "shadowProductionVariants[0].initialVariantWeight",
        "productionVariants[0].serverlessConfig.memorySizeInMb",
        "productionVariants[0].serverlessConfig.maxConcurrency",
        "dataCaptureConfig.initialSamplingPercentage",
    ),
    "aws:sagemaker/endpoint:Endpoint": (
        "deploymentConfig.blueGreenUpdatePolicy.trafficRoutingConfiguration.type",
    ),
    "aws:appautoscaling/target:Target": ("minCapacity", "maxCapacity"),
    "aws:sagemaker/mlflowTrackingServer:MlflowTrackingServer": (
        "trackingServerSize",
        "weeklyMaintenanceWindowStart",
    ),
}
OPTIONS = ("protect", "retainOnDelete")
_STEP = re.compile(r"^(?P<key>[^\[\]]+)(?:\[(?P<index>\d+)\])?$")


def lookup(value: Any, path: str) -> Any:
    """``a.b[0].c`` inside nested dicts and lists; None where any step is missing."""
    for step in path.split("."):
        match = _STEP.match(step)
        if match is None or not isinstance(value, dict):
            return None
        value = value.get(match["key"])
        if match["index"] is not None:
            index = int(match["index"])
            value = value[index] if isinstance(value, list) and index < len(value) else None
    return value


def _keyed(plan: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (res["type"], res["name"]): res
        for res in plan["resources"]
        if res["type"] != "pulumi:pulumi:Stack"
    }


def compare(left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    """``{left, right, onlyLeft, onlyRight, changed, estimate}`` for two plan JSON documents."""
    a, b = _keyed(left), _keyed(right)

    def listed(keys: list[tuple[str, str]]) -> list[dict[str, str]]:
        return [{"name": name, "type": kind} for kind, name in keys]

    changed = []
    for key in (k for k in a if k in b):
        res_a, res_b = a[key], b[key]
        props: dict[str, list[Any]] = {}
        for path in KEY_PROPERTIES.get(key[0], ()):
            old, new = lookup(res_a["inputs"], path), lookup(res_b["inputs"], path)
            if old != new:
                props[path] = [old, new]
        for option in OPTIONS:
            if res_a.get(option) != res_b.get(option):
                props[option] = [res_a.get(option), res_b.get(option)]
        if props:
            changed.append({"name": key[1], "type": key[0], "properties": props})
    result: dict[str, Any] = {
        "left": left["stack"],
        "right": right["stack"],
        "onlyLeft": listed([k for k in a if k not in b]),
        "onlyRight": listed([k for k in b if k not in a]),
        "changed": changed,
    }
    if "estimate" in left and "estimate" in right:
        result["estimate"] = {
            field: [left["estimate"].get(field), right["estimate"].get(field)]
            for field in ("monthlyCostUsd", "deployMinutes")
        }
    return result


def _value(value: Any) -> str:
    return "-" if value is None else str(value).replace("'", "")


def render_tree(diff: dict[str, Any]) -> str:
    left, right = diff["left"], diff["right"]
    lines = [
        f"{left} vs {right}: {len(diff['onlyLeft'])} only in {left}, "
        f"{len(diff['onlyRight'])} only in {right}, {len(diff['changed'])} changed",
    ]
    if "estimate" in diff:
        lines += [""] + [
            f"  {field}: {_value(pair[0])} -> {_value(pair[1])}"
            for field, pair in diff["estimate"].items()
        ]
    for title, items in (
        (f"Only in {left}:", diff["onlyLeft"]),
        (f"Only in {right}:", diff["onlyRight"]),
    ):
        lines += ["", title] + [f"  {item['type']}  {item['name']}" for item in items or []]
        if not items:
            lines.append("  (none)")
    lines += ["", "Changed:"]
    for item in diff["changed"]:
        lines.append(f"  {item['type']}  {item['name']}")
        lines += [
            f"    {path}: {_value(old)} -> {_value(new)}"
            for path, (old, new) in item["properties"].items()
        ]
    if not diff["changed"]:
        lines.append("  (none)")
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    return f"`{_value(value)}`".replace("|", "\\|")


def render_markdown(diff: dict[str, Any]) -> str:
    left, right = diff["left"], diff["right"]
    lines = [f"### `{left}` vs `{right}`", ""]
    if "estimate" in diff:
        lines += [f"| | `{left}` | `{right}` |", "| --- | ---: | ---: |"]
        lines += [
            f"| {field} | {_value(a)} | {_value(b)} |" for field, (a, b) in diff["estimate"].items()
        ]
        lines.append("")
    for title, items in (
        (f"Only in `{left}`", diff["onlyLeft"]),
        (f"Only in `{right}`", diff["onlyRight"]),
    ):
        lines += [f"**{title}** ({len(items)})", ""]
        lines += [f"- `{item['type']}` `{item['name']}`" for item in items] or ["- none"]
        lines.append("")
    lines += [f"**Changed** ({len(diff['changed'])})", ""]
    lines += ["| resource | property | " + f"`{left}` | `{right}` |", "| --- | --- | --- | --- |"]
    for item in diff["changed"]:
        for path, (old, new) in item["properties"].items():
            lines.append(f"| `{item['name']}` | `{path}` | {_cell(old)} | {_cell(new)} |")
    return "\n".join(lines) + "\n"
