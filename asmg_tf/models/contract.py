"""``check_ranker``: does a model keep the ranker contract (``asmg_tf.models.ranker``)? If not, what is missing."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from asmg_tf.models.ranker import ID_SPACES, SIZE_KEYS, RankerContractError
from asmg_tf.models.registry import ranker_name
from asmg_tf.models.weights import named_trainable_variables


def check_ranker(model: tf.keras.Model) -> dict[str, str]:
    """Check that a built ``model`` keeps the contract; return its ``id_tables()``.

    Raises:
        RankerContractError: naming the first thing missing (and what to do).
    """
    what = type(model).__name__
    if not isinstance(model, tf.keras.Model):
        raise RankerContractError(f"{what} is not a tf.keras.Model")
    ranker_name(model)  # registered
    for method in ("get_config", "id_tables", "compute_loss", "example_features"):
        if not callable(getattr(model, method, None)):
            raise RankerContractError(f"{what} has no {method}() (subclass asmg_tf.models.Ranker to get it)")
    for attr in (*SIZE_KEYS.values(), "has_categories"):
        if not hasattr(model, attr):
            raise RankerContractError(f"{what} has no attribute {attr!r} (subclass asmg_tf.models.Ranker to get it)")
    config = model.get_config()
    missing = [key for key in (*SIZE_KEYS.values(), "embedding_dim") if key not in config]
    if missing:
        raise RankerContractError(f"{what}.get_config() lacks {missing}: the package resizes tables through them")
    if not model.built:
        raise RankerContractError(f"{what} is not built: call it once (model(model.example_features())) first")
    variables = named_trainable_variables(model)
    try:
        tables = dict(model.id_tables())
    except NotImplementedError as e:
        raise RankerContractError(str(e)) from None
    for key, space in tables.items():
        if space not in ID_SPACES:
            raise RankerContractError(f"{what}.id_tables(): {key!r} has id space {space!r}, not one of {ID_SPACES}")
        if key not in variables:
            raise RankerContractError(
                f"{what}.id_tables() names {key!r}, which is not a trainable variable (have {sorted(variables)})"
            )
        rows, size = variables[key].shape[0], config[SIZE_KEYS[space]]
        if rows != size:
            raise RankerContractError(f"{what}: table {key!r} has {rows} rows, but its space {space!r} has {size} ids")
    if config["num_users"] and "users" not in tables.values():
        raise RankerContractError(f"{what}.id_tables() declares no 'users' table")
    if "items" not in tables.values():
        raise RankerContractError(f"{what}.id_tables() declares no 'items' table")
    logits = model(model.example_features(batch_size=2), training=False)
    if tuple(np.shape(logits)) != (2,):
        raise RankerContractError(f"{what}.call() must return logits of shape [B]; got {tuple(np.shape(logits))}")
    return tables
