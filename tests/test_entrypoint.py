"""infra/__main__.py runs the way Pulumi's Python language host runs it, and the library
imports cleanly on its own."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from conftest import ROOT

# What pulumi-language-python-exec does for `main: infra/`: chdir into the program directory
# and runpy.run_path(".") there (sys.path[0] becomes "."); the project root is not on sys.path.
HOST = textwrap.dedent(
    """
    import os, runpy, sys
    from pathlib import Path
    from mlops_platform.infra import mocks, plan
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    root = Path(sys.argv[1])
    files = plan.load_stack_files(root, "dev")
    with mocks.private_event_loop():
        recorder = mocks.install(project=files.project, stack="dev", region="eu-west-1",
                                 account_id="111111111111", config=files.config,
                                 secret_keys=files.secret_keys)
        os.chdir(root / "infra")
        assert str(root) not in sys.path and "" not in sys.path, sys.path
        _sync_await(run_pulumi_func(lambda: runpy.run_path(".", run_name="__main__")))
    print(len(recorder.registrations), sys.modules["mlops_platform.infra.stack"].__file__)
    """
)


def test_main_runs_like_the_language_host():
    result = subprocess.run(
        [sys.executable, "-I", "-c", HOST, str(ROOT)],
        cwd="/",
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    count, module = result.stdout.split()
    assert int(count) > 20
    assert module == str(ROOT / "infra" / "stack.py")


def test_importing_components_reads_no_config_and_not_infra():
    code = (
        "import sys, mlops_platform.components as components\n"
        "assert not [m for m in sys.modules if m.startswith('mlops_platform.infra')]\n"
        "print(components.__version__)\n"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", code], cwd="/", capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().count(".") == 2
