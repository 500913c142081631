"""Small helpers around the Kubernetes provider shared by the components."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s


def bound_role(
    name: str,
    namespace: pulumi.Input[str],
    rules: Sequence[dict[str, Any]],
    service_accounts: Iterable[tuple[pulumi.Input[str], pulumi.Input[str]]],
    opts: pulumi.ResourceOptions,
) -> tuple[k8s.rbac.v1.Role, k8s.rbac.v1.RoleBinding]:
    """A namespaced Role ``name`` with ``rules`` and the RoleBinding ``<name>-binding``
    granting it to each ``(namespace, name)`` service account."""
    role = k8s.rbac.v1.Role(name, metadata={"namespace": namespace}, rules=list(rules), opts=opts)
    binding = k8s.rbac.v1.RoleBinding(
        f"{name}-binding",
        metadata={"namespace": namespace},
        role_ref={
            "api_group": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": role.metadata.name,
        },
        subjects=[
            {"kind": "ServiceAccount", "name": sa, "namespace": sa_namespace}
            for sa_namespace, sa in service_accounts
        ],
        opts=opts,
    )
    return role, binding
