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
    """Batches of feature dicts. Categories are gathered per batch (cheap) instead of stored per sample."""
    ds = tf.data.Dataset.from_tensor_slices(feature_arrays(data, None))
    if shuffle:
        ds = ds.shuffle(len(data), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    if item_categories is not None:
        table = tf.constant(item_categories)

        def add_categories(batch):
            batch[ITEM_CATS] = tf.gather(table, batch[ITEM])
            batch[HIST_CATS] = tf.gather(table, batch[HIST])
            return batch

        ds = ds.map(add_categories, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
