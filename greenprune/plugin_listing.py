"""What ``greenprune plugins`` prints: the plugin table, JSON, or one component's options."""

from __future__ import annotations

import json
from typing import Any

import click


def show_plugins(rows: list[dict[str, Any]], name: str | None, as_json: bool) -> None:
    """Print the plugin table (rich), or JSON; with ``name``, one component's or plugin's options."""
    if name is not None:
        _show_component(rows, name, as_json)
        return
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="greenprune plugins")
    for col in ("plugin", "version", "components", "hooks"):
        table.add_column(col)
    for r in rows:
        comps = "\n".join(f"{k}: {', '.join(v)}" for k, v in r["components"].items())
        table.add_row(r["name"] + (" (core)" if r["essential"] else ""), r["version"], comps,
                      "\n".join(h.removeprefix("greenprune_") for h in r["hooks"]))
    Console().print(table)


def _show_component(rows: list[dict[str, Any]], name: str, as_json: bool) -> None:
    from greenprune.errors import unknown

    found = [{**d, "distribution": r["distribution"], "version": r["version"]}
             for r in rows for d in r["component_details"] if name in (d["name"], r["name"])]
    if not found:
        names = {d["name"] for r in rows for d in r["component_details"]} | {r["name"] for r in rows}
        raise unknown("component or plugin", name, names)
    if as_json:
        click.echo(json.dumps(found, indent=2, default=str))
        return
    for d in found:
        click.echo(f"{d['kind']} {d['name']}  (plugin {d['plugin']}, {d['distribution']} {d['version']})")
        if d["description"]:
            click.echo(f"  {d['description']}")
        for o in d["options"]:
            default = "required" if o["required"] else f"default {o['default']!r}"
            helptext = f": {o['help']}" if o["help"] else ""
            click.echo(f"  --set {d['name']}.{o['name']}=...  {o['type']}, {default}{helptext}")
        if not d["options"]:
            click.echo("  (no options)")
