"""Entry point Pulumi runs (``main: infra/`` in Pulumi.yaml): settings in, stack built.

Settings are read and validated completely before the first resource is registered, so a bad
config stops ``pulumi up`` with one line and nothing half-built.
"""

from mlops_platform.infra import settings, stack

stack.build(settings.load())
