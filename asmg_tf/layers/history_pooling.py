"""Masked mean pooling of a padded sequence of vectors."""

from __future__ import annotations

import tensorflow as tf

from asmg_tf.layers.registry import register


@register
class MaskedMeanPooling(tf.keras.layers.Layer):
    """Mean of the first ``length`` vectors of each sequence.

    out[b] = sum_{l < length[b]} x[b, l] / (length[b] + epsilon)

    The paper divides by L + 1e-8, so an empty history pools to the zero vector (docs/method.md §2.2).

    Call args:
        inputs: float tensor ``[batch, max_len, dim]``.
        lengths: int tensor ``[batch]``, number of valid leading positions (clipped to ``max_len``).

    Returns:
        ``[batch, dim]``.

    Example:
        >>> pool = MaskedMeanPooling()
        >>> pool(tf.ones([2, 3, 4]), tf.constant([1, 0]))  # -> [[1, 1, 1, 1], [0, 0, 0, 0]] (approximately)
    """

    def __init__(self, epsilon: float = 1e-8, **kwargs):
        super().__init__(**kwargs)
        if epsilon < 0:
            raise ValueError(f"epsilon must be >= 0, got {epsilon}")
        self.epsilon = float(epsilon)

    def call(self, inputs: tf.Tensor, lengths: tf.Tensor) -> tf.Tensor:
        max_len = tf.shape(inputs)[1]
        mask = tf.sequence_mask(lengths, max_len, dtype=inputs.dtype)  # [B, L]
        total = tf.reduce_sum(inputs * mask[..., None], axis=1)
        count = tf.cast(tf.minimum(lengths, max_len), inputs.dtype)[:, None]
        return total / (count + self.epsilon)

    def get_config(self) -> dict:
        return {**super().get_config(), "epsilon": self.epsilon}
