"""Loading a model directory: ``model.joblib`` plus an optional ``metadata.json``.

The directory is what SageMaker extracts from the model's ``model.tar.gz`` into
``/opt/ml/model``. ``model.joblib`` is a pickle: load only artifacts you trust.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn

MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"

logger = logging.getLogger(__name__)


class ModelLoadError(RuntimeError):
    """The model directory cannot be served; the message says why."""


@dataclass(frozen=True)
class LoadedModel:
    """A loaded estimator and what the server needs to know about it."""

    estimator: Any
    """The unpickled scikit-learn estimator (anything with ``predict``)."""
    n_features: int | None
    """Width every instance must have; ``None`` when neither metadata nor model says."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """The parsed ``metadata.json``, or ``{}`` when the directory has none."""

    def predict(self, instances: np.ndarray) -> Any:
        """The estimator's predictions for a 2-D array of instances."""
        return self.estimator.predict(instances)


def load_model(model_dir: str | Path) -> LoadedModel:
    """Load ``model.joblib`` and ``metadata.json`` from ``model_dir``.

    Raises :class:`ModelLoadError` when the model file is missing or unreadable, has no
    ``predict``, the metadata is malformed, or the metadata's ``n_features`` disagrees with the
    estimator's ``n_features_in_``.
    """
    directory = Path(model_dir)
    model_path = directory / MODEL_FILE
    if not model_path.is_file():
        raise ModelLoadError(f"no {MODEL_FILE} in model directory {directory}")
    metadata = _read_metadata(directory / METADATA_FILE)
    trained_with = metadata.get("sklearn_version")
    if trained_with is not None and trained_with != sklearn.__version__:
        logger.warning(
            "model was trained with scikit-learn %s but this server runs %s",
            trained_with,
            sklearn.__version__,
        )
    try:
        estimator = joblib.load(model_path)
    except Exception as exc:
        raise ModelLoadError(f"cannot load {model_path}: {type(exc).__name__}: {exc}") from exc
    if not callable(getattr(estimator, "predict", None)):
        raise ModelLoadError(f"{model_path} holds a {type(estimator).__name__} with no predict()")
    return LoadedModel(estimator, _n_features(estimator, metadata, directory), metadata)


def _read_metadata(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"cannot read {path}: {exc}") from exc
    if not isinstance(metadata, dict):
        raise ModelLoadError(f"{path} must hold a JSON object")
    return metadata


def _n_features(estimator: Any, metadata: dict[str, Any], directory: Path) -> int | None:
    declared = metadata.get("n_features")
    if declared is not None and (
        isinstance(declared, bool) or not isinstance(declared, int) or declared < 1
    ):
        raise ModelLoadError(
            f"{directory / METADATA_FILE}: n_features must be a positive integer, got {declared!r}"
        )
    fitted = getattr(estimator, "n_features_in_", None)
    fitted = int(fitted) if fitted is not None else None
    if declared is not None and fitted is not None and declared != fitted:
        raise ModelLoadError(
            f"{directory / METADATA_FILE} says n_features={declared} but the model was fitted "
            f"on {fitted} features"
        )
    return declared if declared is not None else fitted
