"""Runners: GithubRunners (ARC scale sets), GitlabRunner, and the runner IAM policy."""

from __future__ import annotations

import dataclasses
import json
import tomllib

import pulumi
import pulumi_kubernetes as k8s
import pytest
from conftest import ACCOUNT, KEY_ARN, REGION, after_registration, component_children_ok, policy

from mlops_platform.components import ArgsError
from mlops_platform.components.compute import (
    GPU_POOL,
    GPU_RESOURCE,
    POOL_LABEL,
    RUNNER_POOL,
    SYSTEM_POOL,
)
from mlops_platform.components.runners import (
    ARC_CONTROLLER_CHART,
    ARC_SCALE_SET_CHART,
    ARC_VERSION,
    DIND_IMAGE,
    GITHUB_RUNNERS_TYPE,
    GITLAB_RUNNER_TYPE,
    GITLAB_RUNNER_VERSION,
    IRSA_ANNOTATION,
    JOB_CAPABILITIES,
    PINNED_IMAGE,
    GithubRunners,
    GithubRunnersArgs,
    GitlabRunner,
    GitlabRunnerArgs,
    RunnerAccess,
    RunnerScaleSet,
    check_extra_statements,
    gitlab_runner_config,
    job_security_contexts,
    runner_access_policy,
    runner_network_policies,
    scale_set_pod_spec,
    scale_set_values,
)

ISSUER = "https://oidc.eks.eu-west-1.amazonaws.com/id/ABCDEF0123456789"
HOST = ISSUER.removeprefix("https://")
OIDC_ARN = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{HOST}"
REPO_ARN = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/mlops/model"
DVC_ARN = "arn:aws:s3:::dvc-bucket"
ARTIFACTS_ARN = "arn:aws:s3:::artifacts-bucket"
PRIVATE_KEY = (
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAsuperSecretKeyMaterial42\n"
    "-----END RSA PRIVATE KEY-----\n"
)
RUNNER_TOKEN = "glrt-superSecretRunnerToken42"

RELEASE = "kubernetes:helm.sh/v3:Release"
SECRET = "kubernetes:core/v1:Secret"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"

ACCESS = RunnerAccess(
    ecr_repository_arns=[REPO_ARN],
    dvc_bucket_arn=DVC_ARN,
    dvc_prefix="dvc",
    artifacts_bucket_arn=ARTIFACTS_ARN,
    kms_key_arn=KEY_ARN,
    extra_statements=[
        {"Effect": "Allow", "Action": "sagemaker:DescribeModelPackage", "Resource": "*"}
    ],
)


def github_args(**overrides) -> GithubRunnersArgs:
    kwargs = dict(
        oidc_provider_arn=OIDC_ARN,
        oidc_issuer=ISSUER,
        github_config_url="https://github.com/acme",
        github_app_id="123456",
        github_app_installation_id="654321",
        github_app_private_key=PRIVATE_KEY,
        access=ACCESS,
    )
    kwargs.update(overrides)
    return GithubRunnersArgs(**kwargs)


def gitlab_args(**overrides) -> GitlabRunnerArgs:
    kwargs = dict(
        oidc_provider_arn=OIDC_ARN, oidc_issuer=ISSUER, runner_token=RUNNER_TOKEN, access=ACCESS
    )
    kwargs.update(overrides)
    return GitlabRunnerArgs(**kwargs)


def k8s_provider() -> k8s.Provider:
    return k8s.Provider("k8s", kubeconfig="apiVersion: v1\nkind: Config\n")


def provider_ref(m, name: str = "k8s") -> str:
    reg = m.find("pulumi:providers:kubernetes", name)
    return f"{reg.urn}::{reg.id}"


def assert_all_kubernetes_on(m, ref: str) -> None:
    kube = [r for r in m.registrations if r.type.startswith("kubernetes:")]
    assert kube
    for reg in kube:
        assert reg.provider == ref, (reg.type, reg.name, reg.provider)


def assert_no_plain(m, *texts: str) -> None:
    dump = json.dumps([r.to_json() for r in m.registrations])
    for text in texts:
        assert text not in dump
        assert text.splitlines()[1 if "\n" in text else 0] not in dump


def trust_of(m, role_name: str) -> dict:
    return policy(m.find(ROLE, role_name), "assumeRolePolicy")


# --- pure: the runner policy -------------------------------------------------------------------


def full_policy(**overrides) -> dict:
    kwargs = dict(
        region=REGION,
        ecr_repository_arns=[REPO_ARN],
        dvc_bucket_arn=DVC_ARN,
        dvc_prefix="dvc",
        artifacts_bucket_arn=ARTIFACTS_ARN,
        kms_key_arn=KEY_ARN,
    )
    kwargs.update(overrides)
    return runner_access_policy(**kwargs)


def by_sid(doc: dict) -> dict:
    return {s["Sid"]: s for s in doc["Statement"]}


def test_runner_policy_grants_ecr_dvc_artifacts_and_nothing_else():
    stmts = by_sid(full_policy())
    assert set(stmts) == {
        "EcrLogin",
        "EcrPushPull",
        "DvcListRemote",
        "DvcReadWrite",
        "ArtifactsList",
        "ArtifactsRead",
        "UseKeyThroughS3",
    }
    assert stmts["EcrLogin"]["Action"] == "ecr:GetAuthorizationToken"
    assert stmts["EcrPushPull"]["Resource"] == [REPO_ARN]
    assert "ecr:PutImage" in stmts["EcrPushPull"]["Action"]
    assert "ecr:BatchGetImage" in stmts["EcrPushPull"]["Action"]
    assert stmts["DvcReadWrite"]["Resource"] == f"{DVC_ARN}/dvc/*"
    assert "s3:PutObject" in stmts["DvcReadWrite"]["Action"]
    assert stmts["ArtifactsRead"] == {
        "Sid": "ArtifactsRead",
        "Effect": "Allow",
        "Action": ["s3:GetObject", "s3:GetObjectVersion"],
        "Resource": f"{ARTIFACTS_ARN}/*",
    }
    assert stmts["UseKeyThroughS3"]["Resource"] == KEY_ARN
    assert stmts["UseKeyThroughS3"]["Condition"] == {
        "StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}
    }


def test_runner_policy_has_no_iam_and_no_star_on_writes():
    for stmt in full_policy()["Statement"]:
        actions = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
        assert not any(a.lower().startswith("iam:") for a in actions)
        assert "*" not in actions
        resources = stmt["Resource"] if isinstance(stmt["Resource"], list) else [stmt["Resource"]]
        if "*" in resources:
            assert actions == ["ecr:GetAuthorizationToken"], stmt


def test_runner_policy_parts_are_optional():
    assert runner_access_policy(region=REGION)["Statement"] == []
    only_artifacts = by_sid(
        full_policy(ecr_repository_arns=[], dvc_bucket_arn=None)
    )  # read-only key use
    assert set(only_artifacts) == {"ArtifactsList", "ArtifactsRead", "UseKeyThroughS3"}
    assert only_artifacts["UseKeyThroughS3"]["Action"] == ["kms:Decrypt"]


def test_extra_statements_are_appended_with_sids():
    extra = {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::x/*"}
    stmts = full_policy(extra_statements=[extra])["Statement"]
    assert stmts[-1] == {"Sid": "Extra0", **extra}


@pytest.mark.parametrize(
    ("statements", "field"),
    [
        ("not-a-list", "x"),
        (["not-a-map"], "x[0]"),
        ([{"Effect": "Allow", "Action": "s3:GetObject"}], "x[0].Resource"),
        ([{"Effect": "Allow", "Resource": "arn:aws:s3:::b"}], "x[0].Action"),
        (
            [{"Effect": "Maybe", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b"}],
            "x[0].Effect",
        ),
        (
            [{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::1:role/x"}],
            "x[0].Action",
        ),
        ([{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}], "x[0].Action"),
        ([{"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::b"}], "x[0].Action"),
        ([{"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b"}], "x[0].Action"),
        ([{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}], "x[0].Resource"),
        (
            [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": ["*"]}],
            "x[0].Resource",
        ),
        ([{"Effect": "Allow", "NotAction": "s3:GetObject", "Resource": "*"}], "x[0].NotAction"),
        (
            [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", "Condition": "x"}],
            "x[0].Condition",
        ),
        (
            [{"Effect": "Allow", "Action": "not an action", "Resource": "arn:aws:s3:::b"}],
            "x[0].Action",
        ),
        # Data reads on "*" would reach every bucket/secret of the account.
        ([{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}], "x[0].Resource"),
        ([{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}], "x[0].Resource"),
        (
            [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}],
            "x[0].Resource",
        ),
    ],
)
def test_extra_statements_reject(statements, field):
    with pytest.raises(ArgsError) as error:
        check_extra_statements("x", statements)
    assert error.value.field == field


def test_extra_statements_accept_reads_on_star_and_denies():
    check_extra_statements(
        "x",
        [
            {
                "Effect": "Allow",
                "Action": ["ec2:Describe*", "s3:ListAllMyBuckets"],
                "Resource": "*",
            },
            {"Effect": "Deny", "Action": "*", "Resource": "*"},
        ],
    )


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"ecr_repository_arns": "arn:one"}, "access.ecr_repository_arns"),
        ({"dvc_prefix": "/dvc"}, "access.dvc_prefix"),
        ({"dvc_bucket_arn": DVC_ARN}, "access.kms_key_arn"),
        ({"kms_key_arn": "alias/aws/s3"}, "access.kms_key_arn"),
        (
            {"extra_statements": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]},
            "access.extra_statements[0].Action",
        ),
    ],
)
def test_runner_access_rejects(overrides, field):
    with pytest.raises(ArgsError) as error:
        RunnerAccess(**overrides)
    assert error.value.field == field


# --- GithubRunners -----------------------------------------------------------------------------


def assert_scale_set_common(release, controller_urn: str, secret_name: str) -> None:
    """What every default scale set shares: chart, namespace, GitHub config, secret, account."""
    assert release.inputs["chart"] == ARC_SCALE_SET_CHART
    assert release.inputs["version"] == "0.14.2"
    assert release.inputs["namespace"] == "arc-runners"
    assert controller_urn in release.dependencies
    values = release.inputs["values"]
    assert values["githubConfigUrl"] == "https://github.com/acme"
    assert values["githubConfigSecret"] == secret_name
    assert values["minRunners"] == 0
    assert values["controllerServiceAccount"] == {
        "namespace": "arc-systems",
        "name": "arc-controller",
    }
    assert values["template"]["spec"]["serviceAccountName"] == "github-runner"
    assert "containerMode" not in values  # runner-only: nothing privileged


@pulumi.runtime.test
def test_github_runners_controller_and_scale_sets(mocks):
    provider = k8s_provider()
    runners = GithubRunners(
        "gh", github_args(), pulumi.ResourceOptions(providers={"kubernetes": provider})
    )
    assert runners.runner_labels == ["mlops-cpu", "mlops-gpu"]

    def check(m):
        controller = m.find(RELEASE, "gh-controller")
        assert controller.inputs["chart"] == ARC_CONTROLLER_CHART
        assert controller.inputs["version"] == ARC_VERSION == "0.14.2"
        assert "repositoryOpts" not in controller.inputs  # OCI chart: no repository
        assert controller.inputs["namespace"] == "arc-systems"
        assert controller.inputs["values"]["nodeSelector"] == {POOL_LABEL: SYSTEM_POOL}
        assert controller.inputs["values"]["serviceAccount"] == {
            "create": True,
            "name": "arc-controller",
        }

        secret = m.find(SECRET, "gh-github-app")
        secret_name = secret.outputs["metadata"]["name"]
        assert secret.inputs["metadata"]["namespace"] == "arc-runners"
        assert secret.inputs["stringData"] == "[secret]"

        account = m.find(SERVICE_ACCOUNT, "gh-service-account")
        role = m.find(ROLE, "gh-role-role")
        assert account.inputs["metadata"]["name"] == "github-runner"
        assert account.inputs["metadata"]["namespace"] == "arc-runners"
        assert account.inputs["metadata"]["annotations"] == {IRSA_ANNOTATION: role.outputs["arn"]}
        assert account.inputs["automountServiceAccountToken"] is False  # no API access needed

        cpu = m.find(RELEASE, "gh-cpu")
        gpu = m.find(RELEASE, "gh-gpu")
        for release in (cpu, gpu):
            assert_scale_set_common(release, controller.urn, secret_name)
        cpu_values, gpu_values = cpu.inputs["values"], gpu.inputs["values"]
        assert cpu_values["runnerScaleSetName"] == "mlops-cpu"
        assert cpu_values["maxRunners"] == 10
        assert cpu_values["template"]["spec"]["nodeSelector"] == {POOL_LABEL: RUNNER_POOL}
        assert "tolerations" not in cpu_values["template"]["spec"]
        [cpu_runner] = cpu_values["template"]["spec"]["containers"]
        assert cpu_runner["name"] == "runner"
        assert cpu_runner["resources"] == {
            "requests": {"cpu": "1", "memory": "4Gi"},
            "limits": {"memory": "4Gi"},
        }

        assert gpu_values["runnerScaleSetName"] == "mlops-gpu"
        assert gpu_values["maxRunners"] == 2
        gpu_spec = gpu_values["template"]["spec"]
        assert gpu_spec["nodeSelector"] == {POOL_LABEL: GPU_POOL}
        assert gpu_spec["tolerations"] == [
            {"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
        ]
        [gpu_runner] = gpu_spec["containers"]
        assert gpu_runner["resources"]["limits"][GPU_RESOURCE] == "1"

        assert m.find(GITHUB_RUNNERS_TYPE, "gh").outputs == {
            "runnerLabels": ["mlops-cpu", "mlops-gpu"],
            "roleArn": role.outputs["arn"],
            "runnerNamespace": "arc-runners",
        }
        component_children_ok(m, GITHUB_RUNNERS_TYPE, "gh")
        assert_all_kubernetes_on(m, provider_ref(m))
        assert_no_plain(m, PRIVATE_KEY)
        assert not m.warnings()

    return after_registration(mocks, check)


@pulumi.runtime.test
def test_github_runners_irsa_trust_and_policy(mocks):
    GithubRunners(
        "gh", github_args(), pulumi.ResourceOptions(providers={"kubernetes": k8s_provider()})
    )

    def check(m):
        [stmt] = trust_of(m, "gh-role-role")["Statement"]
        assert stmt["Principal"] == {"Federated": OIDC_ARN}
        assert stmt["Condition"] == {
            "StringEquals": {
                f"{HOST}:aud": "sts.amazonaws.com",
                f"{HOST}:sub": ["system:serviceaccount:arc-runners:github-runner"],
            }
        }
        assert "StringLike" not in stmt["Condition"]
        doc = policy(m.find(ROLE_POLICY, "gh-role-runner-access"))
        assert doc == runner_access_policy(
            region=REGION,
            ecr_repository_arns=[REPO_ARN],
            dvc_bucket_arn=DVC_ARN,
            artifacts_bucket_arn=ARTIFACTS_ARN,
            kms_key_arn=KEY_ARN,
            extra_statements=list(ACCESS.extra_statements),
        )

    return after_registration(mocks, check)


@pulumi.runtime.test
def test_github_runners_secret_from_secret_config_output(mocks):
    key = pulumi.Output.secret(PRIVATE_KEY)
    GithubRunners(
        "gh",
        github_args(github_app_private_key=key, access=RunnerAccess()),
        pulumi.ResourceOptions(providers={"kubernetes": k8s_provider()}),
    )

    def check(m):
        assert m.find(SECRET, "gh-github-app").inputs["stringData"] == "[secret]"
        assert_no_plain(m, PRIVATE_KEY)
        assert not m.of_type(ROLE_POLICY)  # no access asked for, no policy

    return after_registration(mocks, check)


@pulumi.runtime.test
def test_github_runners_container_modes(mocks):
    sets = (
        RunnerScaleSet(name="docker", max_runners=3, min_runners=1, container_mode="dind"),
        RunnerScaleSet(
            name="k8s",
            max_runners=3,
            container_mode="kubernetes",
            work_volume_storage_class="gp3",
            work_volume_gib=20,
            cpu="500m",
            memory="2Gi",
        ),
        RunnerScaleSet(name="gpu-big", max_runners=1, gpu=True, gpus=4),
    )
    provider = k8s_provider()
    GithubRunners(
        "gh",
        github_args(scale_sets=sets, name_prefix="team", runner_group="ml"),
        pulumi.ResourceOptions(providers={"kubernetes": provider}),
    )

    def check(m):
        docker = m.find(RELEASE, "gh-docker").inputs["values"]
        # dind in the chart's expanded form (its containerMode pulls an unpinned docker:dind)
        assert "containerMode" not in docker
        dind = {c["name"]: c for c in docker["template"]["spec"]["initContainers"]}["dind"]
        assert dind["image"] == DIND_IMAGE and PINNED_IMAGE.match(dind["image"])
        assert docker["minRunners"] == 1
        assert docker["runnerGroup"] == "ml"
        assert docker["runnerScaleSetName"] == "team-docker"
        kube = m.find(RELEASE, "gh-k8s").inputs["values"]
        assert kube["containerMode"] == {
            "type": "kubernetes",
            "kubernetesModeWorkVolumeClaim": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "gp3",
                "resources": {"requests": {"storage": "20Gi"}},
            },
        }
        big = m.find(RELEASE, "gh-gpu-big").inputs["values"]["template"]["spec"]
        assert big["containers"][0]["resources"]["limits"][GPU_RESOURCE] == "4"
        # Kubernetes mode with our own service account: the RBAC the chart would have made.
        role = m.find("kubernetes:rbac.authorization.k8s.io/v1:Role", "gh-kube-mode")
        assert {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["get", "create"]} in (
            role.inputs["rules"]
        )
        binding = m.find(
            "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "gh-kube-mode-binding"
        )
        assert binding.inputs["subjects"] == [
            {"kind": "ServiceAccount", "name": "github-runner", "namespace": "arc-runners"}
        ]
        assert binding.inputs["roleRef"]["name"] == role.outputs["metadata"]["name"]
        assert role.urn in m.find(RELEASE, "gh-k8s").dependencies
        account = m.find(SERVICE_ACCOUNT, "gh-service-account")
        assert account.inputs["automountServiceAccountToken"] is True  # the hook uses the API
        component_children_ok(m, GITHUB_RUNNERS_TYPE, "gh")
        assert_all_kubernetes_on(m, provider_ref(m))

    return after_registration(mocks, check)


def scale_set(**overrides) -> RunnerScaleSet:
    kwargs = dict(name="cpu", max_runners=4)
    kwargs.update(overrides)
    return RunnerScaleSet(**kwargs)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"scale_sets": (scale_set(min_runners=5),)}, "scale_sets[0].min_runners"),
        (
            {"scale_sets": (scale_set(), scale_set(name="x", min_runners=-1))},
            "scale_sets[1].min_runners",
        ),
        (
            {"scale_sets": (scale_set(), scale_set(name="x", max_runners=0))},
            "scale_sets[1].max_runners",
        ),
        ({"scale_sets": (scale_set(), scale_set())}, "scale_sets[1].name"),
        ({"scale_sets": (scale_set(name="GPU"),)}, "scale_sets[0].name"),
        ({"scale_sets": (scale_set(name="x" * 40),)}, "scale_sets[0].name"),
        ({"scale_sets": (scale_set(gpu=True, gpus=0),)}, "scale_sets[0].gpus"),
        ({"scale_sets": (scale_set(gpus=1),)}, "scale_sets[0].gpus"),
        ({"scale_sets": (scale_set(gpu="yes"),)}, "scale_sets[0].gpu"),
        ({"scale_sets": (scale_set(container_mode="docker"),)}, "scale_sets[0].container_mode"),
        (
            {"scale_sets": (scale_set(gpu=True, gpus=1, container_mode="kubernetes-novolume"),)},
            "scale_sets[0].container_mode",
        ),
        (
            {"scale_sets": (scale_set(container_mode="kubernetes"),)},
            "scale_sets[0].work_volume_storage_class",
        ),
        (
            {"scale_sets": (scale_set(work_volume_storage_class="GP3!"),)},
            "scale_sets[0].work_volume_storage_class",
        ),
        ({"scale_sets": (scale_set(work_volume_gib=0),)}, "scale_sets[0].work_volume_gib"),
        ({"scale_sets": (scale_set(cpu="lots"),)}, "scale_sets[0].cpu"),
        ({"scale_sets": (scale_set(memory="4GB"),)}, "scale_sets[0].memory"),
        ({"scale_sets": (scale_set(runner_image="bad image"),)}, "scale_sets[0].runner_image"),
        (
            {"scale_sets": (scale_set(container_mode="dind", dind_image="docker dind"),)},
            "scale_sets[0].dind_image",
        ),
        ({"scale_sets": (scale_set(dind_image="docker:29-dind"),)}, "scale_sets[0].dind_image"),
        ({"scale_sets": ()}, "scale_sets"),
        ({"scale_sets": "cpu"}, "scale_sets"),
        ({"scale_sets": ({"name": "cpu"},)}, "scale_sets[0]"),
        ({"github_config_url": "http://github.com/acme"}, "github_config_url"),
        ({"github_config_url": "https://github.com/"}, "github_config_url"),
        ({"github_config_url": "https://github.com/acme/repo/extra"}, "github_config_url"),
        ({"github_app_id": "12a"}, "github_app_id"),
        ({"github_app_id": 123}, "github_app_id"),
        ({"github_app_installation_id": ""}, "github_app_installation_id"),
        ({"github_app_private_key": "not a key"}, "github_app_private_key"),
        ({"name_prefix": "Team"}, "name_prefix"),
        ({"runner_group": ""}, "runner_group"),
        ({"controller_namespace": "arc-runners"}, "runner_namespace"),
        ({"runner_namespace": "ARC"}, "runner_namespace"),
        ({"service_account": "runner*"}, "service_account"),
        ({"controller_chart_version": "latest"}, "controller_chart_version"),
        ({"scale_set_chart_version": "0.14"}, "scale_set_chart_version"),
        ({"oidc_provider_arn": "arn:aws:iam::1:oidc-provider/x"}, "oidc_provider_arn"),
        ({"access": {"ecr_repository_arns": []}}, "access"),
        ({"iam_path": "x"}, "iam_path"),
        ({"tags": {"aws:x": "y"}}, "tags.aws:x"),
    ],
)
def test_github_runners_args_reject(overrides, field):
    with pytest.raises(ArgsError) as error:
        github_args(**overrides)
    assert error.value.field == field


def test_private_key_is_never_echoed_in_errors():
    with pytest.raises(ArgsError) as error:
        github_args(github_app_private_key="MIIEsecret-without-header")
    assert "MIIEsecret" not in str(error.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/acme",
        "https://github.com/acme/models",
        "https://github.com/enterprises/acme",
        "https://ghes.example.com/acme/models",
    ],
)
def test_github_config_urls_accepted(url):
    assert github_args(github_config_url=url).github_config_url == url


def test_defaults_are_a_cpu_and_a_gpu_set_that_scale_to_zero():
    args = github_args()
    assert [(s.name, s.min_runners, s.gpu) for s in args.scale_sets] == [
        ("cpu", 0, False),
        ("gpu", 0, True),
    ]
    assert dataclasses.replace(args.scale_sets[1], gpus=2).gpus == 2


# --- GitlabRunner ------------------------------------------------------------------------------


@pulumi.runtime.test
def test_gitlab_runner(mocks):
    provider = k8s_provider()
    GitlabRunner(
        "gl",
        gitlab_args(concurrent=4, gitlab_url="https://gitlab.example.com/"),
        pulumi.ResourceOptions(providers={"kubernetes": provider}),
    )

    def check(m):
        release = m.find(RELEASE, "gl-runner")
        assert release.inputs["chart"] == "gitlab-runner"
        assert release.inputs["version"] == GITLAB_RUNNER_VERSION == "0.86.0"
        assert release.inputs["repositoryOpts"] == {"repo": "https://charts.gitlab.io"}
        assert release.inputs["namespace"] == "gitlab-runner"
        values = release.inputs["values"]
        assert values["gitlabUrl"] == "https://gitlab.example.com/"
        assert values["concurrent"] == 4
        assert values["nodeSelector"] == {POOL_LABEL: SYSTEM_POOL}
        assert values["serviceAccount"] == {"create": False, "name": "gitlab-runner"}
        assert values["rbac"]["create"] is True
        assert all("*" not in json.dumps(rule) for rule in values["rbac"]["rules"])
        token = m.find(SECRET, "gl-token")
        assert token.inputs["stringData"] == "[secret]"
        assert values["runners"]["secret"] == token.outputs["metadata"]["name"]
        assert "runnerToken" not in values

        cache = m.find("aws:s3/bucket:Bucket", "gl-cache-bucket")
        config = values["runners"]["config"]
        assert f'BucketName = "{cache.outputs["bucket"]}"' in config
        assert f'BucketLocation = "{REGION}"' in config
        assert 'AuthenticationType = "iam"' in config
        assert f'ServerSideEncryptionKeyID = "{KEY_ARN}"' in config
        assert f'"{POOL_LABEL}" = "{RUNNER_POOL}"' in config
        assert 'service_account = "gitlab-runner-jobs"' in config
        assert "privileged = false" in config
        assert cache.inputs["forceDestroy"] is True and cache.protect is False

        manager = m.find(SERVICE_ACCOUNT, "gl-manager-account")
        jobs = m.find(SERVICE_ACCOUNT, "gl-job-account")
        manager_role = m.find(ROLE, "gl-manager-role-role")
        job_role = m.find(ROLE, "gl-job-role-role")
        assert manager.inputs["metadata"]["annotations"] == {
            IRSA_ANNOTATION: manager_role.outputs["arn"]
        }
        assert jobs.inputs["metadata"]["annotations"] == {IRSA_ANNOTATION: job_role.outputs["arn"]}
        assert manager.inputs["automountServiceAccountToken"] is True
        assert jobs.inputs["automountServiceAccountToken"] is False
        for role, account in ((manager_role, "gitlab-runner"), (job_role, "gitlab-runner-jobs")):
            [stmt] = policy(role, "assumeRolePolicy")["Statement"]
            assert stmt["Condition"] == {
                "StringEquals": {
                    f"{HOST}:aud": "sts.amazonaws.com",
                    f"{HOST}:sub": [f"system:serviceaccount:gitlab-runner:{account}"],
                }
            }
        cache_doc = policy(m.find(ROLE_POLICY, "gl-manager-role-cache"))
        write = next(s for s in cache_doc["Statement"] if s["Sid"] == "ReadWrite")
        assert write["Resource"] == f"{cache.outputs['arn']}/runner/*"
        job_doc = policy(m.find(ROLE_POLICY, "gl-job-role-runner-access"))
        assert {s["Sid"] for s in job_doc["Statement"]} >= {"EcrPushPull", "DvcReadWrite"}

        assert m.find(GITLAB_RUNNER_TYPE, "gl").outputs == {
            "roleArn": job_role.outputs["arn"],
            "cacheBucketName": cache.outputs["bucket"],
        }
        component_children_ok(m, GITLAB_RUNNER_TYPE, "gl")
        assert_all_kubernetes_on(m, provider_ref(m))
        assert_no_plain(m, RUNNER_TOKEN)
        assert not m.warnings()

    return after_registration(mocks, check)


def runner_config(**overrides) -> dict:
    """``gitlab_runner_config`` parsed as GitLab Runner reads it: the one ``[[runners]]`` entry."""
    kwargs = dict(
        namespace="ci",
        job_service_account="jobs",
        job_image="alpine:3.22",
        cpu="1",
        memory="1Gi",
        cache_bucket="b",
        cache_region="eu-west-1",
        kms_key_arn=None,
    )
    kwargs.update(overrides)
    [runner] = tomllib.loads(gitlab_runner_config(**kwargs))["runners"]
    return runner


CONTAINER_CONTEXTS = (
    "build_container_security_context",
    "service_container_security_context",
    "helper_container_security_context",
    "init_permissions_container_security_context",
)


def test_gitlab_runner_config_without_key_sets_no_sse():
    cache = runner_config()["cache"]
    assert "ServerSideEncryption" not in cache["s3"]
    assert cache["s3"]["ServerAddress"] == "s3.eu-west-1.amazonaws.com"


def test_gitlab_job_containers_drop_everything_by_default():
    kube = runner_config()["kubernetes"]
    # Fallbacks for any container, and each of the four a job pod has, explicitly.
    assert kube["privileged"] is False and kube["allow_privilege_escalation"] is False
    assert kube["cap_drop"] == ["ALL"]
    for name in CONTAINER_CONTEXTS:
        assert kube[name] == {
            "privileged": False,
            "allow_privilege_escalation": False,
            "capabilities": {"drop": ["ALL"]},
        }, name
    # The image's user by default: the default alpine job image runs as root, and so do the
    # helper image and most service images (README, "GitLab job pods").
    assert "pod_security_context" not in kube
    assert not any("run_as" in key for ctx in CONTAINER_CONTEXTS for key in kube[ctx])


def test_gitlab_job_user_and_capabilities_reach_only_the_jobs_own_containers():
    kube = runner_config(run_as_user=1000, run_as_group=1001, capabilities=["SETUID", "CHOWN"])[
        "kubernetes"
    ]
    build = kube["build_container_security_context"]
    assert build["run_as_non_root"] is True
    assert (build["run_as_user"], build["run_as_group"]) == (1000, 1001)
    assert build["capabilities"] == {"drop": ["ALL"], "add": ["CHOWN", "SETUID"]}
    service = kube["service_container_security_context"]
    assert service["capabilities"] == {"drop": ["ALL"], "add": ["CHOWN", "SETUID"]}
    assert "run_as_user" not in service
    for name in (
        "helper_container_security_context",
        "init_permissions_container_security_context",
    ):
        assert kube[name]["capabilities"] == {"drop": ["ALL"]}
        assert "run_as_user" not in kube[name]
    assert kube["allow_privilege_escalation"] is False
    assert {name: kube[name] for name in CONTAINER_CONTEXTS} == job_security_contexts(
        run_as_user=1000, run_as_group=1001, capabilities=["CHOWN", "SETUID"]
    )


@pulumi.runtime.test
def test_gitlab_runner_job_security_from_args(mocks):
    GitlabRunner(
        "gl",
        gitlab_args(job_run_as_user=2000, job_capabilities=("DAC_OVERRIDE",)),
        pulumi.ResourceOptions(providers={"kubernetes": k8s_provider()}),
    )

    def check(m):
        values = m.find(RELEASE, "gl-runner").inputs["values"]
        # The manager: the chart's restricted container context, plus seccomp for the pod,
        # which the chart's deployment.yaml passes through (podSecurityContext, 0.86.0).
        assert values["podSecurityContext"] == {"seccompProfile": {"type": "RuntimeDefault"}}
        [runner] = tomllib.loads(values["runners"]["config"])["runners"]
        build = runner["kubernetes"]["build_container_security_context"]
        assert build["run_as_user"] == 2000 and "run_as_group" not in build
        assert build["capabilities"]["add"] == ["DAC_OVERRIDE"]

    return after_registration(mocks, check)


@pulumi.runtime.test
def test_gitlab_runner_jobs_keep_the_runtime_default_capabilities_by_default(mocks):
    """Ordinary jobs (apt-get, postgres services) work unchanged: build and service containers
    keep the runtime's default set without NET_RAW; the helper and init containers drop all;
    ``job_capabilities=()`` drops them everywhere."""
    provider = pulumi.ResourceOptions(providers={"kubernetes": k8s_provider()})
    GitlabRunner("gl-default", gitlab_args(), provider)
    GitlabRunner("gl-restricted", gitlab_args(job_capabilities=()), provider)

    def check(m):
        def kube(name):
            values = m.find(RELEASE, f"{name}-runner").inputs["values"]
            return tomllib.loads(values["runners"]["config"])["runners"][0]["kubernetes"]

        default = kube("gl-default")
        for name in ("build_container_security_context", "service_container_security_context"):
            capabilities = default[name]["capabilities"]
            assert capabilities["drop"] == ["ALL"]
            assert capabilities["add"] == sorted(JOB_CAPABILITIES)
            assert "NET_RAW" not in capabilities["add"] and "CHOWN" in capabilities["add"]
        for name in (
            "helper_container_security_context",
            "init_permissions_container_security_context",
        ):
            assert default[name]["capabilities"] == {"drop": ["ALL"]}
        restricted = kube("gl-restricted")
        for name in CONTAINER_CONTEXTS:
            assert restricted[name]["capabilities"] == {"drop": ["ALL"]}, name

    return after_registration(mocks, check)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"runner_token": "GR1348941secret"}, "runner_token"),
        ({"gitlab_url": "http://gitlab.com"}, "gitlab_url"),
        ({"concurrent": 0}, "concurrent"),
        ({"check_interval": 0}, "check_interval"),
        ({"job_image": "a b"}, "job_image"),
        ({"job_cpu": "x"}, "job_cpu"),
        ({"job_memory": "1G"}, "job_memory"),
        ({"namespace": "GitLab"}, "namespace"),
        ({"chart_version": "v0.86"}, "chart_version"),
        ({"job_run_as_user": 0}, "job_run_as_user"),
        ({"job_run_as_user": "1000"}, "job_run_as_user"),
        ({"job_run_as_group": 1000}, "job_run_as_group"),
        ({"job_run_as_user": 1000, "job_run_as_group": 0}, "job_run_as_group"),
        ({"job_capabilities": ("SYS_ADMIN",)}, "job_capabilities[0]"),
        ({"job_capabilities": ("NET_RAW",)}, "job_capabilities[0]"),
        ({"job_capabilities": "CHOWN"}, "job_capabilities"),
        ({"job_capabilities": ("CHOWN", "CHOWN")}, "job_capabilities"),
        ({"cache_kms_key_arn": "alias/x"}, "cache_kms_key_arn"),
        ({"access": RunnerAccess(), "permissions_boundary_arn": "x"}, "permissions_boundary_arn"),
    ],
)
def test_gitlab_runner_args_reject(overrides, field):
    with pytest.raises(ArgsError) as error:
        gitlab_args(**overrides)
    assert error.value.field == field
    assert "GR1348941secret" not in str(error.value)


# --- hardening: pinned images, security contexts, network policies, privileged isolation --------


def test_default_images_are_pinned_by_tag_and_digest():
    assert PINNED_IMAGE.match(RunnerScaleSet(name="cpu", max_runners=1).runner_image)
    assert ":2.336.0@sha256:" in RunnerScaleSet(name="cpu", max_runners=1).runner_image
    assert PINNED_IMAGE.match(gitlab_args().job_image)
    assert PINNED_IMAGE.match(DIND_IMAGE) and DIND_IMAGE.startswith("docker:29.8.0-dind@")
    assert RunnerScaleSet(name="d", max_runners=1, container_mode="dind").dind_image == DIND_IMAGE
    assert not PINNED_IMAGE.match("ghcr.io/actions/actions-runner:latest")


def test_kubernetes_mode_runner_runs_restricted():
    for mode in ("kubernetes", "kubernetes-novolume"):
        spec = scale_set_pod_spec(
            RunnerScaleSet(
                name="k", max_runners=1, container_mode=mode, work_volume_storage_class="gp3"
            ),
            "sa",
        )
        context = spec["containers"][0]["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}
        assert context["runAsNonRoot"] is True and context["runAsUser"] == 1001
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["fsGroup"] == 123


def test_dind_sets_are_alone_on_the_builds_pool():
    spec = scale_set_pod_spec(RunnerScaleSet(name="d", max_runners=1, container_mode="dind"), "sa")
    assert spec["nodeSelector"] == {POOL_LABEL: "builds"}
    assert spec["tolerations"] == [
        {
            "key": "mlops-platform/privileged",
            "operator": "Equal",
            "value": "true",
            "effect": "NoSchedule",
        }
    ]
    plain = scale_set_pod_spec(RunnerScaleSet(name="p", max_runners=1), "sa")
    assert "tolerations" not in plain and plain["nodeSelector"] == {POOL_LABEL: "runners"}
    assert "initContainers" not in plain and "volumes" not in plain


def test_dind_pod_is_the_charts_dind_mode_with_a_pinned_docker_image():
    """What gha-runner-scale-set 0.14.2 renders for containerMode dind on Kubernetes 1.29+
    (templates/_helpers.tpl: dind-init-container, dind-container, dind-runner-container,
    dind-volume, dind-work-volume), but with ``dind_image`` instead of ``docker:dind``."""
    scale_set = RunnerScaleSet(
        name="d", max_runners=1, container_mode="dind", dind_image="registry.example/docker:29-dind"
    )
    spec = scale_set_values(
        scale_set,
        prefix="mlops",
        github_config_url="https://github.com/acme",
        secret_name="app",
        service_account="sa",
        controller_namespace="arc-systems",
        controller_service_account="arc",
        runner_group="default",
    )["template"]["spec"]
    init, dind = spec["initContainers"]
    assert init == {
        "name": "init-dind-externals",
        "image": scale_set.runner_image,
        "command": ["cp"],
        "args": ["-r", "/home/runner/externals/.", "/home/runner/tmpDir/"],
        "volumeMounts": [{"name": "dind-externals", "mountPath": "/home/runner/tmpDir"}],
    }
    assert dind == {
        "name": "dind",
        "image": "registry.example/docker:29-dind",
        "args": ["dockerd", "--host=unix:///var/run/docker.sock", "--group=$(DOCKER_GROUP_GID)"],
        "env": [{"name": "DOCKER_GROUP_GID", "value": "123"}],
        "securityContext": {"privileged": True},
        "restartPolicy": "Always",  # a native sidecar: up before the runner, stopped after it
        "startupProbe": {
            "exec": {"command": ["docker", "info"]},
            "initialDelaySeconds": 0,
            "failureThreshold": 24,
            "periodSeconds": 5,
        },
        "volumeMounts": [
            {"name": "work", "mountPath": "/home/runner/_work"},
            {"name": "dind-sock", "mountPath": "/var/run"},
            {"name": "dind-externals", "mountPath": "/home/runner/externals"},
        ],
    }
    [runner] = spec["containers"]
    assert runner["name"] == "runner" and runner["image"] == scale_set.runner_image
    assert runner["command"] == ["/home/runner/run.sh"]
    assert "securityContext" not in runner  # only the daemon is privileged
    assert runner["env"] == [
        {"name": "DOCKER_HOST", "value": "unix:///var/run/docker.sock"},
        {"name": "RUNNER_WAIT_FOR_DOCKER_IN_SECONDS", "value": "120"},
    ]
    assert runner["volumeMounts"] == [
        {"name": "work", "mountPath": "/home/runner/_work"},
        {"name": "dind-sock", "mountPath": "/var/run"},
    ]
    assert spec["volumes"] == [
        {"name": "dind-sock", "emptyDir": {}},
        {"name": "dind-externals", "emptyDir": {}},
        {"name": "work", "emptyDir": {}},
    ]
    # Still alone on the builds pool, under the IRSA account.
    assert spec["nodeSelector"] == {POOL_LABEL: "builds"}
    assert spec["serviceAccountName"] == "sa"


def test_gpu_sets_cannot_be_privileged():
    with pytest.raises(ArgsError, match=r"scale_sets\[0\]\.container_mode"):
        github_args(
            scale_sets=[
                RunnerScaleSet(name="g", max_runners=1, gpu=True, gpus=1, container_mode="dind")
            ]
        )


def test_runner_network_policies_deny_by_default_and_only_dial_out():
    policies = runner_network_policies()
    assert policies["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    egress = policies["runner-egress"]
    assert "ingress" not in egress and egress["policyTypes"] == ["Egress"]
    dns, web = egress["egress"]
    assert {p["port"] for p in dns["ports"]} == {53}
    assert web["to"] == [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.0.0/16"]}}]
    assert {p["port"] for p in web["ports"]} == {80, 443}


@pulumi.runtime.test
def test_runner_namespaces_get_the_network_policies_before_runners(mocks):
    provider = k8s_provider()
    opts = pulumi.ResourceOptions(providers={"kubernetes": provider})
    GithubRunners("gh", github_args(), opts)
    GitlabRunner("gl", gitlab_args(), opts)

    def check(m):
        policies = m.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
        by_name = {p.name: p for p in policies}
        assert set(by_name) == {
            "gh-default-deny",
            "gh-runner-egress",
            "gl-default-deny",
            "gl-runner-egress",
        }
        assert by_name["gh-default-deny"].inputs["metadata"]["namespace"] == "arc-runners"
        assert by_name["gl-default-deny"].inputs["metadata"]["namespace"] == "gitlab-runner"
        assert by_name["gh-default-deny"].inputs["spec"]["policyTypes"] == ["Ingress", "Egress"]
        for release in ("gh-cpu", "gh-gpu"):
            deps = m.find(RELEASE, release).dependencies
            assert by_name["gh-default-deny"].urn in deps
        assert by_name["gl-runner-egress"].urn in m.find(RELEASE, "gl-runner").dependencies
        assert_all_kubernetes_on(m, provider_ref(m))

    return after_registration(mocks, check)
