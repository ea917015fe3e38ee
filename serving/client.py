"""gRPC client for TF Serving (and ``asmg serve``), built on the ``tensorflow_serving.apis`` stubs.

Every call carries a deadline (``timeout_s``); model version or label is chosen per client or per call; large
inputs are split into batches of ``max_batch_size`` rows sent concurrently (``Predict.future``, at most
``max_in_flight`` at once) and put back in order. Failures raise ``serving.errors`` types that say what to do.

Ids are the data's own raw ids, strings or integers (sent as their text), never table rows::

    with ServingClient("127.0.0.1:8500", "asmg", label="stable") as client:
        p = client.predict_examples([{"user": "17850", "item": "85123A", "hist": ["71053", "84406B"]}])
        top = client.rank(user="17850", hist=["71053"], candidates=["85123A", "22423", "47566"], k=2)
        # [("85123A", 0.93), ...]: the candidates' ids as given, best first
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import grpc
import numpy as np
import tensorflow as tf
from google.protobuf import wrappers_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    input_pb2,
    model_management_pb2,
    model_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from serving import schema as S
from serving.errors import BadInputError, ServingError, from_rpc_error
from serving.model_config import ModelEntry, to_proto

STATE_NAMES = {v: k for k, v in get_model_status_pb2.ModelVersionStatus.State.items()}


def _id_array(name: str, values, ndim: int, allow_empty: bool = False) -> np.ndarray:
    """Raw ids (str, bytes or int; nested lists for ``ndim`` 2) -> an object array of their bytes on the wire
    (``allow_empty``: padding past a history's length may be "")."""

    def convert(value, where: str):
        try:
            out = S.id_bytes(value)
        except TypeError as e:
            raise BadInputError(f"{where}: {e}") from None
        if not out and not allow_empty:
            raise BadInputError(f"{where}: empty id")
        return out

    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise BadInputError(f"{name} must be a list of ids, got {type(values).__name__}")
    if ndim == 1:
        return np.array([convert(v, f"{name}[{i}]") for i, v in enumerate(values)], dtype=object).reshape(-1)
    rows = [_id_array(f"{name}[{i}]", row, 1, allow_empty) for i, row in enumerate(values)]
    widths = {len(r) for r in rows}
    if len(widths) > 1:
        raise BadInputError(f"{name} rows must have one length, got {sorted(widths)}")
    return np.array([list(r) for r in rows], dtype=object).reshape(len(rows), widths.pop() if rows else 0)


def pad_histories(hist: Sequence[Sequence]) -> tuple[np.ndarray, np.ndarray]:
    """Ragged histories of raw ids (most recent first) -> (``[N, max(1, L)]`` ids padded with ``b""``, ``[N]``
    lengths)."""
    rows = [_id_array(f"hist[{i}]", h, 1) for i, h in enumerate(hist)]
    lengths = np.array([len(r) for r in rows], np.int64)
    out = np.full([len(rows), max([1, *lengths.tolist()])], b"", dtype=object)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out, lengths


def _lengths(name: str, value) -> np.ndarray:
    array = np.asarray(value)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise BadInputError(f"{name} must be a list of integers, got {array.dtype} {array.shape}")
    return array.astype(np.int64)


def _serialize(rows: Sequence) -> list[bytes]:
    out = []
    for i, row in enumerate(rows):
        if isinstance(row, bytes):
            out.append(row)
        elif isinstance(row, tf.train.Example):
            out.append(row.SerializeToString())
        elif isinstance(row, dict):
            try:
                ids = [row[S.USER], row[S.ITEM], *row.get(S.HIST, ())]
                if any(S.id_bytes(v) == b"" for v in ids):
                    raise ValueError("empty id")
                out.append(S.make_example(row[S.USER], row[S.ITEM], row.get(S.HIST, ())).SerializeToString())
            except (KeyError, TypeError, ValueError) as e:
                raise BadInputError(
                    f"row {i}: needs 'user' and 'item' ids (strings or integers) and an optional 'hist' list ({e})"
                ) from None
        else:
            raise BadInputError(
                f"row {i}: expected a dict, a tf.train.Example or serialized bytes, got {type(row).__name__}"
            )
    return out


class ServingClient:
    """A client for one model on one server.

    Args:
        target: ``host:port`` of the gRPC endpoint.
        model: the model name.
        version / label: the default version (int) or label (e.g. ``"stable"``); neither: the latest.
        timeout_s: the deadline of every call, in seconds.
        max_batch_size: rows per request when splitting large inputs.
        max_in_flight: concurrent requests while sending the batches of one call.
        channel: an existing ``grpc.Channel`` (else an insecure channel to ``target``).
    """

    def __init__(
        self,
        target: str = "127.0.0.1:8500",
        model: str = "asmg",
        *,
        version: int | None = None,
        label: str | None = None,
        timeout_s: float = 5.0,
        max_batch_size: int = 256,
        max_in_flight: int = 4,
        channel: grpc.Channel | None = None,
    ):
        if version is not None and label:
            raise ValueError("choose a version or a label, not both")
        if timeout_s <= 0 or max_batch_size <= 0 or max_in_flight <= 0:
            raise ValueError("timeout_s, max_batch_size and max_in_flight must be > 0")
        self.target, self.model = target, model
        self.version, self.label = version, label
        self.timeout_s, self.max_batch_size, self.max_in_flight = timeout_s, max_batch_size, max_in_flight
        self._own_channel = channel is None
        self.channel = channel or grpc.insecure_channel(
            target,
            options=[
                ("grpc.max_receive_message_length", S.MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", S.MAX_MESSAGE_BYTES),
            ],
        )
        self.prediction = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.models = model_service_pb2_grpc.ModelServiceStub(self.channel)

    # -- plumbing ----------------------------------------------------------------------------------------------------
    def spec(self, signature: str = "", version: int | None = None, label: str | None = None) -> model_pb2.ModelSpec:
        """The ModelSpec of a call: the per-call version/label, else the client's."""
        if version is not None and label:
            raise ValueError("choose a version or a label, not both")
        if version is None and not label:
            version, label = self.version, self.label
        spec = model_pb2.ModelSpec(name=self.model, signature_name=signature)
        if version is not None:
            spec.version.CopyFrom(wrappers_pb2.Int64Value(value=int(version)))
        elif label:
            spec.version_label = label
        return spec

    def _call(self, method: Callable, request, what: str, timeout_s: float | None):
        try:
            return method(request, timeout=timeout_s or self.timeout_s)
        except grpc.RpcError as e:
            raise from_rpc_error(e, self.target, f"{what} on model {self.model!r}") from None

    def _batched(self, method, requests: list, what: str, timeout_s: float | None) -> list:
        """Send ``requests`` with at most ``max_in_flight`` outstanding; responses in order."""
        timeout = timeout_s or self.timeout_s
        responses, pending = [None] * len(requests), []
        try:
            for i, request in enumerate(requests):
                pending.append((i, method.future(request, timeout=timeout)))
                while len(pending) >= self.max_in_flight or (i == len(requests) - 1 and pending):
                    j, future = pending.pop(0)
                    responses[j] = future.result()
        except grpc.RpcError as e:
            for _, future in pending:
                future.cancel()
            raise from_rpc_error(e, self.target, f"{what} on model {self.model!r}") from None
        return responses

    def _chunks(self, n: int) -> list[slice]:
        if n == 0:
            raise BadInputError("nothing to send: the input has no rows")
        return [slice(i, min(n, i + self.max_batch_size)) for i in range(0, n, self.max_batch_size)]

    # -- Predict -----------------------------------------------------------------------------------------------------
    def predict_request(
        self,
        inputs: dict,
        signature: str = S.DEFAULT_SIGNATURE,
        *,
        output_filter: Sequence[str] = (),
        version=None,
        label=None,
    ) -> predict_pb2.PredictRequest:
        request = predict_pb2.PredictRequest(
            model_spec=self.spec(signature, version, label), output_filter=list(output_filter)
        )
        for key, value in inputs.items():
            request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
        return request

    def predict(
        self,
        inputs: dict,
        signature: str = S.DEFAULT_SIGNATURE,
        *,
        output_filter: Sequence[str] = (),
        version=None,
        label=None,
        timeout_s: float | None = None,
    ) -> dict[str, np.ndarray]:
        """One Predict call on any signature: ``{alias: array}`` in, ``{alias: array}`` out (no splitting)."""
        request = self.predict_request(inputs, signature, output_filter=output_filter, version=version, label=label)
        response = self._call(self.prediction.Predict, request, f"Predict({signature})", timeout_s)
        return {k: tf.make_ndarray(v) for k, v in response.outputs.items()}

    def _predict_rows(
        self, columns: dict[str, np.ndarray], signature: str, output: str, version, label, timeout_s
    ) -> np.ndarray:
        n = len(next(iter(columns.values())))
        requests = [
            self.predict_request(
                {k: v[part] for k, v in columns.items()},
                signature,
                output_filter=[output],
                version=version,
                label=label,
            )
            for part in self._chunks(n)
        ]
        responses = self._batched(self.prediction.Predict, requests, f"Predict({signature})", timeout_s)
        return np.concatenate([tf.make_ndarray(r.outputs[output]) for r in responses])

    def predict_examples(
        self, rows: Sequence, *, version=None, label=None, timeout_s: float | None = None
    ) -> np.ndarray:
        """Click probabilities ``[N]`` via ``serving_default``; rows are ``{"user", "item", "hist"}`` dicts,
        ``tf.train.Example``s or serialized examples."""
        serialized = np.array(_serialize(rows), dtype=object)
        return self._predict_rows(
            {S.EXAMPLES: serialized}, S.DEFAULT_SIGNATURE, S.PROBABILITY, version, label, timeout_s
        )

    def predict_ids(
        self,
        user: Sequence,
        item: Sequence,
        hist: Sequence,
        hist_len: Sequence[int] | None = None,
        *,
        version=None,
        label=None,
        timeout_s: float | None = None,
    ) -> np.ndarray:
        """Click probabilities ``[N]`` via ``predict_ids``: raw ids (strings or integers); ``hist`` is ``[N, L]``
        with ``hist_len``, or a list of ragged histories (padded here). Item categories are looked up on the
        server."""
        user, item = _id_array("user", user, 1), _id_array("item", item, 1)
        if hist_len is None:
            hist, hist_len = pad_histories(hist)
        else:
            hist, hist_len = _id_array("hist", hist, 2, allow_empty=True), _lengths("hist_len", hist_len)
        columns = {S.USER: user, S.ITEM: item, S.HIST: hist, S.HIST_LEN: hist_len}
        sizes = {k: len(v) for k, v in columns.items()}
        if len(set(sizes.values())) != 1:
            raise BadInputError(f"every input needs the same number of rows, got {sizes}")
        return self._predict_rows(columns, S.IDS_SIGNATURE, S.PROBABILITY, version, label, timeout_s)

    def rank(
        self,
        user,
        candidates: Sequence,
        hist: Sequence = (),
        k: int = 10,
        *,
        version=None,
        label=None,
        timeout_s: float | None = None,
    ) -> list[tuple]:
        """The top ``k`` of ``candidates`` for ``user`` (raw ids; history most recent first):
        ``[(item, probability)]``, each item as given in ``candidates``."""
        if k < 1:
            raise BadInputError(f"k must be >= 1, got {k}")
        cands = _id_array("candidates", candidates, 1)
        if cands.size == 0:
            raise BadInputError("candidates is empty")
        given = dict(zip(cands.tolist(), candidates))
        padded, length = pad_histories([hist])
        inputs = {
            S.USER: _id_array("user", [user], 1),
            S.HIST: padded,
            S.HIST_LEN: length,
            S.CANDIDATES: cands[None, :],
            S.K: np.array([k], np.int64),
        }
        out = self.predict(inputs, S.RANK_SIGNATURE, version=version, label=label, timeout_s=timeout_s)
        return [(given.get(i, i), float(s)) for i, s in zip(out[S.ITEM_IDS][0].tolist(), out[S.SCORES][0])]

    # -- Classify / Regress ------------------------------------------------------------------------------------------
    def _input(self, rows: Sequence) -> input_pb2.Input:
        examples = [tf.train.Example.FromString(b) for b in _serialize(rows)]
        if not examples:
            raise BadInputError("nothing to send: no rows")
        return input_pb2.Input(example_list=input_pb2.ExampleList(examples=examples))

    def classify(
        self, rows: Sequence, *, version=None, label=None, timeout_s: float | None = None
    ) -> list[dict[str, float]]:
        """Classify RPC on the ``classify`` signature: ``[{"0": p0, "1": p1}]`` per row."""
        request = classification_pb2.ClassificationRequest(
            model_spec=self.spec(S.CLASSIFY_SIGNATURE, version, label), input=self._input(rows)
        )
        response = self._call(self.prediction.Classify, request, "Classify", timeout_s)
        return [{c.label: c.score for c in row.classes} for row in response.result.classifications]

    def regress(self, rows: Sequence, *, version=None, label=None, timeout_s: float | None = None) -> np.ndarray:
        """Regress RPC on the ``regress`` signature: click probabilities ``[N]``."""
        request = regression_pb2.RegressionRequest(
            model_spec=self.spec(S.REGRESS_SIGNATURE, version, label), input=self._input(rows)
        )
        response = self._call(self.prediction.Regress, request, "Regress", timeout_s)
        return np.array([r.value for r in response.result.regressions], np.float32)

    # -- metadata and status -----------------------------------------------------------------------------------------
    def metadata(self, *, version=None, label=None, timeout_s: float | None = None) -> dict:
        """``{signature name: SignatureDef}`` of the served version."""
        request = get_model_metadata_pb2.GetModelMetadataRequest(
            model_spec=self.spec("", version, label), metadata_field=["signature_def"]
        )
        response = self._call(self.prediction.GetModelMetadata, request, "GetModelMetadata", timeout_s)
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signature_map)
        return dict(signature_map.signature_def)

    def status(
        self, *, version: int | None = None, label: str | None = None, timeout_s: float | None = None
    ) -> list[dict]:
        """``[{"version", "state", "error_code", "error_message"}]`` of the named version or label, else of the
        client's default version or label, else of every known version."""
        return self._status(self.spec("", version, label), timeout_s)

    def _status(self, spec: model_pb2.ModelSpec, timeout_s: float | None) -> list[dict]:
        request = get_model_status_pb2.GetModelStatusRequest(model_spec=spec)
        response = self._call(self.models.GetModelStatus, request, "GetModelStatus", timeout_s)
        return [
            {
                "version": s.version,
                "state": STATE_NAMES.get(s.state, str(s.state)),
                "error_code": s.status.error_code,
                "error_message": s.status.error_message,
            }
            for s in response.model_version_status
        ]

    def reload_config(self, entries: list[ModelEntry], *, timeout_s: float | None = None) -> None:
        """HandleReloadConfigRequest; raises ``ServingError`` when the server reports a failure."""
        request = model_management_pb2.ReloadConfigRequest(config=to_proto(entries))
        response = self._call(self.models.HandleReloadConfigRequest, request, "HandleReloadConfigRequest", timeout_s)
        if response.status.error_code:
            raise ServingError(
                f"config reload on {self.target} failed: {response.status.error_message}",
                None,
                response.status.error_message,
            )

    def wait_until_available(self, version: int | None = None, *, timeout_s: float = 30.0, poll_s: float = 0.1) -> int:
        """Block until ``version`` (or any version) is AVAILABLE; returns the newest available version.

        Asks for every version of the model, whatever version or label the client itself is pinned to."""
        deadline = time.monotonic() + timeout_s
        last = None
        every_version = model_pb2.ModelSpec(name=self.model)
        while time.monotonic() < deadline:
            try:
                statuses = self._status(every_version, min(self.timeout_s, timeout_s))
                states = [s for s in statuses if s["state"] == "AVAILABLE"]
                versions = [s["version"] for s in states]
                if versions and (version is None or version in versions):
                    return max(versions)
            except ServingError as e:
                last = e
            time.sleep(poll_s)
        raise ServingError(
            f"model {self.model!r} version {version or 'any'} not AVAILABLE on {self.target} after {timeout_s} s"
            + (f" (last error: {last})" if last else "")
        )

    def close(self) -> None:
        if self._own_channel:
            self.channel.close()

    def __enter__(self) -> ServingClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
