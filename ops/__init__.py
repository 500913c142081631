"""Release tooling for SageMaker endpoints: latest approved model, deployment watch, smoke test,
the pins of a per-model release (:mod:`ops.release`);
and the training pipeline's last steps: the validation gate and model registration.

The functions here take an injected boto3 client (and, where time matters, injected ``sleep`` and
``clock`` callables) so that CI, the Pulumi program and the tests all run the same code. The CLI
(``python -m ops``) is a thin layer over them; see :mod:`ops.cli`.
"""

from mlops_platform.ops.gate import Champion, GateResult, champion, decide, read_metrics
from mlops_platform.ops.models import latest_approved_package, newest_package
from mlops_platform.ops.register import Provenance, register_package
from mlops_platform.ops.smoke import SmokeResult, percentile, smoke_test
from mlops_platform.ops.watch import WatchResult, assess, watch_endpoint

__all__ = [
    "Champion",
    "GateResult",
    "Provenance",
    "SmokeResult",
    "WatchResult",
    "assess",
    "champion",
    "decide",
    "latest_approved_package",
    "newest_package",
    "percentile",
    "read_metrics",
    "register_package",
    "smoke_test",
    "watch_endpoint",
]
