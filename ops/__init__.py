"""Release tooling for SageMaker endpoints: latest approved model, deployment watch, smoke test.

The functions here take an injected boto3 client (and, where time matters, injected ``sleep`` and
``clock`` callables) so that CI, the Pulumi program and the tests all run the same code. The CLI
(``python -m ops``) is a thin layer over them; see :mod:`ops.cli`.
"""

from mlops_platform.ops.models import latest_approved_package, newest_package
from mlops_platform.ops.smoke import SmokeResult, percentile, smoke_test
from mlops_platform.ops.watch import WatchResult, assess, watch_endpoint

__all__ = [
    "SmokeResult",
    "WatchResult",
    "assess",
    "latest_approved_package",
    "newest_package",
    "percentile",
    "smoke_test",
    "watch_endpoint",
]
