"""Score an exported version on labelled samples the way TF Serving answers them.

The samples go through the version's ``serving_default`` signature as serialized tf.Examples, exactly the request a
client sends: ids the exported tables do not know (users or items first seen after the export) are answered from the
out-of-vocabulary row, and item categories come from the table frozen into the export. This is the metric of what
users were served, as opposed to a full-capacity reconstruction of the same weights.
"""

from __future__ import annotations

import json
import os

import numpy as np

from asmg_tf.data.periods import PeriodData
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


def cold_start_share(data: PeriodData, num_users: int, num_items: int) -> float:
    """The share of samples whose user or target item the exported tables do not know (served from the OOV row)."""
    if len(data) == 0:
        return 0.0
    return float(np.mean((data.user >= num_users) | (data.item >= num_items)))


def _serialized(data: PeriodData, rows: slice) -> list[bytes]:
    part = data.take(rows)
    return S.serialize_examples(
        [
            {S.USER: u, S.ITEM: i, S.HIST: h[:n]}
            for u, i, h, n in zip(part.user, part.item, part.hist, part.hist_len, strict=True)
        ]
    )


def score_version(version_dir: str, data: PeriodData, batch_size: int = BATCH) -> dict:
    """``{"auc", "logloss", "cold_start_share", "num_users", "num_items"}`` of the version at ``version_dir`` on
    ``data`` (labels from ``data``), scored through ``serving_default``."""
    import tensorflow as tf

    info = export_info(version_dir)
    fn = tf.saved_model.load(version_dir).signatures[S.DEFAULT_SIGNATURE]
    logits = [
        fn(**{S.EXAMPLES: tf.constant(_serialized(data, slice(s, s + batch_size)))})[S.LOGIT].numpy().reshape(-1)
        for s in range(0, len(data), batch_size)
    ]
    scores = np.concatenate(logits) if logits else np.zeros(0, np.float32)
    return {
        **auc_logloss(data.label, scores),
        "cold_start_share": cold_start_share(data, info["num_users"], info["num_items"]),
        "num_users": int(info["num_users"]),
        "num_items": int(info["num_items"]),
    }
