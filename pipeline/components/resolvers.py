"""Resolver strategy for local runs: the artifacts the previous span produced.

``LatestArtifactStrategy`` (what Kubeflow V2 supports) returns the newest artifact: right when every run handles a
new span, wrong when a finished span is run again (it would see its own outputs). ``PreviousSpanStrategy`` picks the
newest artifact whose ``span`` custom property is ``span``, so a rerun resolves exactly the inputs of the first run
and every component is a cache hit.
"""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.common import resolver

from pipeline.artifacts import SPAN


class PreviousSpanStrategy(resolver.ResolverStrategy):
    """For each channel: the newest artifact with custom property ``span == span`` (none when there is none)."""

    def __init__(self, span: int):
        self._span = int(span)

    def resolve_artifacts(self, store, input_dict: dict[str, list[types.Artifact]]) -> dict[str, list[types.Artifact]]:
        out = {}
        for key, artifacts in input_dict.items():
            match = [
                a for a in artifacts if a.has_custom_property(SPAN) and a.get_int_custom_property(SPAN) == self._span
            ]
            out[key] = sorted(match, key=lambda a: a.id)[-1:]
        return out
