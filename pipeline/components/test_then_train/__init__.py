"""Test-then-train metrics: the served and IU models of the previous run scored on the new span first."""

from pipeline.components.test_then_train.component import TestThenTrain

__all__ = ["TestThenTrain"]
