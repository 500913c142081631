"""Submit a model's training pipeline: a Workflow that references its WorkflowTemplate.

CI jobs on the platform's runners call ``python -m ops submit --model M --revision SHA --wait``
after a data or code change. The Workflow carries nothing but the template reference and the
revision, which is all the pipelines namespace admits from CI (the orchestrator's admission
policy); the runner's service account token (mounted in its pod) authenticates to the
Kubernetes API. Only ``requests`` is needed, no ``kubectl`` or ``argo`` binary.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
FINAL_PHASES = ("Succeeded", "Failed", "Error")
API = "apis/argoproj.io/v1alpha1"


class SubmitError(RuntimeError):
    """The API refused or could not be reached: one line, exit 1."""


@dataclass(frozen=True)
class Cluster:
    """Where the Kubernetes API is and how to authenticate to it."""

    server: str
    token: str
    ca_file: str | bool

    @classmethod
    def in_cluster(
        cls,
        *,
        server: str | None = None,
        token_file: Path | None = None,
        ca_file: Path | None = None,
    ) -> Cluster:
        """The pod's own API access (service account token and CA), unless overridden."""
        if server is None:
            host = os.environ.get("KUBERNETES_SERVICE_HOST")
            port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
            if not host:
                raise SubmitError(
                    "not running in a Kubernetes pod (no KUBERNETES_SERVICE_HOST); give --server"
                )
            server = f"https://{host}:{port}"
        token_path = token_file or SERVICE_ACCOUNT_DIR / "token"
        try:
            token = token_path.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise SubmitError(
                f"cannot read the service account token {str(token_path)!r}: {error.strerror} "
                "(the runner's service account must mount its token)"
            ) from None
        ca = ca_file or SERVICE_ACCOUNT_DIR / "ca.crt"
        return cls(server.rstrip("/"), token, str(ca) if Path(ca).exists() else True)


def workflow(template: str, revision: str, model: str) -> dict[str, Any]:
    """The Workflow CI creates: the template reference and the revision, nothing else."""
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {
            "generateName": f"{template}-",
            "labels": {"mlops-platform/model": model, "mlops-platform/trigger": "ci"},
        },
        "spec": {
            "workflowTemplateRef": {"name": template},
            "arguments": {"parameters": [{"name": "revision", "value": revision}]},
        },
    }


def _request(cluster: Cluster, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    import requests

    try:
        response = requests.request(
            method,
            f"{cluster.server}/{path}",
            headers={"Authorization": f"Bearer {cluster.token}"},
            verify=cluster.ca_file,
            timeout=30,
            **kwargs,
        )
    except requests.RequestException as error:
        raise SubmitError(f"cannot reach the Kubernetes API at {cluster.server}: {error}") from None
    if response.status_code >= 400:
        try:
            message = response.json().get("message", response.text)
        except ValueError:
            message = response.text
        raise SubmitError(
            f"{method} {path}: HTTP {response.status_code}: {' '.join(message.split())}"
        )
    return dict(response.json())


def submit(cluster: Cluster, *, namespace: str, template: str, revision: str, model: str) -> str:
    """Create the Workflow; return its name."""
    created = _request(
        cluster,
        "POST",
        f"{API}/namespaces/{namespace}/workflows",
        json=workflow(template, revision, model),
    )
    return str(created["metadata"]["name"])


def wait(
    cluster: Cluster,
    *,
    namespace: str,
    name: str,
    timeout: float,
    interval: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[bool, str]:
    """Poll the Workflow until it finishes: (succeeded, one line)."""
    start = clock()
    while True:
        status = _request(cluster, "GET", f"{API}/namespaces/{namespace}/workflows/{name}").get(
            "status", {}
        )
        phase = status.get("phase")
        if phase in FINAL_PHASES:
            message = " ".join(str(status.get("message") or "").split())
            line = f"workflow {name} {phase}" + (f": {message}" if message else "")
            return phase == "Succeeded", line
        if clock() - start >= timeout:
            return False, f"workflow {name} still {phase or 'Pending'} after {timeout:g}s"
        sleep(interval)
