"""The RPCs' work on one servable, at the protocol-buffer level (shared by gRPC, REST and warm-up replay).

Mirrors TF Serving: Predict runs any signature by name (``serving_default`` when empty); Classify and Regress need
a signature with the classify/regress method name and take ``tensorflow.serving.Input`` (tf.Examples, optionally
with a context merged into each); GetModelMetadata returns the ``signature_def`` map.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from google.protobuf import any_pb2, wrappers_pb2
from tensorflow.core.example import example_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    model_pb2,
    predict_pb2,
    prediction_log_pb2,
    regression_pb2,
)

from serving import schema as S
from serving.server.servable import Servable
from serving.server.status import invalid


def model_spec(servable: Servable, signature_name: str) -> model_pb2.ModelSpec:
    return model_pb2.ModelSpec(
        name=servable.name, version=wrappers_pb2.Int64Value(value=servable.version), signature_name=signature_name
    )


#: the most elements one input may declare: ``make_ndarray`` fills a declared shape from a single value, so a few
#: bytes claiming 2**31 elements would otherwise allocate gigabytes (found by the server fuzzer)
MAX_INPUT_ELEMENTS = 1 << 26


def to_array(alias: str, proto) -> np.ndarray:
    dims = [d.size for d in proto.tensor_shape.dim]
    if any(d < 0 for d in dims) or int(np.prod(dims, dtype=np.float64)) > MAX_INPUT_ELEMENTS:
        raise invalid(
            f"input '{alias}': shape {dims} declares more than {MAX_INPUT_ELEMENTS} elements (or a negative size); "
            "split the request"
        )
    try:
        return tf.make_ndarray(proto)
    except Exception as e:  # malformed TensorProto (content size, dtype)
        raise invalid(f"input '{alias}': cannot read the TensorProto: {e}") from None


def predict(
    servable: Servable, request: predict_pb2.PredictRequest, timeout_s: float | None = None
) -> predict_pb2.PredictResponse:
    inputs = {alias: to_array(alias, proto) for alias, proto in request.inputs.items()}
    dtypes = {alias: proto.dtype for alias, proto in request.inputs.items()}
    name, outputs = servable.run(
        request.model_spec.signature_name, inputs, tuple(request.output_filter), dtypes=dtypes, timeout_s=timeout_s
    )
    response = predict_pb2.PredictResponse(model_spec=model_spec(servable, name))
    for alias, value in outputs.items():
        response.outputs[alias].CopyFrom(tf.make_tensor_proto(value))
    return response


def serialized_examples(input_proto) -> np.ndarray:
    """``tensorflow.serving.Input`` -> serialized tf.Examples (context features merged into each example)."""
    kind = input_proto.WhichOneof("kind")
    if kind == "example_list":
        examples = list(input_proto.example_list.examples)
    elif kind == "example_list_with_context":
        context = input_proto.example_list_with_context.context
        examples = []
        for example in input_proto.example_list_with_context.examples:
            merged = example_pb2.Example()
            merged.CopyFrom(context)
            merged.MergeFrom(example)
            examples.append(merged)
    else:
        raise invalid("Input is empty: set example_list or example_list_with_context")
    if not examples:
        raise invalid("Input is empty: no examples")
    return np.array([e.SerializeToString() for e in examples], dtype=object)


def _method_signature(servable: Servable, signature_name: str, method: str, what: str):
    name, signature = servable.signature(signature_name)
    if signature.method_name != method:
        raise invalid(f"Expected {what} signature method_name to be {method}. Was: {signature.method_name}")
    if len(signature.inputs) != 1 or "inputs" not in signature.inputs:
        raise invalid(f"Expected one input Tensor named 'inputs' in signature {name!r}")
    return name, signature


def classify(
    servable: Servable, request: classification_pb2.ClassificationRequest, timeout_s: float | None = None
) -> classification_pb2.ClassificationResponse:
    name, signature = _method_signature(
        servable, request.model_spec.signature_name, S.CLASSIFY_METHOD, "classification"
    )
    wanted = tuple(k for k in ("classes", "scores") if k in signature.outputs)
    if not wanted:
        raise invalid('Expected classification signature outputs to contain at least one of "classes" or "scores"')
    _, out = servable.run(name, {"inputs": serialized_examples(request.input)}, wanted, timeout_s=timeout_s)
    classes, scores = out.get("classes"), out.get("scores")
    for t in out.values():
        if t.ndim != 2:
            raise invalid(f"Expected Tensor shape: [batch_size num_classes] but got {list(t.shape)}")
    if classes is not None and scores is not None and classes.shape != scores.shape:
        raise invalid(f"Tensors class and score should match in shape, got {classes.shape} vs {scores.shape}")
    rows, width = next(iter(out.values())).shape
    response = classification_pb2.ClassificationResponse(model_spec=model_spec(servable, name))
    for i in range(rows):
        c = response.result.classifications.add()
        for j in range(width):
            cls = c.classes.add()
            if classes is not None:
                label = classes[i, j]
                cls.label = label.decode() if isinstance(label, bytes) else str(label)
            if scores is not None:
                cls.score = float(scores[i, j])
    return response


def regress(
    servable: Servable, request: regression_pb2.RegressionRequest, timeout_s: float | None = None
) -> regression_pb2.RegressionResponse:
    name, signature = _method_signature(servable, request.model_spec.signature_name, S.REGRESS_METHOD, "regression")
    _, out = servable.run(name, {"inputs": serialized_examples(request.input)}, ("outputs",), timeout_s=timeout_s)
    values = out["outputs"]
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise invalid(
            f"Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got {list(values.shape)}"
        )
    response = regression_pb2.RegressionResponse(model_spec=model_spec(servable, name))
    for v in values:
        response.result.regressions.add().value = float(v)
    return response


def metadata(
    servable: Servable, request: get_model_metadata_pb2.GetModelMetadataRequest
) -> get_model_metadata_pb2.GetModelMetadataResponse:
    fields = list(request.metadata_field)
    if not fields:
        raise invalid("GetModelMetadataRequest must specify at least one metadata_field")
    for field in fields:
        if field != "signature_def":
            raise invalid(f"Metadata field {field} is not supported")
    response = get_model_metadata_pb2.GetModelMetadataResponse(model_spec=model_spec(servable, ""))
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    for key, value in servable.signature_defs.items():
        signature_map.signature_def[key].CopyFrom(value)
    packed = any_pb2.Any()
    packed.Pack(signature_map)
    response.metadata["signature_def"].CopyFrom(packed)
    return response


def replay_warmup(servable: Servable, logs: list[prediction_log_pb2.PredictionLog]) -> int:
    """Run each warm-up record on ``servable`` (a failure fails the load, as in TF Serving); returns the count."""
    for log in logs:
        kind = log.WhichOneof("log_type")
        if kind == "predict_log":
            predict(servable, log.predict_log.request)
        elif kind == "classify_log":
            classify(servable, log.classify_log.request)
        elif kind == "regress_log":
            regress(servable, log.regress_log.request)
        else:
            raise invalid(f"unsupported warm-up record type {kind!r} (predict, classify and regress are)")
    return len(logs)
