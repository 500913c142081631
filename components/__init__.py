"""mlops-platform components: reusable Pulumi ComponentResources for ML CI/CD on AWS.

Import what you need and pass an AWS provider in the resource options::

    from components import DvcRemote, DvcRemoteArgs
    remote = DvcRemote("data", DvcRemoteArgs(prefix="dvc"))

Importing this package reads no stack configuration and creates no provider.
"""

from components._validate import ArgsError
from components.compute import (
    Cluster,
    ClusterArgs,
    NodePool,
    ServiceAccountRole,
    ServiceAccountRoleArgs,
)
from components.network import Network, NetworkArgs
from components.registry import ContainerRegistry, ContainerRegistryArgs
from components.runners import (
    GithubRunners,
    GithubRunnersArgs,
    GitlabRunner,
    GitlabRunnerArgs,
    RunnerAccess,
    RunnerScaleSet,
)
from components.security import EncryptionKey, EncryptionKeyArgs
from components.storage import DataBucket, DataBucketArgs, DvcRemote, DvcRemoteArgs

__version__ = "0.1.0"

__all__ = [
    "ArgsError",
    "Cluster",
    "ClusterArgs",
    "ContainerRegistry",
    "ContainerRegistryArgs",
    "DataBucket",
    "DataBucketArgs",
    "DvcRemote",
    "DvcRemoteArgs",
    "EncryptionKey",
    "EncryptionKeyArgs",
    "GithubRunners",
    "GithubRunnersArgs",
    "GitlabRunner",
    "GitlabRunnerArgs",
    "Network",
    "NetworkArgs",
    "NodePool",
    "RunnerAccess",
    "RunnerScaleSet",
    "ServiceAccountRole",
    "ServiceAccountRoleArgs",
    "__version__",
]
