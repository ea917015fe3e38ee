"""Which generator each trainable variable of a base model gets, read off the model itself.

Supported variable kinds (anything else raises ``UnsupportedModelError`` naming the variable and why):

* ``table``: the ``embeddings`` variable of a ``tf.keras.layers.Embedding`` (not ``sparse=True``, ``call`` not
  overridden), shape [N, d]. One generator per column shared by all N rows, a hidden state per (row, column)
  (docs/method.md §3.2). Rows can be gathered: only the ids a batch looks up are generated.
* ``dense``: any other trainable float32 variable held as a plain attribute of a Keras layer (``Dense`` kernels and
  biases, ``tfrs.layers.dcn.Cross``, custom layers' ``add_weight`` attributes), any shape with P scalars. Private
  generator weights per scalar.

Not supported: non-trainable variables (their values cannot be generated, e.g. batch-norm statistics), variables
stored in lists or dicts instead of layer attributes, embedding tables that a layer other than their ``Embedding``
reads directly (tied weights), sparse embeddings, and dtypes other than float32.
"""

from __future__ import annotations

import dataclasses
import math

import tensorflow as tf

from asmg_tf.models.weights import named_trainable_variables

TABLE = "table"
DENSE = "dense"


class UnsupportedModelError(ValueError):
    """The base model holds a variable the generator cannot produce."""


@dataclasses.dataclass(frozen=True, eq=False)
class VariableSpec:
    """One trainable variable of the base model and the places (layer, attribute) that hold it."""

    key: str  # name as in asmg_tf.models.weights (e.g. "user_embedding/embeddings")
    kind: str  # TABLE or DENSE
    shape: tuple[int, ...]
    holders: tuple[tuple[tf.keras.layers.Layer, str], ...]

    @property
    def num_rows(self) -> int:
        """R: rows sharing one set of generator weights (N for a table, 1 for a dense tensor)."""
        return self.shape[0] if self.kind == TABLE else 1

    @property
    def num_coords(self) -> int:
        """P: coordinates with their own generator weights (d for a table, every scalar for a dense tensor)."""
        return self.shape[1] if self.kind == TABLE else max(1, math.prod(self.shape))

    def to_rows(self, value: tf.Tensor) -> tf.Tensor:
        """``[..., *shape]`` -> ``[..., R, P]``."""
        lead = tf.shape(value)[: value.shape.rank - len(self.shape)]
        return tf.reshape(value, tf.concat([lead, [self.num_rows, self.num_coords]], 0))

    def from_rows(self, value: tf.Tensor) -> tf.Tensor:
        """``[R, P]`` -> the variable's shape (tables stay ``[R, d]``, R may be a subset of rows)."""
        return value if self.kind == TABLE else tf.reshape(value, self.shape)

    def __repr__(self) -> str:
        return f"VariableSpec({self.key!r}, {self.kind}, {self.shape})"


def _layers(model: tf.keras.Model) -> list[tf.keras.layers.Layer]:
    return list(model._flatten_layers(include_self=True, recursive=True))


def model_spec(model: tf.keras.Model) -> list[VariableSpec]:
    """The generator spec of ``model`` (built), in the order of ``model.trainable_variables``."""
    if model.non_trainable_variables:
        names = [v.name for v in model.non_trainable_variables]
        raise UnsupportedModelError(
            f"{model.name} has non-trainable variables {names}: a generated model cannot produce them "
            "(supported: embedding tables and dense trainable tensors only)"
        )
    variables = named_trainable_variables(model)
    holders: dict[int, list[tuple[tf.keras.layers.Layer, str]]] = {id(v): [] for v in variables.values()}
    for layer in _layers(model):
        for attr, value in vars(layer).items():
            if isinstance(value, tf.Variable) and id(value) in holders:
                holders[id(value)].append((layer, attr))
    specs = []
    for key, var in variables.items():
        where = holders[id(var)]
        if var.dtype != tf.float32:
            raise UnsupportedModelError(f"{key}: dtype {var.dtype.name}; only float32 variables are supported")
        if not where:
            raise UnsupportedModelError(
                f"{key} ({type(var).__name__}) is not held as a plain attribute of any layer (a variable in a list "
                "or dict, or a sharded/partitioned variable); the generator cannot substitute it"
            )
        specs.append(VariableSpec(key, _kind(key, where), tuple(var.shape.as_list()), tuple(where)))
    return specs


def _kind(key: str, where: list[tuple[tf.keras.layers.Layer, str]]) -> str:
    tables = [(layer, attr) for layer, attr in where if isinstance(layer, tf.keras.layers.Embedding)]
    if not tables:
        return DENSE
    if len(tables) != len(where):
        others = [f"{type(layer).__name__}.{attr}" for layer, attr in where if (layer, attr) not in tables]
        raise UnsupportedModelError(f"{key}: embedding table also read directly by {others} (tied weights)")
    for layer, attr in tables:
        if attr != "embeddings":
            raise UnsupportedModelError(f"{key}: unexpected Embedding attribute {attr!r}")
        if type(layer).call is not tf.keras.layers.Embedding.call:
            raise UnsupportedModelError(f"{key}: {type(layer).__name__} overrides Embedding.call")
        if getattr(layer, "sparse", False):
            raise UnsupportedModelError(f"{key}: sparse=True embeddings are not supported")
    return TABLE
