"""The period's training examples as serialized ``tf.Example`` records, and reading them back as ``PeriodData``.

Features (ids are the append-only vocabulary's indices)::

    user int64, item int64, hist int64[<= 30] (most recent first), hist_len int64, label float,
    timestamp int64, seq int64 (the event's position in the source log), item_cats int64[C] (target's categories)

Readers sort the records into one canonical order, (timestamp, user, seq, positive first), so every component, on
any Beam runner, trains and evaluates on the same sequence (shuffling is seeded from it).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from asmg_tf.data.periods import HIST_LEN, PeriodData
from asmg_tf.data.spill import ColumnSpill
from pipeline.fs import load_npz, save_npz

USER, ITEM, HIST, HIST_LEN_KEY, LABEL, TIMESTAMP, SEQ, ITEM_CATS = (
    "user",
    "item",
    "hist",
    "hist_len",
    "label",
    "timestamp",
    "seq",
    "item_cats",
)


def encode_sample(user, item, hist: Sequence[int], label: float, timestamp, seq, item_cats: Sequence[int]) -> bytes:
    from tensorflow.core.example import example_pb2, feature_pb2

    def ints(values):
        return feature_pb2.Feature(int64_list=feature_pb2.Int64List(value=[int(v) for v in values]))

    feature = {
        USER: ints([user]),
        ITEM: ints([item]),
        HIST: ints(hist),
        HIST_LEN_KEY: ints([len(hist)]),
        LABEL: feature_pb2.Feature(float_list=feature_pb2.FloatList(value=[float(label)])),
        TIMESTAMP: ints([timestamp]),
        SEQ: ints([seq]),
        ITEM_CATS: ints(item_cats),
    }
    return example_pb2.Example(features=feature_pb2.Features(feature=feature)).SerializeToString()


def encode_samples(samples: dict[str, np.ndarray], item_categories: np.ndarray | None) -> list[bytes]:
    """Records for the arrays of ``pipeline.preprocess.user_period`` (categories looked up, -1 padding dropped)."""
    out = []
    for r in range(samples["item"].shape[0]):
        n = int(samples["hist_len"][r])
        item = int(samples["item"][r])
        cats = () if item_categories is None else [c for c in item_categories[item].tolist() if c >= 0]
        out.append(
            encode_sample(
                samples["user"][r],
                item,
                samples["hist"][r, :n].tolist(),
                samples["label"][r],
                samples["timestamp"][r],
                samples["seq"][r],
                cats,
            )
        )
    return out


def read_period(files: Sequence[str], hist_len: int = HIST_LEN, batch_size: int = 16384) -> PeriodData:
    """All records of ``files`` (GZIP TFRecords) as one ``PeriodData`` in canonical order, memory-mapped.

    Records are parsed a batch at a time into local scratch columns (``asmg_tf.data.spill``); the canonical order
    is computed from the four sort keys, and every column is written in that order to a memory-mapped file. In
    memory at once: a batch, the sort keys and the order (~40 bytes per sample), not the period (144 bytes per
    sample, formerly held three times); training then streams it batch by batch (``make_dataset``).
    """
    import tensorflow as tf

    spec = {
        USER: tf.io.FixedLenFeature([], tf.int64),
        ITEM: tf.io.FixedLenFeature([], tf.int64),
        HIST: tf.io.VarLenFeature(tf.int64),
        HIST_LEN_KEY: tf.io.FixedLenFeature([], tf.int64),
        LABEL: tf.io.FixedLenFeature([], tf.float32),
        TIMESTAMP: tf.io.FixedLenFeature([], tf.int64),
        SEQ: tf.io.FixedLenFeature([], tf.int64),
    }
    columns = {
        USER: (np.int32, ()),
        ITEM: (np.int32, ()),
        HIST: (np.int32, (hist_len,)),
        HIST_LEN_KEY: (np.int32, ()),
        LABEL: (np.float32, ()),
        TIMESTAMP: (np.int64, ()),
        SEQ: (np.int64, ()),
    }
    with ColumnSpill(columns) as spill:
        if files:
            for batch in tf.data.TFRecordDataset(list(files), compression_type="GZIP").batch(batch_size):
                parsed = dict(tf.io.parse_example(batch, spec))
                dense = tf.sparse.to_dense(parsed.pop(HIST), default_value=0).numpy()
                hist = np.zeros((dense.shape[0], hist_len), np.int64)
                hist[:, : min(hist_len, dense.shape[1])] = dense[:, :hist_len]
                values = {k: v.numpy() for k, v in parsed.items()}
                values[HIST_LEN_KEY] = np.minimum(values[HIST_LEN_KEY], hist_len)
                spill.append({**values, HIST: hist})
        keys = [spill.column(k) for k in (LABEL, SEQ, USER, TIMESTAMP)]
        order = np.lexsort((-np.asarray(keys[0]), *(np.asarray(k) for k in keys[1:])))
        del keys
        arr = spill.ordered(order, [USER, ITEM, HIST, HIST_LEN_KEY, LABEL, TIMESTAMP])
    return PeriodData(
        user=arr[USER],
        item=arr[ITEM],
        hist=arr[HIST],
        hist_len=arr[HIST_LEN_KEY],
        label=arr[LABEL],
        timestamp=arr[TIMESTAMP],
    )


def save_period_npz(path: str, data: PeriodData) -> None:
    """Atomic ``.npz`` of a period (no pickle)."""
    save_npz(path, data.arrays())


def load_period_npz(path: str) -> PeriodData:
    return PeriodData(**load_npz(path))
