"""Registry entries of the paper's baselines (docs/method.md §4) for ``asmg_tf.updaters.METHODS``."""

from __future__ import annotations

from asmg_tf.updaters.bu import FULL, bu
from asmg_tf.updaters.incctr import IncCTR
from asmg_tf.updaters.sml import SML
from asmg_tf.updaters.sml_mf import SMLMF
from asmg_tf.updaters.spmf import SPMF

BASELINE_METHODS = {
    "bu3": bu(3),
    "bu5": bu(5),
    "bu7": bu(7),
    "bu_full": bu(FULL),
    "spmf": SPMF,
    "incctr": IncCTR,
    "sml": SML,
    "sml_mf": SMLMF,
}
