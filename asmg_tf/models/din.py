"""DIN-style sequence-aware ranker: the history pooled by target attention (Zhou et al., KDD 2018)."""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from asmg_tf.layers import TargetAttentionPooling
from asmg_tf.models import features as F
from asmg_tf.models.embedded import EmbeddedRanker
from asmg_tf.models.registry import register_ranker


@register_ranker("din")
class DINRanker(EmbeddedRanker):
    """interest = sum_l w_l(e(i), e(h_l)) e(h_l)  (``TargetAttentionPooling``);
    logit = MLP(concat(user_emb[u], interest, e(i))).

    ``EmbeddingMLPRanker`` with the history's masked mean replaced by attention to the target item: the history
    items that resemble the candidate weigh more. Same tables, inputs and presets.

    Args:
        num_users, num_items, num_categories, embedding_dim: as ``EmbeddingMLPRanker``.
        attention_units: hidden widths of the attention MLP ([16]).
        attention_normalization: ``"softmax"`` (weights sum to 1 over the history) or ``"none"`` (DIN's own).
        hidden_units: tower widths ending in 1; default the paper's tower for the input width.

    Call args: the standard features (``asmg_tf.models.ranker``). Returns logits ``[B]``.
    """

    def __init__(
        self,
        num_users: int,
        num_items: int,
        num_categories: int = 0,
        embedding_dim: int = 8,
        attention_units: Sequence[int] = (16,),
        attention_normalization: str = "softmax",
        hidden_units: Sequence[int] | None = None,
        **kwargs,
    ):
        super().__init__(num_users, num_items, num_categories, embedding_dim, **kwargs)
        self.attention = TargetAttentionPooling(attention_units, attention_normalization, name="attention")
        # zero biases (Keras' default): Glorot-uniform ones, the paper's, left this tower dead at init on Online
        # Retail (constant logits, AUC 0.5 from the first epoch)
        self.tower = self.make_tower(hidden_units, bias_initializer="zeros")

    def call(self, features: dict, training: bool = False) -> tf.Tensor:
        user_vec, item_vec, hist_vecs = self.embed(features)
        interest = self.attention(item_vec, hist_vecs, features[F.HIST_LEN])
        return tf.squeeze(self.tower(tf.concat([user_vec, interest, item_vec], axis=-1)), axis=-1)

    def options(self) -> dict:
        return {
            "attention_units": list(self.attention.hidden_units),
            "attention_normalization": self.attention.normalization,
            "hidden_units": list(self.hidden_units),
        }
