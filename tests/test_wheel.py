"""The library installs outside the repository: build the wheel, install it into a fresh
virtualenv in a temporary directory, and run a consumer program there under Pulumi's mocks.

No network: the wheel is built without build isolation (setuptools is pinned in
requirements.txt), installed with ``--no-deps --no-index``, and the fresh venv borrows the
dependencies (pulumi, pulumi-aws, ...) from this repository's venv through a ``.pth`` line. A
plain path line does not run that directory's own ``.pth`` files, so the editable install of
this project there stays inactive; the test asserts the wheel's copy is the one imported.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT

from mlops_platform import components

SOURCES = ("pyproject.toml", "README.md", "components", "infra", "ops", "policy", "serving")

# A team's program, run from a directory outside the repository. Its mocks answer only what
# the two components ask for.
CONSUMER = textwrap.dedent(
    """
    import json
    import sys

    import mlops_platform.components as components

    # Importing the library reads no config and imports none of the platform's stack program.
    stack_modules = [m for m in sys.modules if m.startswith("mlops_platform.infra")]

    import pulumi
    from mlops_platform.components import ContainerRegistry, ContainerRegistryArgs, DvcRemote, DvcRemoteArgs

    ACCOUNT, REGION = "123456789012", "eu-west-1"


    class Mocks(pulumi.runtime.Mocks):
        def new_resource(self, args):
            state = dict(args.inputs, region=REGION)
            if args.typ == "aws:s3/bucket:Bucket":
                state["bucket"] = f"{args.name}-4f1c2a7"
                state["arn"] = f"arn:aws:s3:::{state['bucket']}"
            elif args.typ == "aws:kms/key:Key":
                state["keyId"] = "11111111-2222-4333-a444-555555555555"
                state["arn"] = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{state['keyId']}"
            elif args.typ == "aws:ecr/repository:Repository":
                state["name"] = f"{args.name}-4f1c2a7"
                state["repositoryUrl"] = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{state['name']}"
            return f"{args.name}-id", state

        def call(self, args):
            return {
                "aws:index/getCallerIdentity:getCallerIdentity": {"accountId": ACCOUNT},
                "aws:index/getPartition:getPartition": {"partition": "aws"},
                "aws:index/getRegion:getRegion": {"region": REGION},
            }[args.token]


    pulumi.runtime.set_mocks(Mocks(), project="team", stack="test", preview=False)
    results = {}


    @pulumi.runtime.test
    def build():
        remote = DvcRemote("x", DvcRemoteArgs())
        registry = ContainerRegistry("y", ContainerRegistryArgs())
        return pulumi.Output.all(
            remote.dvc_remote_url, remote.dvc_config, registry.registry_url
        ).apply(lambda v: results.update(dvc=v[0], config=v[1], registry=v[2]))


    build()
    print(json.dumps({
        "file": components.__file__,
        "version": components.__version__,
        "stack_modules": stack_modules,
        **results,
    }))
    """
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a copy of the sources (the checkout stays clean)."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "src"
    source.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, source / name)
    dist = tmp / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check",
         "--no-deps", "--no-build-isolation", "--no-index", "--wheel-dir", str(dist), str(source)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    (built,) = dist.glob("mlops_platform-*.whl")
    return built


def test_wheel_carries_the_version_and_the_type_marker(wheel):
    assert wheel.name == f"mlops_platform-{components.__version__}-py3-none-any.whl"
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "mlops_platform/components/py.typed" in names
    assert "mlops_platform/serving/Dockerfile" in names  # ServingImage's default build context
    assert not [n for n in names if "__pycache__" in n or n.startswith("tests/")]
    # One distinctive import root: nothing generic (components, infra, ops, ...) at the top.
    roots = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert roots == {"mlops_platform"}


def test_fresh_venv_outside_the_repo_builds_components_with_default_args(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
         "--disable-pip-version-check", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    # The dependencies, borrowed from this venv (appended after the fresh venv's own packages).
    (site / "_borrowed_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    work = tmp_path / "team"
    work.mkdir()
    (work / "program.py").write_text(CONSUMER)

    result = subprocess.run(
        [str(python), "-I", "program.py"], cwd=work, capture_output=True, text=True, check=False
    )

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(report["file"]).is_relative_to(site), report["file"]
    assert not Path(report["file"]).is_relative_to(ROOT)
    assert report["version"] == components.__version__
    assert report["stack_modules"] == []
    assert report["dvc"] == "s3://x-data-bucket-4f1c2a7/dvc"
    assert "url = s3://x-data-bucket-4f1c2a7/dvc" in report["config"]
    assert report["registry"] == "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
