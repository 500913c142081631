"""Small helpers around the Kubernetes provider shared by the components."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

# Helm waits this long for a release to become ready (the default, 300 s, is short for a
# first install that waits for nodes to pull images).
HELM_TIMEOUT_SECONDS = 900


def pinned_chart(
    name: str,
    *,
    chart: str,
    version: str,
    namespace: pulumi.Input[str],
    values: pulumi.Input[dict[str, Any]],
    opts: pulumi.ResourceOptions,
    repository: str | None = None,
    release_name: str | None = None,
    cleanup_on_fail: bool = True,
) -> k8s.helm.v3.Release:
    """A Helm release of a pinned chart version, rolled back (``atomic``) if it does not become
    ready within :data:`HELM_TIMEOUT_SECONDS`; ``repository`` for a chart of an HTTP chart
    repository (an ``oci://`` chart names it in ``chart``)."""
    extra: dict[str, Any] = {}
    if release_name is not None:
        extra["name"] = release_name
    if repository is not None:
        extra["repository_opts"] = {"repo": repository}
    if cleanup_on_fail:
        extra["cleanup_on_fail"] = True
    return k8s.helm.v3.Release(
        name,
        chart=chart,
        version=version,
        namespace=namespace,
        values=values,
        atomic=True,
        timeout=HELM_TIMEOUT_SECONDS,
        opts=opts,
        **extra,
    )


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
