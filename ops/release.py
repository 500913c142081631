"""Per-model releases: the release tag, the stack outputs, and the pins that keep a release of
one model from moving any other.

A stack serves many models (``mlops-platform:serving.models``). A model whose ``modelSource`` is
``latest-approved`` is looked up when the Pulumi program runs, so any ``pulumi up`` would deploy
every such model's newest Approved package, released or not. A release of model M therefore
*pins*, in its CI checkout only, every other latest-approved model to the package it serves now
(``servingModels.<m>.modelPackageArn`` in the stack outputs) and M to its newest Approved
package; a platform release (``vX.Y.Z``) pins every model to what it serves. The pins are read
inside the job that runs ``pulumi up``, which CI serializes per stack, so two releases cannot
undo each other. With no per-model outputs yet (a first deployment) nothing is pinned.

Everything here is plain data in, plain data out: :func:`plan_pins` takes the stack file's
serving block, the outputs and a look-up for the newest Approved package, and returns the
``pulumi config set --path`` assignments with one note per model saying why.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LATEST_APPROVED = "latest-approved"
PINNED = "pinned"
DEFAULT_PROJECT = "mlops-platform"

MODEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
"""A model key: a slug of a-z, 0-9 and '-' (SageMaker endpoint names take no other characters)."""
MODEL_TAG = re.compile(rf"^(?P<model>{MODEL})/(?P<version>v[0-9]+\.[0-9]+\.[0-9]+)$")
"""A per-model release tag, ``<model>/vMAJOR.MINOR.PATCH``."""
PACKAGE_ARN = re.compile(
    r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:[0-9]{12}:model-package/[A-Za-z0-9][A-Za-z0-9-]*/[0-9]+$"
)
"""A versioned model package ARN (``.../model-package/<group>/<version>``)."""


class ReleaseError(Exception):
    """Input a release cannot use (a bad tag, an unserved model, unreadable outputs): the CLI
    prints one line and exits 2."""


class NoApprovedPackage(Exception):
    """The released model's group has no Approved package: the CLI exits 1."""


# --- the tag ---------------------------------------------------------------------------------


def parse_tag(tag: str) -> tuple[str, str]:
    """``(model, version)`` of a ``<model>/vX.Y.Z`` tag; a :class:`ReleaseError` otherwise."""
    match = MODEL_TAG.match(tag)
    if match is None:
        raise ReleaseError(
            f"tag {tag!r}: expected <model>/vMAJOR.MINOR.PATCH, the model a slug of a-z, 0-9 "
            "and '-' (e.g. churn/v1.2.3)"
        )
    return match["model"], match["version"]


# --- the stack file --------------------------------------------------------------------------


@dataclass(frozen=True)
class StackServing:
    """The serving block of one stack file, as committed."""

    stack: str
    """The stack's name (``staging`` for ``Pulumi.staging.yaml``)."""
    project: str
    """The Pulumi project (config keys are ``<project>:serving``)."""
    models: Mapping[str, Mapping[str, Any]]
    """``serving.models``: model -> its own keys, in file order."""
    defaults: Mapping[str, Any] = field(default_factory=dict)
    """``serving.defaults``: keys every model takes unless it sets its own."""

    def key(self, model: str, name: str) -> str:
        """The full config path of a model's key (``mlops-platform:serving.models.churn.x``)."""
        return f"{self.project}:serving.models.{model}.{name}"

    def source(self, model: str) -> str | None:
        """The model's ``modelSource`` (its own, else the defaults'), None when neither sets it."""
        own = self.models.get(model) or {}
        value = own.get("modelSource", self.defaults.get("modelSource"))
        return None if value is None else str(value)

    def require(self, model: str) -> None:
        """A :class:`ReleaseError` naming the model's key unless this stack serves it."""
        if model not in self.models:
            serves = ", ".join(self.models) or "no models"
            raise ReleaseError(
                f"{self.project}:serving.models.{model}: the {self.stack} stack does not serve "
                f"model {model!r} (Pulumi.{self.stack}.yaml serves: {serves})"
            )


STACK_FILE = re.compile(r"^Pulumi\.(?P<stack>[A-Za-z0-9][A-Za-z0-9_.-]*)\.ya?ml$")


def read_stack_serving(path: Path) -> StackServing:
    """The serving block of ``Pulumi.<stack>.yaml``, read as the Pulumi CLI reads it (YAML 1.2);
    the project name comes from ``Pulumi.yaml`` beside it."""
    from mlops_platform.infra.plan import PlanError, read_yaml

    match = STACK_FILE.match(path.name)
    if match is None:
        raise ReleaseError(f"{path}: expected a stack file named Pulumi.<stack>.yaml")
    try:
        document = read_yaml(path)
        project_file = path.with_name("Pulumi.yaml")
        project = read_yaml(project_file) if project_file.is_file() else None
    except PlanError as error:
        raise ReleaseError(str(error)) from None
    name = project.get("name") if isinstance(project, dict) else None
    project_name = str(name) if name else DEFAULT_PROJECT
    config = document.get("config") if isinstance(document, dict) else None
    serving = (config or {}).get(f"{project_name}:serving") if isinstance(config, dict) else None
    serving = serving if isinstance(serving, dict) else {}
    models = serving.get("models") or {}
    defaults = serving.get("defaults") or {}
    if not isinstance(models, dict) or not all(isinstance(m, dict | None) for m in models.values()):
        raise ReleaseError(f"{project_name}:serving.models: expected a map in {path.name}")
    if not isinstance(defaults, dict):
        raise ReleaseError(f"{project_name}:serving.defaults: expected a map in {path.name}")
    return StackServing(
        stack=match["stack"],
        project=project_name,
        models={str(k): dict(v or {}) for k, v in models.items()},
        defaults=defaults,
    )


# --- the stack outputs -----------------------------------------------------------------------


def read_outputs(path: Path) -> dict[str, Any]:
    """``pulumi stack output --json`` saved to a file: a JSON object (``{}`` before the first
    deployment)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ReleaseError(f"--outputs {path}: cannot read it ({error})") from None
    try:
        outputs = json.loads(text)
    except ValueError as error:
        raise ReleaseError(f"--outputs {path}: not JSON ({error})") from None
    if not isinstance(outputs, dict):
        raise ReleaseError(
            f"--outputs {path}: expected the JSON object of `pulumi stack output --json`"
        )
    return outputs


def _structured(value: Any) -> Any:
    """An output as a value; tolerates a map the CLI printed as a JSON string."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def serving_models(outputs: Mapping[str, Any]) -> dict[str, dict[str, Any]] | None:
    """``servingModels`` (model -> its outputs), or None when the outputs have none (a stack
    not deployed yet, or deployed before per-model outputs)."""
    if "servingModels" not in outputs:
        return None
    models = _structured(outputs["servingModels"])
    if not isinstance(models, dict) or not all(isinstance(v, dict) for v in models.values()):
        raise ReleaseError("stack output servingModels: expected a map of model -> outputs")
    return models


def model_outputs(outputs: Mapping[str, Any], model: str) -> dict[str, Any]:
    """One model's entry of ``servingModels``; a :class:`ReleaseError` naming the model when
    the outputs do not list it."""
    models = serving_models(outputs)
    if models is None:
        raise ReleaseError(
            f"model {model!r}: the stack outputs have no servingModels (not deployed yet, or "
            "deployed before per-model outputs)"
        )
    if model not in models:
        listed = ", ".join(models) or "none"
        raise ReleaseError(
            f"model {model!r}: not in the stack outputs' servingModels (they list: {listed})"
        )
    return models[model]


def output_string(outputs: Mapping[str, Any], model: str, name: str) -> str:
    """A model's string output (``endpointName``, ``endpointConfigName``)."""
    value = model_outputs(outputs, model).get(name)
    if not isinstance(value, str) or not value or value == "[secret]":
        raise ReleaseError(f"stack output servingModels.{model}.{name}: missing or not a name")
    return value


def output_names(outputs: Mapping[str, Any], model: str, name: str) -> list[str]:
    """A model's list output (``variantNames``); [] when absent."""
    value = model_outputs(outputs, model).get(name) or []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ReleaseError(f"stack output servingModels.{model}.{name}: expected a list of names")
    return value


def package_group(outputs: Mapping[str, Any], model: str) -> str | None:
    """The model's package group: ``servingModels.<m>.modelPackageGroup``, else
    ``modelPackageGroups.<m>``; None when neither names one."""
    served = serving_models(outputs) or {}
    group = (served.get(model) or {}).get("modelPackageGroup")
    if not group:
        groups = _structured(outputs.get("modelPackageGroups"))
        group = groups.get(model) if isinstance(groups, dict) else None
    return str(group) if group else None


def require_package_group(outputs: Mapping[str, Any], model: str) -> str:
    """:func:`package_group`, for a model the outputs list; a :class:`ReleaseError` otherwise."""
    model_outputs(outputs, model)
    group = package_group(outputs, model)
    if group is None:
        raise ReleaseError(
            f"model {model!r}: the stack outputs name no model package group for it "
            "(servingModels.<model>.modelPackageGroup)"
        )
    return group


# --- the pins --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pin:
    """One model pinned to one package for this release."""

    model: str
    package_arn: str
    released: bool
    """True for the model being released (its newest Approved package), False for a model held
    on the package it serves."""


@dataclass(frozen=True)
class PinPlan:
    """What a release writes into its checkout's stack file, and why."""

    stack: StackServing
    pins: tuple[Pin, ...]
    notes: tuple[str, ...]
    """One line per model (and one when nothing can be pinned), for the job's log."""

    def assignments(self) -> list[tuple[str, str]]:
        """``(config path, value)`` pairs for ``pulumi config set --path``."""
        pairs = []
        for pin in self.pins:
            pairs.append((self.stack.key(pin.model, "modelSource"), PINNED))
            pairs.append((self.stack.key(pin.model, "modelPackageArn"), pin.package_arn))
        return pairs


def _checked_arn(arn: Any, where: str) -> str:
    if not isinstance(arn, str) or not PACKAGE_ARN.match(arn):
        raise ReleaseError(f"{where}: expected a versioned model package ARN, got {arn!r}")
    return arn


def plan_pins(
    stack: StackServing,
    outputs: Mapping[str, Any],
    *,
    release: str | None,
    newest: Callable[[str], str | None],
) -> PinPlan:
    """The pins of a release of ``release`` (None: a platform release, which releases no model).

    Every latest-approved model of the stack file other than ``release`` is held on the package
    the outputs say it serves; ``release``, when latest-approved, is pinned to ``newest(group)``
    (a :class:`NoApprovedPackage` when there is none). Models whose source is ``data`` or
    ``pinned`` deploy what the stack file says and are left alone. ``stack`` must serve
    ``release`` (a :class:`ReleaseError` naming its key otherwise). Without per-model outputs
    nothing is pinned.
    """
    if release is not None:
        stack.require(release)
    served = serving_models(outputs)
    if served is None:
        return PinPlan(
            stack,
            (),
            ("the stack outputs have no servingModels (a first deployment): nothing pinned",),
        )
    pins: list[Pin] = []
    notes: list[str] = []
    for model in stack.models:
        current = served.get(model)
        source = stack.source(model) or (current or {}).get("modelSource")
        if source != LATEST_APPROVED:
            said = source or "unset"
            notes.append(f"{model}: modelSource {said}: deploys what the stack file says")
        elif model == release:
            group = package_group(outputs, model)
            if group is None:
                notes.append(
                    f"{model}: not deployed yet: its newest Approved package is looked up by the "
                    "program"
                )
                continue
            arn = newest(group)
            if arn is None:
                raise NoApprovedPackage(
                    f"no approved model package in group '{group}': approve one before releasing "
                    f"{model}"
                )
            pins.append(Pin(model, _checked_arn(arn, f"the newest package of {group}"), True))
            notes.append(f"{model}: released: {arn} (the newest Approved package of {group})")
        elif current is None:
            notes.append(
                f"{model}: not deployed yet: nothing to hold it on (it deploys its newest "
                "Approved package)"
            )
        elif not current.get("modelPackageArn"):
            notes.append(f"{model}: serves no model package yet: nothing to hold it on")
        else:
            where = f"stack output servingModels.{model}.modelPackageArn"
            arn = _checked_arn(current["modelPackageArn"], where)
            pins.append(Pin(model, arn, False))
            notes.append(f"{model}: held on {arn} (the package it serves)")
    return PinPlan(stack, tuple(pins), tuple(notes))
