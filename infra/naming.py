"""The names a model key gives the stack's resources, and how long a model key may be.

A model key (``serving.models.<key>``, ``pipelines.models.<key>``, ``modelRegistry.models``)
names its endpoint ``<project>-<stack>-<key>``, its package group likewise, its components
``<key>-serving`` and ``<key>-pipeline`` and through them every child: models, roles, alarms,
topic, autoscaling policy, Argo templates. :func:`model_key_limit` is the one place that says
how long a key may be in a stack: the longest for which every one of those names fits.
"""

from __future__ import annotations

from collections.abc import Sequence

from mlops_platform.components import pipelines, serving
from mlops_platform.components._names import SAGEMAKER_NAME, KeyLimit, PhysicalName, longest_key


def stack_prefix(project: str, stack: str) -> str:
    """What the stack's endpoint and package group names start with (and the registry's
    ``name_prefix``)."""
    return f"{project}-{stack}"


def endpoint_name(project: str, stack: str, model: str) -> str:
    """The model's SageMaker endpoint (stable: clients call it)."""
    return f"{stack_prefix(project, stack)}-{model}"


def endpoint_component(model: str) -> str:
    """The model's ``ModelEndpoint`` component."""
    return f"{model}-serving"


def pipeline_component(model: str) -> str:
    """The model's ``TrainingPipeline`` component."""
    return f"{model}-pipeline"


def model_names(
    project: str, stack: str, model: str, second_variants: Sequence[str] | None = None
) -> list[PhysicalName]:
    """Every physical name the model key feeds in the stack, with its limit; the endpoint's
    with the ``second_variants`` it serves (by default both: the longest case)."""
    return [
        *serving.physical_names(
            endpoint_component(model), endpoint_name(project, stack, model), second_variants
        ),
        PhysicalName(
            "the model package group",
            f"{stack_prefix(project, stack)}-{model}",
            SAGEMAKER_NAME,
            autonamed=False,
        ),
        *pipelines.physical_names(pipeline_component(model), model),
    ]


def model_key_limit(
    project: str, stack: str, second_variants: Sequence[str] | None = None
) -> KeyLimit:
    """The longest model key of the stack (for a model serving ``second_variants``), and the
    name that sets it."""
    return longest_key(lambda key: model_names(project, stack, key, second_variants))
