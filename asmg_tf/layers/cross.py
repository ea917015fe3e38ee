"""DCN-v2's cross layer (tensorflow-recommenders' ``Cross``) with stable variable names."""

from __future__ import annotations

import tensorflow_recommenders as tfrs

from asmg_tf.layers.registry import register


@register
class NamedCross(tfrs.layers.dcn.Cross):
    """x_{l+1} = x_0 * (W x_l + b) + x_l  (``W = U V`` with ``projection_dim``), i.e. ``tfrs.layers.dcn.Cross``.

    tfrs names the dense layers it makes in ``build`` from Keras' process-global counters (``dense_17``), so two
    instances of one architecture would name their variables differently; weights are matched by name across
    models (``asmg_tf.models.weights``), so this layer names them ``dense`` (or ``dense_u``/``dense_v``) under its
    own scope before they create variables.

    Args and call args: those of ``tfrs.layers.dcn.Cross``.
    """

    def build(self, input_shape) -> None:
        super().build(input_shape)
        for attr in ("_dense", "_dense_u", "_dense_v"):
            dense = getattr(self, attr, None)
            if dense is not None and not dense.built:
                dense._name = attr.lstrip("_")  # before its variables exist: they take this name
