"""The neutral model-structure layer: encoder families, size accounting, surgery events, and the
compact encoder any structured pruner can target.

The package itself imports nothing heavy; ``greenprune.structure.compact`` imports torch and
transformers and registers the compact classes with transformers' Auto classes.
"""
