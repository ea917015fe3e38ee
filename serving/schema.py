"""The serving contract: signature names, input/output keys, the tf.Example features and the out-of-vocabulary rule.

Every exported version carries these signatures (``saved_model_cli show --all`` lists them):

=================  ==========================================  ====================================================
signature          inputs                                      outputs
=================  ==========================================  ====================================================
serving_default    ``examples``: serialized tf.Example [B]     ``click_probability`` [B], ``logit`` [B]
predict_ids        ``user`` [B], ``item`` [B], ``hist`` [B, L],  ``click_probability`` [B], ``logit`` [B]
                   ``hist_len`` [B]
rank               ``user`` [B], ``hist`` [B, L], ``hist_len``  ``item_ids`` [B, k'], ``scores`` [B, k']
                   [B], ``candidates`` [B, N], ``k`` [B]        (k' = min(max(k), N), best first)
classify           ``inputs``: serialized tf.Example [B]       ``scores`` [B, 2], ``classes`` [B, 2] ("0", "1")
regress            ``inputs``: serialized tf.Example [B]       ``outputs`` [B] (the click probability)
=================  ==========================================  ====================================================

Ids are the callers' own raw ids, as the source data has them after the reader's normalisation (Online Retail
customer "17850" and stock code "85123A", MovieLens "296"), always sent as strings: ``DT_STRING`` tensors
(``user``, ``item``, ``hist``, ``candidates``; ``hist_len`` and ``k`` are int64) and ``bytes_list`` features. The
version maps them to rows in its graph, from the vocabularies in its own ``assets/`` (``serving.id_lookup``); no
signature takes row indices. ``rank`` returns the candidates' ids as sent. ``classify``/``regress`` carry TF
Serving's classify/regress method names so the Classify and Regress RPCs work on them; they share the parsing graph
of ``serving_default``.

tf.Example features: ``user`` (bytes, 1 value), ``item`` (bytes, 1 value), ``hist`` (bytes list, most recent first,
at most ``MAX_HIST``). Other features (e.g. a ``label``) are ignored. Item categories are not sent: the exported
model holds the item -> categories table and looks them up.

Out-of-vocabulary rule: an id the version's vocabulary does not hold maps to an extra row ``n`` appended at export,
holding the mean of the ``n`` trained rows. An unseen user or item is thus scored like the average one, never fails,
and never borrows a real id's embedding. An unseen item has no categories.

Bad input is INVALID_ARGUMENT naming the feature: an empty id, a history longer than ``MAX_HIST`` (or than its row),
a negative ``k``, an id that is not an integer where the model's ids are integers, a feature of the wrong type.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

import numpy as np

from asmg_tf.data.periods import HIST_LEN as MAX_HIST

DEFAULT_SIGNATURE = "serving_default"
IDS_SIGNATURE = "predict_ids"  # id tensors (was "predict_raw", which took row indices: renamed so none is misread)
RANK_SIGNATURE = "rank"
CLASSIFY_SIGNATURE = "classify"
REGRESS_SIGNATURE = "regress"
SIGNATURES = (DEFAULT_SIGNATURE, IDS_SIGNATURE, RANK_SIGNATURE, CLASSIFY_SIGNATURE, REGRESS_SIGNATURE)

EXAMPLES = "examples"  # serving_default input key (the TFX convention)
CLASSIFY_INPUTS = "inputs"  # TF Serving's key for classify/regress inputs
PROBABILITY = "click_probability"
LOGIT = "logit"
ITEM_IDS = "item_ids"
SCORES = "scores"
CLASSES = "classes"
REGRESS_OUTPUTS = "outputs"

USER, ITEM, HIST, HIST_LEN = "user", "item", "hist", "hist_len"
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


__all__ = ["MAX_HIST", "id_bytes", "make_example", "serialize_examples"]


def id_bytes(value) -> bytes:
    """A raw id as it travels: ``str`` as UTF-8, ``bytes`` as they are, integers as their decimal text.

    ``TypeError`` for anything else (a float or bool is never an id: 7.0 would be sent as "7.0").
    """
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return str(int(value)).encode("ascii")
    raise TypeError(f"an id must be a string or an integer, got {type(value).__name__} {value!r}")


def make_example(user, item, hist: Sequence = ()):
    """A ``tf.train.Example`` for ``serving_default``/``classify``/``regress`` (raw ids; history most recent first)."""
    from tensorflow.core.example import example_pb2, feature_pb2

    if isinstance(hist, (str, bytes)):
        raise TypeError("hist must be a list of ids, not one string")

    def ids(values):
        return feature_pb2.Feature(bytes_list=feature_pb2.BytesList(value=[id_bytes(v) for v in values]))

    return example_pb2.Example(
        features=feature_pb2.Features(feature={USER: ids([user]), ITEM: ids([item]), HIST: ids(hist)})
    )


def serialize_examples(rows: Sequence[dict]) -> list[bytes]:
    """``[{"user", "item", "hist"}] -> serialized tf.Examples``."""
    return [make_example(r[USER], r[ITEM], r.get(HIST, ())).SerializeToString() for r in rows]
