"""Physical names and their AWS limits: how long a key that feeds names may be.

A component's children take physical names from its name (Pulumi autonaming appends ``-`` and 7
random hex digits, and fails when the result exceeds the provider's maximum) or from an explicit
name. :func:`longest_key` reads a list of such names, built from a key, and returns the longest
key for which every one of them fits its AWS limit, so that a stack can reject a long key when
it reads its config instead of failing halfway through ``pulumi up``.

The limits are those of botocore's service models (the API's ``max``), quoted at each use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

AUTONAME_SUFFIX = len("-0123456")
"""What Pulumi's autonaming appends to a resource name: ``-`` and 7 random hex digits."""

# botocore service models (service-2.json), the request member's ``max``:
IAM_ROLE_NAME = 64  # iam CreateRole.RoleName (roleNameType)
IAM_INLINE_POLICY_NAME = 128  # iam PutRolePolicy.PolicyName (policyNameType)
SAGEMAKER_NAME = 63  # sagemaker ModelName, EndpointConfigName, EndpointName, EntityName
ALARM_NAME = 255  # cloudwatch PutMetricAlarm.AlarmName
TOPIC_NAME = 256  # sns CreateTopic.Name (documented: up to 256 characters)
SCALING_POLICY_NAME = 256  # application-autoscaling PutScalingPolicy.PolicyName
K8S_NAME = 63  # a Kubernetes object name used as a DNS label (RFC 1123)
CRON_WORKFLOW_NAME = 52  # Argo: a CronWorkflow name leaves room for its workflows' suffix


@dataclass(frozen=True)
class PhysicalName:
    """One physical name a child resource takes."""

    what: str
    """The resource, in words (``the challenger's SageMaker model``)."""
    name: str
    """The resource name it is autonamed from, or the physical name itself."""
    limit: int
    """AWS's (or Kubernetes') maximum length."""
    autonamed: bool = True
    """Pulumi appends :data:`AUTONAME_SUFFIX` characters."""

    @property
    def length(self) -> int:
        """The physical name's length."""
        return len(self.name) + (AUTONAME_SUFFIX if self.autonamed else 0)

    @property
    def fits(self) -> bool:
        return self.length <= self.limit


@dataclass(frozen=True)
class KeyLimit:
    """The longest key, and the name that sets it."""

    length: int
    binding: PhysicalName
    """The physical name (built from a key of ``length`` characters) that is longest for its
    limit."""


def longest_key(names: Callable[[str], Iterable[PhysicalName]]) -> KeyLimit:
    """The longest key for which every name ``names(key)`` fits its limit. Each name holds the
    key a fixed number of times, so its length grows linearly with the key's."""
    one, two = list(names("k")), list(names("kk"))
    best: tuple[int, PhysicalName] | None = None
    for short, long in zip(one, two, strict=True):
        per_char = long.length - short.length
        if per_char <= 0:
            continue
        fixed = short.length - per_char
        length = (short.limit - fixed) // per_char
        if best is None or length < best[0]:
            best = (length, short)
    if best is None:
        raise ValueError("no name is built from the key")
    length, short = best
    binding = next(n for n, s in zip(names("k" * length), one, strict=True) if s.what == short.what)
    return KeyLimit(length, binding)
