"""Write the example data set: iris as a CSV (features, then the label column ``species``).

A stand-in for the team's real data. Run once, then version the file with DVC::

    python src/make_dataset.py data/iris.csv
    dvc add data/iris.csv && dvc push
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from sklearn.datasets import load_iris

LABEL = "species"


def write_dataset(path: Path) -> Path:
    """Write iris to ``path`` (directories created); return the path."""
    iris = load_iris()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*iris.feature_names, LABEL])
        for features, target in zip(iris.data, iris.target, strict=True):
            writer.writerow([*(f"{value:g}" for value in features), iris.target_names[target]])
    return path


if __name__ == "__main__":
    print(write_dataset(Path(sys.argv[1] if len(sys.argv) > 1 else "data/iris.csv")))
