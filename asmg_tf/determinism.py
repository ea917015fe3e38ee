"""Bit-for-bit reruns on one machine: what ``asmg bench`` (and the asmg_plus selection) switch on before they run.

Measured on Online Retail (asmg_gru_multi, iterations 13-17, two processes, one cache): with TensorFlow's defaults
the meta-trained generator differs from the second meta-training step on (AUC differences of 1e-8, growing to
±0.0004 over the test iterations); with TensorFlow's op determinism alone it still differs; with oneDNN's custom CPU
kernels off (``TF_ENABLE_ONEDNN_OPTS=0``) the runs are identical. oneDNN picks its kernels and how it splits a
reduction across threads at run time, so the float summation order can change from run to run. The variable is
read once, when TensorFlow is imported, so ``prepare`` must run before that import; ``enable`` adds TensorFlow's own
op determinism (which also makes any op without a deterministic kernel fail loudly rather than vary silently).

Across machines results still differ: another CPU (instruction set, core count), another TensorFlow/Eigen build or
thread count changes the order of floating-point sums, and one ulp early in pretraining moves everything after it.
Set ``TF_ENABLE_ONEDNN_OPTS=1`` in the environment to trade reproducibility for oneDNN's speed.
"""

from __future__ import annotations

import os
import sys
import warnings

ONEDNN = "TF_ENABLE_ONEDNN_OPTS"


def prepare() -> None:
    """Turn oneDNN's kernels off for this process unless the environment chose (only before TensorFlow loads)."""
    if "tensorflow" not in sys.modules:
        os.environ.setdefault(ONEDNN, "0")


def enable() -> bool:
    """TensorFlow op determinism; returns whether the run is reproducible (oneDNN off when TensorFlow loaded),
    with a warning when it is not."""
    prepare()
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    reproducible = os.environ.get(ONEDNN) == "0"
    if not reproducible:
        warnings.warn(
            f"{ONEDNN} is not 0 in this process: oneDNN kernels can change results in the last digits from run to "
            f"run (set {ONEDNN}=0 before TensorFlow is imported for bit-for-bit reruns)",
            stacklevel=2,
        )
    return reproducible
