"""Target attention over a history (DIN): pool the history items by their relevance to the target item."""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from asmg_tf.layers.mlp_tower import MLPTower
from asmg_tf.layers.registry import register

NORMALIZATIONS = ("softmax", "none")


@register
class TargetAttentionPooling(tf.keras.layers.Layer):
    """a_l = MLP([h_l, t, h_l - t, h_l * t]),  out = sum_{l < len} w_l h_l  with
    w = masked softmax(a) (``normalization="softmax"``) or w_l = a_l (``"none"``, DIN's original unnormalised
    weights).

    The query t is the target item's encoding, the keys h_l the history items' (Zhou et al., *Deep Interest
    Network*, KDD 2018). Positions at or past ``lengths`` get zero weight; an empty history pools to zeros.

    Args:
        hidden_units: widths of the attention MLP's hidden layers (ReLU); a final linear unit gives a_l.
        normalization: ``"softmax"`` or ``"none"``.

    Call args:
        query: ``[B, D]``; keys: ``[B, L, D]``; lengths: int ``[B]``.

    Returns:
        ``[B, D]``.
    """

    def __init__(self, hidden_units: Sequence[int] = (16,), normalization: str = "softmax", **kwargs):
        super().__init__(**kwargs)
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
        self.hidden_units = [int(u) for u in hidden_units]
        self.normalization = normalization
        self.scorer = MLPTower([*self.hidden_units, 1], bias_initializer="zeros", name="scorer")

    def call(self, query: tf.Tensor, keys: tf.Tensor, lengths: tf.Tensor) -> tf.Tensor:
        max_len = tf.shape(keys)[1]
        target = tf.broadcast_to(query[:, None, :], tf.shape(keys))
        scores = tf.squeeze(self.scorer(tf.concat([keys, target, keys - target, keys * target], -1)), -1)  # [B, L]
        mask = tf.sequence_mask(lengths, max_len, dtype=keys.dtype)
        if self.normalization == "softmax":
            # exp(a - max a) over valid positions only; rows without any stay all-zero
            shifted = scores - tf.reduce_max(tf.where(mask > 0, scores, tf.fill(tf.shape(scores), -1e9)), 1, True)
            weights = tf.exp(tf.minimum(shifted, 0.0)) * mask
            weights = tf.math.divide_no_nan(weights, tf.reduce_sum(weights, 1, keepdims=True))
        else:
            weights = scores * mask
        return tf.reduce_sum(weights[..., None] * keys, axis=1)

    def get_config(self) -> dict:
        return {**super().get_config(), "hidden_units": list(self.hidden_units), "normalization": self.normalization}
