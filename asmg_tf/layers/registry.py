"""One decorator that registers a public layer for Keras serialization under the ``asmg`` package."""

from __future__ import annotations

from typing import Any, TypeVar

import tensorflow as tf

PACKAGE = "asmg"
T = TypeVar("T", bound=type)


def register(cls: T) -> T:
    """Register ``cls`` as ``asmg>ClassName`` so saved models and configs reload it without custom_objects."""
    return tf.keras.utils.register_keras_serializable(package=PACKAGE)(cls)


def fresh_initializer(initializer: Any) -> tf.keras.initializers.Initializer:
    """A new initializer instance per weight: an unseeded Keras initializer instance reused across weights
    returns the same values every call, which would make e.g. two embedding tables identical."""
    return tf.keras.initializers.deserialize(tf.keras.initializers.serialize(tf.keras.initializers.get(initializer)))
