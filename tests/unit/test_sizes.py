"""Size accounting by module structure: wrappers do not change the count, zeros are unstructured sparsity."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from greenprune.modeling import model_size  # noqa: E402
from greenprune.structure.sizes import count_encoder, per_layer_sizes  # noqa: E402

LAYERS, HIDDEN, HEADS, FFN = 2, 32, 4, 64
#: 4 D^2 + 4 D (Q, K, V, O) + 2 D F + F + D (FFN up and down), per layer
DENSE = LAYERS * (4 * HIDDEN * HIDDEN + 4 * HIDDEN + 2 * HIDDEN * FFN + FFN + HIDDEN)


def randomise(model: object) -> object:
    """Every parameter random (HF initialises biases to exactly zero, which would count as zeros)."""
    with torch.no_grad():
        for p in model.parameters():  # type: ignore[attr-defined]
            p.normal_(std=0.1)
    return model


def bert() -> object:
    cfg = transformers.BertConfig(vocab_size=100, hidden_size=HIDDEN, num_hidden_layers=LAYERS,
                                  num_attention_heads=HEADS, intermediate_size=FFN, num_labels=2)
    torch.manual_seed(0)
    return randomise(transformers.BertForSequenceClassification(cfg))


def roberta() -> object:
    cfg = transformers.RobertaConfig(vocab_size=100, hidden_size=HIDDEN, num_hidden_layers=LAYERS,
                                     num_attention_heads=HEADS, intermediate_size=FFN, num_labels=2,
                                     max_position_embeddings=40)
    torch.manual_seed(0)
    return randomise(transformers.RobertaForSequenceClassification(cfg))


@pytest.mark.parametrize("make", [bert, roberta])
def test_dense_count_is_the_six_projections(make: object) -> None:
    model = make()  # type: ignore[operator]
    count = count_encoder(model)
    assert count.present == DENSE and count.nonzero == count.present
    size = model_size(model, DENSE)
    assert size.measured_sparsity == 0.0 and size.unstructured_sparsity == 0.0
    assert size.dtypes == {"float32": size.total_params}
    assert [s["heads"] for s in size.layers] == [HEADS] * LAYERS
    assert [s["ffn"] for s in size.layers] == [FFN] * LAYERS


def test_peft_lora_wrapper_does_not_change_the_count() -> None:
    peft = pytest.importorskip("peft")
    model = bert()
    before = model_size(model, DENSE)
    wrapped = peft.get_peft_model(model, peft.LoraConfig(r=4, target_modules=["query", "value"]))
    names = [n for n, _ in wrapped.named_parameters()]
    assert any(".query.base_layer.weight" in n for n in names)  # the wrapper renamed the projection
    after = model_size(wrapped, DENSE)
    assert after.encoder_params == before.encoder_params == DENSE
    assert after.measured_sparsity == 0.0
    assert per_layer_sizes(wrapped) == per_layer_sizes(model)


def test_half_zero_weights_are_unstructured_sparsity() -> None:
    model = bert()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".encoder.layer." in name:  # zero exactly half of every projection's weights and biases
                flat = p.view(-1)
                flat[: flat.numel() // 2] = 0
    size = model_size(model, DENSE)
    assert size.encoder_params == DENSE
    assert size.measured_sparsity == 0.0  # structured: nothing removed
    assert size.unstructured_sparsity == pytest.approx(0.5, abs=1e-3)
    assert size.encoder_nonzero == pytest.approx(DENSE / 2, abs=DENSE * 1e-3)
