"""What ``docs/generate.py`` reads from a component besides its code.

A component documents itself in three places, all in its own module:

- the class docstring: purpose first, then an ``Example::`` block (a complete, runnable
  snippet; the test suite runs every one under the mock engine);
- ``SECURE_DEFAULTS``: a class attribute, a tuple of :class:`SecureDefault` rows;
- a docstring after each field of its ``<Noun>Args`` dataclass and after each annotated output
  attribute of the class.

Nothing here is imported at deployment time beyond this small type.
"""

from __future__ import annotations

from typing import NamedTuple


class SecureDefault(NamedTuple):
    """One row of a component's secure-defaults table."""

    control: str
    """What is controlled, e.g. ``Public access``."""
    default: str
    """The posture you get without asking, e.g. ``blocked (all four flags)``."""
    change: str
    """How to change it: the Args field(s), or ``fixed`` when the component does not allow it."""
