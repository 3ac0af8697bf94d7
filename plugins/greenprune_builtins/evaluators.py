"""The ``glue`` evaluator: dev-set predictions scored with the task's official metrics, computed
by offline ``evaluate`` modules shipped with greenprune."""

from __future__ import annotations

from typing import Any

from greenprune.api import Component, Evaluator, hookimpl


def predict(model: Any, tokenizer: Any, examples: list[dict[str, Any]], task: Any, max_length: int,
            batch_size: int) -> tuple[list[Any], list[Any]]:
    import torch

    from greenprune.api import encode, loader, shard_for_eval

    model.eval()
    device = next(model.parameters()).device
    preds: list[Any] = []
    refs: list[Any] = []
    # Several processes each predict a share of the batches; gather puts every example back once.
    batches, gather = shard_for_eval(loader(encode(examples, tokenizer, task, max_length), tokenizer, batch_size,
                                            shuffle=False))
    for batch in batches:
        labels = batch.pop("labels")
        with torch.inference_mode():
            logits = model(**{k: v.to(device) for k, v in batch.items()}).logits
        if task.kind == "regression":
            preds.extend(gather(logits.squeeze(-1).float().cpu().tolist()))
        else:
            preds.extend(gather(logits.argmax(-1).cpu().tolist()))
        refs.extend(gather(labels.tolist()))
    return preds, refs


class GlueEvaluator(Evaluator):
    def evaluate(self, ctx: Any, bundle: Any, task: Any, data: Any) -> dict[str, dict[str, float]]:
        from greenprune_builtins.metrics import score

        cfg = ctx.config.train
        out = {}
        for split, examples in data.dev.items():
            preds, refs = predict(bundle.model, bundle.tokenizer, examples, task, cfg.max_length,
                                  cfg.eval_batch_size)
            out[split] = score(task.metrics, preds, refs)
        return out


@hookimpl
def greenprune_register_evaluators(register: Any) -> None:
    register(Component("glue", factory=lambda opts: GlueEvaluator(), task_kinds=("classification", "regression"),
                       description="GLUE-style classification/regression with the official metrics"))
