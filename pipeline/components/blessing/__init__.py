"""BlessingGate: the Evaluator's role in this pipeline (a ``ModelBlessing`` for the generated model, or not)."""

from pipeline.components.blessing.component import BlessingGate

__all__ = ["BlessingGate"]
