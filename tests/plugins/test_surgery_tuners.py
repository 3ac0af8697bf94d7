"""A tuner's modules on the projections survive physical pruning by following the surgery events:
masked (with the tuner's modules) vs compact (with the followed modules) logits agree within 1e-4,
and the compact encoder calls a wrapped or hooked projection instead of fusing past it."""

from __future__ import annotations

import copy
from typing import Any

import pytest

torch = pytest.importorskip("torch")
peft = pytest.importorskip("peft")

from greenprune_builtins.cofi.shrink import to_compact  # noqa: E402

from greenprune.structure.compact import from_hf  # noqa: E402
from greenprune.structure.surgery import SurgeryEvent, by_module  # noqa: E402
from tests.plugins.test_compact_bert import SHAPES, batch, hf_model  # noqa: E402
from tests.plugins.test_prune import crafted_masks  # noqa: E402

TARGETS = ["query", "key", "value", "dense"]


def lora(model: Any) -> Any:
    config = peft.LoraConfig(r=4, lora_alpha=8, target_modules=TARGETS, lora_dropout=0.0)
    return peft.inject_adapter_in_model(config, model)


def lora_layers(model: Any) -> dict[str, Any]:
    return {n: m for n, m in model.named_modules() if isinstance(m, peft.tuners.lora.LoraLayer)}


def follow(before: Any, after: Any, events: list[SurgeryEvent]) -> int:
    """What a LoRA tuner's ``on_surgery`` does: re-attach its pairs at the same names, A's columns
    following the kept inputs (times their scale), B's rows the kept outputs (times theirs)."""
    changed = by_module(events)
    old = lora_layers(before)
    present = {n for n, _ in after.named_modules()}
    keep = {n: e for n, e in ((n, changed.get(n)) for n in old) if n in present and not (e and e.removed)}
    lora(after)
    with torch.no_grad():
        for name, new in lora_layers(after).items():
            if name not in keep:
                continue
            e = keep[name] or SurgeryEvent(name)
            a, b = old[name].lora_A["default"].weight, old[name].lora_B["default"].weight
            new.lora_A["default"].weight.copy_(e.select_in(a, dim=1))
            new.lora_B["default"].weight.copy_(e.select_out(b, dim=0))
    return len(keep)


@pytest.mark.parametrize("shape", SHAPES[:2])
def test_lora_follows_physical_pruning(shape: tuple[int, ...]) -> None:
    layers, hidden, heads, ffn, _ = shape
    model = lora(from_hf(hf_model(*shape)).eval())
    with torch.no_grad():  # B starts at zero: make the LoRA pairs count
        for layer in lora_layers(model).values():
            layer.lora_B["default"].weight.normal_(std=0.2)
    masks = crafted_masks(layers, hidden, heads, ffn)
    with torch.no_grad():
        masked = model(**batch(), unit_scales=masks.scales()).logits
    events: list[SurgeryEvent] = []
    compact = to_compact(model, masks, events).eval()  # reads the wrapped projections' base weights
    assert not lora_layers(compact)  # rebuilt: the architecture only
    assert follow(model, compact, events) > 0
    with torch.no_grad():
        small = compact(**batch()).logits
    assert (masked - small).abs().max() <= 1e-4


def test_wrapped_or_hooked_projections_are_called_not_fused() -> None:
    model = from_hf(hf_model(*SHAPES[0])).eval()
    attention = model.bert.encoder.layer[0].attention.self
    x = torch.randn(2, 5, SHAPES[0][1])
    with torch.no_grad():
        plain = attention(x, None, None)
        handle = attention.value.register_forward_hook(lambda _m, _a, out: out * 2)
        hooked = attention(x, None, None)
        handle.remove()
        torch.testing.assert_close(hooked, plain * 2)  # the hook acted: V was called, not fused past
        assert torch.equal(attention(x, None, None), plain)  # no hook: the fused path again


def test_conversion_reads_through_a_tuners_wrappers() -> None:
    """A HF teacher whose projections a tuner wrapped (peft LoRA) converts to the compact encoder:
    the wrapped projections' own weights are read, the LoRA pairs are left to the tuner."""
    hf = hf_model(*SHAPES[0])
    plain = from_hf(hf).eval()
    wrapped = lora(copy.deepcopy(hf))
    assert any(".query.base_layer.weight" in k for k in wrapped.state_dict())
    converted = from_hf(wrapped).eval()
    assert not lora_layers(converted)
    assert all(torch.equal(v, plain.state_dict()[k]) for k, v in converted.state_dict().items())
