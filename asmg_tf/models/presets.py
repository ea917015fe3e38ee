"""The paper's training hyper-parameters per dataset kind (docs/method.md §2.4)."""

from __future__ import annotations

import dataclasses

from asmg_tf.model_names import DEFAULT_RANKER


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Base-model settings: the ranker (a registered name and its options, ``asmg_tf.models.registry``), Adam
    learning rate, batch size, pretraining epochs and seed."""

    learning_rate: float = 1e-3
    batch_size: int = 256
    pretrain_epochs: int = 10
    embedding_dim: int = 8
    seed: int = 123
    model: str = DEFAULT_RANKER
    model_options: dict = dataclasses.field(default_factory=dict)

    def replace(self, **changes) -> TrainConfig:
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


PRESETS: dict[str, TrainConfig] = {
    # implicit clicks with one category per item (also our synthetic stream)
    "tmall": TrainConfig(learning_rate=1e-2, batch_size=1024),
    # implicit interactions, no category (also Online Retail)
    "sobazaar": TrainConfig(learning_rate=1e-3, batch_size=256),
    # explicit ratings (label = rating >= 4), genres as multi-category
    "movielens": TrainConfig(learning_rate=1e-3, batch_size=1024),
}


def preset(kind: str) -> TrainConfig:
    try:
        return PRESETS[kind]
    except KeyError:
        raise ValueError(f"unknown dataset kind {kind!r}; choose one of {sorted(PRESETS)}") from None
