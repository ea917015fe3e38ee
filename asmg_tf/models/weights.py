"""Read and write a model's trainable weights as a ``name -> array`` mapping.

Names are the variables' names without the ``:0`` suffix and without the model's own (possibly uniquified) name
scope, e.g. ``user_embedding/embeddings`` or ``mlp_tower/dense_0/kernel``, so they match between two instances of
one architecture in one process.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from asmg_tf.files import load_npz, save_npz


def variable_key(model: tf.keras.Model, variable: tf.Variable) -> str:
    name = variable.name.split(":")[0]
    prefix = model.name + "/"
    return name[len(prefix) :] if name.startswith(prefix) else name


def named_trainable_variables(model: tf.keras.Model) -> dict[str, tf.Variable]:
    out: dict[str, tf.Variable] = {}
    for v in model.trainable_variables:
        key = variable_key(model, v)
        if key in out:
            raise ValueError(f"two trainable variables share the name {key!r}; give the layers distinct names")
        out[key] = v
    if not out:
        raise ValueError(f"model {model.name!r} has no trainable variables yet: build it (call it once) first")
    return out


def get_weights(model: tf.keras.Model) -> dict[str, np.ndarray]:
    """Trainable weights as ``{name: array}`` (copies)."""
    return {k: v.numpy() for k, v in named_trainable_variables(model).items()}


def set_weights(model: tf.keras.Model, weights: dict[str, np.ndarray]) -> None:
    """Assign ``weights`` to the model's trainable variables; names and shapes must match exactly."""
    variables = named_trainable_variables(model)
    missing, extra = set(variables) - set(weights), set(weights) - set(variables)
    if missing or extra:
        raise ValueError(
            f"weights do not match model {model.name!r}: missing {sorted(missing)}, unexpected {sorted(extra)}"
        )
    for k, v in variables.items():
        if tuple(v.shape) != tuple(np.shape(weights[k])):
            raise ValueError(f"{k}: model has shape {tuple(v.shape)}, weights have {tuple(np.shape(weights[k]))}")
        v.assign(weights[k])


def save_weights_npz(path: str, weights: dict[str, np.ndarray]) -> None:
    """Atomic ``.npz`` write of a weights dict (names keep their slashes); no pickle."""
    save_npz(path, weights)


def load_weights_npz(path: str) -> dict[str, np.ndarray]:
    return load_npz(path)
