"""Warm-up requests written into each version (``assets.extra/tf_serving_warmup_requests``).

TF Serving replays these ``PredictionLog`` records after loading a version and before marking it AVAILABLE, so the
first real requests do not pay for lazy initialisation (serving#385). One record per signature and RPC kind, with
raw ids as clients send them: the vocabulary's first user and item, and ids it does not hold (the OOV row), so both
branches run.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import (
    classification_pb2,
    input_pb2,
    model_pb2,
    predict_pb2,
    prediction_log_pb2,
    regression_pb2,
)

from asmg_tf.data.vocab import IdVocabulary
from serving import schema as S


def unseen_id(ids: tuple[str, ...], integer: bool) -> str:
    """An id of the right kind that ``ids`` does not hold (an integer one in an integer space)."""
    known = set(ids)
    n = -1 if integer else 0
    while (candidate := str(n) if integer else f"asmg-warmup-unseen-{n}") in known:
        n = n - 1 if integer else n + 1
    return candidate


def warmup_logs(model_name: str, vocabulary: IdVocabulary) -> list[prediction_log_pb2.PredictionLog]:
    """The warm-up records for a model whose rows have the raw ids of ``vocabulary``."""
    user, item = vocabulary.users[0], vocabulary.items[0]
    new_user = unseen_id(vocabulary.users, vocabulary.integer("users"))
    new_item = unseen_id(vocabulary.items, vocabulary.integer("items"))
    rows = [{S.USER: user, S.ITEM: item, S.HIST: [item, item]}, {S.USER: new_user, S.ITEM: new_item, S.HIST: []}]
    serialized = S.serialize_examples(rows)
    examples = [tf.train.Example.FromString(b) for b in serialized]

    def spec(signature: str) -> model_pb2.ModelSpec:
        return model_pb2.ModelSpec(name=model_name, signature_name=signature)

    def predict(signature: str, inputs: dict) -> prediction_log_pb2.PredictionLog:
        request = predict_pb2.PredictRequest(model_spec=spec(signature))
        for key, value in inputs.items():
            request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
        return prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))

    text = lambda values: np.array([S.id_bytes(v) for v in values], object)  # noqa: E731
    tensors = {
        S.USER: text([user, new_user]),
        S.ITEM: text([item, new_item]),
        S.HIST: np.array([[S.id_bytes(item)] * S.MAX_HIST] * 2, object),
        S.HIST_LEN: np.array([2, 0], np.int64),
    }
    rank = {
        S.USER: text([user]),
        S.HIST: np.array([[S.id_bytes(item)] * S.MAX_HIST], object),
        S.HIST_LEN: np.array([1], np.int64),
        S.CANDIDATES: np.array([[S.id_bytes(item), S.id_bytes(new_item)]], object),
        S.K: np.array([2], np.int64),
    }
    input_proto = input_pb2.Input(example_list=input_pb2.ExampleList(examples=examples))
    return [
        predict(S.DEFAULT_SIGNATURE, {S.EXAMPLES: np.array(serialized[:1], object)}),
        predict(S.DEFAULT_SIGNATURE, {S.EXAMPLES: np.array(serialized, object)}),
        predict(S.IDS_SIGNATURE, tensors),
        predict(S.RANK_SIGNATURE, rank),
        prediction_log_pb2.PredictionLog(
            classify_log=prediction_log_pb2.ClassifyLog(
                request=classification_pb2.ClassificationRequest(
                    model_spec=spec(S.CLASSIFY_SIGNATURE), input=input_proto
                )
            )
        ),
        prediction_log_pb2.PredictionLog(
            regress_log=prediction_log_pb2.RegressLog(
                request=regression_pb2.RegressionRequest(model_spec=spec(S.REGRESS_SIGNATURE), input=input_proto)
            )
        ),
    ]


def warmup_path(version_dir: str) -> str:
    return os.path.join(version_dir, "assets.extra", S.WARMUP_FILE)


def write_warmup(version_dir: str, logs: list[prediction_log_pb2.PredictionLog]) -> str:
    """Write ``logs`` as a TFRecord file of serialized ``PredictionLog``s; returns its path."""
    path = warmup_path(version_dir)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for log in logs:
            writer.write(log.SerializeToString())
    return path


def read_warmup(version_dir: str) -> list[prediction_log_pb2.PredictionLog]:
    """The warm-up records of a version ([] when it has none)."""
    path = warmup_path(version_dir)
    if not tf.io.gfile.exists(path):
        return []
    return [prediction_log_pb2.PredictionLog.FromString(r.numpy()) for r in tf.data.TFRecordDataset(path)]
