"""asmg_tf: keep recommender models fresh with an adaptive meta model-generator (ASMG, RecSys 2021).

Importing this package makes sure TensorFlow will use legacy Keras (``tf_keras``): tensorflow-recommenders
and TFX need it, and it must be chosen before TensorFlow is first imported. See ``asmg_tf._keras_env``.
"""

from asmg_tf._keras_env import ensure_legacy_keras

ensure_legacy_keras()

__version__ = "0.1.0"
