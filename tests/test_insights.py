"""Plan insights: cost and deploy-time estimates, stack comparison, diagram, summary."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
from conftest import ROOT

from mlops_platform.infra import compare, diagram, estimate, plan, tables

STACKS = ("dev", "staging", "prod")


@pytest.fixture(scope="module")
def plans() -> dict[str, dict[str, Any]]:
    return {stack: plan.make_plan(stack, ROOT).to_json() for stack in STACKS}


def run_main(capsys, *argv: str) -> tuple[int, str, str]:
    code = plan.main([*argv, "--project-dir", str(ROOT)])
    out, err = capsys.readouterr()
    return code, out, err


# --- estimates -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stack", "cost", "minutes"),
    [("dev", 187.37, 26.8), ("staging", 1183.43, 26.8), ("prod", 2253.51, 26.8)],
)
def test_estimates_are_pinned(plans, stack, cost, minutes):
    est = plans[stack]["estimate"]
    assert est["monthlyCostUsd"] == cost
    assert est["deployMinutes"] == minutes
    assert est["unpriced"] == []
    assert est["assumptions"] == list(tables.ASSUMPTIONS)
    assert est["monthlyCostUsd"] == pytest.approx(sum(r["monthlyUsd"] for r in est["perResource"]))
    assert est["monthlyCostUsd"] == pytest.approx(sum(c["monthlyUsd"] for c in est["perComponent"]))


def test_dev_is_cheapest_and_prod_most_expensive(plans):
    dev, staging, prod = (plans[s]["estimate"]["monthlyCostUsd"] for s in STACKS)
    assert dev < staging < prod


def test_prod_cost_lines(plans):
    lines = {
        (r["name"], line["item"]): line
        for r in plans["prod"]["estimate"]["perResource"]
        for line in r["lines"]
    }
    assert lines[("cluster-eks", "eks-cluster-hour")]["monthlyUsd"] == 73.0
    assert lines[("cluster-system", "ec2:m7i.large")]["quantity"] == 3  # minSize
    assert ("cluster-gpu", "ec2:g6.2xlarge") not in lines  # minSize 0: $0
    assert lines[("demo-serving-endpoint", "sagemaker-hosting:ml.m5.xlarge")]["quantity"] == 2
    assert lines[("models-tracking", "mlflow:Medium")]["monthlyUsd"] == 1022.0
    nat = [k for k in lines if k[1] == "nat-gateway-hour"]
    assert len(nat) == 3


def test_dev_serverless_endpoint_is_priced_by_gb_second(plans):
    (endpoint,) = [
        r for r in plans["dev"]["estimate"]["perResource"] if r["name"] == "demo-serving-endpoint"
    ]
    (line,) = endpoint["lines"]
    assert line["item"] == "sagemaker-serverless-gb-second"
    assert line["quantity"] == 10_000 * 2  # 2048 MB for 10,000 one-second invocations


def test_every_used_price_names_its_source(plans):
    for stack in STACKS:
        for key, entry in plans[stack]["estimate"]["prices"].items():
            assert entry["source"].startswith("https://"), key
            assert entry["read"] == tables.READ_ON or entry["verified"] is False, key
    for entry in tables.PRICES["eu-west-1"].values():
        assert entry["note"] and entry["unit"]


def test_unknown_region_is_not_guessed(plans):
    other = copy.deepcopy(plans["dev"])
    other["outputs"]["region"] = "xx-east-9"
    est = estimate.estimate(other)
    assert est["monthlyCostUsd"] is None
    assert est["error"] == "no price table for xx-east-9"
    assert est["deployMinutes"] == plans["dev"]["estimate"]["deployMinutes"]


def test_region_falls_back_to_the_provider(plans):
    other = copy.deepcopy(plans["dev"])
    del other["outputs"]["region"]
    assert estimate.region_of(other) == "eu-west-1"


def test_an_instance_type_without_a_price_is_reported(plans):
    other = copy.deepcopy(plans["prod"])
    for res in other["resources"]:
        if res["name"] == "cluster-gpu" and res["type"].endswith("NodeGroup"):
            res["inputs"]["scalingConfig"]["minSize"] = 1
    est = estimate.estimate(other)
    assert est["unpriced"] == ["ec2:g6.2xlarge"]
    assert est["monthlyCostUsd"] == plans["prod"]["estimate"]["monthlyCostUsd"]


# --- deploy time ---------------------------------------------------------------------------------


def minutes_of(kind: str) -> float:
    return tables.CREATE_MINUTES.get(kind, {"minutes": tables.DEFAULT_CREATE_MINUTES})["minutes"]


def test_prod_is_not_faster_than_the_cluster_chain(plans):
    chain = sum(
        minutes_of(kind)
        for kind in (
            "aws:ec2/vpc:Vpc",
            "aws:ec2/subnet:Subnet",
            "aws:eks/cluster:Cluster",
            "aws:eks/nodeGroup:NodeGroup",
            "kubernetes:helm.sh/v3:Release",
        )
    )
    assert plans["prod"]["estimate"]["deployMinutes"] >= chain


def test_critical_paths(plans):
    names = {s: [step["name"] for step in plans[s]["estimate"]["criticalPath"]] for s in STACKS}
    # The cluster chain is the longest everywhere: add-ons before nodes, CoreDNS on the nodes,
    # then the runner controller and a scale set on the cluster's provider (which waits for
    # both). MLflow's ~25 minutes run in parallel in staging and prod.
    chain = [
        "ci-boundary",
        "cluster-cluster",
        "cluster-cluster-AmazonEKSClusterPolicy",
        "cluster-eks",
        "cluster-oidc",
        "cluster-vpc-cni-role",
        "cluster-vpc-cni",
        "cluster-system",
        "cluster-coredns",
        "github-runners-controller-namespace",
        "github-runners-controller",
        "github-runners-cpu",
    ]
    assert names["dev"] == chain
    assert names["staging"] == names["prod"] == chain
    steps = plans["dev"]["estimate"]["criticalPath"]
    assert plans["dev"]["estimate"]["deployMinutes"] == pytest.approx(
        sum(s["minutes"] for s in steps)
    )


def upstream(resources: list[dict[str, Any]], urn: str) -> set[str]:
    graph = estimate.waits_for(resources)
    seen: set[str] = set()
    todo = [urn]
    while todo:
        for dep in graph[todo.pop()]:
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def test_runner_releases_wait_for_neither_serving_nor_mlflow(plans):
    resources = plans["prod"]["resources"]
    by_urn = {r["urn"]: r for r in resources}
    releases = [r for r in resources if r["type"] == "kubernetes:helm.sh/v3:Release"]
    assert len(releases) == 6  # the cluster's 2, the runners' 3, Argo Workflows
    for release in releases:
        types = {by_urn[u]["type"] for u in upstream(resources, release["urn"])}
        assert "aws:eks/cluster:Cluster" in types
        assert not any(t.startswith("aws:sagemaker/") for t in types), release["name"]
    # the cluster's charts run on nodes: they wait for the node groups
    device_plugin = next(r for r in releases if r["name"] == "cluster-nvidia-device-plugin")
    assert {by_urn[u]["name"] for u in upstream(resources, device_plugin["urn"])} >= {
        "cluster-system",
        "cluster-vpc-cni",
        "cluster-admin-0",
    }


def synthetic(*specs: tuple[str, bool, str | None, list[str]]) -> list[dict[str, Any]]:
    return [
        {
            "urn": name,
            "name": name,
            "type": "aws:eks/cluster:Cluster" if custom else "mlops:x:Component",
            "custom": custom,
            "parent": parent,
            "dependencies": deps,
            "provider": None,
        }
        for name, custom, parent, deps in specs
    ]


def test_depending_on_a_component_waits_for_all_of_it_but_not_for_parents():
    resources = synthetic(
        ("comp", False, None, []),
        ("a", True, "comp", []),
        ("b", True, "comp", ["a"]),
        ("c", True, None, ["comp"]),
    )
    graph = estimate.waits_for(resources)
    assert graph["c"] == ["a", "b"]
    assert graph["a"] == []  # the parent is not waited for
    minutes, path = estimate.critical_path(resources)
    assert minutes == 45.0 and [r["name"] for r in path] == ["a", "b", "c"]


def test_a_dependency_cycle_is_an_error():
    resources = synthetic(("a", True, None, ["b"]), ("b", True, None, ["a"]))
    with pytest.raises(ValueError, match="cycle"):
        estimate.critical_path(resources)
    assert estimate.critical_path([]) == (0.0, [])


# --- compare -------------------------------------------------------------------------------------


def test_compare_dev_with_prod(plans):
    diff = compare.compare(plans["dev"], plans["prod"])
    assert (diff["left"], diff["right"]) == ("dev", "prod")
    only_dev = {(r["type"], r["name"]) for r in diff["onlyLeft"]}
    only_prod = {(r["type"], r["name"]) for r in diff["onlyRight"]}
    assert ("mlops:runners:GitlabRunner", "gitlab-runner") in only_dev
    assert ("aws:sagemaker/mlflowTrackingServer:MlflowTrackingServer", "models-tracking") in (
        only_prod
    )
    assert ("aws:ec2/natGateway:NatGateway", "network-nat-c") in only_prod
    changed = {(c["type"], c["name"]): c["properties"] for c in diff["changed"]}
    system = changed[("aws:eks/nodeGroup:NodeGroup", "cluster-system")]
    assert system["instanceTypes"] == [["t3.large"], ["m7i.large"]]
    assert system["scalingConfig.minSize"] == [1, 3]
    eks = changed[("aws:eks/cluster:Cluster", "cluster-eks")]
    assert eks["vpcConfig.endpointPublicAccess"] == [True, False]
    assert changed[("aws:kms/key:Key", "platform-key-key")]["protect"] == [False, True]
    assert diff["estimate"]["monthlyCostUsd"] == [187.37, 2253.51]
    # names with stack-specific suffixes are not compared
    assert all("name" not in props for props in changed.values())


def test_compare_a_stack_with_itself_finds_nothing(plans):
    diff = compare.compare(plans["prod"], plans["prod"])
    assert diff["onlyLeft"] == diff["onlyRight"] == diff["changed"] == []
    assert "(none)" in compare.render_tree(diff)


def test_lookup_paths():
    value = {"a": [{"b": 1}], "c": "x"}
    assert compare.lookup(value, "a[0].b") == 1
    assert compare.lookup(value, "a[3].b") is None
    assert compare.lookup(value, "c.d") is None


@pytest.mark.parametrize("fmt", ["tree", "json", "markdown"])
def test_compare_cli(capsys, fmt):
    code, out, err = run_main(capsys, "--stack", "dev", "--compare", "staging", "--format", fmt)
    assert code == 0 and err == ""
    if fmt == "json":
        diff = json.loads(out)
        assert set(diff) == {"left", "right", "onlyLeft", "onlyRight", "changed", "estimate"}
    elif fmt == "markdown":
        assert out.startswith("### `dev` vs `staging`") and "| `cluster-system` |" in out
    else:
        assert out.startswith("dev vs staging:") and "Only in staging:" in out


# --- diagram -------------------------------------------------------------------------------------


def test_mermaid_diagram(plans):
    text = diagram.mermaid(plans["prod"])
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    assert "  c_network --> c_cluster" in lines
    assert "  c_cluster --> c_github_runners" in lines
    assert '    c_network_NatGateway["NAT gateway x3"]' in lines
    for line in lines[1:]:
        assert re.fullmatch(
            r'  subgraph \w+\["[^"]+"\]|    \w+\["[^"]+"\]|  end|  \w+ --> \w+', line
        ), line
    assert diagram.mermaid(plans["prod"]) == text  # stable


def test_readme_diagram_is_current(plans):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    expected = diagram.replace_section(
        readme, diagram.readme_section(diagram.mermaid(plans["prod"]), "prod")
    )
    assert readme == expected, "README diagram is stale: run make diagram"
    with pytest.raises(ValueError, match="diagram:begin"):
        diagram.replace_section("no markers", "x")


def test_mermaid_format_cli(capsys):
    code, out, _ = run_main(capsys, "--stack", "dev", "--format", "mermaid")
    assert code == 0 and out.startswith("flowchart LR\n") and "c_gitlab_runner" in out


# --- tree, markdown, summary ---------------------------------------------------------------------


def test_tree_shows_cost_deploy_time_and_findings(capsys):
    code, out, _ = run_main(capsys, "--stack", "prod")
    assert code == 0
    estimate_at, policy_at = out.index("\nEstimate:\n"), out.index("\nPolicy:\n")
    assert estimate_at < policy_at
    assert "  monthly cost: $2,253.51 (on-demand, eu-west-1)" in out
    assert "  first deployment: ~26.8 min; critical path: ci-boundary -> " in out
    assert "    models (model registry / tracking): $1,024.30" in out


def test_markdown_comment_has_the_estimate(capsys):
    code, out, _ = run_main(capsys, "--stack", "dev", "--format", "markdown")
    assert code == 0
    assert "monthly cost: $187.37 (on-demand, eu-west-1) · first deployment ~26.8 min" in out
    assert "<details><summary>Estimate: cost per component" in out


def test_summary_puts_stacks_side_by_side(capsys):
    code, out, err = run_main(capsys, "--summary", "dev", "staging", "prod", "nope")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == "| | `dev` | `staging` | `prod` | `nope` |"
    assert "| monthly cost (USD) | $187.37 | $1,183.43 | $2,253.51 | — |" in lines
    assert "| first deployment (min) | 26.8 | 26.8 | 26.8 | — |" in lines
    assert "| mandatory findings | 0 | 0 | 0 | — |" in lines
    assert "| · model registry / tracking | 2 | 14 | 13 | — |" in lines  # + its access logging
    assert "| · access logs | 0 | 7 | 7 | — |" in lines
    assert any(line.startswith("- `nope: --stack: got 'nope'") for line in lines)


def test_summary_json(capsys):
    code, out, _ = run_main(capsys, "--summary", "dev", "nope", "--format", "json")
    assert code == 0
    rows = json.loads(out)
    assert rows[0]["stack"] == "dev" and rows[0]["estimate"]["monthlyCostUsd"] == 187.37
    assert rows[0]["findings"] == {"mandatory": 0, "advisory": 0}
    assert rows[1]["stack"] == "nope" and "no Pulumi.nope.yaml" in rows[1]["error"]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--stack", "dev", "--compare", "prod", "--format", "mermaid"], "--compare: formats"),
        (["--summary", "dev", "--format", "tree"], "--summary: formats"),
        (["--stack", "dev", "--summary", "dev"], "not both"),
        (["--summary", "dev", "--compare", "prod"], "--compare needs --stack"),
    ],
)
def test_insight_usage_errors_exit_2(capsys, argv, expected):
    code, out, err = run_main(capsys, *argv)
    assert code == 2 and out == "" and len(err.splitlines()) == 1 and expected in err


def test_compare_with_a_bad_stack_exits_2(capsys):
    code, out, err = run_main(capsys, "--stack", "dev", "--compare", "nope")
    assert code == 2 and out == "" and "no Pulumi.nope.yaml" in err


def test_ci_comment_is_built_from_the_stacks_diffs():
    """The PR comment (infra/comment.py, tests/test_diff.py) leads with one summary table built
    from each stack's diff against the base; the stack loop comes first."""
    import yaml

    workflow = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text(encoding="utf-8"))
    script = "\n".join(step.get("run", "") for step in workflow["jobs"]["plan"]["steps"])
    loop = script.index("for stack in dev staging prod; do")
    assert loop < script.index("-m infra.comment --dir offline-plan --stacks dev staging prod")
