"""Artifact types of the pipeline's own channels.

Every channel a later run resolves must have a type that (a) one component alone produces and (b) is one of the
standard types Kubeflow V2 knows: its latest-artifact resolver queries MLMD by schema title only, and every custom
type shares the title ``tfx.Artifact``. Hence:

* the Transform's carried state is a ``TransformCache`` (state a transform carries from run to run);
* the generator's history (last k IU models, target data, generator checkpoint and hidden states) is a ``File``;
* the test-then-train metrics are a ``ModelEvaluation``;
* the generated model is a plain ``Model`` (any Model consumer can take it); every Model the pipeline writes also
  carries the IU warm-start state, so a latest-``Model`` query that returns the generated model still warm-starts
  IU from the IU state (never from the generated weights).
"""

from tfx.types import standard_artifacts
from tfx.types.experimental.simple_artifacts import File

from pipeline import state as S

PeriodState = standard_artifacts.TransformCache
GeneratorHistory = File
PeriodMetrics = standard_artifacts.ModelEvaluation
Examples = standard_artifacts.Examples
Model = standard_artifacts.Model
PushedModel = standard_artifacts.PushedModel

#: int custom property set on every artifact the pipeline resolves later: the span (period) that produced it
SPAN = S.SPAN  # kept importable from here; defined in the TFX-free pipeline.state

__all__ = ["Examples", "GeneratorHistory", "Model", "PeriodMetrics", "PeriodState", "PushedModel", "SPAN"]
