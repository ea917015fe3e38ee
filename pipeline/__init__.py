"""The ASMG TFX pipeline: one run per period (span), from raw logs to a pushed TF Serving version.

Per run (span t): ImportExampleGen -> StatisticsGen / ImportSchemaGen / ExampleValidator -> PeriodTransform (Beam:
the period's tf.Examples with the paper's preprocessing, append-only ids, state carried in an artifact) ->
TestThenTrain metrics (the served and IU models of t-1 scored on span t) -> Trainer (pretraining once, then IU) ->
ASMG generator -> BlessingGate (generated vs IU on the spans scored so far) -> VersionedPusher
(``<serving_dir>/<t>/``: the generated model if blessed, else IU). ``create_pipeline`` in ``pipeline.factory`` builds it.
"""

import asmg_tf  # noqa: F401  (legacy Keras before TensorFlow/TFX are imported)

#: the update method of a new pipeline root: the protected generator, which serves its IU model wherever its own
#: generated model scored worse (the paper's ``asmg_gru_multi`` is ``--method asmg_gru_multi`` away)
DEFAULT_METHOD = "asmg_plus"
#: what a root created before the method was recorded in its knobs ran
LEGACY_METHOD = "asmg_gru_multi"
