"""Monthly cost and first-deployment time of a plan: pure functions over the plan's JSON.

``estimate(plan_json)`` is an exact function of the plan and the tables in ``infra.tables``:

- cost: each priced resource type maps to a price-table item times a quantity read from its
  inputs (node groups at their minimum size, endpoints at their initial instance count, ...);
  resources are grouped by the top-level component that owns them.
- deploy time: the longest path through the graph the engine waits on (``dependencies`` plus
  each resource's provider; never ``parent``), each resource weighted by its type's typical
  creation time. Depending on a component means depending on everything inside it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from mlops_platform.infra import tables

Resource = dict[str, Any]

# Capability of a top-level component type (DESIGN.md's table), for the summaries.
CAPABILITIES = {
    "mlops:ci:CiIdentity": "CI identity",
    "mlops:security:EncryptionKey": "encryption",
    "mlops:registry:ContainerRegistry": "container registry",
    "mlops:storage:DvcRemote": "data versioning",
    "mlops:storage:DataBucket": "data versioning",
    "mlops:storage:AccessLogBucket": "access logs",
    "mlops:registry:ModelRegistry": "model registry / tracking",
    "mlops:network:Network": "cluster",
    "mlops:compute:Cluster": "cluster",
    "mlops:runners:GithubRunners": "CI runners",
    "mlops:runners:GitlabRunner": "CI runners",
    "mlops:serving:ModelEndpoint": "model serving",
    "mlops:serving:ServingImage": "model serving",
    "mlops:pipelines:Orchestrator": "training pipelines",
    "mlops:pipelines:TrainingPipeline": "training pipelines",
}
STACK_TYPE = "pulumi:pulumi:Stack"


def _round(value: float) -> float:
    return round(value + 0.0, 2)


def region_of(plan: dict[str, Any]) -> str | None:
    """The stack's region: its ``region`` output, else the AWS provider's ``region`` input."""
    region = plan.get("outputs", {}).get("region")
    if isinstance(region, str):
        return region
    for res in plan["resources"]:
        if res["type"] == "pulumi:providers:aws" and isinstance(res["inputs"].get("region"), str):
            return res["inputs"]["region"]
    return None


def owners(resources: Iterable[Resource]) -> dict[str, Resource | None]:
    """Each resource's top-level component (the stack's direct child that contains it)."""
    by_urn = {res["urn"]: res for res in resources}
    result: dict[str, Resource | None] = {}
    for urn, res in by_urn.items():
        node: Resource | None = res
        while node is not None:
            parent = by_urn.get(node["parent"] or "")
            if parent is None or parent["type"] == STACK_TYPE:
                break
            node = parent
        result[urn] = None if node is None or node["custom"] or node["type"] == STACK_TYPE else node
    return result


def capability(component: Resource | None) -> str:
    return CAPABILITIES.get(component["type"], "other") if component else "stack"


# --- cost ----------------------------------------------------------------------------------------


class _Prices:
    def __init__(self, table: dict[str, dict[str, Any]]):
        self.table = table
        self.used: set[str] = set()
        self.missing: set[str] = set()

    def __call__(self, key: str) -> float | None:
        if key not in self.table:
            self.missing.add(key)
            return None
        self.used.add(key)
        return float(self.table[key]["usd"])


def _line(item: str, quantity: float, unit: float | None, hours: bool) -> dict[str, Any] | None:
    if unit is None:
        return None
    monthly = quantity * unit * (tables.HOURS_PER_MONTH if hours else 1)
    return {"item": item, "quantity": quantity, "monthlyUsd": _round(monthly)}


def _cost_lines(res: Resource, price: _Prices, plan: list[Resource]) -> list[dict[str, Any]]:
    inputs, kind = res["inputs"], res["type"]
    lines: list[dict[str, Any] | None] = []
    if kind == "aws:eks/cluster:Cluster":
        lines.append(_line("eks-cluster-hour", 1, price("eks-cluster-hour"), True))
    elif kind == "aws:eks/nodeGroup:NodeGroup":
        size = int((inputs.get("scalingConfig") or {}).get("minSize") or 0)
        if size:
            key = f"ec2:{(inputs.get('instanceTypes') or ['?'])[0]}"
            lines.append(_line(key, size, price(key), True))
    elif kind == "aws:ec2/natGateway:NatGateway":
        lines.append(_line("nat-gateway-hour", 1, price("nat-gateway-hour"), True))
    elif kind == "aws:ec2/eip:Eip":
        lines.append(_line("public-ipv4-hour", 1, price("public-ipv4-hour"), True))
    elif kind == "aws:kms/key:Key":
        lines.append(_line("kms-key-month", 1, price("kms-key-month"), False))
    elif kind == "aws:cloudwatch/metricAlarm:MetricAlarm":
        lines.append(_line("cloudwatch-alarm-month", 1, price("cloudwatch-alarm-month"), False))
    elif kind == "aws:s3/bucket:Bucket":
        gb = tables.S3_GB_PER_BUCKET
        lines.append(_line("s3-standard-gb-month", gb, price("s3-standard-gb-month"), False))
    elif kind == "aws:sagemaker/mlflowTrackingServer:MlflowTrackingServer":
        key = f"mlflow:{inputs.get('trackingServerSize') or 'Small'}"
        lines.append(_line(key, 1, price(key), True))
    elif kind == "aws:sagemaker/endpoint:Endpoint":
        lines += _endpoint_lines(res, price, plan)
    return [line for line in lines if line is not None]


def _endpoint_lines(
    endpoint: Resource, price: _Prices, plan: list[Resource]
) -> list[dict[str, Any] | None]:
    """An endpoint costs what its configuration's variants run (a shadow variant's instances
    too: SageMaker runs them beside the production ones)."""
    name = endpoint["inputs"].get("endpointConfigName")
    config = next(
        (
            r
            for r in plan
            if r["type"] == "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
            and r["outputs"].get("name") == name
        ),
        None,
    )
    lines: list[dict[str, Any] | None] = []
    inputs = (config or {}).get("inputs", {})
    variants = (inputs.get("productionVariants") or []) + (
        inputs.get("shadowProductionVariants") or []
    )
    for variant in variants:
        serverless = variant.get("serverlessConfig")
        if serverless:
            seconds = (
                tables.SERVERLESS_INVOCATIONS_PER_MONTH * tables.SERVERLESS_SECONDS_PER_INVOCATION
            )
            gb_seconds = seconds * float(serverless.get("memorySizeInMb") or 0) / 1024
            key = "sagemaker-serverless-gb-second"
            lines.append(_line(key, gb_seconds, price(key), False))
        else:
            key = f"sagemaker-hosting:{variant.get('instanceType')}"
            count = int(variant.get("initialInstanceCount") or 0)
            lines.append(_line(key, count, price(key), True))
    return lines


def cost(plan: dict[str, Any], default_region: str | None = None) -> dict[str, Any]:
    """Monthly cost of the plan: total, per resource and per top-level component.
    ``default_region``: the default provider's (``aws:region``), for programs without an
    explicit provider or region output, such as a team's project."""
    region = region_of(plan) or default_region
    table = tables.PRICES.get(region or "")
    if not any(r["type"].startswith("aws:") for r in plan["resources"]):  # e.g. governance/
        return {
            "monthlyCostUsd": 0.0,
            "region": "no AWS resources",
            "perComponent": [],
            "perResource": [],
            "prices": {},
            "unpriced": [],
            "assumptions": ["no AWS resources: repository settings have no monthly cost"],
        }
    if table is None:
        return {"monthlyCostUsd": None, "error": f"no price table for {region or 'no region'}"}
    price = _Prices(table)
    resources = plan["resources"]
    owner = owners(resources)
    per_resource, per_component = [], {}
    for res in resources:
        lines = _cost_lines(res, price, resources) if res["custom"] else []
        if not lines:
            continue
        monthly = _round(sum(line["monthlyUsd"] for line in lines))
        component = owner[res["urn"]]
        key = component["name"] if component else "(stack)"
        per_resource.append(
            {"name": res["name"], "type": res["type"], "monthlyUsd": monthly, "lines": lines}
        )
        entry = per_component.setdefault(
            key, {"component": key, "capability": capability(component), "monthlyUsd": 0.0}
        )
        entry["monthlyUsd"] = _round(entry["monthlyUsd"] + monthly)
    return {
        "monthlyCostUsd": _round(sum(r["monthlyUsd"] for r in per_resource)),
        "region": region,
        "currency": "USD",
        "perComponent": sorted(per_component.values(), key=lambda c: -c["monthlyUsd"]),
        "perResource": per_resource,
        "unpriced": sorted(price.missing),
        "prices": {
            key: {"usd": table[key]["usd"], **_source(table[key])} for key in sorted(price.used)
        },
        "assumptions": list(tables.ASSUMPTIONS),
    }


def _source(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: entry[k] for k in ("unit", "source", "read", "verified")}


# --- deploy time ---------------------------------------------------------------------------------


def create_minutes(res: Resource) -> float:
    """Typical creation time of one resource; components, providers and the stack take 0."""
    if not res["custom"] or res["type"].startswith("pulumi:providers:"):
        return 0.0
    entry = tables.CREATE_MINUTES.get(res["type"])
    return float(entry["minutes"]) if entry else tables.DEFAULT_CREATE_MINUTES


def waits_for(resources: list[Resource]) -> dict[str, list[str]]:
    """What the engine waits for before creating each resource: its dependencies (a component
    stands for every resource inside it) and its provider. Parents are not waited for."""
    by_urn = {res["urn"]: res for res in resources}
    children: dict[str, list[str]] = {}
    for res in resources:
        if res["parent"]:
            children.setdefault(res["parent"], []).append(res["urn"])

    def expand(urn: str) -> list[str]:
        res = by_urn.get(urn)
        if res is None:
            return []
        if res["custom"]:
            return [urn]
        return [leaf for kid in children.get(urn, []) for leaf in expand(kid)]

    graph: dict[str, list[str]] = {}
    for res in resources:
        wanted = list(res["dependencies"])
        provider = (res.get("provider") or "").rsplit("::", 1)[0]
        if provider in by_urn:
            wanted.append(provider)
        deps = [leaf for urn in wanted for leaf in expand(urn) if leaf != res["urn"]]
        graph[res["urn"]] = list(dict.fromkeys(deps))
    return graph


def critical_path(
    resources: list[Resource], weight: Callable[[Resource], float] = create_minutes
) -> tuple[float, list[Resource]]:
    """The longest weighted chain of waits (minutes) and the resources on it, first to last.
    Ties go to the earlier-registered resource, so the answer is stable."""
    by_urn = {res["urn"]: res for res in resources}
    graph = waits_for(resources)
    order = {res["urn"]: index for index, res in enumerate(resources)}
    finish: dict[str, float] = {}
    before: dict[str, str | None] = {}

    def visit(urn: str, stack: tuple[str, ...] = ()) -> float:
        if urn in finish:
            return finish[urn]
        if urn in stack:
            raise ValueError(f"dependency cycle through {by_urn[urn]['name']}")
        best, best_dep = 0.0, None
        for dep in sorted(graph[urn], key=order.__getitem__):
            end = visit(dep, (*stack, urn))
            if end > best:
                best, best_dep = end, dep
        finish[urn] = best + weight(by_urn[urn])
        before[urn] = best_dep
        return finish[urn]

    for urn in by_urn:
        visit(urn)
    if not finish:
        return 0.0, []
    last = max(by_urn, key=lambda urn: (finish[urn], -order[urn]))
    path: list[Resource] = []
    node: str | None = last
    while node is not None:
        path.append(by_urn[node])
        node = before[node]
    return finish[last], path[::-1]


def deploy(plan: dict[str, Any]) -> dict[str, Any]:
    minutes, path = critical_path(plan["resources"])
    return {
        "deployMinutes": _round(minutes),
        "criticalPath": [
            {"name": r["name"], "type": r["type"], "minutes": create_minutes(r)}
            for r in path
            if create_minutes(r) > 0
        ],
    }


def estimate(plan: dict[str, Any], default_region: str | None = None) -> dict[str, Any]:
    """The plan JSON's ``estimate``: ``monthlyCostUsd``, ``deployMinutes`` and their details."""
    return {**cost(plan, default_region), **deploy(plan)}
