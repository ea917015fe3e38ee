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
    """All records of ``files`` (GZIP TFRecords) as one ``PeriodData`` in canonical order."""
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
    cols: dict[str, list[np.ndarray]] = {k: [] for k in spec}
    if files:
        ds = tf.data.TFRecordDataset(list(files), compression_type="GZIP").batch(batch_size)
        for batch in ds:
            parsed = tf.io.parse_example(batch, spec)
            for k in spec:
                if k == HIST:
                    dense = tf.sparse.to_dense(parsed[k], default_value=0).numpy()
                    padded = np.zeros((dense.shape[0], hist_len), np.int64)
                    padded[:, : min(hist_len, dense.shape[1])] = dense[:, :hist_len]
                    cols[k].append(padded)
                else:
                    cols[k].append(parsed[k].numpy())
    arr = {
        k: (np.concatenate(v) if v else np.zeros((0, hist_len) if k == HIST else 0, np.int64)) for k, v in cols.items()
    }
    label = arr[LABEL].astype(np.float32)
    order = np.lexsort((-label, arr[SEQ], arr[USER], arr[TIMESTAMP]))
    return PeriodData(
        user=arr[USER][order].astype(np.int32),
        item=arr[ITEM][order].astype(np.int32),
        hist=arr[HIST][order].astype(np.int32),
        hist_len=np.minimum(arr[HIST_LEN_KEY][order], hist_len).astype(np.int32),
        label=label[order],
        timestamp=arr[TIMESTAMP][order].astype(np.int64),
    )


def save_period_npz(path: str, data: PeriodData) -> None:
    """Atomic ``.npz`` of a period (no pickle)."""
    save_npz(path, data.arrays())


def load_period_npz(path: str) -> PeriodData:
    return PeriodData(**load_npz(path))
