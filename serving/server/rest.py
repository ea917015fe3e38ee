"""TF Serving's REST API over the same core: ``/v1/models/<name>[/versions/<v>|/labels/<l>][:predict|/metadata]``.

``GET`` the model path for its version status, ``GET .../metadata`` for the signatures, ``POST ...:predict`` with
``{"signature_name"?, "instances": [...]}`` (row format, answered with ``predictions``) or ``{"inputs": ...}``
(columnar, answered with ``outputs``). Binary strings travel as ``{"b64": "..."}``. Errors are ``{"error": msg}``
with the HTTP status of the gRPC code.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import tensorflow as tf
from google.protobuf import json_format, wrappers_pb2
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import get_model_metadata_pb2, model_pb2

from serving.server import inference
from serving.server.core import ServerCore
from serving.server.status import ServingStatusError, invalid, not_found

_PATH = re.compile(
    r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>[0-9]+)|/labels/(?P<label>[^/:]+))?"
    r"(?P<suffix>/metadata|:predict)?$"
)
MAX_BODY = 64 << 20


def _spec(match: re.Match, signature_name: str = "") -> model_pb2.ModelSpec:
    spec = model_pb2.ModelSpec(name=match["name"], signature_name=signature_name)
    if match["version"]:
        spec.version.CopyFrom(wrappers_pb2.Int64Value(value=int(match["version"])))
    elif match["label"]:
        spec.version_label = match["label"]
    return spec


def _decode_strings(value):
    if isinstance(value, dict):
        if set(value) != {"b64"}:
            raise invalid(f'a JSON object in a string tensor must be {{"b64": ...}}, got keys {sorted(value)}')
        try:
            return base64.b64decode(value["b64"], validate=True)
        except ValueError as e:
            raise invalid(f"bad base64 string: {e}") from None
    if isinstance(value, list):
        return [_decode_strings(v) for v in value]
    if isinstance(value, str):
        return value.encode()
    raise invalid(f'expected a string or {{"b64": ...}}, got {type(value).__name__}')


def json_to_array(alias: str, value, dtype: int) -> np.ndarray:
    """A JSON value -> an array of the signature's dtype (rectangular lists only)."""
    try:
        if dtype == types_pb2.DT_STRING:
            strings = _decode_strings(value)
            array = np.array(strings, dtype=object)
            if array.dtype == object and any(isinstance(v, list) for v in array.reshape(-1)):
                raise ValueError("the nested lists have different lengths")
        else:
            array = np.array(value, dtype=tf.dtypes.as_dtype(dtype).as_numpy_dtype)
    except ServingStatusError:
        raise
    except (ValueError, TypeError, OverflowError) as e:
        raise invalid(
            f"input '{alias}': cannot convert JSON to {tf.dtypes.as_dtype(dtype).name} (lists must be rectangular): {e}"
        ) from None
    return array


def _jsonable(value):
    """An output (array, row of one, or one element) as JSON; strings as text (TF Serving's REST does so for
    valid UTF-8)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    array = np.asarray(value)
    if array.dtype == object:
        return [_jsonable(a) for a in array] if array.ndim else _jsonable(array.item())
    return array.tolist()


def _named(value, keys: list[str]) -> bool:
    """Is ``value`` an object of named inputs (rather than a bare value of a single-input signature)?"""
    if not isinstance(value, dict) or set(value) == {"b64"}:
        return False
    return len(keys) != 1 or keys[0] in value


def _columns(name: str, keys: list[str], body: dict) -> dict:
    """``{input alias: JSON value}`` from the row (``instances``) or columnar (``inputs``) format."""
    if "inputs" in body:
        value = body["inputs"]
        if _named(value, keys):
            return value
        if len(keys) == 1:
            return {keys[0]: value}
        raise invalid(f"signature {name!r} has inputs {keys}: 'inputs' must be an object naming them")
    rows = body["instances"]
    if not isinstance(rows, list) or not rows:
        raise invalid("'instances' must be a non-empty list")
    if not any(_named(r, keys) for r in rows):
        if len(keys) != 1:
            raise invalid(f"signature {name!r} has inputs {keys}: each instance must be an object naming them")
        return {keys[0]: rows}
    names = set(rows[0]) if isinstance(rows[0], dict) else set()
    if not all(isinstance(r, dict) and set(r) == names for r in rows):
        raise invalid("every instance must be an object naming the same inputs")
    return {k: [r[k] for r in rows] for k in names}


def predict_json(core: ServerCore, match: re.Match, body: dict) -> dict:
    if not isinstance(body, dict):
        raise invalid("the request body must be a JSON object")
    signature_name = body.get("signature_name", "")
    if not isinstance(signature_name, str):
        raise invalid("'signature_name' key must be a string value.")
    if ("instances" in body) == ("inputs" in body):
        raise invalid("the request must hold exactly one of 'instances' (row format) or 'inputs' (columnar format)")
    spec = _spec(match, signature_name)
    with core.acquire(spec) as servable:
        name, signature = servable.signature(signature_name)
        keys = sorted(signature.inputs)
        columns = _columns(name, keys, body)
        inputs = {}
        for alias, value in columns.items():
            info = signature.inputs.get(alias)
            if info is None:
                raise invalid(
                    f"input tensor alias not found in signature: {alias}. Inputs expected to be in the set {{{','.join(keys)}}}."
                )
            inputs[alias] = json_to_array(alias, value, info.dtype)
        _, outputs = servable.run(name, inputs)
    if "instances" in body:
        if len(outputs) == 1:
            return {"predictions": _jsonable(next(iter(outputs.values())))}
        n = len(next(iter(outputs.values())))
        return {"predictions": [{k: _jsonable(v[i]) for k, v in outputs.items()} for i in range(n)]}
    if len(outputs) == 1:
        return {"outputs": _jsonable(next(iter(outputs.values())))}
    return {"outputs": {k: _jsonable(v) for k, v in outputs.items()}}


def status_json(core: ServerCore, match: re.Match) -> dict:
    response = core.model_status(_spec(match))
    return json_format.MessageToDict(
        response, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def metadata_json(core: ServerCore, match: re.Match) -> dict:
    request = get_model_metadata_pb2.GetModelMetadataRequest(model_spec=_spec(match), metadata_field=["signature_def"])
    with core.acquire(request.model_spec) as servable:
        response = inference.metadata(servable, request)
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signature_map)
    return {
        "model_spec": json_format.MessageToDict(response.model_spec, preserving_proto_field_name=True),
        "metadata": {"signature_def": json_format.MessageToDict(signature_map, preserving_proto_field_name=True)},
    }


def make_handler(core: ServerCore):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "asmg-serve"

        def log_message(self, format, *args):  # noqa: A002  (quiet: one line per request is too much)
            pass

        def _send(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":  # a HEAD answer has the headers of the body, never the body
                self.wfile.write(data)

        def _body(self) -> bytes:
            """The request body, read whatever the path, so a kept-alive connection stays in step with the client.

            A length that cannot be read or is too large closes the connection (its body is left unread)."""
            raw = self.headers.get("Content-Length") or "0"
            length = int(raw) if raw.strip().isdigit() else -1
            if length < 0 or length > MAX_BODY:
                self.close_connection = True
                if length < 0:
                    raise invalid(f"Content-Length must be a non-negative integer, got {raw!r}")
                raise invalid(f"request body of {length} bytes exceeds {MAX_BODY}")
            return self.rfile.read(length)

        def _route(self, method: str) -> None:
            try:
                body = self._body()  # any method may carry one; unread, it would corrupt the next request
                match = _PATH.match(self.path.split("?", 1)[0])
                if match is None:
                    raise not_found(
                        f"Malformed request: {method} {self.path} (see /v1/models/<name>[:predict|/metadata])"
                    )
                suffix = match["suffix"]
                method = "GET" if method == "HEAD" else method  # HEAD: GET's status and headers, no body
                if method == "GET" and suffix is None:
                    self._send(200, status_json(core, match))
                elif method == "GET" and suffix == "/metadata":
                    self._send(200, metadata_json(core, match))
                elif method == "POST" and suffix == ":predict":
                    try:
                        request = json.loads(body or b"null")
                    except (json.JSONDecodeError, UnicodeDecodeError) as e:  # fuzzing: 13 zero bytes read as UTF-32
                        raise invalid(f"JSON Parse error: {e}") from None
                    except RecursionError:  # found by fuzzing: a body of 100,000 '[' answered HTTP 500
                        raise invalid("JSON Parse error: the body nests arrays or objects too deeply") from None
                    try:
                        self._send(200, predict_json(core, match, request))
                    except RecursionError:  # a deep but parseable body, deeper than the input conversion recurses
                        raise invalid("the request nests arrays or objects too deeply for a tensor") from None
                else:
                    raise not_found(f"Malformed request: {method} {self.path}")
            except ServingStatusError as e:
                self._send(e.http_status, {"error": e.message})
            except Exception as e:
                self._send(500, {"error": f"{type(e).__name__}: {e}"})

    # http.server calls do_<METHOD>; every method other than GET/POST gets TF Serving's JSON "Malformed request"
    # answer (not http.server's HTML 501 page), and its body is read so a kept-alive connection stays in step
    for method in ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"):
        setattr(Handler, f"do_{method}", lambda self, method=method: self._route(method))
    return Handler


class RestServer:
    """The REST endpoint on ``host:port`` (port 0: an ephemeral port, see ``.port``), in a background thread."""

    def __init__(self, core: ServerCore, host: str = "127.0.0.1", port: int = 0):
        self.httpd = ThreadingHTTPServer((host, port), make_handler(core))
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="asmg-serving-rest", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=10)
