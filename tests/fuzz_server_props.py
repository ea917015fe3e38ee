"""Fuzzing ``asmg serve`` (shared by ``tests/test_fuzz_server.py`` and ``tools/fuzz.py``): random REST requests
(methods, paths, headers, JSON and raw bodies, sizes) and random gRPC Predict / Classify / Regress requests (any
dtype, shape, huge dims, NaN/Inf, unknown aliases and signatures, odd model names and versions) against a real
server on loopback. Each request must get a TF Serving status with a message, and never INTERNAL / HTTP 500 (the
server's answer to an exception it did not expect); afterwards the server still serves and its memory is bounded.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import socket
import tempfile
import urllib.parse

import grpc
import numpy as np
from hypothesis import strategies as st
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow_serving.apis import classification_pb2, predict_pb2, prediction_service_pb2_grpc, regression_pb2

#: TF Serving's answers to a bad request (anything else, INTERNAL above all, is a finding)
GRPC_OK_CODES = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION,
                 grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.OUT_OF_RANGE,
                 grpc.StatusCode.DEADLINE_EXCEEDED}  # fmt: skip
HTTP_OK_CODES = {200, 400, 404, 405, 409, 413, 429, 501, 503, 504}
MAX_RSS_GROWTH_MB = 300


class Served:
    def __init__(self, server, base: str, model=None, table=None):
        self.server, self.base = server, base
        self.model, self.table = model, table  # the exported Keras model and its item -> categories table
        self.channel = grpc.insecure_channel(server.target, options=[("grpc.max_receive_message_length", 64 << 20)])
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.rss0 = rss_mb()


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


@contextlib.contextmanager
def running_server():
    """A ``LocalServer`` (gRPC + REST on loopback, batch limit 64) over one exported tiny model with categories,
    serving the raw ids of ``tests.serving_util.VOCAB`` (integer user ids, string item ids)."""
    from serving.export import export_model
    from serving.model_config import ModelEntry
    from serving.server import LocalServer
    from tests.serving_util import VOCAB, tiny_model

    base = tempfile.mkdtemp(prefix="asmg-fuzz-serve-")
    model, table = tiny_model(categories=True)
    export_model(model, base, "asmg", version=1, item_categories=table, vocabulary=VOCAB)
    server = LocalServer(
        [ModelEntry("asmg", os.path.join(base, "asmg"))], poll_seconds=0, max_batch_size=64, log=lambda m: None
    )
    served = Served(server, base, model, table)
    try:
        yield served
    finally:
        served.channel.close()
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


# -- ids ----------------------------------------------------------------------------------------------------------
#: ids worth sending: the served vocabulary's (users are integers, items strings), unknown ones, other spellings of
#: integers ("0042", "-0", past int64), non-integers where the users are integers, empty ones, odd bytes
_ODD_IDS = ["", "0", "-0", "0042", "+7", " 7", "7 ", "3.0", "1e3", "-1", "9223372036854775807", "9223372036854775808",
            "-9223372036854775809", "99999999999999999999", "\u0663", "85123a", "NEW", "\x00", "a\nb", "\u2603"]  # fmt: skip


def _vocab_ids() -> list[str]:
    from tests.serving_util import VOCAB

    return [*VOCAB.users, *VOCAB.items]


id_texts = st.sampled_from(_vocab_ids() + _ODD_IDS) | st.text(max_size=8)
id_bytes = id_texts.map(lambda t: t.encode("utf-8")) | st.binary(max_size=12)


# -- REST ---------------------------------------------------------------------------------------------------------
_segments = st.sampled_from(["v1", "models", "asmg", "versions", "labels", "1", "2", "0", "-1", "99999999999999999999",
                             "stable", "..", ".", "%2e%2e", "%2F", "metadata", "asmg:predict", "1:predict",
                             "asmg:classify", "", "etc", "passwd", "\u2603"]) | st.text(max_size=6)  # fmt: skip
rest_paths = st.one_of(
    st.lists(_segments, max_size=7).map(lambda parts: "/" + "/".join(parts)),
    st.sampled_from(["/v1/models/asmg:predict", "/v1/models/asmg/versions/1:predict", "/v1/models/asmg/metadata",
                     "/v1/models/asmg", "/v1/models/../../etc/passwd", "/v1/models/asmg/labels/stable:predict"]),
)  # fmt: skip
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=10) | id_texts,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=30,
)
_inputs_keys = st.sampled_from(["user", "item", "hist", "hist_len", "examples", "candidates", "k", "item_cats",
                                "hist_cats", "inputs", "b64"]) | st.text(max_size=5)  # fmt: skip
predict_bodies = st.fixed_dictionaries(
    {},
    optional={
        "signature_name": st.sampled_from(
            ["", "serving_default", "predict_ids", "predict_raw", "rank", "classify", "regress", "x"]
        )
        | json_values,
        "instances": st.lists(st.dictionaries(_inputs_keys, json_values, max_size=4) | json_values, max_size=4)
        | json_values,
        "inputs": st.dictionaries(_inputs_keys, json_values, max_size=4) | json_values,
    },
)
rest_requests = st.fixed_dictionaries(
    {
        "method": st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]),
        "path": rest_paths,
        "body": st.one_of(predict_bodies.map(lambda b: json.dumps(b).encode()), json_values.map(lambda b: json.dumps(b).encode()),
                          st.binary(max_size=200), st.just(b"{" * 5000), st.just(b"[" * 100_000)),
        "headers": st.dictionaries(st.sampled_from(["Content-Type", "Accept", "X-Any", "Transfer-Encoding"]),
                                   st.text(alphabet="abcdefghijklmnopqrstuvwxyz/-=;0123456789", max_size=20), max_size=3),
    }
)  # fmt: skip


def check_rest(served: Served, request: dict) -> None:
    """One REST request on a fresh connection: a JSON answer with a TF Serving status, ``error`` unless 200."""
    conn = http.client.HTTPConnection("127.0.0.1", served.server.rest_port, timeout=60)
    try:
        path = urllib.parse.quote(request["path"], safe="/:%?=&") or "/"  # what a client library sends
        headers = {k: v for k, v in request["headers"].items() if k != "Transfer-Encoding"}
        conn.request(request["method"], path, body=request["body"], headers=headers)
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    assert response.status in HTTP_OK_CODES, f"HTTP {response.status}: {data[:300]!r}"
    if request["method"] == "HEAD":
        assert data == b"", "a HEAD answer with a body"
        return
    payload = json.loads(data)
    if response.status != 200:
        assert isinstance(payload.get("error"), str) and payload["error"], payload


# -- gRPC ---------------------------------------------------------------------------------------------------------
_DTYPES = [types_pb2.DT_INT64, types_pb2.DT_INT32, types_pb2.DT_FLOAT, types_pb2.DT_DOUBLE, types_pb2.DT_STRING,
           types_pb2.DT_BOOL, types_pb2.DT_HALF, types_pb2.DT_UINT8, types_pb2.DT_COMPLEX64, types_pb2.DT_INVALID,
           types_pb2.DT_RESOURCE, types_pb2.DT_VARIANT, 999]  # fmt: skip
_dims = st.integers(-2, 4) | st.sampled_from([0, 64, 65, 2**31, 2**40, 2**62])


@st.composite
def tensor_protos(draw) -> tensor_pb2.TensorProto:
    dtype = draw(st.sampled_from(_DTYPES))
    dims = draw(st.lists(_dims, max_size=4))
    proto = tensor_pb2.TensorProto(dtype=dtype)
    try:
        proto.tensor_shape.CopyFrom(tensor_shape_pb2.TensorShapeProto(dim=[{"size": d} for d in dims]))
    except ValueError:
        pass
    if draw(st.booleans()):
        proto.tensor_shape.unknown_rank = True
    way = draw(st.sampled_from(["int64_val", "int_val", "float_val", "string_val", "content", "none"]))
    if way == "int64_val":
        proto.int64_val.extend(draw(st.lists(st.integers(-(2**63), 2**63 - 1), max_size=10)))
    elif way == "int_val":
        proto.int_val.extend(draw(st.lists(st.integers(-(2**31), 2**31 - 1), max_size=10)))
    elif way == "float_val":
        proto.float_val.extend(
            draw(st.lists(st.floats(width=32) | st.sampled_from([np.nan, np.inf, -np.inf]), max_size=10))
        )
    elif way == "string_val":
        proto.string_val.extend(draw(st.lists(id_bytes, max_size=5)))
    elif way == "content":
        proto.tensor_content = draw(st.binary(max_size=64))
    return proto


_specs = st.fixed_dictionaries({
    "name": st.sampled_from(["asmg", "", "../asmg", "asmg/../..", "nope", "/etc"]) | st.text(max_size=6),
    "version": st.none() | st.integers(-(2**63), 2**63 - 1) | st.sampled_from([1, 2]),
    "label": st.none() | st.sampled_from(["stable", "canary", ""]),
    "signature": st.sampled_from(["", "serving_default", "predict_ids", "predict_raw", "rank", "classify", "regress",
                                  "zz"]),
})  # fmt: skip
_aliases = st.sampled_from(["user", "item", "hist", "hist_len", "examples", "candidates", "k", "item_cats",
                            "hist_cats", "inputs"]) | st.text(max_size=5)  # fmt: skip
grpc_predicts = st.tuples(
    _specs, st.dictionaries(_aliases, tensor_protos(), max_size=5), st.lists(_aliases, max_size=2)
)


def _spec_into(spec, drawn: dict) -> None:
    spec.name = drawn["name"]
    spec.signature_name = drawn["signature"]
    if drawn["version"] is not None:
        spec.version.value = drawn["version"]
    elif drawn["label"] is not None:
        spec.version_label = drawn["label"]


def _expect_status(call) -> None:
    try:
        call()
    except grpc.RpcError as e:
        assert e.code() in GRPC_OK_CODES, f"{e.code()}: {e.details()}"
        assert e.details(), f"{e.code()} without a message"


def check_predict(served: Served, drawn) -> None:
    spec, inputs, output_filter = drawn
    request = predict_pb2.PredictRequest(output_filter=output_filter)
    _spec_into(request.model_spec, spec)
    for alias, proto in inputs.items():
        request.inputs[alias].CopyFrom(proto)
    _expect_status(lambda: served.stub.Predict(request, timeout=60))


_features = st.dictionaries(
    st.sampled_from(["user", "item", "hist", "x"]) | st.text(max_size=4),
    st.one_of(
        st.lists(st.integers(-(2**63), 2**63 - 1), max_size=40).map(lambda v: ("int64", v)),
        st.lists(st.floats(width=32), max_size=5).map(lambda v: ("float", v)),
        st.lists(id_bytes, max_size=35).map(lambda v: ("bytes", v)),
    ),
    max_size=4,
)
grpc_examples = st.tuples(_specs, st.lists(_features, max_size=70), st.booleans())


def _input_into(input_proto, examples: list[dict], with_context: bool) -> None:
    target = input_proto.example_list_with_context if with_context else input_proto.example_list
    for feats in examples:
        ex = target.examples.add()
        for key, (kind, values) in feats.items():
            getattr(ex.features.feature[key], f"{kind}_list").value.extend(values)


def _check_examples(request_type, rpc: str):
    """A check sending drawn tf.Examples through ``rpc`` (Classify or Regress)."""

    def check(served: Served, drawn) -> None:
        spec, examples, with_context = drawn
        request = request_type()
        _spec_into(request.model_spec, spec)
        _input_into(request.input, examples, with_context)
        _expect_status(lambda: getattr(served.stub, rpc)(request, timeout=60))

    return check


check_classify = _check_examples(classification_pb2.ClassificationRequest, "Classify")
check_regress = _check_examples(regression_pb2.RegressionRequest, "Regress")


def check_healthy(served: Served) -> None:
    """The model still answers valid requests as the Keras model does, and the process grew by less than
    ``MAX_RSS_GROWTH_MB``."""
    from serving.client import ServingClient
    from tests.serving_util import keras_probs, raw_rows

    row_ids = [(1, 2, [3]), (0, 10, [])]  # (user row, item row, history rows), sent as their raw ids
    rows = raw_rows(row_ids)
    with ServingClient(served.server.target, "asmg", timeout_s=30) as client:
        assert client.status()[0]["state"] == "AVAILABLE"
        probs = client.predict_examples(rows)
        by_ids = client.predict_ids([r["user"] for r in rows], [r["item"] for r in rows], [r["hist"] for r in rows])
    want = keras_probs(served.model, served.table, *(list(column) for column in zip(*row_ids)))
    np.testing.assert_allclose(probs, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(by_ids, want, rtol=1e-5, atol=1e-6)
    growth = rss_mb() - served.rss0
    assert growth < MAX_RSS_GROWTH_MB, f"resident memory grew by {growth:.0f} MB"
    with socket.create_connection(("127.0.0.1", served.server.rest_port), timeout=10):
        pass


TARGETS = [
    ("REST", rest_requests, check_rest),
    ("gRPC Predict", grpc_predicts, check_predict),
    ("gRPC Classify", grpc_examples, check_classify),
    ("gRPC Regress", grpc_examples, check_regress),
]
