"""DCN-v2 ranker: the Embedding&MLP inputs through a cross network, then a deep tower (Wang et al., WWW 2021)."""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from asmg_tf.layers import MaskedMeanPooling, NamedCross
from asmg_tf.models import features as F
from asmg_tf.models.embedded import EmbeddedRanker
from asmg_tf.models.registry import register_ranker


@register_ranker("dcn_v2")
class DCNv2Ranker(EmbeddedRanker):
    """x_0 = concat(user_emb[u], masked_mean_l e(h_l), e(i));  x_{l+1} = x_0 * (W_l x_l + b_l) + x_l  (l < L);
    logit = MLP(x_L)  (the "stacked" DCN-v2).

    Same embeddings and inputs as ``EmbeddingMLPRanker`` (so the same tables grow, and the same presets apply);
    the cross layers are tensorflow-recommenders' ``Cross`` (``NamedCross``: stable variable names).

    Args:
        num_users, num_items, num_categories, embedding_dim: as ``EmbeddingMLPRanker``.
        cross_layers: L, the number of cross layers (2).
        projection_dim: low-rank W = U V of this rank, or None for full-rank W.
        hidden_units: deep tower widths ending in 1; default the paper's tower for the input width.

    Call args: the standard features (``asmg_tf.models.ranker``). Returns logits ``[B]``.
    """

    def __init__(
        self,
        num_users: int,
        num_items: int,
        num_categories: int = 0,
        embedding_dim: int = 8,
        cross_layers: int = 2,
        projection_dim: int | None = None,
        hidden_units: Sequence[int] | None = None,
        **kwargs,
    ):
        super().__init__(num_users, num_items, num_categories, embedding_dim, **kwargs)
        if cross_layers < 1:
            raise ValueError(f"cross_layers must be >= 1, got {cross_layers}")
        self.cross_layers = int(cross_layers)
        self.projection_dim = None if projection_dim is None else int(projection_dim)
        self.history_pooling = MaskedMeanPooling(name="history_pooling")
        self.cross = [
            NamedCross(projection_dim=self.projection_dim, kernel_initializer="glorot_uniform", name=f"cross_{k}")
            for k in range(self.cross_layers)
        ]
        # zero biases (Keras' default): Glorot-uniform ones, the paper's, can leave a small ReLU tower dead at init
        self.tower = self.make_tower(hidden_units, bias_initializer="zeros")

    def call(self, features: dict, training: bool = False) -> tf.Tensor:
        user_vec, item_vec, hist_vecs = self.embed(features)
        x0 = tf.concat([user_vec, self.history_pooling(hist_vecs, features[F.HIST_LEN]), item_vec], axis=-1)
        x = x0
        for layer in self.cross:
            x = layer(x0, x)
        return tf.squeeze(self.tower(x), axis=-1)

    def options(self) -> dict:
        return {
            "cross_layers": self.cross_layers,
            "projection_dim": self.projection_dim,
            "hidden_units": list(self.hidden_units),
        }
