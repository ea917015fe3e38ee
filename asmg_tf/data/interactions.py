"""The common shape every reader produces: a clean interaction log before the paper's preprocessing."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd


@dataclasses.dataclass
class Interactions:
    """A cleaned interaction log.

    ``events`` has columns ``user``, ``item`` (raw ids, any hashable dtype), ``timestamp`` (int64 unix seconds) and,
    for explicit-feedback data, ``rating``. ``item_categories`` maps a raw item id to its raw category ids (first
    one only for single-category data). ``dropped`` counts the dirty rows the reader removed, by reason.
    """

    name: str
    kind: str  # hyper-parameter preset, see asmg_tf.models.presets
    events: pd.DataFrame
    explicit: bool = False  # labels from ratings (>= positive_rating), no sampled negatives
    positive_rating: float = 4.0
    history_granularity: str = "timestamp"  # "timestamp" or "day" (Tmall: strictly earlier dates)
    item_categories: dict | None = None
    dropped: dict = dataclasses.field(default_factory=dict)
    source: str = ""
    tie_policy: str = "exact"  # how equal-count period cuts treat equal timestamps, see split.py

    def __post_init__(self) -> None:
        missing = {"user", "item", "timestamp"} - set(self.events.columns)
        if self.explicit:
            missing |= {"rating"} - set(self.events.columns)
        if missing:
            raise ValueError(f"{self.name}: events lack columns {sorted(missing)}")
        if self.history_granularity not in ("timestamp", "day"):
            raise ValueError(f"history_granularity must be 'timestamp' or 'day', got {self.history_granularity!r}")
        self.events = self.events.reset_index(drop=True)
        self.events["timestamp"] = self.events["timestamp"].astype(np.int64)

    def summary(self) -> dict:
        return {
            "source": self.source,
            "rows_kept": int(len(self.events)),
            "rows_dropped": {k: int(v) for k, v in self.dropped.items()},
            "users": int(self.events["user"].nunique()),
            "items": int(self.events["item"].nunique()),
        }
