# The platform's training image: what every WorkflowTemplate's steps run in
# (<training repository>:<pipelines.imageTag>). It is the template's training environment, the
# one `make venv-dvc` builds and tests/test_training_pipeline.py runs the steps in: this
# directory's pinned requirements.txt (DVC with S3, pandera, MLflow with sagemaker-mlflow,
# scikit-learn at the serving image's versions) and the platform library for
# `python -m mlops_platform.ops` (installed without its own pins: boto3 follows dvc-s3's botocore).
#
# Build context: the platform repository's root (the library's sources). The platform's release
# builds and pushes it (README "Training pipelines"); by hand:
#   docker build -f examples/ml-project/training.Dockerfile -t mlops-training .
# A team whose training needs more tools builds FROM this image.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DVC_NO_ANALYTICS=1 \
    HOME=/home/training

# git: `ops fetch` and DVC read the checkout. The UID is the one Argo's documentation gives
# workflow pods (runAsUser 8737), which the WorkflowTemplates set pod-wide so that Argo's init
# container writes the git artifact as the same user the steps run as. Where it is another UID
# anyway (a cluster policy overriding the pod's security context; argoproj/argo-workflows#11376)
# git refuses the "dubious ownership" of /work/repo: the system-wide safe.directory accepts the
# pipeline's own checkout, and only it.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends git ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 8737 training \
    && useradd --system --uid 8737 --gid training --create-home --home-dir /home/training \
         --shell /usr/sbin/nologin training \
    && mkdir -p /work/repo /work/out \
    && chown training:training /work/repo /work/out \
    && git config --system --add safe.directory /work/repo

# Dependencies first, so that library changes do not reinstall them.
COPY examples/ml-project/requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir -r /tmp/requirements.txt setuptools==84.2.1 \
    && rm /tmp/requirements.txt

COPY pyproject.toml README.md /tmp/platform/
COPY components /tmp/platform/components
COPY infra /tmp/platform/infra
COPY ops /tmp/platform/ops
COPY policy /tmp/platform/policy
COPY serving /tmp/platform/serving
RUN pip install --no-cache-dir --no-deps --no-build-isolation /tmp/platform \
    && rm -rf /tmp/platform \
    && python -m mlops_platform.ops --help > /dev/null

USER 8737:8737
WORKDIR /work/repo
ENTRYPOINT []
CMD ["python", "-m", "mlops_platform.ops", "--help"]
