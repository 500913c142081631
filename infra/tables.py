"""Data only: the price tables and typical creation times the plan's estimate uses.

Every figure names where it came from and when it was read (offline: the project's stored
copies of public pages, read on 2026-11-27). ``verified: False`` marks a figure for which no
page was found offline: it is the AWS list price as the author knows it and must be checked on
the named AWS pricing page before anyone relies on it. Changing a figure changes the estimate
the tests pin: update both, and the README table, in one commit.
"""

from __future__ import annotations

from typing import Any

READ_ON = "2026-11-27"
HOURS_PER_MONTH = 730

# On-demand prices, USD. Keys: "<item>" or "<family>:<instance type|size>".
PRICES: dict[str, dict[str, dict[str, Any]]] = {
    "eu-west-1": {
        "eks-cluster-hour": {
            "usd": 0.10,
            "unit": "cluster-hour (standard support)",
            "source": "https://cloudburn.io/blog/amazon-eks-pricing",
            "read": READ_ON,
            "note": "page of 2026-03-13 quoting AWS's us-east-1 rate ($73/month); the EKS "
            "standard-support fee is the same in every commercial region "
            "(https://aws.amazon.com/eks/pricing/). Extended support ($0.60) is not used: "
            "clusters set upgradePolicy STANDARD.",
            "verified": True,
        },
        "nat-gateway-hour": {
            "usd": 0.048,
            "unit": "gateway-hour",
            "source": "https://cloudpipelines.pages.dev/guides/aws-nat-gateway-pricing-2026/",
            "read": READ_ON,
            "note": "2026 guide: Europe (Ireland, Frankfurt, London) $0.048-$0.052 per hour; "
            "Ireland is the low end. Data processing (same range per GB) is not estimated.",
            "verified": True,
        },
        "public-ipv4-hour": {
            "usd": 0.005,
            "unit": "address-hour (each NAT gateway's Elastic IP)",
            "source": "https://cloudburn.io/blog/aws-nat-gateway-pricing",
            "read": READ_ON,
            "note": "page of 2026-02-24; the public IPv4 charge is the same in every region.",
            "verified": True,
        },
        "kms-key-month": {
            "usd": 1.00,
            "unit": "customer managed key-month",
            "source": "https://aws.amazon.com/kms/pricing/",
            "read": READ_ON,
            "note": "undated AWS page; each rotated key version adds $1/month from the first "
            "rotation (a year after creation with rotationPeriodInDays 365), not counted.",
            "verified": True,
        },
        "cloudwatch-alarm-month": {
            "usd": 0.10,
            "unit": "standard-resolution alarm-month",
            "source": "https://c3x.dev/resources/aws/aws_cloudwatch_metric_alarm",
            "read": READ_ON,
            "note": "undated page, no region stated (AWS's us-east-1 rate); fallback for "
            "eu-west-1.",
            "verified": True,
        },
        "s3-standard-gb-month": {
            "usd": 0.023,
            "unit": "GB-month, S3 Standard, first 50 TB",
            "source": "https://www.cloudhealthtech.com/blog/s3-cost-aws-cloud-storage-costs-explained",
            "read": READ_ON,
            "note": "undated page: $0.023-$0.026 per GB-month depending on region; the low end "
            "is the us-east-1 and eu-west-1 first tier.",
            "verified": True,
        },
        "ec2:t3.large": {
            "usd": 0.0912,
            "unit": "instance-hour, Linux, on-demand",
            "source": "https://aws.amazon.com/ec2/pricing/on-demand/",
            "read": None,
            "note": "no copy of the EC2 price list offline; eu-west-1 list price as known to "
            "the author, to be checked.",
            "verified": False,
        },
        "ec2:m7i.large": {
            "usd": 0.1124,
            "unit": "instance-hour, Linux, on-demand",
            "source": "https://aws.amazon.com/ec2/pricing/on-demand/",
            "read": None,
            "note": "no copy of the EC2 price list offline; eu-west-1 list price as known to "
            "the author, to be checked.",
            "verified": False,
        },
        "sagemaker-hosting:ml.m5.large": {
            "usd": 0.115,
            "unit": "instance-hour, real-time inference",
            "source": "https://randeepbhatia.com/courses/aws-serverless-ml/sagemaker-serverless",
            "read": READ_ON,
            "note": "undated page, no region stated (AWS's us-east-1 rate); fallback for "
            "eu-west-1, which lists higher.",
            "verified": True,
        },
        "sagemaker-hosting:ml.m5.xlarge": {
            "usd": 0.269,
            "unit": "instance-hour, real-time inference",
            "source": "https://zircon.tech/blog/the-real-cost-of-running-ai-models-on-aws-sagemaker-inference-deep-dive",
            "read": READ_ON,
            "note": "page states us-east-1 as of October 2025; fallback for eu-west-1.",
            "verified": True,
        },
        "sagemaker-serverless-gb-second": {
            "usd": 0.00002,
            "unit": "GB-second of serverless inference compute",
            "source": "https://aws.amazon.com/sagemaker/pricing/",
            "read": None,
            "note": "no page with the per-GB-second rate found offline; us-east-1 list price "
            "as known to the author ($0.0000200/s at 1 GB), to be checked.",
            "verified": False,
        },
        "mlflow:Small": {
            "usd": 0.60,
            "unit": "tracking-server-hour",
            "source": "https://aws.amazon.com/sagemaker/pricing/",
            "read": None,
            "note": "no page with MLflow tracking-server rates found offline; us-east-1 list "
            "price as known to the author, to be checked.",
            "verified": False,
        },
        "mlflow:Medium": {
            "usd": 1.40,
            "unit": "tracking-server-hour",
            "source": "https://aws.amazon.com/sagemaker/pricing/",
            "read": None,
            "note": "no page with MLflow tracking-server rates found offline; us-east-1 list "
            "price as known to the author, to be checked.",
            "verified": False,
        },
    },
}

# What the estimate assumes about usage it cannot see in the plan.
S3_GB_PER_BUCKET = 100
SERVERLESS_INVOCATIONS_PER_MONTH = 10_000
SERVERLESS_SECONDS_PER_INVOCATION = 1.0

ASSUMPTIONS = (
    f"{HOURS_PER_MONTH} hours per month; on-demand prices, before tax, credits and discounts",
    "node groups run at their minimum size (pools with minSize 0, e.g. GPU and runner pools, "
    "cost $0 while idle); SPOT pools are priced at on-demand (an upper bound)",
    f"each S3 bucket stores {S3_GB_PER_BUCKET} GB in S3 Standard; requests not counted",
    f"serverless endpoints: {SERVERLESS_INVOCATIONS_PER_MONTH} invocations a month of "
    f"{SERVERLESS_SECONDS_PER_INVOCATION:g} s at the configured memory",
    "provisioned endpoints run their initial instance count; autoscaling above it not counted",
    "not counted: data transfer and NAT data processing, CloudWatch Logs ingestion and storage, "
    "EBS root volumes of nodes, ECR storage, KMS and S3 requests, SNS notifications",
)

# Typical minutes from create request to ready, per resource type (first deployment). Types not
# listed take DEFAULT_CREATE_MINUTES; components, providers and the stack take 0.
CREATE_MINUTES: dict[str, dict[str, Any]] = {
    "aws:eks/cluster:Cluster": {
        "minutes": 15.0,
        "source": "https://easontechtalk.com/unofficial-eks-cluster-creation-performance-across-aws-regions",
        "note": "measured 912.86 s for a cluster in eu-west-1",
    },
    "aws:sagemaker/mlflowTrackingServer:MlflowTrackingServer": {
        "minutes": 25.0,
        "source": "https://docs.aws.amazon.com/sagemaker/latest/dg/mlflow-create-tracking-server.html",
        "note": "AWS documents creation taking up to 25 minutes (not re-read offline)",
    },
    "aws:sagemaker/endpoint:Endpoint": {
        "minutes": 8.0,
        "source": None,
        "note": "typical for a small CPU instance variant; serverless is similar",
    },
    "aws:eks/nodeGroup:NodeGroup": {
        "minutes": 4.0,
        "source": None,
        "note": "typical: launch, join and become Ready",
    },
    "docker:index/image:Image": {
        "minutes": 5.0,
        "source": None,
        "note": "build of serving/ and push to ECR on the deploying machine",
    },
    "kubernetes:helm.sh/v3:Release": {
        "minutes": 2.0,
        "source": None,
        "note": "atomic install waiting for the pods to be ready",
    },
    "aws:ec2/natGateway:NatGateway": {
        "minutes": 2.0,
        "source": None,
        "note": "typical pending -> available",
    },
    "aws:eks/addon:Addon": {
        "minutes": 1.5,
        "source": None,
        "note": "typical 1-2 minutes to ACTIVE",
    },
    "aws:ec2/vpc:Vpc": {"minutes": 0.25, "source": None, "note": "typical"},
    "aws:kms/key:Key": {"minutes": 0.25, "source": None, "note": "typical"},
    "aws:iam/role:Role": {"minutes": 0.2, "source": None, "note": "with IAM propagation"},
    "aws:sagemaker/model:Model": {"minutes": 0.2, "source": None, "note": "typical"},
}
DEFAULT_CREATE_MINUTES = 0.1
