"""Unstructured pruning shared by the ``magnitude`` and ``wanda`` compressors: which weights to
zero (:mod:`.select`), keeping them zero through later training (:mod:`.keep_zeros`), and Wanda's
calibration statistics (:mod:`.calibration`). Torch only: no greenprune imports here."""
