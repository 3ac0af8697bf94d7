"""The compact encoder's config: a HF encoder config plus the sizes each layer kept.

Sizes: ``hidden_size``, ``num_attention_heads`` and ``intermediate_size`` stay those of the dense model
the compact one came from (they define the sparsity reference and the pooler/classifier width); the
actual sizes are ``layer_heads``, ``layer_ffn`` (0 = block removed), ``head_size`` and ``kept_hidden``
(width of the embeddings and of the residual stream). ``positions_after_padding`` is RoBERTa's
position numbering (see ``layers.CompactEmbeddings``).
"""

from __future__ import annotations

from typing import Any

from transformers import PretrainedConfig

#: HF config fields copied as they are by :meth:`CompactEncoderConfig.from_hf_config`.
HF_FIELDS = (
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "hidden_act",
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "max_position_embeddings",
    "type_vocab_size",
    "initializer_range",
    "layer_norm_eps",
    "pad_token_id",
    "classifier_dropout",
)


class CompactEncoderConfig(PretrainedConfig):
    """An encoder config plus per-layer sizes (see the module docstring for what each size means).

    Each encoder family has its own subclass (``model_type`` ``greenprune-<family>``; see
    ``classes.py``); this base is never saved."""

    model_type = "greenprune-encoder"

    def __init__(
        self,
        vocab_size: int = 30522,
        hidden_size: int = 768,
        num_hidden_layers: int = 12,
        num_attention_heads: int = 12,
        intermediate_size: int = 3072,
        hidden_act: str = "gelu",
        hidden_dropout_prob: float = 0.1,
        attention_probs_dropout_prob: float = 0.1,
        max_position_embeddings: int = 512,
        type_vocab_size: int = 2,
        initializer_range: float = 0.02,
        layer_norm_eps: float = 1e-12,
        pad_token_id: int | None = 0,
        classifier_dropout: float | None = None,
        layer_heads: list[int] | None = None,
        layer_ffn: list[int] | None = None,
        head_size: int | None = None,
        kept_hidden: int | None = None,
        positions_after_padding: bool = False,
        **kwargs: Any,
    ) -> None:
        # A plain __init__ (not dataclass fields) so the class works with transformers 4.x and 5.x.
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.max_position_embeddings = max_position_embeddings
        self.type_vocab_size = type_vocab_size
        self.initializer_range = initializer_range
        self.layer_norm_eps = layer_norm_eps
        self.classifier_dropout = classifier_dropout
        if head_size is None:
            if hidden_size % num_attention_heads:
                raise ValueError(f"hidden_size {hidden_size} is not a multiple of {num_attention_heads} heads")
            head_size = hidden_size // num_attention_heads
        self.head_size = int(head_size)
        self.layer_heads: list[int] = ([int(h) for h in layer_heads] if layer_heads is not None
                                       else [num_attention_heads] * num_hidden_layers)
        self.layer_ffn: list[int] = ([int(f) for f in layer_ffn] if layer_ffn is not None
                                     else [intermediate_size] * num_hidden_layers)
        self.kept_hidden = int(kept_hidden) if kept_hidden is not None else hidden_size
        self.positions_after_padding = bool(positions_after_padding)
        self._check()
        super().__init__(pad_token_id=pad_token_id, **kwargs)

    def _check(self) -> None:
        n = self.num_hidden_layers
        if len(self.layer_heads) != n or len(self.layer_ffn) != n:
            raise ValueError(f"layer_heads/layer_ffn must have {n} entries (num_hidden_layers)")
        if any(h < 0 or h > self.num_attention_heads for h in self.layer_heads):
            raise ValueError(f"layer_heads {self.layer_heads} outside [0, {self.num_attention_heads}]")
        if any(f < 0 or f > self.intermediate_size for f in self.layer_ffn):
            raise ValueError(f"layer_ffn {self.layer_ffn} outside [0, {self.intermediate_size}]")
        if not 1 <= self.kept_hidden <= self.hidden_size:
            raise ValueError(f"kept_hidden {self.kept_hidden} outside [1, {self.hidden_size}]")

    @classmethod
    def from_hf_config(cls, hf_config: Any, **overrides: Any) -> CompactEncoderConfig:
        """Dense compact config with the fields (and labels) of a HF encoder config (BERT, RoBERTa)."""
        kwargs: dict[str, Any] = {f: getattr(hf_config, f) for f in HF_FIELDS if hasattr(hf_config, f)}
        kwargs.update(
            id2label=dict(hf_config.id2label),
            label2id=dict(hf_config.label2id),
            problem_type=hf_config.problem_type,
        )
        kwargs.update(overrides)
        return cls(**kwargs)

    @property
    def is_dense(self) -> bool:
        """True when nothing has been pruned from this architecture."""
        return (
            all(h == self.num_attention_heads for h in self.layer_heads)
            and all(f == self.intermediate_size for f in self.layer_ffn)
            and self.kept_hidden == self.hidden_size
        )
