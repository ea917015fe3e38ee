"""A stack of dense layers: ReLU between layers, a linear last layer."""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from asmg_tf.layers.registry import fresh_initializer, register


@register
class MLPTower(tf.keras.layers.Layer):
    """h_0 = x;  h_l = relu(h_{l-1} W_l + b_l) for l < L;  out = h_{L-1} W_L + b_L.

    With the paper's units [20, 10, 1] (or [12, 6, 1]) this is the Embedding&MLP tower; its output is a logit.
    Kernels and biases start Glorot-uniform, biases included, like TF1's default (docs/method.md §2.3).

    Args:
        units: widths of the layers, the last one being the output width.
        kernel_initializer / bias_initializer: per-layer initializers.

    Call args:
        inputs: ``[batch, d_in]``.

    Returns:
        ``[batch, units[-1]]``.
    """

    def __init__(
        self,
        units: Sequence[int],
        kernel_initializer="glorot_uniform",
        bias_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        units = [int(u) for u in units]
        if not units or min(units) <= 0:
            raise ValueError(f"units must be a non-empty list of positive ints, got {units}")
        self.units = units
        self.kernel_initializer = tf.keras.initializers.get(kernel_initializer)
        self.bias_initializer = tf.keras.initializers.get(bias_initializer)
        self.dense_layers = [
            tf.keras.layers.Dense(
                u,
                activation="relu" if k < len(units) - 1 else None,
                kernel_initializer=fresh_initializer(self.kernel_initializer),
                bias_initializer=fresh_initializer(self.bias_initializer),
                name=f"dense_{k}",
            )
            for k, u in enumerate(units)
        ]

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        x = inputs
        for layer in self.dense_layers:
            x = layer(x)
        return x

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "units": list(self.units),
            "kernel_initializer": tf.keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": tf.keras.initializers.serialize(self.bias_initializer),
        }
