"""Network: ``Network``, the VPC an environment's cluster runs in.

Public and private subnets in N availability zones, NAT gateways (one, or one per zone), an S3
gateway endpoint (DVC and artifact traffic stays off the NAT), the subnet tags EKS load balancers
look for, a default security group with no rules, and VPC flow logs to an encrypted log group
with retention.

Subnet CIDRs are computed from the VPC CIDR by :func:`subnet_cidrs` unless given; overlapping or
out-of-VPC subnets are rejected before anything is registered.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal, get_args

import pulumi
import pulumi_aws as aws

from mlops_platform.components._aws import aws_context, policy_document, stateful
from mlops_platform.components._docs import SecureDefault
from mlops_platform.components._schema import Matches, OneOf, between, check_declared
from mlops_platform.components._validate import (
    IAM_PATH_NAME,
    KMS_KEY,
    POLICY_ARN,
    ArgsError,
    Tags,
)

TYPE = "mlops:network:Network"

NatMode = Literal["single", "per-az"]
NAT_MODES = get_args(NatMode)
# CloudWatch Logs retention values the API accepts.
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
)  # fmt: skip
# Availability zones a new account is offered, per region (docs.aws.amazon.com/global-
# infrastructure, "Regions and Availability Zones", read 2026-11). Regions not listed are assumed
# to offer 3, the minimum AWS builds a region with.
REGION_AZ_COUNT = {
    "us-east-1": 5,  # 6, less use1-az3 where EKS places no control plane
    "us-east-2": 3,
    "us-west-1": 2,
    "us-west-2": 4,
    "ap-northeast-2": 4,
}
DEFAULT_AZ_COUNT = 3
# Zone IDs in which EKS cannot create clusters (EKS user guide, "VPC and subnet requirements").
ZONE_NAME = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d+[a-z]$")
EKS_UNSUPPORTED_ZONE_IDS = ("use1-az3", "usw1-az2", "cac1-az3")
# Tags the AWS Load Balancer Controller and the in-tree controller use to pick subnets.
PUBLIC_ELB_TAG = {"kubernetes.io/role/elb": "1"}
PRIVATE_ELB_TAG = {"kubernetes.io/role/internal-elb": "1"}


def zones_offered(region: str) -> int:
    """How many availability zones ``region`` offers a new account (see REGION_AZ_COUNT)."""
    return REGION_AZ_COUNT.get(region, DEFAULT_AZ_COUNT)


def _network(field_name: str, value: Any) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(value, strict=True)
    except (ValueError, TypeError):
        raise ArgsError(
            field_name, value, "expected an IPv4 CIDR block with no host bits, e.g. 10.0.0.0/16"
        ) from None


def subnet_cidrs(vpc_cidr: str, zones: int) -> tuple[list[str], list[str]]:
    """Default subnets: private /19s (pods take VPC addresses with the VPC CNI) from the start of
    a /16, and small public /24s (load balancers and NAT gateways) from its last /19; scaled
    for other VPC sizes."""
    vpc = ipaddress.IPv4Network(vpc_cidr)
    blocks = list(vpc.subnets(prefixlen_diff=3))  # eight equal blocks
    private = [str(block) for block in blocks[:zones]]
    public = [str(net) for net in list(blocks[-1].subnets(prefixlen_diff=5))[:zones]]
    return public, private


def flow_log_role_policy(*, log_group_arn: str) -> dict[str, Any]:
    """What the VPC Flow Logs service may do: write streams of its one log group."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "WriteFlowLogs",
                "Effect": "Allow",
                "Action": [
                    "logs:CreateLogStream",
                    "logs:DescribeLogStreams",
                    "logs:PutLogEvents",
                ],
                "Resource": [log_group_arn, f"{log_group_arn}:*"],
            }
        ],
    }


def flow_log_trust_policy(*, account_id: str, partition: str, region: str) -> dict[str, Any]:
    """Trust for vpc-flow-logs.amazonaws.com, on behalf of this account's flow logs only."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account_id},
                    "ArnLike": {
                        "aws:SourceArn": f"arn:{partition}:ec2:{region}:{account_id}:vpc-flow-log/*"
                    },
                },
            }
        ],
    }


@dataclass(frozen=True, kw_only=True)
class NetworkArgs:
    """Arguments of :class:`Network`. Every field has a default."""

    cidr_block: str = "10.0.0.0/16"
    """IPv4 CIDR of the VPC (/16 to /20)."""
    availability_zones: Annotated[int, between(2, 6)] = 2
    """How many availability zones to spread subnets over (2-6; at most what the region offers)."""
    region: str | None = None
    """Region the network is built in; when given, ``availability_zones`` is checked against what
    the region offers before anything is registered."""
    availability_zone_names: Sequence[
        Annotated[str, Matches(ZONE_NAME, "a zone name such as eu-west-1a")]
    ] = ()
    """The zones by name (``eu-west-1a``, ...), one per ``availability_zones``; empty: the first
    regular zones EKS supports, looked up with ``getAvailabilityZones``."""
    public_subnet_cidrs: Sequence[str] = ()
    """One public subnet CIDR per zone; computed from ``cidr_block`` when empty."""
    private_subnet_cidrs: Sequence[str] = ()
    """One private subnet CIDR per zone; computed from ``cidr_block`` when empty."""
    nat_gateways: NatMode = "per-az"
    """``per-az`` (a zone failure does not cut the others' egress) or ``single`` (cheaper)."""
    flow_log_retention_days: Annotated[int, OneOf(LOG_RETENTION_DAYS)] = 90
    """Retention of the VPC flow log group (a CloudWatch Logs retention value)."""
    flow_log_traffic_type: Literal["ALL", "ACCEPT", "REJECT"] = "ALL"
    """Flow log traffic: ALL, ACCEPT or REJECT."""
    kms_key_arn: Annotated[pulumi.Input[str] | None, KMS_KEY] = None
    """Key that encrypts the flow log group; it must allow CloudWatch Logs in this region."""
    protect: bool = True
    """Protect and retain the flow log group (the network's audit trail)."""
    iam_path: Annotated[str, IAM_PATH_NAME] = "/"
    """IAM path of the flow-log role."""
    permissions_boundary_arn: Annotated[pulumi.Input[str] | None, POLICY_ARN] = None
    """Permissions boundary of the flow-log role."""
    tags: Tags = field(default_factory=dict)
    """Tags of every taggable child."""

    def __post_init__(self) -> None:
        check_declared(self)
        vpc = _network("cidr_block", self.cidr_block)
        if not 16 <= vpc.prefixlen <= 20:
            raise ArgsError("cidr_block", self.cidr_block, "expected a /16 to /20 block")
        if self.region and self.availability_zones > zones_offered(self.region):
            raise ArgsError(
                "availability_zones",
                self.availability_zones,
                f"{self.region} offers {zones_offered(self.region)} zones",
            )
        if self.availability_zone_names and (
            len(self.availability_zone_names) != self.availability_zones
        ):
            raise ArgsError(
                "availability_zone_names",
                list(self.availability_zone_names),
                f"expected one zone per availability_zones ({self.availability_zones})",
            )
        public, private = self.subnets()
        seen: list[tuple[str, ipaddress.IPv4Network]] = []
        for kind, cidrs in (("public_subnet_cidrs", public), ("private_subnet_cidrs", private)):
            if len(cidrs) != self.availability_zones:
                raise ArgsError(
                    kind, list(cidrs), f"expected one CIDR per zone ({self.availability_zones})"
                )
            for index, cidr in enumerate(cidrs):
                net = _network(f"{kind}[{index}]", cidr)
                if not net.subnet_of(vpc):
                    raise ArgsError(f"{kind}[{index}]", cidr, f"must lie inside {vpc}")
                if net.prefixlen > 28:
                    raise ArgsError(f"{kind}[{index}]", cidr, "subnets are /16 to /28")
                for other_name, other in seen:
                    if net.overlaps(other):
                        raise ArgsError(f"{kind}[{index}]", cidr, f"overlaps {other_name}={other}")
                seen.append((f"{kind}[{index}]", net))

    def subnets(self) -> tuple[Sequence[str], Sequence[str]]:
        """Public and private subnet CIDRs: as given, or computed."""
        default_public, default_private = subnet_cidrs(self.cidr_block, self.availability_zones)
        return (
            self.public_subnet_cidrs or default_public,
            self.private_subnet_cidrs or default_private,
        )


class Network(pulumi.ComponentResource):
    """A VPC with public and private subnets per zone, NAT, an S3 endpoint and flow logs.

    Subnets are spread over the first ``availability_zones`` regular zones of the region (no
    Local Zones, none EKS cannot use); the private ones carry the tag internal load balancers
    look for, the public ones the tag for internet-facing ones.

    Example::

        import pulumi
        from mlops_platform.components import Network, NetworkArgs

        network = Network(
            "network",
            NetworkArgs(cidr_block="10.20.0.0/16", availability_zones=3, region="eu-west-1"),
        )
        pulumi.export("privateSubnetIds", network.private_subnet_ids)
    """

    SECURE_DEFAULTS: ClassVar[tuple[SecureDefault, ...]] = (
        SecureDefault("Nodes' addresses", "private subnets only; no public IPs on launch", "fixed"),
        SecureDefault("Egress", "one NAT gateway per zone", "nat_gateways (``single``)"),
        SecureDefault("Default security group", "all rules removed (CIS 5.4)", "fixed"),
        SecureDefault("S3 traffic", "through a gateway endpoint, not the NAT", "fixed"),
        SecureDefault(
            "Flow logs",
            "all traffic, 60-second aggregation, to a log group kept 90 days",
            "flow_log_traffic_type, flow_log_retention_days",
        ),
        SecureDefault("Flow-log encryption", "KMS when a key is given", "kms_key_arn"),
        SecureDefault("Deletion", "the flow-log group is protected and retained", "protect=False"),
    )

    vpc_id: pulumi.Output[str]
    """ID of the VPC."""
    public_subnet_ids: list[pulumi.Output[str]]
    """Public subnets, one per zone (load balancers, NAT gateways)."""
    private_subnet_ids: list[pulumi.Output[str]]
    """Private subnets, one per zone (the cluster and its nodes)."""
    flow_log_group_name: pulumi.Output[str]
    """Log group receiving the VPC flow logs."""

    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        context = aws_context(self)
        # Regular zones only: no opt-in Local or Wavelength Zones, none EKS cannot use.
        if args.availability_zone_names:
            zones = pulumi.Output.from_input(list(args.availability_zone_names))
        else:
            zones = aws.get_availability_zones_output(
                state="available",
                filters=[{"name": "opt-in-status", "values": ["opt-in-not-required"]}],
                exclude_zone_ids=list(EKS_UNSUPPORTED_ZONE_IDS),
                opts=pulumi.InvokeOutputOptions(parent=self),
            ).names

        def named(suffix: str) -> dict[str, str]:
            return {**tags, "Name": f"{name}-{suffix}"}

        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.cidr_block,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags=named("vpc"),
            opts=child,
        )
        # The default security group allows all traffic between its members: take its rules
        # away so nothing uses it by accident (CIS AWS Foundations 5.4).
        aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg", vpc_id=self.vpc.id, tags=named("default-sg"), opts=child
        )
        gateway = aws.ec2.InternetGateway(
            f"{name}-igw", vpc_id=self.vpc.id, tags=named("igw"), opts=child
        )
        public_cidrs, private_cidrs = args.subnets()
        public_routes = aws.ec2.RouteTable(
            f"{name}-public",
            vpc_id=self.vpc.id,
            routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": gateway.id}],
            tags=named("public"),
            opts=child,
        )

        public, private, private_tables = [], [], []
        nats: list[aws.ec2.NatGateway] = []
        for index in range(args.availability_zones):
            zone = zones.apply(lambda names, i=index: names[i])
            letter = chr(ord("a") + index)
            subnet = aws.ec2.Subnet(
                f"{name}-public-{letter}",
                vpc_id=self.vpc.id,
                cidr_block=public_cidrs[index],
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags={**named(f"public-{letter}"), **PUBLIC_ELB_TAG},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{letter}",
                subnet_id=subnet.id,
                route_table_id=public_routes.id,
                opts=child,
            )
            public.append(subnet)
            if args.nat_gateways == "per-az" or index == 0:
                address = aws.ec2.Eip(
                    f"{name}-nat-{letter}", domain="vpc", tags=named(f"nat-{letter}"), opts=child
                )
                nats.append(
                    aws.ec2.NatGateway(
                        f"{name}-nat-{letter}",
                        allocation_id=address.allocation_id,
                        subnet_id=subnet.id,
                        connectivity_type="public",
                        tags=named(f"nat-{letter}"),
                        opts=pulumi.ResourceOptions(parent=self, depends_on=[gateway]),
                    )
                )
            subnet = aws.ec2.Subnet(
                f"{name}-private-{letter}",
                vpc_id=self.vpc.id,
                cidr_block=private_cidrs[index],
                availability_zone=zone,
                tags={**named(f"private-{letter}"), **PRIVATE_ELB_TAG},
                opts=child,
            )
            table = aws.ec2.RouteTable(
                f"{name}-private-{letter}",
                vpc_id=self.vpc.id,
                routes=[{"cidr_block": "0.0.0.0/0", "nat_gateway_id": nats[-1].id}],
                tags=named(f"private-{letter}"),
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{letter}", subnet_id=subnet.id, route_table_id=table.id, opts=child
            )
            private.append(subnet)
            private_tables.append(table)

        aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=self.vpc.id,
            service_name=context.region.apply(lambda region: f"com.amazonaws.{region}.s3"),
            vpc_endpoint_type="Gateway",
            route_table_ids=[table.id for table in private_tables],
            tags=named("s3"),
            opts=child,
        )

        log_group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs",
            retention_in_days=args.flow_log_retention_days,
            kms_key_id=args.kms_key_arn,
            tags=tags,
            opts=stateful(self, args.protect),
        )
        role = aws.iam.Role(
            f"{name}-flow-logs",
            description="VPC Flow Logs writes to its log group",
            assume_role_policy=policy_document(
                flow_log_trust_policy,
                account_id=context.account_id,
                partition=context.partition,
                region=context.region,
            ),
            path=args.iam_path,
            permissions_boundary=args.permissions_boundary_arn,
            tags=tags,
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-flow-logs",
            role=role.id,
            policy=policy_document(flow_log_role_policy, log_group_arn=log_group.arn),
            opts=child,
        )
        aws.ec2.FlowLog(
            f"{name}-flow-logs",
            vpc_id=self.vpc.id,
            traffic_type=args.flow_log_traffic_type,
            log_destination_type="cloud-watch-logs",
            log_destination=log_group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
            tags=tags,
            opts=child,
        )

        self.vpc_id = self.vpc.id
        self.public_subnet_ids = [subnet.id for subnet in public]
        self.private_subnet_ids = [subnet.id for subnet in private]
        self.flow_log_group_name = log_group.name
        self.register_outputs(
            {
                "vpcId": self.vpc_id,
                "publicSubnetIds": self.public_subnet_ids,
                "privateSubnetIds": self.private_subnet_ids,
                "flowLogGroupName": self.flow_log_group_name,
            }
        )
