"""Houlsby bottleneck adapters and where they go in a BERT encoder.

Houlsby et al., "Parameter-Efficient Transfer Learning for NLP" (ICML 2019), §2.1 / Fig. 2: each
transformer layer gets two adapters, one after the attention output projection and one after the
FFN output projection, each *before* the residual add and LayerNorm. An adapter is
``x + up(act(down(x)))`` with a small bottleneck, so with a near-zero ``up`` it starts as the identity.

Placement mechanism (why a hook, not a wrapper): the adapter is registered as a sibling submodule
(``...attention.output.adapter``, ``...layer.{i}.output.adapter``) and applied by a forward hook on
that block's ``dropout``. The backbone's state-dict keys therefore stay exactly as they were (a
wrapper around ``dense`` would rename ``dense.weight`` and break loading non-adapter checkpoints),
and the adapter sees the same tensor the reference implementation (google-research/adapter-bert) feeds
it: the projection after dropout, right before ``LayerNorm(x + residual)``. In greenprune's compact BERT
that tensor is also already multiplied by CoFi's block and hidden gates, so pruning hidden dims later
only has to slice the adapter (see :func:`transfer_adapters`). Blocks without ``dropout`` fall back to
a hook on ``dense``.

The hook is a *bound method of the adapter*: ``copy.deepcopy`` (``ModelBundle.clone``) copies bound
methods together with their ``__self__``, so a cloned model's hook calls the cloned adapter. A closure
would keep calling the original model's adapter.

Every adapter's shape and nonlinearity is recorded in ``model.config.greenprune_adapters`` so that a
plain ``save_pretrained`` writes it into config.json and ``io.load_with_adapters`` can rebuild them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from greenprune.api import SurgeryEvent, by_module

#: the submodule name of an adapter inside its output block (``encoder_params`` skips "adapter")
ATTR = "adapter"
#: config attribute holding {block name: {"hidden", "bottleneck", "nonlinearity"}}
CONFIG_KEY = "greenprune_adapters"
NONLINEARITIES: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "swish": nn.SiLU}
_LAYER = re.compile(r"(^|\.)encoder\.layer\.\d+$")


class BottleneckAdapter(nn.Module):
    """``x + up(act(down(x)))``: hidden -> bottleneck -> hidden with an internal skip connection.

    Initialisation: Houlsby et al. (§2.1) draw both projections near zero so the adapter starts close to
    the identity. Here ``down`` is N(0, ``init_std``) truncated at 2 std (their scheme) and ``up`` (weights
    and bias) is exactly zero, so inserting adapters leaves a model's outputs bit-for-bit unchanged,
    which matters when the model is a compressed student whose accuracy is being measured. ``up`` still
    gets a gradient at step one (its input ``act(down(x))`` is non-zero), and ``down`` from step two.
    """

    def __init__(self, hidden: int, bottleneck: int, nonlinearity: str = "gelu", init_std: float = 1e-2) -> None:
        super().__init__()
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(f"unknown nonlinearity {nonlinearity!r}; choose from {sorted(NONLINEARITIES)}")
        self.hidden, self.bottleneck, self.nonlinearity = int(hidden), int(bottleneck), nonlinearity
        self.down = nn.Linear(hidden, bottleneck)
        self.act = NONLINEARITIES[nonlinearity]()
        self.up = nn.Linear(bottleneck, hidden)
        with torch.no_grad():
            nn.init.trunc_normal_(self.down.weight, std=init_std, a=-2 * init_std, b=2 * init_std)
            self.down.bias.zero_()
            self.up.weight.zero_()
            self.up.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.up(self.act(self.down(x)))

    def hook(self, module: nn.Module, args: Any, output: torch.Tensor) -> torch.Tensor:
        """Forward hook on the block's dropout (or dense): replace its output by the adapted one."""
        return self(output)

    def spec(self) -> dict[str, Any]:
        return {"hidden": self.hidden, "bottleneck": self.bottleneck, "nonlinearity": self.nonlinearity}

    def extra_repr(self) -> str:
        return f"hidden={self.hidden}, bottleneck={self.bottleneck}, nonlinearity={self.nonlinearity}"


def bottleneck_size(hidden: int, bottleneck: int | None, reduction_factor: float) -> int:
    """An explicit ``bottleneck`` wins; otherwise ``hidden / reduction_factor`` rounded, at least 1."""
    if bottleneck is not None:
        return int(bottleneck)
    return max(1, round(hidden / reduction_factor))


def adapter_sites(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, block) of every output block that can take an adapter, in layer order.

    A block qualifies when it has a ``dense`` Linear with a non-zero output width; a removed attention
    or FFN block (``None`` in the compact BERT, or zero-width) is skipped.
    """
    sites = []
    for name, layer in model.named_modules():
        if not _LAYER.search(name):
            continue
        attention = getattr(layer, "attention", None)
        for sub, block in (("attention.output", getattr(attention, "output", None)),
                           ("output", getattr(layer, "output", None))):
            dense = getattr(block, "dense", None)
            if isinstance(dense, nn.Linear) and dense.out_features > 0:
                sites.append((f"{name}.{sub}", block))
    return sites


def iter_adapters(model: nn.Module) -> list[tuple[str, BottleneckAdapter]]:
    """(block name, adapter) for every inserted adapter."""
    return [(name, block.get_submodule(ATTR)) for name, block in adapter_sites(model)
            if isinstance(getattr(block, ATTR, None), BottleneckAdapter)]


def _hook_target(block: nn.Module) -> nn.Module:
    dropout = getattr(block, "dropout", None)
    return dropout if isinstance(dropout, nn.Module) else block.dense


def _detach_hooks(target: nn.Module) -> None:
    for key, fn in list(target._forward_hooks.items()):
        if isinstance(getattr(fn, "__self__", None), BottleneckAdapter):
            del target._forward_hooks[key]


def _attach(block: nn.Module, adapter: BottleneckAdapter) -> None:
    ref = block.dense.weight
    adapter.to(device=ref.device, dtype=ref.dtype)
    setattr(block, ATTR, adapter)
    target = _hook_target(block)
    _detach_hooks(target)  # never two adapter hooks on one block
    target.register_forward_hook(adapter.hook)


def _record(model: nn.Module) -> None:
    """Keep ``config.greenprune_adapters`` in step with the adapters actually present."""
    config = getattr(model, "config", None)
    if config is None:
        return
    specs = {name: a.spec() for name, a in iter_adapters(model)}
    if specs:
        setattr(config, CONFIG_KEY, specs)
    elif hasattr(config, CONFIG_KEY):
        delattr(config, CONFIG_KEY)


def insert_adapters(
    model: nn.Module,
    bottleneck: int | None = None,
    reduction_factor: float = 16,
    nonlinearity: str = "gelu",
    init_std: float = 1e-2,
) -> int:
    """Insert two Houlsby adapters per encoder layer; return how many were added.

    Idempotent: blocks that already carry an adapter keep it (whatever its size). The bottleneck is
    computed per block from its own width, so layers of different widths are fine.
    """
    added = 0
    for _, block in adapter_sites(model):
        if isinstance(getattr(block, ATTR, None), BottleneckAdapter):
            continue
        hidden = block.dense.out_features
        size = bottleneck_size(hidden, bottleneck, reduction_factor)
        _attach(block, BottleneckAdapter(hidden, size, nonlinearity, init_std))
        added += 1
    _record(model)
    return added


def insert_from_spec(model: nn.Module, specs: dict[str, dict[str, Any]]) -> int:
    """Insert fresh adapters exactly as ``specs`` (from :func:`adapter_specs`) describes them."""
    blocks = dict(adapter_sites(model))
    for name, spec in specs.items():
        block = blocks.get(name)
        if block is None:
            raise ValueError(f"cannot place adapter {name!r}: the model has no such output block")
        if block.dense.out_features != spec["hidden"]:
            raise ValueError(f"adapter {name!r} expects width {spec['hidden']}, "
                             f"the model's block has {block.dense.out_features}")
        _attach(block, BottleneckAdapter(spec["hidden"], spec["bottleneck"], spec["nonlinearity"]))
    _record(model)
    return len(specs)


def remove_adapters(model: nn.Module) -> int:
    """Remove every adapter and its hook; the model is the plain backbone again."""
    found = iter_adapters(model)
    for _, block in adapter_sites(model):
        if isinstance(getattr(block, ATTR, None), BottleneckAdapter):
            _detach_hooks(_hook_target(block))
            delattr(block, ATTR)
    _record(model)
    return len(found)


def adapter_specs(model: nn.Module) -> dict[str, dict[str, Any]]:
    return {name: a.spec() for name, a in iter_adapters(model)}


def adapter_state_keys(model: nn.Module) -> set[str]:
    """Every state-dict key of the adapters in ``model`` (full names, as ``model.state_dict()`` has them)."""
    return {f"{name}.{ATTR}.{key}" for name, a in iter_adapters(model) for key in a.state_dict()}


def adapter_params(model: nn.Module) -> int:
    return sum(p.numel() for _, a in iter_adapters(model) for p in a.parameters())


def head_prefixes(model: nn.Module) -> list[str]:
    """Top-level modules outside the backbone with parameters: ``classifier``, ``qa_outputs``, ..."""
    base = getattr(model, "base_model_prefix", "")
    if not base or getattr(model, base, None) is None:
        return []  # a bare backbone (BertModel) has no task head
    return [n for n, m in model.named_children() if n != base and any(True for _ in m.parameters())]


def task_parameter_names(model: nn.Module, layernorm: bool = True, pooler: bool = False) -> list[str]:
    """The per-task parameters of a "task adapter": adapters, LayerNorms (Houlsby §2.1 trains them
    too), the task head, and optionally the pooler. Everything else is the shared frozen backbone."""
    heads = tuple(f"{h}." for h in head_prefixes(model))
    names = []
    for name, _ in model.named_parameters():
        if (f".{ATTR}." in name or name.startswith(heads) or (layernorm and "LayerNorm" in name)
                or (pooler and ".pooler." in f".{name}")):
            names.append(name)
    return names


@torch.no_grad()
def transfer_adapters(src: nn.Module, dst: nn.Module, events: Sequence[SurgeryEvent] = ()) -> int:
    """Copy ``src``'s adapters into the blocks of ``dst`` with the same names, e.g. after physical pruning.

    An adapter follows its block's projection: the surgery event of ``{block}.dense`` (if any) says which
    output features stayed, and the adapter keeps those along its hidden width: ``down.weight[:, idx]``,
    ``up.weight[idx, :]`` and ``up.bias[idx]``; the bottleneck is unchanged. Scales folded into the
    projection need nothing here: the adapter sees the projection's output, which the new projection
    already produces scaled. A block removed (event ``removed``) or missing in ``dst`` drops its adapter.
    """
    changed = by_module(events)
    blocks = dict(adapter_sites(dst))
    copied = 0
    for name, old in iter_adapters(src):
        block = blocks.get(name)
        event = changed.get(f"{name}.dense")
        if block is None or (event is not None and event.removed):
            continue
        idx = event.kept_out if event is not None and event.kept_out is not None else torch.arange(old.hidden)
        idx = idx.to(old.up.weight.device)
        new = BottleneckAdapter(int(idx.numel()), old.bottleneck, old.nonlinearity)
        new.down.weight.copy_(old.down.weight[:, idx])
        new.down.bias.copy_(old.down.bias)
        new.up.weight.copy_(old.up.weight[idx, :])
        new.up.bias.copy_(old.up.bias[idx])
        if block.dense.out_features != new.hidden:
            raise ValueError(f"block {name!r} has width {block.dense.out_features}, adapter {new.hidden}")
        _attach(block, new)
        copied += 1
    _record(dst)
    return copied
