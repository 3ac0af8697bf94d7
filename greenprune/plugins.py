"""The plugin manager: a fresh one per run, built-ins and third-party plugins loaded alike."""

from __future__ import annotations

import os
from collections.abc import Iterable
from importlib.metadata import entry_points
from typing import Any

import pluggy

from greenprune import NAME, hookspecs
from greenprune.errors import unknown

#: Comma-separated plugin names to disable, like ``--disable``.
DISABLE_ENV = "GREENPRUNE_DISABLE_PLUGINS"

#: Core-internal plugins that are part of the runner itself and cannot be disabled (as pytest's
#: ``essential_plugins``): running a phase, metering every phase, and its peak memory.
ESSENTIAL_PLUGINS = ("greenprune.runphase", "greenprune.metering", "greenprune.memory")


def disabled_from_env() -> list[str]:
    return [n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()]


def available_plugin_names() -> list[str]:
    return sorted({ep.name for ep in entry_points(group=NAME)})


def make_plugin_manager(
    disable: Iterable[str] = (), extra_plugins: Iterable[Any] = (), load_entry_points: bool = True
) -> pluggy.PluginManager:
    """Build a new plugin manager.

    :param disable: names of entry-point plugins to block (also read from ``GREENPRUNE_DISABLE_PLUGINS``).
    :param extra_plugins: objects registered directly (tests register plugins inline this way).
    :param load_entry_points: load the ``greenprune`` entry-point group (built-ins live there too).
    """
    import importlib

    pm = pluggy.PluginManager(NAME)
    pm.add_hookspecs(hookspecs)
    for module in ESSENTIAL_PLUGINS:
        pm.register(importlib.import_module(module), name=module)
    blocked = [*disable, *disabled_from_env()]
    if load_entry_points:
        known = available_plugin_names()
        for name in blocked:
            if name not in known:
                raise unknown("plugin", name, known, hint="(to disable)")
            pm.set_blocked(name)
        pm.load_setuptools_entrypoints(NAME)
    for plugin in extra_plugins:
        pm.register(plugin)
    pm.check_pending()
    return pm


def plugin_version(pm: pluggy.PluginManager, plugin: Any) -> str:
    for p, dist in pm.list_plugin_distinfo():
        if p is plugin:
            return str(dist.version)
    from greenprune import __version__

    return __version__


def describe_plugins(pm: pluggy.PluginManager) -> list[dict[str, Any]]:
    """Every plugin with its version, hooks and components (for ``greenprune plugins``)."""
    from greenprune.components import collect
    from greenprune.provenance import describe_component

    catalogue = collect(pm)
    rows = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:  # blocked
            continue
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
        components = {
            kind: sorted(c.name for c in by_name.values() if c.plugin == name)
            for kind, by_name in catalogue.by_kind.items()
        }
        dist = next((d for p, d in pm.list_plugin_distinfo() if p is plugin), None)
        rows.append({
            "name": name,
            "module": getattr(plugin, "__name__", type(plugin).__name__),
            "distribution": dist.project_name if dist else "greenprune (core)",
            "version": plugin_version(pm, plugin),
            "hooks": hooks,
            "components": {k: v for k, v in components.items() if v},
            # every component's description and options (type, default, help, JSON schema)
            "component_details": [describe_component(c) for by_name in catalogue.by_kind.values()
                                  for c in sorted(by_name.values(), key=lambda c: c.name) if c.plugin == name],
            "essential": name in ESSENTIAL_PLUGINS,
        })
    return rows
