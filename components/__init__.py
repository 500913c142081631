"""mlops-platform components: reusable Pulumi ComponentResources for ML CI/CD on AWS.

Import what you need and pass an AWS provider in the resource options::

    from mlops_platform.components import DvcRemote, DvcRemoteArgs
    remote = DvcRemote("data", DvcRemoteArgs(prefix="dvc"))

Importing this package reads no stack configuration and creates no provider. Everything listed
in ``__all__`` is the public API, versioned by ``__version__`` (semantic versioning; see
CHANGELOG.md and the compatibility policy in docs/components.md). Names starting with ``_`` and
the pure helper functions of the modules may change in any release.
"""

from mlops_platform.components._validate import ArgsError, Tags
from mlops_platform.components.ci import CiIdentity, CiIdentityArgs
from mlops_platform.components.compute import (
    Cluster,
    ClusterArgs,
    LogType,
    NodePool,
    Pool,
    ServiceAccountRole,
    ServiceAccountRoleArgs,
)
from mlops_platform.components.governance import (
    ActionsVariableName,
    AppId,
    BranchName,
    DeploymentEnvironment,
    EnvironmentName,
    GithubPlan,
    GithubRepositoryGovernance,
    GithubRepositoryGovernanceArgs,
    GitlabProjectGovernance,
    GitlabProjectGovernanceArgs,
    GitlabTier,
    GroupPath,
    MergeMethod,
    ProjectVariable,
    ProtectedEnvironment,
    RefPattern,
    TeamSlug,
    UserLogin,
    VariableName,
    Visibility,
)
from mlops_platform.components.network import NatMode, Network, NetworkArgs
from mlops_platform.components.pipelines import (
    AuthMode,
    Direction,
    GateSettings,
    Orchestrator,
    OrchestratorArgs,
    TemplateReferencing,
    TrainingPipeline,
    TrainingPipelineArgs,
)
from mlops_platform.components.registry import (
    ContainerRegistry,
    ContainerRegistryArgs,
    MlflowSize,
    ModelRegistry,
    ModelRegistryArgs,
    TagMutability,
)
from mlops_platform.components.runners import (
    ContainerMode,
    GithubRunners,
    GithubRunnersArgs,
    GitlabRunner,
    GitlabRunnerArgs,
    JobCapability,
    RunnerAccess,
    RunnerScaleSet,
)
from mlops_platform.components.security import EncryptionKey, EncryptionKeyArgs
from mlops_platform.components.serving import (
    AlarmSubscription,
    Environment,
    Mode,
    ModelEndpoint,
    ModelEndpointArgs,
    Platform,
    ServingImage,
    ServingImageArgs,
    SubscriptionProtocol,
    TrafficRouting,
    Variants,
    VariantsMode,
)
from mlops_platform.components.storage import (
    AccessLogBucket,
    AccessLogBucketArgs,
    DataBucket,
    DataBucketArgs,
    DvcRemote,
    DvcRemoteArgs,
)

# The one place the version is written: pyproject.toml reads it ([tool.setuptools.dynamic]).
__version__ = "0.1.0"

__all__ = [
    "AccessLogBucket",
    "AccessLogBucketArgs",
    "ActionsVariableName",
    "AlarmSubscription",
    "AppId",
    "ArgsError",
    "AuthMode",
    "BranchName",
    "CiIdentity",
    "CiIdentityArgs",
    "Cluster",
    "ClusterArgs",
    "ContainerMode",
    "ContainerRegistry",
    "ContainerRegistryArgs",
    "DataBucket",
    "DataBucketArgs",
    "DeploymentEnvironment",
    "Direction",
    "DvcRemote",
    "DvcRemoteArgs",
    "EncryptionKey",
    "EncryptionKeyArgs",
    "Environment",
    "EnvironmentName",
    "GateSettings",
    "GithubPlan",
    "GithubRepositoryGovernance",
    "GithubRepositoryGovernanceArgs",
    "GithubRunners",
    "GithubRunnersArgs",
    "GitlabProjectGovernance",
    "GitlabProjectGovernanceArgs",
    "GitlabRunner",
    "GitlabRunnerArgs",
    "GitlabTier",
    "GroupPath",
    "JobCapability",
    "LogType",
    "MergeMethod",
    "MlflowSize",
    "Mode",
    "ModelEndpoint",
    "ModelEndpointArgs",
    "ModelRegistry",
    "ModelRegistryArgs",
    "NatMode",
    "Network",
    "NetworkArgs",
    "NodePool",
    "Orchestrator",
    "OrchestratorArgs",
    "Platform",
    "Pool",
    "ProjectVariable",
    "ProtectedEnvironment",
    "RefPattern",
    "RunnerAccess",
    "RunnerScaleSet",
    "ServiceAccountRole",
    "ServiceAccountRoleArgs",
    "ServingImage",
    "ServingImageArgs",
    "SubscriptionProtocol",
    "TagMutability",
    "Tags",
    "TeamSlug",
    "TemplateReferencing",
    "TrafficRouting",
    "TrainingPipeline",
    "TrainingPipelineArgs",
    "UserLogin",
    "VariableName",
    "Variants",
    "VariantsMode",
    "Visibility",
    "__version__",
]
