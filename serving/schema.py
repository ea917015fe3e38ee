"""The serving contract: signature names, input/output keys, the tf.Example features and the out-of-vocabulary rule.

Every exported version carries these signatures (``saved_model_cli show --all`` lists them):

=================  ==========================================  ====================================================
signature          inputs                                      outputs
=================  ==========================================  ====================================================
serving_default    ``examples``: serialized tf.Example [B]     ``click_probability`` [B], ``logit`` [B]
predict_raw        ``user`` [B], ``item`` [B], ``hist`` [B, L],  ``click_probability`` [B], ``logit`` [B]
                   ``hist_len`` [B] (+ ``item_cats`` [B, C],
                   ``hist_cats`` [B, L, C] with categories)
rank               ``user`` [B], ``hist`` [B, L], ``hist_len``  ``item_ids`` [B, k'], ``scores`` [B, k']
                   [B], ``candidates`` [B, N], ``k`` [B]        (k' = min(max(k), N), best first)
classify           ``inputs``: serialized tf.Example [B]       ``scores`` [B, 2], ``classes`` [B, 2] ("0", "1")
regress            ``inputs``: serialized tf.Example [B]       ``outputs`` [B] (the click probability)
=================  ==========================================  ====================================================

All ids are int64. ``classify``/``regress`` carry TF Serving's classify/regress method names so the Classify and
Regress RPCs work on them; they share the parsing graph of ``serving_default``.

tf.Example features: ``user`` (int64, 1 value), ``item`` (int64, 1 value), ``hist`` (int64 list, most recent first,
any length; the first ``MAX_HIST`` are used). Other features (e.g. a ``label``) are ignored. Item categories are not
sent: the exported model holds the item -> categories table and looks them up.

Out-of-vocabulary rule: an id outside ``[0, n)`` of its table (user, item or category; negative ones included) maps
to an extra row ``n`` appended at export, holding the mean of the ``n`` trained rows. An unseen user or item is thus
scored like the average one, never fails, and never borrows a real id's embedding. An unseen item has no categories.
Category id -1 stays padding (ignored), as in training.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from asmg_tf.data.periods import HIST_LEN as MAX_HIST

DEFAULT_SIGNATURE = "serving_default"
RAW_SIGNATURE = "predict_raw"
RANK_SIGNATURE = "rank"
CLASSIFY_SIGNATURE = "classify"
REGRESS_SIGNATURE = "regress"
SIGNATURES = (DEFAULT_SIGNATURE, RAW_SIGNATURE, RANK_SIGNATURE, CLASSIFY_SIGNATURE, REGRESS_SIGNATURE)

EXAMPLES = "examples"  # serving_default input key (the TFX convention)
CLASSIFY_INPUTS = "inputs"  # TF Serving's key for classify/regress inputs
PROBABILITY = "click_probability"
LOGIT = "logit"
ITEM_IDS = "item_ids"
SCORES = "scores"
CLASSES = "classes"
REGRESS_OUTPUTS = "outputs"

USER, ITEM, HIST, HIST_LEN, ITEM_CATS, HIST_CATS = "user", "item", "hist", "hist_len", "item_cats", "hist_cats"
CANDIDATES, K = "candidates", "k"

WARMUP_FILE = "tf_serving_warmup_requests"  # under <version>/assets.extra/
CLASSIFY_METHOD = "tensorflow/serving/classify"  # SignatureDef method names TF Serving dispatches Classify/Regress on
REGRESS_METHOD = "tensorflow/serving/regress"
MAX_MESSAGE_BYTES = 256 << 20  # gRPC message limit of client and server: batched requests are large

_VERSION = re.compile(r"^[0-9]+$")


def version_dirs(base_path: str) -> dict[int, str]:
    """``{version: path}`` of the numeric subfolders of a model's base path (hidden or non-numeric names, such as
    an exporter's staging folder, are ignored); empty when ``base_path`` does not exist."""
    try:
        names = os.listdir(base_path)
    except FileNotFoundError:
        return {}
    paths = {int(n): os.path.join(base_path, n) for n in names if _VERSION.match(n)}
    return {v: p for v, p in paths.items() if os.path.isdir(p)}


__all__ = ["MAX_HIST", "make_example", "serialize_examples"]


def make_example(user: int, item: int, hist: Sequence[int] = ()):
    """A ``tf.train.Example`` for ``serving_default``/``classify``/``regress`` (history most recent first)."""
    from tensorflow.core.example import example_pb2, feature_pb2

    def ints(values):
        return feature_pb2.Feature(int64_list=feature_pb2.Int64List(value=[int(v) for v in values]))

    return example_pb2.Example(
        features=feature_pb2.Features(feature={USER: ints([user]), ITEM: ints([item]), HIST: ints(hist)})
    )


def serialize_examples(rows: Sequence[dict]) -> list[bytes]:
    """``[{"user", "item", "hist"}] -> serialized tf.Examples``."""
    return [make_example(r[USER], r[ITEM], r.get(HIST, ())).SerializeToString() for r in rows]
