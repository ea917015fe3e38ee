"""Stop a run whose span has anomalies, with a message that says what is wrong and what to do."""

from __future__ import annotations

import os

from tfx.types import artifact_utils

ANOMALIES_FILE = "SchemaDiff.pb"


class SpanAnomaliesError(ValueError):
    """A span's raw events do not match the schema; the run stops before anything trains or is pushed."""


def describe_anomalies(anomalies) -> list[str]:
    """One line per anomaly of an ``Anomalies`` proto: the feature (or the dataset) and TFDV's descriptions."""
    lines = []
    for feature, info in sorted(anomalies.anomaly_info.items()):
        reasons = "; ".join(r.description or r.short_description for r in info.reason) or info.description
        lines.append(f"feature {feature!r}: {reasons}")
    if anomalies.HasField("dataset_anomaly_info"):
        info = anomalies.dataset_anomaly_info
        reasons = "; ".join(r.description or r.short_description for r in info.reason) or info.description
        lines.append(f"dataset: {reasons}")
    return lines


def raise_on_anomalies(artifact, span: int) -> None:
    """Raise ``SpanAnomaliesError`` when ExampleValidator found anything in any split of ``artifact``."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    problems = []
    for split in artifact_utils.decode_split_names(artifact.split_names):
        path = os.path.join(artifact.uri, f"Split-{split}", ANOMALIES_FILE)
        if not os.path.exists(path):
            raise FileNotFoundError(f"span {span}: no anomalies report at {path}")
        with open(path, "rb") as f:
            anomalies = anomalies_pb2.Anomalies.FromString(f.read())
        problems += [f"[{split}] {line}" for line in describe_anomalies(anomalies)]
    if problems:
        raise SpanAnomaliesError(
            f"span {span} does not match the raw-event schema, so this run stops here: nothing was trained or "
            "pushed.\n  " + "\n  ".join(problems) + "\nFix the span's files (or the schema, if the data changed on "
            "purpose) and run the span again."
        )
