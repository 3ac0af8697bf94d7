"""The public plugin API: built-ins import only ``greenprune.api``; protocols are enforced."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import greenprune.api as api
from greenprune.components import Component
from greenprune.errors import UserError

REPO = Path(__file__).resolve().parents[2]
BUILTINS = REPO / "plugins" / "greenprune_builtins"

#: private imports that move out of the core with the rest of issue 16 (the CoFi model layer and
#: the report figures go into their plugins); shrink this, never grow it
TRANSITIONAL = {
    "adapters/io.py": {"greenprune.saved"},
}


def _greenprune_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found |= {n for n in names if n == "greenprune" or n.startswith("greenprune.")}
    return found


def _all_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module} | {
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}


def test_builtins_import_only_the_public_api() -> None:
    offenders = {}
    for path in sorted(BUILTINS.rglob("*.py")):
        rel = path.relative_to(BUILTINS).as_posix()
        private = _greenprune_imports(path) - {"greenprune.api"} - TRANSITIONAL.get(rel, set())
        if private:
            offenders[rel] = sorted(private)
    assert not offenders, f"built-ins importing private greenprune modules: {offenders}"


def test_core_never_imports_the_public_api_or_builtins() -> None:
    # The API re-exports the core; a core module importing it back would make a cycle.
    for path in sorted((REPO / "greenprune").rglob("*.py")):
        if path.name == "api.py":
            continue
        imports = _greenprune_imports(path)
        assert "greenprune.api" not in imports, path
        assert not any(i.startswith("greenprune_builtins") for i in _all_imports(path)), path


def test_every_exported_name_resolves_and_import_stays_light() -> None:
    for name in api.__all__:
        assert getattr(api, name, None) is not None, name
    # Plugins load whenever `greenprune plugins` lists them: the API must not pull in torch.
    code = "import sys, greenprune.api; print(any(m in sys.modules for m in ('torch', 'transformers')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_component_missing_a_protocol_member_is_one_clear_error() -> None:
    class Half:  # a tuner without tune() or the optional members
        def prepare(self, bundle: api.ModelBundle) -> None: ...

    comp = Component("half", factory=lambda _o: Half())
    comp.kind = "tuner"
    with pytest.raises(UserError, match=r"tuner 'half' \(Half\) lacks on_surgery, state_keys, train_overrides, "
                                        r"tune; subclass greenprune.api.Tuner"):
        comp.build()


def test_subclassing_a_protocol_inherits_the_optional_members() -> None:
    class Probe(api.Tuner):
        def prepare(self, bundle: api.ModelBundle) -> None: ...

        def tune(self, ctx: api.RunContext, bundle: api.ModelBundle, task: api.Task,
                 data: api.TaskData) -> tuple[api.ModelBundle, dict]:
            return bundle, {}

    comp = Component("probe", factory=lambda _o: Probe())
    comp.kind = "tuner"
    tuner = comp.build()
    assert tuner.train_overrides() == {} and tuner.on_surgery(None, None, []) is None
    assert isinstance(tuner, api.Tuner)


def test_model_bundle_says_whether_it_is_the_pretrained_model() -> None:
    bundle = api.ModelBundle(model=[1], tokenizer=None, name="m", origin="pretrained:m", pretrained=True)
    assert bundle.clone().pretrained and bundle.clone().model is not bundle.model
    assert not bundle.clone(origin="finetuned", pretrained=False).pretrained
    assert not api.ModelBundle([1], None, "m", "compressed:x").pretrained  # the safe default
