"""The files of the period state (the Transform's carried artifact) and of a period's examples artifact.

State artifact (``TransformCache`` type, see ``pipeline.artifacts``), rewritten by every run::

    meta.json                 span, sizes, table capacities, settings, spans seen
    vocab/users.txt           append-only vocabularies: line n holds the raw id of index n
    vocab/items.txt
    vocab/categories.txt
    item_categories.npy       int32 [num_items, C], -1 padded (the item's categories at first sight)
    users/users-*.tfrecord.gz one record per user: index, carried history, items seen (first times)
    pretrain/span-<t>/        the examples of pretraining spans, kept until the run that pretrains

Examples artifact: ``Split-period/`` (this span) and, in the pretraining run, ``Split-pretrain/``; plus
``asmg_period/`` with ``meta.json`` (as the state's, plus ``trainable``), ``item_categories.npy`` and ``vocab/``,
which the Trainer, the generator and the metrics component read (they cannot read the state artifact itself).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline import fs
from pipeline.preprocess import UserHistory

META = "meta.json"
VOCAB_DIR = "vocab"
VOCABS = ("users", "items", "categories")
ITEM_CATEGORIES = "item_categories.npy"
USERS_DIR = "users"
PRETRAIN_DIR = "pretrain"
PERIOD_DIR = "asmg_period"
#: custom property holding an artifact's span (also ``pipeline.artifacts.SPAN``)
SPAN = "span"
#: TestThenTrain's metrics file in its ModelEvaluation artifact
METRICS_FILE = "metrics.json"
STATE_FORMAT = "asmg-period-state/1"


def write_json(path: str, obj) -> None:
    """Atomic JSON write (sorted keys: artifact files compare byte for byte)."""
    fs.write_json(path, obj, sort_keys=True)


def read_json(path: str) -> Any:
    return fs.read_json(path)


def vocab_path(root: str, name: str) -> str:
    return fs.join(root, VOCAB_DIR, f"{name}.txt")


def read_vocab(root: str, name: str) -> list[str]:
    path = vocab_path(root, name)
    if not fs.exists(path):
        return []
    return fs.read_text(path).split("\n")[:-1]  # one id a line; not splitlines(): ids may hold \x1c, \u2028


def write_vocab(root: str, name: str, old: list[str], new: list[str]) -> None:
    """Write ``old + new`` (the append-only rule: old indices never move)."""
    bad = [v for v in new if "\n" in v or "\r" in v]
    if bad:
        raise ValueError(f"raw {name} ids must not contain line breaks: {bad[:3]}")
    fs.write_text(vocab_path(root, name), "".join(v + "\n" for v in old + new))


def extend_categories(table: np.ndarray | None, rows: list[list[int]]) -> np.ndarray:
    """Append one row of category indices per new item (-1 padded; the width grows when a row needs it)."""
    width = max([0 if table is None else table.shape[1]] + [len(r) for r in rows] + [1])
    old = np.zeros((0, width), np.int32) if table is None else table
    if old.shape[1] < width:
        old = np.concatenate([old, np.full((old.shape[0], width - old.shape[1]), -1, np.int32)], axis=1)
    new = np.full((len(rows), width), -1, np.int32)
    for r, cats in enumerate(rows):
        new[r, : len(cats)] = cats
    return np.concatenate([old, new]).astype(np.int32)


def read_item_categories(root: str) -> np.ndarray | None:
    path = fs.join(root, ITEM_CATEGORIES)
    return fs.load_npy(path) if fs.exists(path) else None


def padded_categories(table: np.ndarray | None, rows: int, has_categories: bool) -> np.ndarray | None:
    """The table padded with -1 rows up to ``rows`` (the item table's capacity); None without categories."""
    if not has_categories:
        return None
    table = np.full((0, 1), -1, np.int32) if table is None else table
    pad = np.full((rows - table.shape[0], table.shape[1]), -1, np.int32)
    return np.concatenate([table, pad]).astype(np.int32)


# -- per-user records --------------------------------------------------------------------------------------------
def encode_user(raw: bytes, index: int, h: UserHistory) -> bytes:
    from tensorflow.core.example import example_pb2, feature_pb2

    def ints(values):
        return feature_pb2.Feature(int64_list=feature_pb2.Int64List(value=[int(v) for v in values]))

    feature = {
        "raw": feature_pb2.Feature(bytes_list=feature_pb2.BytesList(value=[raw])),
        "index": ints([index]),
        "hist_items": ints(h.hist_items.tolist()),
        "hist_times": ints(h.hist_times.tolist()),
        "seen_items": ints(h.seen_items.tolist()),
        "seen_times": ints(h.seen_times.tolist()),
    }
    return example_pb2.Example(features=feature_pb2.Features(feature=feature)).SerializeToString()


def decode_user(serialized: bytes) -> tuple[bytes, int, UserHistory]:
    from tensorflow.core.example import example_pb2

    f = example_pb2.Example.FromString(serialized).features.feature

    def ints(name):
        return np.asarray(f[name].int64_list.value, np.int64)

    h = UserHistory(ints("hist_items"), ints("hist_times"), ints("seen_items"), ints("seen_times"))
    return f["raw"].bytes_list.value[0], int(f["index"].int64_list.value[0]), h


# -- pretraining buffer ------------------------------------------------------------------------------------------
def pretrain_span_dir(root: str, span: int) -> str:
    return fs.join(root, PRETRAIN_DIR, f"span-{span:05d}")


def copy_tree_files(src: str, dst: str, prefix: str = "") -> list[str]:
    """Copy the files of ``src`` (not recursive) into ``dst``, names prefixed; returns the new paths."""
    fs.makedirs(dst)
    out = []
    for name in fs.listdir(src):
        p = fs.join(src, name)
        if not fs.isdir(p):
            q = fs.join(dst, prefix + name)
            fs.copy_file(p, q)
            out.append(q)
    return out


def split_files(examples_uri: str, split: str) -> list[str]:
    d = fs.join(examples_uri, f"Split-{split}")
    if not fs.isdir(d):
        return []
    # files only: a runner may leave its (emptied) ``beam-temp-*`` folder beside the shards (the DaskRunner does)
    paths = [fs.join(d, n) for n in fs.listdir(d) if not n.startswith(".")]
    return [p for p in paths if not fs.isdir(p)]


def category_table(examples_uri: str, meta: dict) -> np.ndarray | None:
    """The item -> categories table a PeriodTransform output holds, padded to the item capacity in ``meta`` (its
    ``read_period_meta``); None for data without categories."""
    return padded_categories(
        read_item_categories(fs.join(examples_uri, PERIOD_DIR)),
        meta["capacity"]["items"],
        meta["settings"]["has_categories"],
    )


def read_period_meta(examples_uri: str) -> dict:
    path = fs.join(examples_uri, PERIOD_DIR, META)
    if not fs.exists(path):
        raise FileNotFoundError(f"{examples_uri} holds no {PERIOD_DIR}/{META}: not written by PeriodTransform")
    return read_json(path)
