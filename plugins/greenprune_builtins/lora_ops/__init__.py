"""LoRA through peft for the ``lora`` tuner: injection, what trains, following surgery, merging, and
per-task save/load. Torch and peft only: no greenprune imports here."""
