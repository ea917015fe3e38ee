"""Request errors of the local server, with TF Serving's gRPC codes and messages and their HTTP equivalents."""

from __future__ import annotations

import grpc

_HTTP = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}


class ServingStatusError(Exception):
    """A request failed with gRPC status ``code``; ``message`` tells the client what was wrong."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return _HTTP.get(self.code, 500)

    @property
    def error_code(self) -> int:
        """The numeric code (TensorFlow's ``error.Code`` uses gRPC's numbering)."""
        return self.code.value[0]


def invalid(message: str) -> ServingStatusError:
    return ServingStatusError(grpc.StatusCode.INVALID_ARGUMENT, message)


def not_found(message: str) -> ServingStatusError:
    return ServingStatusError(grpc.StatusCode.NOT_FOUND, message)


def failed_precondition(message: str) -> ServingStatusError:
    return ServingStatusError(grpc.StatusCode.FAILED_PRECONDITION, message)
