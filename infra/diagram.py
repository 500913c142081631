"""The component graph of a plan as a Mermaid flowchart: pure functions over the plan's JSON.

One subgraph per top-level component (registration order) holding its key resources (one node
per key type, with a count); an arrow ``A --> B`` when something in B waits for something in A
(the same waits the deploy estimate follows). ``python -m infra.diagram README.md`` (``make
diagram``) rewrites the prod diagram between the README's markers.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from mlops_platform.infra.estimate import owners, waits_for

KEY_TYPES = {
    "aws:ec2/vpc:Vpc": "VPC",
    "aws:ec2/natGateway:NatGateway": "NAT gateway",
    "aws:ec2/vpcEndpoint:VpcEndpoint": "S3 endpoint",
    "aws:ec2/flowLog:FlowLog": "flow logs",
    "aws:eks/cluster:Cluster": "EKS cluster",
    "aws:eks/nodeGroup:NodeGroup": "node group",
    "aws:eks/addon:Addon": "EKS add-on",
    "kubernetes:helm.sh/v3:Release": "Helm release",
    "aws:kms/key:Key": "KMS key",
    "aws:ecr/repository:Repository": "ECR repository",
    "aws:s3/bucket:Bucket": "S3 bucket",
    "aws:sagemaker/modelPackageGroup:ModelPackageGroup": "model package group",
    "aws:sagemaker/mlflowTrackingServer:MlflowTrackingServer": "MLflow server",
    "aws:sagemaker/endpoint:Endpoint": "SageMaker endpoint",
    "aws:cloudwatch/metricAlarm:MetricAlarm": "alarm",
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": "OIDC provider",
    "docker:index/image:Image": "image",
}
BEGIN = "<!-- diagram:begin (make diagram) -->"
END = "<!-- diagram:end -->"


def node_id(*parts: str) -> str:
    """A Mermaid-safe id: letters, digits and underscores."""
    return re.sub(r"[^A-Za-z0-9_]", "_", "_".join(parts))


def mermaid(plan: dict[str, Any]) -> str:
    resources = plan["resources"]
    owner = owners(resources)
    components = [res for res in resources if res["urn"] in {o["urn"] for o in owner.values() if o}]
    counts: dict[str, dict[str, int]] = {c["urn"]: {} for c in components}
    for res in resources:
        top = owner[res["urn"]]
        if top is not None and res["type"] in KEY_TYPES:
            kinds = counts[top["urn"]]
            kinds[res["type"]] = kinds.get(res["type"], 0) + 1
    lines = ["flowchart LR"]
    for comp in components:
        cid = node_id("c", comp["name"])
        noun = comp["type"].rsplit(":", 1)[-1]
        lines.append(f'  subgraph {cid}["{comp["name"]} ({noun})"]')
        for kind, count in counts[comp["urn"]].items():
            label = KEY_TYPES[kind] + (f" x{count}" if count > 1 else "")
            lines.append(f'    {node_id(cid, kind.rsplit(":", 1)[-1])}["{label}"]')
        if not counts[comp["urn"]]:
            lines.append(f'    {node_id(cid, "roles")}["IAM"]')
        lines.append("  end")
    by_urn = {res["urn"]: res for res in resources}
    edges: list[tuple[str, str]] = []
    for urn, deps in waits_for(resources).items():
        target = owner.get(urn)
        for dep in deps:
            source = owner.get(dep)
            if target and source and source["urn"] != target["urn"] and dep in by_urn:
                edge = (node_id("c", source["name"]), node_id("c", target["name"]))
                if edge not in edges:
                    edges.append(edge)
    order = {node_id("c", c["name"]): i for i, c in enumerate(components)}
    for source, target in sorted(edges, key=lambda e: (order[e[0]], order[e[1]])):
        lines.append(f"  {source} --> {target}")
    return "\n".join(lines) + "\n"


def readme_section(diagram: str, stack: str) -> str:
    return f"{BEGIN}\n<!-- generated from the {stack} plan -->\n```mermaid\n{diagram}```\n{END}"


def replace_section(text: str, section: str) -> str:
    """``text`` with the part between the markers (inclusive) replaced by ``section``."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"no '{BEGIN}' ... '{END}' section")
    return text[:start] + section + text[end + len(END) :]


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - exercised by make diagram
    from mlops_platform.infra.plan import make_plan

    args = sys.argv[1:] if argv is None else argv
    readme = Path(args[0] if args else "README.md")
    plan = make_plan("prod").to_json()
    readme.write_text(
        replace_section(readme.read_text(encoding="utf-8"), readme_section(mermaid(plan), "prod")),
        encoding="utf-8",
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
