"""Bit-for-bit reruns on one machine: what ``asmg bench`` (and the asmg_plus selection) switch off before they run.

Measured on Online Retail (asmg_gru_multi, iterations 13-17, two processes, one cache): with TensorFlow's defaults
the meta-trained model differs from the first meta-training step on (AUC differences of 1e-16 to 3e-8 per period,
which grew to ±0.0004 over the test iterations of whole runs); with TensorFlow's op determinism
(``tf.config.experimental.enable_op_determinism``) it still differs; with oneDNN's custom CPU kernels off
(``TF_ENABLE_ONEDNN_OPTS=0``) the runs are identical, with or without op determinism. oneDNN chooses kernels and
splits work across threads at run time, so the order of float sums can change from run to run. The variable is read
once, when TensorFlow is imported, so ``prepare`` must run before that import. Op determinism is not switched on: it
did not matter here, and it is process-wide (in a library or test process it would make every later unseeded random
op raise).

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


def reproducible() -> bool:
    """Whether reruns in this process reproduce (oneDNN off when TensorFlow loaded); warns when they may not."""
    prepare()
    reproducible = os.environ.get(ONEDNN) == "0"
    if not reproducible:
        warnings.warn(
            f"{ONEDNN} is not 0 in this process: oneDNN kernels can change results in the last digits from run to "
            f"run (set {ONEDNN}=0 before TensorFlow is imported for bit-for-bit reruns)",
            stacklevel=2,
        )
    return reproducible
