"""Int8 modules for the ``quantize`` compressor: dynamic int8 Linears and weight-only int8 embeddings
whose state dicts are plain tensors, so ``save_pretrained`` writes them to safetensors as int8."""
