"""ASMG-Linear's generator: a learned per-coordinate convex combination of the last k models."""

from __future__ import annotations

import tensorflow as tf

from asmg_tf.layers.registry import register


@register
class ConvexCombination(tf.keras.layers.Layer):
    """y[r, p] = sum_j softmax(w[p])_j x[j, r, p]   (docs/method.md §3.7, ASMG-Linear).

    One logit vector of length k per coordinate p, shared by the R rows: a dense tensor of P scalars is one row
    (a logit vector per scalar); an embedding table [N, d] is N rows of P = d coordinates (one [d, k] logit matrix
    per table). Logits start at zero, so the first output is the plain average of the k inputs.

    Args:
        num_coords: P.
        window: k, the number of models combined.

    Call args:
        inputs: ``[k, R, P]``, oldest model first.

    Returns:
        ``[R, P]``.

    Example:
        >>> comb = ConvexCombination(num_coords=8, window=3)
        >>> comb(tf.stack([tf.zeros([5, 8]), tf.ones([5, 8]), 2 * tf.ones([5, 8])]))  # -> all ones
    """

    def __init__(self, num_coords: int, window: int, **kwargs):
        super().__init__(**kwargs)
        if int(num_coords) <= 0 or int(window) <= 0:
            raise ValueError(f"need num_coords > 0 and window > 0, got {num_coords}, {window}")
        self.num_coords = int(num_coords)
        self.window = int(window)

    def build(self, input_shape=None) -> None:
        self.logits = self.add_weight(
            name="logits", shape=[self.num_coords, self.window], initializer="zeros", trainable=True
        )
        super().build(input_shape)

    def mixing_weights(self) -> tf.Tensor:
        """softmax over the window: ``[P, k]``, rows sum to one."""
        return tf.nn.softmax(self.logits, axis=-1)

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        inputs = tf.convert_to_tensor(inputs, self.compute_dtype)
        if inputs.shape[0] is not None and inputs.shape[0] != self.window:
            raise ValueError(f"{self.name} combines {self.window} models, got a sequence of {inputs.shape[0]}")
        weights = tf.transpose(self.mixing_weights())  # [k, P]
        return tf.reduce_sum(inputs * weights[:, None, :], axis=0)

    def get_config(self) -> dict:
        return {**super().get_config(), "num_coords": self.num_coords, "window": self.window}
