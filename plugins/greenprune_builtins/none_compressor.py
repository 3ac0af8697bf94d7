"""The ``none`` compressor: no compression. The student is the pretrained model, so the tuner
phase shows what the tuner alone reaches (full fine-tuning, adapters, ...) as the baseline."""

from __future__ import annotations

from typing import Any

from greenprune.api import Component, CompressJob, Compressor, ModelBundle, PhaseOutput, RunContext, hookimpl


class NoCompression(Compressor):
    def compress(self, ctx: RunContext, job: CompressJob) -> PhaseOutput[ModelBundle]:
        return PhaseOutput(job.pretrained.clone(), {"note": "no compression: pretrained model"})


@hookimpl
def greenprune_register_compressors(register: Any) -> None:
    register(Component("none", factory=lambda opts: NoCompression(),
                       description="no compression; the tuner trains the pretrained model (baseline)"))
