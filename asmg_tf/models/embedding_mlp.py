"""The paper's base model: Embedding&MLP ranker (docs/method.md §2), as a tensorflow-recommenders model."""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf
import tensorflow_recommenders as tfrs

from asmg_tf.layers import ItemEncoder, MaskedMeanPooling, MLPTower
from asmg_tf.layers.registry import register
from asmg_tf.models import features as F


def paper_hidden_units(input_dim: int) -> list[int]:
    """The paper's tower for a given input width: d -> d/2 -> d/4 -> 1 (24-12-6-1, 40-20-10-1)."""
    return [input_dim // 2, input_dim // 4, 1]


@register
class EmbeddingMLPRanker(tfrs.models.Model):
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
        super().__init__(**kwargs)
        if num_users <= 0:
            raise ValueError(f"num_users must be > 0, got {num_users}")
        self.num_users = int(num_users)
        self.num_items = int(num_items)
        self.num_categories = int(num_categories)
        self.embedding_dim = int(embedding_dim)
        self.user_embedding = tf.keras.layers.Embedding(
            self.num_users, self.embedding_dim, embeddings_initializer="glorot_uniform", name="user_embedding"
        )
        self.item_encoder = ItemEncoder(self.num_items, self.num_categories, self.embedding_dim, name="item_encoder")
        self.history_pooling = MaskedMeanPooling(name="history_pooling")
        input_dim = self.embedding_dim + 2 * self.item_encoder.output_dim
        self.hidden_units = list(hidden_units) if hidden_units else paper_hidden_units(input_dim)
        if self.hidden_units[-1] != 1:
            raise ValueError(f"hidden_units must end in 1 (a logit), got {self.hidden_units}")
        self.tower = MLPTower(self.hidden_units, name="mlp_tower")
        self.task = tfrs.tasks.Ranking(loss=tf.keras.losses.BinaryCrossentropy(from_logits=True))

    @property
    def has_categories(self) -> bool:
        return self.num_categories > 0

    def call(self, features: dict, training: bool = False) -> tf.Tensor:
        user_vec = self.user_embedding(features[F.USER])
        item_vec = self.item_encoder(features[F.ITEM], features.get(F.ITEM_CATS) if self.has_categories else None)
        hist_vecs = self.item_encoder(features[F.HIST], features.get(F.HIST_CATS) if self.has_categories else None)
        hist_vec = self.history_pooling(hist_vecs, features[F.HIST_LEN])
        logits = self.tower(tf.concat([user_vec, hist_vec, item_vec], axis=-1))
        return tf.squeeze(logits, axis=-1)

    def compute_loss(self, features: dict, training: bool = False) -> tf.Tensor:
        logits = self(features, training=training)
        labels = tf.cast(features[F.LABEL], logits.dtype)
        return self.task(labels=labels[:, None], predictions=logits[:, None], compute_metrics=False)

    def example_features(self, batch_size: int = 1, num_cats: int = 1) -> dict:
        """Zero-valued features of the right shapes, to build the model's variables."""
        f = {
            F.USER: tf.zeros([batch_size], tf.int32),
            F.ITEM: tf.zeros([batch_size], tf.int32),
            F.HIST: tf.zeros([batch_size, 30], tf.int32),
            F.HIST_LEN: tf.zeros([batch_size], tf.int32),
        }
        if self.has_categories:
            f[F.ITEM_CATS] = -tf.ones([batch_size, num_cats], tf.int32)
            f[F.HIST_CATS] = -tf.ones([batch_size, 30, num_cats], tf.int32)
        return f

    def get_config(self) -> dict:
        return {
            "num_users": self.num_users,
            "num_items": self.num_items,
            "num_categories": self.num_categories,
            "embedding_dim": self.embedding_dim,
            "hidden_units": list(self.hidden_units),
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config: dict) -> EmbeddingMLPRanker:
        return cls(**config)
