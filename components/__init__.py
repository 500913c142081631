"""mlops-platform components: reusable Pulumi ComponentResources for ML CI/CD on AWS.

Import what you need and pass an AWS provider in the resource options::

    from mlops_platform.components import DvcRemote, DvcRemoteArgs
    remote = DvcRemote("data", DvcRemoteArgs(prefix="dvc"))

Importing this package reads no stack configuration and creates no provider. Everything listed
in ``__all__`` is the public API, versioned by ``__version__`` (semantic versioning; see
CHANGELOG.md and the compatibility policy in docs/components.md). Names starting with ``_`` and
the pure helper functions of the modules may change in any release.
"""

from mlops_platform.components._validate import ArgsError
from mlops_platform.components.ci import CiIdentity, CiIdentityArgs
from mlops_platform.components.compute import (
    Cluster,
    ClusterArgs,
    NodePool,
    ServiceAccountRole,
    ServiceAccountRoleArgs,
)
from mlops_platform.components.governance import (
    DeploymentEnvironment,
    GithubRepositoryGovernance,
    GithubRepositoryGovernanceArgs,
    GitlabProjectGovernance,
    GitlabProjectGovernanceArgs,
    ProjectVariable,
    ProtectedEnvironment,
)
from mlops_platform.components.network import Network, NetworkArgs
from mlops_platform.components.pipelines import (
    GateSettings,
    Orchestrator,
    OrchestratorArgs,
    TrainingPipeline,
    TrainingPipelineArgs,
)
from mlops_platform.components.registry import (
    ContainerRegistry,
    ContainerRegistryArgs,
    ModelRegistry,
    ModelRegistryArgs,
)
from mlops_platform.components.runners import (
    GithubRunners,
    GithubRunnersArgs,
    GitlabRunner,
    GitlabRunnerArgs,
    RunnerAccess,
    RunnerScaleSet,
)
from mlops_platform.components.security import EncryptionKey, EncryptionKeyArgs
from mlops_platform.components.serving import (
    AlarmSubscription,
    ModelEndpoint,
    ModelEndpointArgs,
    ServingImage,
    ServingImageArgs,
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
    "AlarmSubscription",
    "ArgsError",
    "CiIdentity",
    "CiIdentityArgs",
    "Cluster",
    "ClusterArgs",
    "ContainerRegistry",
    "ContainerRegistryArgs",
    "DataBucket",
    "DataBucketArgs",
    "DeploymentEnvironment",
    "DvcRemote",
    "DvcRemoteArgs",
    "EncryptionKey",
    "EncryptionKeyArgs",
    "GateSettings",
    "GithubRepositoryGovernance",
    "GithubRepositoryGovernanceArgs",
    "GithubRunners",
    "GithubRunnersArgs",
    "GitlabProjectGovernance",
    "GitlabProjectGovernanceArgs",
    "GitlabRunner",
    "GitlabRunnerArgs",
    "ModelEndpoint",
    "ModelEndpointArgs",
    "ModelRegistry",
    "ModelRegistryArgs",
    "Network",
    "NetworkArgs",
    "NodePool",
    "Orchestrator",
    "OrchestratorArgs",
    "ProjectVariable",
    "ProtectedEnvironment",
    "RunnerAccess",
    "RunnerScaleSet",
    "ServiceAccountRole",
    "ServiceAccountRoleArgs",
    "ServingImage",
    "ServingImageArgs",
    "TrainingPipeline",
    "TrainingPipelineArgs",
    "__version__",
]
