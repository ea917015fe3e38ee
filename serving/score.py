"""Score an exported version on labelled samples the way TF Serving answers them.

The samples go through the version's ``serving_default`` signature as serialized tf.Examples with their *raw* ids,
exactly the request a client sends: the version's own lookup maps them to rows, ids its vocabulary does not hold
(users or items first seen after the export) are answered from the out-of-vocabulary row, and item categories come
from the table frozen into the export. This is the metric of what users were served, as opposed to a full-capacity
reconstruction of the same weights.
"""

from __future__ import annotations

import json
import os

import numpy as np

from asmg_tf.data.periods import PeriodData
from asmg_tf.data.vocab import IdVocabulary
from asmg_tf.training.loop import auc_logloss
from serving import schema as S

BATCH = 4096
EXPORT_INFO = os.path.join("assets.extra", "asmg_export.json")


def export_info(version_dir: str) -> dict:
    path = os.path.join(version_dir, EXPORT_INFO)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{version_dir} is not a version exported by serving.export (no {EXPORT_INFO})")
    with open(path) as f:
        return json.load(f)


def version_vocabulary(version_dir: str) -> IdVocabulary:
    """The raw-id vocabulary a version serves (its ``assets/``; local or object-store paths)."""
    import tensorflow as tf

    def ids(space: str) -> list[str]:
        path = f"{version_dir.rstrip('/')}/assets/{space}.txt"
        if not tf.io.gfile.exists(path):
            raise FileNotFoundError(f"{version_dir} has no {space} vocabulary (assets/{space}.txt): exported by an "
                                    "older asmg, whose signatures took row indices; export it again")  # fmt: skip
        with tf.io.gfile.GFile(path, "rb") as f:
            return f.read().decode("utf-8").split("\n")[:-1]

    return IdVocabulary(ids("users"), ids("items"))


def cold_start_share(data: PeriodData, vocabulary: IdVocabulary, served: IdVocabulary) -> float:
    """The share of samples whose user or target item the ``served`` vocabulary does not hold (the OOV row)."""
    if len(data) == 0:
        return 0.0
    unknown = {}
    for space, rows in (("users", data.user), ("items", data.item)):
        known = set(served.ids(space))
        present = np.array([i in known for i in vocabulary.ids(space)], bool)
        unknown[space] = ~present[rows]
    return float(np.mean(unknown["users"] | unknown["items"]))


def raw_examples(data: PeriodData, vocabulary: IdVocabulary, rows: slice) -> list[bytes]:
    """Serialized tf.Examples of ``data[rows]`` with the raw ids ``vocabulary`` gives its row indices."""
    part = data.take(rows)
    users, items = vocabulary.raw("users", part.user), vocabulary.raw("items", part.item)
    hist = vocabulary.raw("items", part.hist)
    return S.serialize_examples(
        [
            {S.USER: u, S.ITEM: i, S.HIST: h[:n]}
            for u, i, h, n in zip(users, items, hist, part.hist_len.tolist(), strict=True)
        ]
    )


def score_version(version_dir: str, data: PeriodData, vocabulary: IdVocabulary, batch_size: int = BATCH) -> dict:
    """``{"auc", "logloss", "cold_start_share", "num_users", "num_items"}`` of the version at ``version_dir`` on
    ``data`` (labels from ``data``; its ids are rows of ``vocabulary``, which may know more ids than the version),
    sent as raw ids through ``serving_default``."""
    import tensorflow as tf

    info = export_info(version_dir)
    fn = tf.saved_model.load(version_dir).signatures[S.DEFAULT_SIGNATURE]
    logits = [
        fn(**{S.EXAMPLES: tf.constant(raw_examples(data, vocabulary, slice(s, s + batch_size)))})[S.LOGIT]
        .numpy()
        .reshape(-1)
        for s in range(0, len(data), batch_size)
    ]
    scores = np.concatenate(logits) if logits else np.zeros(0, np.float32)
    return {
        **auc_logloss(data.label, scores),
        "cold_start_share": cold_start_share(data, vocabulary, version_vocabulary(version_dir)),
        "num_users": int(info["num_users"]),
        "num_items": int(info["num_items"]),
    }
