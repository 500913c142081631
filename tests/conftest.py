"""Shared fixtures: one recording mock engine for every Pulumi test.

The mocks class itself lives in ``infra/mocks.py`` because the offline plan runs the real
program on it too; this file is where the tests get it. ``mocks`` installs a fresh instance per
test (the mock engine keeps state between tests otherwise), and :func:`after_registration`
returns the Output a ``@pulumi.runtime.test`` must return so that its assertions run once every
resource constructed so far has been registered.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pulumi
import pytest

import mlops_platform.infra
from mlops_platform.infra.mocks import RecordingMocks, Registration, install

ROOT = Path(__file__).resolve().parents[1]

# The tests test this checkout's code: a venv whose editable install points at another checkout
# (a `git worktree` sharing the main checkout's .venv) would run that one's code instead.
_IMPORTED = Path(mlops_platform.infra.__file__).resolve().parents[1]
if _IMPORTED != ROOT:
    pytest.exit(
        f"mlops_platform is imported from {_IMPORTED}, not from this checkout ({ROOT}): "
        "run `make test` here (it builds this checkout's .venv), or put a directory whose "
        "mlops_platform/<package> entries link to this checkout first on PYTHONPATH",
        returncode=2,
    )
PROJECT = "mlops-platform"
REGION = "eu-west-1"
ACCOUNT = "123456789012"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/11111111-2222-4333-a444-555555555555"


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    """moto's server on a free port of 127.0.0.1, one per test module: its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def project_module(directory: str, name: str) -> ModuleType:
    """A separate Pulumi project's own module (``governance/governance_config.py``), imported
    the way its program imports it: one module for both."""
    from mlops_platform.infra import schema

    return schema.project_module(ROOT / directory, name)


@pytest.fixture
def mocks() -> RecordingMocks:
    """Fresh recording mocks (and empty config), installed before the test constructs anything."""
    return install(project=PROJECT, stack="test", region=REGION, account_id=ACCOUNT)


@pytest.fixture(scope="session")
def plans() -> dict[str, dict[str, Any]]:
    """The offline plans (JSON) of the three stacks, made once per test session."""
    from mlops_platform.infra import plan

    return {s: plan.make_plan(s, ROOT).to_json() for s in ("dev", "staging", "prod")}


def after_registration(
    mocks: RecordingMocks, check: Callable[[RecordingMocks], Any]
) -> pulumi.Output[Any]:
    """An Output that runs ``check(mocks)`` once every resource constructed so far is registered."""
    return pulumi.Output.all(*[r.urn for r in mocks.constructed]).apply(lambda _: check(mocks))


def policy(reg: Registration, prop: str = "policy") -> dict[str, Any]:
    """A JSON policy input of a registration, parsed."""
    return json.loads(reg.inputs[prop])


def statement(document: dict[str, Any], sid: str) -> dict[str, Any]:
    for stmt in document["Statement"]:
        if stmt.get("Sid") == sid:
            return stmt
    raise LookupError(f"no statement {sid!r} in {[s.get('Sid') for s in document['Statement']]}")


def component_children_ok(mocks: RecordingMocks, component_type: str, name: str) -> None:
    """Every descendant of the component is parented inside it and named ``<name>-...``."""
    comp = mocks.find(component_type, name)
    children = mocks.children(comp.urn)
    assert children, f"{name} has no children"
    for child in children:
        assert child.name.startswith(f"{name}-"), child.name
        if not child.custom:
            component_children_ok(mocks, child.type, child.name)
