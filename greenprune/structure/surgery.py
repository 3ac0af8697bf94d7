"""The surgery event: how a compressor that physically shrinks modules tells tuners what stayed.

A compressor that slices a module announces, per changed module, which of its input and output
features stayed and any scale it folded into the weights. A tuner whose own modules are attached to
that module (an adapter after a projection, a LoRA pair beside it) makes them follow: it receives the
events, never the compressor's masks or gates, through the optional tuner method
``on_surgery(before, after, events)`` (see :class:`greenprune.api.Tuner`).

For a Linear ``y = W x + b`` changed by an event ``e``, the new module computes
``W' = W[kept_out][:, kept_in] * out_scale[:, None] * in_scale`` and ``b' = b[kept_out] * out_scale``:
the old function on the kept inputs, restricted to the kept outputs, times the scales. ``None`` means
"all kept" (indices) or "1" (scales). A module with ``removed=True`` is gone; modules with no event
kept their shape (and name). A rebuild that moves a module (HF -> compact: RoBERTa's
``classifier.dense`` becomes the compact ``roberta.pooler.dense``) says so with ``source``, the
module's name before. Embeddings and LayerNorms are announced the same way (their features
along the hidden width are outputs).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SurgeryEvent:
    """One module physically changed by a compressor (tensors are 1-D, on the CPU or the model's device)."""

    #: qualified module name in the model after (the same before, unless ``source`` says otherwise)
    module: str
    #: indices of the input features that stayed (None: all)
    kept_in: Any = None
    #: indices of the output features that stayed (None: all)
    kept_out: Any = None
    #: per kept input feature, the factor folded into the weights (None: 1)
    in_scale: Any = None
    #: per kept output feature, the factor folded into the weights and bias (None: 1)
    out_scale: Any = None
    #: the module is gone (a removed attention or FFN block, say)
    removed: bool = False
    #: the module's name in the model before, where the rebuild gave it another (None: ``module``)
    source: str | None = None

    @property
    def before(self) -> str:
        """The module's name in the model before the surgery."""
        return self.source or self.module

    def select_out(self, t: Any, dim: int = 0, scale: bool = True) -> Any:
        """``t`` along its output-feature dim: the kept entries, times ``out_scale`` if ``scale``."""
        return _select(t, dim, self.kept_out, self.out_scale if scale else None)

    def select_in(self, t: Any, dim: int = -1, scale: bool = True) -> Any:
        """``t`` along its input-feature dim: the kept entries, times ``in_scale`` if ``scale``."""
        return _select(t, dim, self.kept_in, self.in_scale if scale else None)


def _select(t: Any, dim: int, index: Any, scale: Any) -> Any:
    if index is not None:
        t = t.index_select(dim, index.to(t.device))
    if scale is not None:
        shape = [1] * t.dim()
        shape[dim] = -1
        t = t * scale.to(device=t.device, dtype=t.dtype).view(shape)
    return t


def by_module(events: Iterable[SurgeryEvent]) -> Mapping[str, SurgeryEvent]:
    """The events keyed by module name (one event per module)."""
    out: dict[str, SurgeryEvent] = {}
    for e in events:
        if e.module in out:
            raise ValueError(f"two surgery events for module {e.module!r}")
        out[e.module] = e
    return out
