"""Reusable, serializable Keras layers (registered under the ``asmg`` package)."""

from asmg_tf.layers.convex_combination import ConvexCombination
from asmg_tf.layers.coordinate_gru import CoordinateGRU
from asmg_tf.layers.cross import NamedCross
from asmg_tf.layers.history_pooling import MaskedMeanPooling
from asmg_tf.layers.item_encoder import ItemEncoder
from asmg_tf.layers.mlp_tower import MLPTower
from asmg_tf.layers.target_attention import TargetAttentionPooling
from asmg_tf.layers.transfer_cnn import TransferCNN

__all__ = [
    "ConvexCombination",
    "CoordinateGRU",
    "ItemEncoder",
    "MLPTower",
    "MaskedMeanPooling",
    "NamedCross",
    "TargetAttentionPooling",
    "TransferCNN",
]
