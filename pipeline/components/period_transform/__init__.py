"""PeriodTransform: the Beam transform from a span's raw events to the period's training examples."""

from pipeline.components.period_transform.component import PeriodTransform

__all__ = ["PeriodTransform"]
