"""Reusable, serializable Keras layers (registered under the ``asmg`` package)."""

from asmg_tf.layers.history_pooling import MaskedMeanPooling
from asmg_tf.layers.item_encoder import ItemEncoder
from asmg_tf.layers.mlp_tower import MLPTower

__all__ = ["ItemEncoder", "MLPTower", "MaskedMeanPooling"]
