"""Base rankers and their weights I/O."""

from asmg_tf.models.embedding_mlp import EmbeddingMLPRanker, paper_hidden_units
from asmg_tf.models.presets import PRESETS, TrainConfig, preset
from asmg_tf.models.weights import get_weights, set_weights

__all__ = ["EmbeddingMLPRanker", "PRESETS", "TrainConfig", "get_weights", "paper_hidden_units", "preset", "set_weights"]
