"""Compute: ServiceAccountRole (IRSA), Cluster."""

from __future__ import annotations

import json

import pulumi
import pytest
from conftest import ACCOUNT, after_registration, component_children_ok

from mlops_platform.components import ArgsError
from mlops_platform.components.compute import (
    SERVICE_ACCOUNT_ROLE_TYPE,
    ServiceAccountRole,
    ServiceAccountRoleArgs,
    irsa_trust_policy,
)

ISSUER = "https://oidc.eks.eu-west-1.amazonaws.com/id/ABCDEF0123456789"
OIDC_ARN = (
    f"arn:aws:iam::{ACCOUNT}:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABCDEF0123456789"
)


def test_irsa_trust_is_exact_for_one_service_account():
    doc = irsa_trust_policy(
        provider_arn=OIDC_ARN, issuer=ISSUER, namespace="arc-runners", service_account="runner"
    )
    [stmt] = doc["Statement"]
    host = ISSUER.removeprefix("https://")
    assert stmt["Principal"] == {"Federated": OIDC_ARN}
    assert stmt["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert stmt["Condition"] == {
        "StringEquals": {
            f"{host}:aud": "sts.amazonaws.com",
            f"{host}:sub": ["system:serviceaccount:arc-runners:runner"],
        }
    }
    assert "*" not in json.dumps(doc)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("namespace", "*"),
        ("namespace", "Kube-System"),
        ("service_account", "runner-*"),
        ("service_account", ""),
        ("oidc_provider_arn", "arn:aws:iam::123:oidc-provider/x"),
        ("max_session_hours", 13),
        ("iam_path", "no-slashes"),
        ("managed_policy_arns", ["AmazonS3ReadOnly"]),
        ("policies", {"bad name!": "{}"}),
    ],
)
def test_service_account_role_args_reject(field, value):
    kwargs = dict(
        oidc_provider_arn=OIDC_ARN, oidc_issuer=ISSUER, namespace="ns", service_account="sa"
    )
    with pytest.raises(ArgsError) as error:
        ServiceAccountRoleArgs(**{**kwargs, field: value})
    assert error.value.field.split(".")[0].split("[")[0] == field


@pulumi.runtime.test
def test_service_account_role_registers_role_and_policies(mocks):
    ServiceAccountRole(
        "ebs-csi",
        ServiceAccountRoleArgs(
            oidc_provider_arn=OIDC_ARN,
            oidc_issuer=ISSUER,
            namespace="kube-system",
            service_account="ebs-csi-controller-sa",
            policies={"extra": '{"Version":"2012-10-17","Statement":[]}'},
            managed_policy_arns=["arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"],
            iam_path="/mlops-platform/",
            tags={"team": "ml"},
        ),
    )

    def check(m):
        component_children_ok(m, SERVICE_ACCOUNT_ROLE_TYPE, "ebs-csi")
        role = m.find("aws:iam/role:Role", "ebs-csi-role")
        trust = json.loads(role.inputs["assumeRolePolicy"])
        cond = trust["Statement"][0]["Condition"]
        assert cond["StringEquals"]["oidc.eks.eu-west-1.amazonaws.com/id/ABCDEF0123456789:sub"] == [
            "system:serviceaccount:kube-system:ebs-csi-controller-sa"
        ]
        assert role.inputs["path"] == "/mlops-platform/"
        assert role.inputs["maxSessionDuration"] == 3600
        inline = m.find("aws:iam/rolePolicy:RolePolicy", "ebs-csi-extra")
        assert inline.inputs["name"] == "extra"
        attachment = m.find(
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "ebs-csi-managed-0"
        )
        assert attachment.inputs["policyArn"].endswith("AmazonEBSCSIDriverPolicy")

    return after_registration(mocks, check)


# --- Cluster -------------------------------------------------------------------------------------

from mlops_platform.components.compute import (  # noqa: E402
    CLUSTER_TYPE,
    Cluster,
    ClusterArgs,
    NodePool,
    architecture,
    cluster_autoscaler_policy,
    is_accelerated,
    is_gpu_instance,
    kubeconfig,
)

KEY = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/11111111-2222-4333-a444-555555555555"
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/platform-admin"
SYSTEM = NodePool(name="system", pool="system", instance_types=["m7i.large"], min_size=2)
RUNNERS = NodePool(
    name="runners", pool="runners", instance_types=["m7i.2xlarge"], capacity_type="SPOT",
    min_size=0, max_size=10,
)  # fmt: skip
GPU = NodePool(
    name="gpu", pool="gpu", instance_types=["g6.xlarge", "g5.xlarge"], min_size=0, max_size=2
)


def cluster_args(**kwargs):
    return ClusterArgs(
        **{
            "subnet_ids": ["subnet-a", "subnet-b"],
            "kms_key_arn": KEY,
            "node_pools": [SYSTEM, RUNNERS, GPU],
            **kwargs,
        }
    )


@pytest.mark.parametrize(
    ("instance_type", "gpu", "accelerated", "arch"),
    [
        ("g6.xlarge", True, True, "x86_64"),
        ("g5g.xlarge", True, True, "arm64"),
        ("p5.48xlarge", True, True, "x86_64"),
        ("p6-b200.48xlarge", True, True, "x86_64"),
        ("p6e-gb200.36xlarge", True, True, "arm64"),
        ("g4ad.xlarge", False, True, "x86_64"),  # AMD GPU: not for the NVIDIA AMIs
        ("g3.4xlarge", False, True, "x86_64"),  # too old for the AL2023 NVIDIA AMIs
        ("inf2.xlarge", False, True, "x86_64"),
        ("m7g.large", False, False, "arm64"),
        ("c7gn.large", False, False, "arm64"),
        ("m7i.large", False, False, "x86_64"),
    ],
)
def test_instance_classification(instance_type, gpu, accelerated, arch):
    assert is_gpu_instance(instance_type) is gpu
    assert is_accelerated(instance_type) is accelerated
    assert architecture(instance_type) == arch


def test_node_pool_ami_follows_pool_and_architecture():
    assert SYSTEM.ami_type == "AL2023_x86_64_STANDARD"
    assert GPU.ami_type == "AL2023_x86_64_NVIDIA"
    arm = NodePool(name="arm", pool="runners", instance_types=["m7g.large"])
    assert arm.ami_type == "AL2023_ARM_64_STANDARD"


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"node_pools": [SYSTEM, NodePool(name="r", pool="runners", min_size=3, max_size=2)]},
         "node_pools[1].min_size", "max_size=2"),
        ({"node_pools": [SYSTEM, NodePool(name="r", pool="runners", instance_types=["g6.xlarge"])]},
         "node_pools[1].instance_types[0]", "pool: gpu"),
        ({"node_pools": [SYSTEM, NodePool(name="g", pool="gpu", instance_types=["m7i.large"])]},
         "node_pools[1].instance_types[0]", "NVIDIA GPU"),
        ({"node_pools": [NodePool(name="s", instance_types=["m7i.huge"])]},
         "node_pools[0].instance_types[0]", "EC2 instance type"),
        ({"node_pools": [NodePool(name="s", capacity_type="SPOT")]},
         "node_pools[0].capacity_type", "ON_DEMAND"),
        ({"node_pools": [NodePool(name="s", instance_types=["m7i.large", "m7g.large"])]},
         "node_pools[0].instance_types", "one CPU architecture"),
        ({"node_pools": [SYSTEM, SYSTEM]}, "node_pools[1].name", "unique"),
        ({"node_pools": [RUNNERS]}, "node_pools", "exactly one pool with pool: system"),
        ({"node_pools": [NodePool(name="s", min_size=0)]}, "node_pools[0].min_size", "at least 1"),
        ({"node_pools": [NodePool(name="s", desired_size=9)]}, "node_pools[0].desired_size", "1-3"),
        ({"node_pools": [NodePool(name="s", imds_hop_limit=3)]}, "node_pools[0].imds_hop_limit", "1 to 2"),
        ({"node_pools": [NodePool(name="s", labels={"mlops-platform/pool": "x"})]},
         "node_pools[0].labels.mlops-platform/pool", "set by pool"),
        ({"node_pools": [NodePool(name="S")]}, "node_pools[0].name", "lowercase"),
        ({"node_pools": [NodePool(name="s", labels={"team name": "ml"})]},
         "node_pools[0].labels.team name", "label key"),
        ({"node_pools": [NodePool(name="s", labels={"node.kubernetes.io/x": "y"})]},
         "node_pools[0].labels.node.kubernetes.io/x", "not under kubernetes.io"),
        ({"node_pools": [NodePool(name="s", labels={"team": "a b"})]},
         "node_pools[0].labels.team", "label value"),
        ({"node_pools": [NodePool(name="s", labels={"x" * 64: "y"})]},
         f"node_pools[0].labels.{'x' * 64}", "63 characters"),
        ({"node_pools": [SYSTEM, NodePool(name="r", pool="runners", instance_types=["inf2.xlarge"])]},
         "node_pools[1].instance_types[0]", "accelerated"),
        ({"node_pools": [SYSTEM, NodePool(name="g", pool="gpu", instance_types=["g4ad.xlarge"])]},
         "node_pools[1].instance_types[0]", "EKS NVIDIA AMIs"),
        ({"admin_principal_arns": [f"arn:aws:sts::{ACCOUNT}:assumed-role/admin/me"]},
         "admin_principal_arns[0]", "IAM role"),
        ({"enable_public_endpoint": True}, "public_access_cidrs", "required"),
        ({"enable_public_endpoint": True, "public_access_cidrs": ["0.0.0.0/0"]},
         "public_access_cidrs[0]", "never 0.0.0.0/0"),
        ({"enable_public_endpoint": True, "public_access_cidrs": ["128.0.0.0/1"]},
         "public_access_cidrs[0]", "/8 or smaller"),
        ({"enable_public_endpoint": True, "public_access_cidrs": ["203.0.113.1/24"]},
         "public_access_cidrs[0]", "IPv4 CIDR"),
        ({"public_access_cidrs": ["203.0.113.0/24"]}, "public_access_cidrs", "only with"),
        ({"kubernetes_version": "1.35.1"}, "kubernetes_version", "1.35"),
        ({"log_types": ["api", "audit"]}, "log_types", "authenticator"),
        ({"log_types": ["api", "audit", "authenticator", "all"]}, "log_types[3]", "scheduler"),
        ({"log_retention_days": 45}, "log_retention_days", "90"),
        ({"addon_versions": {"istio": "v1.0.0-eksbuild.1"}}, "addon_versions.istio", "coredns"),
        ({"addon_versions": {"coredns": "1.11"}}, "addon_versions.coredns", "eksbuild"),
        ({"admin_principal_arns": ["admin"]}, "admin_principal_arns[0]", "IAM role"),
        ({"subnet_ids": ["subnet-a"]}, "subnet_ids", "2+ zones"),
        ({"cluster_name": "-bad"}, "cluster_name", "letters"),
        ({"nvidia_device_plugin_version": "latest"}, "nvidia_device_plugin_version", "0.20.0"),
    ],
)  # fmt: skip
def test_cluster_args_reject(kwargs, field, message):
    with pytest.raises(ArgsError) as error:
        cluster_args(**kwargs)
    assert error.value.field == field
    assert message in error.value.allowed


def test_cluster_args_defaults_are_private_with_one_system_pool():
    args = ClusterArgs(subnet_ids=["a", "b"], kms_key_arn=KEY)
    assert args.enable_public_endpoint is False
    assert [p.pool for p in args.node_pools] == ["system"]
    assert set(args.log_types) == {"api", "audit", "authenticator"}


def test_autoscaler_resizes_only_this_clusters_groups():
    doc = cluster_autoscaler_policy(
        partition="aws", region="eu-west-1", account_id=ACCOUNT, cluster_name="prod"
    )
    writes = [s for s in doc["Statement"] if "autoscaling:SetDesiredCapacity" in s["Action"]]
    assert writes[0]["Condition"] == {
        "StringEquals": {"aws:ResourceTag/k8s.io/cluster-autoscaler/prod": "owned"}
    }


def test_kubeconfig_uses_aws_eks_get_token_and_no_static_token():
    config = json.loads(
        kubeconfig(
            cluster_name="c", endpoint="https://x", certificate_authority="Q0E=",
            region="eu-west-1", profile="prod",
        )
    )  # fmt: skip
    user = config["users"][0]["user"]
    assert user["exec"]["args"] == [
        "eks",
        "get-token",
        "--cluster-name",
        "c",
        "--region",
        "eu-west-1",
    ]
    assert user["exec"]["env"] == [{"name": "AWS_PROFILE", "value": "prod"}]
    assert "token" not in user
    assert config["clusters"][0]["cluster"]["server"] == "https://x"


def build_cluster(**kwargs):
    return Cluster(
        "eks",
        cluster_args(
            cluster_name="mlops-test",
            admin_principal_arns=[ADMIN],
            viewer_principal_arns=[f"arn:aws:iam::{ACCOUNT}:role/ci-preview"],
            addon_versions={"vpc-cni": "v1.20.4-eksbuild.1", "coredns": "v1.12.4-eksbuild.1"},
            iam_path="/mlops-platform/",
            tags={"team": "ml"},
            **kwargs,
        ),
    )


EKS = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"


@pulumi.runtime.test
def test_cluster_is_private_encrypted_logged_and_api_authenticated(mocks):
    build_cluster()

    def check(m):
        component_children_ok(m, CLUSTER_TYPE, "eks")
        eks = m.find(EKS, "eks-eks")
        vpc = eks.inputs["vpcConfig"]
        assert vpc["endpointPrivateAccess"] is True
        assert vpc["endpointPublicAccess"] is False
        assert "publicAccessCidrs" not in vpc
        assert eks.inputs["accessConfig"] == {
            "authenticationMode": "API",
            "bootstrapClusterCreatorAdminPermissions": False,
        }
        assert eks.inputs["encryptionConfig"] == {
            "provider": {"keyArn": KEY},
            "resources": ["secrets"],
        }
        assert eks.inputs["enabledClusterLogTypes"] == ["api", "audit", "authenticator"]
        assert eks.inputs["version"] == "1.35"
        assert eks.inputs["deletionProtection"] is True
        group = m.find("aws:cloudwatch/logGroup:LogGroup", "eks-control-plane")
        assert group.inputs["name"] == "/aws/eks/mlops-test/cluster"
        assert group.inputs["kmsKeyId"] == KEY and group.inputs["retentionInDays"] == 90
        assert group.urn in eks.dependencies
        role = m.find("aws:iam/role:Role", "eks-cluster")
        assert json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Principal"] == {
            "Service": "eks.amazonaws.com"
        }
        assert role.inputs["path"] == "/mlops-platform/"
        entry = m.find("aws:eks/accessEntry:AccessEntry", "eks-admin-0")
        assert entry.inputs["principalArn"] == ADMIN
        association = m.find(
            "aws:eks/accessPolicyAssociation:AccessPolicyAssociation", "eks-admin-0"
        )
        assert association.inputs["policyArn"] == (
            "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
        )
        assert association.inputs["accessScope"] == {"type": "cluster"}
        viewer = m.find("aws:eks/accessPolicyAssociation:AccessPolicyAssociation", "eks-viewer-0")
        assert viewer.inputs["policyArn"].endswith("cluster-access-policy/AmazonEKSAdminViewPolicy")
        assert viewer.inputs["principalArn"].endswith(":role/ci-preview")
        assert not m.of_type("kubernetes:core/v1:ConfigMap")  # no aws-auth

    return after_registration(mocks, check)


@pulumi.runtime.test
def test_public_endpoint_is_restricted_to_configured_cidrs(mocks):
    build_cluster(enable_public_endpoint=True, public_access_cidrs=["203.0.113.0/24"])

    def check(m):
        vpc = m.find(EKS, "eks-eks").inputs["vpcConfig"]
        assert vpc["endpointPublicAccess"] is True
        assert vpc["publicAccessCidrs"] == ["203.0.113.0/24"]

    return after_registration(mocks, check)


@pulumi.runtime.test
def test_node_groups_gpu_taint_imdsv2_and_no_ssh(mocks):
    build_cluster()

    def check(m):
        groups = {g.name: g for g in m.of_type(NODE_GROUP)}
        assert set(groups) == {"eks-system", "eks-runners", "eks-gpu"}
        gpu = groups["eks-gpu"]
        assert gpu.inputs["amiType"] == "AL2023_x86_64_NVIDIA"
        assert gpu.inputs["taints"] == [
            {"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}
        ]
        assert gpu.inputs["scalingConfig"] == {"minSize": 0, "maxSize": 2, "desiredSize": 0}
        assert gpu.inputs["labels"]["mlops-platform/pool"] == "gpu"
        assert groups["eks-runners"].inputs["capacityType"] == "SPOT"
        assert groups["eks-runners"].inputs["labels"] == {"mlops-platform/pool": "runners"}
        assert groups["eks-system"].inputs["capacityType"] == "ON_DEMAND"
        assert not groups["eks-system"].inputs.get("taints")
        for name, group in groups.items():
            assert "remoteAccess" not in group.inputs
            assert group.inputs["updateConfig"] == {"maxUnavailablePercentage": 33}
            assert group.inputs["subnetIds"] == ["subnet-a", "subnet-b"]
            template = m.find("aws:ec2/launchTemplate:LaunchTemplate", name)
            assert group.inputs["launchTemplate"]["id"] == template.id
            assert template.inputs["metadataOptions"] == {
                "httpEndpoint": "enabled",
                "httpTokens": "required",
                "httpPutResponseHopLimit": 1,
            }
            assert "keyName" not in template.inputs
            [disk] = template.inputs["blockDeviceMappings"]
            assert disk["ebs"]["encrypted"] == "true"
        node_role = m.find("aws:iam/role:Role", "eks-node")
        policies = [
            a.inputs["policyArn"].rsplit("/", 1)[-1]
            for a in m.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
            if a.inputs["role"] == node_role.outputs["name"]
        ]
        assert sorted(policies) == [
            "AmazonEC2ContainerRegistryReadOnly",
            "AmazonEKSWorkerNodePolicy",
        ]

    return after_registration(mocks, check)


@pulumi.runtime.test
def test_addons_are_pinned_ordered_and_use_irsa(mocks):
    build_cluster()

    def check(m):
        addons = {a.inputs["addonName"]: a for a in m.of_type("aws:eks/addon:Addon")}
        assert set(addons) == {
            "vpc-cni", "kube-proxy", "eks-pod-identity-agent", "coredns", "aws-ebs-csi-driver"
        }  # fmt: skip
        assert addons["vpc-cni"].inputs["addonVersion"] == "v1.20.4-eksbuild.1"
        # NetworkPolicies are enforced (the add-on's configuration schema key, a string).
        assert json.loads(addons["vpc-cni"].inputs["configurationValues"]) == {
            "enableNetworkPolicy": "true"
        }
        assert "addonVersion" not in addons["kube-proxy"].inputs
        node_urns = {g.urn for g in m.of_type(NODE_GROUP)}
        for name in ("coredns", "aws-ebs-csi-driver"):
            assert node_urns <= set(addons[name].dependencies)
        for group in m.of_type(NODE_GROUP):
            assert addons["vpc-cni"].urn in group.dependencies
        issuer = m.find(EKS, "eks-eks").outputs["identities"][0]["oidcs"][0]["issuer"]
        host = issuer.removeprefix("https://")
        for addon, sa in (("vpc-cni", "aws-node"), ("aws-ebs-csi-driver", "ebs-csi-controller-sa")):
            role_name = {"vpc-cni": "eks-vpc-cni-role", "aws-ebs-csi-driver": "eks-ebs-csi-role"}[
                addon
            ]
            role = m.find("aws:iam/role:Role", role_name)
            assert addons[addon].inputs["serviceAccountRoleArn"] == role.outputs["arn"]
            condition = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Condition"]
            assert condition == {
                "StringEquals": {
                    f"{host}:aud": "sts.amazonaws.com",
                    f"{host}:sub": [f"system:serviceaccount:kube-system:{sa}"],
                }
            }
        oidc = m.find("aws:iam/openIdConnectProvider:OpenIdConnectProvider", "eks-oidc")
        assert oidc.inputs["url"] == issuer
        assert oidc.inputs["clientIdLists"] == ["sts.amazonaws.com"]

    return after_registration(mocks, check)


@pulumi.runtime.test
def test_kubernetes_resources_use_the_clusters_provider_and_kubeconfig_is_secret(mocks):
    cluster = build_cluster()

    def check(m):
        provider = m.find("pulumi:providers:kubernetes", "eks-k8s")
        assert provider.inputs["kubeconfig"] == "[secret]"
        # Workloads on this provider wait for nodes, DNS and the access entries.
        waits_for = set(provider.dependencies)
        assert {g.urn for g in m.of_type(NODE_GROUP)} <= waits_for
        assert m.find("aws:eks/addon:Addon", "eks-coredns").urn in waits_for
        assert {
            a.urn for a in m.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
        } <= waits_for
        releases = {r.name: r for r in m.of_type("kubernetes:helm.sh/v3:Release")}
        assert set(releases) == {"eks-nvidia-device-plugin", "eks-cluster-autoscaler"}
        for release in releases.values():
            assert release.provider.startswith(provider.urn + "::")
        plugin = releases["eks-nvidia-device-plugin"].inputs
        assert plugin["timeout"] == 900 and plugin["atomic"] is True
        assert plugin["chart"] == "nvidia-device-plugin" and plugin["version"] == "0.20.0"
        assert plugin["values"]["nodeSelector"] == {"mlops-platform/pool": "gpu"}
        assert plugin["values"]["tolerations"] == [
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
        ]
        autoscaler = releases["eks-cluster-autoscaler"].inputs["values"]
        assert autoscaler["autoDiscovery"] == {"clusterName": "mlops-test"}
        role = m.find("aws:iam/role:Role", "eks-cluster-autoscaler-role")
        assert autoscaler["rbac"]["serviceAccount"]["annotations"] == {
            "eks.amazonaws.com/role-arn": role.outputs["arn"]
        }
        gpu_label = m.find(NODE_GROUP, "eks-gpu").inputs["labels"]["nvidia.com/gpu.present"]
        assert gpu_label == "true"

    def kubeconfig_then_check(kube):
        assert json.loads(kube)["users"][0]["user"]["exec"]["command"] == "aws"
        return after_registration(mocks, check)

    # The provider's kubeconfig input is masked as a secret above; its content is checked here.
    return cluster.kubeconfig.apply(kubeconfig_then_check)


@pulumi.runtime.test
def test_no_gpu_pool_no_device_plugin_and_autoscaler_optional(mocks):
    Cluster(
        "small",
        cluster_args(node_pools=[SYSTEM], cluster_autoscaler_version=None, protect=False),
    )

    def check(m):
        assert not m.of_type("kubernetes:helm.sh/v3:Release")
        assert m.find(EKS, "small-eks").inputs["deletionProtection"] is False

    return after_registration(mocks, check)
