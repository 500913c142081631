"""The benchmark's grown program stays a valid prod plan (no timing here: `make bench` times)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

sys.path.insert(0, str(ROOT))
from benchmarks.__main__ import grown_project


def test_grown_prod_plan_is_clean_and_adds_the_extra_buckets(tmp_path: Path):
    project = grown_project(tmp_path)
    counts = []
    for extra in (0, 2):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "mlops_platform.infra.plan",
                "--stack",
                "prod",
                "--format",
                "json",
            ],
            cwd=project,
            env={**os.environ, "EXTRA_BUCKETS": str(extra)},
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr or result.stdout[-2000:]
        plan = json.loads(result.stdout)
        assert [v for v in plan["policy"] if v["severity"] == "mandatory"] == []
        counts.append(len(plan["resources"]))
    assert counts[1] - counts[0] == 2 * 8  # a DataBucket is a component and 7 resources
