"""The paper's base model: Embedding&MLP ranker (docs/method.md §2), as a tensorflow-recommenders model."""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from asmg_tf.layers import MaskedMeanPooling
from asmg_tf.models import features as F
from asmg_tf.models.embedded import EmbeddedRanker
from asmg_tf.models.registry import register_ranker


@register_ranker("embedding_mlp")
class EmbeddingMLPRanker(EmbeddedRanker):
    """logit = MLP(concat(user_emb[u], masked_mean_l e(h_l), e(i))),  p(click) = sigmoid(logit).

    e(.) is the shared ``ItemEncoder`` (item embedding, plus the mean of its category embeddings when the data has
    categories). Trained with mean sigmoid cross-entropy through a ``tfrs.tasks.Ranking`` task.

    Args:
        num_users, num_items, num_categories: table sizes (0 categories: no category table).
        embedding_dim: 8 in the paper.
        hidden_units: tower widths ending in 1; default ``paper_hidden_units(3 * item_dim)``-like, i.e.
            [20, 10, 1] with categories and [12, 6, 1] without.

    Call args:
        features: dict with ``user`` [B], ``item`` [B], ``hist`` [B, L], ``hist_len`` [B] and, with categories,
            ``item_cats`` [B, C] and ``hist_cats`` [B, L, C] (-1 padded).

    Returns:
        logits ``[B]``.
    """

    def __init__(
        self,
        num_users: int,
        num_items: int,
        num_categories: int = 0,
        embedding_dim: int = 8,
        hidden_units: Sequence[int] | None = None,
        **kwargs,
    ):
        super().__init__(num_users, num_items, num_categories, embedding_dim, **kwargs)
        self.history_pooling = MaskedMeanPooling(name="history_pooling")
        self.tower = self.make_tower(hidden_units)  # Glorot-uniform biases too, as the paper's TF1 code

    def call(self, features: dict, training: bool = False) -> tf.Tensor:
        user_vec, item_vec, hist_vecs = self.embed(features)
        hist_vec = self.history_pooling(hist_vecs, features[F.HIST_LEN])
        logits = self.tower(tf.concat([user_vec, hist_vec, item_vec], axis=-1))
        return tf.squeeze(logits, axis=-1)

    def options(self) -> dict:
        return {"hidden_units": list(self.hidden_units)}
