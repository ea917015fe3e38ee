"""The embedding block for items: item embedding, optionally concatenated with its categories' mean embedding."""

from __future__ import annotations

import tensorflow as tf

from asmg_tf.layers.registry import fresh_initializer, register


@register
class ItemEncoder(tf.keras.layers.Layer):
    """e(i) = item_emb[i]                                   (no categories)
    e(i) = concat(item_emb[i], mean_{c in cats(i)} cate_emb[c])  (with categories; masked mean, -1 = padding)

    Shared by the target item and the history items (docs/method.md §2.2). Embeddings start Glorot-uniform like
    the paper's TF1 code (limit sqrt(6 / (rows + dim))).

    Args:
        num_items: rows of the item table.
        num_categories: rows of the category table; 0 means items have no categories.
        embedding_dim: width of each table.
        embeddings_initializer: initializer for both tables.

    Call args:
        items: int ``[...]``.
        categories: int ``[..., C]`` category ids padded with -1 (required iff ``num_categories > 0``).

    Returns:
        ``[..., output_dim]`` with ``output_dim = embedding_dim * (2 if num_categories else 1)``.
    """

    def __init__(
        self,
        num_items: int,
        num_categories: int = 0,
        embedding_dim: int = 8,
        embeddings_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if num_items <= 0 or embedding_dim <= 0 or num_categories < 0:
            raise ValueError(
                f"need num_items > 0, embedding_dim > 0, num_categories >= 0; got {num_items}, {embedding_dim}, "
                f"{num_categories}"
            )
        self.num_items = int(num_items)
        self.num_categories = int(num_categories)
        self.embedding_dim = int(embedding_dim)
        self.embeddings_initializer = tf.keras.initializers.get(embeddings_initializer)
        self.item_embedding = tf.keras.layers.Embedding(
            self.num_items,
            self.embedding_dim,
            embeddings_initializer=fresh_initializer(self.embeddings_initializer),
            name="item_embedding",
        )
        self.category_embedding = (
            tf.keras.layers.Embedding(
                self.num_categories,
                self.embedding_dim,
                embeddings_initializer=fresh_initializer(self.embeddings_initializer),
                name="category_embedding",
            )
            if self.num_categories
            else None
        )

    @property
    def output_dim(self) -> int:
        return self.embedding_dim * (2 if self.num_categories else 1)

    def call(self, items: tf.Tensor, categories: tf.Tensor | None = None) -> tf.Tensor:
        item_vec = self.item_embedding(items)
        if self.category_embedding is None:
            return item_vec
        if categories is None:
            raise ValueError(f"{self.name} has a category table: pass the items' category ids (padded with -1)")
        mask = tf.cast(categories >= 0, item_vec.dtype)
        cat_vecs = self.category_embedding(tf.maximum(categories, 0)) * mask[..., None]
        cat_vec = tf.math.divide_no_nan(tf.reduce_sum(cat_vecs, axis=-2), tf.reduce_sum(mask, axis=-1, keepdims=True))
        return tf.concat([item_vec, cat_vec], axis=-1)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "num_items": self.num_items,
            "num_categories": self.num_categories,
            "embedding_dim": self.embedding_dim,
            "embeddings_initializer": tf.keras.initializers.serialize(self.embeddings_initializer),
        }
