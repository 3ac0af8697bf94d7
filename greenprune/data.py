"""Turning task examples into tensors: tokenisation, dynamic padding, loaders."""

from __future__ import annotations

from typing import Any

from greenprune.tasks import Example, Task


def encode(examples: list[Example], tokenizer: Any, task: Task, max_length: int) -> list[dict[str, Any]]:
    """Tokenise examples (no padding here: batches are padded to their own longest example).

    Question answering builds windowed span features instead (:func:`greenprune.qa.encode_train`),
    whose length is the task's own ``max_length``: the window defines the features, so it belongs
    to the task rather than to one training phase.
    """
    if task.kind == "qa":
        from greenprune.qa import encode_train

        return encode_train(examples, tokenizer, task)  # type: ignore[arg-type]  # a QATask
    if not examples:
        return []
    texts_a = [e["text_a"] for e in examples]
    pairs = examples[0].get("text_b") is not None
    texts_b = [e.get("text_b") or "" for e in examples] if pairs else None
    enc = tokenizer(texts_a, texts_b, truncation=True, max_length=max_length)
    cast = float if task.kind == "regression" else int
    feats = []
    for i, ex in enumerate(examples):
        row = {k: enc[k][i] for k in enc}
        row["labels"] = cast(ex["label"])
        feats.append(row)
    return feats


def loader(features: list[dict[str, Any]], tokenizer: Any, batch_size: int, shuffle: bool, seed: int = 0) -> Any:
    import torch
    from transformers import DataCollatorWithPadding

    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return torch.utils.data.DataLoader(
        features, batch_size=batch_size, shuffle=shuffle, generator=generator,
        collate_fn=DataCollatorWithPadding(tokenizer, return_tensors="pt"),
    )
