"""The local server through the real tensorflow_serving.apis stubs, the client, REST and the CLI (127.0.0.1 only)."""

from __future__ import annotations

import base64
import json
import os
import pathlib
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
from serving_util import NUM_ITEMS, keras_probs, pad, perturbed, tiny_model
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
MAX_BATCH = 64
ROWS = [
    {"user": 0, "item": 3, "hist": [1, 2]},
    {"user": 1, "item": 4, "hist": [3]},
    {"user": 6, "item": 10, "hist": []},
]


def quiet(_: str) -> None:
    pass


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Version 1 of a tiny category model behind a LocalServer on ephemeral loopback ports."""
    model, table = tiny_model()
    base = tmp_path_factory.mktemp("served")
    export_model(model, str(base), "asmg", version=1, item_categories=table)
    server = LocalServer(
        [ModelEntry("asmg", str(base / "asmg"))], poll_seconds=0.2, max_batch_size=MAX_BATCH, log=quiet
    )
    yield model, table, server
    server.stop()


@pytest.fixture()
def client(served):
    with ServingClient(served[2].target, "asmg", timeout_s=10) as c:
        yield c


def expected(model, table, rows=ROWS):
    return keras_probs(model, table, [r["user"] for r in rows], [r["item"] for r in rows], [r["hist"] for r in rows])


# -- each RPC ------------------------------------------------------------------------------------------------------------
def test_predict_examples_raw_and_rank(served, client):
    model, table, _ = served
    want = expected(model, table)
    np.testing.assert_allclose(client.predict_examples(ROWS), want, rtol=1e-5, atol=1e-6)
    hist, _ = pad([r["hist"] for r in ROWS])
    got = client.predict_raw(
        [r["user"] for r in ROWS],
        [r["item"] for r in ROWS],
        [r["hist"] for r in ROWS],
        item_cats=table[[r["item"] for r in ROWS]],
        hist_cats=table[hist],
    )
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    scores = keras_probs(model, table, [2] * NUM_ITEMS, np.arange(NUM_ITEMS), [[5]] * NUM_ITEMS)
    top = client.rank(2, list(range(NUM_ITEMS)), hist=[5], k=3)
    assert [i for i, _ in top] == np.argsort(-scores)[:3].tolist()
    np.testing.assert_allclose([s for _, s in top], np.sort(scores)[::-1][:3], rtol=1e-5)


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
    assert signatures[S.CLASSIFY_SIGNATURE].method_name == "tensorflow/serving/classify"
    assert client.status() == [{"version": 1, "state": "AVAILABLE", "error_code": 0, "error_message": ""}]
    assert client.status(version=1)[0]["state"] == "AVAILABLE"


def test_batching_splits_large_inputs(served):
    model, table, server = served
    rng = np.random.RandomState(0)
    rows = [
        {
            "user": int(rng.randint(7)),
            "item": int(rng.randint(NUM_ITEMS)),
            "hist": rng.randint(NUM_ITEMS, size=rng.randint(5)).tolist(),
        }
        for _ in range(300)
    ]
    calls = []

    class Count(grpc.UnaryUnaryClientInterceptor):
        def intercept_unary_unary(self, continuation, details, request):
            calls.append(details.method)
            return continuation(details, request)

    channel = grpc.intercept_channel(grpc.insecure_channel(server.target), Count())
    with ServingClient(server.target, "asmg", max_batch_size=MAX_BATCH, channel=channel) as c:
        got = c.predict_examples(rows)
    channel.close()
    assert len(calls) == 5  # ceil(300 / 64) requests, none over the server's limit
    np.testing.assert_allclose(got, expected(model, table, rows), rtol=1e-5, atol=1e-6)


def test_every_call_has_a_deadline(served):
    timeouts = []

    class Record(grpc.UnaryUnaryClientInterceptor):
        def intercept_unary_unary(self, continuation, details, request):
            timeouts.append((details.method, details.timeout))
            return continuation(details, request)

    channel = grpc.intercept_channel(grpc.insecure_channel(served[2].target), Record())
    with ServingClient(served[2].target, "asmg", timeout_s=7, max_batch_size=2, channel=channel) as c:
        c.predict_examples(ROWS)
        c.predict_raw([0], [1], [[2]], item_cats=[[0, -1]], hist_cats=[[[1, -1]]])
        c.rank(0, [1, 2], k=1)
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


def test_client_rejects_bad_inputs_before_sending(client):
    with pytest.raises(BadInputError, match="integer ids"):
        client.predict_raw([0.5], [1], [[1]])
    with pytest.raises(BadInputError, match="same number of rows"):
        client.predict_raw([0, 1], [1], [[1]])
    with pytest.raises(BadInputError, match="empty"):
        client.rank(0, [])
    with pytest.raises(BadInputError, match="k must be"):
        client.rank(0, [1], k=0)
    with pytest.raises(BadInputError, match="row 1"):
        client.predict_examples([ROWS[0], {"item": 3}])
    with pytest.raises(BadInputError, match="no rows"):
        client.predict_examples([])
    with pytest.raises(ValueError, match="version or a label"):
        ServingClient("127.0.0.1:1", version=1, label="stable")


# -- malformed requests ----------------------------------------------------------------------------------------------------
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

    raw = {
        "user": np.array([0], np.int64),
        "item": np.array([1], np.int64),
        "hist": np.array([[1]], np.int64),
        "hist_len": np.array([1], np.int64),
        "item_cats": np.array([[0]], np.int64),
        "hist_cats": np.array([[[0]]], np.int64),
    }
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
            "wrong dtype",
            request({**raw, "user": np.array([0], np.int32)}, signature=S.RAW_SIGNATURE),
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
            request({**raw, "hist": np.array([1], np.int64)}, signature=S.RAW_SIGNATURE),
            grpc.StatusCode.INVALID_ARGUMENT,
            "input 'hist' has shape [1]",
        ),
        (
            "mismatched rows",
            request({**raw, "item": np.array([1, 2], np.int64)}, signature=S.RAW_SIGNATURE),
            grpc.StatusCode.INVALID_ARGUMENT,
            "",
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
            "is required but could not be found",
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
        assert message in info.value.details(), (what, info.value.details())
    meta = get_model_metadata_pb2.GetModelMetadataRequest(model_spec=model_pb2.ModelSpec(name="asmg"))
    with pytest.raises(grpc.RpcError) as info:
        stub.GetModelMetadata(meta, timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "metadata_field" in info.value.details()
    # still healthy
    ok = stub.Predict(request({"examples": examples}), timeout=10)
    assert ok.model_spec.version.value == 1 and len(tf.make_ndarray(ok.outputs[S.PROBABILITY])) == len(ROWS)
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
    export_model(model, str(tmp_path), "asmg", version=1, item_categories=table)
    export_model(perturbed(model, 5), str(tmp_path), "asmg", version=2, item_categories=table)
    base = str(tmp_path / "asmg")
    with LocalServer([ModelEntry("asmg", base)], poll_seconds=0, rest_port=None, log=quiet) as server:
        with ServingClient(server.target, "asmg") as c:
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
    export_model(model, str(tmp_path), "asmg", version=1, item_categories=table)
    export_model(perturbed(model, 6), str(tmp_path), "asmg", version=2, item_categories=table)
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
    export_model(model, str(tmp_path), "asmg", version=1, item_categories=table)
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
        export_model(perturbed(model, 9), str(tmp_path), "asmg", version=2, item_categories=table)
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
    export_model(model, str(tmp_path), "asmg", version=1, item_categories=table)
    manager = ModelManager(ModelEntry("asmg", str(tmp_path / "asmg")), log=quiet)
    manager.poll()
    examples = np.array(S.serialize_examples(ROWS), object)
    with manager.acquire() as old:
        export_model(perturbed(model, 4), str(tmp_path), "asmg", version=2, item_categories=table)
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
    v1 = export_model(model, str(tmp_path), "asmg", version=1, item_categories=table)
    v2_src = export_model(perturbed(model, 2), str(tmp_path / "staging"), "asmg", version=2, item_categories=table)
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
    status, out = http(
        port,
        "/v1/models/asmg/versions/1:predict",
        {
            "signature_name": S.RANK_SIGNATURE,
            "instances": [{"user": 2, "hist": [5], "hist_len": 1, "candidates": list(range(NUM_ITEMS)), "k": 2}],
        },
    )
    assert status == 200 and len(out["predictions"][0][S.ITEM_IDS]) == 2
    hist, hist_len = pad([r["hist"] for r in ROWS])
    items = [r["item"] for r in ROWS]
    status, out = http(
        port,
        "/v1/models/asmg:predict",
        {
            "signature_name": S.RAW_SIGNATURE,
            "inputs": {
                "user": [r["user"] for r in ROWS],
                "item": items,
                "hist": hist.tolist(),
                "hist_len": hist_len.tolist(),
                "item_cats": table[items].tolist(),
                "hist_cats": table[hist].tolist(),
            },
        },
    )
    assert status == 200
    np.testing.assert_allclose(out["outputs"][S.PROBABILITY], want, rtol=1e-5)
    assert http(port, "/v1/models/nope:predict", {"instances": instances})[0] == 404
    assert http(port, "/v1/models/asmg/versions/9")[0] == 404
    code, err = http(port, "/v1/models/asmg/labels/nope:predict", {"instances": instances})
    assert code == 400 and "Unrecognized servable version label" in err["error"]
    code, err = http(port, "/v1/models/asmg:predict", raw=b"{not json")
    assert code == 400 and "JSON" in err["error"]
    code, err = http(
        port, "/v1/models/asmg:predict", {"signature_name": S.RAW_SIGNATURE, "inputs": {"user": [[1, 2], [3]]}}
    )
    assert code == 400 and "rectangular" in err["error"]
    assert http(port, "/v1/models/asmg")[0] == 200  # still healthy


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
    assert cli_main(["predict", "--target", server.target, "--user", "0", "--item", "3,4", "--hist", "1,2"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    want = keras_probs(model, table, [0, 0], [3, 4], [[1, 2], [1, 2]])
    np.testing.assert_allclose([x["click_probability"] for x in lines], want, rtol=1e-5)
    rows = tmp_path / "rows.jsonl"
    rows.write_text("\n".join(json.dumps(r) for r in ROWS))
    assert (
        cli_main(["predict", "--target", server.target, "--input", str(rows), "--batch-size", "2", "--version", "1"])
        == 0
    )
    got = [json.loads(x)["click_probability"] for x in capsys.readouterr().out.splitlines()]
    np.testing.assert_allclose(got, expected(model, table), rtol=1e-5)
    assert (
        cli_main(
            ["rank", "--target", server.target, "--user", "2", "--candidates", "1,2,3,4", "--hist", "5", "-k", "2"]
        )
        == 0
    )
    top = json.loads(capsys.readouterr().out)
    assert len(top) == 2 and top[0]["score"] >= top[1]["score"]
    assert cli_main(["rank", "--target", server.target, "--user", "2", "--candidates", "1,x"]) == 1
    assert "comma-separated integer ids" in capsys.readouterr().err
    assert cli_main(["predict", "--target", "127.0.0.1:1", "--user", "0", "--item", "3", "--timeout", "2"]) == 1
    assert "unavailable" in capsys.readouterr().err


def test_cli_export_and_serve_subprocess(tmp_path):
    model, _ = tiny_model(categories=False, seed=7)
    weights = tmp_path / "w.npz"
    save_weights_npz(str(weights), get_weights(model))
    config = tmp_path / "models.config"
    assert (
        cli_main(
            [
                "export",
                "--weights",
                str(weights),
                "--base-dir",
                str(tmp_path / "models"),
                "--name",
                "plain",
                "--version",
                "3",
                "--config-out",
                str(config),
            ]
        )
        == 0
    )
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
            got = c.predict_raw([0, 1], [3, 4], [[1], []])
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
