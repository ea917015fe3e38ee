"""The ranker contract: what a base model must be for bench, pipeline, generator, export and serving to take it.

A ranker is a ``tf.keras.Model`` (in practice a ``tfrs.models.Model``) that

1. is **built from a config**: ``cls(num_users, num_items, num_categories, embedding_dim, **options)``, with
   ``get_config()`` returning exactly those keys (plus ``name``) and ``from_config(config)`` rebuilding it; the
   table sizes are the ``num_*`` keys, so the package can resize a model (new ids) by changing them;
2. **reads the standard features** of ``asmg_tf.models.features`` from one dict: ``user`` [B], ``item`` [B],
   ``hist`` [B, L], ``hist_len`` [B] and, when ``num_categories > 0``, ``item_cats`` [B, C] and ``hist_cats``
   [B, L, C] (-1 padded); ``call(features)`` returns logits ``[B]`` and ``compute_loss(features)`` the training
   loss against ``features["label"]``;
3. **declares its id tables**: ``id_tables()`` maps the name of every trainable variable whose rows are indexed by
   an id (``asmg_tf.models.weights`` names, e.g. ``user_embedding/embeddings``) to its id space, one of
   ``ID_SPACES``; a table of space ``users`` has ``num_users`` rows, and so on. Tables grow (new ids get rows)
   and get an out-of-vocabulary row at export; every other variable keeps its shape whatever the vocabulary;
4. is **registered by name** (``asmg_tf.models.registry.register_ranker``), so ``{"model": name, "config": ...}``
   rebuilds anything saved without knowing its class.

Serving signatures are not the model's business: ``serving.signatures`` parses requests into the standard features
and calls the model, so any ranker that keeps 2 gets the five signatures. ``Ranker`` implements everything but
``call`` and ``id_tables``; ``asmg_tf.models.contract.check_ranker`` tells what a model breaks, by name.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_recommenders as tfrs

from asmg_tf.models import features as F

ID_SPACES = ("users", "items", "categories")
#: id space -> the config key holding its table size
SIZE_KEYS = {"users": "num_users", "items": "num_items", "categories": "num_categories"}
EXAMPLE_HIST = 30  # history length of the features that build a model


class RankerContractError(TypeError):
    """A model does not keep the ranker contract (the message names what is missing)."""


def example_features(has_categories: bool, batch_size: int = 1, num_cats: int = 1) -> dict[str, tf.Tensor]:
    """Zero-valued standard features of the right shapes (what builds a ranker's variables)."""
    f = {
        F.USER: tf.zeros([batch_size], tf.int32),
        F.ITEM: tf.zeros([batch_size], tf.int32),
        F.HIST: tf.zeros([batch_size, EXAMPLE_HIST], tf.int32),
        F.HIST_LEN: tf.zeros([batch_size], tf.int32),
    }
    if has_categories:
        f[F.ITEM_CATS] = -tf.ones([batch_size, num_cats], tf.int32)
        f[F.HIST_CATS] = -tf.ones([batch_size, EXAMPLE_HIST, num_cats], tf.int32)
    return f


class Ranker(tfrs.models.Model):
    """Base class of the contract: sizes, config, loss and example features. Subclasses define ``call``,
    ``id_tables`` and, when they take options, ``options()`` (the extra config keys, JSON-serializable).

    The loss is mean sigmoid cross-entropy of the logits through a ``tfrs.tasks.Ranking`` task.
    """

    def __init__(self, num_users: int, num_items: int, num_categories: int = 0, embedding_dim: int = 8, **kwargs):
        super().__init__(**kwargs)
        if num_users <= 0 or num_items <= 0 or num_categories < 0 or embedding_dim <= 0:
            raise ValueError(
                "need num_users > 0, num_items > 0, num_categories >= 0 and embedding_dim > 0; got "
                f"{num_users}, {num_items}, {num_categories}, {embedding_dim}"
            )
        self.num_users = int(num_users)
        self.num_items = int(num_items)
        self.num_categories = int(num_categories)
        self.embedding_dim = int(embedding_dim)
        self.task = tfrs.tasks.Ranking(loss=tf.keras.losses.BinaryCrossentropy(from_logits=True))

    @property
    def has_categories(self) -> bool:
        return self.num_categories > 0

    def id_tables(self) -> dict[str, str]:
        """``{variable name: id space}`` for every id-indexed trainable variable (see the module docstring)."""
        raise NotImplementedError(f"{type(self).__name__} must define id_tables()")

    def options(self) -> dict:
        """The constructor's extra keyword arguments (beyond sizes and ``embedding_dim``), for ``get_config``."""
        return {}

    def compute_loss(self, features: dict, training: bool = False) -> tf.Tensor:
        logits = self(features, training=training)
        labels = tf.cast(features[F.LABEL], logits.dtype)
        return self.task(labels=labels[:, None], predictions=logits[:, None], compute_metrics=False)

    def example_features(self, batch_size: int = 1, num_cats: int = 1) -> dict:
        """Zero-valued features of the right shapes, to build the model's variables."""
        return example_features(self.has_categories, batch_size, num_cats)

    def get_config(self) -> dict:
        return {
            "num_users": self.num_users,
            "num_items": self.num_items,
            "num_categories": self.num_categories,
            "embedding_dim": self.embedding_dim,
            **self.options(),
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)
