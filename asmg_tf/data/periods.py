"""Period data: the samples of each period in the paper's protocol, and the protocol itself.

A sample is (user, target item, history of up to 30 items most recent first, history length, label, timestamp).
Item categories are not stored per sample: ``PeriodSet.item_categories`` maps an item to its (padded) category ids
and batches look them up, for the target item and for every history item alike.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence

import numpy as np

from asmg_tf.data.vocab import IdVocabulary, id_text
from asmg_tf.npz_rows import memmap_npz

HIST_LEN = 30
_ARRAYS = ("user", "item", "hist", "hist_len", "label", "timestamp")
VOCAB_DIR = "vocab"  # of a saved set: users.txt / items.txt (asmg_tf.data.vocab)


@dataclasses.dataclass(frozen=True)
class Protocol:
    """Which periods pretrain, update and count as tests (1-based period numbers, paper defaults).

    Iteration ``i`` trains on period ``i`` and is evaluated on period ``i + 1``; the headline number is the mean
    over the test iterations ``test_start..test_end`` (24..30, i.e. the data of periods 25..31).
    """

    num_periods: int = 31
    pretrain_end: int = 10
    update_start: int = 11
    test_start: int = 24
    test_end: int = 30

    def __post_init__(self) -> None:
        if not (1 <= self.pretrain_end < self.update_start <= self.test_start <= self.test_end < self.num_periods):
            raise ValueError(
                "protocol needs 1 <= pretrain_end < update_start <= test_start <= test_end < num_periods, got "
                f"{dataclasses.asdict(self)}"
            )

    @property
    def pretrain_periods(self) -> range:
        return range(1, self.pretrain_end + 1)

    @property
    def update_iterations(self) -> range:
        return range(self.update_start, self.test_end + 1)

    @property
    def test_iterations(self) -> range:
        return range(self.test_start, self.test_end + 1)

    @classmethod
    def scaled(cls, num_periods: int) -> Protocol:
        """The paper's protocol for 31 periods, stretched to ``num_periods`` (pretrain ~1/3, test the last ~7/31)."""
        if num_periods == 31:
            return cls()
        if num_periods < 6:
            raise ValueError(f"need at least 6 periods for pretrain/update/test, got {num_periods}")
        pretrain_end = max(1, round(num_periods * 10 / 31))
        test_start = max(pretrain_end + 1, num_periods - 1 - max(1, round(num_periods * 7 / 31)) + 1)
        return cls(num_periods, pretrain_end, pretrain_end + 1, test_start, num_periods - 1)


@dataclasses.dataclass
class PeriodData:
    """The samples of one period, as aligned NumPy arrays."""

    user: np.ndarray  # int32 [N]
    item: np.ndarray  # int32 [N]
    hist: np.ndarray  # int32 [N, HIST_LEN], most recent first, 0-padded (0 is a real item: use hist_len)
    hist_len: np.ndarray  # int32 [N]
    label: np.ndarray  # float32 [N]
    timestamp: np.ndarray  # int64 [N], unix seconds

    def __len__(self) -> int:
        return int(self.user.shape[0])

    def take(self, index: np.ndarray | slice) -> PeriodData:
        return PeriodData(**{k: getattr(self, k)[index] for k in _ARRAYS})

    @staticmethod
    def concat(parts: Sequence[PeriodData]) -> PeriodData:
        return PeriodData(**{k: np.concatenate([getattr(p, k) for p in parts]) for k in _ARRAYS})

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: getattr(self, k) for k in _ARRAYS}


@dataclasses.dataclass
class PeriodSet:
    """A dataset cut into periods, with its id spaces and the protocol to run on it."""

    name: str
    kind: str  # hyper-parameter preset: "tmall" (implicit+category), "sobazaar" (implicit), "movielens" (explicit)
    periods: list[PeriodData]  # periods[0] is period 1
    num_users: int
    num_items: int
    num_categories: int = 0
    item_categories: np.ndarray | None = None  # int32 [num_items, C], -1 padded; None when there are no categories
    protocol: Protocol = dataclasses.field(default_factory=Protocol)
    summary: dict = dataclasses.field(default_factory=dict)
    #: the raw id of every user / item row (None: a set made without one, e.g. by a cache from before they were kept)
    vocabulary: IdVocabulary | None = None

    def __post_init__(self) -> None:
        if self.vocabulary is not None and self.vocabulary.sizes() != {
            "users": self.num_users,
            "items": self.num_items,
        }:
            raise ValueError(
                f"{self.name}: the vocabulary has {self.vocabulary.sizes()} ids but the tables "
                f"{self.num_users} users and {self.num_items} items"
            )
        if len(self.periods) != self.protocol.num_periods:
            raise ValueError(
                f"{self.name}: {len(self.periods)} periods but the protocol expects {self.protocol.num_periods}"
            )

    @classmethod
    def from_split(
        cls, name: str, kind: str, periods: list[PeriodData], info: dict, protocol: Protocol | None, summary: dict
    ) -> PeriodSet:
        """A period set from split samples and the id-space ``info`` that preprocessing returns."""
        return cls(
            name=name,
            kind=kind,
            periods=periods,
            num_users=info["num_users"],
            num_items=info["num_items"],
            num_categories=info["num_categories"],
            item_categories=info["item_categories"],
            protocol=protocol or Protocol.scaled(len(periods)),
            summary=summary,
            vocabulary=IdVocabulary(id_text(info["user_vocab"]), id_text(info["item_vocab"])),
        )

    def id_vocabulary(self) -> IdVocabulary:
        """The raw-id vocabulary; a ``ValueError`` saying how to get one when the set has none."""
        if self.vocabulary is None:
            raise ValueError(
                f"the period set {self.name!r} keeps no raw-id vocabulary (made by an older asmg or without one): "
                "rebuild it (asmg bench rebuilds a cached set that lacks it)"
            )
        return self.vocabulary

    def period(self, t: int) -> PeriodData:
        """Period ``t`` (1-based, as in the paper)."""
        if not 1 <= t <= len(self.periods):
            raise IndexError(f"period {t} outside 1..{len(self.periods)}")
        return self.periods[t - 1]

    def periods_range(self, first: int, last: int) -> PeriodData:
        return PeriodData.concat([self.period(t) for t in range(first, last + 1)])

    def __iter__(self) -> Iterator[PeriodData]:
        return iter(self.periods)

    @property
    def has_categories(self) -> bool:
        return self.item_categories is not None and self.num_categories > 0

    def meta(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "num_users": self.num_users,
            "num_items": self.num_items,
            "num_categories": self.num_categories,
            "protocol": dataclasses.asdict(self.protocol),
            "period_sizes": [len(p) for p in self.periods],
            "summary": self.summary,
        }

    def save(self, directory: str) -> None:
        """Write as ``meta.json`` + ``arrays.npz`` (no pickle), atomically: a crash never leaves a half set."""
        arrays = {}
        for t, p in enumerate(self.periods, start=1):
            for k, v in p.arrays().items():
                arrays[f"p{t:03d}_{k}"] = v
        if self.item_categories is not None:
            arrays["item_categories"] = self.item_categories
        parent = os.path.dirname(os.path.abspath(directory))
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".tmp-periods-", dir=parent)
        try:
            np.savez(os.path.join(tmp, "arrays.npz"), **arrays)
            with open(os.path.join(tmp, "meta.json"), "w") as f:
                json.dump(self.meta(), f, indent=1, default=_json_default)
            if self.vocabulary is not None:
                self.vocabulary.write(os.path.join(tmp, VOCAB_DIR))
            if os.path.exists(directory):
                shutil.rmtree(directory)
            os.replace(tmp, directory)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    @classmethod
    def load(cls, directory: str) -> PeriodSet:
        """The saved set, its arrays memory-mapped from ``arrays.npz`` (read-only): a period's samples are read from
        the file as batches touch them (``asmg_tf.models.features.make_dataset``), nothing is loaded whole."""
        with open(os.path.join(directory, "meta.json")) as f:
            meta = json.load(f)
        z = memmap_npz(os.path.join(directory, "arrays.npz"))
        n = meta["protocol"]["num_periods"]
        periods = [PeriodData(**{k: z[f"p{t:03d}_{k}"] for k in _ARRAYS}) for t in range(1, n + 1)]
        cats = np.array(z["item_categories"]) if "item_categories" in z else None  # small: in memory
        vocab_dir = os.path.join(directory, VOCAB_DIR)
        vocabulary = IdVocabulary.read(vocab_dir) if os.path.isdir(vocab_dir) else None
        return cls(
            name=meta["name"],
            kind=meta["kind"],
            periods=periods,
            num_users=meta["num_users"],
            num_items=meta["num_items"],
            num_categories=meta["num_categories"],
            item_categories=cats,
            protocol=Protocol(**meta["protocol"]),
            summary=meta.get("summary", {}),
            vocabulary=vocabulary,
        )


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"not JSON serializable: {type(o).__name__}")
