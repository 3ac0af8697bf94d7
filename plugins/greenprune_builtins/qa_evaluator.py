"""The ``qa`` evaluator: extractive question answering scored with SQuAD's exact match and F1.

Every dev question is cut into the task's windows, the model gives start/end logits per token,
post-processing (:func:`greenprune.qa.postprocess`) picks one answer text per question across its
windows, and the offline ``squad`` metric scores the texts against all gold answers (0-100;
SQuAD 2.0 also per answerable / unanswerable group).
"""

from __future__ import annotations

from typing import Any

from greenprune.api import Component, Evaluator, UserError, hookimpl


def window_logits(model: Any, tokenizer: Any, features: list[dict[str, Any]], batch_size: int) -> tuple[
    list[Any], list[Any]
]:
    """Start and end logits of every window, each cut to the window's own length (no padding)."""
    import torch

    from greenprune.api import loader, shard_for_eval

    model.eval()
    device = next(model.parameters()).device
    starts: list[Any] = []
    ends: list[Any] = []
    # Several processes each score a share of the windows; gather returns every window once, in order.
    batches, gather = shard_for_eval(loader(features, tokenizer, batch_size, shuffle=False))
    for batch in batches:
        lengths = batch["attention_mask"].sum(-1).tolist()  # right padding: real tokens come first
        with torch.inference_mode():
            out = model(**{k: v.to(device) for k, v in batch.items()})
        pairs = [(s[: int(n)], e[: int(n)]) for s, e, n in zip(out.start_logits.float().cpu().numpy(),
                                                               out.end_logits.float().cpu().numpy(), lengths,
                                                               strict=True)]
        for s, e in gather(pairs):
            starts.append(s)
            ends.append(e)
    return starts, ends


def predict_answers(model: Any, tokenizer: Any, examples: list[dict[str, Any]], task: Any,
                    batch_size: int) -> dict[str, str]:
    """Question id -> predicted answer text ("" = no answer)."""
    from greenprune.api import encode_eval, postprocess

    features, metas = encode_eval(examples, tokenizer, task)
    starts, ends = window_logits(model, tokenizer, features, batch_size)
    return postprocess(examples, metas, starts, ends, task)


def score(predictions: dict[str, str], examples: list[dict[str, Any]], version_2: bool) -> dict[str, float]:
    from greenprune_builtins.metrics import load_metric

    result = load_metric("squad").compute(
        predictions=[{"id": k, "prediction_text": v} for k, v in predictions.items()],
        references=[{"id": ex["id"], "answers": ex["answers"]} for ex in examples],
        version_2=version_2,
    )
    # Counts (``*_total``) are not metrics; the split's size is reported with the task already.
    return {k: float(v) for k, v in result.items() if not k.endswith("total")}


class QAEvaluator(Evaluator):
    def evaluate(self, ctx: Any, bundle: Any, task: Any, data: Any) -> dict[str, dict[str, float]]:
        if getattr(task, "kind", None) != "qa":
            raise UserError(f"the qa evaluator scores question-answering tasks (squad, squad_v2); task {task.name!r} "
                            f"is {task.kind}: use --set evaluator=glue or leave the evaluator to the task")
        batch_size = ctx.config.train.eval_batch_size
        return {split: score(predict_answers(bundle.model, bundle.tokenizer, examples, task, batch_size),
                             examples, task.version_2)
                for split, examples in data.dev.items()}


@hookimpl
def greenprune_register_evaluators(register: Any) -> None:
    register(Component("qa", factory=lambda opts: QAEvaluator(), task_kinds=("qa",),
                       description="extractive QA (SQuAD exact match and F1 over post-processed answer spans)"))
