"""Train the demo model: iris, standardised, logistic regression.

``python -m serving.demo_model --out DIR`` writes ``DIR/model.joblib`` and ``DIR/metadata.json``
and prints ``DIR``. The iris data ships with scikit-learn, so nothing is downloaded, and the
fixed ``random_state`` makes every run produce the same model.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from .model import METADATA_FILE, MODEL_FILE

RANDOM_STATE = 0
MODEL_NAME = "iris-logistic-regression"


def build_demo_model() -> tuple[Pipeline, dict[str, Any]]:
    """Fit the demo pipeline on iris; return it with its metadata.

    The model is fitted on a plain array (not a DataFrame), so it predicts on arrays without
    feature-name warnings, and on the species names, so predictions are strings like
    ``"setosa"``.
    """
    iris = load_iris()
    features = np.asarray(iris.data, dtype=np.float64)
    labels = np.asarray(iris.target_names)[iris.target]
    pipeline = make_pipeline(
        StandardScaler(), LogisticRegression(max_iter=1000, random_state=RANDOM_STATE)
    )
    pipeline.fit(features, labels)
    metadata = {
        "name": MODEL_NAME,
        "framework": "scikit-learn",
        "sklearn_version": sklearn.__version__,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "n_features": int(features.shape[1]),
        "feature_names": [str(name) for name in iris.feature_names],
        "classes": [str(name) for name in pipeline.classes_],
        "random_state": RANDOM_STATE,
        "train_accuracy": round(float(pipeline.score(features, labels)), 4),
    }
    return pipeline, metadata


def train_demo_model(out_dir: str | Path) -> Path:
    """Train the demo model and write it into ``out_dir`` (created if needed); return the dir."""
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    pipeline, metadata = build_demo_model()
    joblib.dump(pipeline, directory / MODEL_FILE)
    (directory / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n", "utf-8")
    return directory


def demo_model_archive(path: str | Path) -> Path:
    """Train the demo model and pack it as SageMaker's ``model.tar.gz`` (files at the archive's
    root) at ``path``. The archive is byte-for-byte the same on every run on the same versions
    (no timestamps, owners or ordering from the file system), so re-deploying uploads nothing."""
    import gzip
    import io
    import tarfile
    import tempfile

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        directory = train_demo_model(tmp)
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            for file in sorted(directory.iterdir()):
                info = tarfile.TarInfo(file.name)
                data = file.read_bytes()
                info.size, info.mtime, info.mode = len(data), 0, 0o644
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                tar.addfile(info, io.BytesIO(data))
    # No file name and no time in the gzip header either.
    with (
        target.open("wb") as out,
        gzip.GzipFile(filename="", fileobj=out, mode="wb", mtime=0) as zipped,
    ):
        zipped.write(buffer.getvalue())
    return target


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m serving.demo_model --out DIR``."""
    parser = argparse.ArgumentParser(
        prog="python -m serving.demo_model",
        description="Train the iris demo model and write model.joblib and metadata.json.",
    )
    parser.add_argument(
        "--out", required=True, type=Path, metavar="DIR", help="model directory to write"
    )
    args = parser.parse_args(argv)
    try:
        directory = train_demo_model(args.out)
    except OSError as exc:
        print(f"error: cannot write the model to {args.out}: {exc}", file=sys.stderr)
        return 1
    print(directory.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
