"""Reference SageMaker-compatible inference server for a scikit-learn model.

- :mod:`serving.payload`: pure request/response logic (content types, JSON and CSV instances,
  predictions to JSON), tested without HTTP.
- :mod:`serving.model`: loading ``model.joblib`` and ``metadata.json`` from a model directory.
- :mod:`serving.app`: the ASGI application (``GET /ping``, ``POST /invocations``), with the
  admission limit and the time-sliced predictions that keep ``/ping`` answerable.
- :mod:`serving.server`: gunicorn with one uvicorn worker per vCPU (:func:`serving.server.serve`),
  the SageMaker environment variables, and an in-process server
  (:func:`serving.server.make_server`).
- :mod:`serving.options`: the environment variables the server reads and their parsing (no
  dependencies: the platform validates a model's container environment with it).
- :mod:`serving.demo_model`: trains the iris demo model (``python -m serving.demo_model``).
- ``python -m serving``: the command-line entry point the container runs.
"""
