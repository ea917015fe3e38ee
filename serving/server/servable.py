"""One loaded model version, loaded the way TF Serving loads it: MetaGraph tagged ``serve`` into a TF1 session.

Requests run through the signature_def's tensor names (``session.run`` on a cached callable), never through the
Python object graph. Inputs are checked against the signature first (names, dtypes, shapes, batch size) so a bad
request gets INVALID_ARGUMENT with a message instead of a deep graph error.
"""

from __future__ import annotations

import threading

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2

from serving.server.status import ServingStatusError, failed_precondition, invalid

_CODES = {code.value[0]: code for code in grpc.StatusCode}


def _dtype_name(dtype: int) -> str:
    return tf.dtypes.as_dtype(dtype).name if dtype != types_pb2.DT_INVALID else "invalid"


def _shape_text(shape) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


class Servable:
    """A loaded version of a model.

    Args:
        name, version: what it serves.
        path: the version directory.
        max_batch_size: the largest dim 0 accepted in one request (0: no limit).
    """

    def __init__(self, name: str, version: int, path: str, *, max_batch_size: int = 0):
        self.name, self.version, self.path = name, int(version), path
        self.max_batch_size = int(max_batch_size)
        self.graph = tf.Graph()
        self.session = tf.compat.v1.Session(graph=self.graph)
        try:
            meta_graph = tf.compat.v1.saved_model.loader.load(self.session, [tf.saved_model.SERVING], path)
        except Exception:
            self.session.close()
            raise
        self.signature_defs = {k: v for k, v in meta_graph.signature_def.items() if not k.startswith("__")}
        self._callables: dict[tuple, object] = {}
        self._lock = threading.Lock()
        self.closed = False

    def signature(self, name: str):
        name = name or tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY
        try:
            return name, self.signature_defs[name]
        except KeyError:
            raise failed_precondition(f'Serving signature key "{name}" not found.') from None

    # -- inputs ------------------------------------------------------------------------------------------------------
    def check_inputs(self, signature, inputs: dict[str, np.ndarray], dtypes: dict[str, int] | None = None) -> None:
        """Names, dtypes (as sent), ranks/known dims and the batch limit; raises INVALID_ARGUMENT."""
        expected, sent = set(signature.inputs), set(inputs)
        if len(sent) != len(expected):
            raise invalid(
                f"input size does not match signature: {len(sent)}!={len(expected)} len({{{','.join(sorted(sent))}}}) != "
                f"len({{{','.join(sorted(expected))}}}). Sent extra: {{{','.join(sorted(sent - expected))}}}. "
                f"Missing but required: {{{','.join(sorted(expected - sent))}}}."
            )
        for alias in sorted(sent):
            if alias not in signature.inputs:
                raise invalid(
                    f"input tensor alias not found in signature: {alias}. Inputs expected to be in the set "
                    f"{{{','.join(sorted(expected))}}}."
                )
        for i, alias in enumerate(sorted(expected)):
            info, value = signature.inputs[alias], inputs[alias]
            dtype = (dtypes or {}).get(
                alias,
                tf.dtypes.as_dtype(value.dtype).as_datatype_enum if value.dtype != object else types_pb2.DT_STRING,
            )
            if dtype != info.dtype:
                raise invalid(
                    f"Expects arg[{i}] to be {_dtype_name(info.dtype)} but {_dtype_name(dtype)} is provided "
                    f"(input '{alias}')"
                )
            if not info.tensor_shape.unknown_rank:
                want = [d.size for d in info.tensor_shape.dim]
                if value.ndim != len(want) or any(w >= 0 and w != g for w, g in zip(want, value.shape)):
                    raise invalid(
                        f"input '{alias}' has shape {_shape_text(value.shape)} but the signature expects "
                        f"{_shape_text(want)} (-1: any size)"
                    )
            if self.max_batch_size and value.ndim and value.shape[0] > self.max_batch_size:
                raise invalid(
                    f"Task size {value.shape[0]} is larger than maximum input batch size {self.max_batch_size} "
                    f"(input '{alias}'): split the request"
                )

    # -- running -----------------------------------------------------------------------------------------------------
    def run(
        self,
        signature_name: str,
        inputs: dict[str, np.ndarray],
        output_filter: tuple[str, ...] = (),
        *,
        dtypes: dict[str, int] | None = None,
        timeout_s: float | None = None,
    ) -> tuple[str, dict[str, np.ndarray]]:
        """Run a signature; returns (resolved signature name, {output alias: array})."""
        name, signature = self.signature(signature_name)
        self.check_inputs(signature, inputs, dtypes)
        aliases = tuple(output_filter) or tuple(sorted(signature.outputs))
        for alias in aliases:
            if alias not in signature.outputs:
                raise invalid(
                    f"output tensor alias not found in signature: {alias} Outputs expected to be in the set "
                    f"{{{','.join(sorted(signature.outputs))}}}."
                )
        if len(set(aliases)) != len(aliases):
            raise invalid(f"duplicate output tensor alias in {list(aliases)}")
        feeds = tuple(sorted(inputs))
        fn = self._callable(name, feeds, aliases)
        options = None
        if timeout_s is not None:
            options = tf.compat.v1.RunOptions(timeout_in_ms=max(1, int(timeout_s * 1000)))
        try:
            values = fn(*[inputs[k] for k in feeds], options=options)
        except tf.errors.OpError as e:
            raise ServingStatusError(_CODES.get(e.error_code, grpc.StatusCode.UNKNOWN), e.message) from None
        except UnicodeDecodeError as e:  # TensorFlow's message quoted non-UTF-8 request bytes (a malformed input)
            message = e.object.decode("utf-8", "replace") if isinstance(e.object, bytes) else str(e)
            raise invalid(f"the graph rejected the inputs: {message}") from None
        return name, dict(zip(aliases, values))

    def _callable(self, name: str, feeds: tuple[str, ...], fetches: tuple[str, ...]):
        key = (name, feeds, fetches)
        fn = self._callables.get(key)
        if fn is None:
            with self._lock:
                if self.closed:
                    raise ServingStatusError(
                        grpc.StatusCode.UNAVAILABLE, f"version {self.version} of {self.name} is unloaded"
                    )
                signature = self.signature_defs[name]
                fn = self.session.make_callable(
                    [signature.outputs[a].name for a in fetches],
                    [signature.inputs[f].name for f in feeds],
                    accept_options=True,
                )
                self._callables[key] = fn
        return fn

    def close(self) -> None:
        with self._lock:
            if not self.closed:
                self.closed = True
                self._callables.clear()
                self.session.close()
