"""``python -m ops``: see :mod:`ops.cli`."""

import sys

from ops.cli import main

sys.exit(main())
