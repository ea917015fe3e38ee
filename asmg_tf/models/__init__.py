"""Base rankers (the ranker contract, its registry, the shipped rankers) and their weights I/O."""

from asmg_tf.models.contract import check_ranker
from asmg_tf.models.dcn_v2 import DCNv2Ranker
from asmg_tf.models.din import DINRanker
from asmg_tf.models.embedded import paper_hidden_units
from asmg_tf.models.embedding_mlp import EmbeddingMLPRanker
from asmg_tf.models.presets import PRESETS, TrainConfig, preset
from asmg_tf.models.ranker import ID_SPACES, Ranker, RankerContractError
from asmg_tf.models.registry import (
    DEFAULT_RANKER,
    build_ranker,
    describe,
    from_description,
    ranker_class,
    ranker_names,
    register_ranker,
)
from asmg_tf.models.weights import get_weights, set_weights

__all__ = [
    "DCNv2Ranker",
    "DEFAULT_RANKER",
    "DINRanker",
    "EmbeddingMLPRanker",
    "ID_SPACES",
    "PRESETS",
    "Ranker",
    "RankerContractError",
    "TrainConfig",
    "build_ranker",
    "check_ranker",
    "describe",
    "from_description",
    "get_weights",
    "paper_hidden_units",
    "preset",
    "ranker_class",
    "ranker_names",
    "register_ranker",
    "set_weights",
]
