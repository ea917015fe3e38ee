"""The ASMG generator as a TFX component."""

from pipeline.components.generator.component import AsmgGenerator

__all__ = ["AsmgGenerator"]
