"""Feature names of the base rankers and the tf.data pipeline that feeds them from period data."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from asmg_tf.data.periods import PeriodData

USER = "user"
ITEM = "item"
HIST = "hist"
HIST_LEN = "hist_len"
ITEM_CATS = "item_cats"  # [B, C] category ids of the target item, -1 padded
HIST_CATS = "hist_cats"  # [B, L, C] category ids of each history item, -1 padded
LABEL = "label"


def feature_arrays(data: PeriodData, item_categories: np.ndarray | None) -> dict[str, np.ndarray]:
    """The model's input features (and label) for every sample of ``data`` as NumPy arrays."""
    out = {USER: data.user, ITEM: data.item, HIST: data.hist, HIST_LEN: data.hist_len, LABEL: data.label}
    if item_categories is not None:
        out[ITEM_CATS] = item_categories[data.item]
        out[HIST_CATS] = item_categories[data.hist]
    return out


def make_dataset(
    data: PeriodData,
    item_categories: np.ndarray | None,
    batch_size: int,
    *,
    shuffle: bool = False,
    seed: int | None = None,
) -> tf.data.Dataset:
    """Batches of feature dicts, streamed from ``data``'s arrays: only a batch is copied at a time, so a period
    memory-mapped from its file (``PeriodSet.load``) is read as the epoch goes, never loaded or copied whole.

    The stream is over sample indices: ``range(len(data))``, shuffled by tf.data with ``seed`` (tf.data's shuffle
    draws the same permutation whatever the elements are, so these are the batches that shuffling the samples
    themselves gave: same training, same numbers), batched, then gathered from the arrays. Categories are gathered
    per batch (cheap) instead of stored per sample."""
    arrays = feature_arrays(data, None)
    ds = tf.data.Dataset.range(len(data))
    if shuffle:
        ds = ds.shuffle(len(data), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size).map(_gatherer(arrays))
    if item_categories is not None:
        table = tf.constant(item_categories)

        def add_categories(batch):
            batch[ITEM_CATS] = tf.gather(table, batch[ITEM])
            batch[HIST_CATS] = tf.gather(table, batch[HIST])
            return batch

        ds = ds.map(add_categories, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def _gatherer(arrays: dict[str, np.ndarray]):
    """``index [B] -> {name: array[index]}`` as a tf.data map function (NumPy indexing of the arrays, which may be
    memory maps)."""
    names = list(arrays)
    dtypes = [tf.as_dtype(arrays[k].dtype) for k in names]

    def gather(index: np.ndarray) -> list[np.ndarray]:
        return [np.asarray(arrays[k][index]) for k in names]

    def to_features(index: tf.Tensor) -> dict[str, tf.Tensor]:
        values = tf.numpy_function(gather, [index], dtypes, stateful=False)
        for k, v in zip(names, values):
            v.set_shape([None, *arrays[k].shape[1:]])
        return dict(zip(names, values))

    return to_features
