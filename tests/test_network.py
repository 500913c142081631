"""Network: subnet maths, validation and the registered VPC."""

from __future__ import annotations

import json

import pulumi
import pytest
from conftest import KEY_ARN, after_registration, component_children_ok, policy

from mlops_platform.components import ArgsError
from mlops_platform.components.network import (
    TYPE,
    Network,
    NetworkArgs,
    subnet_cidrs,
    zones_offered,
)

SUBNET = "aws:ec2/subnet:Subnet"
NAT = "aws:ec2/natGateway:NatGateway"


def test_default_subnets_are_large_private_and_small_public_without_overlap():
    public, private = subnet_cidrs("10.0.0.0/16", 3)
    assert private == ["10.0.0.0/19", "10.0.32.0/19", "10.0.64.0/19"]
    assert public == ["10.0.224.0/24", "10.0.225.0/24", "10.0.226.0/24"]
    NetworkArgs(availability_zones=3)  # validates the computed layout too


def test_zones_offered_uses_the_table_and_defaults_to_three():
    assert zones_offered("us-east-1") == 5  # EKS cannot use use1-az3
    assert zones_offered("us-west-1") == 2
    assert zones_offered("eu-west-1") == 3


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"cidr_block": "10.0.0.1/16"}, "cidr_block"),
        ({"cidr_block": "10.0.0.0/8"}, "cidr_block"),
        ({"cidr_block": "not-a-cidr"}, "cidr_block"),
        ({"availability_zones": 1}, "availability_zones"),
        ({"availability_zones": 3, "region": "us-west-1"}, "availability_zones"),
        ({"nat_gateways": "none"}, "nat_gateways"),
        ({"flow_log_retention_days": 10}, "flow_log_retention_days"),
        ({"flow_log_traffic_type": "all"}, "flow_log_traffic_type"),
        ({"kms_key_arn": "alias/x"}, "kms_key_arn"),
        ({"private_subnet_cidrs": ["10.0.0.0/19"]}, "private_subnet_cidrs"),
        (
            {"private_subnet_cidrs": ["10.0.0.0/19", "10.0.16.0/20"]},
            "private_subnet_cidrs[1]",
        ),
        (
            {"public_subnet_cidrs": ["10.0.224.0/24", "10.1.0.0/24"]},
            "public_subnet_cidrs[1]",
        ),
        (
            {"public_subnet_cidrs": ["10.0.0.0/24", "10.0.225.0/24"]},
            "private_subnet_cidrs[0]",
        ),
        ({"tags": {"aws:x": "y"}}, "tags.aws:x"),
    ],
)
def test_network_args_reject(kwargs, field):
    with pytest.raises(ArgsError) as error:
        NetworkArgs(**kwargs)
    assert error.value.field == field


def test_overlap_message_names_both_subnets():
    with pytest.raises(ArgsError, match=r"overlaps public_subnet_cidrs\[0\]"):
        NetworkArgs(public_subnet_cidrs=["10.0.0.0/24", "10.0.225.0/24"])


def build(mocks, **kwargs):
    return Network(
        "net",
        NetworkArgs(kms_key_arn=KEY_ARN, tags={"team": "ml"}, region="eu-west-1", **kwargs),
    )


@pulumi.runtime.test
def test_network_per_az_has_a_nat_and_route_table_per_zone(mocks):
    build(mocks, availability_zones=3, nat_gateways="per-az")

    def check(m):
        component_children_ok(m, TYPE, "net")
        subnets = m.of_type(SUBNET)
        assert len(subnets) == 6
        zones = sorted(s.inputs["availabilityZone"] for s in subnets)
        assert zones == ["eu-west-1a"] * 2 + ["eu-west-1b"] * 2 + ["eu-west-1c"] * 2
        for subnet in subnets:
            assert subnet.inputs.get("mapPublicIpOnLaunch", False) is False
            role = "elb" if "-public-" in subnet.name else "internal-elb"
            assert subnet.inputs["tags"][f"kubernetes.io/role/{role}"] == "1"
        assert len(m.of_type(NAT)) == 3
        routes = {r.name: r.inputs["routes"][0] for r in m.of_type("aws:ec2/routeTable:RouteTable")}
        assert "gatewayId" in routes["net-public"]
        nat_ids = {n.id for n in m.of_type(NAT)}
        private_nats = {routes[f"net-private-{z}"]["natGatewayId"] for z in "abc"}
        assert private_nats == nat_ids
        endpoint = m.find("aws:ec2/vpcEndpoint:VpcEndpoint", "net-s3")
        assert endpoint.inputs["serviceName"] == "com.amazonaws.eu-west-1.s3"
        assert endpoint.inputs["vpcEndpointType"] == "Gateway"
        assert len(endpoint.inputs["routeTableIds"]) == 3
        [(_, zone_query)] = [i for i in m.invokes if "getAvailabilityZones" in i[0]]
        assert zone_query["state"] == "available"
        assert zone_query["filters"] == [
            {"name": "opt-in-status", "values": ["opt-in-not-required"]}
        ]
        assert set(zone_query["excludeZoneIds"]) == {"use1-az3", "usw1-az2", "cac1-az3"}
        sg = m.find("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "net-default-sg")
        assert not sg.inputs.get("ingress") and not sg.inputs.get("egress")

    return after_registration(mocks, check)


@pulumi.runtime.test
def test_network_single_nat_serves_every_private_zone(mocks):
    build(mocks, nat_gateways="single")

    def check(m):
        [nat] = m.of_type(NAT)
        assert nat.inputs["subnetId"] == m.find(SUBNET, "net-public-a").id
        tables = [m.find("aws:ec2/routeTable:RouteTable", f"net-private-{z}") for z in "ab"]
        assert {t.inputs["routes"][0]["natGatewayId"] for t in tables} == {nat.id}

    return after_registration(mocks, check)


@pulumi.runtime.test
def test_flow_logs_go_to_an_encrypted_group_with_retention(mocks):
    build(mocks, flow_log_retention_days=365)

    def check(m):
        group = m.find("aws:cloudwatch/logGroup:LogGroup", "net-flow-logs")
        assert group.inputs["kmsKeyId"] == KEY_ARN
        assert group.inputs["retentionInDays"] == 365
        flow = m.find("aws:ec2/flowLog:FlowLog", "net-flow-logs")
        assert flow.inputs["trafficType"] == "ALL"
        assert flow.inputs["logDestination"] == group.outputs["arn"]
        assert flow.inputs["vpcId"] == m.find("aws:ec2/vpc:Vpc", "net-vpc").id
        role = m.find("aws:iam/role:Role", "net-flow-logs")
        trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
        assert trust["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
        assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": m.account_id}
        doc = policy(m.find("aws:iam/rolePolicy:RolePolicy", "net-flow-logs"))
        assert doc["Statement"][0]["Resource"] == [
            group.outputs["arn"],
            group.outputs["arn"] + ":*",
        ]

    return after_registration(mocks, check)
