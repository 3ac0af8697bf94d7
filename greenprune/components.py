"""Components (tasks, compressors, tuners, evaluators, meters, report sections) and the catalogue
that collects them from every registered plugin."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from greenprune.errors import UserError, unknown

if TYPE_CHECKING:
    from greenprune.report.types import PhaseReport

KINDS = ("task", "compressor", "tuner", "evaluator", "meter", "report_section")

#: kind -> catalogue hook name
_HOOKS = {
    "task": "greenprune_register_tasks",
    "compressor": "greenprune_register_compressors",
    "tuner": "greenprune_register_tuners",
    "evaluator": "greenprune_register_evaluators",
    "meter": "greenprune_register_meters",
    "report_section": "greenprune_register_report_sections",
}


class NoOptions(BaseModel):
    """Options model of a component that takes none."""

    model_config = ConfigDict(extra="forbid")


@dataclass
class Component:
    """One thing a plugin offers, registered through a ``greenprune_register_*`` hook."""

    #: the name users pass (``--compressor NAME``, ``--set NAME.option=...``); unique per kind
    name: str
    #: ``factory(options)`` builds the object from the validated options model
    factory: Callable[[Any], Any]
    #: the pydantic options model (``extra="forbid"`` so a typo is an error); field descriptions
    #: are the options' help in ``greenprune plugins NAME``
    options: type[BaseModel] = NoOptions
    #: one line for ``greenprune plugins``
    description: str = ""
    #: a compressor that prunes to a target: ``--sparsity`` is required with it (and meaningless without)
    needs_sparsity: bool = False
    #: a pruning compressor's targets when the user gives no ``--sparsity`` (one run per value); it
    #: documents them in its description. Empty: ``--sparsity`` is required.
    default_sparsities: tuple[float, ...] = ()
    #: a compressor that works on the trained student (e.g. int8 quantization): it runs after the tuner,
    #: wherever the chain names it, in chain order with the other post-training compressors
    post_training: bool = False
    #: an evaluator: the task kinds it scores ("classification", "regression", "qa"); empty = any.
    #: Checked when the run is validated, so a mismatch fails before the teacher is fine-tuned.
    task_kinds: tuple[str, ...] = ()
    #: a compressor: False when it cannot compress a model it compressed itself (the chain
    #: ``cofi + cofi``), so such a chain is refused when the run is validated
    accepts_own_output: bool = True
    #: a report section: where it sits in the report, lower first (the built-ins use 100 to 500;
    #: the default puts a section after them). Registration order breaks ties.
    order: int = 1000
    #: a compressor or tuner: what reports say about its phases (trace labels and figures, notes)
    phase_report: PhaseReport | None = None
    #: filled in by the catalogue: which plugin registered it, and the kind
    plugin: str = ""
    kind: str = ""

    def validate_options(self, raw: dict[str, Any]) -> BaseModel:
        """Validate ``raw`` against this component's options model, as a one-line user error."""
        from pydantic import ValidationError

        try:
            return self.options.model_validate(raw)
        except ValidationError as exc:
            parts = []
            for err in exc.errors():
                loc = ".".join(str(p) for p in err["loc"]) or "(options)"
                parts.append(f"{self.name}.{loc}: {err['msg']}")
            valid = ", ".join(self.options.model_fields) or "(none)"
            raise UserError(f"bad option for {self.kind} {self.name!r}: {'; '.join(parts)} "
                            f"(valid options: {valid})") from None

    def build(self, raw: dict[str, Any] | None = None) -> Any:
        """Validate ``raw`` options, call the factory, and check the product against the kind's
        protocol (:mod:`greenprune.protocols`), so a missing method is one clear line."""
        from greenprune.protocols import check_component

        built = self.factory(self.validate_options(raw or {}))
        check_component(self.kind, self.name, built)
        return built


@dataclass
class Catalogue:
    """Every component registered by the plugins of one plugin manager, by kind and name."""

    by_kind: dict[str, dict[str, Component]] = field(default_factory=lambda: {k: {} for k in KINDS})

    def get(self, kind: str, name: str) -> Component:
        found = self.by_kind[kind].get(name)
        if found is None:
            raise unknown(kind.replace("_", " "), name, self.by_kind[kind])
        return found

    def names(self, kind: str) -> list[str]:
        return sorted(self.by_kind[kind])


def collect(pm: Any) -> Catalogue:
    """Ask every plugin for its components.

    The register callback is bound per plugin (by calling each hook implementation with its own
    callback) so the catalogue can say which plugin offers what; ``greenprune plugins`` shows it.
    """
    catalogue = Catalogue()
    for kind, hook_name in _HOOKS.items():
        caller = getattr(pm.hook, hook_name)
        for impl in caller.get_hookimpls():

            def register(component: Component, _plugin: str = impl.plugin_name, _kind: str = kind) -> None:
                component.plugin, component.kind = _plugin, _kind
                existing = catalogue.by_kind[_kind].get(component.name)
                if existing is not None and existing.plugin != _plugin:
                    raise UserError(
                        f"{_kind} {component.name!r} is registered by both {existing.plugin!r} and "
                        f"{_plugin!r}; disable one with --disable NAME"
                    )
                catalogue.by_kind[_kind][component.name] = component

            impl.function(register=register)
    return catalogue
