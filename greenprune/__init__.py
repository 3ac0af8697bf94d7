"""greenprune: how much accuracy, size, speed and energy does compressing a BERT model cost or save?

Only light objects live here so that ``greenprune --help`` stays fast; heavy libraries are
imported inside the functions that need them.
"""

from __future__ import annotations

import pluggy

__version__ = "0.1.0"

#: Project name: the pluggy marker name and the entry-point group of plugins.
NAME = "greenprune"

#: Decorator that marks a greenprune hook implementation (built-in or third-party alike).
hookimpl = pluggy.HookimplMarker(NAME)

__all__ = ["NAME", "__version__", "hookimpl"]
