"""The built-in update methods' names, importable without TensorFlow (command lines check them before it loads; the
updaters package itself imports TensorFlow).

``asmg_tf.updaters.METHODS`` maps the same names to their factories; a test keeps the two equal.
"""

PAPER_BASELINES = ("iu", "bu3", "bu5", "bu7", "bu_full", "spmf", "incctr", "sml", "sml_mf")
ASMG_VARIANTS = ("asmg_gru_multi", "asmg_gru_unif", "asmg_gru_single", "asmg_gru_zero", "asmg_gru_full", "asmg_linear")
BEYOND_THE_PAPER = ("asmg_plus",)
METHOD_NAMES = frozenset(PAPER_BASELINES + ASMG_VARIANTS + BEYOND_THE_PAPER)
