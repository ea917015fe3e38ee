"""The ASMG TFX pipeline: one run per period (span), from raw logs to a pushed TF Serving version.

Per run (span t): ImportExampleGen -> StatisticsGen / ImportSchemaGen / ExampleValidator -> PeriodTransform (Beam:
the period's tf.Examples with the paper's preprocessing, append-only ids, state carried in an artifact) ->
TestThenTrain metrics (the served and IU models of t-1 scored on span t) -> Trainer (pretraining once, then IU) ->
ASMG generator -> VersionedPusher (``<serving_dir>/<t>/``). ``create_pipeline`` in ``pipeline.factory`` builds it.
"""

import asmg_tf  # noqa: F401  (legacy Keras before TensorFlow/TFX are imported)
