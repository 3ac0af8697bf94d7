"""Which plugin, distribution and version stood behind each component of a run.

Recorded in every result (``env["plugins"]``: every plugin loaded; ``env["components"]``: the
run's own components, ``KIND:NAME`` -> plugin, distribution, version), shown by the report next
to each measured figure, and used on resume: a finished run is reused only while the components
it used come from the same distributions at the same versions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pluggy

    from greenprune.components import Catalogue
    from greenprune.config import RunConfig
    from greenprune.results import RunResult


def distributions(pm: pluggy.PluginManager) -> dict[str, dict[str, str]]:
    """Plugin name -> ``{"distribution", "version"}`` for every plugin loaded (core ones included)."""
    from greenprune import __version__

    dist_of = {id(p): d for p, d in pm.list_plugin_distinfo()}
    out = {}
    for name, plugin in pm.list_name_plugin():
        if plugin is None:  # blocked
            continue
        dist = dist_of.get(id(plugin))
        out[name] = ({"distribution": str(dist.project_name), "version": str(dist.version)} if dist is not None
                     else {"distribution": "greenprune", "version": __version__})
    return out


def run_components(cfg: RunConfig, catalogue: Catalogue, meters: Sequence[str] = ()) -> list[tuple[str, str]]:
    """(kind, name) of every component ``cfg`` uses (``meters``: the ones actually chosen)."""
    task = catalogue.get("task", cfg.task).build(cfg.options.get(cfg.task))
    named = [("task", cfg.task), *(("compressor", c) for c in cfg.compressors), ("tuner", cfg.tuner),
             ("evaluator", cfg.evaluator or task.evaluator)]
    named += [("meter", m) for m in (meters or [m for m in cfg.meters if m != "auto"])]
    return list(dict.fromkeys(named))


def component_versions(pm: pluggy.PluginManager, catalogue: Catalogue,
                       components: list[tuple[str, str]]) -> dict[str, dict[str, str]]:
    """``KIND:NAME`` -> ``{"plugin", "distribution", "version"}`` of each component."""
    dists = distributions(pm)
    out = {}
    for kind, name in components:
        comp = catalogue.by_kind[kind].get(name)
        if comp is not None:
            out[f"{kind}:{name}"] = {"plugin": comp.plugin, **dists.get(comp.plugin, {})}
    return out


def changed_components(old: RunResult, now: dict[str, dict[str, str]]) -> list[str]:
    """The components ``old`` used whose distribution or version differs now (``KIND:NAME was
    DIST VERSION, now ...``). A result written before provenance was recorded has nothing to
    compare and counts as unchanged, so older results folders keep resuming."""
    recorded = old.env.get("components") or {}
    changed = []
    for key, was in recorded.items():
        cur = now.get(key)
        if cur is None:
            continue  # not part of this comparison (e.g. an auto-chosen meter): cannot differ
        if (was.get("distribution"), was.get("version")) != (cur.get("distribution"), cur.get("version")):
            changed.append(f"{key} was {was.get('distribution')} {was.get('version')}, now "
                           f"{cur.get('distribution')} {cur.get('version')}")
    return changed


def figure_source(r: RunResult, meter: str) -> str | None:
    """``plugin (distribution version)`` behind meter ``meter`` in run ``r``, if recorded."""
    info = (r.env.get("components") or {}).get(f"meter:{meter.partition(':')[0]}")
    if not info:
        return None
    return f"{info.get('plugin')} ({info.get('distribution')} {info.get('version')})"


def describe_component(comp: Any) -> dict[str, Any]:
    """A component for ``greenprune plugins``: kind, name, plugin, description, and its options
    (type, default, help per option, and the JSON schema)."""
    schema = comp.options.model_json_schema()
    options = []
    for name, field in comp.options.model_fields.items():
        prop = schema.get("properties", {}).get(name, {})
        default = None if field.is_required() else field.get_default(call_default_factory=True)
        options.append({"name": name, "type": prop.get("type") or _any_of(prop), "required": field.is_required(),
                        "default": default, "help": field.description or ""})
    return {"kind": comp.kind, "name": comp.name, "plugin": comp.plugin, "description": comp.description,
            "options": options, "schema": schema}


def _any_of(prop: dict[str, Any]) -> str:
    kinds = [p.get("type", "?") for p in prop.get("anyOf", [])]
    return " | ".join(kinds) if kinds else ("enum" if "enum" in prop else "object")
