"""`make plan FORMAT=json` prints only JSON on stdout, also when it first builds the venv."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def test_the_first_make_plan_prints_only_json(tmp_path):
    """A missing stamp makes make run the install recipe first, as on a fresh clone. The
    stand-in interpreter prints on stdout what pip and venv may print, then runs the real
    plan: make's own echo and the installers' output must all go to stderr."""
    fake = tmp_path / "python"
    fake.write_text(
        "#!/bin/sh\n"
        'if [ "$1 $2" = "-m pip" ] || [ "$1 $2" = "-m venv" ]; then\n'
        "  echo 'Collecting pulumi==3.272.0 (noise on stdout)'; exit 0\n"
        "fi\n"
        f'exec "{sys.executable}" "$@"\n'
    )
    fake.chmod(0o755)
    done = subprocess.run(
        ["make", "--no-print-directory", "plan", "STACK=dev", "FORMAT=json",
         f"PY={fake}", f"STAMP={tmp_path / 'stamp'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "stamp").exists()  # the install recipe did run
    assert json.loads(done.stdout)["stack"] == "dev"
    assert "noise on stdout" in done.stderr
    assert "installing the pinned requirements" in done.stderr
