"""Models as the runner sees them: a bundle of model + tokenizer, and how big a model is."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from greenprune.results import ModelSize


@dataclass
class ModelBundle:
    """A model, its tokenizer, and where it came from: what phases hand each other."""

    #: the ``torch.nn.Module`` (a transformers model with the task's head)
    model: Any
    #: the transformers tokenizer that goes with it
    tokenizer: Any
    #: the teacher spec it descends from (``minilm``, a folder, a Hub id)
    name: str
    #: a label for logs and reports, e.g. ``pretrained:minilm``, ``finetuned``, ``compressed:cofi``
    origin: str
    #: free-form facts later phases may read (``fingerprint``, ``teacher_layer_ids``, ...)
    info: dict[str, Any] = field(default_factory=dict)
    #: True only for the pretrained weights as the teacher loader returned them (no task training
    #: yet): a tuner may then serve the teacher's cached fine-tune instead of training again
    pretrained: bool = False

    def clone(self, origin: str | None = None, *, pretrained: bool | None = None) -> ModelBundle:
        """A deep copy of the model (tokenizer shared); ``origin`` and ``pretrained`` kept unless given."""
        return ModelBundle(copy.deepcopy(self.model), self.tokenizer, self.name, origin or self.origin,
                           dict(self.info), self.pretrained if pretrained is None else pretrained)


def encoder_params(model: Any) -> int:
    """Encoder projection parameters present (see :mod:`greenprune.structure.sizes`)."""
    from greenprune.structure.sizes import encoder_params as count

    return count(model)


def model_size(model: Any, reference_encoder_params: int | None = None) -> ModelSize:
    """Every size figure of ``model``; sparsity against ``reference_encoder_params`` (the teacher's)."""
    from greenprune.structure.sizes import count_encoder, dtypes, per_layer_sizes, saved_size

    enc = count_encoder(model)
    disk_bytes, disk_dtypes = saved_size(model)
    params = list(model.parameters())
    return ModelSize(
        encoder_params=enc.present,
        total_params=sum(p.numel() for p in params),
        trainable_params=sum(p.numel() for p in params if p.requires_grad),
        bytes_on_disk=disk_bytes,
        measured_sparsity=(1 - enc.present / reference_encoder_params) if reference_encoder_params else None,
        layers=per_layer_sizes(model),
        encoder_nonzero=enc.nonzero,
        unstructured_sparsity=(1 - enc.nonzero / enc.present) if enc.present else None,
        dtypes=dtypes(model),
        bytes_by_dtype=disk_dtypes,
    )
