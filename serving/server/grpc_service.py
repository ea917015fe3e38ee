"""gRPC servicers: PredictionService (Predict, Classify, Regress, GetModelMetadata) and ModelService
(GetModelStatus, HandleReloadConfigRequest), on the real ``tensorflow_serving.apis`` service definitions."""

from __future__ import annotations

import grpc
from tensorflow_serving.apis import (
    model_management_pb2,
    model_service_pb2_grpc,
    prediction_service_pb2_grpc,
)

from serving.model_config import from_proto
from serving.server import inference
from serving.server.core import ServerCore
from serving.server.status import ServingStatusError


def _call(context: grpc.ServicerContext, fn):
    """Run ``fn`` and turn a ``ServingStatusError`` (or a bug) into the call's gRPC status."""
    try:
        return fn()
    except ServingStatusError as e:
        context.abort(e.code, e.message)
    except Exception as e:  # never leak a traceback as a hang: answer INTERNAL with the reason
        context.abort(grpc.StatusCode.INTERNAL, f"{type(e).__name__}: {e}")


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, core: ServerCore):
        self.core = core

    def _run(self, request, context, fn):
        def work():
            with self.core.acquire(request.model_spec) as servable:
                return fn(servable, request, context.time_remaining())

        return _call(context, work)

    def Predict(self, request, context):
        return self._run(request, context, inference.predict)

    def Classify(self, request, context):
        return self._run(request, context, inference.classify)

    def Regress(self, request, context):
        return self._run(request, context, inference.regress)

    def GetModelMetadata(self, request, context):
        return self._run(request, context, lambda servable, req, _: inference.metadata(servable, req))

    def MultiInference(self, request, context):
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "MultiInference is not implemented by asmg serve")


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, core: ServerCore):
        self.core = core

    def GetModelStatus(self, request, context):
        return _call(context, lambda: self.core.model_status(request.model_spec))

    def HandleReloadConfigRequest(self, request, context):
        """Errors are reported in the response's status, as TF Serving does (the RPC itself succeeds)."""
        response = model_management_pb2.ReloadConfigResponse()
        try:
            self.core.reload_config(from_proto(request.config))
        except ServingStatusError as e:
            response.status.error_code = e.error_code
            response.status.error_message = e.message
        except ValueError as e:
            response.status.error_code = grpc.StatusCode.INVALID_ARGUMENT.value[0]
            response.status.error_message = str(e)
        except OSError as e:  # a base path that is a file or cannot be read
            response.status.error_code = grpc.StatusCode.FAILED_PRECONDITION.value[0]
            response.status.error_message = f"{type(e).__name__}: {e}"
        return response


def add_services(server: grpc.Server, core: ServerCore) -> None:
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionServicer(core), server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(core), server)
