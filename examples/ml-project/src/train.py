"""Train the model: a scikit-learn pipeline fitted on a CSV whose last column is the label.

Writes the model directory the platform's serving image loads (its ``serving/README.md``,
"Model directory"): ``model.joblib`` (the fitted pipeline, ``joblib.dump``) and
``metadata.json`` (``n_features``, ``feature_names``, ``classes``, ``sklearn_version``), plus a
metrics file for ``dvc metrics``. Pack the directory for SageMaker with
``tar -czf model.tar.gz -C model .``.

When ``MLFLOW_TRACKING_URI`` is set (the platform's training pipeline sets it to the stack's
tracking server; ``MLFLOW_EXPERIMENT_NAME`` to the model), the run's parameters, metrics and
model are logged to MLflow too, and the run id is written to ``metadata.json``.

    python src/train.py --data data/iris.csv --out model --metrics metrics.json
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"


def read_dataset(path: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(feature names, features, labels) from a CSV with a header; the label is last."""
    with path.open(newline="", encoding="utf-8") as handle:
        header, *rows = list(csv.reader(handle))
    features = np.asarray([[float(v) for v in row[:-1]] for row in rows], dtype=np.float64)
    labels = np.asarray([row[-1] for row in rows])
    return header[:-1], features, labels


def train(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    c: float = 1.0,
    max_iter: int = 1000,
    test_size: float = 0.25,
    random_state: int = 0,
) -> tuple[Pipeline, dict[str, float]]:
    """Fit on a stratified split; return the pipeline refitted on all data and its metrics."""
    x_train, x_test, y_train, y_test = train_test_split(
        features, labels, test_size=test_size, random_state=random_state, stratify=labels
    )

    def pipeline() -> Pipeline:
        return make_pipeline(
            StandardScaler(),
            LogisticRegression(C=c, max_iter=max_iter, random_state=random_state),
        )

    held_out = pipeline().fit(x_train, y_train)
    metrics = {
        "test_accuracy": round(float(held_out.score(x_test, y_test)), 4),
        "train_rows": len(x_train),
        "test_rows": len(x_test),
    }
    return pipeline().fit(features, labels), metrics


def metadata(model: Pipeline, feature_names: Sequence[str], params: dict[str, Any]) -> dict:
    """What the serving image reads (``n_features``) and what people want to know."""
    return {
        "framework": "scikit-learn",
        "sklearn_version": sklearn.__version__,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "n_features": len(feature_names),
        "feature_names": list(feature_names),
        "classes": [str(label) for label in model.classes_],
        "params": params,
    }


def log_to_mlflow(
    model: Pipeline, params: dict[str, Any], metrics: dict[str, float], example: np.ndarray
) -> str:
    """Log the run to the tracking server named by ``MLFLOW_TRACKING_URI``; return its id."""
    import mlflow  # only where tracking is configured: plain `dvc repro` does not need it

    experiment = os.environ.get("MLFLOW_EXPERIMENT_NAME")
    if experiment:
        mlflow.set_experiment(experiment)
    with mlflow.start_run() as run:
        mlflow.log_params(params)
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
        # Pickle, like model.joblib that the serving image loads (skops is not installed).
        mlflow.sklearn.log_model(
            model,
            name="model",
            input_example=example,
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_PICKLE,
        )
        return str(run.info.run_id)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="training CSV")
    parser.add_argument("--out", type=Path, required=True, help="model directory to write")
    parser.add_argument("--metrics", type=Path, help="metrics JSON to write")
    parser.add_argument("--C", dest="c", type=float, default=1.0, help="inverse regularisation")
    parser.add_argument("--max-iter", type=int, default=1000)
    parser.add_argument("--test-size", type=float, default=0.25)
    parser.add_argument("--random-state", type=int, default=0)
    args = parser.parse_args(argv)

    params = {
        "C": args.c,
        "max_iter": args.max_iter,
        "test_size": args.test_size,
        "random_state": args.random_state,
    }
    names, features, labels = read_dataset(args.data)
    model, metrics = train(
        features,
        labels,
        c=args.c,
        max_iter=args.max_iter,
        test_size=args.test_size,
        random_state=args.random_state,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, args.out / MODEL_FILE)
    described = metadata(model, names, params)
    if os.environ.get("MLFLOW_TRACKING_URI"):
        described["mlflow_run_id"] = log_to_mlflow(model, params, metrics, features[:5])
        # The platform's train step names a file for the run id: register records it.
        run_id_file = os.environ.get("MLOPS_MLFLOW_RUN_ID_FILE")
        if run_id_file:
            Path(run_id_file).write_text(described["mlflow_run_id"], encoding="utf-8")
    document = json.dumps(described, indent=2, sort_keys=True)
    (args.out / METADATA_FILE).write_text(document + "\n", encoding="utf-8")
    if args.metrics is not None:
        args.metrics.write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(metrics))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
