"""Matrix factorisation, the base model of SML-MF (docs/method.md §4.6), with the rankers' feature interface."""

from __future__ import annotations

import tensorflow as tf
import tensorflow_recommenders as tfrs

from asmg_tf.layers.registry import register
from asmg_tf.models import features as F


@register
class MatrixFactorization(tfrs.models.Model):
    """logit = <p_u, q_i> + b_u + b_i,  p(click) = sigmoid(logit), trained with mean sigmoid cross-entropy.

    p (users) and q (items) start Glorot-uniform like every TF1 variable in the paper's code; the biases b start
    at zero. The history and category features of the batch are accepted and ignored, so ``train_epoch`` and
    ``evaluate`` feed it exactly like ``EmbeddingMLPRanker``.

    Args:
        num_users, num_items: table sizes.
        embedding_dim: 8 in the paper.

    Call args:
        features: dict with at least ``user`` [B] and ``item`` [B].

    Returns:
        logits ``[B]``.
    """

    def __init__(self, num_users: int, num_items: int, embedding_dim: int = 8, **kwargs):
        super().__init__(**kwargs)
        if num_users <= 0 or num_items <= 0 or embedding_dim <= 0:
            raise ValueError(f"need positive sizes, got users {num_users}, items {num_items}, dim {embedding_dim}")
        self.num_users, self.num_items, self.embedding_dim = int(num_users), int(num_items), int(embedding_dim)

        def table(rows: int, width: int, init: str, name: str) -> tf.keras.layers.Embedding:
            return tf.keras.layers.Embedding(rows, width, embeddings_initializer=init, name=name)

        self.user_embedding = table(self.num_users, self.embedding_dim, "glorot_uniform", "user_embedding")
        self.item_embedding = table(self.num_items, self.embedding_dim, "glorot_uniform", "item_embedding")
        self.user_bias = table(self.num_users, 1, "zeros", "user_bias")
        self.item_bias = table(self.num_items, 1, "zeros", "item_bias")
        self.task = tfrs.tasks.Ranking(loss=tf.keras.losses.BinaryCrossentropy(from_logits=True))

    def call(self, features: dict, training: bool = False) -> tf.Tensor:
        user, item = features[F.USER], features[F.ITEM]
        dot = tf.reduce_sum(self.user_embedding(user) * self.item_embedding(item), axis=-1)
        return dot + tf.squeeze(self.user_bias(user), -1) + tf.squeeze(self.item_bias(item), -1)

    def compute_loss(self, features: dict, training: bool = False) -> tf.Tensor:
        logits = self(features, training=training)
        labels = tf.cast(features[F.LABEL], logits.dtype)
        return self.task(labels=labels[:, None], predictions=logits[:, None], compute_metrics=False)

    def example_features(self, batch_size: int = 1) -> dict:
        """Zero-valued features of the right shapes, to build the model's variables."""
        return {F.USER: tf.zeros([batch_size], tf.int32), F.ITEM: tf.zeros([batch_size], tf.int32)}

    def get_config(self) -> dict:
        return {
            "num_users": self.num_users,
            "num_items": self.num_items,
            "embedding_dim": self.embedding_dim,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config: dict) -> MatrixFactorization:
        return cls(**config)
