"""The local server through the real tensorflow_serving.apis stubs, the client, REST and the CLI (127.0.0.1 only)."""

from __future__ import annotations

import base64
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.client import HTTPConnection

import grpc
import numpy as np
import pytest
import tensorflow as tf
from serving_util import (
    NUM_ITEMS,
    NUM_USERS,
    VOCAB,
    keras_probs,
    oov_reference,
    perturbed,
    raw_items,
    raw_rows,
    raw_users,
    tiny_model,
)
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_pb2,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from asmg_cli.main import main as cli_main
from asmg_tf.models.weights import get_weights, save_weights_npz
from serving import schema as S
from serving.client import ServingClient
from serving.errors import BadInputError, InvalidRequestError, ModelNotFoundError, ServerUnavailableError, ServingError
from serving.export import export_model
from serving.model_config import ModelEntry, canary_entry, read_model_config, write_model_config
from serving.server import LocalServer
from serving.server.manager import ModelManager

REPO = pathlib.Path(__file__).resolve().parents[1]
#: the server's answer to a user id that is not an integer where the model's user ids are (the message names it)
NOT_AN_INTEGER_USER = re.compile(r"user: .*integer.*, got")
MAX_BATCH = 64
#: (user row, item row, history rows); requests send their raw ids (``VOCAB``: user row 0 is raw "10", row 2 raw "0")
ROW_IDS = [(0, 3, [1, 2]), (1, 4, [3]), (6, 10, [])]
ROWS = raw_rows(ROW_IDS)


def quiet(_: str) -> None:
    pass


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Version 1 of a tiny category model behind a LocalServer on ephemeral loopback ports."""
    model, table = tiny_model()
    base = tmp_path_factory.mktemp("served")
    export_model(model, str(base), "asmg", version=1, item_categories=table, vocabulary=VOCAB)
    server = LocalServer(
        [ModelEntry("asmg", str(base / "asmg"))], poll_seconds=0.2, max_batch_size=MAX_BATCH, log=quiet
    )
    yield model, table, server
    server.stop()


@pytest.fixture()
def client(served):
    with ServingClient(served[2].target, "asmg", timeout_s=10) as c:
        yield c


def expected(model, table, row_ids=ROW_IDS):
    """The Keras model's probabilities for ``(user row, item row, history rows)`` triples."""
    return keras_probs(model, table, [u for u, _, _ in row_ids], [i for _, i, _ in row_ids], [h for _, _, h in row_ids])


# -- each RPC ------------------------------------------------------------------------------------------------------------
def test_predict_examples_ids_and_rank(served, client):
    model, table, _ = served
    want = expected(model, table)
    np.testing.assert_allclose(client.predict_examples(ROWS), want, rtol=1e-5, atol=1e-6)
    got = client.predict_ids([r["user"] for r in ROWS], [r["item"] for r in ROWS], [r["hist"] for r in ROWS])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # padded histories with explicit lengths: entries past hist_len are padding, whatever they hold
    hist = [r["hist"] + [""] * (3 - len(r["hist"])) for r in ROWS]
    hist[2][2] = VOCAB.items[9]
    got = client.predict_ids([r["user"] for r in ROWS], [r["item"] for r in ROWS], hist, [2, 1, 0])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # rank: raw user "0" is row 2; the items come back as the candidates' raw ids, best first
    scores = keras_probs(model, table, [2] * NUM_ITEMS, np.arange(NUM_ITEMS), [[5]] * NUM_ITEMS)
    candidates = raw_items(range(NUM_ITEMS))
    top = client.rank("0", candidates, hist=[VOCAB.items[5]], k=3)
    assert [i for i, _ in top] == raw_items(np.argsort(-scores)[:3])
    np.testing.assert_allclose([s for _, s in top], np.sort(scores)[::-1][:3], rtol=1e-5)
    assert client.rank(0, candidates, hist=[VOCAB.items[5]], k=3) == top  # an integer id in an integer space
    assert len(client.rank("0", candidates, k=NUM_ITEMS + 5)) == NUM_ITEMS  # k' = min(k, N)


def test_raw_ids_map_to_their_rows_and_unknown_ids_to_the_oov_row(served, client):
    model, table, _ = served
    # user rows differ from the raw ids: raw "3" is row 1, raw "0" row 2; the user space is an integer space, so
    # ints and any decimal spelling of an id ("0003", "-0") mean the same id
    row = keras_probs(model, table, [1, 2, 5], [4, 4, 4], [[0], [0], [0]])
    for users in (["3", "0", "42"], [3, 0, 42], ["0003", "-0", "042"], [np.int64(3), np.int32(0), 42]):
        got = client.predict_ids(users, [VOCAB.items[4]] * 3, [[VOCAB.items[0]]] * 3)
        np.testing.assert_allclose(got, row, rtol=1e-5, atol=1e-6, err_msg=str(users))
    # ids the vocabulary does not hold (a new user, new items, an item id that is a user id, a row index) score
    # like the appended mean row n, never like a real id's row
    oov_model, oov_table = oov_reference(model, table)
    # (an integer past int64 is an integer no model knows: unknown, not an error)
    users = ["999", "3", "-5", "3", "9223372036854775808"]
    items = ["NEW1", VOCAB.items[2], "85123a", "4", VOCAB.items[2]]  # exact text: "85123a" is not "85123A"
    hist = [["NEW2", VOCAB.items[1]], ["NEW3"], [], ["10"], []]
    want = keras_probs(oov_model, oov_table, [NUM_USERS, 1, NUM_USERS, 1, NUM_USERS],
                       [NUM_ITEMS, 2, NUM_ITEMS, NUM_ITEMS, 2], [[NUM_ITEMS, 1], [NUM_ITEMS], [], [NUM_ITEMS], []])  # fmt: skip
    np.testing.assert_allclose(client.predict_ids(users, items, hist), want, rtol=1e-5, atol=1e-6)
    rows = [{"user": u, "item": i, "hist": h} for u, i, h in zip(users, items, hist)]
    np.testing.assert_allclose(client.predict_examples(rows), want, rtol=1e-5, atol=1e-6)
    # an unknown user borrows no known user's row
    known = keras_probs(model, table, range(NUM_USERS), [2] * NUM_USERS, [[]] * NUM_USERS)
    unknown = client.predict_ids(["999"], [VOCAB.items[2]], [[]])
    assert np.abs(known - unknown).min() > 1e-4, (known, unknown)


def test_classify_and_regress(served, client):
    want = expected(served[0], served[1])
    classes = client.classify(ROWS)
    np.testing.assert_allclose([c["1"] for c in classes], want, rtol=1e-5)
    np.testing.assert_allclose([c["0"] for c in classes], 1 - want, rtol=1e-5)
    np.testing.assert_allclose(client.regress(ROWS), want, rtol=1e-5)


def test_metadata_and_status(client):
    signatures = client.metadata()
    assert set(signatures) == set(S.SIGNATURES)
    assert list(signatures[S.DEFAULT_SIGNATURE].inputs) == [S.EXAMPLES]
    # ids travel as strings; no signature takes row indices or item categories
    dtypes = {k: v.dtype for k, v in signatures[S.IDS_SIGNATURE].inputs.items()}
    assert dtypes == {"user": tf.string, "item": tf.string, "hist": tf.string, "hist_len": tf.int64}
    dtypes = {k: v.dtype for k, v in signatures[S.RANK_SIGNATURE].inputs.items()}
    assert dtypes == {
        "user": tf.string,
        "hist": tf.string,
        "hist_len": tf.int64,
        "candidates": tf.string,
        "k": tf.int64,
    }
    assert signatures[S.RANK_SIGNATURE].outputs[S.ITEM_IDS].dtype == tf.string
    assert signatures[S.CLASSIFY_SIGNATURE].method_name == "tensorflow/serving/classify"
    assert client.status() == [{"version": 1, "state": "AVAILABLE", "error_code": 0, "error_message": ""}]
    assert client.status(version=1)[0]["state"] == "AVAILABLE"


def test_batching_splits_large_inputs(served):
    model, table, server = served
    rng = np.random.RandomState(0)
    row_ids = [
        (int(rng.randint(NUM_USERS)), int(rng.randint(NUM_ITEMS)), rng.randint(NUM_ITEMS, size=rng.randint(5)).tolist())
        for _ in range(300)
    ]
    calls = []

    class Count(grpc.UnaryUnaryClientInterceptor):
        def intercept_unary_unary(self, continuation, details, request):
            calls.append(details.method)
            return continuation(details, request)

    channel = grpc.intercept_channel(grpc.insecure_channel(server.target), Count())
    with ServingClient(server.target, "asmg", max_batch_size=MAX_BATCH, channel=channel) as c:
        got = c.predict_examples(raw_rows(row_ids))
    channel.close()
    assert len(calls) == 5  # ceil(300 / 64) requests, none over the server's limit
    np.testing.assert_allclose(got, expected(model, table, row_ids), rtol=1e-5, atol=1e-6)


def test_every_call_has_a_deadline(served):
    timeouts = []

    class Record(grpc.UnaryUnaryClientInterceptor):
        def intercept_unary_unary(self, continuation, details, request):
            timeouts.append((details.method, details.timeout))
            return continuation(details, request)

    channel = grpc.intercept_channel(grpc.insecure_channel(served[2].target), Record())
    with ServingClient(served[2].target, "asmg", timeout_s=7, max_batch_size=2, channel=channel) as c:
        c.predict_examples(ROWS)
        c.predict_ids(raw_users([0]), raw_items([1]), [raw_items([2])])
        c.rank(VOCAB.users[0], raw_items([1, 2]), k=1)
        c.classify(ROWS[:1])
        c.regress(ROWS[:1])
        c.metadata()
        c.status()
    channel.close()
    methods = {m.rsplit("/", 1)[1] for m, _ in timeouts}
    assert methods == {"Predict", "Classify", "Regress", "GetModelMetadata", "GetModelStatus"}
    assert all(t is not None and 0 < t <= 7 for _, t in timeouts), timeouts


def test_unavailable_server_is_a_clear_error():
    import socket

    with socket.socket() as s:  # a loopback port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    with ServingClient(f"127.0.0.1:{port}", "asmg", timeout_s=3) as c:
        with pytest.raises(ServerUnavailableError, match="unavailable.*Is it running"):
            c.predict_examples(ROWS)
    assert time.monotonic() - start < 3


def test_client_rejects_bad_inputs_before_sending(served):
    calls = []

    class Count(grpc.UnaryUnaryClientInterceptor):
        def intercept_unary_unary(self, continuation, details, request):
            calls.append(details.method)
            return continuation(details, request)

    channel = grpc.intercept_channel(grpc.insecure_channel(served[2].target), Count())
    client = ServingClient(served[2].target, "asmg", timeout_s=10, channel=channel)
    user, item, hist = VOCAB.users[0], VOCAB.items[0], [VOCAB.items[1]]
    # ids are strings, bytes or integers: a float, bool or None is never an id (7.0 would travel as "7.0")
    for bad in (0.5, 3.0, np.float32(3), True, np.bool_(False), None, [3], {"id": 3}):
        with pytest.raises(BadInputError, match=r"user\[0\]: an id must be a string or an integer"):
            client.predict_ids([bad], [item], [hist])
        with pytest.raises(BadInputError, match=r"item\[0\]: an id must be"):
            client.predict_ids([user], [bad], [hist])
        with pytest.raises(BadInputError, match=r"hist\[0\]\[1\]: an id must be"):
            client.predict_ids([user], [item], [[*hist, bad]])
        with pytest.raises(BadInputError, match=r"candidates\[1\]: an id must be"):
            client.rank(user, [item, bad])
        with pytest.raises(BadInputError, match=r"user\[0\]: an id must be"):
            client.rank(bad, [item])
        with pytest.raises(BadInputError, match="row 1: .*an id must be"):
            client.predict_examples([ROWS[0], {"user": user, "item": bad}])
    with pytest.raises(BadInputError, match="an id must be"):
        client.predict_ids(np.array([1.0]), [item], [hist])
    # empty ids (history padding is "" only past hist_len, where the client does not look)
    for empty in ("", b""):
        with pytest.raises(BadInputError, match=r"user\[0\]: empty id"):
            client.predict_ids([empty], [item], [hist])
        with pytest.raises(BadInputError, match=r"item\[0\]: empty id"):
            client.predict_ids([user], [empty], [hist])
        with pytest.raises(BadInputError, match=r"hist\[0\]\[0\]: empty id"):
            client.predict_ids([user], [item], [[empty]])
        with pytest.raises(BadInputError, match=r"candidates\[0\]: empty id"):
            client.rank(user, [empty, item])
        with pytest.raises(BadInputError, match=r"hist\[0\]\[1\]: empty id"):
            client.rank(user, [item], hist=[*hist, empty])
        for row in (
            {"user": empty, "item": item},
            {"user": user, "item": empty},
            {"user": user, "item": item, "hist": [empty]},
        ):
            with pytest.raises(BadInputError, match="row 0: .*empty id"):
                client.predict_examples([row])
    # a string is one id, not a list of them
    with pytest.raises(BadInputError, match="user must be a list of ids, got str"):
        client.predict_ids(user, [item], [hist])
    with pytest.raises(BadInputError, match="hist must be a list of ids"):
        client.predict_examples([{"user": user, "item": item, "hist": VOCAB.items[1]}])
    with pytest.raises(BadInputError, match="candidates must be a list of ids"):
        client.rank(user, "85123A")
    with pytest.raises(BadInputError, match="same number of rows"):
        client.predict_ids([user, user], [item], [hist])
    with pytest.raises(BadInputError, match="rows must have one length"):
        client.predict_ids([user, user], [item, item], [hist, []], [1, 0])
    with pytest.raises(BadInputError, match="hist_len must be a list of integers"):
        client.predict_ids([user], [item], [hist], [1.0])
    with pytest.raises(BadInputError, match="candidates is empty"):
        client.rank(user, [])
    with pytest.raises(BadInputError, match="k must be"):
        client.rank(user, [item], k=0)
    with pytest.raises(BadInputError, match="row 1"):
        client.predict_examples([ROWS[0], {"item": item}])
    with pytest.raises(BadInputError, match="no rows"):
        client.predict_examples([])
    assert calls == []  # nothing was sent
    # the same ids, well formed, are sent (and the interceptor sees them)
    client.predict_ids([user, 3, b"0"], [item] * 3, [hist, [], [VOCAB.items[2].encode()]])
    client.rank(user, [item])
    assert len(calls) == 2
    client.close()
    channel.close()
    with pytest.raises(ValueError, match="version or a label"):
        ServingClient("127.0.0.1:1", version=1, label="stable")


# -- malformed requests ----------------------------------------------------------------------------------------------------
def _example(features: dict) -> bytes:
    """A serialized tf.Example of ``{"user": [values], ...}`` (bytes, int or float lists, as the values are)."""
    example = tf.train.Example()
    for key, values in features.items():
        kind = "bytes" if isinstance(values[0], bytes) else "int64" if isinstance(values[0], int) else "float"
        getattr(example.features.feature[key], f"{kind}_list").value.extend(values)
    return example.SerializeToString()


def test_malformed_requests_get_the_right_status(served):
    target = served[2].target
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(target))
    examples = np.array(S.serialize_examples(ROWS), dtype=object)

    def request(inputs, name="asmg", signature="", version=None, label=None):
        r = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name=name, signature_name=signature))
        if version is not None:
            r.model_spec.version.value = version
        if label:
            r.model_spec.version_label = label
        for k, v in inputs.items():
            r.inputs[k].CopyFrom(tf.make_tensor_proto(v))
        return r

    def ids(*values):
        return np.array([v.encode() for v in values], object)

    user, item = VOCAB.users[1], VOCAB.items[3]
    raw = {"user": ids(user), "item": ids(item), "hist": ids(VOCAB.items[1])[None, :], "hist_len": np.array([1])}
    rank = {
        "user": ids(user),
        "hist": ids("")[None, :],
        "hist_len": np.array([0]),
        "candidates": ids(item, VOCAB.items[4])[None, :],
        "k": np.array([1]),
    }

    def example(**features):
        """A batch of a valid example and one with ``features`` replacing the valid ones."""
        bad = _example({"user": [user.encode()], "item": [item.encode()], **features})
        return np.array([S.make_example(user, item).SerializeToString(), bad], object)

    def bad_ids(what, signature=S.IDS_SIGNATURE, **inputs):
        """A well-formed request but for the inputs given: INVALID_ARGUMENT whose message says ``what``."""
        base = rank if signature == S.RANK_SIGNATURE else raw
        return (what, request({**base, **inputs}, signature=signature), grpc.StatusCode.INVALID_ARGUMENT, what)

    cases = [
        (
            "wrong input key",
            request({"inputs": examples}),
            grpc.StatusCode.INVALID_ARGUMENT,
            "input tensor alias not found",
        ),
        (
            "extra input",
            request({"examples": examples, "x": examples}),
            grpc.StatusCode.INVALID_ARGUMENT,
            "Sent extra: {x}",
        ),
        (
            "row indices as ids (the old contract)",
            request({**raw, "user": np.array([1], np.int64)}, signature=S.IDS_SIGNATURE),
            grpc.StatusCode.INVALID_ARGUMENT,
            "to be string but int64 is provided (input 'user')",
        ),
        (
            "item categories sent (the old contract)",
            request(
                {**raw, "item_cats": np.array([[0]], np.int64), "hist_cats": np.array([[[0]]], np.int64)},
                signature=S.IDS_SIGNATURE,
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "Sent extra: {hist_cats,item_cats}",
        ),
        (
            "the old signature name",
            request(raw, signature="predict_raw"),
            grpc.StatusCode.FAILED_PRECONDITION,
            'Serving signature key "predict_raw" not found',
        ),
        (
            "wrong dtype",
            request({**raw, "hist_len": np.array([1], np.int32)}, signature=S.IDS_SIGNATURE),
            grpc.StatusCode.INVALID_ARGUMENT,
            "to be int64 but int32 is provided",
        ),
        (
            "wrong dtype (floats as examples)",
            request({"examples": np.array([1.0], np.float32)}),
            grpc.StatusCode.INVALID_ARGUMENT,
            "to be string but float",
        ),
        (
            "wrong shape",
            request({**raw, "hist": ids(VOCAB.items[1])}, signature=S.IDS_SIGNATURE),
            grpc.StatusCode.INVALID_ARGUMENT,
            "input 'hist' has shape [1]",
        ),
        (
            "mismatched rows",
            request({**raw, "item": ids(item, item)}, signature=S.IDS_SIGNATURE),
            grpc.StatusCode.INVALID_ARGUMENT,
            "",
        ),
        # the ids themselves: each bad one is INVALID_ARGUMENT naming the feature
        bad_ids("user: empty id", user=ids("")),
        bad_ids("item: empty id", item=ids("")),
        bad_ids("hist: empty id", hist=ids("", VOCAB.items[1])[None, :]),
        bad_ids(NOT_AN_INTEGER_USER, user=ids("17850x")),
        bad_ids(NOT_AN_INTEGER_USER, user=ids(" 3")),
        bad_ids(NOT_AN_INTEGER_USER, user=ids("3.0")),
        bad_ids(NOT_AN_INTEGER_USER, user=ids("+3")),
        bad_ids(NOT_AN_INTEGER_USER, signature=S.RANK_SIGNATURE, user=ids("abc")),
        bad_ids(f"hist: at most {S.MAX_HIST} ids", hist=ids(*[item] * 31)[None, :], hist_len=np.array([31])),
        bad_ids("hist_len: longer than the hist row", hist_len=np.array([2])),
        bad_ids("hist_len: negative", hist_len=np.array([-1])),
        bad_ids("k: negative", signature=S.RANK_SIGNATURE, k=np.array([-1])),
        bad_ids(
            re.compile(r"(candidates|item): empty id"), signature=S.RANK_SIGNATURE, candidates=ids(item, "")[None, :]
        ),
        (
            "example: empty user",
            request({"examples": example(user=[b""])}),
            grpc.StatusCode.INVALID_ARGUMENT,
            "user: empty id",
        ),
        (
            "example: non-integer user",
            request({"examples": example(user=[b"u17850"])}),
            grpc.StatusCode.INVALID_ARGUMENT,
            NOT_AN_INTEGER_USER,
        ),
        (
            "example: empty history id",
            request({"examples": example(hist=[item.encode(), b""])}),
            grpc.StatusCode.INVALID_ARGUMENT,
            "hist: empty id",
        ),
        (
            "example: history too long",
            request({"examples": example(hist=[item.encode()] * 31)}),
            grpc.StatusCode.INVALID_ARGUMENT,
            f"hist: at most {S.MAX_HIST} ids",
        ),
        (
            "example: float ids",
            request({"examples": example(item=[1.0])}),
            grpc.StatusCode.INVALID_ARGUMENT,
            re.compile(r"Key: item, Index: 1\.  Data types don't match|item: .*float"),
        ),
        (
            "example: two users",
            request({"examples": example(user=[b"3", b"0"])}),
            grpc.StatusCode.INVALID_ARGUMENT,
            re.compile(r"Key: user, Index: 1\.  Number of|user: one id per example"),
        ),
        (
            "garbage example",
            request({"examples": np.array([b"\xff\x00garbage"], object)}),
            grpc.StatusCode.INVALID_ARGUMENT,
            "parse",
        ),
        (
            "missing feature",
            request({"examples": np.array([tf.train.Example().SerializeToString()], object)}),
            grpc.StatusCode.INVALID_ARGUMENT,
            re.compile(r"user.* is required"),
        ),
        (
            "unknown model",
            request({"examples": examples}, name="nope"),
            grpc.StatusCode.NOT_FOUND,
            "Servable not found for request: Latest(nope)",
        ),
        (
            "unknown version",
            request({"examples": examples}, version=42),
            grpc.StatusCode.NOT_FOUND,
            "Specific(asmg, 42)",
        ),
        (
            "unknown label",
            request({"examples": examples}, label="nope"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "Unrecognized servable version label: nope",
        ),
        (
            "unknown signature",
            request({"examples": examples}, signature="nope"),
            grpc.StatusCode.FAILED_PRECONDITION,
            'Serving signature key "nope" not found',
        ),
        (
            "oversized batch",
            request({"examples": np.array([examples[0]] * (MAX_BATCH + 1), object)}),
            grpc.StatusCode.INVALID_ARGUMENT,
            f"Task size {MAX_BATCH + 1} is larger than maximum input batch size {MAX_BATCH}",
        ),
        (
            "no model name",
            request({"examples": examples}, name=""),
            grpc.StatusCode.INVALID_ARGUMENT,
            "model_spec.name",
        ),
    ]
    for what, req, code, message in cases:
        with pytest.raises(grpc.RpcError) as info:
            stub.Predict(req, timeout=10)
        assert info.value.code() == code, (what, info.value.code(), info.value.details())
        details = info.value.details()
        assert message.search(details) if isinstance(message, re.Pattern) else message in details, (what, details)
    meta = get_model_metadata_pb2.GetModelMetadataRequest(model_spec=model_pb2.ModelSpec(name="asmg"))
    with pytest.raises(grpc.RpcError) as info:
        stub.GetModelMetadata(meta, timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "metadata_field" in info.value.details()
    # still healthy, and the requests the bad ones were made from are good
    ok = stub.Predict(request({"examples": examples}), timeout=10)
    assert ok.model_spec.version.value == 1 and len(tf.make_ndarray(ok.outputs[S.PROBABILITY])) == len(ROWS)
    ok = stub.Predict(request(raw, signature=S.IDS_SIGNATURE), timeout=10)
    np.testing.assert_allclose(
        tf.make_ndarray(ok.outputs[S.PROBABILITY]), expected(served[0], served[1], [(1, 3, [1])]), rtol=1e-5
    )
    ok = stub.Predict(request(rank, signature=S.RANK_SIGNATURE), timeout=10)
    assert tf.make_ndarray(ok.outputs[S.ITEM_IDS]).shape == (1, 1)
    with ServingClient(target, "asmg") as c:
        assert c.status()[0]["state"] == "AVAILABLE"
        with pytest.raises(ModelNotFoundError, match="Check the model name"):
            c.predict_examples(ROWS, version=42)
        with pytest.raises(InvalidRequestError, match="Unrecognized servable version label"):
            c.predict_examples(ROWS, label="nope")
    status = get_model_status_pb2.GetModelStatusRequest(model_spec=model_pb2.ModelSpec(name="nope"))
    from tensorflow_serving.apis import model_service_pb2_grpc

    with pytest.raises(grpc.RpcError) as info:
        model_service_pb2_grpc.ModelServiceStub(grpc.insecure_channel(target)).GetModelStatus(status, timeout=10)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_int64_item_ids_in_a_string_item_space_are_invalid_argument_naming_the_feature(client):
    for feature in (S.ITEM, S.HIST):  # this model's item ids are strings (stock codes): an integer is no item id
        bad = tf.train.Example()
        bad.features.feature[S.USER].bytes_list.value.append(ROWS[0]["user"].encode())
        bad.features.feature[S.ITEM].bytes_list.value.append(ROWS[0]["item"].encode())
        del bad.features.feature[feature].bytes_list.value[:]
        bad.features.feature[feature].int64_list.value.append(3)
        with pytest.raises(InvalidRequestError, match=rf"(?s)INVALID_ARGUMENT.*\[{feature}: "):
            client.predict_examples([ROWS[0], bad])


# -- versions: labels, hot swap, in-flight requests, half-written versions -----------------------------------------------------
def served_version(target: str, **spec) -> int:
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(target))
    request = predict_pb2.PredictRequest(
        model_spec=model_pb2.ModelSpec(name="asmg", **{k: v for k, v in spec.items() if k == "version_label"})
    )
    if "version" in spec:
        request.model_spec.version.value = spec["version"]
    request.inputs[S.EXAMPLES].CopyFrom(tf.make_tensor_proto(np.array(S.serialize_examples(ROWS[:1]), object)))
    return stub.Predict(request, timeout=10).model_spec.version.value


def test_labels_and_reload_config(tmp_path):
    model, table = tiny_model()
    export_model(model, str(tmp_path), "asmg", version=1, item_categories=table, vocabulary=VOCAB)
    export_model(perturbed(model, 5), str(tmp_path), "asmg", version=2, item_categories=table, vocabulary=VOCAB)
    base = str(tmp_path / "asmg")
    with LocalServer([ModelEntry("asmg", base)], poll_seconds=0, rest_port=None, log=quiet) as server:
        # a reload answers once the versions it names are loaded and warmed up (seconds on a busy machine)
        with ServingClient(server.target, "asmg", timeout_s=60) as c:
            assert [s["version"] for s in c.status() if s["state"] == "AVAILABLE"] == [2]  # latest only
            c.reload_config([ModelEntry("asmg", base, "specific", (1, 2), {"stable": 1, "canary": 2})])
            assert served_version(server.target, version_label="stable") == 1
            assert served_version(server.target, version_label="canary") == 2
            assert served_version(server.target) == 2
            assert served_version(server.target, version=1) == 1
            stable = ServingClient(server.target, "asmg", label="stable")
            np.testing.assert_allclose(stable.predict_examples(ROWS), expected(*tiny_model()), rtol=1e-5, atol=1e-6)
            assert stable.status()[0]["version"] == 1
            assert stable.wait_until_available(2, timeout_s=5) == 2  # waits on every version, not just its label's
            stable.close()
            with pytest.raises(ServingError, match="not currently available"):
                c.reload_config([ModelEntry("asmg", base, "specific", (1, 2, 3), {"stable": 1, "canary": 3})])
            assert served_version(server.target, version_label="canary") == 2  # labels unchanged by the failed reload


def test_config_file_is_reread_when_it_changes(tmp_path):
    model, table = tiny_model()
    export_model(model, str(tmp_path), "asmg", version=1, item_categories=table, vocabulary=VOCAB)
    export_model(perturbed(model, 6), str(tmp_path), "asmg", version=2, item_categories=table, vocabulary=VOCAB)
    config = str(tmp_path / "models.config")
    write_model_config(config, [ModelEntry("asmg", str(tmp_path / "asmg"))])
    with LocalServer(config_file=config, config_poll_seconds=0.1, poll_seconds=0, rest_port=None, log=quiet) as server:
        assert served_version(server.target) == 2
        write_model_config(config, [canary_entry("asmg", str(tmp_path / "asmg"), stable=1, canary=2)])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if served_version(server.target, version_label="stable") == 1:
                    break
            except grpc.RpcError:
                time.sleep(0.1)
        assert served_version(server.target, version_label="stable") == 1
        assert served_version(server.target, version_label="canary") == 2


def test_hot_swap_under_concurrent_load_fails_no_request(tmp_path):
    model, table = tiny_model()
    export_model(model, str(tmp_path), "asmg", version=1, item_categories=table, vocabulary=VOCAB)
    with LocalServer(
        [ModelEntry("asmg", str(tmp_path / "asmg"))], poll_seconds=0.05, rest_port=None, log=quiet
    ) as server:
        counts = {"ok": 0, "failed": 0}
        versions, errors, lock, stop = set(), [], threading.Lock(), threading.Event()
        stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(server.target))
        request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name="asmg"))
        request.inputs[S.EXAMPLES].CopyFrom(tf.make_tensor_proto(np.array(S.serialize_examples(ROWS), object)))

        def hammer():
            while not stop.is_set():
                try:
                    response = stub.Predict(request, timeout=10)
                    with lock:
                        counts["ok"] += 1
                        versions.add(response.model_spec.version.value)
                except grpc.RpcError as e:
                    with lock:
                        counts["failed"] += 1
                        errors.append(f"{e.code()}: {e.details()}")

        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        export_model(perturbed(model, 9), str(tmp_path), "asmg", version=2, item_categories=table, vocabulary=VOCAB)
        deadline = time.monotonic() + 30
        while 2 not in versions and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join()
        with ServingClient(server.target, "asmg") as c:
            states = {s["version"]: s["state"] for s in c.status()}
    print(f"hot swap: {counts['ok']} requests ok, {counts['failed']} failed, versions seen {sorted(versions)}")
    assert counts["failed"] == 0, errors[:5]
    assert counts["ok"] > 50 and versions == {1, 2}, (counts, versions)
    assert states == {1: "END", 2: "AVAILABLE"}


def test_in_flight_request_finishes_on_the_old_version(tmp_path):
    model, table = tiny_model()
    export_model(model, str(tmp_path), "asmg", version=1, item_categories=table, vocabulary=VOCAB)
    manager = ModelManager(ModelEntry("asmg", str(tmp_path / "asmg")), log=quiet)
    manager.poll()
    examples = np.array(S.serialize_examples(ROWS), object)
    with manager.acquire() as old:
        export_model(perturbed(model, 4), str(tmp_path), "asmg", version=2, item_categories=table, vocabulary=VOCAB)
        manager.poll()  # version 2 loads and takes over; version 1 is retired but held by this request
        assert manager.available_versions() == [2]
        assert {s.version: s.state for s in manager.statuses()}[
            1
        ] == get_model_status_pb2.ModelVersionStatus.State.UNLOADING
        _, out = old.run(S.DEFAULT_SIGNATURE, {S.EXAMPLES: examples})
        np.testing.assert_allclose(out[S.PROBABILITY], expected(*tiny_model()), rtol=1e-5, atol=1e-6)
        assert not old.closed
    assert old.closed
    assert {s.version: s.state for s in manager.statuses()}[1] == get_model_status_pb2.ModelVersionStatus.State.END
    manager.close()


def test_half_written_version_is_not_loaded(tmp_path):
    model, table = tiny_model()
    v1 = export_model(model, str(tmp_path), "asmg", version=1, item_categories=table, vocabulary=VOCAB)
    v2_src = export_model(
        perturbed(model, 2), str(tmp_path / "staging"), "asmg", version=2, item_categories=table, vocabulary=VOCAB
    )
    base = tmp_path / "asmg"
    with LocalServer([ModelEntry("asmg", str(base))], poll_seconds=0.05, rest_port=None, log=quiet) as server:
        # a non-atomic copy caught half-way: graph written, variables not yet
        os.makedirs(base / "2")
        shutil.copy(os.path.join(v2_src, "saved_model.pb"), base / "2")
        os.makedirs(base / "3")  # an empty numeric folder: nothing to load yet
        shutil.copytree(v1, base / ".tmp-4-abc")  # an exporter's staging folder
        time.sleep(0.5)
        with ServingClient(server.target, "asmg") as c:
            assert served_version(server.target) == 1
            states = {s["version"]: s for s in c.status()}
            assert set(states) == {1, 2}
            assert states[1]["state"] == "AVAILABLE"
            assert (
                states[2]["state"] == "END"
                and states[2]["error_code"] != 0
                and "version 2" in states[2]["error_message"]
            )
            # the copy completes: the directory changed, so it is tried again and takes over
            shutil.copytree(os.path.join(v2_src, "variables"), base / "2" / "variables")
            shutil.copytree(os.path.join(v2_src, "assets"), base / "2" / "assets")  # the id vocabularies
            shutil.copytree(os.path.join(v2_src, "assets.extra"), base / "2" / "assets.extra")
            c.wait_until_available(2, timeout_s=30)
            assert served_version(server.target) == 2


# -- REST ----------------------------------------------------------------------------------------------------------------------
def http(port: int, path: str, body: dict | None = None, raw: bytes | None = None) -> tuple[int, dict]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=data, method="POST" if data is not None else "GET"
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_rest_api(served):
    model, table, server = served
    port = server.rest_port
    want = expected(model, table)
    assert http(port, "/v1/models/asmg") == (
        200,
        {
            "model_version_status": [
                {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
            ]
        },
    )
    status, meta = http(port, "/v1/models/asmg/versions/1/metadata")
    assert status == 200 and set(meta["metadata"]["signature_def"]["signature_def"]) == set(S.SIGNATURES)
    instances = [{"b64": base64.b64encode(b).decode()} for b in S.serialize_examples(ROWS)]
    status, out = http(port, "/v1/models/asmg:predict", {"instances": instances})
    assert status == 200
    np.testing.assert_allclose([p[S.PROBABILITY] for p in out["predictions"]], want, rtol=1e-5)
    # columnar predict_ids: ids are JSON strings (or {"b64": ...}), history padded with ""
    hist = [r["hist"] + [""] * (2 - len(r["hist"])) for r in ROWS]
    inputs = {
        "user": [r["user"] for r in ROWS],
        "item": [r["item"] for r in ROWS[:2]] + [{"b64": base64.b64encode(ROWS[2]["item"].encode()).decode()}],
        "hist": hist,
        "hist_len": [len(r["hist"]) for r in ROWS],
    }
    status, out = http(port, "/v1/models/asmg:predict", {"signature_name": S.IDS_SIGNATURE, "inputs": inputs})
    assert status == 200, out
    np.testing.assert_allclose(out["outputs"][S.PROBABILITY], want, rtol=1e-5)
    # row indices as JSON numbers (the old contract) are not ids
    code, err = http(
        port,
        "/v1/models/asmg:predict",
        {"signature_name": S.IDS_SIGNATURE, "inputs": {**inputs, "user": [0, 1, 6]}},
    )
    assert code == 400 and "expected a string" in err["error"], err
    code, err = http(
        port,
        "/v1/models/asmg:predict",
        {"signature_name": S.IDS_SIGNATURE, "inputs": {**inputs, "user": ["abc", "0", "1"]}},
    )
    assert code == 400 and NOT_AN_INTEGER_USER.search(err["error"]), err
    assert http(port, "/v1/models/nope:predict", {"instances": instances})[0] == 404
    assert http(port, "/v1/models/asmg/versions/9")[0] == 404
    code, err = http(port, "/v1/models/asmg/labels/nope:predict", {"instances": instances})
    assert code == 400 and "Unrecognized servable version label" in err["error"]
    code, err = http(port, "/v1/models/asmg:predict", raw=b"{not json")
    assert code == 400 and "JSON" in err["error"]
    code, err = http(
        port, "/v1/models/asmg:predict", {"signature_name": S.IDS_SIGNATURE, "inputs": {"hist_len": [[1, 2], [3]]}}
    )
    assert code == 400 and "rectangular" in err["error"]
    assert http(port, "/v1/models/asmg")[0] == 200  # still healthy


@pytest.mark.parametrize("form", ["instances", "inputs"])
def test_rest_rank_answers_the_candidates_raw_ids(served, form):
    model, table, server = served
    scores = keras_probs(model, table, [2] * NUM_ITEMS, np.arange(NUM_ITEMS), [[5]] * NUM_ITEMS)
    row = {"user": "0", "hist": [VOCAB.items[5]], "hist_len": 1, "candidates": raw_items(range(NUM_ITEMS)), "k": 2}
    body = {"instances": [row]} if form == "instances" else {"inputs": {k: [v] for k, v in row.items()}}
    status, out = http(
        server.rest_port, "/v1/models/asmg/versions/1:predict", {"signature_name": S.RANK_SIGNATURE, **body}
    )
    assert status == 200, out
    top = out["predictions"][0] if form == "instances" else {k: v[0] for k, v in out["outputs"].items()}
    assert top[S.ITEM_IDS] == raw_items(np.argsort(-scores)[:2])
    np.testing.assert_allclose(top[S.SCORES], np.sort(scores)[::-1][:2], rtol=1e-5)


def test_rest_ragged_string_inputs_are_invalid_argument(served):
    port = served[2].rest_port
    inputs = {
        "user": [["3", "0"], ["0"]],
        "item": ["22752", "22752"],
        "hist": [["71053"], ["71053"]],
        "hist_len": [1, 1],
    }
    code, err = http(port, "/v1/models/asmg:predict", {"signature_name": S.IDS_SIGNATURE, "inputs": inputs})
    assert code == 400 and "rectangular" in err["error"], (code, err)


def test_rest_keeps_a_reused_connection_in_step_after_errors(served):
    _, _, server = served
    conn = HTTPConnection("127.0.0.1", server.rest_port, timeout=10)
    try:
        # a POST to a wrong path still has its body read, so the next request on the connection parses cleanly
        conn.request("POST", "/v1/nowhere", body=b'{"instances": [1, 2, 3]}')
        response = conn.getresponse()
        assert response.status == 404 and "Malformed request" in json.loads(response.read())["error"]
        conn.request("GET", "/v1/models/asmg")
        response = conn.getresponse()
        assert response.status == 200 and json.loads(response.read())["model_version_status"][0]["version"] == "1"
    finally:
        conn.close()
    for bad in ("-1", "ten"):
        conn = HTTPConnection("127.0.0.1", server.rest_port, timeout=10)
        try:
            conn.putrequest("POST", "/v1/models/asmg:predict")
            conn.putheader("Content-Length", bad)
            conn.endheaders()
            response = conn.getresponse()
            assert response.status == 400 and "non-negative integer" in json.loads(response.read())["error"]
        finally:
            conn.close()


# -- CLI -----------------------------------------------------------------------------------------------------------------------
def test_cli_predict_and_rank(served, capsys, tmp_path):
    model, table, server = served
    target = ["--target", server.target]
    want = keras_probs(model, table, [2, 2], [3, 4], [[1, 2], [1, 2]])  # raw user "0" is row 2
    items, hist = ",".join(raw_items([3, 4])), ",".join(raw_items([1, 2]))
    for signature in ("serving_default", "predict_ids"):
        args = ["predict", *target, "--user", "0", "--item", items, "--hist", hist, "--signature", signature]
        assert cli_main(args) == 0
        lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
        assert [(x["user"], x["item"]) for x in lines] == [("0", VOCAB.items[3]), ("0", VOCAB.items[4])]
        np.testing.assert_allclose([x["click_probability"] for x in lines], want, rtol=1e-5, err_msg=signature)
    rows = tmp_path / "rows.jsonl"  # JSON strings or integers
    rows.write_text(
        "\n".join(json.dumps({**r, "user": int(r["user"]) if i == 0 else r["user"]}) for i, r in enumerate(ROWS))
    )
    assert cli_main(["predict", *target, "--input", str(rows), "--batch-size", "2", "--version", "1"]) == 0
    got = [json.loads(x)["click_probability"] for x in capsys.readouterr().out.splitlines()]
    np.testing.assert_allclose(got, expected(model, table), rtol=1e-5)
    # rank prints the raw ids of the best candidates
    scores = keras_probs(model, table, [2] * 4, [1, 2, 3, 4], [[5]] * 4)
    candidates = ",".join(raw_items([1, 2, 3, 4]))
    assert (
        cli_main(["rank", *target, "--user", "0", "--candidates", candidates, "--hist", VOCAB.items[5], "-k", "2"]) == 0
    )
    top = json.loads(capsys.readouterr().out)
    assert [t["item"] for t in top] == raw_items(1 + np.argsort(-scores)[:2])
    np.testing.assert_allclose([t["score"] for t in top], np.sort(scores)[::-1][:2], rtol=1e-5)
    assert cli_main(["rank", *target, "--user", "0", "--candidates", f"{VOCAB.items[1]},,{VOCAB.items[2]}"]) == 1
    assert "--candidates holds an empty id" in capsys.readouterr().err
    assert cli_main(["predict", *target, "--user", "u17850", "--item", VOCAB.items[1]]) == 1
    assert "INVALID_ARGUMENT" in (err := capsys.readouterr().err) and NOT_AN_INTEGER_USER.search(err)
    assert cli_main(["predict", "--target", "127.0.0.1:1", "--user", "0", "--item", "3", "--timeout", "2"]) == 1
    assert "unavailable" in capsys.readouterr().err


def test_cli_export_and_serve_subprocess(tmp_path, capsys):
    model, _ = tiny_model(categories=False, seed=7)
    weights = tmp_path / "w.npz"
    save_weights_npz(str(weights), get_weights(model))
    config = tmp_path / "models.config"
    export = ["export", "--weights", str(weights), "--base-dir", str(tmp_path / "models"), "--name", "plain"]
    # bare weights carry no raw ids: the export says where to get them, and writes nothing
    assert cli_main([*export, "--version", "2"]) == 1
    assert "--vocab" in capsys.readouterr().err and not (tmp_path / "models" / "plain" / "2").exists()
    VOCAB.write(str(tmp_path / "vocab"))
    assert cli_main([*export, "--version", "3", "--vocab", str(tmp_path / "vocab"), "--config-out", str(config)]) == 0
    assert (tmp_path / "models" / "plain" / "3" / "assets" / "items.txt").read_text().split() == list(VOCAB.items)
    assert (tmp_path / "models" / "plain" / "3" / "saved_model.pb").exists()
    assert read_model_config(str(config))[0].base_path == str(tmp_path / "models" / "plain")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "asmg_cli",
            "serve",
            "--model-config-file",
            str(config),
            "--port",
            "0",
            "--rest-api-port",
            "0",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = ""
        deadline = time.monotonic() + 120
        while "ready" not in line and time.monotonic() < deadline and proc.poll() is None:
            line = proc.stdout.readline()
        assert "ready grpc=127.0.0.1:" in line and "tensorflow/serving" in line, (
            line,
            proc.stderr.read() if proc.poll() is not None else "",
        )
        target = line.split("grpc=")[1].split()[0]
        with ServingClient(target, "plain") as c:
            got = c.predict_ids(raw_users([0, 1]), raw_items([3, 4]), [raw_items([1]), []])
        np.testing.assert_allclose(got, keras_probs(model, None, [0, 1], [3, 4], [[1], []]), rtol=1e-5, atol=1e-6)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0


def test_help_does_not_import_tensorflow():
    code = (
        "import sys; from asmg_cli.main import build_parser\n"
        "for cmd in ([], ['serve'], ['predict'], ['rank'], ['export']):\n"
        "    try: build_parser().parse_args(cmd + ['--help'])\n"
        "    except SystemExit: pass\n"
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported'\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "production uses tensorflow/serving" in out.stdout.replace("\n", " ").replace("  ", " ")
