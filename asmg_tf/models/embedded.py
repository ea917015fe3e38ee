"""The embedding block the shipped rankers share: a user table and the ``ItemEncoder`` (item and category tables)."""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from asmg_tf.layers import ItemEncoder, MLPTower
from asmg_tf.models import features as F
from asmg_tf.models.ranker import Ranker


def paper_hidden_units(input_dim: int) -> list[int]:
    """The paper's tower for a given input width: d -> d/2 -> d/4 -> 1 (24-12-6-1, 40-20-10-1)."""
    return [input_dim // 2, input_dim // 4, 1]


class EmbeddedRanker(Ranker):
    """A ``Ranker`` whose id tables are ``user_embedding`` (users) and the ``item_encoder``'s item and category
    tables; subclasses combine the user vector, the target item's encoding and the history items' encodings.

    Tables start Glorot-uniform like the paper's TF1 code. The item encoding is ``item_dim`` wide: the item
    embedding, concatenated with its categories' mean embedding when the data has categories.
    """

    def __init__(self, num_users: int, num_items: int, num_categories: int = 0, embedding_dim: int = 8, **kwargs):
        super().__init__(num_users, num_items, num_categories, embedding_dim, **kwargs)
        self.user_embedding = tf.keras.layers.Embedding(
            self.num_users, self.embedding_dim, embeddings_initializer="glorot_uniform", name="user_embedding"
        )
        self.item_encoder = ItemEncoder(self.num_items, self.num_categories, self.embedding_dim, name="item_encoder")

    @property
    def item_dim(self) -> int:
        return self.item_encoder.output_dim

    def make_tower(self, hidden_units: Sequence[int] | None, **tower_options) -> MLPTower:
        """The logit tower over ``concat(user, pooled history, item)``: ``hidden_units`` (ending in 1), by default
        the paper's for that width; sets ``self.hidden_units``."""
        input_dim = self.embedding_dim + 2 * self.item_dim
        self.hidden_units = list(hidden_units) if hidden_units else paper_hidden_units(input_dim)
        if self.hidden_units[-1] != 1:
            raise ValueError(f"hidden_units must end in 1 (a logit), got {self.hidden_units}")
        return MLPTower(self.hidden_units, name="mlp_tower", **tower_options)

    def embed(self, features: dict) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """``(user [B, d], item [B, item_dim], history [B, L, item_dim])``."""
        cats = self.has_categories
        user_vec = self.user_embedding(features[F.USER])
        item_vec = self.item_encoder(features[F.ITEM], features.get(F.ITEM_CATS) if cats else None)
        hist_vecs = self.item_encoder(features[F.HIST], features.get(F.HIST_CATS) if cats else None)
        return user_vec, item_vec, hist_vecs

    def id_tables(self) -> dict[str, str]:
        tables = {"user_embedding/embeddings": "users", "item_encoder/item_embedding/embeddings": "items"}
        if self.has_categories:
            tables["item_encoder/category_embedding/embeddings"] = "categories"
        return tables
