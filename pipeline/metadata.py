"""Reading the pipeline's MLMD store: finished spans, per-span metrics, component timings."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from pipeline.state import SPAN


@contextlib.contextmanager
def open_store(metadata_path: str) -> Iterator:
    """A read handle on the sqlite MLMD store at ``metadata_path`` (must exist)."""
    import ml_metadata as mlmd
    from ml_metadata.proto import metadata_store_pb2

    if not os.path.exists(metadata_path):
        raise FileNotFoundError(f"no metadata store at {metadata_path}: nothing has run under this root yet")
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = metadata_path
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    yield mlmd.MetadataStore(config)


def _span(artifact) -> int | None:
    """The span custom property our components and ExampleGen set (TFX 1.21 leaves the ``span`` property of
    statistics and anomalies at 0, so it is not used)."""
    value = artifact.custom_properties.get(SPAN)
    return int(value.int_value) if value is not None and value.HasField("int_value") else None


def artifacts_by_span(store, type_name: str) -> dict[int, list]:
    """LIVE artifacts of ``type_name`` that carry a span, grouped by span (oldest first)."""
    from ml_metadata.proto import metadata_store_pb2

    out: dict[int, list] = {}
    try:
        artifacts = store.get_artifacts_by_type(type_name)
    except Exception:  # the type is not registered yet: nothing of it ever ran
        return out
    for a in sorted(artifacts, key=lambda a: a.id):
        if a.state != metadata_store_pb2.Artifact.LIVE:
            continue
        span = _span(a)
        if span is not None:
            out.setdefault(span, []).append(a)
    return out


def finished_spans(metadata_path: str, update_start: int) -> set[int]:
    """Spans whose run completed: before ``update_start`` the state was written, from it on a model was pushed."""
    if not os.path.exists(metadata_path):
        return set()
    with open_store(metadata_path) as store:
        states = artifacts_by_span(store, "TransformCache")
        pushed = artifacts_by_span(store, "PushedModel")
    return {t for t in states if t < update_start} | set(pushed)


def component_seconds(metadata_path: str) -> list[dict]:
    """``[{"span", "component", "state", "seconds"}]`` for every execution (span from its output artifacts)."""
    from ml_metadata.proto import metadata_store_pb2

    rows = []
    with open_store(metadata_path) as store:
        types = {t.id: t.name for t in store.get_execution_types()}
        executions = store.get_executions()
        events = store.get_events_by_execution_ids([e.id for e in executions])
        outputs: dict[int, list[int]] = {}
        inputs: dict[int, list[int]] = {}
        for ev in events:
            if ev.type in (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT):
                outputs.setdefault(ev.execution_id, []).append(ev.artifact_id)
            elif ev.type in (metadata_store_pb2.Event.INPUT, metadata_store_pb2.Event.DECLARED_INPUT):
                inputs.setdefault(ev.execution_id, []).append(ev.artifact_id)
        ids = sorted({a for v in (*outputs.values(), *inputs.values()) for a in v})
        spans = {a.id: _span(a) for a in store.get_artifacts_by_id(ids)} if ids else {}
        for e in sorted(executions, key=lambda e: e.id):  # producers before consumers
            # the span of its outputs, else (StatisticsGen, ExampleValidator) the largest span among its inputs
            span = next((spans[a] for a in outputs.get(e.id, []) if spans.get(a) is not None), None)
            if span is None:
                found = [spans[a] for a in inputs.get(e.id, []) if spans.get(a) is not None]
                span = max(found) if found else None
                for a in outputs.get(e.id, []) if span is not None else ():
                    spans[a] = span
            rows.append(
                {
                    "execution": e.id,
                    "span": span,
                    "component": types.get(e.type_id, "?").split(".")[-1],
                    "node": e.custom_properties["__node_id__"].string_value
                    if "__node_id__" in e.custom_properties
                    else None,
                    "state": metadata_store_pb2.Execution.State.Name(e.last_known_state),
                    "seconds": (e.last_update_time_since_epoch - e.create_time_since_epoch) / 1000.0,
                    "start": e.create_time_since_epoch / 1000.0,
                    "end": e.last_update_time_since_epoch / 1000.0,
                }
            )
    return rows
