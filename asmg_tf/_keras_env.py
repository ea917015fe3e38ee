"""Choose legacy Keras (tf_keras) before TensorFlow is imported, or fail loudly.

TF 2.21's default ``tf.keras`` is Keras 3, which tensorflow-recommenders refuses and TFX's Transform layer cannot
live inside. The switch ``TF_USE_LEGACY_KERAS=1`` is read when ``tf.keras`` is first resolved, so it must be in the
environment before that happens. Mixing both Kerases in one process gives confusing errors far from the cause,
so we refuse instead.
"""

from __future__ import annotations

import os
import sys

FIX = (
    "Set TF_USE_LEGACY_KERAS=1 in the environment before Python starts (e.g. `export TF_USE_LEGACY_KERAS=1`), "
    "or import asmg_tf before tensorflow."
)


class KerasVersionError(ImportError):
    """Raised when TensorFlow in this process already uses Keras 3."""


def _tf_keras_is_legacy() -> bool:
    tf = sys.modules["tensorflow"]
    # Legacy Keras resolves to the ``tf_keras`` package; Keras 3 to ``keras._tf_keras.keras``.
    return getattr(tf.keras, "__name__", "").startswith("tf_keras")


def ensure_legacy_keras() -> None:
    """Set ``TF_USE_LEGACY_KERAS=1`` if TensorFlow is not loaded yet; raise if Keras 3 is already in use."""
    value = os.environ.get("TF_USE_LEGACY_KERAS")
    if value is not None and value.strip().lower() not in ("1", "true", "yes"):
        raise KerasVersionError(f"TF_USE_LEGACY_KERAS={value!r} selects Keras 3, which asmg_tf cannot use. {FIX}")
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" in sys.modules and not _tf_keras_is_legacy():
        raise KerasVersionError(
            "TensorFlow was imported before asmg_tf and tf.keras is Keras 3 in this process; "
            f"asmg_tf needs legacy Keras (tf_keras). {FIX}"
        )
