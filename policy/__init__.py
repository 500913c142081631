"""Guardrails: the CrossGuard policy pack and the rules it shares with the offline plan.

``policy/rules.py`` holds the rules as pure functions over :class:`policy.rules.Resource`;
``policy/context.py`` reads the stack's environment and waivers from its configuration (the same
``mlops-platform:policy`` block for the pack and the plan); ``policy/crossguard.py`` adapts
CrossGuard's arguments to the rules; ``policy/__main__.py`` wires them into a ``PolicyPack``.
"""
