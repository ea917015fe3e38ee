"""Cut a full historical log into span folders, the pipeline's input: ``<root>/span-<t>/events.tfrecord.gz``.

The periods are the library's (``asmg_tf.data.build``: the paper's preprocessing, then ``split_periods``), so span
``t`` holds exactly the raw events whose samples form period ``t`` of ``asmg bench`` on the same log and settings.
Events before period 1 (a calendar split that keeps only the last ``num_periods`` units) go to ``span-0``: the
pipeline reads them for histories only. Events after the last period (the equal-count leftover) are dropped.
With ``tie_policy="exact"`` an equal-count cut may split one timestamp between two periods; events are assigned by
timestamp, so such a tie goes wholly to the earlier span (``"snap"`` avoids the case).

``spans.json`` beside the folders records what the pipeline needs to know about the data (kind, explicit labels,
history granularity, categories) and the protocol scaled to the number of periods.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile

import numpy as np

from asmg_tf.data.interactions import Interactions
from asmg_tf.data.periods import Protocol
from asmg_tf.data.preprocess import build_samples
from asmg_tf.data.split import split_periods
from pipeline.events import encode_event

SPANS_FILE = "spans.json"
EVENTS_FILE = "events.tfrecord.gz"
FORMAT = "asmg-spans/1"


def span_dir(root: str, span: int) -> str:
    return os.path.join(root, f"span-{span}")


def period_bounds(inter: Interactions, split: str, num_periods: int, tie_policy: str, seed: int) -> np.ndarray:
    """``[num_periods, 2]`` first and last timestamp of each period as ``asmg bench`` cuts it."""
    samples, _ = build_samples(inter, seed=seed)
    try:
        periods = split_periods(samples, split, num_periods, tie_policy)
    except ValueError as e:
        raise ValueError(f"{inter.name}: {e}") from None
    return np.array([[p.timestamp.min(), p.timestamp.max()] for p in periods], dtype=np.int64)


def assign_spans(timestamp: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Span of each event: t when it falls in period t's time range, 0 before period 1, -1 after the last."""
    span = np.searchsorted(bounds[:, 0], timestamp, side="right").astype(np.int64)  # periods started by then
    after_last = timestamp > bounds[-1, 1]
    # inside period t's range, or in a gap after it (none for the library's splits): t; a tie at a cut: the earlier
    tie = (span >= 2) & (timestamp == bounds[np.maximum(span - 2, 0), 1])
    span[tie] -= 1
    span[after_last] = -1
    return span


def write_spans(
    inter: Interactions,
    root: str,
    *,
    split: str = "count",
    num_periods: int = 31,
    tie_policy: str | None = None,
    seed: int = 1234,
    overwrite: bool = False,
) -> dict:
    """Write one folder per period under ``root`` (atomically, the whole tree at once); return the spans info."""
    root = os.path.abspath(root)
    if os.path.exists(root) and not overwrite:
        raise FileExistsError(f"{root} exists; pass overwrite=True (--overwrite) to replace it")
    tie_policy = tie_policy or inter.tie_policy
    ev = inter.events
    bounds = period_bounds(inter, split, num_periods, tie_policy, seed)
    ts = ev["timestamp"].to_numpy(np.int64)
    span = assign_spans(ts, bounds)
    protocol = Protocol.scaled(num_periods)
    parent = os.path.dirname(root)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp-spans-", dir=parent)
    try:
        sizes = _write_events(inter, span, tmp)
        info = {
            "format": FORMAT,
            "name": inter.name,
            "kind": inter.kind,
            "explicit": bool(inter.explicit),
            "positive_rating": float(inter.positive_rating),
            "history_granularity": inter.history_granularity,
            "has_categories": bool(inter.item_categories),
            "split": split,
            "tie_policy": tie_policy,
            "seed": seed,
            "num_periods": num_periods,
            "protocol": dataclasses.asdict(protocol),
            "events_per_span": {str(k): v for k, v in sorted(sizes.items())},
            "events_dropped_after_last_period": int((span < 0).sum()),
            "period_bounds": bounds.tolist(),
            "source": inter.source,
        }
        with open(os.path.join(tmp, SPANS_FILE), "w") as f:
            json.dump(info, f, indent=1)
        if os.path.exists(root):
            shutil.rmtree(root)
        os.replace(tmp, root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return info


def _write_events(inter: Interactions, span: np.ndarray, out: str) -> dict[int, int]:
    import tensorflow as tf

    ev = inter.events
    users, items = ev["user"].to_numpy(), ev["item"].to_numpy()
    ts = ev["timestamp"].to_numpy(np.int64)
    ratings = ev["rating"].to_numpy(np.float64) if inter.explicit else None
    cats = inter.item_categories
    sizes: dict[int, int] = {}
    options = tf.io.TFRecordOptions(compression_type="GZIP")
    for t in np.unique(span[span >= 0]).tolist():
        rows = np.flatnonzero(span == t)
        d = span_dir(out, t)
        os.makedirs(d)
        with tf.io.TFRecordWriter(os.path.join(d, EVENTS_FILE), options) as w:
            for r in rows.tolist():
                w.write(
                    encode_event(
                        users[r],
                        items[r],
                        ts[r],
                        r,
                        None if ratings is None else ratings[r],
                        None if cats is None else cats.get(items[r], ()),
                    )
                )
        sizes[t] = int(rows.size)
    return sizes


def read_spans_info(root: str) -> dict:
    """The ``spans.json`` of a spans folder, with a clear error when it is not one."""
    path = os.path.join(root, SPANS_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"{root} is not a spans folder (no {SPANS_FILE}); create one with `asmg pipeline spans --data ... --out {root}`"
        )
    with open(path) as f:
        info = json.load(f)
    if info.get("format") != FORMAT:
        raise ValueError(f"{path}: unknown format {info.get('format')!r}, expected {FORMAT!r}")
    return info


def list_spans(root: str) -> list[int]:
    """Span numbers present under ``root`` (folders ``span-<t>``), ascending."""
    out = []
    for name in os.listdir(root) if os.path.isdir(root) else ():
        if name.startswith("span-") and name[5:].isdigit() and os.path.isdir(os.path.join(root, name)):
            out.append(int(name[5:]))
    return sorted(out)
