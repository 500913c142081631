"""``python -m ops``: see :mod:`ops.cli`."""

import sys

from mlops_platform.ops.cli import main

sys.exit(main())
