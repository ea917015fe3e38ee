"""Client-side errors: each says what failed and what to do."""

from __future__ import annotations

import grpc


class ServingError(RuntimeError):
    """A call to the model server failed. ``code`` is the gRPC status code (None when raised before sending)."""

    def __init__(self, message: str, code: grpc.StatusCode | None = None, details: str = ""):
        super().__init__(message)
        self.code = code
        self.details = details


class ServerUnavailableError(ServingError):
    """The server cannot be reached (not running, wrong address, or overloaded past the deadline)."""


class ModelNotFoundError(ServingError):
    """The model, version or label is not being served."""


class InvalidRequestError(ServingError):
    """The server rejected the request's contents (inputs, signature, batch size)."""


class BadInputError(ValueError):
    """Inputs rejected by the client before sending (wrong shapes, non-integer ids, ...)."""


def from_rpc_error(error: grpc.RpcError, target: str, what: str) -> ServingError:
    """Wrap a ``grpc.RpcError`` from ``what`` (e.g. "Predict on asmg") in the matching ``ServingError``."""
    code, details = error.code(), error.details() or ""
    where = f"{what} at {target}"
    if code == grpc.StatusCode.UNAVAILABLE:
        return ServerUnavailableError(
            f"{where}: the server is unavailable ({details}). Is it running and listening there? "
            "(`asmg serve` locally; tensorflow/serving in production)",
            code,
            details,
        )
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return ServerUnavailableError(
            f"{where}: no answer within the deadline ({details}); raise the timeout or check the server's load",
            code,
            details,
        )
    if code == grpc.StatusCode.NOT_FOUND:
        return ModelNotFoundError(
            f"{where}: {details}. Check the model name, version or label (GetModelStatus)", code, details
        )
    if code in (
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    ):
        return InvalidRequestError(f"{where}: {code.name}: {details}", code, details)
    return ServingError(f"{where}: {code.name}: {details}", code, details)
